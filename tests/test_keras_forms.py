"""The op patterns that Keras 3 (TensorFlow backend) writes through tf2onnx compile to equihls
blocks, built here with onnx.helper so that no TensorFlow is needed.

Keras's Dense on a tensor of rank >= 3 is TensorFlow's tensordot: Reshape to [batch*..., K] ->
MatMul(W) -> Reshape back, with the target shape computed at run time (Shape -> Cast -> Gather ->
Concat -> Cast). The frontend folds the shape arithmetic and merges the three nodes into one
MatMul, so the per-pair Dense after a Gram matrix written as MatMul(x * eta, Transpose(x)) compiles
bit-exactly. A Reshape that does not undo the flattening is left alone and refused, naming it.
"""
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from equihls.project import compile_model

N, D, H = 4, 4, 3
QUIET = dict(target="vu9p", input_type="ap_fixed<12,6>", n_samples=64, log=lambda *a: None)


def _c(name, value, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(value, dtype), name)


def _tf2onnx_style_model(back_to_pairs: bool = True) -> onnx.ModelProto:
    """x [B, N, D] -> Gram (MatMul + Transpose) * 2^-8 -> ExpandDims -> Dense(1 -> H) as tensordot ->
    ReLU -> sum over pairs (ReduceSum with an axes input) -> Dense(H -> 1) -> y [B, 1].

    With `back_to_pairs` False the tensordot's second Reshape goes to [B, N*N, H] instead of
    [B, N, N, H]: not a round trip, so the flat [B*N*N, 1] tensor stays."""
    rng = np.random.default_rng(0)
    w1 = rng.normal(size=(1, H)).astype(np.float32)
    b1 = rng.normal(size=H).astype(np.float32)
    w2 = rng.normal(size=(H, 1)).astype(np.float32)
    if back_to_pairs:
        # the run-time shape chain tf2onnx writes: leading dims of the input + [H]
        shape_nodes = [
            helper.make_node("Shape", ["e"], ["e_shape"], name="phi/Tensordot/Shape"),
            helper.make_node("Cast", ["e_shape"], ["e_shape32"], name="phi/Tensordot/Shape__9", to=TensorProto.INT32),
            helper.make_node("Gather", ["e_shape32", "free"], ["lead"], name="phi/Tensordot/GatherV2", axis=0),
            helper.make_node("Concat", ["lead", "h_dim"], ["out_shape32"], name="phi/Tensordot/concat_1", axis=0),
            helper.make_node("Cast", ["out_shape32"], ["out_shape"], name="phi/Tensordot__16", to=TensorProto.INT64),
        ]
        reshape_back = helper.make_node("Reshape", ["td", "out_shape"], ["h"], name="phi/Tensordot")
        pool_axes = [1, 2]
    else:
        shape_nodes = []
        reshape_back = helper.make_node("Reshape", ["td", "flat_shape"], ["h"], name="phi/Tensordot")
        pool_axes = [1]
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], name="transpose", perm=[0, 2, 1]),
        helper.make_node("Mul", ["x", "eta"], ["xe"], name="Mul"),
        helper.make_node("MatMul", ["xe", "xt"], ["gram"], name="MatMul"),
        helper.make_node("Mul", ["gram", "scale"], ["gs"], name="Mul_1"),
        helper.make_node("Unsqueeze", ["gs", "last"], ["e"], name="ExpandDims"),
        *shape_nodes,
        helper.make_node("Reshape", ["e", "rows_k"], ["flat"], name="phi/Tensordot/Reshape"),
        helper.make_node("MatMul", ["flat", "w1"], ["td"], name="phi/Tensordot/MatMul"),
        reshape_back,
        helper.make_node("Add", ["h", "b1"], ["hb"], name="phi/BiasAdd"),
        helper.make_node("Relu", ["hb"], ["hr"], name="phi/Relu"),
        helper.make_node("ReduceSum", ["hr", "pool_axes"], ["s"], name="Sum", keepdims=0, noop_with_empty_axes=1),
        helper.make_node("MatMul", ["s", "w2"], ["y"], name="logit/MatMul"),
    ]
    inits = [_c("eta", [1, -1, -1, -1]), _c("scale", 2.0 ** -8), _c("last", [3], np.int64),
             _c("rows_k", [-1, 1], np.int64), _c("w1", w1), _c("b1", b1), _c("w2", w2),
             _c("pool_axes", pool_axes, np.int64), _c("free", [0, 1, 2], np.int32), _c("h_dim", [H], np.int32),
             _c("flat_shape", [-1, N * N, H], np.int64)]
    graph = helper.make_graph(
        nodes, "keras_tensordot",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["unk__1", N, D])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["unk__1", 1])],
        [i for i in inits if any(i.name in n.input for n in nodes)])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tf2onnx")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


@pytest.mark.gxx
def test_tensordot_dense_after_gram_compiles_exactly(tmp_path):
    path = str(tmp_path / "keras_style.onnx")
    onnx.save(_tf2onnx_style_model(), path)
    out = str(tmp_path / "prj")
    man = compile_model(path, output_dir=out, **QUIET)

    rep = man["self_check"]
    assert rep["passed"], rep
    for o, r in rep["outputs"].items():
        assert r["csim_vs_twin_mismatches"] == 0, (o, r)
    ops = [n["op"] for n in man["nodes"]]
    sps = [n for n in man["nodes"] if n["op"] == "ScalarProducts"]
    assert len(sps) == 1 and tuple(sps[0]["attrs"]["metric"]) == (1, -1, -1, -1), ops
    # the tensordot is one Dense named after its MatMul, reading the pairs (no flattening Route)
    dense = [n for n in man["nodes"] if n["name"] == "phi/Tensordot/MatMul"]
    assert len(dense) == 1 and dense[0]["op"] == "Dense", man["nodes"]
    assert not any(n["name"].startswith("phi/Tensordot/Reshape") for n in man["nodes"])
    top = open(os.path.join(out, "firmware", "myproject.cpp")).read()
    assert "equihls::scalar_products" in top


@pytest.mark.gxx
def test_reshape_that_is_not_a_tensordot_round_trip_compiles_by_the_per_event_proof(tmp_path):
    """The flat [B*N*N, 1] tensor stays (no round trip to unflatten): it merges the batch axis,
    which the per-event proof (ONNX Runtime, batch of 2 vs alone) makes sound."""
    path = str(tmp_path / "not_tensordot.onnx")
    onnx.save(_tf2onnx_style_model(back_to_pairs=False), path)
    man = compile_model(path, output_dir=str(tmp_path / "prj"), **QUIET)
    assert man["self_check"]["passed"]
    assert man["per_event"]["events"] == 2 and man["per_event"]["max_rel_diff"] <= 1e-4
    assert any(n["name"] == "phi/Tensordot/MatMul" and n["op"] == "Dense" for n in man["nodes"]), man["nodes"]
