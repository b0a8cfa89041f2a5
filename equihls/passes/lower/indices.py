"""Scatters that add (ScatterElements / ScatterND with reduction='add', constant indices) -> exact sums.

data [..] and updates [..] are runtime; every output element k is data[k] plus the updates whose
target is k. The two are concatenated (Concat2), then the output elements are grouped by how many
updates hit them: each group is one ReduceSum through an index table (n_reduce = hits + 1), and
the groups are concatenated back into the output order. Exact: sums only, no rounding.
"""
from __future__ import annotations

import numpy as np

from ...ir.supports import Supports, supports
from ..common import const, eq_node


def _targets(node, data_shape, idx, upd_shape) -> np.ndarray:
    """Flat target index in data of every update element (row-major over updates)."""
    data_shape = tuple(data_shape)
    if node.op == "ScatterElements":
        axis = int(node.attrs.get("axis", 0)) % len(data_shape)
        coords = list(np.indices(upd_shape).reshape(len(upd_shape), -1))
        ax = np.asarray(idx, dtype=np.int64).reshape(-1)
        coords[axis] = np.where(ax < 0, ax + data_shape[axis], ax)
        return np.ravel_multi_index(tuple(coords), data_shape)
    q = np.asarray(idx, dtype=np.int64)             # ScatterND: idx [..., k] picks a slice of data
    k = q.shape[-1]
    prefix = q.reshape(-1, k) % np.asarray(data_shape[:k])
    tail = int(np.prod(data_shape[k:], dtype=np.int64))
    starts = np.ravel_multi_index(tuple(prefix.T), data_shape[:k]) * tail
    return (starts[:, None] + np.arange(tail)[None, :]).reshape(-1)


@supports(Supports(("ScatterElements", "ScatterND"), "`ScatterElements`, `ScatterND` with reduction `add` "
                   "(constant indices, runtime data and updates)", "Concat2 + ReduceSum", "exact sums"))
def lower_scatter_add(g) -> bool:
    """Scatter with reduction add -> Concat2(data, updates) + one ReduceSum per hit count (+ Concat2s)."""
    changed = False
    for node in list(g.nodes):
        red = node.attrs.get("reduction", "none")
        red = red.decode() if isinstance(red, bytes) else red
        if node.domain or node.op not in ("ScatterElements", "ScatterND") or red != "add":
            continue
        data, idx_name, upd = node.inputs[:3]
        idx = const(g, idx_name)
        if idx is None or const(g, data) is not None or const(g, upd) is not None:
            continue
        nd, nu = g.size(data), g.size(upd)
        tgt = _targets(node, g.shapes[data], idx, g.shapes[upd])
        sources = [[k] for k in range(nd)]
        for j, t in enumerate(tgt):
            sources[int(t)].append(nd + j)
        cat = g.fresh(node.name + "_cat")
        g.shapes[cat] = (nd + nu,)
        new = [eq_node("Concat2", g.fresh(node.name + "_cat"), [data, upd], [cat], src=np.arange(nd + nu))]
        counts = sorted({len(s) for s in sources})
        parts, order = [], []
        for c in counts:
            ks = [k for k in range(nd) if len(sources[k]) == c]
            part = node.outputs[0] if len(counts) == 1 else g.fresh(node.name + f"_sum{c}")
            g.shapes.setdefault(part, (len(ks),))
            new.append(eq_node("ReduceSum", node.name if len(counts) == 1 else g.fresh(node.name + "_sum"), [cat],
                               [part], src=np.asarray([s for k in ks for s in sources[k]], dtype=np.int64),
                               n_reduce=c))
            parts.append(part)
            order += ks
        if len(parts) > 1:
            pos = np.argsort(np.asarray(order))          # where each output element sits in the concatenation
            acc, off = parts[0], g.size(parts[0])
            for i, part in enumerate(parts[1:], start=1):
                last = i == len(parts) - 1
                out = node.outputs[0] if last else g.fresh(node.name + "_join")
                off += g.size(part)
                if not last:
                    g.shapes[out] = (off,)
                new.append(eq_node("Concat2", node.name if last else g.fresh(node.name + "_join"), [acc, part],
                                   [out], src=pos if last else np.arange(off)))
                acc = out
        g.replace(node, new)
        changed = True
    return changed
