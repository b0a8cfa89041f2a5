"""Evaluate per-pair functions on the i <= j pairs of a symmetric pair tensor only.

A scalar-products block's output d[i, j] is symmetric bit for bit (one accumulator writes both
halves). When it feeds a chain of per-pair operations (element-wise ops with a scalar constant,
tables, ReLU, and linear maps on the channel axis) that ends in a sum over all pairs, then
    sum_{i,j} f(d_ij) = sum_i f(d_ii) + 2 * sum_{i<j} f(d_ij)
and f is evaluated on N(N+1)/2 instead of N^2 pairs. The factor 2 is a shift and all sums are
exact, so the result is bit-identical; the self-check and the twin confirm it on every compile.
"""
from __future__ import annotations

import numpy as np

from ...blocks import block_or_none
from ...blocks.eltwise import broadcast_tables
from ..common import eq_node


def _single_reader(g, t):
    readers = g.consumers(t)
    return readers[0] if len(readers) == 1 and t not in g.outputs else None


def _chain(g, start: str, n: int):
    """(chain nodes, final channel count, terminating ReduceSum) from tensor `start` of shape
    (1, n, n), or None when the pattern does not hold."""
    nodes, cur, ch = [], start, 1
    while True:
        node = _single_reader(g, cur)
        blk = None if node is None else block_or_none(node)
        if blk is None:
            return None
        if blk.per_element:
            pass
        elif node.op == "Eltwise":
            other = [t for t in node.inputs if t != cur]
            if len(other) != 1 or not g.is_const(other[0]) or g.size(other[0]) != 1:
                return None
        elif node.op == "Dense":
            if node.inputs[0] != cur or g.shapes[node.inputs[1]][0] != ch:
                return None
            ch = g.shapes[node.inputs[1]][1]
        elif node.op == "ReduceSum":
            k = node.attrs["n_reduce"]
            src = np.asarray(node.attrs["src"]).reshape(-1, k)
            want = np.arange(n * n * ch).reshape(n * n, ch).T    # channel c: every pair's element c
            if k != n * n or src.shape[0] != ch or not all(np.array_equal(np.sort(s), w) for s, w in zip(src, want)):
                return None
            return nodes, ch, node
        else:
            return None
        if g.size(node.outputs[0]) != n * n * ch:
            return None
        nodes.append(node)
        cur = node.outputs[0]


def fold_symmetric_pairs(g) -> bool:
    """Rewrite ScalarProducts -> per-pair chain -> sum over all pairs onto the i <= j pairs."""
    changed = False
    for sp in [n for n in g.nodes if n.op == "ScalarProducts" and n.is_equihls]:
        d = sp.outputs[0]
        n = g.shapes[d][1]
        found = _chain(g, d, n)
        if found is None or not found[0]:
            continue
        chain, ch, red = found
        iu, ju = np.triu_indices(n)
        p = len(iu)
        upper = g.fresh(d + "_upper")
        g.shapes[upper] = (1, p)
        route = eq_node("Route", g.fresh(sp.name + "_upper"), [d], [upper], src=(iu * n + ju).astype(np.int64))
        g.nodes.insert(g.nodes.index(sp) + 1, route)
        chain[0].inputs = [upper if t == d else t for t in chain[0].inputs]
        c = 1
        for node in chain:
            if node.op == "Dense":
                c = g.shapes[node.inputs[1]][1]
            g.shapes[node.outputs[0]] = (1, p, c) if c > 1 else (1, p)
            if node.op == "Eltwise":
                a, b = node.inputs
                node.attrs["ia"], node.attrs["ib"] = broadcast_tables(g.shapes[a], g.shapes[b],
                                                                      g.shapes[node.outputs[0]])
        last = chain[-1].outputs[0]
        weights = np.where(iu == ju, 1.0, 2.0).reshape(p, 1) if ch > 1 else np.where(iu == ju, 1.0, 2.0)
        w = g.add_const(red.name + "_pair_weight", weights)
        weighted = g.fresh(last + "_weighted")
        g.shapes[weighted] = g.shapes[last]
        ia, ib = broadcast_tables(g.shapes[last], g.shapes[w], g.shapes[weighted])
        mul = eq_node("Eltwise", g.fresh(red.name + "_pair_weight"), [last, w], [weighted], op="mul", pow2=True,
                      ia=ia, ib=ib)
        g.nodes.insert(g.nodes.index(red), mul)
        red.inputs = [weighted]
        red.attrs["n_reduce"] = p
        red.attrs["src"] = np.arange(p * ch).reshape(p, ch).T.reshape(-1)
        changed = True
    return changed
