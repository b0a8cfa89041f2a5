"""Frontend: read and validate an ONNX file, fix the batch axis to 1, infer shapes, fold every
subgraph that only computes constants, drop Identity/Dropout, undo the flattening around a
constant MatMul that TensorFlow's tensordot writes, and build the equihls IR.

The batch axis is fixed to 1 so that shape arithmetic (Shape -> Gather -> Concat -> Reshape
chains written by exporters for dynamic batch) folds to constants.

Each step is a pass on an OnnxState (`pass_(state) -> bool`, True when it changed the model;
checks and analyses return None); passes/pipeline.py lists them in the order they run.
"""
from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

from . import qonnx_quant as quant, source
from ..errors import ModelError
from ..ir import Graph, Node
from ..ir.graph import DOMAIN
from ..ir.supports import Supports, code, supports

# Ops that carry no computation in inference.
PASSTHROUGH_OPS = {"Identity", "Dropout"}
# newest default-domain opset of ONNX Runtime 1.31 (requirements.txt), which runs the reference
MAX_ORT_OPSET = 26


@dataclasses.dataclass
class OnnxState:
    """The subject of the frontend passes: the model being rewritten and what they found.

    quant_types: run-time Quant output -> (FixedType, node name), from quant_to_casts.
    consts: tensor -> numpy value of every constant (initializers and folded tensors).
    shapes: tensor -> shape tuple (None for an unknown axis), batch axis fixed to 1.
    nodes, ir_shapes: the IR nodes and their tensors' shapes (import).
    """

    model: onnx.ModelProto
    path: str = "<model>"
    quant_types: dict = dataclasses.field(default_factory=dict)
    consts: dict = dataclasses.field(default_factory=dict)
    shapes: dict = dataclasses.field(default_factory=dict)
    nodes: list = dataclasses.field(default_factory=list)
    ir_shapes: dict = dataclasses.field(default_factory=dict)


def load_onnx(path: str) -> onnx.ModelProto:
    """Read `path` with its external data files (source.read_model: the tensors of torch's dynamo
    export live in `model.onnx.data`) and run the ONNX checker. Raises ModelError naming the file
    (or the missing data file) and the problem."""
    model = source.read_model(path)
    check_onnx(OnnxState(model, path))
    return model


def check_onnx(st: OnnxState):
    """Check: the graph has nodes, passes the ONNX checker and uses a known default-domain opset."""
    model, path = st.model, st.path
    if not model.graph.node:
        raise ModelError(f"{path}: the ONNX graph has no nodes")
    try:
        onnx.checker.check_model(model)
    except Exception as e:
        raise ModelError(f"{path}: invalid ONNX model: {e}") from None
    _check_opset(model, path)


def _check_opset(model: onnx.ModelProto, path: str):
    """Refuse a default-domain opset that the pinned onnx (shape inference, reference evaluator)
    and ONNX Runtime (the self-check's float reference) do not know: the checker accepts any."""
    newest = min(onnx.defs.onnx_opset_version(), MAX_ORT_OPSET)
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx") and not 1 <= o.version <= newest:
            raise ModelError(f"{path}: default-domain opset {o.version} is not supported (equihls knows opsets "
                             f"1 to {newest}); re-export with opset {newest} or lower")


sha256_file = source.sha256_file     # kept here for existing callers


def _fix_batch(model: onnx.ModelProto, batch: int = 1, path: str = "<model>") -> onnx.ModelProto:
    """Copy of `model` whose runtime inputs have dim 0 = batch and no stale inferred shapes.
    Refuses inputs without a per-event axis, with a dynamic per-event axis or a zero-size one."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    init = {i.name for i in m.graph.initializer}
    for inp in m.graph.input:
        if inp.name in init:
            continue
        dims = inp.type.tensor_type.shape.dim
        shown = _dims_str(dims)
        if len(dims) == 0:
            raise ModelError(f"{path}: input '{inp.name}' has no shape; equihls needs [batch, ...] inputs")
        if len(dims) == 1:
            raise ModelError(f"{path}: input '{inp.name}' has rank 1 (shape {shown}): equihls needs a batch axis "
                             "and at least one per-event axis, e.g. [batch, features]")
        dims[0].Clear()
        dims[0].dim_value = batch
        for i, d in enumerate(dims[1:], start=1):
            if not d.HasField("dim_value"):
                raise ModelError(f"{path}: input '{inp.name}' axis {i} is dynamic ('{d.dim_param}', shape {shown}); "
                                 "only the batch axis may be")
            if d.dim_value == 0:
                raise ModelError(f"{path}: input '{inp.name}' has a zero-size axis {i} (shape {shown}): an event "
                                 "without values cannot be compiled")
    del m.graph.value_info[:]
    for out in m.graph.output:
        out.type.tensor_type.ClearField("shape")
    return m


def _dims_str(dims) -> str:
    """'[batch, 8, 4]' for a TensorShapeProto's dims (dim_param names, '?' when neither is set)."""
    return "[" + ", ".join(str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?") for d in dims) + "]"


def fixed_batch_inputs(model: onnx.ModelProto) -> dict:
    """{input name: its batch size} for runtime inputs whose first axis the file fixes to a
    number other than 1 (an exporter traced with a fixed batch, e.g. [8, 8])."""
    init = {i.name for i in model.graph.initializer}
    out = {}
    for inp in model.graph.input:
        dims = inp.type.tensor_type.shape.dim
        if inp.name not in init and dims and dims[0].HasField("dim_value") and dims[0].dim_value != 1:
            out[inp.name] = dims[0].dim_value
    return out


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

    if node.op_type == "CumSum" and values[1] is not None and values[1].size == 1:
        values = [values[0], values[1].reshape(())]   # TorchScript writes axis [1]; the evaluator wants rank 0
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
    """Shape inference from scratch: the shapes of an earlier round (value_info, output shapes)
    are dropped first, so none inferred before constant folding can go stale."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.graph.value_info[:]
    for out in m.graph.output:
        out.type.tensor_type.ClearField("shape")
    try:
        return shape_inference.infer_shapes(m, strict_mode=True, data_prop=True)
    except Exception as e:
        raise ModelError(f"{path}: ONNX shape inference failed: {e}") from None


def _fold_constants(model: onnx.ModelProto, path: str = "<model>") -> tuple[onnx.ModelProto, dict]:
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
            try:
                consts[node.output[0]] = quant.evaluate(*(consts[i] for i in node.input), **quant.attributes(node))
            except ValueError as e:   # an attribute QONNX does not define
                raise ModelError(f"{path}: Quant '{node.name}': {e}") from None
            continue
        foldable = (all((not i) or i in consts for i in node.input) and node.op_type not in PASSTHROUGH_OPS
                    and not _has_subgraph(node))    # an If's branches read outer tensors: inline_constant_ifs
        if node.domain in ("", "ai.onnx") and foldable:
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
    used |= {i for n in keep for i in _subgraph_reads(n)}
    m.graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in consts.items() if k in used)
    graph_inputs = [i for i in m.graph.input if i.name not in consts]
    del m.graph.input[:]
    m.graph.input.extend(graph_inputs)
    return m, {k: v for k, v in consts.items() if k in used}


def _has_subgraph(node: onnx.NodeProto) -> bool:
    return any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute)


def _subgraphs(node: onnx.NodeProto) -> list:
    return [a.g for a in node.attribute if a.type == onnx.AttributeProto.GRAPH] + \
        [g for a in node.attribute if a.type == onnx.AttributeProto.GRAPHS for g in a.graphs]


def _subgraph_reads(node: onnx.NodeProto) -> set:
    """Tensor names read inside `node`'s subgraphs, at any depth (outer-scope reads among them:
    they are not listed as the node's inputs)."""
    out = set()
    for g in _subgraphs(node):
        for n in g.node:
            out |= {i for i in n.input if i} | _subgraph_reads(n)
        out |= {o.name for o in g.output}
    return out


def _rename_reads(node: onnx.NodeProto, rename: dict):
    """Rename `node`'s inputs, and the reads of its subgraphs at any depth, through `rename`."""
    for j, i in enumerate(node.input):
        node.input[j] = rename.get(i, i)
    for g in _subgraphs(node):
        for n in g.node:
            _rename_reads(n, rename)
        for o in g.output:
            o.name = rename.get(o.name, o.name)


def _inline_constant_ifs(model: onnx.ModelProto, consts: dict) -> tuple[onnx.ModelProto, int]:
    """Replace every If whose condition is a constant by the nodes of the branch it takes.

    TorchScript writes an If on shape arithmetic (torch.diagonal, torch.eye on traced shapes);
    with the batch axis fixed and the shapes folded the condition is a constant. Tensors local to
    the branch get the prefix '<If name>/<then|else>/'; the branch's outputs keep the If's output
    names. Returns (model, number of Ifs inlined)."""
    nodes, done = [], 0
    alias = {}                      # If output -> outer tensor a branch passes through unchanged
    for k, node in enumerate(model.graph.node):
        _rename_reads(node, alias)
        if not (node.op_type == "If" and node.domain in ("", "ai.onnx") and node.input[0] in consts):
            nodes.append(node)
            continue
        cond = np.asarray(consts[node.input[0]]).reshape(-1)
        take = "then_branch" if bool(cond[0]) else "else_branch"
        branch = next(a.g for a in node.attribute if a.name == take)
        prefix = f"{node.name or f'If_{k}'}/{take[:4]}/"
        local = [i.name for i in branch.initializer] + [o for n in branch.node for o in n.output if o]
        rename = {t: prefix + t for t in local}
        for vi, out in zip(branch.output, node.output):
            if vi.name in rename:
                rename[vi.name] = out
            else:
                alias[out] = vi.name
        for init in branch.initializer:
            nodes.append(helper.make_node("Constant", [], [rename[init.name]], name=prefix + init.name, value=init))
        for bn in branch.node:
            n = onnx.NodeProto()
            n.CopyFrom(bn)
            n.name = prefix + (bn.name or bn.op_type)
            _rename_reads(n, rename)
            for j, o in enumerate(n.output):
                n.output[j] = rename.get(o, o)
            nodes.append(n)
        done += 1
    if done:
        for o in model.graph.output:
            if o.name in alias:     # a graph output passed through from outside the branch
                nodes.append(helper.make_node("Identity", [alias[o.name]], [o.name], name=f"{o.name}/passthrough"))
        del model.graph.node[:]
        model.graph.node.extend(nodes)
    return model, done


def _drop_passthrough(model: onnx.ModelProto, path: str = "<model>") -> onnx.ModelProto:
    """Remove Identity/Dropout nodes, rewiring readers (graph outputs keep their names)."""
    outputs = {o.name for o in model.graph.output}
    inputs = {i.name for i in model.graph.input}
    alias = {}
    keep = []
    for n in model.graph.node:
        if n.op_type in PASSTHROUGH_OPS and n.domain in ("", "ai.onnx"):
            src = alias.get(n.input[0], n.input[0])
            if n.output[0] in outputs and src in inputs:
                raise ModelError(f"{path}: output '{n.output[0]}' is the input '{src}' passed through {n.op_type} "
                                 f"'{n.name}': the graph computes nothing to compile")
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
    reshapes to [batch, d1, ..., dk, H]. MatMul(x, W) computes the same numbers (ONNX MatMul
    broadcasts over the leading axes), so the three nodes become one MatMul that keeps the
    MatMul's name (two Routes fewer). Only applied when the shapes
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
        if n.domain == DOMAIN and n.op_type == "ScalarProducts":
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


FLOAT_TYPES = (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16)


def _check_graph_ports(model: onnx.ModelProto, path: str):
    """Refuse non-float runtime inputs, outputs listed twice and outputs that are an input."""
    init = {i.name for i in model.graph.initializer}
    runtime = [i for i in model.graph.input if i.name not in init]
    for i in runtime:
        dt = i.type.tensor_type.elem_type
        if dt not in FLOAT_TYPES:
            raise ModelError(f"{path}: input '{i.name}' has element type {onnx.TensorProto.DataType.Name(dt)}; "
                             "equihls needs float inputs")
    names = [o.name for o in model.graph.output]
    for o in names:
        if names.count(o) > 1:
            raise ModelError(f"{path}: output '{o}' is listed {names.count(o)} times among the graph outputs; list "
                             f"it once")
        if o in {i.name for i in runtime}:
            raise ModelError(f"{path}: output '{o}' is the model's input itself: nothing to compile")


def _refuse_subgraphs(model: onnx.ModelProto, path: str):
    """Refuse nodes with subgraph attributes (If, Loop, Scan) left after folding, naming the node."""
    for k, n in enumerate(model.graph.node):
        if _has_subgraph(n):
            why = (f"its condition '{n.input[0]}' is computed at run time" if n.op_type == "If" else
                   "loops are not unrolled")
            raise ModelError(f"{path}: {n.op_type} '{n.name or f'{n.op_type}_{k}'}': control flow with subgraphs "
                             f"(If, Loop, Scan) is not supported ({why}; an If on shapes or constants is folded); "
                             "export the model without data-dependent control flow")


def _check_outputs(nodes: list, outputs: list, inputs: list, consts: dict, path: str):
    """Every graph output must be computed at run time by some node."""
    produced = {t for n in nodes for t in n.outputs}
    for o in outputs:
        if o in consts:
            raise ModelError(f"{path}: output '{o}' is a constant (an initializer, or computed from constants only): "
                             "nothing to compute at run time")
        if o in inputs:
            raise ModelError(f"{path}: output '{o}' is the model's input itself: nothing to compile")
        if o not in produced:
            raise ModelError(f"{path}: output '{o}' is not computed by any node")


def _check_const_values(nodes: list, consts: dict, path: str):
    """Refuse NaN/Inf constants, naming the constant (initializer or folded tensor) and its readers."""
    for c, v in consts.items():
        if v.dtype.kind != "f" or np.isfinite(v).all():
            continue
        bad = np.flatnonzero(~np.isfinite(v.reshape(-1)))
        users = ", ".join(f"{n.op} '{n.name}'" for n in nodes if c in n.inputs) or "no node"
        first = np.unravel_index(bad[0], v.shape) if v.ndim else ()
        raise ModelError(f"{path}: constant '{c}' (read by {users}) contains {len(bad)} NaN/Inf value(s), first "
                         f"{v.reshape(-1)[bad[0]]} at index {list(map(int, first))}")


def check_graph_ports(st: OnnxState):
    """Check: float runtime inputs, each output listed once and none of them an input."""
    _check_graph_ports(st.model, st.path)


def refuse_subgraphs(st: OnnxState):
    """Check: no control flow with subgraphs (If, Loop, Scan) left after folding."""
    _refuse_subgraphs(st.model, st.path)


@supports(Supports(("If",), "`If` whose condition folds to a constant (shape arithmetic, e.g. TorchScript's "
                   "torch.diagonal / torch.eye on traced shapes)", "inlined",
                   "the branch taken replaces the node; an If on a run-time condition is refused naming it"))
def inline_constant_ifs(st: OnnxState) -> bool:
    """If with a constant condition -> the nodes of the branch it takes."""
    st.model, done = _inline_constant_ifs(st.model, st.consts)
    return done > 0


def fix_batch(st: OnnxState) -> bool:
    """Batch axis of the runtime inputs fixed to 1, stale inferred shapes dropped (refuses inputs
    without a per-event axis, with a dynamic or zero-size one)."""
    m = _fix_batch(st.model, path=st.path)
    changed = m != st.model
    st.model = m
    return changed


@supports(Supports(("qonnx::Quant",),
                   "QONNX `Quant(x, 2^-f, 0, b; signed, narrow, rounding_mode)` (Brevitas' QONNX export)",
                  "Unary cast with the type fixed by the model",
                  "= `ap_(u)fixed<b, b-f>` with `AP_SAT` (`AP_SAT_SYM` when narrow), ROUND→`AP_RND_CONV`, "
                  "ROUND_TO_ZERO→`AP_TRN_ZERO`, FLOOR→`AP_TRN`; on constants (weights) folded to its values; a "
                  "non-power-of-two or per-channel scale, a zero point or CEIL is refused naming the node; its "
                  "clipping is counted as `clipped`, not as overflow; ONNX Runtime runs it rewritten into standard "
                  "ops"))
def quant_to_casts(st: OnnxState) -> bool:
    """QONNX Quant on run-time tensors -> Cast; their ap_fixed types go to st.quant_types."""
    st.model, st.quant_types = _quant_to_casts(st.model, st.path)
    return bool(st.quant_types)


@supports(Supports(tuple(sorted(PASSTHROUGH_OPS)), code(sorted(PASSTHROUGH_OPS)), "removed", "inference form"))
def drop_passthrough(st: OnnxState) -> bool:
    """Identity/Dropout removed, readers rewired."""
    n = len(st.model.graph.node)
    st.model = _drop_passthrough(st.model, st.path)
    return len(st.model.graph.node) < n


def infer_shapes(st: OnnxState):
    """Analysis: ONNX shape inference from scratch (value_info of the model)."""
    st.model = _infer(st.model, st.path)


@supports(Supports((), "all-constant subgraphs (any standard op)", "folded",
                   "evaluated once by the ONNX reference evaluator"))
def fold_constants(st: OnnxState) -> bool:
    """Every node computing only constants evaluated into st.consts (True when nodes went away:
    new static shapes may then fold more, so the pipeline repeats inference and folding)."""
    n = len(st.model.graph.node)
    st.model, st.consts = _fold_constants(st.model, st.path)
    return len(st.model.graph.node) < n


@supports(Supports(("Reshape", "MatMul"), "`Reshape → MatMul(x, W) → Reshape` with W [K, H] constant, x [batch, …, K] "
                  "(TensorFlow's tensordot: a Keras `Dense` on a rank ≥ 3 tensor, as tf2onnx writes it)", "Dense",
                  "only when the shapes prove the flatten/unflatten round trip and nothing else reads the flat tensor"))
def unflatten_tensordot(st: OnnxState) -> bool:
    """Reshape -> MatMul(constant) -> Reshape of TensorFlow's tensordot -> one MatMul (shapes
    inferred again when the model has a MatMul)."""
    if not any(n.op_type == "MatMul" for n in st.model.graph.node):
        return False
    n = len(st.model.graph.node)
    st.model = _infer(_unflatten_tensordot(st.model, _shapes(st.model)), st.path)
    return len(st.model.graph.node) < n


def equihls_shapes(st: OnnxState):
    """Analysis: st.shapes, the inferred shapes plus those of equihls custom-domain outputs."""
    st.shapes = _equihls_shapes(st.model, _shapes(st.model))


def ir_nodes(st: OnnxState):
    """Import: one IR Node per ONNX node (attributes decoded; a Cast from a Quant carries its
    ap_fixed type as attribute fixed_type)."""
    st.nodes = []
    for k, n in enumerate(st.model.graph.node):
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        attrs = {a: (v.decode() if isinstance(v, bytes) else v) for a, v in attrs.items()}
        name = n.name or f"{n.op_type}_{k}"
        dom = DOMAIN if n.domain == DOMAIN else ("" if n.domain in ("", "ai.onnx") else n.domain)
        if n.output and n.output[0] in st.quant_types:
            attrs["fixed_type"] = st.quant_types[n.output[0]][0].cpp()   # this Cast is a QONNX Quant
        st.nodes.append(Node(n.op_type, name, list(n.input), list(n.output), attrs, dom))


def unique_ir_names(st: OnnxState) -> bool:
    """A node name used twice (e.g. an unnamed node's Op_k) gets the suffix _<position>."""
    names = [n.name for n in st.nodes]
    changed = False
    for i, n in enumerate(st.nodes):
        if names.count(n.name) > 1:
            n.name = f"{n.name}_{i}"
            changed = True
    return changed


def _runtime_inputs(st: OnnxState) -> list:
    return [i.name for i in st.model.graph.input if i.name not in st.consts]


def check_outputs(st: OnnxState):
    """Check: every graph output is computed at run time by some node."""
    _check_outputs(st.nodes, [o.name for o in st.model.graph.output], _runtime_inputs(st), st.consts, st.path)


def check_const_values(st: OnnxState):
    """Check: no NaN/Inf constant."""
    _check_const_values(st.nodes, st.consts, st.path)


def check_tensor_shapes(st: OnnxState):
    """Check: every runtime tensor has a static shape with no zero-size axis, the graph outputs
    with the batch axis first; records st.ir_shapes (constants: their value's shape).

    Inner tensors may merge the batch axis into another one (e3nn's and tensordot's reshape(-1, d)
    gives (N, d) at batch 1): the graph is compiled at batch 1 and verify/independence.py proves
    that the model computes each event on its own."""
    path, shapes, consts = st.path, st.shapes, st.consts
    outputs = {o.name for o in st.model.graph.output}
    ir_shapes = {}
    for n in st.nodes:
        for t in list(n.inputs) + list(n.outputs):
            if not t or t in consts:
                continue
            s = shapes.get(t)
            if s is None or None in s:
                raise ModelError(f"{path}: tensor '{t}' (at {n.op} '{n.name}') has no static shape after inference")
            if t in outputs and (len(s) == 0 or s[0] != 1):
                raise ModelError(
                    f"{path}: graph output '{t}' (of {n.op} '{n.name}') has shape {list(s)} whose first axis is not "
                    "the batch axis; equihls' ports are [batch, ...]: reshape the output to [batch, ...] in the model"
                )
            if 0 in s:
                raise ModelError(f"{path}: tensor '{t}' (at {n.op} '{n.name}') has shape {list(s)} with a zero-size "
                                 "axis: it holds no values")
            ir_shapes[t] = tuple(int(d) for d in s)
    for c, v in consts.items():
        ir_shapes[c] = tuple(v.shape)
    for i in _runtime_inputs(st):
        ir_shapes.setdefault(i, shapes[i])
    st.ir_shapes = ir_shapes


def to_graph(st: OnnxState) -> Graph:
    """The IR Graph of an imported state (float constants as float64)."""
    consts = {k: (v.astype(np.float64) if v.dtype.kind == "f" else v) for k, v in st.consts.items()}
    g = Graph(st.nodes, st.ir_shapes, consts, _runtime_inputs(st), [o.name for o in st.model.graph.output],
              name=st.model.graph.name or "model")
    g.opset = next((int(o.version) for o in st.model.opset_import if o.domain in ("", "ai.onnx")), g.opset)
    return g


@contextlib.contextmanager
def fixed_batch_hint(model: onnx.ModelProto):
    """A batch axis that the file fixes to a number other than 1 is compiled at batch 1 like a
    dynamic one; when the graph then fails (a Reshape to [8, ...], say), the error says so."""
    fixed = fixed_batch_inputs(model)
    try:
        yield
    except ModelError as e:
        if not fixed:
            raise
        which = ", ".join(f"'{k}' to {v}" for k, v in fixed.items())
        raise ModelError(f"{e} (the file fixes the batch axis of input {which} and equihls compiles one event, "
                         "batch 1: re-export the model with a dynamic batch axis)") from None


def onnx_to_ir(model: onnx.ModelProto, path: str = "<model>") -> Graph:
    """Full frontend on a model: the ONNX checks and rewrites of passes/pipeline.py, then the
    import. The frontend passes that changed the model are in the graph's pass_log."""
    from ..passes import pipeline   # the pipeline imports this module's passes

    log = []
    g = pipeline.import_onnx(model, path, log)
    g.pass_log = log
    return g


def _unique_node_names(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with unique node names: valid exporters can repeat one, which ONNX Runtime
    refuses. A repeated name gets the suffix _2, _3, ... (the first keeps it); unchanged when
    the names are already unique."""
    names = [n.name for n in model.graph.node if n.name]
    if len(set(names)) == len(names):
        return model
    m = onnx.ModelProto()
    m.CopyFrom(model)
    taken, seen = set(names), set()
    for n in m.graph.node:
        if n.name and n.name in seen:
            k = 2
            while f"{n.name}_{k}" in taken:
                k += 1
            n.name = f"{n.name}_{k}"
            taken.add(n.name)
        seen.add(n.name)
    return m


def _float16_to_float32(model: onnx.ModelProto) -> onnx.ModelProto:
    """A float16 model computing in float32 (same weights: float16 values are exact in float32),
    so that the float reference's own rounding stays within the float32 ulps the self-check's
    envelope allows. Ports, initializers, Constant and other tensor attributes and Cast targets
    change; a model without float16 is returned unchanged."""
    F16, F32 = onnx.TensorProto.FLOAT16, onnx.TensorProto.FLOAT
    m = onnx.ModelProto()
    m.CopyFrom(model)
    changed = False

    def tensor32(t):
        nonlocal changed
        if t.data_type != F16:
            return t
        changed = True
        return numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float32), t.name)

    for vi in list(m.graph.input) + list(m.graph.output) + list(m.graph.value_info):
        if vi.type.tensor_type.elem_type == F16:
            vi.type.tensor_type.elem_type = F32
            changed = True
    inits = [tensor32(t) for t in m.graph.initializer]
    del m.graph.initializer[:]
    m.graph.initializer.extend(inits)
    for n in list(m.graph.node) + [n for f in m.functions for n in f.node]:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                a.t.CopyFrom(tensor32(a.t))
            elif n.op_type == "Cast" and a.name == "to" and a.i == F16:
                a.i = F32
                changed = True
    return m if changed else model


def _free_fixed_batch(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with a batch axis fixed in the file (fixed_batch_inputs) made dynamic on its
    inputs and outputs, so ONNX Runtime runs it on any number of sample events."""
    fixed = fixed_batch_inputs(model)
    if not fixed:
        return model
    m = onnx.ModelProto()
    m.CopyFrom(model)
    ports = [vi for vi in m.graph.input if vi.name in fixed] + list(m.graph.output)
    for vi in ports:
        dims = vi.type.tensor_type.shape.dim
        if dims and dims[0].HasField("dim_value"):
            dims[0].Clear()
            dims[0].dim_param = "batch"
    del m.graph.value_info[:]
    return m


def unique_node_names(st: OnnxState) -> bool:
    """Repeated node names get the suffix _2, _3, ... (ONNX Runtime refuses repeats)."""
    m = _unique_node_names(st.model)
    changed, st.model = m is not st.model, m
    return changed


def free_fixed_batch(st: OnnxState) -> bool:
    """Reference model: a batch axis fixed in the file made dynamic on its inputs and outputs."""
    m = _free_fixed_batch(st.model)
    changed, st.model = m is not st.model, m
    return changed


def float16_to_float32(st: OnnxState) -> bool:
    """Reference model: float16 computed in float32."""
    m = _float16_to_float32(st.model)
    changed, st.model = m is not st.model, m
    return changed


def reference_model(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model ONNX Runtime runs as the float reference: node names unique, a batch axis fixed
    in the file made dynamic, float16 computed in float32. The input model if none applies."""
    from ..passes import pipeline   # the pipeline imports this module's passes

    return pipeline.reference(model, [])


def load(path: str) -> tuple[Graph, onnx.ModelProto]:
    """Read `path` and return (IR graph, reference_model of the file's model: what ONNX Runtime
    runs as the float reference, identical to the file's model unless it repeats node names,
    fixes the batch axis or computes in float16). The graph's pass_log names the frontend passes
    that changed the model (passes/pipeline.py lists them all)."""
    from ..passes import pipeline   # the pipeline imports this module's passes

    return pipeline.load(path)
