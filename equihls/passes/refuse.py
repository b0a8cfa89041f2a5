"""The refusal check: after all passes, every node must be an equihls block.

Every node left is reported in one UnsupportedNodeError (per op: count, first node, reason).
"""
from __future__ import annotations


from ..errors import UnsupportedNodeError
from ..ir.graph import DOMAIN
from .common import const
from .lower.einsum import matmul_refusal, refusal as einsum_refusal

REASONS = {
    "BatchNormalization": "only the inference form with constant scale, bias, mean and variance is lowered "
                          "(training mode uses the statistics of the batch)",
    "Cast": "only casts to a float type, to bool, or of a 0/1 mask to an integer type are lowered (a cast of a "
            "real value to an integer type truncates)",
}
# the op table's last row (report/op_table.py)
REFUSED = ("`Einsum` of more than 3 operands, `Einsum` or runtime×runtime `MatMul` over the size caps, `Pow` "
           "with a runtime exponent, `BatchNormalization` in training mode, a `Cast` of real values to an integer "
           "type, a table whose input interval is unbounded, anything else (one error names every node, grouped "
           "by op); a model that mixes events is refused by the per-event proof")


def _reason(g, node) -> str:
    """Why `node` is left."""
    if node.op == "MatMul" and all(const(g, t) is None for t in node.inputs):
        reason = matmul_refusal(g, node)
    elif node.op == "Einsum" and not node.domain:
        reason = einsum_refusal(g, node)
    elif node.op in REASONS:
        reason = REASONS[node.op].format(**{k: v for k, v in node.attrs.items() if isinstance(v, str)})
    elif node.domain and node.domain != DOMAIN:
        reason = f"custom domain '{node.domain}' is not supported"
    else:
        partly = node.op in ("MatMul", "Gemm", "ReduceSum", "ReduceMean", "Pow")   # lowered in some forms
        reason = f"no equihls lowering for op {node.op}" + (" with these inputs/attributes" if partly else "")
    return reason


def refuse_unlowered(g):
    """Raise one UnsupportedNodeError naming every node no pass lowered (grouped by op, graph order)."""
    refused = [(node, _reason(g, node)) for node in g.nodes if not node.is_equihls]
    if refused:
        raise UnsupportedNodeError.of_nodes(refused)
