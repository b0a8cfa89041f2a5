"""Precision pass: an exact ap_fixed type for every tensor, by interval / bit-growth analysis.

Rules:
- Inputs get the user's input type. Constants keep their relative precision: each tensor's
  binary point gives its largest value weight_bits significant bits (or weight_frac fractional
  bits when the user fixes them); exactly representable tensors use the fewest bits that
  represent them, and tensors of powers of two are always exact. A non-zero constant that
  rounds to all zeros or loses more than 2^-(weight_bits-1) of its largest value is an error
  naming it and its nodes (unless allowed).
- Every block's pre-rounding result is exact (accum type = smallest type holding the interval of
  reachable values). Exact blocks (scalar products, add/sub, pooling, routing, relu) output that
  type. Blocks that multiply by non-integers (dense, mul, LUT, cast) round once to the default
  type's fractional bits and rounding mode; their integer bits still come from the interval, so
  no tensor can overflow for inputs inside the input type.
- A per-tensor user override replaces the inferred type and is marked as such; such a tensor may
  round or overflow, and the self-check reports it.
- A QONNX Quant node in the model (power-of-two scale, zero point 0) fixes its output's type
  to the equal ap_fixed type (saturating, as Quant clips); later intervals start from it.
- Calibration (optional): value ranges seen on calibration events, widened by a safety margin,
  narrow a computed tensor's integer bits when that is tighter than the interval; such a tensor
  saturates (AP_SAT) outside the calibrated range, and its type is marked as calibrated. Every
  later block's interval starts from the narrowed type, so the savings propagate.
- Alongside, an error bound against the real-arithmetic float model is propagated (absolute,
  per tensor), which gives the self-check its tolerance.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..blocks import block_for, twin
from ..blocks.base import mag, round_error
from ..errors import OptionError, PrecisionError, TypeWidthError
from ..ir.fixedpoint import DEFAULT_WEIGHT_BITS, FixedType, exact_type, quantize_const

MAX_WIDTH = 96
DEFAULT_CALIB_MARGIN = 2.0


@dataclasses.dataclass
class Precision:
    """Result of the precision pass.

    types: tensor -> FixedType (runtime tensors and constants); acc: node name -> accumulator type;
    acc_frac: node name -> fractional bits of the exact result; qconst: constant -> raw ints (flat);
    errs: tensor -> bound on |fixed - float model| (value units); overridden: tensors whose type the
    user set; acc_narrowed: node name -> user accumulator type (narrower than exact: the block
    then rounds/wraps while it accumulates, see Block.twin_accumulate).
    """

    types: dict
    acc: dict
    acc_frac: dict
    qconst: dict
    errs: dict
    overridden: set
    default_type: FixedType
    weight_frac: int | None
    acc_narrowed: dict = dataclasses.field(default_factory=dict)
    calibrated: dict = dataclasses.field(default_factory=dict)  # tensor -> {lo, hi, margin}
    quantized: set = dataclasses.field(default_factory=set)     # tensors typed by a QONNX Quant
    weight_bits: int = DEFAULT_WEIGHT_BITS
    rounded_consts: dict = dataclasses.field(default_factory=dict)  # const -> problem, kept by allow_weight_rounding
    # tensor -> (lo_raw, hi_raw, frac): the exact interval of reachable values (within its type's range)
    intervals: dict = dataclasses.field(default_factory=dict)


def const_precision_problem(c: np.ndarray, raw, t: FixedType, weight_bits: int) -> str | None:
    """Why the quantised constant does not keep its relative precision, or None when it does:
    a non-zero tensor rounded to all zeros, or a max error above 2^-(weight_bits-1) of max|c|."""
    c = np.asarray(c, dtype=np.float64).reshape(-1)
    big = float(np.abs(c).max(initial=0.0))
    if big == 0.0:
        return None
    q = np.asarray(raw, dtype=np.float64).reshape(-1) * 2.0 ** -t.frac
    if not np.any(q):
        return f"every value rounds to 0 with {t.frac} fractional bits"
    rel = float(np.abs(c - q).max()) / big
    if rel > 2.0 ** -(weight_bits - 1):
        return (f"relative error {rel:.2g} of its largest value exceeds 2^-{weight_bits - 1} with {t.frac} "
                f"fractional bits")
    return None


def _round_bound(v: int, f_from: int, f_to: int, mode: str) -> int:
    """v * 2^-f_from rounded to f_to fractional bits with `mode` (monotone, so bounds map to bounds)."""
    wide = FixedType(400, 400 - f_to, True, mode, "AP_WRAP")
    return int(wide.quantize_raw(np.array([v], dtype=object), f_from)[0][0])


def _resolve_acc_overrides(g, acc_overrides: dict) -> dict:
    """Map user keys (node name or its output tensor) to node names; refuse unknown keys and
    blocks without a user-settable accumulator."""
    by_key = {}
    for node in g.nodes:
        by_key[node.name] = by_key[node.outputs[0]] = node
    out = {}
    for key, t in acc_overrides.items():
        node = by_key.get(key)
        if node is None:
            able = sorted(n.outputs[0] for n in g.nodes if block_for(n).accumulates)
            raise OptionError(f"accumulator override '{key}': no such node or tensor (nodes with accumulators: "
                             f"{', '.join(able) or 'none'})")
        if not block_for(node).accumulates:
            raise OptionError(f"accumulator override '{key}': {node.op} '{node.name}' has no accumulator to set")
        out[node.name] = t
    return out


def _too_wide(g, node, a: FixedType, o: FixedType, types: dict, accumulates: bool) -> str:
    """Why a block's type exceeds MAX_WIDTH and what can narrow it. An exact result is as wide as
    its operands make it, so overriding the block's own output type cannot help then: only
    narrower operands (input type, --type upstream, fewer rounded fractional bits or weight
    bits) or, for blocks with one, a narrower accumulator."""
    ops = ", ".join(f"'{t}'{' (constant)' if g.is_const(t) else ''} {types[t].cpp()}"
                    for t in node.inputs if t in types)
    if o.width > MAX_WIDTH and a.width <= MAX_WIDTH:
        return (f"{node.op} '{node.name}': type {o.cpp()} of '{node.outputs[0]}' is {o.width} bits wide "
                f"(> {MAX_WIDTH}); give it a narrower type with --type '{node.outputs[0]}=TYPE'")
    fixes = ("a narrower --input-type, fewer fractional bits in --default-type, fewer weight bits, or --type on "
             "an operand or a tensor upstream of it")
    if accumulates:
        fixes += f", or a narrower accumulator (--accum-type '{node.name}=TYPE')"
    return (f"{node.op} '{node.name}': its exact result needs {a.width} bits (> {MAX_WIDTH}) from its operands "
            f"{ops}; overriding its own type cannot narrow that: use {fixes}")


def calibration_ranges(g, prec: Precision, x_q: dict) -> dict:
    """Value range of every computed tensor on calibration events.

    x_q: input name -> float64 events [batch, ...] already in the input type. The events run
    through the numpy twin of `prec` (bit-exact). Returns tensor -> (min, max) in value units."""
    raws_in = {n: prec.types[n].from_float(np.asarray(a).reshape(len(a), -1))[0] for n, a in x_q.items()}
    raws, _ = twin.run(g, prec, raws_in)
    out = {}
    for node in g.nodes:
        t = node.outputs[0]
        v = prec.types[t].to_float(raws[t])
        out[t] = (float(v.min()), float(v.max())) if v.size else (0.0, 0.0)
    return out


def _calibrated_type(o: FixedType, lo: float, hi: float, margin: float) -> FixedType | None:
    """The type with o's fractional bits and rounding holding [min(lo,0), max(hi,0)] * margin,
    saturating; None when that is not narrower than o."""
    rlo = int(np.floor(min(lo, 0.0) * margin * 2.0 ** o.frac))
    rhi = int(np.ceil(max(hi, 0.0) * margin * 2.0 ** o.frac))
    t = exact_type(rlo, rhi, o.frac).with_modes(rounding=o.rounding, overflow="AP_SAT")
    return t if t.width < o.width else None


def _quantize_consts(g, weight_bits: int, weight_frac: int | None, allow_rounding: bool):
    """types, raw ints and (allowed) precision problems of every constant of `g`. A constant
    that loses its relative precision (const_precision_problem) is an error naming it, the
    nodes that read it and its largest value, unless allow_rounding."""
    types, qconst, problems = {}, {}, {}
    for name, c in g.consts.items():
        users = [f"{n.op} '{n.name}'" for n in g.nodes if name in n.inputs]
        try:
            types[name], qconst[name], _ = quantize_const(c, weight_bits, weight_frac)
        except ValueError as e:
            raise PrecisionError(f"constant '{name}' (read by {', '.join(users) or 'no node'}): {e}") from None
        why = const_precision_problem(c, qconst[name], types[name], weight_bits)
        if why is None:
            continue
        if not allow_rounding:
            big = float(np.abs(np.asarray(c, dtype=np.float64)).max())
            how = (f"--weight-frac {weight_frac} fixes the binary point; drop it (--weight-bits then chooses "
                   f"one per constant) or raise it" if weight_frac is not None else
                   f"raise --weight-bits (now {weight_bits})")
            raise PrecisionError(f"constant '{name}' (read by {', '.join(users) or 'no node'}, max |value| "
                                 f"{big:.6g}): {why}; {how}, or pass --allow-weight-rounding to accept it")
        problems[name] = why
    return types, qconst, problems


def infer(g, input_types: dict, default_type: FixedType, weight_frac: int | None = None,
          overrides: dict | None = None, acc_overrides: dict | None = None,
          calibration: dict | None = None, calib_margin: float = DEFAULT_CALIB_MARGIN,
          weight_bits: int = DEFAULT_WEIGHT_BITS, allow_weight_rounding: bool = False) -> Precision:
    """Run the precision pass over an all-equihls graph (see module doc).

    overrides: tensor -> FixedType replacing the inferred type; acc_overrides: node name or output
    tensor -> accumulator FixedType (blocks with `accumulates`, e.g. ScalarProducts);
    calibration: tensor -> (min, max) seen on calibration events (calibration_ranges), widened
    by the factor calib_margin (>= 1) before narrowing integer bits; weight_bits / weight_frac /
    allow_weight_rounding: how constants are quantised (quantize_const, _quantize_consts)."""
    if calibration and not calib_margin >= 1.0:
        raise OptionError(f"calibration margin must be >= 1, got {calib_margin}")
    calibration = calibration or {}
    calibrated, quantized = {}, set()
    overrides = dict(overrides or {})
    produced = {n.outputs[0] for n in g.nodes}
    for t in overrides:
        if t not in produced:
            raise OptionError(f"type override '{t}': no such tensor computed by the model (tensors: "
                             f"{', '.join(sorted(produced)[:20])}{' ...' if len(produced) > 20 else ''})")
    narrowed = _resolve_acc_overrides(g, acc_overrides or {})
    types, qconst, rounded = _quantize_consts(g, weight_bits, weight_frac, allow_weight_rounding)
    acc, acc_frac, errs = {}, {}, {}
    intervals = {}
    for name, raw in qconst.items():
        r = np.asarray(raw).reshape(-1)
        intervals[name] = (int(min(r, default=0)), int(max(r, default=0)), types[name].frac)
    for t in g.inputs:
        types[t] = input_types[t]
        errs[t] = 0.0
        intervals[t] = (types[t].raw_min, types[t].raw_max, types[t].frac)
    for node in g.nodes:
        blk = block_for(node)
        blk.bind_defaults(node, default_type)
        blk.bind_intervals(g, node, types, intervals)
        lo, hi, f = blk.acc_range(g, node, types, qconst)
        a = exact_type(min(lo, 0), max(hi, 0), f)
        out = node.outputs[0]
        if node.name in narrowed:
            # the accumulator rounds once per term: results move by up to n_terms of its LSBs
            a = narrowed[node.name]
            k, fa = blk.n_terms(g, node), a.frac
            lo_a = _round_bound(lo, f, fa, "AP_TRN") - k if fa < f else lo << (fa - f)
            hi_a = _round_bound(hi, f, fa, "AP_TRN") + k if fa < f else hi << (fa - f)
            o = exact_type(max(min(lo_a, 0), a.raw_min), min(max(hi_a, 0), a.raw_max), fa)
        elif blk.rounds(node) and f > default_type.frac:
            rlo = _round_bound(lo, f, default_type.frac, default_type.rounding)
            rhi = _round_bound(hi, f, default_type.frac, default_type.rounding)
            o = exact_type(min(rlo, 0), max(rhi, 0), default_type.frac).with_modes(rounding=default_type.rounding)
        else:
            o = a
        if out in overrides:
            o = overrides[out]
        elif "fixed_type" in node.attrs:    # a quantiser in the model (QONNX Quant) fixes this type
            o = FixedType.parse(node.attrs["fixed_type"])
            quantized.add(out)
        elif out in calibration:
            lo_c, hi_c = calibration[out]
            narrowed_t = _calibrated_type(o, lo_c, hi_c, calib_margin)
            if narrowed_t is not None:
                o = narrowed_t
                calibrated[out] = {"lo": lo_c, "hi": hi_c, "margin": calib_margin}
        if a.width > MAX_WIDTH or o.width > MAX_WIDTH:
            raise TypeWidthError(_too_wide(g, node, a, o, types, blk.accumulates))
        acc[node.name], acc_frac[node.name], types[out] = a, f, o
        ilo, ihi = _narrower_interval(g, node, blk, types, qconst, intervals, lo, hi, f)
        intervals[out] = _interval(o, ilo, ihi, f, exact=o is a)
        if o is not a and not (out in overrides or out in quantized or out in calibrated or node.name in narrowed) \
                and blk.rounds(node) and f > default_type.frac:
            intervals[out] = _interval(o, _round_bound(ilo, f, default_type.frac, default_type.rounding),
                                       _round_bound(ihi, f, default_type.frac, default_type.rounding),
                                       default_type.frac, exact=True)
    prec = Precision(types, acc, acc_frac, qconst, errs, set(overrides), default_type, weight_frac, narrowed,
                     calibrated, quantized, weight_bits, rounded, intervals)
    prec.errs = error_bounds(g, prec, {t: mag(ty) for t, ty in types.items()})
    return prec


class _Bounded:
    """A type seen through its tensor's tighter value interval: raw_min/raw_max are the interval
    (a positive lower bound survives, e.g. Clip(n, min=1) before a square and a reciprocal), every
    other attribute is the smallest type holding it; blocks read operand bounds as raw_min/raw_max."""

    def __init__(self, ty: FixedType, lo: int, hi: int):
        self._ty, self.raw_min, self.raw_max = ty, lo, hi

    def __getattr__(self, name):
        return getattr(self._ty, name)


def _narrower_interval(g, node, blk, types, qconst, intervals, lo: int, hi: int, f: int) -> tuple:
    """The block's exact result interval (raw at f) from its inputs' intervals rather than their
    types: acc_range evaluated on the smallest types holding those intervals (interval arithmetic is
    monotone in its operands' ranges, so this stays a sound bound), cut to the type-based [lo, hi].
    Without any input narrower than its type, [lo, hi] itself (no extra work)."""
    narrow = {}
    for t in node.inputs:
        if t in intervals and t in types and not g.is_const(t):
            ilo, ihi, fi = intervals[t]
            if fi == types[t].frac and (ilo, ihi) != (types[t].raw_min, types[t].raw_max):
                narrow[t] = _Bounded(exact_type(min(ilo, 0), ihi, fi, signed=ilo < 0), ilo, ihi)
    if not narrow:
        return lo, hi
    ilo, ihi, fi = blk.acc_range(g, node, {**types, **narrow}, qconst)
    if fi != f:
        return lo, hi
    return max(lo, ilo), max(min(hi, ihi), max(lo, ilo))


def _interval(o: FixedType, lo: int, hi: int, f: int, exact: bool) -> tuple:
    """(lo_raw, hi_raw, frac) of a tensor of type o: the block's exact [lo, hi] at f fractional
    bits when o holds it unchanged (exact), else o's whole range (it may saturate or wrap)."""
    if exact and f == o.frac:
        return max(lo, o.raw_min), min(hi, o.raw_max), f
    return o.raw_min, o.raw_max, o.frac


def error_bounds(g, prec: Precision, mags: dict) -> dict:
    """Per-tensor bound on |fixed point - float model| given magnitude bounds `mags` (tensor ->
    max |value|): the types' ranges for an a-priori bound, or values seen on samples for the
    self-check's (much tighter) bound on those samples."""
    errs = {t: 0.0 for t in g.inputs}
    for c in g.consts:
        t = prec.types[c]
        errs[c] = float(np.max(np.abs(np.asarray(g.consts[c], dtype=np.float64).reshape(-1)
                                      - t.to_float(np.asarray(prec.qconst[c]).reshape(-1)))))
    for node in g.nodes:
        out = node.outputs[0]
        blk = block_for(node)
        errs[out] = blk.error(g, node, errs, mags, prec.types, prec.qconst) + \
            round_error(prec.types[out], prec.acc_frac[node.name])
        if node.name in prec.acc_narrowed:
            errs[out] += blk.n_terms(g, node) * round_error(prec.acc[node.name], prec.acc_frac[node.name])
    return errs
