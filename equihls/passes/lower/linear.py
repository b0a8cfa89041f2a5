"""Lowering of constant linear maps (MatMul / Gemm with a constant weight) to equihls Dense."""
from __future__ import annotations

import numpy as np

from ..common import const, eq_node
from ...ir.supports import Supports, supports


def _dense(g, node, x, w, b=None):
    w = np.asarray(w, dtype=np.float64)
    b = np.zeros(w.shape[1]) if b is None else np.broadcast_to(np.asarray(b, dtype=np.float64), (w.shape[1],)).copy()
    wn = g.add_const(node.name + "_W", w)
    bn = g.add_const(node.name + "_b", b)
    g.replace(node, [eq_node("Dense", node.name, [x, wn, bn], node.outputs)])
    return True


def _last_axis_bias(c: np.ndarray, cout: int) -> bool:
    """True when constant c broadcasts along the last axis only: shape [], [1], [cout], [1, cout],
    [1, 1, cout], ... A [N, 1] (or [N, cout]) constant varies along another axis, so it is not a
    bias of the Dense and must stay a separate Add."""
    return c.ndim == 0 or (all(d == 1 for d in c.shape[:-1]) and c.shape[-1] in (1, cout))


@supports(Supports(("Gemm",), "`Gemm` (transA = 0)", "Dense", "y = x·W (+ bias): exact accumulator, one rounding"))
def lower_gemm(g) -> bool:
    """Gemm(A, B const, C const) -> Dense(A, alpha * B', beta * C)."""
    changed = False
    for node in list(g.nodes):
        if node.domain or node.op != "Gemm" or node.attrs.get("transA", 0):
            continue
        w = const(g, node.inputs[1])
        c = const(g, node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
        if w is None or (len(node.inputs) > 2 and node.inputs[2] and c is None):
            continue
        if node.attrs.get("transB", 0):
            w = w.T
        w = w * node.attrs.get("alpha", 1.0)
        if c is not None:
            c = np.asarray(c, dtype=np.float64) * node.attrs.get("beta", 1.0)
            if not _last_axis_bias(c, w.shape[1]):
                continue
        changed |= _dense(g, node, node.inputs[0], w, None if c is None else c.reshape(-1))
    return changed


@supports(Supports(("MatMul",), "`MatMul(x, W)` with W constant, then `+ bias`", "Dense",
                  "linear map on the last axis of any-rank tensors; zero weights skipped"))
def lower_matmul_const(g) -> bool:
    """MatMul(x, W) with constant 2-D W -> Dense on the last axis of x."""
    changed = False
    for node in list(g.nodes):
        if node.domain or node.op != "MatMul":
            continue
        w = const(g, node.inputs[1])
        if w is None or w.ndim != 2 or const(g, node.inputs[0]) is not None or len(g.shapes[node.inputs[0]]) < 2:
            continue
        changed |= _dense(g, node, node.inputs[0], w)
    return changed


@supports()
def fuse_bias_into_dense(g) -> bool:
    """Add(Dense(x), c) with c constant along the last axis only -> Dense with bias += c."""
    changed = False
    for node in list(g.nodes):
        if node.domain or node.op != "Add":
            continue
        for a, c_name in (node.inputs, node.inputs[::-1]):
            dense = g.producer(a)
            c = const(g, c_name)
            if dense is None or dense.op != "Dense" or c is None or len(g.consumers(a)) != 1 or a in g.outputs:
                continue
            cout = g.shapes[dense.inputs[1]][1]
            c = np.asarray(c, dtype=np.float64)
            if not _last_axis_bias(c, cout):
                continue
            if np.broadcast_shapes(c.shape, g.shapes[a]) != g.shapes[a]:
                continue
            b_old = g.consts[dense.inputs[2]]
            dense.inputs[2] = g.add_const(dense.name + "_b", b_old + np.broadcast_to(c.reshape(-1), (cout,)))
            dense.outputs = list(node.outputs)
            g.nodes.remove(node)
            changed = True
            break
    return changed
