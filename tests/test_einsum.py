"""General Einsum lowering (passes/lower/einsum.py): each equation form is lowered to blocks and
the numpy twin of the result, at a wide fixed-point type, matches ONNX Runtime; forms it cannot
lower are refused naming the node, the equation and the reason."""
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

WIDE = FixedType.parse("ap_fixed<24,8,AP_RND>")


def _model(path, eq, runtime: dict, consts: dict, out_shape, order=None):
    """Einsum(eq) over runtime inputs {name: shape} and constants {name: array}, operands in `order`
    (default: runtime then constants; the first dim of runtime shapes is the batch)."""
    names = list(order or (list(runtime) + list(consts)))
    node = helper.make_node("Einsum", names, ["y"], name="es", equation=eq)
    graph = helper.make_graph(
        [node], "m", [helper.make_tensor_value_info(k, TensorProto.FLOAT, ["batch", *s[1:]])
                          for k, s in runtime.items()],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", *out_shape[1:]])],
        initializer=[numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in consts.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


def _lowered(path):
    g, _ = pipeline.load(path)
    log = pipeline.run_ir(g, [])
    return g, log


def _compare(path, runtime):
    g, log = _lowered(path)
    assert "lower_einsum" in log
    assert all(n.is_equihls for n in g.nodes)
    prec = infer(g, {t: WIDE for t in g.inputs}, WIDE)
    rng = np.random.default_rng(0)
    # on the input type's grid: the comparison then measures the lowering, not input rounding
    xs = {k: rng.integers(-512, 512, size=(8, *s[1:])) / 256.0 for k, s in runtime.items()}
    ref = onnxruntime_float(path, xs)
    got = twin.predict(g, prec, xs)
    for o in g.outputs:
        # within the compiler's own a-priori error bound (weights quantised; runtime products exact)
        np.testing.assert_allclose(got[o].reshape(ref[o].shape), ref[o], atol=prec.errs[o] + 1e-5, rtol=1e-6)
    return g


RNG = np.random.default_rng(7)
CASES = {
    # eq: (runtime {name: shape with batch 1}, constants, output shape)
    "ij,jk->ik const": ("ij,jk->ik", {"x": (1, 4)}, {"W": RNG.normal(size=(4, 3))}, (1, 3)),
    "cba,ab->ca const": ("cba,ab->ca", {"x": (1, 3, 4)}, {"W": RNG.normal(size=(4, 3))}, (1, 4)),
    "outer edb,eca->ecdab": ("edb,eca->ecdab", {"x": (1, 2, 3), "z": (1, 4, 2)}, {}, (1, 4, 2, 2, 3)),
    "outer cb,ca->cba": ("cb,ca->cba", {"x": (1, 3), "z": (1, 4)}, {}, (1, 3, 4)),
    "contraction dca,dba->dcb": ("dca,dba->dcb", {"x": (1, 3, 4), "z": (1, 2, 4)}, {}, (1, 3, 2)),
    "trace bii->b": ("bii->b", {"x": (1, 3, 3)}, {}, (1,)),
    "diagonal bii->bi": ("bii->bi", {"x": (1, 3, 3)}, {}, (1, 3)),
    "dot bi,bi->b": ("bi,bi->b", {"x": (1, 5), "z": (1, 5)}, {}, (1,)),
    "dot with const bi,bi->b": ("bi,bi->b", {"x": (1, 5)}, {"c": RNG.normal(size=(1, 5))}, (1,)),
    "ellipsis ...i,ij->...j": ("...i,ij->...j", {"x": (1, 3, 4)}, {"W": RNG.normal(size=(4, 2))}, (1, 3, 2)),
    "transpose implicit": ("bji", {"x": (1, 2, 3)}, {}, (1, 3, 2)),
    "three operands bui,bvj,ijk->buvk": ("bui,bvj,ijk->buvk", {"x": (1, 2, 3), "z": (1, 2, 2)},
                                         {"C": RNG.normal(size=(3, 2, 4))}, (1, 2, 2, 4)),
    "three runtime bi,bj,bk->bijk": ("bi,bj,bk->bijk", {"x": (1, 2), "z": (1, 3), "w": (1, 2)}, {}, (1, 2, 3, 2)),
    "elementwise const bi,i->bi": ("bi,i->bi", {"x": (1, 4)}, {"c": RNG.normal(size=(4,))}, (1, 4)),
    "sum over free letter bij->b": ("bij->b", {"x": (1, 3, 2)}, {}, (1,)),
    "const first ij,bjk->bik": ("ij,bjk->bik", {"x": (1, 4, 3)}, {"W": RNG.normal(size=(2, 4))}, (1, 2, 3),
                                ["W", "x"]),
    "const middle bi,ijk,bj->bik": ("bi,ijk,bj->bik", {"x": (1, 3), "z": (1, 2)}, {"C": RNG.normal(size=(3, 2, 2))},
                                   (1, 3, 2), ["x", "C", "z"]),
    "two consts bi,ij,jk->bk": ("bi,ij,jk->bk", {"x": (1, 3)}, {"A": RNG.normal(size=(3, 4)),
                                                              "B": RNG.normal(size=(4, 2))}, (1, 2)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_einsum_form_matches_onnxruntime(tmp_path, case):
    eq, runtime, consts, out_shape, *order = CASES[case]
    path = _model(tmp_path / "m.onnx", eq, runtime, consts, out_shape, *order)
    _compare(path, runtime)


def test_runtime_product_is_exact_and_constant_is_a_dense_with_free_rows(tmp_path):
    eq, runtime, consts, out_shape = CASES["ellipsis ...i,ij->...j"]
    g = _compare(_model(tmp_path / "m.onnx", eq, runtime, consts, out_shape), runtime)
    dense = [n for n in g.nodes if n.op == "Dense"]
    assert len(dense) == 1 and g.shapes[dense[0].inputs[1]] == (4, 2)   # rows of x stay rows, not in W
    eq, runtime, consts, out_shape = CASES["dot bi,bi->b"]
    g = _compare(_model(tmp_path / "n.onnx", eq, runtime, consts, out_shape), runtime)
    mul = [n for n in g.nodes if n.op == "Eltwise"]
    assert len(mul) == 1 and mul[0].attrs["exact"]
    from equihls.blocks import block_for
    assert not block_for(mul[0]).rounds(mul[0])


def test_more_than_three_operands_refused_naming_node_and_equation(tmp_path):
    path = _model(tmp_path / "m.onnx", "bi,bi,bi,bi->b", {"a": (1, 2), "b": (1, 2), "c": (1, 2), "d": (1, 2)},
                  {}, (1,))
    with pytest.raises(UnsupportedNodeError) as e:
        _lowered(path)
    msg = str(e.value)
    assert "es" in msg and "bi,bi,bi,bi->b" in msg and "4 operands" in msg


def test_oversized_intermediate_refused_with_size(tmp_path):
    path = _model(tmp_path / "m.onnx", "bi,bj->bij", {"x": (1, 300), "z": (1, 300)}, {}, (1, 300, 300))
    with pytest.raises(UnsupportedNodeError) as e:
        _lowered(path)
    msg = str(e.value)
    assert "bi,bj->bij" in msg and "90000" in msg and "65536" in msg


def _two_einsum_model(path):
    """x [B,3,4], z [B,2,4]: y = Einsum('dca,dba->dcb', x, z) (runtime contraction), then
    Einsum('...i,ij->...j', y, W) (constant Dense with free rows)."""
    rng = np.random.default_rng(5)
    nodes = [helper.make_node("Einsum", ["x", "z"], ["p"], name="contract", equation="dca,dba->dcb"),
             helper.make_node("Einsum", ["p", "W"], ["y"], name="mix", equation="...i,ij->...j")]
    graph = helper.make_graph(
        nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 4]),
                     helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3, 5])],
        initializer=[numpy_helper.from_array(rng.normal(size=(2, 5)).astype(np.float32), "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


@pytest.mark.gxx
def test_einsums_compile_selfcheck_and_csim_follow_onnxruntime(tmp_path):
    """End to end: compile (self-check passes), C-sim equals the twin bit for bit and follows
    ONNX Runtime on raw inputs by the fidelity criterion (tests/fidelity.py)."""
    from equihls import project
    from tests.fidelity import capture_precision, check_project, raw_inputs

    path = _two_einsum_model(tmp_path / "m.onnx")
    in_t = FixedType.parse("ap_fixed<16,4,AP_RND>")
    xs = raw_inputs({"x": (in_t, (3, 4)), "z": (in_t, (2, 4))}, 64, seed=2)
    np.savez(tmp_path / "s.npz", **xs)
    out = str(tmp_path / "p")
    with capture_precision() as seen:
        m = project.compile_model(path, output_dir=out, input_type=in_t.cpp(), samples=str(tmp_path / "s.npz"),
                                  log=lambda *a: None)
    g, prec = seen[-1]
    assert {n["op"] for n in m["nodes"]} >= {"Eltwise", "ReduceSum", "Dense"}
    rep = check_project(out, path, g, prec, xs)["y"]
    assert rep["twin_mismatches"] == 0
    assert rep["fidelity"]["passed"], rep["fidelity"]


def test_outer_product_reshape_cg_matmul_is_recognised_as_bilinear(tmp_path):
    """e3nn's chain: Einsum('bi,bj->bij') -> Reshape [-1, 9] -> MatMul with the flattened CG matrix is
    one Bilinear (irreps inferred), and its twin follows ONNX Runtime."""
    from equihls.symmetry.o3 import cg

    w = cg(1, 1, 1).reshape(9, 3)
    nodes = [helper.make_node("Einsum", ["x", "z"], ["o"], name="outer", equation="bi,bj->bij"),
             helper.make_node("Reshape", ["o", "shape"], ["r"], name="flat"),
             helper.make_node("MatMul", ["r", "W"], ["y"], name="couple")]
    graph = helper.make_graph(
        nodes, "m", [helper.make_tensor_value_info(k, TensorProto.FLOAT, ["batch", 3]) for k in ("x", "z")],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        initializer=[numpy_helper.from_array(np.array([-1, 9], np.int64), "shape"),
                     numpy_helper.from_array(w.astype(np.float32), "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = str(tmp_path / "m.onnx")
    onnx.save(model, path)
    g, _ = pipeline.load(path)
    pipeline.run_ir(g, [])
    assert [n.op for n in g.nodes] == ["Bilinear"] and g.nodes[0].attrs["irreps"], g.nodes
    prec = infer(g, {t: WIDE for t in g.inputs}, WIDE)
    rng = np.random.default_rng(1)
    xs = {k: rng.integers(-512, 512, size=(8, 3)) / 256.0 for k in ("x", "z")}
    ref = onnxruntime_float(path, xs)["y"]
    assert np.abs(ref).max() > 0.1   # x and z differ: the (antisymmetric) coupling is not trivially 0
    np.testing.assert_allclose(twin.predict(g, prec, xs)["y"].reshape(ref.shape), ref, atol=prec.errs["y"] + 1e-5)
