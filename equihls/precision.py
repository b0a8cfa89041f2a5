"""Precision pass: an exact ap_fixed type for every tensor, by interval / bit-growth analysis.

Rules:
- Inputs get the user's input type. Constants get the fewest fractional bits (<= weight_frac)
  that represent them exactly, else weight_frac bits rounded to nearest; their integer bits come
  from their values. Constants that are all powers of two (scales) are always exact.
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

from .blocks import block_for
from .blocks.base import mag, round_error
from .errors import TypeWidthError
from .fixedpoint import FixedType, exact_type

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
    weight_frac: int
    acc_narrowed: dict = dataclasses.field(default_factory=dict)
    calibrated: dict = dataclasses.field(default_factory=dict)  # tensor -> {lo, hi, margin}
    quantized: set = dataclasses.field(default_factory=set)     # tensors typed by a QONNX Quant


def quantize_const(c: np.ndarray, weight_frac: int) -> tuple[FixedType, np.ndarray, float]:
    """(type, raw ints flat, max quantisation error) of a constant array."""
    c = np.asarray(c, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(c)):
        raise ValueError("constant contains NaN or Inf")
    nz = np.abs(c[c != 0])
    mant, expo = np.frexp(nz)
    # powers of two (scales such as 2^-10) stay exact whatever weight_frac is: rounding one to
    # 0 would silently cut a feature
    pow2_frac = int(max(0, (1 - expo).max())) if nz.size and np.all(mant == 0.5) else None
    for f in range(0, max(weight_frac, pow2_frac or 0) + 1):
        s = c * 2.0 ** f
        if np.all(s == np.round(s)) and np.all(np.abs(s) < 2**53):
            raw = np.array([int(v) for v in s], dtype=object)
            break
    else:
        f = weight_frac
        raw = np.array([int(np.round(v)) for v in c * 2.0 ** f], dtype=object)
    lo, hi = (int(raw.min()), int(raw.max())) if raw.size else (0, 0)
    t = exact_type(min(lo, 0), max(hi, 0), f)
    err = float(np.max(np.abs(c - raw.astype(np.float64) * 2.0 ** -f))) if raw.size else 0.0
    raw = raw.astype(np.int64) if t.width <= 62 else raw
    return t, raw, err


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
            raise ValueError(f"accumulator override '{key}': no such node or tensor (nodes with accumulators: "
                             f"{', '.join(able) or 'none'})")
        if not block_for(node).accumulates:
            raise ValueError(f"accumulator override '{key}': {node.op} '{node.name}' has no accumulator to set")
        out[node.name] = t
    return out


def calibration_ranges(g, prec: Precision, x_q: dict) -> dict:
    """Value range of every computed tensor on calibration events.

    x_q: input name -> float64 events [batch, ...] already in the input type. The events run
    through the numpy twin of `prec` (bit-exact). Returns tensor -> (min, max) in value units."""
    from . import twin

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


def infer(g, input_types: dict, default_type: FixedType, weight_frac: int = 12,
          overrides: dict | None = None, acc_overrides: dict | None = None,
          calibration: dict | None = None, calib_margin: float = DEFAULT_CALIB_MARGIN) -> Precision:
    """Run the precision pass over an all-equihls graph (see module doc).

    overrides: tensor -> FixedType replacing the inferred type; acc_overrides: node name or output
    tensor -> accumulator FixedType (blocks with `accumulates`, e.g. ScalarProducts);
    calibration: tensor -> (min, max) seen on calibration events (calibration_ranges), widened
    by the factor calib_margin (>= 1) before narrowing integer bits."""
    if calibration and not calib_margin >= 1.0:
        raise ValueError(f"calibration margin must be >= 1, got {calib_margin}")
    calibration = calibration or {}
    calibrated, quantized = {}, set()
    overrides = dict(overrides or {})
    produced = {n.outputs[0] for n in g.nodes}
    for t in overrides:
        if t not in produced:
            raise ValueError(f"type override '{t}': no such tensor computed by the model (tensors: "
                             f"{', '.join(sorted(produced)[:20])}{' ...' if len(produced) > 20 else ''})")
    narrowed = _resolve_acc_overrides(g, acc_overrides or {})
    types, acc, acc_frac, qconst, errs = {}, {}, {}, {}, {}
    for t in g.inputs:
        types[t] = input_types[t]
        errs[t] = 0.0
    for name, c in g.consts.items():
        types[name], qconst[name], _ = quantize_const(c, weight_frac)
    for node in g.nodes:
        blk = block_for(node)
        if node.op == "LUT":
            node.attrs.setdefault("frac", default_type.frac)
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
            raise TypeWidthError(f"{node.op} '{node.name}': exact type needs {max(a.width, o.width)} bits "
                                 f"(> {MAX_WIDTH}); narrow the input type or override this tensor's type")
        acc[node.name], acc_frac[node.name], types[out] = a, f, o
    prec = Precision(types, acc, acc_frac, qconst, errs, set(overrides), default_type, weight_frac, narrowed,
                     calibrated, quantized)
    prec.errs = error_bounds(g, prec, {t: mag(ty) for t, ty in types.items()})
    return prec


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
