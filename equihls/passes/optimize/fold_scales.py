"""Normalisation folding: give Bilinear (CG) coefficient tensors their simplest form.

A CG tensor's normalisation is a free scalar: s·C followed by weights W/s computes the same map.
When s·C has integer (or dyadic) coefficients, e.g. I/√3 (1⊗1→0) -> I, ε/√6 (1⊗1→1) -> ±1, the
Bilinear block needs no constant multipliers at all (±2^k are shifts). The scale moves into the
next channel-mixing Dense, reached through linear wiring that commutes with a scalar (blocks with
the commutes_with_scale trait: Route, ReduceSum), each with a single consumer. Coefficients with
irrational ratios (most l >= 2 couplings) have no exact simple form and are left as they are
(exact for their quantised values).

Constant factors: y = c·t with c one constant value (LorentzNet's c_weight·Σ_j (x_i − x_j)·φ(m_ij))
where t is linear in the output of one Dense (through scale-commuting wiring and either factor of
products, every tensor on the way read once) becomes t with that Dense's W and b scaled by c: the
same map without c's multipliers, and the factor a covariant product then needs to stay exact is
the invariant φ, not c·(exact sum), whose width would grow by c's bits downstream.
"""
from __future__ import annotations

import numpy as np

from ...blocks import block_or_none
from ...ir.fixedpoint import is_pow2
from ...symmetry.o3 import simplest_scale


def _dense_downstream(g, t: str):
    """The Dense whose data input is fed by t through scalar-commuting wiring, else None."""
    while t not in g.outputs:
        users = g.consumers(t)
        if len(users) != 1:
            return None
        (u,) = users
        if u.op == "Dense" and u.inputs[0] == t:
            return u
        blk = block_or_none(u)
        if blk is None or not blk.commutes_with_scale or u.inputs[0] != t:
            return None
        t = u.outputs[0]
    return None


def fold_cg_scales(g) -> bool:
    """Rescale each Bilinear's C to its simplest exact form s·C and the next Dense's weights by 1/s.

    Records the scale in node.attrs["cg_scale"] (1.0 when nothing was folded)."""
    changed = False
    for node in list(g.nodes):
        if node.op != "Bilinear" or "cg_scale" in node.attrs:
            continue
        node.attrs["cg_scale"] = 1.0
        res = simplest_scale(g.consts[node.inputs[2]])
        dense = _dense_downstream(g, node.outputs[0])
        if res.residual != 0.0 or res.scale == 1.0 or dense is None:
            continue
        node.inputs[2] = g.add_const(node.inputs[2] + "_folded", np.asarray(res.coeffs, dtype=np.float64))
        dense.inputs[1] = g.add_const(dense.inputs[1] + "_unscaled",
                                      np.asarray(g.consts[dense.inputs[1]], dtype=np.float64) / res.scale)
        node.attrs["cg_scale"] = float(res.scale)
        changed = True
    return changed


def _linear_dense_upstream(g, t: str, depth: int = 0):
    """The Dense whose output t is linear in along one path (scale-commuting wiring, or one factor
    of a product of two different tensors), every tensor on the way read once; else None."""
    if depth > 32 or t in g.outputs or len(g.consumers(t)) != 1:
        return None
    p = g.producer(t)
    if p is None or not p.is_equihls:
        return None
    if p.op == "Dense":
        return p
    if p.op == "Eltwise" and p.attrs.get("op") == "mul" and p.inputs[0] != p.inputs[1]:
        for u in p.inputs:
            d = None if g.is_const(u) else _linear_dense_upstream(g, u, depth + 1)
            if d is not None:
                return d
        return None
    blk = block_or_none(p)
    if blk is not None and blk.commutes_with_scale:
        return _linear_dense_upstream(g, p.inputs[0], depth + 1)
    return None


def fold_constant_factors(g) -> bool:
    """Eltwise mul(t, c), c one constant value (not 0, not ±2^k: those are shifts), t linear in a
    Dense's output (_linear_dense_upstream) -> t, with that Dense's W and b scaled by c."""
    changed = False
    for node in list(g.nodes):
        if node.op != "Eltwise" or node.attrs.get("op") != "mul" or not node.is_equihls:
            continue
        cs = [t for t in node.inputs if g.is_const(t)]
        if len(cs) != 1:
            continue
        vals = np.unique(np.asarray(g.consts[cs[0]], dtype=np.float64))
        t = next(u for u in node.inputs if u != cs[0])
        out = node.outputs[0]
        if vals.size != 1 or vals[0] == 0.0 or is_pow2(abs(float(vals[0]))) or g.shapes[t] != g.shapes[out]:
            continue
        dense = _linear_dense_upstream(g, t)
        if dense is None:
            continue
        c = float(vals[0])
        for k in (1, 2):
            dense.inputs[k] = g.add_const(dense.inputs[k] + "_scaled", np.asarray(g.consts[dense.inputs[k]]) * c)
        g.nodes.remove(node)
        if out in g.outputs:            # the graph output keeps its name: t's producer writes it
            p = g.producer(t)
            p.outputs = [out if o == t else o for o in p.outputs]
        else:
            g.rename_tensor(out, t)
        changed = True
    return changed
