"""Model of ip_blocks/equihls_eltwise.h: binary element-wise ops with numpy broadcasting."""
from __future__ import annotations

import math

import numpy as np

from .base import Block, align, as_dtype, cpp_table, operand_range, size
from .cost import DELAY_DSP_NS, DELAY_LUT_NS, BlockCost, add_delay, const_products, dsp_slices, width_of

OPS = ("add", "sub", "mul", "max", "min", "gt", "ge", "lt", "le", "eq", "ne")   # index = the header's eltwise_op
COMPARE = {"gt": np.greater, "ge": np.greater_equal, "lt": np.less, "le": np.less_equal, "eq": np.equal,
           "ne": np.not_equal}


def mask_error(g, t: str, e):
    """The error bound of tensor t, sharpened where t is a 0/1 mask (a comparison's output, routed or
    not): the float model's value is 0 or 1 as well, so an error bound below 1/2 (float32
    allowances) proves the two equal, and a larger one means at most 1."""
    p = g.producer(t)
    while p is not None and p.is_equihls and p.op == "Route":
        p = g.producer(p.inputs[0])
    if p is not None and p.is_equihls and p.op == "Eltwise" and p.attrs.get("op") in COMPARE:
        return np.where(np.asarray(e) < 0.5, 0.0, 1.0)
    return e


def broadcast_tables(shape_a, shape_b, out_shape) -> tuple[np.ndarray, np.ndarray]:
    """Flat source index in a and in b of every output element (numpy broadcasting).

    Computed once when the node is lowered and stored as attrs ia/ib, so the block no longer
    depends on the ONNX shapes of its operands (later passes may re-shape them freely)."""
    tabs = []
    for s in (shape_a, shape_b):
        idx = np.arange(size(s), dtype=np.int64).reshape(s)
        tabs.append(np.broadcast_to(idx, out_shape).reshape(-1))
    return tabs[0], tabs[1]


class Eltwise(Block):
    """out = a (op) b, op in add/sub/mul/max/min; a or b may be a constant. Exact but for mul.
    Comparisons gt/ge/lt/le/eq/ne give 1 or 0 (exact, no fractional bits).

    attrs: op, pow2 (constant operand is ±2^k: exact shift), ia/ib (broadcast_tables), exact (a mul
    whose output type holds the whole product: nothing rounds, as a contraction's terms need)."""

    op = "Eltwise"
    header = "equihls_eltwise.h"

    def rounds(self, node):
        # a product with a constant power of two is a shift: kept exact; an `exact` product is widened
        return node.attrs["op"] == "mul" and not node.attrs.get("pow2", False) and not node.attrs.get("exact", False)

    def _const_shift(self, g, node, types, qconst) -> int:
        """Trailing zero bits common to every product with a constant operand (e.g. x * 4096):
        the product is exact with that many fewer fractional bits, so it does not widen."""
        if node.attrs["op"] != "mul":
            return 0
        consts = [t for t in node.inputs if g.is_const(t)]
        if len(consts) != 1:
            return 0
        nz = [abs(int(v)) for v in np.asarray(qconst[consts[0]]).reshape(-1) if int(v) != 0]
        if not nz:
            return 0
        tz = min((v & -v).bit_length() - 1 for v in nz)
        return min(tz, sum(types[t].frac for t in node.inputs))

    @staticmethod
    def _is_square(node) -> bool:
        """Each output element is one element of one tensor times itself."""
        a, b = node.inputs
        return a == b and np.array_equal(np.asarray(node.attrs["ia"]), np.asarray(node.attrs["ib"]))

    def acc_range(self, g, node, types, qconst):
        (alo, ahi, fa), (blo, bhi, fb) = (operand_range(g, t, types, qconst) for t in node.inputs)
        op = node.attrs["op"]
        if op in COMPARE:
            return 0, 1, 0
        if op == "mul":
            p = [alo * blo, alo * bhi, ahi * blo, ahi * bhi]
            if self._is_square(node):     # a*a: never negative (what a norm or variance then relies on)
                p = [0 if alo <= 0 <= ahi else min(alo * alo, ahi * ahi), max(alo * alo, ahi * ahi)]
            m = self._const_shift(g, node, types, qconst)
            return min(p) >> m, max(p) >> m, fa + fb - m
        f = max(fa, fb)
        alo, ahi, blo, bhi = alo << (f - fa), ahi << (f - fa), blo << (f - fb), bhi << (f - fb)
        if op == "add":
            return alo + blo, ahi + bhi, f
        if op == "sub":
            return alo - bhi, ahi - blo, f
        if op == "max":
            return max(alo, blo), max(ahi, bhi), f
        return min(alo, blo), min(ahi, bhi), f

    def twin(self, g, node, raws, types, qconst, acc_frac):
        ia, ib = node.attrs["ia"], node.attrs["ib"]
        ta, tb = (types[t] for t in node.inputs)
        bits = ta.width + tb.width + abs(ta.frac - tb.frac) + 2
        vals = []
        for t in node.inputs:
            r = qconst[t].reshape(1, -1) if g.is_const(t) else raws[t]
            vals.append(as_dtype(r, bits))
        a, b = vals[0][:, ia], vals[1][:, ib]
        op = node.attrs["op"]
        if op == "mul":
            return (a * b) >> (ta.frac + tb.frac - acc_frac)   # exact: those bits are zero
        if op in COMPARE:
            f = max(ta.frac, tb.frac)
            r = COMPARE[op](align(a, ta.frac, f), align(b, tb.frac, f)).astype(np.int64)
            return np.broadcast_to(r, (max(a.shape[0], b.shape[0]), r.shape[1]))
        a, b = align(a, ta.frac, acc_frac), align(b, tb.frac, acc_frac)
        if op == "add":
            r = a + b
        elif op == "sub":
            r = a - b
        elif op == "max":
            r = np.maximum(a, b)
        else:
            r = np.minimum(a, b)
        return np.broadcast_to(r, (max(a.shape[0], b.shape[0]), r.shape[1]))

    def error(self, g, node, errs, mags, types, qconst):
        a, b = node.inputs
        ea, eb = errs[a], errs[b]
        op = node.attrs["op"]
        if op in ("add", "sub"):
            return ea + eb
        if op == "mul":
            return mags[a] * eb + (mags[b] + eb) * ea
        if op in COMPARE:
            return 0.0 if ea == eb == 0 else 1.0   # an input error may flip the outcome
        return max(ea, eb)

    def error_elem(self, g, node, E, V, types, qconst, consts):
        ia, ib = node.attrs["ia"], node.attrs["ib"]
        a, b = node.inputs
        ea, eb = E[a][:, ia], E[b][:, ib]
        va, vb = np.abs(V[a][:, ia]), np.abs(V[b][:, ib])
        op = node.attrs["op"]
        if op in ("add", "sub"):
            return ea + eb, va + vb
        if op == "mul":
            return va * eb + (vb + eb) * ea, va * vb
        if op in COMPARE:
            # the float operands are within ea + eb of the fixed ones: a difference larger than
            # that (or no error at all) decides the comparison the same way
            ea, eb = mask_error(g, a, ea), mask_error(g, b, eb)
            d, e = np.abs(V[a][:, ia] - V[b][:, ib]), ea + eb
            return np.where((d > e) | (e == 0), 0.0, 1.0), 0 * d
        return np.maximum(ea, eb), np.maximum(va, vb)

    def cpp_config(self, g, node, ctx):
        ia, ib = node.attrs["ia"], node.attrs["ib"]
        return (f"    static const unsigned n_a = {size(g.shapes[node.inputs[0]])};\n"
                f"    static const unsigned n_b = {size(g.shapes[node.inputs[1]])};\n"
                f"    static const unsigned n_out = {len(ia)};\n"
                f"    static const unsigned op = {OPS.index(node.attrs['op'])}; // {node.attrs['op']}\n"
                f"    typedef {ctx['accum_t']} accum_t;\n"
                + cpp_table("ia", "unsigned", ia.tolist()) + cpp_table("ib", "unsigned", ib.tolist()))

    def cpp_call(self, g, node, ctx):
        return "equihls::eltwise<{in0_t}, {in1_t}, {out_t}, {config}>({in0}, {in1}, {out});"

    def cost(self, g, node, prec, post_adder=True):
        op, n = node.attrs["op"], len(node.attrs["ia"])
        acc = prec.acc[node.name].width
        a, b = node.inputs
        c = BlockCost(node.name, node.op)
        if op in ("add", "sub"):
            c.adders.append((n, acc))
            c.ops = [add_delay(acc)]
        elif op in COMPARE:   # one subtraction's carry chain (eq/ne: an XOR/AND tree) per element
            w = max(width_of(prec, a), width_of(prec, b))
            c.lut_other += w * n
            c.ops = [add_delay(w)]
        elif op in ("max", "min"):
            c.lut_other += 2 * acc * n
            c.ops = [add_delay(acc), DELAY_LUT_NS]
        elif node.attrs.get("pow2", False):
            c.ops = []
        elif g.is_const(b) or g.is_const(a):
            var, const = (a, b) if g.is_const(b) else (b, a)
            q = np.asarray(prec.qconst[const]).reshape(-1)
            table = np.asarray(node.attrs["ib" if const == b else "ia"])
            _, c.ops = const_products(c, width_of(prec, var), [int(q[i]) for i in table])
        else:
            wa, wb = width_of(prec, a), width_of(prec, b)
            c.products.append((n, wa, wb, "var"))
            c.ops = [DELAY_DSP_NS] if dsp_slices(wa, wb) else [DELAY_LUT_NS * math.ceil(math.log2(min(wa, wb) + 1))]
        return c
