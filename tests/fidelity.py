"""Independent fidelity measurement for end-to-end tests: C-sim of a compiled project on *raw*
float inputs vs ONNX Runtime float32 on the same inputs, and C-sim vs the numpy twin bit for bit.

Nothing here trusts the compiler's own self-check. The criterion, per output tensor with float
reference f and fixed-point result c, both [n events, m elements], error e = c - f:

- an element j *varies* when its std over events s_j exceeds SPREAD_FLOOR * max_e |f[e, j]|
  (about 100 float32 ulps of its magnitude: below that float32 itself barely resolves it);
- over the varying elements V: rel_rms = sqrt(mean_{e, j in V} e^2) / sqrt(mean_{j in V} s_j^2)
  (RMS error relative to the output's spread over the events) must be <= REL_RMS_MAX, and the
  Pearson correlation of c and f, each element centred on its mean over events, >= CORR_MIN;
- every constant element must be within REL_RMS_MAX of its magnitude: max_e |e[e, j]| <=
  REL_RMS_MAX * max_e |f[e, j]| (an element that is exactly 0 in float must be exactly 0).
"""
from __future__ import annotations

import contextlib

import numpy as np

REL_RMS_MAX = 0.05
CORR_MIN = 0.9
SPREAD_FLOOR = 1e-5


def measure(c, f) -> dict:
    """The criterion above for one output; c, f: arrays [n_events, ...] (float64)."""
    c = np.asarray(c, dtype=np.float64).reshape(len(c), -1)
    f = np.asarray(f, dtype=np.float64).reshape(len(f), -1)
    err = c - f
    spread = np.std(f, axis=0)
    mag = np.max(np.abs(f), axis=0)
    vary = spread > SPREAD_FLOOR * mag
    rep = {"n_varying": int(vary.sum()), "n_constant": int((~vary).sum()),
           "max_abs_err": float(np.max(np.abs(err), initial=0.0)), "passed": True}
    if vary.any():
        ev, fv, cv = err[:, vary], f[:, vary], c[:, vary]
        s = float(np.sqrt(np.mean(spread[vary] ** 2)))
        fc, cc = fv - fv.mean(axis=0), cv - cv.mean(axis=0)
        den = np.sqrt(np.sum(fc ** 2) * np.sum(cc ** 2))
        rep.update(spread=s, rel_rms=float(np.sqrt(np.mean(ev ** 2))) / s,
                   corr=float(np.sum(fc * cc) / den) if den > 0 else 0.0)
        rep["passed"] = bool(rep["rel_rms"] <= REL_RMS_MAX and rep["corr"] >= CORR_MIN)
    if (~vary).any():
        worst = np.max(np.abs(err[:, ~vary]), axis=0) - REL_RMS_MAX * mag[~vary]
        k = int(np.argmax(worst))
        rep["constant_worst"] = {"element": int(np.flatnonzero(~vary)[k]), "excess": float(worst[k]),
                                 "magnitude": float(mag[~vary][k])}
        rep["passed"] &= bool(worst[k] <= 0)
    return rep


def raw_inputs(specs: dict, n: int, seed: int) -> dict:
    """n float32-representable events per input, uniform over [type.min, type.max] and NOT on the
    type's grid (the hardware port rounds them). specs: name -> (FixedType, per-event shape)."""
    rng = np.random.default_rng(seed)
    return {name: rng.uniform(t.min, t.max, size=(n, *shape)).astype(np.float32).astype(np.float64)
            for name, (t, shape) in specs.items()}


def onnxruntime_float(path: str, xs: dict) -> dict:
    """ONNX Runtime float32 outputs (name -> float64 array) of the model file on inputs xs."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    outs = sess.run(None, {k: v.astype(np.float32) for k, v in xs.items()})
    return {o.name: np.asarray(v, dtype=np.float64) for o, v in zip(sess.get_outputs(), outs)}


@contextlib.contextmanager
def capture_precision():
    """While active, records the (graph, Precision) of every equihls.precision.infer.infer call, so a test
    can run the numpy twin of exactly what compile_model built. Yields a list; the last entry is
    the final result."""
    from equihls.precision import infer as precision

    seen, orig = [], precision.infer

    def wrapped(g, *args, **kwargs):
        prec = orig(g, *args, **kwargs)
        seen.append((g, prec))
        return prec

    precision.infer = wrapped
    try:
        yield seen
    finally:
        precision.infer = orig


def twin_outputs(g, prec, xs: dict) -> dict:
    """Numpy twin of the compiled graph on raw float inputs (converted as the input port does)."""
    from equihls.blocks import twin

    return twin.predict(g, prec, xs)


def check_project(project_dir: str, model_path: str, g, prec, xs: dict) -> dict:
    """C-sim (project_dir) vs twin (g, prec) bit for bit and vs ONNX Runtime (model_path) by the
    criterion, on raw inputs xs. Returns output name -> report with 'twin_mismatches' and
    'fidelity' (measure()); the outputs are matched by ONNX name, in the manifest's order."""
    from equihls.project import Project

    proj = Project(project_dir)
    names = [i["onnx_name"] for i in proj.inputs]
    ys = proj.run(*[xs[n] for n in names])
    ref = onnxruntime_float(model_path, xs)
    tw = twin_outputs(g, prec, xs)
    out = {}
    for spec, y in zip(proj.outputs, ys):
        o = spec["onnx_name"]
        t = np.asarray(tw[o]).reshape(y.shape)
        out[o] = {"twin_mismatches": int(np.sum(y != t)), "fidelity": measure(y, ref[o].reshape(y.shape)),
                  "csim": y}
    return out
