"""ONNX definitions of the equihls custom ops, so that models using them stay runnable.

An ONNX file may contain explicit `equihls::ScalarProducts` nodes (written by
`equihls.torch_ops.export` or by hand with `make_scalar_products_node`). equihls compiles them
directly; ONNX Runtime and the ONNX checker/shape inference understand them through a
model-local function (`FunctionProto`, domain "equihls", name "ScalarProducts") that
`attach_functions` adds to the model. The function body is the reference semantics:

    y[b, i, j] = sum_d metric[d] * x[b, i, d] * x[b, j, d]

i.e. the Gram matrix of the N D-component vectors of each event under the diagonal metric
diag(metric) (metric = [1, -1, -1, -1] gives Minkowski products of four-vectors; values carry
the square of the input's unit, e.g. GeV^2 for four-momenta in GeV).
"""
from __future__ import annotations

from typing import Sequence

import onnx
from onnx import helper

DOMAIN = "equihls"
DOMAIN_VERSION = 1
SCALAR_PRODUCTS = "ScalarProducts"
DEFAULT_OPSET = 17


def scalar_products_function(opset: int = DEFAULT_OPSET) -> onnx.FunctionProto:
    """The model-local function defining `equihls::ScalarProducts`.

    Args:
        opset: version of the default ONNX domain the function body uses (>= 13).

    Returns:
        FunctionProto, domain "equihls", name "ScalarProducts", with
          input  `x`: float tensor [B, N, D] (batch, vectors per event, components per vector),
          output `y`: float tensor [B, N, N], y[b,i,j] = sum_d metric[d] x[b,i,d] x[b,j,d]
                      (unit: square of the unit of x),
          attribute `metric` (ints, length D, each +1 or -1): the diagonal of the metric.
        Body: Constant(value_ints=@metric) -> Cast(float) -> Mul(x, eta) -> MatMul(., Transpose(x, [0,2,1])).
    """
    metric_const = onnx.NodeProto()
    metric_const.op_type = "Constant"
    metric_const.name = "metric_const"
    metric_const.output.append("eta_i64")
    ref = onnx.AttributeProto()
    ref.name = "value_ints"
    ref.type = onnx.AttributeProto.INTS
    ref.ref_attr_name = "metric"
    metric_const.attribute.append(ref)

    nodes = [
        metric_const,
        helper.make_node("Cast", ["eta_i64"], ["eta"], name="metric_cast", to=onnx.TensorProto.FLOAT),
        helper.make_node("Mul", ["x", "eta"], ["x_eta"], name="apply_metric"),
        helper.make_node("Transpose", ["x"], ["x_t"], name="transpose", perm=[0, 2, 1]),
        helper.make_node("MatMul", ["x_eta", "x_t"], ["y"], name="gram"),
    ]
    return helper.make_function(
        DOMAIN, SCALAR_PRODUCTS, inputs=["x"], outputs=["y"], nodes=nodes,
        opset_imports=[helper.make_opsetid("", opset)], attributes=["metric"],
        doc_string="Gram matrix y[b,i,j] = sum_d metric[d] x[b,i,d] x[b,j,d]; x [B,N,D] float, "
                   "metric ints (+1/-1 per component); y [B,N,N].",
    )


def _uses_scalar_products(graph: onnx.GraphProto) -> bool:
    for n in graph.node:
        if n.domain == DOMAIN and n.op_type == SCALAR_PRODUCTS:
            return True
        for a in n.attribute:  # subgraphs (If/Loop/Scan bodies)
            if a.type == onnx.AttributeProto.GRAPH and _uses_scalar_products(a.g):
                return True
            if a.type == onnx.AttributeProto.GRAPHS and any(_uses_scalar_products(s) for s in a.graphs):
                return True
    return False


def attach_functions(model: onnx.ModelProto) -> onnx.ModelProto:
    """Make a model with `equihls::ScalarProducts` nodes self-contained (modified in place, returned).

    If the graph uses equihls::ScalarProducts, adds (once) the `scalar_products_function`
    FunctionProto, using the model's default-domain opset for its body, and the opset import
    ("equihls", 1). A model without such nodes is returned unchanged. Afterwards ONNX Runtime,
    the ONNX checker and ONNX shape inference accept the model.

    Args:
        model: the ModelProto to complete.

    Returns:
        the same `model` object.
    """
    if not _uses_scalar_products(model.graph):
        return model
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None:
        opset = DEFAULT_OPSET
        model.opset_import.append(helper.make_opsetid("", opset))
    if not any(f.domain == DOMAIN and f.name == SCALAR_PRODUCTS for f in model.functions):
        model.functions.append(scalar_products_function(opset))
    if not any(o.domain == DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(DOMAIN, DOMAIN_VERSION))
    return model


def make_scalar_products_node(x_name: str, y_name: str, metric: Sequence[int], name: str = "") -> onnx.NodeProto:
    """An `equihls::ScalarProducts` node for graphs built with onnx.helper.

    Args:
        x_name: input tensor name, float [B, N, D].
        y_name: output tensor name, float [B, N, N] (unit: square of the unit of x).
        metric: D integers, each +1 or -1 (e.g. (1, -1, -1, -1) for Minkowski four-vectors).
        name: node name (used in equihls messages and the manifest).

    Returns:
        the NodeProto. Call `attach_functions` on the finished model so that ONNX tools can run it.
    """
    metric = [int(m) for m in metric]
    if not metric or any(m not in (1, -1) for m in metric):
        raise ValueError(f"ScalarProducts '{name}': metric must be a non-empty list of +1/-1, got {metric}")
    return helper.make_node(SCALAR_PRODUCTS, [x_name], [y_name], name=name or None, domain=DOMAIN, metric=metric)
