"""Lowering of element-wise ops, reductions and data movement to equihls blocks.

Data movement (Reshape, Transpose, Slice, Gather, Expand, Concat, ...) is lowered generically:
the ONNX op is evaluated on an array of element indices, which yields the constant routing
table of the Route / Concat2 block. So every such op gets exactly ONNX's semantics.
"""
from __future__ import annotations

import numpy as np

from ...blocks.eltwise import broadcast_tables
from ...errors import UnsupportedNodeError
from ...frontend.onnx_import import _eval_node
from ...ir.fixedpoint import is_pow2
from ...ir.graph import OPSET
from ..common import const, eq_node, int_list, norm_axes
from ...ir.supports import Supports, code, supports

UNARY = {"Relu": ("Unary", {"op": "relu"}), "Neg": ("Unary", {"op": "neg"}),
         "Sigmoid": ("LUT", {"func": "sigmoid"}), "Tanh": ("LUT", {"func": "tanh"})}
BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Max": "max", "Min": "min"}
ROUTING = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Slice", "Gather", "Expand", "Tile",
           "Concat", "Split", "GatherND", "GatherElements", "ScatterND", "ScatterElements"}
# data inputs of the routing ops that take more than one (the others must be constant index inputs)
DATA_INPUTS = {"ScatterND": (0, 2), "ScatterElements": (0, 2)}
SHAPE_READERS = {"ScalarProducts"}   # blocks that take more than the size from their input's shape


def eltwise_node(g, name, inputs, out, op, pow2=False):
    """An Eltwise node with its broadcasting frozen into index tables from the current shapes."""
    ia, ib = broadcast_tables(g.shapes[inputs[0]], g.shapes[inputs[1]], g.shapes[out])
    return eq_node("Eltwise", name, inputs, [out], op=op, pow2=pow2, ia=ia, ib=ib)


def elide_identity_routes(g) -> bool:
    """Drop Route nodes that copy their input unchanged (Reshape/Unsqueeze in flat memory).

    A Route that writes a graph output is kept, so output names and shapes stay as in the model,
    and so is one that reshapes the input of a block reading its input's shape (ScalarProducts
    takes [N, D] from it; every other block works on flat sizes and index tables).
    """
    changed = False
    for node in list(g.nodes):
        if node.op != "Route" or not node.is_equihls or node.outputs[0] in g.outputs:
            continue
        if g.shapes[node.inputs[0]] != g.shapes[node.outputs[0]] and \
                any(c.op in SHAPE_READERS for c in g.consumers(node.outputs[0])):
            continue
        src = np.asarray(node.attrs["src"])
        if len(src) == g.size(node.inputs[0]) and np.array_equal(src, np.arange(len(src))):
            g.nodes.remove(node)
            g.rename_tensor(node.outputs[0], node.inputs[0])
            changed = True
    return changed


@supports(Supports(tuple(k for k, (b, _) in UNARY.items() if b == "Unary"),
                  code(k for k, (b, _) in UNARY.items() if b == "Unary"), "Unary", "exact"),
         Supports(tuple(k for k, (b, _) in UNARY.items() if b == "LUT"),
                  code(k for k, (b, _) in UNARY.items() if b == "LUT"), "LUT",
                  "uniform table on [-8,8) / [-4,4), saturating; error computed exactly"))
def lower_unary(g) -> bool:
    """Relu, Neg -> Unary; Sigmoid, Tanh -> LUT; a QONNX Quant (a Cast with fixed_type, see
    frontend) -> Unary cast whose output type is fixed by the model."""
    changed = False
    for node in list(g.nodes):
        if node.domain == "" and node.op == "Cast" and "fixed_type" in node.attrs:
            g.replace(node, [eq_node("Unary", node.name, node.inputs[:1], node.outputs, op="cast",
                                     fixed_type=node.attrs["fixed_type"])])
            changed = True
            continue
        if node.domain == "" and node.op in UNARY and const(g, node.inputs[0]) is None:
            op, attrs = UNARY[node.op]
            g.replace(node, [eq_node(op, node.name, node.inputs[:1], node.outputs, **attrs)])
            changed = True
    return changed


@supports(Supports((*BINARY, "Sum", "Div"), code((*BINARY, "Sum")) + " (broadcasting), `Div` by a constant",
                   "Eltwise",
                  "one side may be constant; ×2^k is exact; add/sub/max/min exact, mul rounds once"))
def lower_elementwise(g) -> bool:
    """Add/Sub/Mul/Max/Min (with broadcasting; one side may be constant) and Div by a constant."""
    changed = False
    for node in list(g.nodes):
        if node.domain:
            continue
        if node.op == "Div" and const(g, node.inputs[1]) is not None and const(g, node.inputs[0]) is None:
            c = np.asarray(const(g, node.inputs[1]), dtype=np.float64)
            if np.any(c == 0):
                raise UnsupportedNodeError(node, "division by a constant that contains zero")
            inv = g.add_const(node.name + "_reciprocal", 1.0 / c)
            g.replace(node, [eltwise_node(g, node.name, [node.inputs[0], inv], node.outputs[0], "mul",
                                          pow2=is_pow2(1.0 / c))])
            changed = True
        elif node.op in BINARY and len(node.inputs) == 2:
            if const(g, node.inputs[0]) is not None and const(g, node.inputs[1]) is not None:
                continue
            consts = [const(g, t) for t in node.inputs if const(g, t) is not None]
            g.replace(node, [eltwise_node(g, node.name, node.inputs, node.outputs[0], BINARY[node.op],
                                          pow2=bool(consts) and is_pow2(consts[0]))])
            changed = True
        elif node.op == "Sum" and len(node.inputs) >= 2:
            acc, new = node.inputs[0], []
            for k, t in enumerate(node.inputs[1:]):
                last = k == len(node.inputs) - 2
                out = node.outputs[0] if last else g.fresh(node.name + "_partial")
                if not last:
                    g.shapes[out] = tuple(np.broadcast_shapes(g.shapes[acc], g.shapes[t]))
                new.append(eltwise_node(g, node.name if last else g.fresh(node.name), [acc, t], out, "add"))
                acc = out
            g.replace(node, new)
            changed = True
    return changed


@supports(Supports(("ReduceSum", "ReduceMean"), "`ReduceSum`, `ReduceMean` (constant axes)",
                   "ReduceSum (+ Eltwise ×1/n)",
                  "exact sum pooling"))
def lower_reductions(g) -> bool:
    """ReduceSum / ReduceMean over constant axes -> ReduceSum (+ Mul by 1/n)."""
    changed = False
    for node in list(g.nodes):
        if node.domain or node.op not in ("ReduceSum", "ReduceMean"):
            continue
        shp = g.shapes[node.inputs[0]]
        axes = int_list(g, node, "axes", 1)
        if axes == "dynamic":
            continue
        if not axes:
            if node.attrs.get("noop_with_empty_axes", 0):
                continue
            axes = list(range(len(shp)))
        axes = norm_axes(axes, len(shp))   # axis 0 too: at batch 1 it is this event's (see verify/independence.py)
        keep = [a for a in range(len(shp)) if a not in axes]
        idx = np.arange(int(np.prod(shp))).reshape(shp).transpose(keep + axes)
        n_red = int(np.prod([shp[a] for a in axes]))
        src = idx.reshape(-1, n_red).reshape(-1)
        if node.op == "ReduceSum":
            g.replace(node, [eq_node("ReduceSum", node.name, node.inputs[:1], node.outputs, src=src, n_reduce=n_red)])
        else:
            tmp = g.fresh(node.name + "_sum")
            g.shapes[tmp] = g.shapes[node.outputs[0]]
            c = g.add_const(node.name + "_inv_n", np.array(1.0 / n_red))
            g.replace(node, [eq_node("ReduceSum", g.fresh(node.name + "_sum"), node.inputs[:1], [tmp], src=src,
                                     n_reduce=n_red),
                             eltwise_node(g, node.name, [tmp, c], node.outputs[0], "mul", pow2=is_pow2(1.0 / n_red))])
        changed = True
    return changed


@supports(Supports(tuple(sorted(ROUTING)), code(sorted(ROUTING)) + " (constant indices; scatters onto a runtime "
                   "tensor, reduction none)", "Route / Concat2",
                  "constant index tables computed by running the op on element indices"))
def lower_routing(g) -> bool:
    """Pure data-movement ops -> Route (one data input) or a chain of Concat2 (several)."""
    changed = False
    for node in list(g.nodes):
        if node.domain or node.op not in ROUTING:
            continue
        data_idx = list(range(len(node.inputs))) if node.op == "Concat" else list(DATA_INPUTS.get(node.op, (0,)))
        if node.attrs.get("reduction", "none") not in ("none", b"none"):
            continue   # a scatter that adds/multiplies is arithmetic, not data movement
        if any(not node.inputs[i] for i in data_idx) or \
                (node.op in DATA_INPUTS and all(const(g, node.inputs[i]) is not None for i in data_idx)) or \
                any(const(g, t) is None for k, t in enumerate(node.inputs) if k not in data_idx and t):
            continue
        sizes = [int(np.prod(g.shapes[node.inputs[i]])) for i in data_idx]
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        values = [np.asarray(const(g, t)) if t and k not in data_idx else None for k, t in enumerate(node.inputs)]
        for j, i in enumerate(data_idx):
            values[i] = (np.arange(sizes[j], dtype=np.int64) + offsets[j]).reshape(g.shapes[node.inputs[i]])
        outs = _eval_node_proto(node, values, g.opset)
        new = []
        for out_name, table in zip(node.outputs, outs):
            src = np.asarray(table, dtype=np.int64).reshape(-1)
            if len(data_idx) == 1:
                new.append(eq_node("Route", node.name if len(node.outputs) == 1 else g.fresh(node.name),
                                   [node.inputs[0]], [out_name], src=src))
                continue
            acc = node.inputs[data_idx[0]]
            for j, i in enumerate(data_idx[1:], start=1):
                last = j == len(data_idx) - 1
                out = out_name if last else g.fresh(node.name + "_cat")
                if not last:
                    g.shapes[out] = (1, int(offsets[j + 1]))
                s = src if last else np.arange(offsets[j + 1])
                new.append(eq_node("Concat2", node.name if last else g.fresh(node.name), [acc, node.inputs[i]], [out],
                                   src=s))
                acc = out
        g.replace(node, new)
        changed = True
    return changed


def _eval_node_proto(node, values, opset: int = OPSET):
    """Evaluate an IR node (standard ONNX op) on numpy values with the ONNX reference evaluator."""
    from onnx import helper

    proto = helper.make_node(node.op, [f"x{k}" if t else "" for k, t in enumerate(node.inputs)],
                             [f"y{k}" for k in range(len(node.outputs))], **node.attrs)
    proto.input[:] = [f"x{k}" if t else "" for k, t in enumerate(node.inputs)]
    return _eval_node(proto, values, opset)
