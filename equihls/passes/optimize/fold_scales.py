"""Normalisation folding: give Bilinear (CG) coefficient tensors their simplest form.

A CG tensor's normalisation is a free scalar: s·C followed by weights W/s computes the same map.
When s·C has integer (or dyadic) coefficients, e.g. I/√3 (1⊗1→0) -> I, ε/√6 (1⊗1→1) -> ±1, the
Bilinear block needs no constant multipliers at all (±2^k are shifts). The scale moves into the
next channel-mixing Dense, reached through linear wiring that commutes with a scalar (blocks with
the commutes_with_scale trait: Route, ReduceSum), each with a single consumer. Coefficients with
irrational ratios (most l >= 2 couplings) have no exact simple form and are left as they are
(exact for their quantised values).
"""
from __future__ import annotations

import numpy as np

from ...blocks import block_or_none
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
