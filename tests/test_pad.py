"""`Pad` with constant pads is data movement (lgatr's embed_vector pads a four-vector into the 16
multivector components): lowered by decompose to Concat with the pad value + Gather, then Route /
Concat2. The lowered graph's numpy twin matches ONNX Runtime exactly, for the default value 0, a
non-zero value, the edge and reflect modes and the opset-18 axes input; pads on the batch
axis are refused naming the node."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from equihls.blocks import twin
from equihls.errors import EquihlsError
from equihls.ir.fixedpoint import FixedType
from equihls.passes import pipeline
from equihls.precision.infer import infer

from tests.fidelity import onnxruntime_float

T = FixedType.parse("ap_fixed<16,6,AP_RND>")
I64 = np.int64


def _model(path, inputs, consts, attrs, x_shape, y_shape, opset=18):
    node = helper.make_node("Pad", inputs, ["y"], name="pad", **attrs)
    graph = helper.make_graph(
        [node], "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", *x_shape])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", *y_shape])],
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


CASES = {   # inputs, constants, attributes, x shape, y shape
    "zeros (value absent)": (["x", "p"], {"p": np.array([0, 0, 1, 0, 0, 11], I64)}, {}, (3, 4), (3, 16)),
    "value": (["x", "p", "v"], {"p": np.array([0, 1, 2, 0, 0, 1], I64), "v": np.array(1.5, np.float32)}, {},
              (3, 4), (3, 7)),
    "edge": (["x", "p"], {"p": np.array([0, 0, 2, 0, 0, 1], I64)}, {"mode": "edge"}, (3, 4), (3, 7)),
    "reflect": (["x", "p"], {"p": np.array([0, 1, 1, 0, 1, 1], I64)}, {"mode": "reflect"}, (3, 4), (5, 6)),
    "axes": (["x", "p", "", "a"], {"p": np.array([1, 2], I64), "a": np.array([-1], I64)}, {}, (3, 4), (3, 7)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_pad_matches_onnxruntime_exactly(tmp_path, case):
    inputs, consts, attrs, xs_, ys_ = CASES[case]
    path = _model(tmp_path / "m.onnx", inputs, consts, attrs, xs_, ys_)
    g, _ = pipeline.load(path)
    pipeline.run_ir(g, [])
    assert {n.op for n in g.nodes} <= {"Route", "Concat2"}
    prec = infer(g, {t: T for t in g.inputs}, T)
    x = np.random.default_rng(0).integers(-512, 512, size=(6, *xs_)) / 64.0
    ref = onnxruntime_float(path, {"x": x})["y"]
    got = twin.predict(g, prec, {"x": x})
    np.testing.assert_array_equal(got["y"].reshape(ref.shape), ref)


def test_pad_on_the_batch_axis_is_refused_naming_the_node(tmp_path):
    path = _model(tmp_path / "m.onnx", ["x", "p"], {"p": np.array([1, 0, 0, 0, 0, 0], I64)}, {}, (3, 4), (3, 4))
    with pytest.raises(EquihlsError, match="Pad 'pad'"):
        pipeline.run_ir(pipeline.load(path)[0], [])
