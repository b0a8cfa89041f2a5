"""Model of ip_blocks/equihls_lut.h: table look-up for psi, sigmoid and tanh.

psi(x) = sgn(x) log(1 + |x|) uses a logarithmically indexed table (exponent + M mantissa bits
of |raw(x)|), so it covers the full input type — e.g. the exact 40-bit output of a Minkowski
product block — with (W - M + 1) 2^M entries and a relative cell width of at most 2^-M.
sigmoid and tanh use a uniform grid on [-8, 8) and [-4, 4) with saturation outside.
func="grid" tabulates any function of blocks/lut_funcs.py over the input's interval from the
precision pass (bind_intervals): on a uniform grid (lut_uniform), or, on a one-signed interval
where its exact error is smaller, log-indexed like psi (lut_log_odd, sign applied).
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
from . import lut_funcs
from .base import Block, as_dtype, cpp_table, per_event, size
from .cost import (BRAM_MIN_BITS, DELAY_LUT_NS, DELAY_ROM_NS, PSI_INDEX_LUT_PER_BIT, BlockCost, add_delay,
                   width_of)

FUNCS = {
    # name: (f, Lipschitz constant, odd, uniform-grid half range)
    "psi": (lambda x: math.copysign(math.log1p(abs(x)), x), 1.0, True, None),
    # sigmoid through tanh: no exp overflow at the saturation cells of very wide input types
    "sigmoid": (lambda x: 0.5 * (1.0 + math.tanh(0.5 * x)), 0.25, False, 8),
    "tanh": (math.tanh, 1.0, True, 4),
}
UNIFORM_STEP_BITS = 6  # sigmoid/tanh grid step 2^-6


MAX_GRID_ENTRIES = 4096  # grid tables: coarser steps (input truncated to the grid) beyond this


def grid_params(node) -> tuple:
    """(function name, hashable parameters) of a func="grid" LUT node."""
    fn = lut_funcs.lookup(node.attrs["fn"])
    return fn.name, tuple(sorted(fn.params(node.attrs.get("params", {})).items()))


@functools.lru_cache(maxsize=256)
def build_grid_table(fname: str, params: tuple, in_type: FixedType, domain: tuple, out_frac: int):
    """Table of a func="grid" LUT: f on a uniform grid over the raw input interval `domain`
    (lo_raw, hi_raw at in_type.frac), the step the finest power of two of the input LSB that keeps
    at most MAX_GRID_ENTRIES entries. Each entry is the midpoint of f's range over the representable
    inputs of its cell, rounded to out_frac; err is the exact max over every representable input
    of the domain of |f(x) - entry| (grid truncation plus output rounding). Inputs outside the
    domain saturate to the first / last cell (the header clamps the index).

    Returns dict like build_table: raw, cells, err, shift, raw_lo, and lo/hi (value of the domain).
    """
    fn, p = lut_funcs.lookup(fname), dict(params)
    raw_lo, raw_hi = domain
    n_in = raw_hi - raw_lo + 1
    shift = 0
    while ((n_in - 1) >> shift) + 1 > MAX_GRID_ENTRIES:
        shift += 1
    n = ((n_in - 1) >> shift) + 1
    sc = 2.0 ** -in_type.frac
    # cell bounds as Python ints: raw values of wide input types (> 63 bits) overflow int64
    lo = [raw_lo + (k << shift) for k in range(n)]
    hi = [min(a + (1 << shift) - 1, raw_hi) for a in lo]
    flo = fn(np.array([a * sc for a in lo]), **p)
    fhi = fn(np.array([b * sc for b in hi]), **p)
    fmin, fmax = np.minimum(flo, fhi), np.maximum(flo, fhi)
    for c in fn.extrema(**p):   # f monotone between extrema: their representable neighbours too
        for r in {math.floor(c / sc), math.ceil(c / sc)}:
            if raw_lo <= r <= raw_hi:
                j = (r - raw_lo) >> shift
                v = float(fn(np.array([r * sc]), **p)[0])
                fmin[j], fmax[j] = min(fmin[j], v), max(fmax[j], v)
    if not (np.all(np.isfinite(fmin)) and np.all(np.isfinite(fmax))):
        bad = int(np.flatnonzero(~(np.isfinite(fmin) & np.isfinite(fmax)))[0])
        raise lut_funcs.TableDomainError(f"table of {fname}: not finite on the cell [{lo[bad] * sc:.6g}, "
                                         f"{hi[bad] * sc:.6g}] of its input domain")
    mid = (fmin + fmax) / 2 * 2.0 ** out_frac
    raw = [int(round(float(v))) for v in mid]
    vals = np.array([float(q) for q in raw]) * 2.0 ** -out_frac
    err = float(max(np.max(np.abs(vals - fmin)), np.max(np.abs(vals - fmax))))
    cells = list(zip(lo, hi))
    return {"raw": raw, "cells": cells, "err": err, "shift": shift, "raw_lo": raw_lo,
            "lo": raw_lo * sc, "hi": raw_hi * sc}


def _cell_range(fn, p: dict, lo: int, hi: int, sc: float, sign: int) -> tuple:
    """(min, max) of sign*f(sign*a*sc) over the integers a in [lo, hi] (f monotone between extrema)."""
    pts = [lo, hi]
    for c in fn.extrema(**p):
        for r in {math.floor(sign * c / sc), math.ceil(sign * c / sc)}:
            if lo <= r <= hi:
                pts.append(r)
    v = sign * fn(np.array([sign * a * sc for a in pts]), **p)
    return float(np.min(v)), float(np.max(v))


@functools.lru_cache(maxsize=256)
def build_log_grid_table(fname: str, params: tuple, in_type: FixedType, domain: tuple, out_frac: int, m: int):
    """Table of a func="grid" LUT indexed like psi (lut_log_odd: exponent and m mantissa bits of
    |raw(x)|, y = sgn(x) * table[index]) over a domain of one sign: cells of relative width at most
    2^-m, exact below 2^m, so functions steep near 0 and flat far out (sqrt, reciprocal, log, exp
    of x <= 0) keep their relative precision over a wide interval. On a negative domain the table
    holds -f(-a), so the header's sign gives f(x). Cells outside the domain saturate to its edge.
    err: the exact max over every representable input of the domain of |f(x) - y(x)|.

    Returns dict like build_grid_table, without shift / raw_lo."""
    fn, p = lut_funcs.lookup(fname), dict(params)
    raw_lo, raw_hi = domain
    sign = 1 if raw_lo >= 0 else -1
    alo, ahi = (raw_lo, raw_hi) if sign > 0 else (-raw_hi, -raw_lo)
    amax = max(-in_type.raw_min, in_type.raw_max)
    sc = 2.0 ** -in_type.frac
    n = int(psi_index(np.array([amax]), m)[0]) + 1
    raw, err = [], 0.0
    for k in range(n):
        if k < (1 << m):
            lo = hi = k
        else:
            e, mant = divmod(k - (1 << m), 1 << m)
            lo = ((1 << m) + mant) << e
            hi = (((1 << m) + mant + 1) << e) - 1
        clo, chi = max(lo, alo), min(hi, ahi)
        if clo > chi:                        # outside the domain: the nearest edge's value
            clo = chi = alo if hi < alo else ahi
        s = 1 if (clo == 0 and sign < 0) else sign     # a = 0 is x = 0, never negated by the header
        fmin, fmax = _cell_range(fn, p, clo, chi, sc, s)
        if not (math.isfinite(fmin) and math.isfinite(fmax)):
            raise lut_funcs.TableDomainError(f"table of {fname}: not finite on the cell [{sign * clo * sc:.6g}, "
                                             f"{sign * chi * sc:.6g}] of its input domain")
        q = int(round((fmin + fmax) / 2 * 2.0 ** out_frac))
        raw.append(q)
        if not (hi < alo or lo > ahi):
            v = q * 2.0 ** -out_frac
            err = max(err, abs(v - fmin), abs(v - fmax))
    return {"raw": raw, "cells": None, "err": err, "lo": raw_lo * sc, "hi": raw_hi * sc}


def log_grid_mantissa(in_type: FixedType, max_entries: int = MAX_GRID_ENTRIES) -> int:
    """The most mantissa bits whose log-indexed table over the whole input type has at most
    max_entries entries (at most width - 1, at least 0)."""
    amax = max(-in_type.raw_min, in_type.raw_max)
    m = max(0, min(in_type.width - 1, max_entries.bit_length() - 1))   # 2^m exact cells alone fill max_entries
    while m > 0 and int(psi_index(np.array([amax]), m)[0]) + 1 > max_entries:
        m -= 1
    return m


def grid_domain(fname: str, params: tuple, it: FixedType, interval, where: str, clamp=None) -> tuple:
    """Raw (lo, hi) at it.frac of a grid table's domain: the input's interval (lo_raw, hi_raw,
    frac), or None for the whole type, cut to the type, after refusing intervals with poles or
    NaN regions (lut_funcs.check_domain). clamp: optional [lo, hi] (value units) the node sets to
    cut the domain further (inputs beyond it saturate to its edge: the float model differs there)."""
    if interval is None:
        interval = (it.raw_min, it.raw_max, it.frac)
    lo, hi, f = interval
    if clamp is not None:
        s = 2.0 ** f
        lo, hi = max(lo, math.ceil(clamp[0] * s)), min(hi, math.floor(clamp[1] * s))
        hi = max(lo, hi)
    lut_funcs.check_domain(lut_funcs.lookup(fname), dict(params), lo * 2.0 ** -f, hi * 2.0 ** -f, where)
    d = it.frac - f
    lo, hi = (lo << d, hi << d) if d >= 0 else (-((-lo) >> -d), hi >> -d)   # ceil / floor onto the grid
    lo, hi = max(it.raw_min, lo), min(it.raw_max, hi)
    if lo > hi:
        lo = hi = min(max(0, it.raw_min), it.raw_max)
    return lo, hi


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
    """The mantissa bits M of a psi or log-indexed grid table for this input (a grid's is set by
    bind_intervals, already within range): at most W-1 (at least 0), so that 2^M and every |raw|
    fit the header's ap_uint<W> arithmetic even for very narrow inputs."""
    return max(0, min(node.attrs.get("mantissa_bits", 6), in_type.width - 1))


class LUT(Block):
    """y = f(x) by table; attrs: func (psi|sigmoid|tanh|grid), frac (output fractional bits), mantissa_bits;
    func="grid": fn (a lut_funcs.FUNCS name), params (its parameters), domain ([lo, hi] raw at the
    input's fractional bits, bound by the precision pass from the input's interval)."""

    op = "LUT"
    header = "equihls_lut.h"
    per_element = True
    # ONNX Runtime's Sigmoid/Tanh are float32 approximations with an absolute error near 1e-7 even
    # where the value is tiny (a relative ulp allowance would refuse valid models there)
    float_ref_abs = 2.0 ** -21

    def divergence_hint(self, node):
        func = node.attrs.get("func")
        if func == "grid":
            return {"cause": f"the {node.attrs['fn']} table truncates its input to a grid step (at most "
                             f"{MAX_GRID_ENTRIES} entries over the input's interval), coarse against how "
                             f"little this tensor varies",
                    "hint": "a narrower input interval (fewer entries needed) or a larger --fidelity-rms"}
        if func not in ("sigmoid", "tanh"):
            return None
        return {"cause": f"the {func} table samples its input every 2^-{UNIFORM_STEP_BITS}, coarse "
                         f"against how little this tensor varies",
                "hint": "a model whose table inputs vary more, or a larger --fidelity-rms"}

    def bind_defaults(self, node, default_type):
        # the table's output fractional bits: the default type's unless the node fixes them
        node.attrs.setdefault("frac", default_type.frac)

    def bind_intervals(self, g, node, types, intervals):
        # a grid table spans its input's reachable interval (pole / NaN checks there), not its type
        if node.attrs["func"] != "grid":
            return
        it = types[node.inputs[0]]
        fname, params = grid_params(node)
        node.attrs["domain"] = list(grid_domain(fname, params, it, intervals.get(node.inputs[0]),
                                                f"LUT '{node.name}' ("
                                                + (f"of {node.attrs['origin']}, " if "origin" in node.attrs else "")
                                                + f"input '{node.inputs[0]}')",
                                                node.attrs.get("clamp")))
        node.attrs.pop("index", None)
        node.attrs.pop("mantissa_bits", None)
        lo, hi = node.attrs["domain"]
        if lo >= 0 or hi <= 0:   # one sign: a log-indexed table where its exact error is smaller
            m = log_grid_mantissa(it)
            uni = build_grid_table(fname, params, it, (lo, hi), node.attrs["frac"])["err"]
            if build_log_grid_table(fname, params, it, (lo, hi), node.attrs["frac"], m)["err"] < uni:
                node.attrs["index"], node.attrs["mantissa_bits"] = "log", m

    def table(self, node, types):
        it = types[node.inputs[0]]
        if node.attrs["func"] == "grid":
            fname, params = grid_params(node)
            dom = tuple(node.attrs.get("domain") or grid_domain(fname, params, it, None, f"LUT '{node.name}'"))
            if _log_indexed(node):
                return build_log_grid_table(fname, params, it, dom, node.attrs["frac"], node.attrs["mantissa_bits"])
            return build_grid_table(fname, params, it, dom, node.attrs["frac"])
        return build_table(node.attrs["func"], it, node.attrs["frac"], mantissa_bits(node, it))

    def acc_range(self, g, node, types, qconst):
        raw = self.table(node, types)["raw"]
        if _log_indexed(node):     # one-signed domain: negated entries only for a negative one (not x = 0)
            lo, hi = node.attrs["domain"]
            vals = raw if lo >= 0 else [-v for v in raw[1:]] + ([raw[0]] if hi >= 0 else [])
            return min(vals), max(vals), node.attrs["frac"]
        if _sign_applied(node):
            t = max(abs(v) for v in raw)
            return -t, t, node.attrs["frac"]
        return min(raw), max(raw), node.attrs["frac"]

    def twin(self, g, node, raws, types, qconst, acc_frac):
        tab = self.table(node, types)
        table = np.array(tab["raw"], dtype=np.int64)
        x = raws[node.inputs[0]]
        if _sign_applied(node):
            neg = x < 0
            a = np.where(neg, -x, x)
            t = table[psi_index(a, mantissa_bits(node, types[node.inputs[0]]))]
            return np.where(neg, -t, t)
        idx = (as_dtype(x, 64) - tab["raw_lo"]) >> tab["shift"]
        idx = np.clip(idx.astype(np.int64), 0, len(table) - 1)
        return table[idx]

    def error(self, g, node, errs, mags, types, qconst):
        if node.attrs["func"] == "grid":
            return self._grid_error(node, errs[node.inputs[0]], types)
        return FUNCS[node.attrs["func"]][1] * errs[node.inputs[0]] + self.table(node, types)["err"]

    def error_elem(self, g, node, E, V, types, qconst, consts):
        # |LUT(x_f) - f(x)| <= |LUT(x_f) - f(x_f)| + sup|f'| on [x_f - e, x_f + e] * e
        x, e = V[node.inputs[0]], E[node.inputs[0]]
        func = node.attrs["func"]
        if func == "grid":
            return self._grid_error_elem(g, node, x, e, types, qconst)
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

    def _grid_error(self, node, e_in: float, types) -> float:
        """A-priori bound: table error plus sup|f'| on the domain times the input error, capped by
        the spread of f over the domain widened by that error (|f'| may be unbounded, as sqrt's at 0)."""
        tab = self.table(node, types)
        fname, params = grid_params(node)
        fn, p = lut_funcs.lookup(fname), dict(params)
        lo, hi = tab["lo"], tab["hi"]
        pts = [lo, hi] + [c for c in fn.slope_peaks(**p) if lo <= c <= hi]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            lip = float(np.max(fn.slope(np.array(pts), **p)))
        cut = np.array([max(lo - e_in, lo if lut_funcs.domain_kind(fn, p) != "all" else -np.inf), hi + e_in])
        ends = fn(np.concatenate([cut, [c for c in fn.extrema(**p) if cut[0] <= c <= cut[1]]]), **p)
        spread = float(np.max(ends) - np.min(ends)) if np.all(np.isfinite(ends)) else np.inf
        prop = min(lip * e_in, spread) if e_in > 0 else 0.0
        return tab["err"] + (prop if np.isfinite(prop) else spread)

    def _grid_error_elem(self, g, node, x, e, types, qconst):
        # |LUT(x_f) - f(x)| <= |LUT(x_f) - f(x_f)| + max |f(t) - f(x_f)| over t in [x_f - e, x_f + e] ∩ domain,
        # the latter exact from f's values at the ends and at the extrema inside (f monotone between)
        it = types[node.inputs[0]]
        fname, params = grid_params(node)
        fn, p = lut_funcs.lookup(fname), dict(params)
        out = self.twin(g, node, {node.inputs[0]: it.from_float(x)[0]}, types, qconst, 0)
        table = np.asarray(out, dtype=np.float64) * 2.0 ** -node.attrs["frac"]
        kind = lut_funcs.domain_kind(fn, p)
        floor = {"positive": np.nextafter(0.0, 1.0), "nonneg": 0.0}.get(kind, -np.inf)
        fx = fn(x, **p)
        lo, hi = np.maximum(x - e, floor), x + e
        if kind == "nonzero":   # the float model stays on x's side of the pole
            lo = np.where(x > 0, np.maximum(lo, np.nextafter(0.0, 1.0)), lo)
            hi = np.where(x < 0, np.minimum(hi, -np.nextafter(0.0, 1.0)), hi)
        dev = np.maximum(np.abs(fn(lo, **p) - fx), np.abs(fn(hi, **p) - fx))
        for c in fn.extrema(**p):
            inside = (lo <= c) & (c <= hi)
            dev = np.where(inside, np.maximum(dev, np.abs(float(fn(np.array([c]), **p)[0]) - fx)), dev)
        dev = np.where(e > 0, dev, 0.0)
        return np.abs(table - fx) + dev, np.abs(fx)

    def cpp_config(self, g, node, ctx):
        tab = self.table(node, types=ctx["types"])
        n = size(g.shapes[node.inputs[0]])
        it = ctx["types"][node.inputs[0]]
        body = (f"    static const unsigned n_elem = {n};\n    static const int in_width = {it.width};\n"
                f"    static const bool in_signed = {'true' if it.signed else 'false'};\n")
        if _sign_applied(node):
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
        fn = "lut_log_odd" if _sign_applied(node) else "lut_uniform"
        return "equihls::%s<{in0_t}, {out_t}, {config}>({in0}, {out});" % fn

    def cost(self, g, node, prec, post_adder=True):
        n = size(per_event(g.shapes[node.inputs[0]]))
        entries = len(self.table(node, prec.types)["raw"])
        w_in, w_out = width_of(prec, node.inputs[0]), width_of(prec, node.outputs[0])
        c = BlockCost(node.name, node.op)
        bits = entries * w_out
        c.tables.append((n, entries, w_out, w_in))      # priced by the estimate (cost.rom_cost, shared at II > 1)
        c.ops = ["bram"] if bits >= BRAM_MIN_BITS else [DELAY_ROM_NS]
        if _sign_applied(node):   # |x|, log index, and the output sign
            c.lut_other += PSI_INDEX_LUT_PER_BIT * w_in * n
            c.adders.append((2 * n, w_out))
            c.ops = [add_delay(w_in), 2 * DELAY_LUT_NS] + c.ops + [add_delay(w_out)]
        else:
            c.adders.append((n, w_in))
            c.ops = [add_delay(w_in)] + c.ops
        c.notes = {"table_entries": entries, "table_bits": bits, "elements": n}
        return c


def _log_indexed(node) -> bool:
    """A func="grid" LUT whose table is log-indexed (bind_intervals chose it)."""
    return node.attrs["func"] == "grid" and node.attrs.get("index") == "log"


def _sign_applied(node) -> bool:
    """Tables read through lut_log_odd (|x| indexed, output sign from x): psi and log-indexed grids."""
    return node.attrs["func"] == "psi" or _log_indexed(node)


def _fixed_literal(raw: int, frac: int) -> str:
    """Exact decimal literal of raw * 2^-frac (dyadic rationals have finite decimals)."""
    if frac <= 0:
        return str(raw << -frac)
    d = Decimal(raw) / (Decimal(2) ** frac)
    return format(d, "f")
