"""Model of ip_blocks/equihls_select.h: element-wise selection out = cond ? a : b (ONNX Where)."""
from __future__ import annotations

import numpy as np

from .base import Block, align, as_dtype, cpp_table, operand_range, size
from .cost import DELAY_LUT_NS, BlockCost
from .eltwise import mask_error


def broadcast_tables3(shapes, out_shape) -> list[np.ndarray]:
    """Flat source index in each of the three operands of every output element (numpy broadcasting)."""
    return [np.broadcast_to(np.arange(size(s), dtype=np.int64).reshape(s), out_shape).reshape(-1) for s in shapes]


class Select(Block):
    """out[k] = a[ia(k)] if cond[ic(k)] != 0 else b[ib(k)]. Exact: max(Fa, Fb) fractional bits, the
    wider operand's integer bits. Any operand may be a constant (a 0/1 mask, a fill value).

    attrs: ic/ia/ib (broadcast_tables3 of cond, a, b)."""

    op = "Select"
    header = "equihls_select.h"

    def acc_range(self, g, node, types, qconst):
        (alo, ahi, fa), (blo, bhi, fb) = (operand_range(g, t, types, qconst) for t in node.inputs[1:])
        f = max(fa, fb)
        alo, ahi, blo, bhi = alo << (f - fa), ahi << (f - fa), blo << (f - fb), bhi << (f - fb)
        cond = node.inputs[0]
        if g.is_const(cond):   # a constant mask selects known operands only
            c = np.asarray(qconst[cond]).reshape(-1)[node.attrs["ic"]]
            lo = min(([alo] if np.any(c != 0) else []) + ([blo] if np.any(c == 0) else []))
            hi = max(([ahi] if np.any(c != 0) else []) + ([bhi] if np.any(c == 0) else []))
            return lo, hi, f
        return min(alo, blo), max(ahi, bhi), f

    def twin(self, g, node, raws, types, qconst, acc_frac):
        ic, ia, ib = node.attrs["ic"], node.attrs["ia"], node.attrs["ib"]
        tc, ta, tb = (types[t] for t in node.inputs)
        bits = max(ta.width, tb.width) + abs(ta.frac - tb.frac) + 2
        vals = []
        for t in node.inputs:
            r = qconst[t].reshape(1, -1) if g.is_const(t) else raws[t]
            vals.append(as_dtype(r, max(bits, tc.width + 1)))
        c, a, b = vals[0][:, ic], vals[1][:, ia], vals[2][:, ib]
        a, b = align(a, ta.frac, acc_frac), align(b, tb.frac, acc_frac)
        batch = max(c.shape[0], a.shape[0], b.shape[0])
        c, a, b = (np.broadcast_to(v, (batch, v.shape[1])) for v in (c, a, b))
        return np.where(c != 0, a, b)

    def error(self, g, node, errs, mags, types, qconst):
        c, a, b = node.inputs
        e = max(errs[a], errs[b])
        # a boolean condition with an error bound of 1/2 or more may pick the other operand
        return e if errs[c] < 0.5 else e + mags[a] + mags[b]

    def error_elem(self, g, node, E, V, types, qconst, consts):
        ic, ia, ib = node.attrs["ic"], node.attrs["ia"], node.attrs["ib"]
        c, a, b = node.inputs
        ec, vc = mask_error(g, c, E[c])[:, ic], V[c][:, ic]
        ea, eb, va, vb = E[a][:, ia], E[b][:, ib], V[a][:, ia], V[b][:, ib]
        e = np.where(vc != 0, ea, eb)
        flip = np.abs(va - vb) + np.maximum(ea, eb)
        # ONNX conditions are booleans: an error bound below 1/2 proves the float model's equal
        return np.where(ec >= 0.5, np.maximum(e, flip), e), np.abs(np.where(vc != 0, va, vb))

    def cpp_config(self, g, node, ctx):
        ic, ia, ib = node.attrs["ic"], node.attrs["ia"], node.attrs["ib"]
        return (f"    static const unsigned n_c = {size(g.shapes[node.inputs[0]])};\n"
                f"    static const unsigned n_a = {size(g.shapes[node.inputs[1]])};\n"
                f"    static const unsigned n_b = {size(g.shapes[node.inputs[2]])};\n"
                f"    static const unsigned n_out = {len(ia)};\n"
                f"    typedef {ctx['accum_t']} accum_t;\n"
                + cpp_table("ic", "unsigned", ic.tolist()) + cpp_table("ia", "unsigned", ia.tolist())
                + cpp_table("ib", "unsigned", ib.tolist()))

    def cpp_call(self, g, node, ctx):
        return "equihls::select<{in0_t}, {in1_t}, {in2_t}, {out_t}, {config}>({in0}, {in1}, {in2}, {out});"

    def cost(self, g, node, prec, post_adder=True):
        n = len(node.attrs["ia"])
        c = BlockCost(node.name, node.op)
        c.lut_other = prec.acc[node.name].width * n   # a 2:1 mux per bit
        c.ops = [DELAY_LUT_NS]
        return c
