"""Helpers shared by the passes: constants, axes, and new-node construction."""
from __future__ import annotations

import numpy as np

from ..ir import Node
from ..ir.graph import DOMAIN


def const(g, t):
    """The constant value of tensor t, or None if it is computed at run time."""
    return g.consts.get(t) if t else None


def producer_op(g, t, op):
    """The node producing t if it is a standard ONNX `op`, else None."""
    p = g.producer(t)
    return p if p is not None and p.domain == "" and p.op == op else None


def int_list(g, node, attr: str, input_index: int):
    """An integer-list parameter given as attribute (old opsets) or constant input (new opsets)."""
    if attr in node.attrs:
        v = node.attrs[attr]
        return [int(a) for a in (v if isinstance(v, (list, tuple)) else [v])]
    if len(node.inputs) > input_index and node.inputs[input_index]:
        c = const(g, node.inputs[input_index])
        if c is None:
            return "dynamic"
        return [int(a) for a in np.asarray(c).reshape(-1)]
    return None


def norm_axes(axes, rank):
    """Non-negative axes."""
    return sorted(a % rank for a in axes)


def eq_node(kind, name, inputs, outputs, **attrs):
    """A new equihls-domain node."""
    return Node(kind, name, list(inputs), list(outputs), dict(attrs), domain=DOMAIN)
