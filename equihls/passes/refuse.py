"""The refusal check: after all passes, every node must be an equihls block."""
from __future__ import annotations

from ..errors import UnsupportedNodeError
from ..ir.graph import DOMAIN
from .common import const

REASONS = {
    "Einsum": "equation '{equation}' is neither a scalar-product form (one tensor twice with a constant diagonal "
              "±1 metric) nor a bilinear form '<p>i,<p>j,ijk-><p>k' with a constant rank-3 coefficient tensor",
    "Log": "Log is supported only inside the psi pattern sgn(x)*log(1+|x|)",
    "Sign": "Sign is supported only inside the psi pattern sgn(x)*log(1+|x|)",
    "Abs": "Abs is supported only inside the psi pattern sgn(x)*log(1+|x|)",
}


def refuse_unlowered(g):
    """Raise UnsupportedNodeError for the first node no pass lowered (in graph order)."""
    for node in g.nodes:
        if node.is_equihls:
            continue
        if node.op == "MatMul" and all(const(g, t) is None for t in node.inputs):
            reason = "both inputs are runtime tensors and no equihls pattern matched"
        elif node.op in REASONS:
            reason = REASONS[node.op].format(**{k: v for k, v in node.attrs.items() if isinstance(v, str)})
        elif node.domain and node.domain != DOMAIN:
            reason = f"custom domain '{node.domain}' is not supported"
        else:
            partly = node.op in ("MatMul", "Gemm", "ReduceSum", "ReduceMean", "Div")   # lowered in some forms
            reason = f"no equihls lowering for op {node.op}" + (" with these inputs/attributes" if partly else "")
        raise UnsupportedNodeError(node, reason)
