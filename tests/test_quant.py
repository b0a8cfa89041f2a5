"""QONNX Quant nodes: the numpy semantics, their exact ap_fixed equivalent, the standard-op form
ONNX Runtime runs, and a quantisation-aware model compiled with its types fixed by its Quant nodes."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from equihls import project
from equihls.frontend import qonnx_quant as quant
from equihls.errors import ModelError
from equihls.ir.fixedpoint import FixedType
from equihls.verify.selfcheck import run_onnxruntime

DOMAIN = "qonnx.custom_op.general"
QUIET = dict(log=lambda *a: None)


def _quant_node(x, out, scale, bits, signed=1, narrow=0, mode="ROUND", name=None):
    return helper.make_node("Quant", [x, scale, "zp", bits], [out], domain=DOMAIN, name=name or out,
                            signed=signed, narrow=narrow, rounding_mode=mode)


def _scalar(name, v, dtype=np.float32):
    return numpy_helper.from_array(np.array(v, dtype=dtype), name)


@pytest.mark.parametrize("seed", range(6))
def test_pow2_quant_equals_ap_fixed_conversion(seed):
    rng = np.random.default_rng(seed)
    for _ in range(20):
        bits, frac = int(rng.integers(2, 14)), int(rng.integers(-2, 10))
        signed, mode = int(rng.integers(0, 2)), str(rng.choice(["ROUND", "ROUND_TO_ZERO", "FLOOR"]))
        narrow = int(rng.integers(0, 2)) if signed else 0
        t, why = quant.fixed_type(2.0 ** -frac, 0.0, bits, signed, narrow, mode)
        assert t is not None, why
        x = rng.normal(0, 2.0 ** (bits - frac - 1), size=500)
        x[:4] = [t.min - 1, t.max + 1, 2.0 ** -(frac + 1), -3 * 2.0 ** -(frac + 1)]   # clip and ties
        np.testing.assert_array_equal(quant.evaluate(x, 2.0 ** -frac, 0.0, bits, signed, narrow, mode), t.quantize(x))


def test_quant_without_ap_fixed_equivalent_is_refused():
    assert quant.fixed_type(0.3, 0, 8, 1, 0, "ROUND")[1] == "scale 0.3 is not a power of two"
    assert "zero point" in quant.fixed_type(0.25, 1.0, 8, 1, 0, "ROUND")[1]
    assert "per-channel" in quant.fixed_type(np.array([0.25, 0.5]), 0, 8, 1, 0, "ROUND")[1]
    assert "CEIL" in quant.fixed_type(0.25, 0, 8, 1, 0, "CEIL")[1]
    assert FixedType.parse("ap_fixed<8,4,AP_RND_CONV,AP_SAT_SYM>") == quant.fixed_type(1 / 16, 0, 8, 1, 1, "ROUND")[0]


def _qat_model(path, act_scale=2.0 ** -4, w_scale=2.0 ** -3):
    """x [N,3] -> Quant(8b) -> MatMul(Quant(W, 6b)) -> Relu -> Quant(unsigned 6b) -> sum -> y."""
    w = np.random.default_rng(0).normal(0, 0.6, size=(3, 2)).astype(np.float32)
    inits = [numpy_helper.from_array(w, "w_float"), _scalar("zp", 0.0), _scalar("s_in", act_scale),
             _scalar("s_w", w_scale), _scalar("s_out", 2.0 ** -2), _scalar("b8", 8.0), _scalar("b6", 6.0),
             numpy_helper.from_array(np.array([1], dtype=np.int64), "ax")]
    nodes = [_quant_node("x", "xq", "s_in", "b8", name="quant_in"),
             _quant_node("w_float", "wq", "s_w", "b6", narrow=1),
             helper.make_node("MatMul", ["xq", "wq"], ["m"]), helper.make_node("Relu", ["m"], ["r"]),
             _quant_node("r", "rq", "s_out", "b6", signed=0, mode="FLOOR", name="quant_relu"),
             helper.make_node("ReduceSum", ["rq", "ax"], ["y"], keepdims=0)]
    g = helper.make_graph(nodes, "qat", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 4, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 2])], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(DOMAIN, 1)])
    m.ir_version = 8
    onnx.save(m, path)
    return path, w


def test_standard_op_form_matches_quant_semantics(tmp_path):
    path, w = _qat_model(str(tmp_path / "q.onnx"))
    x = np.random.default_rng(1).normal(0, 6, size=(64, 4, 3))
    y = run_onnxruntime(quant.standard_ops(onnx.load(path)).SerializeToString(), {"x": x})[0]
    xq = quant.evaluate(x, 2.0 ** -4, 0, 8, 1, 0, "ROUND")
    wq = quant.evaluate(w, 2.0 ** -3, 0, 6, 1, 1, "ROUND")
    ref = quant.evaluate(np.maximum(xq @ wq, 0), 0.25, 0, 6, 0, 0, "FLOOR").sum(axis=1)
    np.testing.assert_allclose(y, ref, atol=1e-5)


@pytest.mark.gxx
def test_qat_model_types_come_from_its_quant_nodes(tmp_path):
    path, _ = _qat_model(str(tmp_path / "q.onnx"))
    x = np.random.default_rng(2).normal(0, 6, size=(256, 4, 3))   # beyond the 8-bit input quantiser
    np.savez(tmp_path / "s.npz", x=x)
    m = project.compile_model(path, output_dir=str(tmp_path / "p"), input_type="ap_fixed<16,8>",
                              samples=str(tmp_path / "s.npz"), **QUIET)
    t = {v["onnx_name"]: v for v in m["tensors"].values()}
    assert t["xq"]["type"] == "ap_fixed<8,4,AP_RND_CONV,AP_SAT>" and t["xq"]["quantizer"]
    assert t["rq"]["type"] == "ap_ufixed<6,4,AP_TRN,AP_SAT>" and t["rq"]["quantizer"]
    assert m["self_check"]["passed"]
    tr = m["overflow"]
    assert tr["n_overflow"] == 0 and tr["tensors"]["xq"]["clipped"] > 0     # clipping is the model's own
    # the weights were folded through their Quant: 6-bit narrow, 3 fractional bits
    p = project.Project(str(tmp_path / "p"))
    y = p.run(x[:16])[0]
    xq = quant.evaluate(FixedType.parse("ap_fixed<16,8>").quantize(x[:16]), 2.0 ** -4, 0, 8, 1, 0, "ROUND")
    w = quant.evaluate(np.asarray(numpy_helper.to_array(onnx.load(path).graph.initializer[0]), dtype=np.float64),
                       2.0 ** -3, 0, 6, 1, 1, "ROUND")
    ref = quant.evaluate(np.maximum(xq @ w, 0), 0.25, 0, 6, 0, 0, "FLOOR").sum(axis=1)
    np.testing.assert_array_equal(y, ref)     # every value is exactly representable: bit-exact


def test_unsupported_quant_names_the_node(tmp_path):
    path, _ = _qat_model(str(tmp_path / "q.onnx"), act_scale=0.3)
    with pytest.raises(ModelError, match="Quant 'quant_in': scale 0.3"):
        project.compile_model(path, output_dir=str(tmp_path / "p"), **QUIET)
