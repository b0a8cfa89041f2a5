"""Regression tests of two lowering bugs found trying models written outside the project (issue 12):
a [N, 1] bias after x @ W was fused into the Dense as a bias of the last axis, and a model listing
its outputs [y, h] got them swapped (hls4ml ordered the ports by the node writing them). Each
model is compiled and its C-sim measured on raw inputs against ONNX Runtime (tests/fidelity.py),
independently of the compiler's self-check."""
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from equihls.frontend import onnx_import as frontend
from equihls import passes, project
from equihls.ir.fixedpoint import FixedType

from tests.fidelity import capture_precision, check_project, onnxruntime_float, raw_inputs, twin_outputs

IN_T = "ap_fixed<16,6,AP_RND>"
N, K, H = 3, 4, 3



def _const_array(v):
    """An initializer's value: float32 for floating values, integer types kept."""
    return np.asarray(v, dtype=np.float32 if np.asarray(v).dtype.kind == "f" else None)

def _save(path, nodes, inits, x_shape, outs):
    """Write a tiny opset-17 model with input x [batch, *x_shape] and outputs [(name, shape)]."""
    graph = helper.make_graph(
        nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", *x_shape])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, ["batch", *s]) for o, s in outs],
        initializer=[numpy_helper.from_array(_const_array(v), k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def _compile(tmp_path, path, x_shape):
    """Compile on 64 raw (off-grid) samples; returns (manifest, project dir, graph, precision, xs)."""
    xs = raw_inputs({"x": (FixedType.parse(IN_T), x_shape)}, 64, seed=3)
    np.savez(tmp_path / "s.npz", x=xs["x"])
    out = str(tmp_path / "p")
    with capture_precision() as seen:
        m = project.compile_model(path, output_dir=out, input_type=IN_T, samples=str(tmp_path / "s.npz"),
                                  log=lambda *a: None)
    g, prec = seen[-1]
    return m, out, g, prec, xs


def _bias_model(path, b):
    rng = np.random.default_rng(1)
    return _save(path, [helper.make_node("MatMul", ["x", "W"], ["m"]), helper.make_node("Add", ["m", "b"], ["y"])],
                 {"W": rng.normal(size=(K, H)), "b": b}, [N, K], [("y", [N, H])])


@pytest.mark.parametrize("shape, fused", [((H,), True), ((1, H), True), ((1, 1, H), True), ((), True),
                                          ((N, 1), False), ((N, H), False), ((1, N, 1), False)])
def test_only_last_axis_biases_fuse_into_dense(tmp_path, shape, fused):
    """Lowering only (no g++): a bias that varies along the last axis alone becomes the Dense bias;
    one that varies along another axis ([N,1], [N,H]) stays a separate Add."""
    b = np.arange(1, int(np.prod(shape, dtype=int)) + 1, dtype=np.float64).reshape(shape)
    g, _ = frontend.load(_bias_model(str(tmp_path / "m.onnx"), b))
    passes.run_all(g)
    ops = [(n.op, n.attrs.get("op")) for n in g.nodes]
    assert ops == ([("Dense", None)] if fused else [("Dense", None), ("Eltwise", "add")]), ops
    dense = g.nodes[0]
    bias = g.consts[dense.inputs[2]]
    np.testing.assert_array_equal(bias, np.broadcast_to(b.reshape(-1), (H,)) if fused else np.zeros(H))


@pytest.mark.gxx
def test_row_bias_after_matmul_matches_onnxruntime(tmp_path):
    """x [B,3,4] @ W + b with b [3,1] (one value per row): C-sim follows ONNX Runtime on raw inputs
    (the fused version was off by b_i - b_j on every element) and equals the twin bit for bit."""
    path = _bias_model(str(tmp_path / "m.onnx"), np.array([[1.5], [-2.25], [3.0]]))
    m, out, g, prec, xs = _compile(tmp_path, path, (N, K))
    assert [n["op"] for n in m["nodes"]] == ["Dense", "Eltwise"]
    rep = check_project(out, path, g, prec, xs)["y"]
    assert rep["twin_mismatches"] == 0
    assert rep["fidelity"]["passed"], rep["fidelity"]
    # tighter than the criterion: the only errors are the input port's and one rounding per element
    assert rep["fidelity"]["max_abs_err"] < 0.05, rep["fidelity"]


@pytest.mark.gxx
def test_outputs_follow_the_onnx_output_order(tmp_path):
    """Outputs listed [y, h] with h = Relu(x) written first and y = h @ W (same shapes, so a swap
    would not even change a shape): manifest, C-sim ports, tb_data and ONNX Runtime agree on the
    order [y, h]."""
    rng = np.random.default_rng(2)
    path = _save(str(tmp_path / "m.onnx"),
                 [helper.make_node("Relu", ["x"], ["h"]), helper.make_node("MatMul", ["h", "W"], ["y"])],
                 {"W": rng.normal(size=(K, K))}, [N, K], [("y", [N, K]), ("h", [N, K])])
    m, out, g, prec, xs = _compile(tmp_path, path, (N, K))
    assert [o["onnx_name"] for o in m["outputs"]] == ["y", "h"]
    assert list(onnxruntime_float(path, xs)) == ["y", "h"]
    rep = check_project(out, path, g, prec, xs)
    for o in ("y", "h"):
        assert rep[o]["twin_mismatches"] == 0, o
        assert rep[o]["fidelity"]["passed"], (o, rep[o]["fidelity"])
    np.testing.assert_array_equal(rep["h"]["csim"], FixedType.parse(IN_T).quantize(np.maximum(xs["x"], 0)))
    # the testbench's expected outputs: one row per sample event, y then h, flattened
    tb = np.loadtxt(os.path.join(out, "tb_data", "tb_output_predictions.dat"))
    x_q = FixedType.parse(IN_T).quantize(xs["x"])
    tw = twin_outputs(g, prec, {"x": x_q})
    np.testing.assert_allclose(tb[0], np.concatenate([tw["y"][0].ravel(), tw["h"][0].ravel()]), rtol=0, atol=1e-9)
    assert tb.shape == (64, 2 * N * K)


@pytest.mark.gxx
def test_reshape_into_a_gram_matrix_is_kept(tmp_path):
    """Found by tests/test_fuzz.py: Reshape [B,2] -> [B,1,2] in front of the Gram Einsum is an
    identity route in flat memory; eliding it handed ScalarProducts a rank-2 input and emit()
    crashed (ValueError: not enough values to unpack). The route stays; C-sim follows ONNX Runtime."""
    path = _save(str(tmp_path / "m.onnx"),
                 [helper.make_node("Reshape", ["x", "s"], ["r"]),
                  helper.make_node("Einsum", ["r", "r"], ["y"], equation="bid,bjd->bij")],
                 {"s": np.array([-1, 1, 2], dtype=np.int64)}, [2], [("y", [1, 1])])
    m, out, g, prec, xs = _compile(tmp_path, path, (2,))
    assert [n["op"] for n in m["nodes"]] == ["Route", "ScalarProducts"]
    rep = check_project(out, path, g, prec, xs)["y"]
    assert rep["twin_mismatches"] == 0
    assert rep["fidelity"]["passed"], rep["fidelity"]


def test_too_wide_type_is_an_equihls_error(tmp_path):
    """Found probing the fuzz property: five exact products with a large integer on an
    ap_fixed<20,20> input need more than 96 bits; the compile raised a bare ValueError (the API
    promises EquihlsError, naming the node). Fails before g++."""
    from equihls.errors import EquihlsError

    nodes = [helper.make_node("Mul", [f"t{k - 1}" if k else "x", "c"], [f"t{k}" if k < 4 else "y"], name=f"mul{k}")
             for k in range(5)]
    path = _save(str(tmp_path / "m.onnx"), nodes, {"c": np.array(99999.0)}, [2], [("y", [2])])
    with pytest.raises(EquihlsError, match=r"Eltwise 'mul4': its exact result needs 105 bits \(> 96\)"):
        project.compile_model(path, output_dir=str(tmp_path / "p"), input_type="ap_fixed<20,20>", log=lambda *a: None)
    assert not os.path.exists(tmp_path / "p")
