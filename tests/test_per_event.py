"""Batch handling by proof: inner tensors may merge the batch axis (reshape(-1, d)), and a model
that mixes events is refused naming the node (verify/independence.py)."""
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from equihls.errors import ModelError
from equihls.ir import Graph, Node
from equihls.project import compile_model
from equihls.verify import independence
from tests.conftest import ROOT, staging_leftovers

N, D = 5, 4
QUIET = dict(log=lambda *a, **k: None, n_samples=64)


def _c(name, v, dt=np.float32):
    return numpy_helper.from_array(np.asarray(v, dtype=dt), name)


def _model(nodes, inits, out_shape=("b", 3), name="m"):
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", N, D])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(out_shape))], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


W = np.random.default_rng(1).normal(size=(D, 3)).astype(np.float32)


def _merged():
    """x [B, N, D] -> Reshape [-1, D] -> MatMul W -> Relu -> Reshape [-1, N, 3] -> ReduceSum(axis 1)."""
    return _model([helper.make_node("Reshape", ["x", "flat"], ["f"], name="flatten"),
                   helper.make_node("MatMul", ["f", "w"], ["h"], name="dense"),
                   helper.make_node("Relu", ["h"], ["r"], name="relu"),
                   helper.make_node("Reshape", ["r", "back"], ["u"], name="unflatten"),
                   helper.make_node("ReduceSum", ["u", "ax1"], ["y"], name="pool", keepdims=0)],
                  [_c("flat", [-1, D], np.int64), _c("w", W), _c("back", [-1, N, 3], np.int64),
                   _c("ax1", [1], np.int64)])


def _batch_mean():
    """y = sum_n (x - mean over the batch) W: mixes events."""
    return _model([helper.make_node("ReduceMean", ["x"], ["m"], name="batch_mean", axes=[0], keepdims=1),
                   helper.make_node("Sub", ["x", "m"], ["c"], name="centre"),
                   helper.make_node("MatMul", ["c", "w"], ["h"], name="dense"),
                   helper.make_node("ReduceSum", ["h", "ax1"], ["y"], name="pool", keepdims=0)],
                  [_c("w", W), _c("ax1", [1], np.int64)])


def _batch_count():
    """y = sum_n x W / batch size (Shape -> Gather -> Cast): arithmetic on the batch size."""
    return _model([helper.make_node("Shape", ["x"], ["s"], name="shape"),
                   helper.make_node("Gather", ["s", "zero"], ["b"], name="batch_size", axis=0),
                   helper.make_node("Cast", ["b"], ["bf"], name="as_float", to=TensorProto.FLOAT),
                   helper.make_node("MatMul", ["x", "w"], ["h"], name="dense"),
                   helper.make_node("ReduceSum", ["h", "ax1"], ["p"], name="pool", keepdims=0),
                   helper.make_node("Div", ["p", "bf"], ["y"], name="per_batch")],
                  [_c("w", W), _c("ax1", [1], np.int64), _c("zero", 0, np.int64)])


def _transposed_batch():
    """The batch axis moved inward and back (Transpose, MatMul over D, Transpose): per event."""
    return _model([helper.make_node("Transpose", ["x"], ["t"], name="inward", perm=[1, 0, 2]),
                   helper.make_node("MatMul", ["t", "w"], ["h"], name="dense"),
                   helper.make_node("Transpose", ["h"], ["u"], name="outward", perm=[1, 0, 2]),
                   helper.make_node("ReduceSum", ["u", "ax1"], ["y"], name="pool", keepdims=0)],
                  [_c("w", W), _c("ax1", [1], np.int64)])


def _first_event():
    """Every event gets the first event's output: a Gather over the batch axis."""
    return _model([helper.make_node("MatMul", ["x", "w"], ["h"], name="dense"),
                   helper.make_node("ReduceSum", ["h", "ax1"], ["p"], name="pool", keepdims=0),
                   helper.make_node("Gather", ["p", "zero1"], ["y"], name="take_first", axis=0)],
                  [_c("w", W), _c("ax1", [1], np.int64), _c("zero1", [0], np.int64)], out_shape=(1, 3))


def _outputs(m):
    return [o.name for o in m.graph.output]


def _two():
    rng = np.random.default_rng(0)
    return {"x": rng.uniform(-4, 4, size=(2, N, D))}


@pytest.mark.parametrize("build", [_merged, _transposed_batch])
def test_per_event_models_pass_the_proof(build):
    m = build()
    rep = independence.prove_per_event(m.SerializeToString(), _outputs(m), _two())
    assert rep["events"] == 2 and rep["max_rel_diff"] <= independence.REL_TOL


@pytest.mark.parametrize("build, node", [(_batch_mean, "ReduceMean 'batch_mean'"),
                                         (_batch_count, "Cast 'as_float'"),
                                         (_first_event, "Gather 'take_first'")])
def test_mixing_models_are_refused_naming_the_node(build, node):
    with pytest.raises(ModelError) as e:
        m = build()
        independence.prove_per_event(m.SerializeToString(), _outputs(m), _two(), "m.onnx")
    msg = str(e.value)
    assert msg.startswith("m.onnx: the model does not compute each event on its own") and node in msg, msg


def test_the_proof_needs_two_different_events():
    """Two equal events would hide a batch mean: the second comes from the extra events."""
    x = {"x": np.ones((3, N, D))}
    two = independence.two_events(x, lambda: {"x": np.zeros((1, N, D))})
    assert two["x"].shape == (2, N, D) and not np.array_equal(two["x"][0], two["x"][1])


def test_the_extra_event_is_drawn_only_when_needed():
    x = {"x": np.arange(2 * N * D, dtype=float).reshape(2, N, D)}
    two = independence.two_events(x, lambda: pytest.fail("extra events drawn although x has two"))
    assert np.array_equal(two["x"], x["x"])


def test_ir_accepts_a_merged_batch_axis_inside_but_not_at_the_ports():
    g = Graph([Node("Relu", "r", ["x"], ["a"]), Node("Neg", "n", ["a"], ["y"])],
              {"x": (1, 4), "a": (4,), "y": (1, 4)}, {}, ["x"], ["y"])
    g.verify()


@pytest.mark.gxx
def test_merged_batch_model_compiles_and_passes_the_self_check(tmp_path):
    path = str(tmp_path / "merged.onnx")
    onnx.save(_merged(), path)
    man = compile_model(path, output_dir=str(tmp_path / "prj"), **QUIET)
    assert man["self_check"]["passed"] and man["per_event"]["max_rel_diff"] <= independence.REL_TOL
    dense = [n for n in man["nodes"] if n["name"] == "dense"]
    assert dense and dense[0]["op"] == "Dense"


def test_batch_mixing_model_is_refused_by_the_cli_with_exit_2_and_nothing_left(tmp_path):
    path = str(tmp_path / "mix.onnx")
    onnx.save(_batch_mean(), path)
    out = str(tmp_path / "prj")
    r = subprocess.run([sys.executable, "-m", "equihls", "compile", path, "--target", "vu9p", "-o", out],
                       capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
    assert r.returncode == 2, r.stderr
    assert "ReduceMean 'batch_mean'" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not os.path.exists(out) and staging_leftovers(out) == []
