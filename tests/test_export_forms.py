"""The scalar-product (Gram matrix) forms that PyTorch's ONNX exporters (dynamo and TorchScript) write
are all recognised and compiled to one equihls::scalar_products block, bit-exact against the twin; Gram-like
products that are not Gram matrices and unsupported ops are refused, naming the node, and leave
no project directory behind.

Each model: x [B, N, D] -> Gram matrix g [B, N, N] under the metric -> per-pair Linear(1, 4) on
g * 2^-8 -> ReLU -> sum over pairs -> Linear(4, 1) -> y [B, 1].
"""
import os

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from equihls.frontend import onnx_import as frontend
from equihls.errors import UnsupportedNodeError
from equihls.ops.onnx_ops import attach_functions, make_scalar_products_node, scalar_products_function
from equihls.project import compile_model
from equihls.ops.torch_ops import export as eq_export
from equihls.ops.torch_ops import scalar_products
from tests.conftest import staging_leftovers
from tests.exporters import EXPORTERS_SLOW_DYNAMO, export

N = 4
MINKOWSKI = (1, -1, -1, -1)
QUIET = dict(target="vu9p", input_type="ap_fixed<12,6>", n_samples=64, log=lambda *a: None)
DYN = dict(input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})


def _eta(metric):
    return None if metric is None else torch.tensor(metric, dtype=torch.float32)


# form name -> (gram function of (x, eta tensor or None, metric tuple), ONNX ops the export must contain)
def _einsum3(x, eta, metric):
    return torch.einsum("bid,d,bjd->bij", x, eta, x)


def _einsum2(x, eta, metric):
    return torch.einsum("bid,bjd->bij", x if eta is None else x * eta, x)


def _matmul(x, eta, metric):
    return torch.matmul(x if eta is None else x * eta, x.transpose(1, 2))


def _broadcast(x, eta, metric):
    return ((x.unsqueeze(2) * eta) * x.unsqueeze(1)).sum(-1)


def _custom(x, eta, metric):
    return scalar_products(x, metric)


FORMS = {
    "einsum3": (_einsum3, {"Einsum"}),
    "einsum2": (_einsum2, {"Einsum"}),
    "matmul": (_matmul, {"MatMul", "Transpose"}),
    "broadcast": (_broadcast, {"Unsqueeze", "Mul", "ReduceSum"}),
    "custom": (_custom, {"ScalarProducts"}),
}

# (form, D, metric written in the model (None: no metric factor at all), metric equihls must find)
CASES = [
    ("einsum3", 4, MINKOWSKI, MINKOWSKI),
    ("einsum3", 3, (1, 1, 1), (1, 1, 1)),
    ("einsum2", 4, MINKOWSKI, MINKOWSKI),
    ("einsum2", 3, None, (1, 1, 1)),
    ("matmul", 4, MINKOWSKI, MINKOWSKI),
    ("matmul", 3, None, (1, 1, 1)),
    ("matmul", 3, (1, 1, 1), (1, 1, 1)),
    ("broadcast", 4, MINKOWSKI, MINKOWSKI),
    ("broadcast", 3, (1, 1, 1), (1, 1, 1)),
    ("custom", 4, MINKOWSKI, MINKOWSKI),
    ("custom", 3, (1, 1, 1), (1, 1, 1)),
]


class PairNet(torch.nn.Module):
    def __init__(self, form, metric):
        super().__init__()
        self.gram, self.metric = FORMS[form][0], metric
        self.register_buffer("eta", _eta(metric) if metric is not None else torch.ones(1))
        self.has_eta = metric is not None
        self.l1, self.l2 = torch.nn.Linear(1, 4), torch.nn.Linear(4, 1)

    def forward(self, x):
        g = self.gram(x, self.eta if self.has_eta else None, self.metric)
        h = torch.relu(self.l1(g.unsqueeze(-1) * 2.0 ** -8))
        return self.l2(h.sum(dim=(1, 2)))


def _ops(path):
    m = onnx.load(path)
    return [(f"{n.domain}::" if n.domain else "") + n.op_type for n in m.graph.node]


@pytest.mark.parametrize("form,d,metric,expected", CASES,
                         ids=[f"{f}-D{d}-{'none' if m is None else ''.join('+' if v > 0 else '-' for v in m)}"
                              for f, d, m, _ in CASES])
@EXPORTERS_SLOW_DYNAMO
@pytest.mark.gxx
def test_form_compiles_to_scalar_products(tmp_path, form, d, metric, expected, dynamo):
    torch.manual_seed(0)
    model = PairNet(form, metric).eval()
    x = torch.randn(2, N, d)
    path = str(tmp_path / f"{form}.onnx")
    if form == "custom" and dynamo:     # the op's plain torch form (equihls.ops.torch_ops.export)
        eq_export(model, (x,), path, dynamo=True, input_names=["x"], output_names=["y"],
                  dynamic_shapes=({0: torch.export.Dim("batch")},))
    elif form == "custom":
        eq_export(model, (x,), path, **DYN)
    else:
        export(model, (x,), path, dynamo)
    ops = _ops(path)
    print(f"{form} D={d} metric={metric}: exported ops {ops}")
    plain = {o.split("::")[-1] for o in ops}
    if not dynamo:      # dynamo writes its own forms (e.g. MatMul for an einsum): any of them must pass
        assert FORMS[form][1] <= plain, ops
    if form == "custom":
        assert ops.count("equihls::ScalarProducts") == (0 if dynamo else 1), ops

    out = str(tmp_path / "prj")
    man = compile_model(path, output_dir=out, **QUIET)

    rep = man["self_check"]
    assert rep["passed"], rep
    for o, r in rep["outputs"].items():
        assert r["csim_vs_twin_mismatches"] == 0, (o, r)
    top = open(os.path.join(out, "firmware", "myproject.cpp")).read()
    assert "equihls::scalar_products" in top
    assert "nnet::dense" not in top and "dense_latency" not in top
    sps = [n for n in man["nodes"] if n["op"] == "ScalarProducts"]
    assert len(sps) == 1, [n["op"] for n in man["nodes"]]
    assert sps[0]["inputs"] == [man["inputs"][0]["onnx_name"]]
    assert "metric" in sps[0]["attrs"], f"manifest node lost its metric: {sps[0]}"
    assert tuple(sps[0]["attrs"]["metric"]) == tuple(expected)
    assert staging_leftovers(out) == []


# --- refusals ---------------------------------------------------------------------------------

class TwoInputs(torch.nn.Module):
    def forward(self, x, y):
        return torch.matmul(x, y.transpose(1, 2)).sum(-1)


class WeightedNotGram(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("w", torch.tensor([1.0, 2.0, 1.0, 1.0]))

    def forward(self, x):
        return torch.matmul(x, (x * self.w).transpose(1, 2)).sum(-1)


class SinNet(torch.nn.Module):   # Exp is lowered to a table now: Sin has no lowering
    def forward(self, x):
        return torch.sin(x * 0.0625).sum(-1)


class CosNet(torch.nn.Module):
    def forward(self, x):
        return torch.cos(x).sum(-1)


@pytest.mark.parametrize("name,cls,n_in", [("two_inputs", TwoInputs, 2), ("weighted_not_gram", WeightedNotGram, 1)],
                         ids=["two_inputs", "weighted_not_gram"])
@EXPORTERS_SLOW_DYNAMO
@pytest.mark.gxx
def test_runtime_matmul_that_is_no_gram_matrix_compiles_faithfully(tmp_path, name, cls, n_in, dynamo):
    """Once refused (hls4ml miscompiles it): a MatMul of two runtime tensors that is no scalar
    product is lowered as its Einsum, exact products and sums; the self-check against ONNX
    Runtime on the raw samples passes and no scalar-products block is claimed."""
    args = tuple(torch.randn(2, N, 4) for _ in range(n_in))
    path = str(tmp_path / f"{name}.onnx")
    export(cls().eval(), args, path, dynamo, input_names=["x", "y"][:n_in], output_names=["out"])
    man = compile_model(path, output_dir=str(tmp_path / "prj"), **QUIET)
    assert man["self_check"]["passed"], man["self_check"]
    ops = [n["op"] for n in man["nodes"]]
    assert "ScalarProducts" not in ops and "Eltwise" in ops and "ReduceSum" in ops, ops


NEGATIVE = [
    ("sin", SinNet, 1, "Sin"),
    ("cos", CosNet, 1, "Cos"),
]


@pytest.mark.parametrize("name,cls,n_in,op", NEGATIVE, ids=[c[0] for c in NEGATIVE])
@EXPORTERS_SLOW_DYNAMO
def test_refused_with_node_name_and_no_output(tmp_path, name, cls, n_in, op, dynamo):
    args = tuple(torch.randn(2, N, 4) for _ in range(n_in))
    names = ["x", "y"][:n_in]
    path = str(tmp_path / f"{name}.onnx")
    export(cls().eval(), args, path, dynamo, input_names=names, output_names=["out"])
    onnx_model = onnx.load(path)
    print(f"{name}: exported ops {_ops(path)}")
    init = {i.name for i in onnx_model.graph.initializer}
    culprits = [n for n in onnx_model.graph.node if n.op_type == op and not any(i in init for i in n.input)]
    assert len(culprits) == 1, _ops(path)
    before = set(os.listdir(tmp_path))
    out = str(tmp_path / "prj")
    with pytest.raises(UnsupportedNodeError) as ei:
        compile_model(path, output_dir=out, **QUIET)
    msg = str(ei.value)
    assert op in msg and culprits[0].name in msg, msg
    assert ei.value.op_type == op and ei.value.node_name == culprits[0].name
    assert not os.path.exists(out) and staging_leftovers(out) == []
    assert set(os.listdir(tmp_path)) == before


# --- equihls.ops.onnx_ops / equihls.ops.torch_ops units ---------------------------------------------------

def _hand_model(metric, d, out_shape=True):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", N, d])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", N, N] if out_shape else None)
    nodes = [make_scalar_products_node("x", "g", metric, name="sp"), helper.make_node("Relu", ["g"], ["y"],
                                                                                      name="relu")]
    graph = helper.make_graph(nodes, "hand", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("metric", [MINKOWSKI, (1, 1, 1), (-1, 1, -1, 1)])
def test_attach_functions_onnxruntime_and_shapes(tmp_path, metric):
    import onnxruntime as ort

    d = len(metric)
    m = attach_functions(attach_functions(_hand_model(metric, d)))
    assert len(m.functions) == 1 and [o.version for o in m.opset_import if o.domain == "equihls"] == [1]
    onnx.checker.check_model(m, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(m, strict_mode=True, data_prop=True)
    g_vi = [v for v in inferred.graph.value_info if v.name == "g"]
    assert g_vi, "ONNX shape inference did not infer the ScalarProducts output"
    dims = [dd.dim_value or dd.dim_param for dd in g_vi[0].type.tensor_type.shape.dim]
    assert dims == ["batch", N, N]

    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).normal(size=(3, N, d)).astype(np.float32)
    ref = np.maximum(np.einsum("bid,d,bjd->bij", x, np.array(metric, np.float32), x), 0)
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], ref, rtol=1e-5, atol=1e-5)

    path = str(tmp_path / "hand.onnx")
    onnx.save(m, path)
    g, _ = frontend.load(path)
    sp = [n for n in g.nodes if n.op == "ScalarProducts"]
    assert len(sp) == 1 and sp[0].domain == "equihls" and list(sp[0].attrs["metric"]) == list(metric)
    assert g.shapes["g"] == (1, N, N)


def test_attach_functions_leaves_plain_models_alone():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])
    m = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y]))
    before = m.SerializeToString()
    assert attach_functions(m).SerializeToString() == before


def test_function_proto_shape():
    f = scalar_products_function()
    assert (f.domain, f.name, list(f.input), list(f.output), list(f.attribute)) == \
        ("equihls", "ScalarProducts", ["x"], ["y"], ["metric"])
    const = f.node[0]
    assert const.op_type == "Constant" and const.attribute[0].ref_attr_name == "metric"
    assert [n.op_type for n in f.node] == ["Constant", "Cast", "Mul", "Transpose", "MatMul"]


def test_make_node_rejects_bad_metric():
    with pytest.raises(ValueError):
        make_scalar_products_node("x", "y", [1, 2, 1, 1], name="bad")


def test_scalar_products_eager_values_and_gradient():
    x = torch.randn(2, N, 4, dtype=torch.float64, requires_grad=True)
    eta = torch.tensor(MINKOWSKI, dtype=torch.float64)
    torch.testing.assert_close(scalar_products(x, MINKOWSKI), torch.einsum("bid,d,bjd->bij", x, eta, x))
    assert torch.autograd.gradcheck(lambda t: scalar_products(t, MINKOWSKI), (x,))
    assert torch.autograd.gradgradcheck(lambda t: scalar_products(t, (1, 1, 1, 1)), (x,))
    with pytest.raises(ValueError):
        scalar_products(x, (1, -1, -1))
