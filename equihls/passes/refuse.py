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
    "BatchNormalization": "only the inference form with constant scale, bias, mean and variance is lowered "
                          "(training mode uses the statistics of the batch)",
    "Cast": "only casts to a float type, to bool, or of a 0/1 mask to an integer type are lowered (a cast of a "
            "real value to an integer type truncates)",
}
# the op table's last row (report/op_table.py)
REFUSED = ("variable×variable `MatMul` that is not a Gram matrix, `Einsum` of more than 3 operands or over the "
           "size caps, `Log` outside ψ, `Exp`, `Div` by a tensor, `BatchNormalization` in training mode, a `Cast` "
           "of real values to an integer type, anything else (one error names every node, grouped by op); a model "
           "that mixes events is refused by the per-event proof")
NO_TABLE = "no table lowering yet: tables exist for sigmoid, tanh and psi only"


def _is_one_plus(g, t: str) -> bool:
    """Whether tensor t is 1 + x: an Add (or the Eltwise add it was lowered to) with a constant 1."""
    add = g.producer(t)
    if add is None or not ((add.domain == "" and add.op == "Add")
                           or (add.is_equihls and add.op == "Eltwise" and add.attrs.get("op") == "add")):
        return False
    return any(c is not None and np.all(np.asarray(c) == 1.0) for c in (const(g, i) for i in add.inputs))


def _hint(g, node) -> str | None:
    """A rewrite this compiler does lower, for the forms where one is known (only true ones)."""
    if node.op == "Log" and _is_one_plus(g, node.inputs[0]):
        return "log1p: only the psi pattern sgn(x)*log(1+|x|) is lowered (for x >= 0 it equals log(1+x))"
    if node.op in ("Exp", "Softmax"):
        return NO_TABLE
    if node.op == "Div":
        return "only division by a constant is lowered"
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
