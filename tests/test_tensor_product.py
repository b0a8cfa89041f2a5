"""Constant bilinear couplings (Clebsch-Gordan tensor products) compile to the Bilinear block.

Written as explicit equihls::TensorProduct nodes (equihls.ops.torch_ops.tensor_product) or as plain
torch.einsum with a constant coupling tensor, they are recognised, their coefficient tensor is
checked (declared irreps) or identified (undeclared) as an O(3) / Lorentz intertwiner, and the
firmware passes its self-check. A non-intertwiner is lowered with a warning (Einsum) or refused
(declared irreps); Einsums that couple different particles are refused naming the node.

Model: x [B, 4, 6] = 4 particles, each with two 3-vectors u = x[..., :3], w = x[..., 3:];
  s = u.w (1 ⊗ 1 -> 0) per particle, summed over particles      -> [B, 1]
  t = (1 ⊗ 1 -> 2) of the particle sums of u and w              -> [B, 5]
  c = u x w (1 ⊗ 1 -> 1) per particle, summed over particles    -> [B, 3]
  y = concat(s, t, c)                                           -> [B, 9]
"""
import os
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper

from equihls.frontend import onnx_import as frontend
from equihls import passes
from equihls.errors import ModelError
from equihls.symmetry.o3 import cg
from equihls.symmetry.lorentz import cg_lorentz
from equihls.ops.onnx_ops import TENSOR_PRODUCT, attach_functions, make_scalar_products_node, make_tensor_product_node
from equihls.passes.recognize.tensor_products import check_intertwiner, infer_irreps
from equihls.project import compile_model
from equihls.ops.torch_ops import export as eq_export
from equihls.ops.torch_ops import tensor_product
from tests.exporters import EXPORTERS, export

N = 4
QUIET = dict(input_type="ap_fixed<12,6>", n_samples=64, log=lambda *a: None)
DYN = dict(input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
C110, C112, C111 = (torch.tensor(cg(1, 1, l), dtype=torch.float32) for l in (0, 2, 1))


def _nodes(path, op):
    return [n for n in onnx.load(path).graph.node if n.op_type == op]


class CustomNet(torch.nn.Module):
    def forward(self, x):
        u, w = x[..., :3], x[..., 3:]
        s = tensor_product(u, w, C110, "1x1o", "1x1o", "1x0e").sum(1)
        t = tensor_product(u.sum(1), w.sum(1), C112, "1x1o", "1x1o", "1x2e")
        c = tensor_product(u, w, C111).sum(1)   # undeclared: equihls infers 1o*1o->1e
        return torch.cat([s, t, c], dim=-1)


class EinsumNet(torch.nn.Module):
    """Same maps as CustomNet, as torch.einsum with constant buffers in three spellings."""

    def __init__(self, c110=C110):
        super().__init__()
        self.register_buffer("c110", c110.clone())
        self.register_buffer("c112", C112.clone())
        self.register_buffer("c111_kij", C111.permute(2, 0, 1).contiguous())   # constant first, letters permuted

    def forward(self, x):
        u, w = x[..., :3], x[..., 3:]
        s = torch.einsum("bni,bnj,ijk->bnk", u, w, self.c110).sum(1)
        t = torch.einsum("bi,bj,ijk->bk", u.sum(1), w.sum(1), self.c112)
        c = torch.einsum("kij,bni,bnj->bnk", self.c111_kij, u, w).sum(1)
        return torch.cat([s, t, c], dim=-1)


def _check_compiled(path, out):
    man = compile_model(path, output_dir=out, **QUIET)
    rep = man["self_check"]
    assert rep["passed"], rep
    for o, r in rep["outputs"].items():
        assert r["csim_vs_twin_mismatches"] == 0, (o, r)
    bil = [n for n in man["nodes"] if n["op"] == "Bilinear"]
    assert len(bil) == 3, [n["op"] for n in man["nodes"]]
    assert "equihls::bilinear" in open(os.path.join(out, "firmware", "myproject.cpp")).read()
    # C is baked into the block's config tables, not passed as a weight array
    emitted = [n for n in onnx.load(os.path.join(out, "equihls_graph.onnx")).graph.node if n.op_type == "EquiBilinear"]
    assert len(emitted) == 3
    for n in emitted:
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        assert attrs["operand_kinds"] == b"rrc" and list(attrs["weight_slots"]) == [] and "w2_data" not in attrs
    return {n["name"]: n["attrs"].get("irreps") for n in bil}


def test_eager_matches_einsum_and_is_differentiable():
    torch.manual_seed(0)
    x = torch.randn(3, N, 6, dtype=torch.float64, requires_grad=True)
    assert torch.allclose(CustomNet()(x.float()), EinsumNet()(x.float()), atol=1e-6)
    a, b = x[..., :3], x[..., 3:]
    assert torch.autograd.gradcheck(lambda a, b: tensor_product(a, b, cg(1, 1, 2)), (a, b))


@EXPORTERS
@pytest.mark.gxx
def test_custom_op_compiles_to_bilinear(tmp_path, dynamo):
    """TorchScript: three equihls::TensorProduct nodes with their irreps; dynamo: the ops' plain
    einsum form, whose couplings the compiler identifies (the same irreps)."""
    torch.manual_seed(0)
    path = str(tmp_path / "tp.onnx")
    kw = dict(input_names=["x"], output_names=["y"], dynamic_shapes=({0: torch.export.Dim("batch")},)) \
        if dynamo else DYN
    m = eq_export(CustomNet().eval(), (torch.randn(2, N, 6),), path, dynamo=dynamo, **kw)
    tps = [n for n in m.graph.node if n.op_type == TENSOR_PRODUCT and n.domain == "equihls"]
    assert len(tps) == (0 if dynamo else 3)
    assert any(f.name == TENSOR_PRODUCT for f in m.functions) != dynamo
    irreps = _check_compiled(path, str(tmp_path / "prj"))
    assert sorted(irreps.values()) == ["1x1o*1x1o->1x0e", "1x1o*1x1o->1x1e", "1x1o*1x1o->1x2e"], irreps


@EXPORTERS
@pytest.mark.gxx
def test_einsum_compiles_to_bilinear_with_inferred_irreps(tmp_path, dynamo):
    torch.manual_seed(0)
    path = str(tmp_path / "einsum.onnx")
    export(EinsumNet().eval(), (torch.randn(2, N, 6),), path, dynamo)
    eqs = sorted(n.attribute[0].s.decode() for n in _nodes(path, "Einsum"))
    assert len(eqs) == 3, eqs
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)   # a true CG tensor certifies: no warning
        irreps = _check_compiled(path, str(tmp_path / "prj"))
    assert sorted(irreps.values()) == ["1x1o*1x1o->1x0e", "1x1o*1x1o->1x1e", "1x1o*1x1o->1x2e"], irreps


@pytest.mark.gxx
def test_random_coupling_lowers_with_warning(tmp_path):
    rng = np.random.default_rng(1)
    c = torch.tensor(rng.normal(size=(3, 3, 1)) * 0.5, dtype=torch.float32)
    path = str(tmp_path / "rand.onnx")
    export(EinsumNet(c110=c).eval(), (torch.randn(2, N, 6),), path, False)
    culprit = next(n.name for n in _nodes(path, "Einsum") if n.attribute[0].s.decode() == "bni,bnj,ijk->bnk")
    with pytest.warns(UserWarning, match="no symmetry is certified") as rec:
        irreps = _check_compiled(path, str(tmp_path / "prj"))
    msgs = [str(r.message) for r in rec if "certified" in str(r.message)]
    assert len(msgs) == 1 and culprit in msgs[0], msgs
    assert irreps[culprit] is None


def _tp_model(c, irreps, lead=(N,)):
    lead = ["batch", *lead]
    node = make_tensor_product_node("a", "b", "y", c, *irreps, name="tp_bad")
    g = helper.make_graph([node], "tp", [helper.make_tensor_value_info("a", TensorProto.FLOAT, lead + [c.shape[0]]),
                                         helper.make_tensor_value_info("b", TensorProto.FLOAT, lead + [c.shape[1]])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, lead + [c.shape[2]])])
    return attach_functions(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))


@pytest.mark.parametrize("lead", [(N,), ()], ids=["BND", "BD"])
def test_onnxruntime_runs_the_function(lead):
    c = cg(1, 1, 2)
    m = _tp_model(c, ("1x1o", "1x1o", "1x2e"), lead)
    onnx.checker.check_model(m)
    rng = np.random.default_rng(0)
    a, b = (rng.normal(size=(2, *lead, 3)).astype(np.float32) for _ in range(2))
    (y,) = ort.InferenceSession(m.SerializeToString()).run(None, {"a": a, "b": b})
    assert y.shape == (2, *lead, 5)
    np.testing.assert_allclose(y, np.einsum("...i,...j,ijk->...k", a, b, c), atol=1e-6)


def test_onnxruntime_runs_the_function_in_float64():
    """The function body casts its float32 coupling to the inputs' type (a float64 model, as
    models/lgn_lite computes inside)."""
    c = cg(1, 1, 2)
    node = make_tensor_product_node("a", "b", "y", c, name="tp64")
    ports = [helper.make_tensor_value_info(t, TensorProto.DOUBLE, ["batch", 3]) for t in ("a", "b")]
    g = helper.make_graph([node], "tp64", ports, [helper.make_tensor_value_info("y", TensorProto.DOUBLE, ["batch", 5])])
    m = attach_functions(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    onnx.checker.check_model(m)
    a, b = np.random.default_rng(0).normal(size=(2, 4, 3))
    (y,) = ort.InferenceSession(m.SerializeToString()).run(None, {"a": a, "b": b})
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, np.einsum("...i,...j,ijk->...k", a, b, c.astype(np.float32)), rtol=1e-12)


def test_attach_functions_with_both_ops():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", N, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", N, 1])
    nodes = [make_scalar_products_node("x", "g", (1, 1, 1), name="sp"),
             make_tensor_product_node("g", "g", "y", np.ones((N, N, 1)), name="tp")]
    m = attach_functions(helper.make_model(helper.make_graph(nodes, "both", [x], [y]),
                                           opset_imports=[helper.make_opsetid("", 17)]))
    assert sorted(f.name for f in m.functions) == ["ScalarProducts", "TensorProduct"]
    onnx.checker.check_model(m)


def test_declared_irreps_with_wrong_coefficients_are_refused(tmp_path):
    path = str(tmp_path / "bad.onnx")
    onnx.save(_tp_model(cg(1, 1, 2) + 0.05 * np.random.default_rng(0).normal(size=(3, 3, 5)),
                        ("1x1o", "1x1o", "1x2e")), path)
    with pytest.raises(ModelError, match="not an intertwiner for 1x1o ⊗ 1x1o -> 1x2e") as ei:
        compile_model(path, output_dir=str(tmp_path / "prj"), **QUIET)
    assert "TensorProduct 'tp_bad'" in str(ei.value)
    assert not os.path.exists(tmp_path / "prj")
    # wrong parity is caught too: the dot product is even
    with pytest.raises(ModelError, match="not an intertwiner"):
        check_intertwiner("TensorProduct 'x'", cg(1, 1, 0), ["1x1o", "1x1e", "1x0e"])


def test_lorentz_couplings_are_certified():
    c = cg_lorentz("(1/2,1/2)", "(1/2,1/2)", "(1,1)")
    assert check_intertwiner("n", c, ["(1/2,1/2)", "(1/2,1/2)", "(1,1)"]) == "(1/2,1/2)*(1/2,1/2)->(1,1)"
    assert infer_irreps(c.astype(np.float32)) == "(1/2,1/2)*(1/2,1/2)->(1,1)"
    eta = np.diag([1.0, -1, -1, -1])[:, :, None]
    assert infer_irreps(eta) == "(1/2,1/2)*(1/2,1/2)->(0,0)"
    with pytest.raises(ModelError, match="not an intertwiner"):
        check_intertwiner("n", np.eye(4)[:, :, None], ["(1/2,1/2)", "(1/2,1/2)", "(0,0)"])
    # declared via the ONNX node: recognised into Bilinear with the record
    g = frontend.onnx_to_ir(_tp_model(c, ("(1/2,1/2)", "(1/2,1/2)", "(1,1)")))
    passes.recognize_tensor_products(g)
    (node,) = g.nodes
    assert node.op == "Bilinear" and node.attrs["irreps"] == "(1/2,1/2)*(1/2,1/2)->(1,1)"


def test_ellipsis_einsum_with_constant_in_the_middle_is_recognised():
    c = cg(1, 2, 1)   # 1o x 2e -> 1o, written with the constant as the second operand, letters "jki"
    x = [helper.make_tensor_value_info(t, TensorProto.FLOAT, ["batch", N, d]) for t, d in (("a", 3), ("b", 5))]
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", N, 3])
    cst = onnx.numpy_helper.from_array(np.transpose(c, (1, 2, 0)).astype(np.float32), "C")
    node = helper.make_node("Einsum", ["b", "C", "a"], ["y"], name="ell", equation="...j,jki,...i->...k")
    m = helper.make_model(helper.make_graph([node], "ell", x, [y], [cst]), opset_imports=[helper.make_opsetid("", 17)])
    g = frontend.onnx_to_ir(m)
    assert passes.recognize_tensor_products(g)
    (bil,) = g.nodes
    # runtime operands keep their order; C is transposed to (first operand, second, output)
    assert bil.op == "Bilinear" and bil.inputs[:2] == ["b", "a"] and bil.attrs["irreps"] == "1x2e*1x1o->1x1o"
    np.testing.assert_allclose(g.consts[bil.inputs[2]], np.transpose(c, (1, 0, 2)), atol=1e-7)


class CrossParticle(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.register_buffer("c", torch.tensor(c, dtype=torch.float32))

    def forward(self, x):
        u, w = x[..., :3], x[..., 3:]
        if self.c.dim() == 3:   # couples particle n with particle m
            return torch.einsum("bni,bmj,ijk->bnmk", u, w, self.c).sum((1, 2))
        return torch.einsum("bni,bnj,ij->bn", u, w, self.c)   # rank-2 constant: a bilinear form


@pytest.mark.parametrize("c", [cg(1, 1, 0), np.eye(3)], ids=["over-particles", "rank2-const"])
def test_other_einsums_are_not_bilinear_but_lowered_generally(tmp_path, c):
    """Not the Bilinear form: left by the recogniser, then lowered by the general Einsum lowering
    (passes/lower/einsum.py; its refusals are tested in tests/test_einsum.py)."""
    from equihls.passes import pipeline

    path = str(tmp_path / "cross.onnx")
    export(CrossParticle(c).eval(), (torch.randn(2, N, 6),), path, False)
    _nodes(path, "Einsum")
    g, _ = pipeline.load(path)
    log = pipeline.run_ir(g, [])
    assert "lower_einsum" in log and "recognize_tensor_products" not in log, log
    assert all(n.is_equihls for n in g.nodes) and not any(n.op == "Bilinear" for n in g.nodes)
