"""QONNX `Quant` nodes (what Brevitas' QONNX export writes for quantisation-aware models).

Quant(x, scale, zero_point, bit_width; signed, narrow, rounding_mode) computes
    q = clip(round(x / scale + zero_point), q_min, q_max),   y = (q - zero_point) * scale
with q_min = -2^(b-1) (+1 if narrow) and q_max = 2^(b-1) - 1 when signed, else 0 and 2^b - 1
(-1 if narrow). With a scalar power-of-two scale 2^-f and zero point 0 this is exactly the
conversion to ap_fixed<b, b-f> (ap_ufixed when unsigned) with AP_SAT (AP_SAT_SYM when signed and
narrow) and the rounding mode below, so equihls gives the tensor that type. Quant on constants
(weights) is folded to its values; on run-time tensors it becomes a cast block whose output type
is fixed by the model.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..ir.fixedpoint import FixedType, is_pow2

QONNX_DOMAINS = ("qonnx.custom_op.general", "finn.custom_op.general", "onnx.brevitas")
ROUNDING = {"ROUND": "AP_RND_CONV", "ROUND_TO_ZERO": "AP_TRN_ZERO", "FLOOR": "AP_TRN"}


def is_quant(op_type: str, domain: str) -> bool:
    """True for a QONNX Quant node."""
    return op_type == "Quant" and domain in QONNX_DOMAINS


def attributes(node: onnx.NodeProto) -> dict:
    """A Quant node's attributes with QONNX's defaults: {signed, narrow, rounding_mode}."""
    a = {x.name: helper.get_attribute_value(x) for x in node.attribute}
    mode = a.get("rounding_mode", b"ROUND")
    return {"signed": int(a.get("signed", 1)), "narrow": int(a.get("narrow", 0)),
            "rounding_mode": mode.decode() if isinstance(mode, bytes) else mode}


def _limits(bits: int, signed: bool, narrow: bool) -> tuple[int, int]:
    if signed:
        return -(1 << (bits - 1)) + (1 if narrow else 0), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1 - (1 if narrow else 0)


def _round(v: np.ndarray, mode: str) -> np.ndarray:
    if mode == "ROUND":
        return np.round(v)      # half to even, as QONNX and ONNX Round
    if mode == "ROUND_TO_ZERO":
        return np.trunc(v)
    if mode == "FLOOR":
        return np.floor(v)
    if mode == "CEIL":
        return np.ceil(v)
    raise ValueError(f"unknown Quant rounding_mode '{mode}'")


def evaluate(x, scale, zero_point, bits, signed: int = 1, narrow: int = 0, rounding_mode: str = "ROUND"):
    """Quant on numpy arrays (float64; broadcasting as ONNX)."""
    bits = int(np.asarray(bits).reshape(-1)[0])
    lo, hi = _limits(bits, bool(signed), bool(narrow))
    x, s, z = (np.asarray(a, dtype=np.float64) for a in (x, scale, zero_point))
    q = np.clip(_round(x / s + z, rounding_mode), lo, hi)
    return (q - z) * s


def fixed_type(scale, zero_point, bits, signed: int, narrow: int, rounding_mode: str) -> tuple[FixedType | None, str]:
    """(the ap_fixed type equal to this Quant, "") or (None, why not)."""
    s = np.asarray(scale, dtype=np.float64).reshape(-1)
    if np.asarray(zero_point).any():
        return None, "non-zero zero point (only symmetric quantisers map to ap_fixed)"
    if s.size != 1 and not np.all(s == s[0]):
        return None, f"per-channel scales {s[:4].tolist()}... (equihls needs one scale per tensor)"
    if not (s[0] > 0 and is_pow2(s[0])):
        return None, f"scale {float(s[0])!r} is not a power of two"
    if rounding_mode not in ROUNDING:
        return None, f"rounding_mode {rounding_mode} has no ap_fixed equivalent"
    b = int(np.asarray(bits).reshape(-1)[0])
    frac = 1 - int(np.frexp(s[0])[1])       # scale = 2^(e-1) = 2^-frac
    overflow = "AP_SAT_SYM" if signed and narrow else "AP_SAT"
    if not signed and narrow:
        return None, "unsigned narrow range has no ap_fixed overflow mode"
    return FixedType(b, b - frac, bool(signed), ROUNDING[rounding_mode], overflow), ""


def standard_ops(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `model` in which every Quant node is written with standard ONNX ops
    (Div, Add, rounding, Clip, Sub, Mul), so that ONNX Runtime can run it as the float reference."""
    if not any(is_quant(n.op_type, n.domain) for n in model.graph.node):
        return model
    m = onnx.ModelProto()
    m.CopyFrom(model)
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    nodes, extra = [], []
    for k, n in enumerate(m.graph.node):
        if not is_quant(n.op_type, n.domain):
            nodes.append(n)
            continue
        a = attributes(n)
        mode = a["rounding_mode"]
        if n.input[3] not in inits:
            raise ValueError(f"Quant '{n.name}': bit width is not a constant")
        lo, hi = _limits(int(inits[n.input[3]].reshape(-1)[0]), bool(a["signed"]), bool(a["narrow"]))
        p = f"_q{k}_"
        extra += [numpy_helper.from_array(np.array(lo, dtype=np.float32), p + "lo"),
                  numpy_helper.from_array(np.array(hi, dtype=np.float32), p + "hi")]
        x, s, z = n.input[:3]
        rnd = {"ROUND": ["Round"], "FLOOR": ["Floor"], "CEIL": ["Ceil"]}.get(mode)
        nodes += [helper.make_node("Div", [x, s], [p + "d"]), helper.make_node("Add", [p + "d", z], [p + "a"])]
        if rnd:
            nodes.append(helper.make_node(rnd[0], [p + "a"], [p + "r"]))
        else:   # toward zero: sign(v) * floor(|v|)
            nodes += [helper.make_node("Abs", [p + "a"], [p + "abs"]),
                      helper.make_node("Floor", [p + "abs"], [p + "f"]),
                      helper.make_node("Sign", [p + "a"], [p + "sg"]),
                      helper.make_node("Mul", [p + "sg", p + "f"], [p + "r"])]
        nodes += [helper.make_node("Clip", [p + "r", p + "lo", p + "hi"], [p + "c"]),
                  helper.make_node("Sub", [p + "c", z], [p + "z"]),
                  helper.make_node("Mul", [p + "z", s], [n.output[0]])]
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    m.graph.initializer.extend(extra)
    keep = [o for o in m.opset_import if o.domain not in QONNX_DOMAINS]
    del m.opset_import[:]
    m.opset_import.extend(keep)
    return m
