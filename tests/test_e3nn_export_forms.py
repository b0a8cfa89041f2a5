"""Graph forms that e3nn models exported with torch.onnx produce (tests/peer/test_e3nn.py), each
lowered on a tiny hand-written ONNX graph and compared with ONNX Runtime:

* Split with `num_outputs` (opset 18+, the dynamo exporter's aten.cross) is evaluated at the
  model's opset when lowered to Routes (it was evaluated at opset 17, which has no num_outputs);
* ScatterND writing runtime values into a constant base (e3nn's Extract: `new_zeros` then
  `narrow().copy_()`) is data movement, lowered to Concat2 with the constant;
* Einsum("zui,zvi->zuv") on a tensor whose first axis merged the batch (e3nn's reshape(-1, mul, 3))
  is not a per-event Gram matrix: it is left to the Einsum lowering, not made a ScalarProducts;
* a grid LUT (sqrt) on an input type wider than 63 bits builds its table (no int64 overflow).
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from equihls.blocks import lut, twin
from equihls.ir.fixedpoint import FixedType
from equihls.passes import pipeline
from equihls.precision.infer import infer

from tests.fidelity import onnxruntime_float

T = FixedType.parse("ap_fixed<16,6,AP_RND>")


def _model(path, nodes, x_shape, y_shape, inits=None, opset=17):
    graph = helper.make_graph(
        nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", *x_shape])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", *y_shape])],
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8 if opset <= 17 else 10
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


def _lower_and_compare(path, x_shape, per_event=False):
    """Lower to equihls blocks, run the numpy twin on grid inputs; returns the lowered graph.
    per_event: run ONNX Runtime one event at a time (constant tables sized for batch 1)."""
    g, _ = pipeline.load(path)
    pipeline.run_ir(g, [])
    assert all(n.is_equihls for n in g.nodes), [n.op for n in g.nodes]
    prec = infer(g, {t: T for t in g.inputs}, T)
    xs = {"x": np.random.default_rng(0).integers(-256, 256, size=(5, *x_shape)) / 64.0}
    if per_event:
        ref = np.concatenate([onnxruntime_float(path, {"x": xs["x"][e:e + 1]})["y"] for e in range(5)])
    else:
        ref = onnxruntime_float(path, xs)["y"]
    got = twin.predict(g, prec, xs)["y"]
    np.testing.assert_allclose(got.reshape(ref.shape), ref, atol=prec.errs["y"] + 1e-6)
    return g


def test_split_num_outputs_opset18_lowers_to_routes(tmp_path):
    nodes = [helper.make_node("Split", ["x"], ["a", "b", "c"], name="sp", axis=2, num_outputs=3),
             helper.make_node("Sub", ["a", "c"], ["d"], name="sub"),
             helper.make_node("Mul", ["d", "b"], ["y"], name="mul")]
    path = _model(tmp_path / "m.onnx", nodes, (4, 3), (4, 1), opset=18)
    g = _lower_and_compare(path, (4, 3))
    assert "Split" not in {n.op for n in g.nodes}


def test_scatternd_into_a_constant_base_is_data_movement(tmp_path):
    # out = zeros(3, 4); out[:, 1:3] = x  (one event: ScatterND indices over the batch of 1)
    idx = np.array([[[0, 0, k] for k in (1, 2)] + [[0, 1, k] for k in (1, 2)] + [[0, 2, k] for k in (1, 2)]],
                   np.int64).reshape(1, 3, 2, 3)
    nodes = [helper.make_node("ScatterND", ["base", "idx", "x"], ["y"], name="scatter")]
    path = _model(tmp_path / "m.onnx", nodes, (3, 2), (3, 4),
                  inits={"base": np.zeros((1, 3, 4), np.float32), "idx": idx})
    g = _lower_and_compare(path, (3, 2), per_event=True)
    assert {n.op for n in g.nodes} <= {"Route", "Concat2"}


def test_gram_einsum_on_a_merged_batch_axis_is_not_scalar_products(tmp_path):
    # x [B, 4, 6] -> reshape(-1, 2, 3): 2 vectors per particle; per particle their 2x2 dot products
    nodes = [helper.make_node("Reshape", ["x", "s1"], ["v"], name="r1"),
             helper.make_node("Einsum", ["v", "v"], ["e"], name="gram", equation="zui,zvi->zuv"),
             helper.make_node("Reshape", ["e", "s2"], ["y"], name="r2")]
    path = _model(tmp_path / "m.onnx", nodes, (4, 6), (4, 4),
                  inits={"s1": np.array([-1, 2, 3], np.int64), "s2": np.array([-1, 4, 4], np.int64)})
    g = _lower_and_compare(path, (4, 6))
    assert "ScalarProducts" not in {n.op for n in g.nodes}


def test_grid_table_on_a_type_wider_than_int64():
    wide = FixedType(90, 40)
    tab = lut.build_grid_table("sqrt", (), wide, (0, wide.raw_max), 8)
    assert len(tab["raw"]) <= lut.MAX_GRID_ENTRIES and tab["cells"][-1][1] == wide.raw_max
    assert abs(tab["raw"][-1] * 2.0 ** -8 - np.sqrt(wide.raw_max * 2.0 ** -wide.frac)) < 1e-3 * 2.0 ** 20
