"""Frontend: read and validate an ONNX file, fix the batch axis to 1, infer shapes, fold every
subgraph that only computes constants, drop Identity/Dropout, undo the flattening around a
constant MatMul that TensorFlow's tensordot writes, and build the equihls IR.

The batch axis is fixed to 1 so that shape arithmetic (Shape -> Gather -> Concat -> Reshape
chains written by exporters for dynamic batch) folds to constants.
"""
from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

from . import quant, source
from .errors import ModelError
from .ir import Graph, Node

# Ops that carry no computation in inference.
PASSTHROUGH_OPS = {"Identity", "Dropout"}
EQUIHLS_DOMAIN = "equihls"


def load_onnx(path: str) -> onnx.ModelProto:
    """Read `path` with its external data files (source.read_model: the tensors of torch's dynamo
    export live in `model.onnx.data`) and run the ONNX checker. Raises ModelError naming the file
    (or the missing data file) and the problem."""
    model = source.read_model(path)
    if not model.graph.node:
        raise ModelError(f"{path}: the ONNX graph has no nodes")
    try:
        onnx.checker.check_model(model)
    except Exception as e:
        raise ModelError(f"{path}: invalid ONNX model: {e}") from None
    return model


sha256_file = source.sha256_file     # kept here for existing callers


def _fix_batch(model: onnx.ModelProto, batch: int = 1) -> onnx.ModelProto:
    """Copy of `model` whose runtime inputs have dim 0 = batch and no stale inferred shapes."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    init = {i.name for i in m.graph.initializer}
    for inp in m.graph.input:
        if inp.name in init:
            continue
        dims = inp.type.tensor_type.shape.dim
        if len(dims) == 0:
            raise ModelError(f"input '{inp.name}' has no shape; equihls needs [batch, ...] inputs")
        dims[0].Clear()
        dims[0].dim_value = batch
        for i, d in enumerate(dims[1:], start=1):
            if not d.HasField("dim_value"):
                raise ModelError(
                    f"input '{inp.name}' axis {i} is dynamic ('{d.dim_param}'); only the batch axis may be"
                )
    del m.graph.value_info[:]
    for out in m.graph.output:
        out.type.tensor_type.ClearField("shape")
    return m


def _const_of(node: onnx.NodeProto) -> np.ndarray:
    """Value of a Constant node."""
    for a in node.attribute:
        if a.name == "value":
            return numpy_helper.to_array(a.t)
        if a.name == "value_float":
            return np.array(a.f, dtype=np.float32)
        if a.name == "value_floats":
            return np.array(list(a.floats), dtype=np.float32)
        if a.name == "value_int":
            return np.array(a.i, dtype=np.int64)
        if a.name == "value_ints":
            return np.array(list(a.ints), dtype=np.int64)
    raise ModelError(f"Constant '{node.name}': unsupported value attribute")


def _eval_node(node: onnx.NodeProto, values: list, opset: int):
    """Evaluate one standard ONNX node on numpy inputs with the ONNX reference evaluator."""
    from onnx.reference import ReferenceEvaluator

    ins = [f"i{k}" for k in range(len(node.input))]
    n = helper.make_node(node.op_type, [i if name else "" for i, name in zip(ins, node.input)],
                         [f"o{k}" for k in range(len(node.output))], domain=node.domain)
    n.attribute.extend(node.attribute)
    feeds = {i: v for i, v, name in zip(ins, values, node.input) if name}
    graph = helper.make_graph(
        [n], "fold",
        [helper.make_tensor_value_info(i, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape) for i, v in feeds.items()],
        [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in n.output],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return ReferenceEvaluator(model).run(None, feeds)


def _shapes(model: onnx.ModelProto) -> dict:
    out = {}
    for vi in list(model.graph.input) + list(model.graph.value_info) + list(model.graph.output):
        t = vi.type.tensor_type
        if t.HasField("shape"):
            out[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)
    return out


def _infer(model: onnx.ModelProto, path: str) -> onnx.ModelProto:
    try:
        return shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except Exception as e:
        raise ModelError(f"{path}: ONNX shape inference failed: {e}") from None


def fold_constants(model: onnx.ModelProto, path: str = "<model>") -> tuple[onnx.ModelProto, dict]:
    """Evaluate every node whose inputs are all constant (and every Shape of a static tensor).

    Returns (model with those nodes removed, dict name -> numpy constant).
    """
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
    consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    shapes = _shapes(model)
    keep = []
    for node in model.graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            consts[node.output[0]] = _const_of(node)
            continue
        if node.op_type == "Shape" and node.domain in ("", "ai.onnx"):
            shp = shapes.get(node.input[0])
            if shp is not None and None not in shp:
                start = next((a.i for a in node.attribute if a.name == "start"), 0)
                end = next((a.i for a in node.attribute if a.name == "end"), None)
                consts[node.output[0]] = np.array(shp[start:end], dtype=np.int64)
                continue
        if quant.is_quant(node.op_type, node.domain) and all(i in consts for i in node.input):
            consts[node.output[0]] = quant.evaluate(*(consts[i] for i in node.input), **quant.attributes(node))
            continue
        if node.domain in ("", "ai.onnx") and all((not i) or i in consts for i in node.input) and node.op_type not in PASSTHROUGH_OPS:
            try:
                outs = _eval_node(node, [consts[i] if i else None for i in node.input], opset)
            except Exception as e:
                raise ModelError(f"{node.op_type} '{node.name}': constant folding failed: {e}") from None
            for name, val in zip(node.output, outs):
                consts[name] = np.asarray(val)
            continue
        keep.append(node)
    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.graph.node[:]
    m.graph.node.extend(keep)
    del m.graph.initializer[:]
    used = {i for n in keep for i in n.input} | {o.name for o in m.graph.output}
    m.graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in consts.items() if k in used)
    graph_inputs = [i for i in m.graph.input if i.name not in consts]
    del m.graph.input[:]
    m.graph.input.extend(graph_inputs)
    return m, {k: v for k, v in consts.items() if k in used}


def _drop_passthrough(model: onnx.ModelProto) -> onnx.ModelProto:
    """Remove Identity/Dropout nodes, rewiring readers (graph outputs keep their names)."""
    outputs = {o.name for o in model.graph.output}
    alias = {}
    keep = []
    for n in model.graph.node:
        if n.op_type in PASSTHROUGH_OPS and n.domain in ("", "ai.onnx"):
            src = alias.get(n.input[0], n.input[0])
            if n.output[0] in outputs:
                # keep the output name: rename the producer's output instead
                for k in keep:
                    for j, o in enumerate(k.output):
                        if o == src:
                            k.output[j] = n.output[0]
                alias[src] = n.output[0]
                for k in keep:
                    for j, i in enumerate(k.input):
                        if i == src:
                            k.input[j] = n.output[0]
            else:
                alias[n.output[0]] = src
            continue
        for j, i in enumerate(n.input):
            n.input[j] = alias.get(i, i)
        keep.append(n)
    del model.graph.node[:]
    model.graph.node.extend(keep)
    return model


def _unflatten_tensordot(model: onnx.ModelProto, shapes: dict) -> onnx.ModelProto:
    """Rewrite Reshape -> MatMul(constant W) -> Reshape into one MatMul on the unflattened tensor.

    Keras's Dense on a tensor of rank >= 3 (TensorFlow's tensordot, as tf2onnx exports it)
    flattens x [batch, d1, ..., dk, K] to [batch*d1*...*dk, K], multiplies by W [K, H] and
    reshapes to [batch, d1, ..., dk, H]. The flat tensor has no batch axis, which equihls refuses;
    MatMul(x, W) computes the same numbers (ONNX MatMul broadcasts over the leading axes), so the
    three nodes become one MatMul that keeps the MatMul's name. Only applied when the shapes
    (batch fixed to 1) prove exactly that round trip and the flat tensors have no other reader.
    """
    init = {i.name: i for i in model.graph.initializer}
    nodes = list(model.graph.node)
    readers, producer = {}, {}
    for k, n in enumerate(nodes):
        for i in n.input:
            readers.setdefault(i, []).append(k)
        for o in n.output:
            producer[o] = k
    outputs = {o.name for o in model.graph.output}
    drop, gone = set(), set()   # node indices, tensor names
    for mm in nodes:
        if mm.op_type != "MatMul" or mm.domain not in ("", "ai.onnx") or mm.input[1] not in init:
            continue
        w_shape = tuple(init[mm.input[1]].dims)
        flat, after = mm.input[0], readers.get(mm.output[0], [])
        k1 = producer.get(flat)
        if len(w_shape) != 2 or k1 is None or nodes[k1].op_type != "Reshape" or len(after) != 1:
            continue
        r1, r2 = nodes[k1], nodes[after[0]]
        if r2.op_type != "Reshape" or r2.input[0] != mm.output[0]:
            continue
        x = r1.input[0]
        sx, sf, sy = shapes.get(x), shapes.get(flat), shapes.get(r2.output[0])
        if sx is None or sf is None or sy is None or None in sx or len(sx) < 3:
            continue
        lead, k, h = tuple(sx[:-1]), sx[-1], w_shape[1]
        if sf != (int(np.prod(lead)), k) or w_shape[0] != k or sy != lead + (h,):
            continue
        if len(readers.get(flat, [])) != 1 or flat in outputs or mm.output[0] in outputs:
            continue
        gone.update((flat, mm.output[0]))
        mm.input[0] = x
        mm.output[0] = r2.output[0]
        drop.update((k1, after[0]))
    if drop:
        del model.graph.node[:]
        model.graph.node.extend(n for k, n in enumerate(nodes) if k not in drop)
        keep_vi = [vi for vi in model.graph.value_info if vi.name not in gone]
        del model.graph.value_info[:]
        model.graph.value_info.extend(keep_vi)
    return model


def _equihls_shapes(model: onnx.ModelProto, shapes: dict):
    """Shapes of outputs of equihls custom-domain nodes that ONNX inference could not infer."""
    for n in model.graph.node:
        if n.domain == EQUIHLS_DOMAIN and n.op_type == "ScalarProducts":
            s = shapes.get(n.input[0])
            if s is not None and len(s) == 3:
                shapes.setdefault(n.output[0], (s[0], s[1], s[1]))
    return shapes


def _quant_to_casts(model: onnx.ModelProto, path: str) -> tuple[onnx.ModelProto, dict]:
    """Replace every QONNX Quant node on a run-time tensor by a float Cast (so ONNX shape
    inference goes through) and return {output: (FixedType, node name)}: its ap_fixed type.
    Quant nodes on constants stay (constant folding evaluates them). A quantiser without an
    ap_fixed equivalent is refused, naming the node."""
    consts = {i.name for i in model.graph.initializer} | {o for n in model.graph.node
                                                           if n.op_type == "Constant" for o in n.output}
    values = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    values.update({n.output[0]: _const_of(n) for n in model.graph.node if n.op_type == "Constant"})
    types = {}
    for k, n in enumerate(model.graph.node):
        if not quant.is_quant(n.op_type, n.domain) or n.input[0] in consts:
            continue
        name = n.name or f"Quant_{k}"
        if any(i not in values for i in n.input[1:4]):
            raise ModelError(f"{path}: Quant '{name}': scale, zero point and bit width must be constants")
        t, why = quant.fixed_type(*(values[i] for i in n.input[1:4]), **quant.attributes(n))
        if t is None:
            raise ModelError(f"{path}: Quant '{name}': {why}")
        types[n.output[0]] = (t, name)
        cast = helper.make_node("Cast", [n.input[0]], list(n.output), name=name, to=onnx.TensorProto.FLOAT)
        n.CopyFrom(cast)
    return model, types


def onnx_to_ir(model: onnx.ModelProto, path: str = "<model>") -> Graph:
    """Full frontend: batch fixing, inference, folding (to a fixed point), IR construction."""
    model = _fix_batch(model)
    model, quant_types = _quant_to_casts(model, path)
    model = _drop_passthrough(model)
    consts = {}
    for _ in range(8):  # folding can expose new static shapes; iterate to a fixed point
        model = _infer(model, path)
        n_before = len(model.graph.node)
        model, consts = fold_constants(model, path)
        if len(model.graph.node) == n_before:
            break
    model = _infer(model, path)
    if any(n.op_type == "MatMul" for n in model.graph.node):
        model = _infer(_unflatten_tensordot(model, _shapes(model)), path)
    shapes = _equihls_shapes(model, _shapes(model))

    nodes = []
    for k, n in enumerate(model.graph.node):
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        attrs = {a: (v.decode() if isinstance(v, bytes) else v) for a, v in attrs.items()}
        name = n.name or f"{n.op_type}_{k}"
        dom = EQUIHLS_DOMAIN if n.domain == EQUIHLS_DOMAIN else ("" if n.domain in ("", "ai.onnx") else n.domain)
        if n.output and n.output[0] in quant_types:
            attrs["fixed_type"] = quant_types[n.output[0]][0].cpp()   # this Cast is a QONNX Quant
        nodes.append(Node(n.op_type, name, list(n.input), list(n.output), attrs, dom))
    names = [n.name for n in nodes]
    for i, n in enumerate(nodes):  # make node names unique
        if names.count(n.name) > 1:
            n.name = f"{n.name}_{i}"

    ir_shapes = {}
    for n in nodes:
        for t in list(n.inputs) + list(n.outputs):
            if not t or t in consts:
                continue
            s = shapes.get(t)
            if s is None or None in s:
                raise ModelError(f"{path}: tensor '{t}' (at {n.op} '{n.name}') has no static shape after inference")
            if len(s) == 0 or s[0] != 1:
                raise ModelError(
                    f"{path}: tensor '{t}' (at {n.op} '{n.name}') has shape {list(s)} whose first axis is not the "
                    "batch axis; equihls needs every runtime tensor to keep the batch axis first"
                )
            ir_shapes[t] = tuple(int(d) for d in s)
    for c, v in consts.items():
        ir_shapes[c] = tuple(v.shape)
    inputs = [i.name for i in model.graph.input if i.name not in consts]
    for i in inputs:
        ir_shapes.setdefault(i, shapes[i])
    outputs = [o.name for o in model.graph.output]
    for o in outputs:
        if o in consts:
            raise ModelError(f"{path}: output '{o}' is a constant; nothing to compile")
    consts = {k: (v.astype(np.float64) if v.dtype.kind == "f" else v) for k, v in consts.items()}
    g = Graph(nodes, ir_shapes, consts, inputs, outputs, name=model.graph.name or "model")
    for i in inputs:
        dt = next(x for x in model.graph.input if x.name == i).type.tensor_type.elem_type
        if dt not in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16):
            raise ModelError(f"{path}: input '{i}' has element type {onnx.TensorProto.DataType.Name(dt)}; equihls needs float inputs")
    return g


def load(path: str) -> tuple[Graph, onnx.ModelProto]:
    """Read `path` and return (IR graph, original ModelProto)."""
    model = load_onnx(path)
    return onnx_to_ir(model, path), model
