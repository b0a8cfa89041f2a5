"""The refusal check: after all passes, every node must be an equihls block.

Every node left is reported in one UnsupportedNodeError (per op: count, first node, reason), with
a hint where this compiler lowers an equivalent form the user can write instead.
"""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedNodeError
from ..ir.graph import DOMAIN
from .common import const
from .lower.einsum import refusal as einsum_refusal

REASONS = {
    "Log": "Log is supported only inside the psi pattern sgn(x)*log(1+|x|)",
    "Sign": "Sign is supported only inside the psi pattern sgn(x)*log(1+|x|)",
    "Abs": "Abs is supported only inside the psi pattern sgn(x)*log(1+|x|)",
}
# the op table's last row (report/op_table.py)
REFUSED = ("variable×variable `MatMul` that is not a Gram matrix, `Einsum` of more than 3 operands or over the "
           "size caps, `Log`/`Sign`/`Abs` outside ψ, `Exp`, `Softmax`, `Div` by a tensor, anything else (one error "
           "names every node, grouped by op); a model that mixes events is refused by the per-event proof")
NO_TABLE = "no table lowering yet: tables exist for sigmoid, tanh and psi only"


def _scalar(g, node, attr: str, index: int):
    """A scalar parameter given as attribute (old opsets) or constant input (new opsets): its value,
    None when absent, 'dynamic' when computed at run time."""
    if attr in node.attrs:
        return float(node.attrs[attr])
    if len(node.inputs) > index and node.inputs[index]:
        c = const(g, node.inputs[index])
        return "dynamic" if c is None or np.size(c) != 1 else float(np.asarray(c).reshape(-1)[0])
    return None


def _is_one_plus(g, t: str) -> bool:
    """Whether tensor t is 1 + x: an Add (or the Eltwise add it was lowered to) with a constant 1."""
    add = g.producer(t)
    if add is None or not ((add.domain == "" and add.op == "Add")
                           or (add.is_equihls and add.op == "Eltwise" and add.attrs.get("op") == "add")):
        return False
    return any(c is not None and np.all(np.asarray(c) == 1.0) for c in (const(g, i) for i in add.inputs))


def _hint(g, node) -> str | None:
    """A rewrite this compiler does lower, for the forms where one is known (only true ones)."""
    if node.op == "Clip":
        lo, hi = _scalar(g, node, "min", 1), _scalar(g, node, "max", 2)
        if lo == 0 and hi is None:
            return "write relu (torch.relu / clamp(min=0) is exported as Clip)"
        if "dynamic" not in (lo, hi) and (lo, hi) != (None, None):
            return "write max(x, lo) / min(x, hi) with constants (torch.maximum/minimum: Max/Min are lowered)"
    if node.op == "Log" and _is_one_plus(g, node.inputs[0]):
        return "log1p: only the psi pattern sgn(x)*log(1+|x|) is lowered (for x >= 0 it equals log(1+x))"
    if node.op in ("Exp", "Softmax"):
        return NO_TABLE
    if node.op == "Div":
        return "only division by a constant is lowered"
    if node.op == "Pow":
        e = const(g, node.inputs[1]) if len(node.inputs) > 1 else None
        if e is not None and np.size(e) == 1 and float(np.ravel(e)[0]).is_integer() and np.ravel(e)[0] >= 2:
            return "write the power as a product x*x*... (Mul of runtime tensors is lowered exactly)"
    if node.op == "LeakyRelu" and 0 <= node.attrs.get("alpha", 0.01) <= 1:
        return "write max(x, alpha*x) (torch.maximum: Max and Mul by a constant are lowered)"
    return None


def _reason(g, node) -> str:
    """Why `node` is left, with a hint where one is known."""
    if node.op == "MatMul" and all(const(g, t) is None for t in node.inputs):
        reason = "both inputs are runtime tensors and no equihls pattern matched"
    elif node.op == "Einsum" and not node.domain:
        reason = einsum_refusal(g, node)
    elif node.op in REASONS:
        reason = REASONS[node.op].format(**{k: v for k, v in node.attrs.items() if isinstance(v, str)})
    elif node.domain and node.domain != DOMAIN:
        reason = f"custom domain '{node.domain}' is not supported"
    else:
        partly = node.op in ("MatMul", "Gemm", "ReduceSum", "ReduceMean", "Div")   # lowered in some forms
        reason = f"no equihls lowering for op {node.op}" + (" with these inputs/attributes" if partly else "")
    hint = _hint(g, node) if not node.domain else None
    return f"{reason}; {hint}" if hint else reason


def refuse_unlowered(g):
    """Raise one UnsupportedNodeError naming every node no pass lowered (grouped by op, graph order)."""
    refused = [(node, _reason(g, node)) for node in g.nodes if not node.is_equihls]
    if refused:
        raise UnsupportedNodeError.of_nodes(refused)
