"""Lowering of element-wise functions of one runtime tensor to grid tables (LUT func="grid").

Each op becomes LUT(func="grid", fn=<lut_funcs name>, params=...) with the same shape; the table's
domain, grid step and exact error are fixed later by the precision pass from the input's interval
(blocks/lut.py). Div by a runtime tensor y becomes x * reciprocal(y) (a plain Mul, lowered next by
lower_elementwise). Sigmoid and Tanh keep their fixed tables (lower_unary runs first).
"""
from __future__ import annotations

import numpy as np

from ...ir import Node
from ...ir.supports import Supports, code, supports
from ..common import const, eq_node

# ONNX op -> (table function, {lut param: (ONNX attribute, ONNX default)})
TABLE_OPS = {
    "Exp": ("exp", {}), "Log": ("log", {}), "Sqrt": ("sqrt", {}), "Reciprocal": ("reciprocal", {}),
    "Softplus": ("softplus", {}), "Erf": ("erf", {}), "Softsign": ("softsign", {}),
    "Elu": ("elu", {"alpha": ("alpha", 1.0)}), "Celu": ("celu", {"alpha": ("alpha", 1.0)}),
    "Selu": ("selu", {"alpha": ("alpha", 1.6732632423543772), "gamma": ("gamma", 1.0507009873554805)}),
}


def _table_node(name, x, out, fn, **params):
    return eq_node("LUT", name, [x], [out], func="grid", fn=fn, params={k: float(v) for k, v in params.items()})


def _pow_exponent(g, node):
    """The exponent of Pow when it is one non-integer constant, else None."""
    p = const(g, node.inputs[1]) if len(node.inputs) > 1 else None
    if p is None or np.size(p) != 1:
        return None
    p = float(np.ravel(p)[0])
    return None if p.is_integer() else p


@supports(Supports((*TABLE_OPS, "Gelu", "Div", "Pow"),
                   code(TABLE_OPS) + ", `Gelu` (erf or tanh form), `Div` by a tensor (× reciprocal table), "
                   "`Pow` with a non-integer constant exponent", "LUT grid",
                   "uniform table over the input's interval (≤ 4096 entries, saturating outside); its exact "
                   "worst-case error enters the self-check bound; poles (log/reciprocal/sqrt at 0 or below) refused"))
def lower_tables(g) -> bool:
    """One runtime input [..] -> LUT grid [..] of the same shape for the ops of TABLE_OPS, Gelu,
    non-integer Pow; Div(x, y) with runtime y -> Mul(x, LUT reciprocal(y))."""
    changed = False
    for node in list(g.nodes):
        if node.domain or not node.inputs:
            continue
        x = node.inputs[0]
        if node.op == "Div" and len(node.inputs) == 2 and const(g, node.inputs[1]) is None:
            y = node.inputs[1]
            r = g.fresh(node.name + "_reciprocal")
            g.shapes[r] = g.shapes[y]
            recip = _table_node(g.fresh(node.name + "_reciprocal"), y, r, "reciprocal")
            recip.attrs["origin"] = f"Div '{node.name}'"   # domain refusals name the model's node
            g.replace(node, [recip,
                             Node("Mul", node.name, [x, r], list(node.outputs), {}, domain="")])
            changed = True
            continue
        if const(g, x) is not None:
            continue
        if node.op in TABLE_OPS:
            fn, attrs = TABLE_OPS[node.op]
            params = {k: node.attrs.get(a, d) for k, (a, d) in attrs.items()}
        elif node.op == "Gelu":
            fn, params = ("gelu_tanh" if node.attrs.get("approximate", "none") == "tanh" else "gelu"), {}
        elif node.op == "Pow" and _pow_exponent(g, node) is not None:
            fn, params = "pow", {"p": _pow_exponent(g, node)}
        else:
            continue
        lut = _table_node(node.name, x, node.outputs[0], fn, **params)
        if "clamp" in node.attrs:       # set by a decomposition that knows the input's true range
            lut.attrs["clamp"] = list(node.attrs["clamp"])
        g.replace(node, [lut])
        changed = True
    return changed
