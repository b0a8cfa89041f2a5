"""Lowering of the exact non-linear standard ops to equihls blocks (no tables):

    Abs, Sign                                   -> Unary abs / sign
    Greater, GreaterOrEqual, Less, LessOrEqual,
    Equal, Not, Cast to bool                    -> Eltwise gt/ge/lt/le/eq/ne (0/1 results)
    Where(cond, a, b)                           -> Select
    ReduceMax, ReduceMin (constant axes)        -> ReduceMax / ReduceMin
    Cast to a float type, or of a 0/1 mask      -> identity Route

Masks are 0/1 numbers in the IR (no bool dtype): a comparison's output, Cast(bool) of it and
Where's condition all hold 0 or 1.
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto

from ...blocks.select import broadcast_tables3
from ...ir.supports import Supports, code, supports
from ..common import const, eq_node, int_list, norm_axes
from .ops import eltwise_node

COMPARE = {"Greater": "gt", "GreaterOrEqual": "ge", "Less": "lt", "LessOrEqual": "le", "Equal": "eq"}
FLOAT_TYPES = {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16}
INT_TYPES = {TensorProto.INT8, TensorProto.INT16, TensorProto.INT32, TensorProto.INT64, TensorProto.UINT8,
             TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64}
MASK_OPS = {"gt", "ge", "lt", "le", "eq", "ne"}


def is_mask(g, t: str) -> bool:
    """Whether tensor t holds only 0 and 1: a comparison (lowered or not), Not, a Cast of a mask,
    or a constant of zeros and ones."""
    c = const(g, t)
    if c is not None:
        return bool(np.all((np.asarray(c) == 0) | (np.asarray(c) == 1)))
    p = g.producer(t)
    if p is None:
        return False
    if p.is_equihls:
        if p.op == "Eltwise" and p.attrs.get("op") in MASK_OPS:
            return True
        return p.op == "Route" and is_mask(g, p.inputs[0])
    if p.op in COMPARE or p.op in ("Not", "And", "Or", "Xor"):
        return True
    return p.op == "Cast" and (p.attrs.get("to") == TensorProto.BOOL or is_mask(g, p.inputs[0]))


def identity_route(g, name, src, out):
    """A Route copying `src` to `out` unchanged (elided later unless it writes a graph output)."""
    return eq_node("Route", name, [src], [out], src=np.arange(g.size(src), dtype=np.int64))


def _zero(g, node):
    return g.add_const(node.name + "_zero", np.array(0.0))


def _lower(g, node):
    """The equihls nodes replacing `node`, or None to leave it."""
    ins, out = node.inputs, node.outputs[0]
    runtime = [t for t in ins if t and const(g, t) is None]
    if not runtime:
        return None   # constant folding's business
    if node.op in ("Abs", "Sign"):
        return [eq_node("Unary", node.name, ins[:1], [out], op=node.op.lower())]
    if node.op in COMPARE:
        return [eltwise_node(g, node.name, ins[:2], out, COMPARE[node.op])]
    if node.op == "Not":
        return [eltwise_node(g, node.name, [ins[0], _zero(g, node)], out, "eq")]
    if node.op == "Where":
        ic, ia, ib = broadcast_tables3([g.shapes[t] for t in ins], g.shapes[out])
        return [eq_node("Select", node.name, ins, [out], ic=ic, ia=ia, ib=ib)]
    if node.op == "Cast" and "fixed_type" not in node.attrs:
        to = node.attrs.get("to")
        if to == TensorProto.BOOL:
            return [eltwise_node(g, node.name, [ins[0], _zero(g, node)], out, "ne")]
        if to in FLOAT_TYPES or (to in INT_TYPES and is_mask(g, ins[0])):
            return [identity_route(g, node.name, ins[0], out)]
        return None
    if node.op in ("ReduceMax", "ReduceMin"):
        shp = g.shapes[ins[0]]
        axes = int_list(g, node, "axes", 1)
        if axes == "dynamic":
            return None
        if not axes:
            if node.attrs.get("noop_with_empty_axes", 0):
                return [identity_route(g, node.name, ins[0], out)]
            axes = list(range(len(shp)))
        axes = norm_axes(axes, len(shp))
        keep = [a for a in range(len(shp)) if a not in axes]
        idx = np.arange(int(np.prod(shp))).reshape(shp).transpose(keep + axes)
        n_red = int(np.prod([shp[a] for a in axes]))
        return [eq_node(node.op, node.name, ins[:1], [out], src=idx.reshape(-1), n_reduce=n_red)]
    return None


@supports(Supports(("Abs", "Sign"), "`Abs`, `Sign` (outside ψ too)", "Unary abs / sign",
                   "exact: abs +1 integer bit, sign −1/0/1 without fractional bits"),
          Supports((*COMPARE, "Not"), code((*COMPARE, "Not")) + " (a tensor or a constant operand), `Cast` to bool",
                   "Eltwise gt/ge/lt/le/eq/ne", "exact 0/1 masks"),
          Supports(("Cast",), "`Cast` to a float type, or of a 0/1 mask to an integer type", "Route (a copy)",
                   "exact; a cast of real values to an integer type (truncation) is refused"),
          Supports(("Where",), "`Where(cond, a, b)`", "Select", "exact; any operand may be constant"),
          Supports(("ReduceMax", "ReduceMin"), "`ReduceMax`, `ReduceMin` (constant axes, attribute or input)",
                   "ReduceMax / ReduceMin", "exact, no bit growth"))
def lower_exact(g) -> bool:
    """Abs/Sign, comparisons, Not, Where, ReduceMax/ReduceMin and mask/float Casts -> exact blocks
    (see module doc)."""
    changed = False
    for node in list(g.nodes):
        if node.domain:
            continue
        new = _lower(g, node)
        if new is not None:
            g.replace(node, new)
            changed = True
    return changed
