"""Serialise the typed equihls IR into an ONNX graph of equihls-domain nodes for hls4ml.

Every name is made a C identifier (hls4ml turns input names into C variables). Constant operands
travel as node attributes (not initializers, which hls4ml would turn into Constant layers).
"""
from __future__ import annotations

import re

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..blocks import block_for
from ..blocks.base import per_event
from ..ir.graph import DOMAIN, DOMAIN_VERSION, OPSET
from .extension import HLS_OP_PREFIX

RESERVED = {"input", "output", "config", "nnet", "equihls"}


def c_names(names) -> dict:
    """Map arbitrary names to unique, readable C identifiers (deterministic)."""
    out, used = {}, set()
    for n in names:
        s = re.sub(r"[^A-Za-z0-9_]", "_", n).strip("_") or "t"
        if s[0].isdigit() or s in RESERVED:
            s = "t_" + s
        base, k = s, 1
        while s in used:
            k += 1
            s = f"{base}_{k}"
        used.add(s)
        out[n] = s
    return out


def block_context(prec, node) -> dict:
    """What a block's cpp_config reads: the accumulator and port types (C++ spellings), every
    tensor's FixedType and the constants' raw ints as the precision pass quantised them."""
    ctx = {"accum_t": prec.acc[node.name].cpp(), "types": prec.types, "qconst": prec.qconst,
           "out_t_cpp": prec.types[node.outputs[0]].cpp()}
    for k, t in enumerate(node.inputs):
        ctx[f"in{k}_t"] = prec.types[t].cpp()
    return ctx


def emit(g, prec) -> onnx.ModelProto:
    """The ONNX equihls graph handed to hls4ml (see module doc)."""
    runtime = list(g.inputs) + [o for n in g.nodes for o in n.outputs]
    tn = c_names(runtime)
    nn = c_names([n.name for n in g.nodes])
    nodes, vinfo = [], []
    for index, node in enumerate(g.nodes):
        blk = block_for(node)
        out = node.outputs[0]
        # w: weight array in the firmware; c: constant baked into the block's config tables; r: runtime
        weights = set(blk.weight_inputs(g, node))
        kinds = "".join(("w" if t in weights else "c") if g.is_const(t) else "r" for t in node.inputs)
        ctx = block_context(prec, node)
        attrs = {
            "out_shape": [int(s) for s in per_event(g.shapes[out])] or [1],
            "out_type": prec.types[out].cpp(),
            "operand_kinds": kinds,
            "weight_slots": [k for k, c in enumerate(kinds) if c == "w"],
            # trace_id: this block's counters in a traced C-simulation (index into manifest "nodes")
            # trace_clip: a quantiser of the model clips here by definition (not an overflow event)
            "cpp_config": blk.cpp_config(g, node, ctx) + f"    static const unsigned trace_id = {index};\n"
                          f"    static const bool trace_clip = {'true' if out in prec.quantized else 'false'};\n",
            "cpp_call": blk.cpp_call(g, node, ctx),
            "header": blk.header,
        }
        for k, t in enumerate(node.inputs):
            if t in weights:
                ty = prec.types[t]
                vals = ty.to_float(np.asarray(prec.qconst[t]).reshape(-1)).astype(np.float64)
                attrs[f"w{k}_data"] = numpy_helper.from_array(vals, name=f"w{k}")
                attrs[f"w{k}_type"] = ty.cpp()
        proto = helper.make_node(HLS_OP_PREFIX + node.op, [tn[t] for t in node.inputs if not g.is_const(t)],
                                 [tn[out]], name=nn[node.name], domain=DOMAIN)
        for k in sorted(attrs):
            v = attrs[k]
            proto.attribute.append(helper.make_attribute(k, v, attr_type=onnx.AttributeProto.INTS)
                                   if isinstance(v, list) and not v else helper.make_attribute(k, v))
        nodes.append(proto)
        vinfo.append(helper.make_tensor_value_info(tn[out], TensorProto.FLOAT, list(g.shapes[out])))
    inputs = [helper.make_tensor_value_info(tn[i], TensorProto.FLOAT, list(g.shapes[i])) for i in g.inputs]
    outputs = [helper.make_tensor_value_info(tn[o], TensorProto.FLOAT, list(g.shapes[o])) for o in g.outputs]
    graph = helper.make_graph(nodes, g.name, inputs, outputs, value_info=vinfo)
    opsets = [helper.make_opsetid("", OPSET), helper.make_opsetid(DOMAIN, DOMAIN_VERSION)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name=DOMAIN)
    model.ir_version = 8
    return model, tn
