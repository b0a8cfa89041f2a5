"""Routing-table ops with constant indices (GatherND, GatherElements, ScatterND, ScatterElements) are
lowered to Route / Concat2 by running the op on element indices: the lowered graph's numpy twin
matches ONNX Runtime exactly (pure data movement), and forms that are arithmetic (a scatter that
adds) are refused naming the node."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from equihls.blocks import twin
from equihls.errors import UnsupportedNodeError
from equihls.ir.fixedpoint import FixedType
from equihls.passes import pipeline
from equihls.precision.infer import infer

from tests.fidelity import onnxruntime_float

T = FixedType.parse("ap_fixed<16,6,AP_RND>")


def _model(path, node, runtime: dict, consts: dict, out_shape):
    graph = helper.make_graph(
        [node], "m", [helper.make_tensor_value_info(k, TensorProto.FLOAT, ["batch", *s[1:]])
                      for k, s in runtime.items()],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", *out_shape[1:]])],
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


RNG = np.random.default_rng(3)
I64 = np.int64
CASES = {
    "GatherND": (helper.make_node("GatherND", ["x", "idx"], ["y"], name="op", batch_dims=1),
                 {"x": (1, 3, 4)}, {"idx": np.array([[[2, 1], [0, 3], [2, 1]]], I64)}, (1, 3)),
    "GatherND slices": (helper.make_node("GatherND", ["x", "idx"], ["y"], name="op", batch_dims=1),
                        {"x": (1, 3, 4)}, {"idx": np.array([[[2], [0]]], I64)}, (1, 2, 4)),
    "GatherElements": (helper.make_node("GatherElements", ["x", "idx"], ["y"], name="op", axis=2),
                       {"x": (1, 3, 4)}, {"idx": RNG.integers(0, 4, size=(1, 3, 5)).astype(I64)}, (1, 3, 5)),
    "ScatterND": (helper.make_node("ScatterND", ["x", "idx", "u"], ["y"], name="op"),
                  {"x": (1, 3, 4), "u": (1, 2, 4)}, {"idx": np.array([[[0, 2], [0, 0]]], I64)}, (1, 3, 4)),
    "ScatterElements": (helper.make_node("ScatterElements", ["x", "idx", "u"], ["y"], name="op", axis=2),
                        {"x": (1, 3, 4), "u": (1, 3, 2)}, {"idx": np.array([[[3, 0], [1, 2], [0, 1]]], I64)},
                        (1, 3, 4)),
    # adds (repeated targets: 3 is hit twice in row 0), exact sums
    "ScatterElements add": (helper.make_node("ScatterElements", ["x", "idx", "u"], ["y"], name="op", axis=2,
                                             reduction="add"),
                            {"x": (1, 3, 4), "u": (1, 3, 2)}, {"idx": np.array([[[3, 3], [1, 2], [0, 1]]], I64)},
                            (1, 3, 4)),
    "ScatterND add": (helper.make_node("ScatterND", ["x", "idx", "u"], ["y"], name="op", reduction="add"),
                      {"x": (1, 3, 4), "u": (1, 3, 4)}, {"idx": np.array([[[0, 2], [0, 0], [0, 2]]], I64)},
                      (1, 3, 4)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_index_op_matches_onnxruntime_exactly(tmp_path, case):
    node, runtime, consts, out_shape = CASES[case]
    path = _model(tmp_path / "m.onnx", node, runtime, consts, out_shape)
    g, _ = pipeline.load(path)
    pipeline.run_ir(g, [])
    assert {n.op for n in g.nodes} <= {"Route", "Concat2", "ReduceSum"}
    prec = infer(g, {t: T for t in g.inputs}, T)
    rng = np.random.default_rng(0)
    xs = {k: rng.integers(-512, 512, size=(6, *s[1:])) / 64.0 for k, s in runtime.items()}
    # constant indices span the batch axis, so ONNX Runtime runs one event at a time
    ref = np.concatenate([onnxruntime_float(path, {k: v[e:e + 1] for k, v in xs.items()})["y"] for e in range(6)])
    got = twin.predict(g, prec, xs)
    np.testing.assert_array_equal(got["y"].reshape(ref.shape), ref)


def test_scatter_that_multiplies_is_refused_naming_node(tmp_path):
    node = helper.make_node("ScatterElements", ["x", "idx", "u"], ["y"], name="scaler", axis=2, reduction="mul")
    path = _model(tmp_path / "m.onnx", node, {"x": (1, 3, 4), "u": (1, 3, 2)},
                  {"idx": np.array([[[3, 3], [1, 2], [0, 1]]], I64)}, (1, 3, 4))
    with pytest.raises(UnsupportedNodeError) as e:
        pipeline.run_ir(pipeline.load(path)[0], [])
    assert "scaler" in str(e.value) and "ScatterElements" in str(e.value)


@pytest.mark.parametrize("to", [TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.FLOAT])
def test_cast_between_float_types_is_an_identity(tmp_path, to):
    nodes = [helper.make_node("Cast", ["x"], ["c"], name="c1", to=to),
             helper.make_node("Cast", ["c"], ["d"], name="c2", to=TensorProto.FLOAT),
             helper.make_node("Relu", ["d"], ["y"], name="r")]
    graph = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "m.onnx"))
    g, _ = pipeline.load(str(tmp_path / "m.onnx"))
    pipeline.run_ir(g, [])
    assert [n.op for n in g.nodes] == ["Unary"]   # the casts' routes are elided


@pytest.mark.gxx
def test_gather_and_scatter_add_compile_and_csim_follow_onnxruntime(tmp_path):
    """End to end, with the indices on axes after the batch (batch moved last, as exporters do):
    y = Transpose(ScatterND_add(xt, [[0],[2],[0]], zt)), g = GatherND(xt, [[2,1],[0,3]]).
    Compile (self-check passes); C-sim equals the twin bit for bit and ONNX Runtime exactly."""
    from equihls import project
    from tests.fidelity import capture_precision, check_project, raw_inputs

    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 2, 0]),
             helper.make_node("Transpose", ["z"], ["zt"], perm=[1, 2, 0]),
             helper.make_node("ScatterND", ["xt", "i1", "zt"], ["s"], name="scatter", reduction="add"),
             helper.make_node("Transpose", ["s"], ["y"], perm=[2, 0, 1]),
             helper.make_node("GatherND", ["xt", "i2"], ["gt"], name="gather"),
             helper.make_node("Transpose", ["gt"], ["g"], perm=[1, 0])]
    graph = helper.make_graph(
        nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 4]),
                     helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 3, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3, 4]),
         helper.make_tensor_value_info("g", TensorProto.FLOAT, ["batch", 2])],
        initializer=[numpy_helper.from_array(np.array([[0], [2], [0]], I64), "i1"),
                     numpy_helper.from_array(np.array([[2, 1], [0, 3]], I64), "i2")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = str(tmp_path / "m.onnx")
    onnx.save(model, path)
    xs = raw_inputs({"x": (T, (3, 4)), "z": (T, (3, 4))}, 32, seed=4)
    xs = {k: T.to_float(T.from_float(v.reshape(len(v), -1))[0]).reshape(v.shape) for k, v in xs.items()}  # on grid
    np.savez(tmp_path / "s.npz", **xs)
    out = str(tmp_path / "p")
    with capture_precision() as seen:
        m = project.compile_model(path, output_dir=out, input_type=T.cpp(), samples=str(tmp_path / "s.npz"),
                                  log=lambda *a: None)
    g, prec = seen[-1]
    assert "ReduceSum" in {n["op"] for n in m["nodes"]}
    for name, rep in check_project(out, path, g, prec, xs).items():
        assert rep["twin_mismatches"] == 0, name
        assert rep["fidelity"]["max_abs_err"] == 0.0, (name, rep["fidelity"])   # data movement and sums: exact
