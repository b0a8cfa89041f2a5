"""Model of ip_blocks/equihls_unary.h: relu, negation, explicit casts, absolute value and sign."""
from __future__ import annotations

import math

import numpy as np

from .base import Block, per_event, size
from .cost import DELAY_LUT_NS, BlockCost, add_delay

OPS = ("relu", "neg", "cast", "abs", "sign")   # index = the header's unary_op


class Unary(Block):
    """relu (exact), neg (exact, +1 integer bit), cast (rounds to the output type), abs (exact,
    +1 integer bit for -min), sign (exact: -1/0/1 with no fractional bits)."""

    op = "Unary"
    header = "equihls_unary.h"
    per_element = True

    def rounds(self, node):
        return node.attrs["op"] == "cast"

    def acc_range(self, g, node, types, qconst):
        t = types[node.inputs[0]]
        op = node.attrs["op"]
        if op == "relu":
            return max(t.raw_min, 0), max(t.raw_max, 0), t.frac
        if op == "neg":
            return -t.raw_max, -t.raw_min, t.frac
        if op == "abs":
            lo = 0 if t.raw_min <= 0 <= t.raw_max else min(abs(t.raw_min), abs(t.raw_max))
            return lo, max(abs(t.raw_min), abs(t.raw_max)), t.frac
        if op == "sign":
            return (-1 if t.raw_min < 0 else (0 if t.raw_min == 0 else 1)), \
                (1 if t.raw_max > 0 else (0 if t.raw_max == 0 else -1)), 0
        return t.raw_min, t.raw_max, t.frac

    def twin(self, g, node, raws, types, qconst, acc_frac):
        x = raws[node.inputs[0]]
        op = node.attrs["op"]
        if op == "relu":
            return np.where(x > 0, x, 0).astype(x.dtype)
        if op == "neg":
            return -x
        if op == "abs":
            return np.where(x < 0, -x, x).astype(x.dtype)
        if op == "sign":
            return np.sign(x).astype(x.dtype)
        return x

    def error(self, g, node, errs, mags, types, qconst):
        e = errs[node.inputs[0]]
        if node.attrs["op"] == "sign":
            return 0.0 if e == 0 else 2.0   # an input error may flip the sign: |(-1) - 1| = 2
        return e

    def error_elem(self, g, node, E, V, types, qconst, consts):
        e, v = E[node.inputs[0]], V[node.inputs[0]]
        op = node.attrs["op"]
        if op == "relu":
            # if x_fixed <= -e the float value is negative too: both outputs are 0
            return np.where(v > -e, e, 0.0), 0 * v
        if op == "sign":
            # |x_fixed| > e: the float value has the same sign; else it may differ by up to 2
            return np.where((np.abs(v) > e) | (e == 0), 0.0, 2.0), 0 * v
        return e, 0 * v   # abs is 1-Lipschitz

    def cpp_config(self, g, node, ctx):
        return (f"    static const unsigned n_elem = {size(g.shapes[node.inputs[0]])};\n"
                f"    static const unsigned op = {OPS.index(node.attrs['op'])}; // {node.attrs['op']}\n"
                f"    typedef {ctx['accum_t']} accum_t;\n")

    def cpp_call(self, g, node, ctx):
        return "equihls::unary<{in0_t}, {out_t}, {config}>({in0}, {out});"

    def cost(self, g, node, prec, post_adder=True):
        op = node.attrs["op"]
        n = size(per_event(g.shapes[node.inputs[0]]))
        out_t, in_t = prec.types[node.outputs[0]], prec.types[node.inputs[0]]
        c = BlockCost(node.name, node.op)
        if op == "relu":
            c.lut_other = math.ceil(out_t.width / 2) * n
            c.ops = [DELAY_LUT_NS]
        elif op in ("neg", "abs"):   # abs: a negation and a mux on the sign bit
            c.adders.append((n, out_t.width))
            c.lut_other = (out_t.width if op == "abs" else 0) * n
            c.ops = [add_delay(out_t.width)] + ([DELAY_LUT_NS] if op == "abs" else [])
        elif op == "sign":   # a zero test (OR tree of the bits) and the sign bit
            c.lut_other = (math.ceil(in_t.width / 6) + 2) * n
            c.ops = [DELAY_LUT_NS, DELAY_LUT_NS]
        else:  # cast: a rounding adder when bits are dropped with a rounding mode, saturation logic
            rnd = in_t.frac > out_t.frac and out_t.rounding not in ("AP_TRN", "AP_TRN_ZERO")
            sat = out_t.overflow != "AP_WRAP" and in_t.integer > out_t.integer
            if rnd:
                c.adders.append((n, out_t.width))
            c.lut_other = (out_t.width if sat else 0) * n
            c.ops = ([add_delay(out_t.width)] if rnd else []) + ([DELAY_LUT_NS] if sat else [])
        return c
