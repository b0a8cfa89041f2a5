"""Self-check of every compile: C-sim of sample inputs vs ONNX Runtime and vs the numpy twin.

Per output: C-sim vs twin (must be bit-identical: the twin is the bit-exactness contract), and
C-sim vs ONNX Runtime on the same quantised inputs, in output LSBs. Each output element must lie
within its own error envelope, derived from the types: weight/constant quantisation, every
rounding the fixed-point graph actually did (known exactly from the twin), table errors of LUTs,
propagated through the blocks event by event, plus a few float32 ulps for ONNX Runtime's own
rounding. Envelopes are per event, so they stay tight (a few LSB) and a wrong lowering fails.

Those two checks compare the firmware with itself and with the float model on the *quantised*
inputs inside an envelope the compiler derived, so on their own they would pass a firmware whose
constants or types destroyed the model (the envelope grows with the damage). The fidelity check
judges what the user cares about: C-sim on the raw sample inputs against ONNX Runtime float on
the same raw inputs, per output, relative to the output's spread over the samples (relative RMS
error, max error, correlation), with the input type's own share reported apart. A vacuous
envelope (wider than the output's spread) fails too. On failure, locate_divergence names the
first tensor in graph order whose fixed-point values leave the float model's.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .. import events
from ..blocks import block_for, twin
from ..errors import InputError, ModelError

FLOAT32_ULPS = 8  # per node, of the sum of |terms|: ONNX Runtime computes in float32
DEFAULT_FIDELITY_RMS = 0.05   # max RMS(C-sim - float) / spread of each output over the samples


def sample_inputs(g, prec, n: int, seed: int, padded: bool = False) -> dict:
    """n random events per input [n, *shape], uniform over the input type's range and not on its
    grid (the port quantises them, so the self-check sees what the input type costs too).

    padded: events are zero-padded like real particle data: each event keeps a random number
    1..N of real particles and every input with a particle axis ([n, N, ...]) is 0 on the rest
    (the same trailing particles in all of them), so masks and masked means are exercised."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in g.inputs:
        t = prec.types[name]
        out[name] = rng.uniform(t.min, t.max, size=(n, *g.shapes[name][1:]))
    n_part = {g.shapes[i][1] for i in g.inputs if len(g.shapes[i]) >= 3}
    if padded and len(n_part) == 1:
        N = n_part.pop()
        keep = np.arange(N)[None, :] < rng.integers(1, N + 1, size=n)[:, None]     # [n, N]
        for name in g.inputs:
            if len(g.shapes[name]) >= 3:
                out[name] = out[name] * keep.reshape(n, N, *([1] * (len(g.shapes[name]) - 2)))
    return out


def load_samples(path: str, g, onnx_names: list) -> dict:
    """Read samples from .npy or 'FILE.npz:key' (single input) or .npz (key = input name, or 'x'
    for a single input); events.checked_events refuses malformed arrays, naming file and input."""
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
        block = block_for(node)
        e, absterms = block.error_elem(g, node, E, V, prec.types, prec.qconst, consts)
        acc = np.asarray(accs[out], dtype=np.float64) * 2.0 ** -prec.acc_frac[node.name]
        # |float| <= |fixed| + e: the float32 allowance holds where the fixed-point terms are 0 too
        E[out] = (e + np.abs(V[out] - acc) + FLOAT32_ULPS * 2.0 ** -24 * (np.abs(absterms) + np.abs(V[out]) + e)
                  + block.float_ref_abs)
    return E


def compare(g, prec, x_q: dict, y_csim: list, y_ref: list, tolerance_lsb=None, allow_overflow: bool = False) -> dict:
    """The self-check report (see module doc). x_q are the quantised inputs. With allow_overflow
    and values that overflowed on the samples, a vacuous envelope (it then holds the overflow
    damage) is reported but left to the fidelity check to judge."""
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
        # an envelope wider than the output's spread would accept any output of the right range
        scale, varies = output_scale(yr, t.lsb)
        env_max = float(np.max(env[o], initial=0.0))
        # the typical event's envelope (median over events of its widest element): a few events
        # with loose bounds leave the check meaningful for the rest, which fidelity() covers
        env_typ = float(np.median(np.max(_flat(np.broadcast_to(env[o], d.shape), len(d)), axis=1))) if d.size else 0.0
        vacuous = bool(varies and env_typ > scale)
        ok = mism == 0 and n_over == 0 and not (vacuous and not (allow_overflow and any(overflow.values())))
        report["outputs"][o] = {
            "type": t.cpp(), "lsb": t.lsb,
            "csim_vs_twin_mismatches": mism,
            "max_err_lsb": float(d.max(initial=0)), "mean_err_lsb": float(d.mean()) if d.size else 0.0,
            "p99_err_lsb": float(np.percentile(d, 99)) if d.size else 0.0,
            "tolerance_lsb": float(np.ceil(bound.max(initial=0))), "n_beyond_bound": n_over,
            "a_priori_bound_lsb": prec.errs[o] / t.lsb, "envelope_max": env_max, "envelope_median": env_typ,
            "output_spread": scale,
            "envelope_vacuous": vacuous, "passed": bool(ok),
        }
        report["passed"] &= bool(ok)
    report["overflow"] = {t: int(c) for t, c in overflow.items() if c}
    # per tensor, the typical event's widest bound (see the outputs' envelope_median)
    report["envelope"] = {t: float(np.median(np.max(_flat(e, len(e)), axis=1))) if np.size(e) else 0.0
                          for t, e in env.items() if not g.is_const(t)}
    return report


def _flat(y, n: int) -> np.ndarray:
    return np.asarray(y, dtype=np.float64).reshape(n, -1)


def output_scale(y, lsb: float) -> tuple[float, bool]:
    """(scale, varies): what an output's errors are measured against, and whether it varies
    over the events. The scale is its spread, the pooled per-element standard deviation
    sqrt(mean_k var_events(y[:, k])) of y [events, ...]; an output whose spread is below float32
    resolution of its values (1e-6 of its RMS) does not vary, and its scale is its RMS value (at
    least one output LSB)."""
    y = _flat(y, len(y))
    if not y.size:
        return lsb, False
    spread = float(np.sqrt(np.mean(np.var(y, axis=0))))
    rms = float(np.sqrt(np.mean(y ** 2)))
    if spread > 1e-6 * rms:
        return spread, True
    return max(rms, lsb), False


def _correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson correlation of a and b [events, k] after removing each element's mean over the
    events (so constant offsets per element do not count); None when either has no spread."""
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    na, nb = float(np.sqrt((a * a).sum())), float(np.sqrt((b * b).sum()))
    if na == 0 or nb == 0:
        return None
    return float((a * b).sum() / (na * nb))


def fidelity(g, prec, y_fixed: list, y_float: list, y_float_q: list, max_rel_rms: float = DEFAULT_FIDELITY_RMS) -> dict:
    """Does the firmware compute the float model? Per output, on the raw sample inputs:

    y_fixed: C-sim outputs on the raw inputs (the port quantises them); y_float: ONNX Runtime on
    the raw inputs; y_float_q: ONNX Runtime on the inputs quantised to the input type (lists in
    g.outputs order, each [events, ...]). rel_rms = RMS(y_fixed - y_float) / output_scale(y_float);
    input_rel_rms is the input type's own share, RMS(y_float_q - y_float) / the same scale.
    An output passes when rel_rms <= max_rel_rms; a firmware output that is constant over the
    samples while the float output varies never passes."""
    rep = {"max_rel_rms": max_rel_rms, "outputs": {}, "passed": True}
    for k, o in enumerate(g.outputs):
        n = len(y_float[k])
        yf, yc, yq = _flat(y_float[k], n), _flat(y_fixed[k], n), _flat(y_float_q[k], n)
        scale, varies = output_scale(yf, prec.types[o].lsb)
        constant = varies and not bool(np.any(np.ptp(yc, axis=0) > 0))
        rel = float(np.sqrt(np.mean((yc - yf) ** 2)) / scale) if yf.size else 0.0
        ok = rel <= max_rel_rms and not constant
        rep["outputs"][o] = {
            "rel_rms": rel, "max_abs_err": float(np.max(np.abs(yc - yf), initial=0.0)), "scale": scale,
            "correlation": _correlation(yc, yf), "input_rel_rms": float(np.sqrt(np.mean((yq - yf) ** 2)) / scale)
            if yf.size else 0.0, "constant_output": constant, "passed": bool(ok)}
        rep["passed"] &= bool(ok)
    return rep


def locate_divergence(g, prec, model, x_raw: dict, x_q: dict, envelope: dict, max_rel_rms: float) -> dict | None:
    """The first tensor, in graph order, whose fixed-point values leave the float model's.

    Runs the float ONNX `model` (QONNX Quant already rewritten) on the raw inputs with every
    IR tensor that keeps its ONNX name as an extra output, the twin on the quantised inputs,
    and returns {tensor, node, op, rel_rms, type, lsb, scale, cause, hint} for the first tensor
    whose relative RMS error or error envelope (tensor -> max bound, from compare()) exceeds
    max_rel_rms of its spread / its spread; None when no named tensor diverges."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    known = {o for nd in m.graph.node for o in nd.output}
    have = {o.name for o in m.graph.output}
    probe = [nd.outputs[0] for nd in g.nodes if nd.outputs[0] in known and nd.outputs[0] not in have]
    for t in probe:
        m.graph.output.append(onnx.helper.make_empty_tensor_value_info(t))
    try:
        names = [o.name for o in m.graph.output]
        vals = dict(zip(names, run_onnxruntime(m.SerializeToString(), x_raw)))
    except Exception:   # a model ONNX Runtime cannot expose intermediates of: no diagnosis
        return None
    raws_in = {n: prec.types[n].from_float(_flat(x_q[n], len(x_q[n])))[0] for n in g.inputs}
    raws, _ = twin.run(g, prec, raws_in)
    for node in g.nodes:
        t = node.outputs[0]
        if t not in vals:
            continue
        n = len(vals[t])
        yf, ty = _flat(vals[t], n), prec.types[t]
        yc = ty.to_float(raws[t])
        if yc.shape != yf.shape:
            continue
        scale, varies = output_scale(yf, ty.lsb)
        rel = float(np.sqrt(np.mean((yc - yf) ** 2)) / scale)
        env = envelope.get(t, 0.0) / scale if varies else 0.0
        if rel <= max_rel_rms and env <= 1.0:
            continue
        return {"tensor": t, "node": node.name, "op": node.op, "rel_rms": rel, "envelope_rel": env,
                "type": ty.cpp(), "lsb": ty.lsb, "scale": scale, **_hint(g, prec, node, ty, scale, max_rel_rms)}
    return None


def _hint(g, prec, node, ty, scale: float, max_rel_rms: float) -> dict:
    """Cause and remedy of a diverging tensor (see locate_divergence)."""
    t = node.outputs[0]
    rounded = [c for c in node.inputs if c in prec.rounded_consts]
    if rounded:
        return {"cause": f"constant '{rounded[0]}' lost its precision ({prec.rounded_consts[rounded[0]]})",
                "hint": "raise --weight-bits (or drop --allow-weight-rounding)"}
    own = block_for(node).divergence_hint(node)
    if own:
        return own
    exact = ty.frac >= prec.acc_frac[node.name] and t not in prec.overridden
    read_inputs = [i for i in node.inputs if i in g.inputs]
    if exact and read_inputs:
        it = prec.types[read_inputs[0]]
        return {"cause": f"this exact block sees the inputs quantised to {it.cpp()} (LSB {it.lsb:.3g})",
                "hint": "--input-type with more fractional bits or a rounding mode (AP_RND)"}
    if ty.lsb > max_rel_rms * scale:
        extra = int(np.ceil(np.log2(ty.lsb / (max_rel_rms * scale / 4))))
        better = ty.__class__(ty.width + extra, ty.integer, ty.signed, ty.rounding, ty.overflow)
        return {"cause": f"its type {ty.cpp()} has an LSB of {ty.lsb:.3g}, coarse against its spread {scale:.3g}",
                "hint": f"--type '{t}={better.cpp()}', or more fractional bits in --default-type"
                        + (" or --input-type" if any(i in g.inputs for i in node.inputs) else "")}
    return {"cause": "errors of the tensors it reads, amplified here",
            "hint": "more fractional bits (--default-type, --type on the tensors it reads) or --weight-bits"}


def format_fidelity(rep: dict) -> str:
    """Human-readable fidelity lines (see fidelity)."""
    lines = [f"fidelity vs the float model on the raw samples (max relative RMS {rep['max_rel_rms']:g}):"]
    for o, r in rep["outputs"].items():
        corr = "n/a" if r["correlation"] is None else f"{r['correlation']:.4f}"
        lines.append(f"  {o}: relative RMS error {r['rel_rms']:.3g} (input type alone {r['input_rel_rms']:.3g}), "
                     f"max |error| {r['max_abs_err']:.3g} on a spread of {r['scale']:.3g}, correlation {corr}"
                     + (", constant output" if r["constant_output"] else "")
                     + f" -> {'PASS' if r['passed'] else 'FAIL'}")
    d = rep.get("divergence")
    if d:
        lines.append(f"  first diverging tensor: '{d['tensor']}' ({d['op']} '{d['node']}', {d['type']}): relative RMS "
                     f"{d['rel_rms']:.3g}, envelope {d['envelope_rel']:.3g} of its spread; {d['cause']}; try "
                     f"{d['hint']}")
    return "\n".join(lines)


def format_report(rep: dict) -> str:
    """Human-readable self-check lines."""
    lines = [f"self-check on {rep['n_events']} events:"]
    for o, r in rep["outputs"].items():
        lines.append(
            f"  {o} [{r['type']}]: C-sim vs numpy twin: {r['csim_vs_twin_mismatches']} mismatches; "
            f"C-sim vs ONNX Runtime: max {r['max_err_lsb']:.2f} LSB, mean {r['mean_err_lsb']:.2f} LSB "
            f"(per-event error bound up to {r['tolerance_lsb']:.0f} LSB; {r['n_beyond_bound']} beyond)"
            + (f"; the typical event's envelope {r['envelope_median']:.3g} is wider than the output's spread "
               f"{r['output_spread']:.3g} (vacuous)" if r.get("envelope_vacuous") else "")
            + f" -> {'PASS' if r['passed'] else 'FAIL'}")
    if rep.get("overflow"):
        lines.append(f"  values outside their type (model quantisers clip by design): {rep['overflow']}")
    if rep.get("fidelity"):
        lines.append(format_fidelity(rep["fidelity"]))
    return "\n".join(lines)


def float64_model(model):
    """A copy of an ONNX model computing in float64: float32 inputs, outputs, initializers,
    Constant values and Cast targets (also inside local functions) become double. Used as the
    float64 reference of the equivariance check; ONNX Runtime may still refuse an op without a
    double kernel (the caller falls back to float32)."""
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
