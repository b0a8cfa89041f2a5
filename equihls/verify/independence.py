"""Per-event independence: the proof that lets a model merge the batch axis into other axes.

The firmware computes one event. equihls compiles the graph at batch 1, so inner tensors may
merge the batch axis into another one (e3nn's and torch's tensordot reshape [B, N, d] to
[B*N, d]); what makes that sound is that the model computes every event of a batch on its own.
This module checks exactly that on the float model: ONNX Runtime on a batch of two different
events equals the two events run alone (within float32 rounding). A model that mixes events
(batch statistics, a reduction or a gather over the batch axis, arithmetic on the batch size)
is refused, naming the first node whose output mixes them.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, shape_inference

from ..errors import ModelError
from .selfcheck import run_onnxruntime

# |batch - alone| allowed, relative to 1 + max|output| of the event: ONNX Runtime may pick other
# float32 kernels (blocking, vector width) for another batch size; events mixed by a batch mean
# or a gather differ by the size of the values themselves
REL_TOL = 1e-4
FLOAT_ELEM = (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16)


def two_events(x: dict, extra) -> dict:
    """{input: [2, ...]}: the first two events of `x`, or the first event of `x` and of `extra()`
    (called only then, returning {input: [>=1, ...]}) when `x` holds one event or two equal ones:
    the proof needs two events that differ."""
    if all(len(a) > 1 and not np.array_equal(a[0], a[1]) for a in x.values()):
        return {name: a[:2] for name, a in x.items()}
    more = extra()
    return {name: np.concatenate([a[:1], more[name][:1]]) for name, a in x.items()}


def _batch_and_alone(model_bytes: bytes, x2: dict) -> list:
    """ONNX Runtime outputs on the batch of two events, then on each event alone: [batch, e0, e1]."""
    return [run_onnxruntime(model_bytes, x2)] + [run_onnxruntime(model_bytes, {k: v[e:e + 1] for k, v in x2.items()})
                                                 for e in range(2)]


def prove_per_event(model_bytes: bytes, output_names: list, x2: dict, path: str = "<model>") -> dict:
    """Check that the model (serialised, standard ops only) computes each event alone.

    output_names: the model's graph outputs in order. x2: {input: float64 [2, *shape]}, two events
    that differ. Runs ONNX Runtime on the batch and on each event alone. Returns {"events": 2,
    "max_rel_diff": float} (the largest |batch - alone| / (1 + max|output|) over outputs and
    events). Raises ModelError naming the output, the difference and the first node that mixes
    the events when the batch differs.
    """
    batch, *alone = _batch_and_alone(model_bytes, x2)
    worst, where = 0.0, None
    for k, name in enumerate(output_names):
        for e in range(2):
            yb = batch[k][e:e + 1] if batch[k].shape[:1] == (2,) else None
            ya = alone[e][k]
            if yb is None or yb.shape != ya.shape:
                raise _mixing(model_bytes, x2, path, f"output '{name}' has shape {list(batch[k].shape)} for a "
                                                      f"batch of 2 events and {list(ya.shape)} for one")
            d = _rel_diff(yb, ya)
            if d > worst:
                worst, where = d, (name, e)
    if worst > REL_TOL:
        name, e = where
        raise _mixing(model_bytes, x2, path, f"output '{name}' of event {e} differs by {worst:.3g} (relative to "
                                              "1 + its largest magnitude) between the batch and the event alone")
    return {"events": 2, "max_rel_diff": float(worst)}


def _rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / (1 + max|b|), NaN and inf equal where both have them (inf if not)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    same = (np.isnan(a) & np.isnan(b)) | (a == b)
    if not np.all(same | (np.isfinite(a) & np.isfinite(b))):
        return float("inf")
    fin = np.isfinite(b)
    scale = 1.0 + (float(np.max(np.abs(b[fin]))) if fin.any() else 0.0)
    diff = np.where(same, 0.0, np.abs(a - b))
    return float(np.max(diff, initial=0.0)) / scale


def _mixing(model_bytes: bytes, x2: dict, path: str, what: str) -> ModelError:
    node = first_mixing_node(model_bytes, x2)
    at = f"; the first node whose output mixes them is {node}" if node else ""
    return ModelError(f"{path}: the model does not compute each event on its own: {what}{at}. The firmware "
                      "computes one event at a time: remove batch statistics, reductions and gathers over the batch "
                      "axis, and arithmetic on the batch size")


def first_mixing_node(model_bytes: bytes, x2: dict) -> str | None:
    """"Op 'name'" of the first node (graph order) whose float inputs each hold the two events'
    values separately but whose float output does not, or None when no node is found.

    A tensor holds the events separately when its batch-2 value has the elements of the two
    events' values (same multiset, within REL_TOL: a transpose may move the batch axis inward), or
    when it does not depend on the events at all (the same in all three runs)."""
    model = onnx.load_from_string(model_bytes)
    try:
        inferred = shape_inference.infer_shapes(model)
    except Exception:   # the finder is best effort: the refusal stands without it
        return None
    elem = {v.name: v.type.tensor_type.elem_type for v in
            list(inferred.graph.value_info) + list(inferred.graph.output) + list(inferred.graph.input)}
    floats = [t for n in model.graph.node for t in n.output if t and elem.get(t) in FLOAT_ELEM]
    have = {o.name for o in model.graph.output}
    model.graph.output.extend(helper.make_tensor_value_info(t, elem[t], None) for t in floats if t not in have)
    probe = model.SerializeToString()
    try:
        runs = _batch_and_alone(probe, x2)
    except ModelError:
        return None
    names = [o.name for o in model.graph.output]
    value = {t: [r[k] for r in runs] for k, t in enumerate(names)}
    separate = {t: _separate(*value[t]) for t in value}
    for n in model.graph.node:
        ins_ok = all(separate.get(t, True) for t in n.input if t)
        if ins_ok and any(not separate.get(t, True) for t in n.output if t):
            return f"{n.op_type} '{n.name}'"
    return None


def _separate(batch: np.ndarray, a: np.ndarray, b: np.ndarray) -> bool:
    if batch.shape == a.shape == b.shape and _rel_diff(a, b) <= REL_TOL and _rel_diff(batch, a) <= REL_TOL:
        return True     # does not depend on the events (shape arithmetic, constants)
    both = np.concatenate([a.reshape(-1), b.reshape(-1)])
    if batch.size != both.size:
        return False
    return _rel_diff(np.sort(batch.reshape(-1)), np.sort(both)) <= REL_TOL
