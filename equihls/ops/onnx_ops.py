"""ONNX definitions of the equihls custom ops, so that models using them stay runnable.

An ONNX file may contain explicit `equihls::ScalarProducts` and `equihls::TensorProduct` nodes
(written by `equihls.torch_ops.export` or by hand with `make_scalar_products_node` /
`make_tensor_product_node`). equihls compiles them directly; ONNX Runtime and the ONNX
checker/shape inference understand them through model-local functions (`FunctionProto`,
domain "equihls") that `attach_functions` adds to the model. The function bodies are the
reference semantics:

    ScalarProducts: y[b, i, j] = sum_d metric[d] * x[b, i, d] * x[b, j, d]

i.e. the Gram matrix of the N D-component vectors of each event under the diagonal metric
diag(metric) (metric = [1, -1, -1, -1] gives Minkowski products of four-vectors; values carry
the square of the input's unit, e.g. GeV^2 for four-momenta in GeV), and

    TensorProduct:  out[..., k] = sum_ij cg[i, j, k] * a[..., i] * b[..., j]

a constant bilinear map (e.g. a Clebsch-Gordan coupling of two irreps; unit: unit of a times
unit of b times unit of cg).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..ir.graph import DOMAIN, DOMAIN_VERSION, OPSET

SCALAR_PRODUCTS = "ScalarProducts"
TENSOR_PRODUCT = "TensorProduct"
TENSOR_PRODUCT_EQUATION = "...i,...j,ijk->...k"
TENSOR_PRODUCT_IRREPS_ATTRS = ("irreps_in1", "irreps_in2", "irreps_out")


def _constant_from_attribute(name: str, output: str, value_field: str, attr_type: int, ref: str) -> onnx.NodeProto:
    """A Constant node inside a FunctionProto whose `value_field` refers to the function's
    attribute `ref` (helper.make_node cannot build attribute references)."""
    node = onnx.NodeProto()
    node.op_type, node.name = "Constant", name
    node.output.append(output)
    a = onnx.AttributeProto()
    a.name, a.type, a.ref_attr_name = value_field, attr_type, ref
    node.attribute.append(a)
    return node


def scalar_products_function(opset: int = OPSET) -> onnx.FunctionProto:
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
    nodes = [
        _constant_from_attribute("metric_const", "eta_i64", "value_ints", onnx.AttributeProto.INTS, "metric"),
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


def tensor_product_function(opset: int = OPSET) -> onnx.FunctionProto:
    """The model-local function defining `equihls::TensorProduct`.

    Args:
        opset: version of the default ONNX domain the function body uses (>= 12, for Einsum).

    Returns:
        FunctionProto, domain "equihls", name "TensorProduct", with
          inputs  `a`: float tensor [..., Da], `b`: float tensor [..., Db] (same leading axes),
          output  `out`: float tensor [..., Dk], out[..., k] = sum_ij cg[i,j,k] a[..., i] b[..., j],
          attributes `cg` (TENSOR, float [Da, Db, Dk]: the coupling coefficients) and the strings
          `irreps_in1`, `irreps_in2`, `irreps_out` (the representations of a, b, out: e3nn-style
          O(3) irreps such as "1x1o", or a real Lorentz form such as "(1/2,1/2)"; absent or empty
          means undeclared). The strings do not change the values; equihls checks that cg
          intertwines them.
        Body: Constant(value=@cg) -> Einsum("...i,...j,ijk->...k", a, b, cg); from opset 15 the
        constant is CastLike'd to a, so a float64 model runs too.
    """
    nodes = [_constant_from_attribute("cg_const", "cg" if opset < 15 else "cg_f32", "value",
                                      onnx.AttributeProto.TENSOR, "cg")]
    if opset >= 15:
        nodes.append(helper.make_node("CastLike", ["cg_f32", "a"], ["cg"], name="cg_like_a"))
    nodes.append(helper.make_node("Einsum", ["a", "b", "cg"], ["out"], name="couple",
                                  equation=TENSOR_PRODUCT_EQUATION))
    return helper.make_function(
        DOMAIN, TENSOR_PRODUCT, inputs=["a", "b"], outputs=["out"], nodes=nodes,
        opset_imports=[helper.make_opsetid("", opset)], attributes=["cg", *TENSOR_PRODUCT_IRREPS_ATTRS],
        doc_string="out[...,k] = sum_ij cg[i,j,k] a[...,i] b[...,j]; a [...,Da], b [...,Db] float, "
                   "cg tensor [Da,Db,Dk]; irreps_in1/irreps_in2/irreps_out: declared representations.",
    )


def _uses(graph: onnx.GraphProto, op: str) -> bool:
    for n in graph.node:
        if n.domain == DOMAIN and n.op_type == op:
            return True
        for a in n.attribute:  # subgraphs (If/Loop/Scan bodies)
            if a.type == onnx.AttributeProto.GRAPH and _uses(a.g, op):
                return True
            if a.type == onnx.AttributeProto.GRAPHS and any(_uses(s, op) for s in a.graphs):
                return True
    return False


_FUNCTIONS = {SCALAR_PRODUCTS: scalar_products_function, TENSOR_PRODUCT: tensor_product_function}


def attach_functions(model: onnx.ModelProto) -> onnx.ModelProto:
    """Make a model with equihls custom nodes self-contained (modified in place, returned).

    For each of equihls::ScalarProducts and equihls::TensorProduct the graph uses, adds (once)
    its FunctionProto (`scalar_products_function`, `tensor_product_function`), using the
    model's default-domain opset for the body, and the opset import ("equihls", 1). A model
    without such nodes is returned unchanged. Afterwards ONNX Runtime, the ONNX checker and ONNX
    shape inference accept the model.

    Args:
        model: the ModelProto to complete.

    Returns:
        the same `model` object.
    """
    used = [op for op in _FUNCTIONS if _uses(model.graph, op)]
    if not used:
        return model
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None:
        opset = OPSET
        model.opset_import.append(helper.make_opsetid("", opset))
    for op in used:
        if not any(f.domain == DOMAIN and f.name == op for f in model.functions):
            model.functions.append(_FUNCTIONS[op](opset))
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


def make_tensor_product_node(a_name: str, b_name: str, out_name: str, cg, irreps_in1: str = "",
                             irreps_in2: str = "", irreps_out: str = "", name: str = "") -> onnx.NodeProto:
    """An `equihls::TensorProduct` node for graphs built with onnx.helper.

    Args:
        a_name, b_name: input tensor names, float [..., Da] and [..., Db] (same leading axes).
        out_name: output tensor name, float [..., Dk].
        cg: coupling coefficients, array-like [Da, Db, Dk] (stored as float32).
        irreps_in1, irreps_in2, irreps_out: representations of a, b and out ("1x1o", "2x0e+1x1o",
            or a real Lorentz form "(0,0)", "(1/2,1/2)", "(1,0)+(0,1)", "(1,1)"); "" = undeclared
            (the attribute is then left out).
        name: node name (used in equihls messages and the manifest).

    Returns:
        the NodeProto. Call `attach_functions` on the finished model so that ONNX tools can run it.
    """
    c = np.asarray(cg, dtype=np.float32)
    if c.ndim != 3 or 0 in c.shape:
        raise ValueError(f"TensorProduct '{name}': cg must be a non-empty [Da, Db, Dk] array, "
                         f"got shape {list(c.shape)}")
    irreps = {k: v for k, v in zip(TENSOR_PRODUCT_IRREPS_ATTRS, (irreps_in1, irreps_in2, irreps_out)) if v}
    return helper.make_node(TENSOR_PRODUCT, [a_name, b_name], [out_name], name=name or None, domain=DOMAIN,
                            cg=numpy_helper.from_array(c, "cg"), **irreps)
