"""Model of ip_blocks/equihls_lut.h: table look-up for psi, sigmoid and tanh.

psi(x) = sgn(x) log(1 + |x|) uses a logarithmically indexed table (exponent + M mantissa bits
of |raw(x)|), so it covers the full input type — e.g. the exact 40-bit output of a Minkowski
product block — with (W - M + 1) 2^M entries and a relative cell width of at most 2^-M.
sigmoid and tanh use a uniform grid on [-8, 8) and [-4, 4) with saturation outside.
Table entries are f at the centre of each cell's image (f is monotone on every cell), rounded to
nearest, so the error of an entry is at most half the rise of f across its cell plus half an
output LSB; the compiler computes the exact maximum and records it.
"""
from __future__ import annotations

import functools
import math
from decimal import Decimal

import numpy as np

from ..ir.fixedpoint import FixedType
from .base import Block, as_dtype, cpp_table, per_event, size
from .cost import (BRAM18_BITS, BRAM_MIN_BITS, DELAY_LUT_NS, DELAY_ROM_NS, PSI_INDEX_LUT_PER_BIT, BlockCost, add_delay,
                   width_of)

FUNCS = {
    # name: (f, Lipschitz constant, odd, uniform-grid half range)
    "psi": (lambda x: math.copysign(math.log1p(abs(x)), x), 1.0, True, None),
    # sigmoid through tanh: no exp overflow at the saturation cells of very wide input types
    "sigmoid": (lambda x: 0.5 * (1.0 + math.tanh(0.5 * x)), 0.25, False, 8),
    "tanh": (math.tanh, 1.0, True, 4),
}
UNIFORM_STEP_BITS = 6  # sigmoid/tanh grid step 2^-6


@functools.lru_cache(maxsize=64)
def build_table(func: str, in_type: FixedType, out_frac: int, mantissa_bits: int):
    """Table of a LUT for `func` on input type `in_type`.

    Returns dict: raw (list of ints at out_frac), cells (list of (lo_raw, hi_raw) input ranges),
    err (max |table - f| over the input range, float), shift / raw_lo (uniform grids).
    """
    f = FUNCS[func][0]
    sc = 2.0 ** -in_type.frac
    cells = []
    info = {}
    if func == "psi":
        m = mantissa_bits
        amax = max(-in_type.raw_min, in_type.raw_max)
        cells = [(a, a) for a in range(min(1 << m, amax + 1))]
        p = m
        while (1 << p) <= amax:
            for mant in range(1 << m):
                lo = ((1 << m) + mant) << (p - m)
                hi = (((1 << m) + mant + 1) << (p - m)) - 1
                cells.append((lo, min(hi, amax)) if lo <= amax else (amax, amax))
            p += 1
    else:
        half = FUNCS[func][3]
        s = min(in_type.frac, UNIFORM_STEP_BITS)
        shift = in_type.frac - s
        raw_lo = -half << in_type.frac
        n = (2 * half) << s
        for k in range(n):
            lo, hi = raw_lo + (k << shift), raw_lo + ((k + 1) << shift) - 1
            if k == 0:
                lo = min(lo, in_type.raw_min)
            if k == n - 1:
                hi = max(hi, in_type.raw_max)
            lo, hi = max(lo, in_type.raw_min), min(hi, in_type.raw_max)
            cells.append((lo, hi) if lo <= hi else (hi, hi))
        info.update(shift=shift, raw_lo=raw_lo)
    raw, err = [], 0.0
    for lo, hi in cells:
        flo, fhi = f(lo * sc), f(hi * sc)
        q = round((flo + fhi) / 2 * 2.0 ** out_frac)
        v = q * 2.0 ** -out_frac
        raw.append(q)
        err = max(err, abs(v - flo), abs(v - fhi))
    info.update(raw=raw, cells=cells, err=err)
    return info


def psi_index(a, m: int):
    """Table index of |raw| values `a` (int array) with m mantissa bits (see equihls_lut.h)."""
    a = np.asarray(a)
    out = np.empty(a.shape, dtype=np.int64)
    small = a < (1 << m)
    out[small] = a[small].astype(np.int64)
    big = ~small
    if big.any():
        ab = a[big]
        p = np.array([int(v).bit_length() - 1 for v in ab.ravel()], dtype=np.int64).reshape(ab.shape)
        mant = np.array([int(v) >> int(s) for v, s in zip(ab.ravel(), (p - m).ravel())],
                        dtype=np.int64).reshape(ab.shape)
        out[big] = ((p - m + 1) << m) + mant - (1 << m)
    return out


def mantissa_bits(node, in_type: FixedType) -> int:
    """psi's mantissa bits M for this input: at most W-1 (at least 0), so that 2^M and every
    |raw| fit the header's ap_uint<W> arithmetic even for very narrow inputs."""
    return max(0, min(node.attrs.get("mantissa_bits", 6), in_type.width - 1))


class LUT(Block):
    """y = f(x) by table; attrs: func (psi|sigmoid|tanh), frac (output fractional bits), mantissa_bits."""

    op = "LUT"
    header = "equihls_lut.h"
    per_element = True
    # ONNX Runtime's Sigmoid/Tanh are float32 approximations with an absolute error near 1e-7 even
    # where the value is tiny (a relative ulp allowance would refuse valid models there)
    float_ref_abs = 2.0 ** -21

    def divergence_hint(self, node):
        func = node.attrs.get("func")
        if func not in ("sigmoid", "tanh"):
            return None
        return {"cause": f"the {func} table samples its input every 2^-{UNIFORM_STEP_BITS}, coarse "
                         f"against how little this tensor varies",
                "hint": "a model whose table inputs vary more, or a larger --fidelity-rms"}

    def bind_defaults(self, node, default_type):
        # the table's output fractional bits: the default type's unless the node fixes them
        node.attrs.setdefault("frac", default_type.frac)

    def table(self, node, types):
        it = types[node.inputs[0]]
        return build_table(node.attrs["func"], it, node.attrs["frac"], mantissa_bits(node, it))

    def acc_range(self, g, node, types, qconst):
        raw = self.table(node, types)["raw"]
        if FUNCS[node.attrs["func"]][2] and node.attrs["func"] == "psi":
            t = max(abs(v) for v in raw)
            return -t, t, node.attrs["frac"]
        return min(raw), max(raw), node.attrs["frac"]

    def twin(self, g, node, raws, types, qconst, acc_frac):
        tab = self.table(node, types)
        table = np.array(tab["raw"], dtype=np.int64)
        x = raws[node.inputs[0]]
        if node.attrs["func"] == "psi":
            neg = x < 0
            a = np.where(neg, -x, x)
            t = table[psi_index(a, mantissa_bits(node, types[node.inputs[0]]))]
            return np.where(neg, -t, t)
        idx = (as_dtype(x, 64) - tab["raw_lo"]) >> tab["shift"]
        idx = np.clip(idx.astype(np.int64), 0, len(table) - 1)
        return table[idx]

    def error(self, g, node, errs, mags, types, qconst):
        return FUNCS[node.attrs["func"]][1] * errs[node.inputs[0]] + self.table(node, types)["err"]

    def error_elem(self, g, node, E, V, types, qconst, consts):
        # |LUT(x_f) - f(x)| <= |LUT(x_f) - f(x_f)| + sup|f'| on [x_f - e, x_f + e] * e
        x, e = V[node.inputs[0]], E[node.inputs[0]]
        func = node.attrs["func"]
        out = self.twin(g, node, {node.inputs[0]: types[node.inputs[0]].from_float(x)[0]}, types, qconst, 0)
        table = np.asarray(out, dtype=np.float64) * 2.0 ** -node.attrs["frac"]
        f = np.vectorize(FUNCS[func][0], otypes=[np.float64])(x)
        near = np.maximum(np.abs(x) - e, 0.0)
        if func == "psi":
            slope = 1.0 / (1.0 + near)
        elif func == "tanh":
            slope = 1.0 - np.tanh(near) ** 2
        else:
            s = 1.0 / (1.0 + np.exp(-near))
            slope = s * (1.0 - s)
        return np.abs(table - f) + slope * e, np.abs(f)

    def cpp_config(self, g, node, ctx):
        tab = self.table(node, types=ctx["types"])
        n = size(g.shapes[node.inputs[0]])
        it = ctx["types"][node.inputs[0]]
        body = (f"    static const unsigned n_elem = {n};\n    static const int in_width = {it.width};\n"
                f"    static const bool in_signed = {'true' if it.signed else 'false'};\n")
        if node.attrs["func"] == "psi":
            tt = FixedType(max(1, max(abs(v) for v in tab["raw"]).bit_length()) + 1,
                           max(1, max(abs(v) for v in tab["raw"]).bit_length()) + 1 - node.attrs["frac"])
            body += f"    static const int mantissa_bits = {mantissa_bits(node, it)};\n"
        else:
            tt = FixedType.parse(ctx["out_t_cpp"])
            body += (f"    static const long long raw_lo = {tab['raw_lo']}LL;\n"
                     f"    static const int shift = {tab['shift']};\n"
                     f"    static const unsigned n_table = {len(tab['raw'])};\n")
        body += f"    typedef {tt.cpp()} table_t;\n"
        vals = [_fixed_literal(v, tt.frac) for v in tab["raw"]]
        return body + cpp_table("table", "table_t", vals)

    def cpp_call(self, g, node, ctx):
        fn = "lut_log_odd" if node.attrs["func"] == "psi" else "lut_uniform"
        return "equihls::%s<{in0_t}, {out_t}, {config}>({in0}, {out});" % fn

    def cost(self, g, node, prec, post_adder=True):
        n = size(per_event(g.shapes[node.inputs[0]]))
        entries = len(self.table(node, prec.types)["raw"])
        w_in, w_out = width_of(prec, node.inputs[0]), width_of(prec, node.outputs[0])
        c = BlockCost(node.name, node.op)
        bits = entries * w_out
        if bits >= BRAM_MIN_BITS:
            c.bram18 = math.ceil(n / 2) * math.ceil(bits / BRAM18_BITS)
            c.ops = ["bram"]
        else:
            c.lut_other = math.ceil(entries / 64) * w_out * n
            c.ops = [DELAY_ROM_NS]
        if node.attrs["func"] == "psi":   # |x|, log index, and the output sign
            c.lut_other += PSI_INDEX_LUT_PER_BIT * w_in * n
            c.adders.append((2 * n, w_out))
            c.ops = [add_delay(w_in), 2 * DELAY_LUT_NS] + c.ops + [add_delay(w_out)]
        else:
            c.adders.append((n, w_in))
            c.ops = [add_delay(w_in)] + c.ops
        c.notes = {"table_entries": entries, "table_bits": bits, "elements": n}
        return c


def _fixed_literal(raw: int, frac: int) -> str:
    """Exact decimal literal of raw * 2^-frac (dyadic rationals have finite decimals)."""
    if frac <= 0:
        return str(raw << -frac)
    d = Decimal(raw) / (Decimal(2) ** frac)
    return format(d, "f")
