"""Self-check of every compile: C-sim of sample inputs vs ONNX Runtime and vs the numpy twin.

Per output: C-sim vs twin (must be bit-identical: the twin is the bit-exactness contract), and
C-sim vs ONNX Runtime on the same quantised inputs, in output LSBs. Each output element must lie
within its own error envelope, derived from the types: weight/constant quantisation, every
rounding the fixed-point graph actually did (known exactly from the twin), table errors of LUTs,
propagated through the blocks event by event, plus a few float32 ulps for ONNX Runtime's own
rounding. Envelopes are per event, so they stay tight (a few LSB) and a wrong lowering fails.
"""
from __future__ import annotations


import numpy as np

from . import twin
from .blocks import block_for
from .errors import InputError, ModelError

FLOAT32_ULPS = 8  # per node, of the sum of |terms|: ONNX Runtime computes in float32


def sample_inputs(g, prec, n: int, seed: int) -> dict:
    """n random events per input, uniform over the input type's raw range (exactly representable)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in g.inputs:
        t = prec.types[name]
        raw = rng.integers(t.raw_min, t.raw_max, size=(n, *g.shapes[name][1:]), endpoint=True)
        out[name] = t.to_float(raw.reshape(n, -1)).reshape(n, *g.shapes[name][1:])
    return out


def load_samples(path: str, g, onnx_names: list) -> dict:
    """Read samples from .npy or 'FILE.npz:key' (single input) or .npz (key = input name, or 'x'
    for a single input); events.checked_events refuses malformed arrays, naming file and input."""
    from . import events

    data = events.load_arrays(path)
    if isinstance(data, np.ndarray):
        if len(g.inputs) != 1:
            raise InputError(f"{path}: holds one array but the model has inputs {onnx_names}")
        arrays = {g.inputs[0]: data}
    else:
        arrays = {}
        for name in g.inputs:
            key = name if name in data else ("x" if len(g.inputs) == 1 and "x" in data else None)
            if key is None:
                raise InputError(f"{path}: no array named '{name}' (has {list(data)})")
            arrays[name] = data[key]
    return {name: events.checked_events(a, name, path, tuple(g.shapes[name][1:])) for name, a in arrays.items()}


def run_onnxruntime(model_bytes: bytes, x: dict) -> list:
    """Float reference outputs of the original ONNX model (float32, as exported). QONNX Quant
    nodes must already be rewritten (quant.standard_ops): ONNX Runtime has no kernel for them."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    try:   # ONNX Runtime raises its own exception types (Fail, InvalidArgument, ...)
        sess = ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])
    except Exception as e:
        raise ModelError(f"ONNX Runtime cannot load the model (the float reference): {_first_line(e)}") from None
    feeds = {}
    for i in sess.get_inputs():
        dt = np.float64 if "double" in i.type else (np.float16 if "float16" in i.type else np.float32)
        feeds[i.name] = x[i.name].astype(dt)
    try:
        ys = sess.run(None, feeds)
    except Exception as e:
        raise ModelError(f"ONNX Runtime cannot run the model (the float reference): {_first_line(e)}") from None
    return [np.asarray(o, dtype=np.float64) for o in ys]


def _first_line(e: Exception) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0]


def error_envelope(g, prec, raws: dict, accs: dict) -> dict:
    """Per-event, per-element bound on |fixed point - float model| for every tensor.

    Propagates input errors through each block (error_elem), adds the actual rounding error of
    each tensor (exact, from the twin) and FLOAT32_ULPS ulps of the float model's own sums.
    """
    V = {t: prec.types[t].to_float(r) for t, r in raws.items()}
    consts = {c: np.asarray(v, dtype=np.float64).reshape(-1) for c, v in g.consts.items()}
    E = {t: np.zeros_like(V[t]) for t in g.inputs}
    for c in g.consts:
        E[c] = np.abs(consts[c] - V[c][0])[None, :]
        V[c] = V[c][:1]
    for node in g.nodes:
        out = node.outputs[0]
        e, absterms = block_for(node).error_elem(g, node, E, V, prec.types, prec.qconst, consts)
        acc = np.asarray(accs[out], dtype=np.float64) * 2.0 ** -prec.acc_frac[node.name]
        E[out] = e + np.abs(V[out] - acc) + FLOAT32_ULPS * 2.0 ** -24 * (np.abs(absterms) + np.abs(V[out]))
    return E


def compare(g, prec, x_q: dict, y_csim: list, y_ref: list, tolerance_lsb=None) -> dict:
    """The self-check report (see module doc). x_q are the quantised inputs."""
    raws_in = {n: prec.types[n].from_float(x_q[n].reshape(x_q[n].shape[0], -1))[0] for n in g.inputs}
    raws, overflow, accs = twin.run(g, prec, raws_in, trace=True)
    env = error_envelope(g, prec, raws, accs)
    report = {"n_events": int(next(iter(x_q.values())).shape[0]), "outputs": {}, "passed": True}
    for k, o in enumerate(g.outputs):
        t = prec.types[o]
        yt = t.to_float(raws[o])
        yc = y_csim[k].reshape(yt.shape)
        yr = y_ref[k].reshape(yt.shape)
        mism = int((yc != yt).sum())
        d = np.abs(yc - yr) / t.lsb
        bound = np.broadcast_to(env[o], d.shape) / t.lsb
        if tolerance_lsb is not None:
            bound = np.maximum(bound, tolerance_lsb)
        n_over = int((d > bound + 1e-9).sum())
        ok = mism == 0 and n_over == 0
        report["outputs"][o] = {
            "type": t.cpp(), "lsb": t.lsb,
            "csim_vs_twin_mismatches": mism,
            "max_err_lsb": float(d.max(initial=0)), "mean_err_lsb": float(d.mean()) if d.size else 0.0,
            "p99_err_lsb": float(np.percentile(d, 99)) if d.size else 0.0,
            "tolerance_lsb": float(np.ceil(bound.max(initial=0))), "n_beyond_bound": n_over,
            "a_priori_bound_lsb": prec.errs[o] / t.lsb, "passed": bool(ok),
        }
        report["passed"] &= bool(ok)
    report["overflow"] = {t: int(c) for t, c in overflow.items() if c}
    return report


def format_report(rep: dict) -> str:
    """Human-readable self-check lines."""
    lines = [f"self-check on {rep['n_events']} events:"]
    for o, r in rep["outputs"].items():
        lines.append(
            f"  {o} [{r['type']}]: C-sim vs numpy twin: {r['csim_vs_twin_mismatches']} mismatches; "
            f"C-sim vs ONNX Runtime: max {r['max_err_lsb']:.2f} LSB, mean {r['mean_err_lsb']:.2f} LSB "
            f"(per-event error bound up to {r['tolerance_lsb']:.0f} LSB; {r['n_beyond_bound']} beyond) "
            f"-> {'PASS' if r['passed'] else 'FAIL'}")
    if rep.get("overflow"):
        lines.append(f"  values outside their type (model quantisers clip by design): {rep['overflow']}")
    return "\n".join(lines)


def float64_model(model):
    """A copy of an ONNX model computing in float64: float32 inputs, outputs, initializers,
    Constant values and Cast targets (also inside local functions) become double. Used as the
    float64 reference of the equivariance check; ONNX Runtime may still refuse an op without a
    double kernel (the caller falls back to float32)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.ModelProto()
    m.CopyFrom(model)

    def tensor64(t):
        if t.data_type != TensorProto.FLOAT:
            return t
        arr = numpy_helper.to_array(t).astype(np.float64)
        return numpy_helper.from_array(arr, t.name)

    def fix_value_infos(vis):
        for vi in vis:
            tt = vi.type.tensor_type
            if tt.elem_type == TensorProto.FLOAT:
                tt.elem_type = TensorProto.DOUBLE

    def fix_nodes(nodes):
        for node in nodes:
            for a in node.attribute:
                if a.type == onnx.AttributeProto.TENSOR:
                    a.t.CopyFrom(tensor64(a.t))
                elif a.type == onnx.AttributeProto.GRAPH:
                    fix_graph(a.g)
                elif a.name == "to" and node.op_type == "Cast" and a.i == TensorProto.FLOAT:
                    a.i = TensorProto.DOUBLE
            if node.op_type == "Constant":
                for a in list(node.attribute):
                    if a.name in ("value_float", "value_floats"):
                        vals = [a.f] if a.name == "value_float" else list(a.floats)
                        arr = np.array(vals[0] if a.name == "value_float" else vals, dtype=np.float64)
                        node.attribute.remove(a)
                        node.attribute.append(helper.make_attribute("value", numpy_helper.from_array(arr)))

    def fix_graph(gr):
        fix_value_infos(gr.input)
        fix_value_infos(gr.output)
        del gr.value_info[:]
        inits = [tensor64(t) for t in gr.initializer]
        del gr.initializer[:]
        gr.initializer.extend(inits)
        fix_nodes(gr.node)

    fix_graph(m.graph)
    for f in m.functions:
        fix_nodes(f.node)
    return m
