"""An If whose condition folds to a constant (shape arithmetic, as TorchScript writes around
torch.diagonal / torch.eye) is inlined: the branch taken is compiled, the other dropped, the
outer tensors a branch reads stay wired, and the firmware matches ONNX Runtime. An If on a
run-time condition stays refused (tests/test_bad_inputs.py)."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from equihls import api
from equihls.frontend import onnx_import as frontend

VI = helper.make_tensor_value_info
F = TensorProto.FLOAT


def _if_on_shape(path, n_axis: int, want: int, nested: bool = False):
    """y = MatMul(If(shape(x)[1] == want, then: relu(x)*2, else: -x), W): the branches read the
    outer x and a branch-local initializer; `nested`: the then branch holds a second If."""
    two = numpy_helper.from_array(np.array(2.0, np.float32), "two")
    then_nodes = [helper.make_node("Relu", ["x"], ["t0"], name="relu"),
                  helper.make_node("Mul", ["t0", "two"], ["t"], name="double")]
    if nested:
        inner_then = helper.make_graph([helper.make_node("Abs", ["t"], ["u"], name="abs")], "it", [],
                                       [VI("u", F, None)])
        inner_else = helper.make_graph([helper.make_node("Neg", ["t"], ["v"], name="neg2")], "ie", [],
                                       [VI("v", F, None)])
        then_nodes.append(helper.make_node("If", ["cond"], ["t2"], then_branch=inner_then, else_branch=inner_else,
                                           name="inner_if"))
    then = helper.make_graph(then_nodes, "then", [], [VI("t2" if nested else "t", F, None)], initializer=[two])
    other = helper.make_graph([helper.make_node("Neg", ["x"], ["e"], name="neg")], "else", [], [VI("e", F, None)])
    nodes = [helper.make_node("Shape", ["x"], ["s"], name="shape"),
             helper.make_node("Gather", ["s", "one"], ["n"], name="axis1", axis=0),
             helper.make_node("Equal", ["n", "want"], ["cond"], name="is_n"),
             helper.make_node("If", ["cond"], ["z"], then_branch=then, else_branch=other, name="by_shape"),
             helper.make_node("MatMul", ["z", "W"], ["y"], name="mm")]
    w = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    inits = [numpy_helper.from_array(np.array(1, np.int64), "one"),
             numpy_helper.from_array(np.array(want, np.int64), "want"), numpy_helper.from_array(w, "W")]
    g = helper.make_graph(nodes, "if_on_shape", [VI("x", F, ["batch", n_axis, 4])], [VI("y", F, ["batch", n_axis, 3])],
                          initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return str(path)


@pytest.mark.parametrize("want, nested, ops", [(5, False, {"Relu", "Mul"}), (6, False, {"Neg"}),
                                               (5, True, {"Relu", "Mul", "Abs"})],
                         ids=["then", "else", "nested"])
def test_if_on_a_constant_condition_is_inlined(tmp_path, want, nested, ops):
    """The branch the condition picks is what the IR computes; no If, no branch of the other side."""
    g, _ = frontend.load(_if_on_shape(tmp_path / "m.onnx", 5, want, nested))
    assert "inline_constant_ifs" in g.pass_log
    assert {n.op for n in g.nodes} - {"MatMul"} == ops
    names = " ".join(n.name for n in g.nodes)
    assert ("by_shape/then/relu" in names) == (want == 5) and ("by_shape/else/neg" in names) == (want != 5)
    if nested:
        assert "by_shape/then/inner_if/then/abs" in names      # the inner If is inlined in the next round


@pytest.mark.gxx
@pytest.mark.parametrize("want, nested", [(5, False), (6, False), (5, True)], ids=["then", "else", "nested"])
def test_inlined_if_matches_onnx_runtime(tmp_path, want, nested):
    """The compiled firmware computes the model ONNX Runtime runs (the If left in), on raw inputs."""
    ort = pytest.importorskip("onnxruntime")
    path = _if_on_shape(tmp_path / "m.onnx", 5, want, nested)
    x = np.random.default_rng(1).integers(-48, 49, size=(32, 5, 4)) / 16.0
    p = api.compile(path, output_dir=str(tmp_path / "prj"), input_type="ap_fixed<12,4,AP_RND_CONV,AP_SAT>")
    y = np.asarray(p.predict(x)).reshape(32, 5, 3)
    s = ort.InferenceSession(path)
    ref = s.run(None, {"x": x.astype(np.float32)})[0]
    assert np.abs(ref).max() > 0.5
    assert np.abs(y - ref).max() <= 4 * p.output_type(0).lsb
