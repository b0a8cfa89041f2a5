"""Independent fidelity measurement for end-to-end tests: C-sim of a compiled project on *raw*
float inputs vs ONNX Runtime float32 on the same inputs, and C-sim vs the numpy twin bit for bit.

Nothing here trusts the compiler's own self-check. The criterion, per output tensor with float
reference f and fixed-point result c, both [n events, m elements]:

- spread  s = sqrt(mean_j var_e f[e, j])   (std over events, RMS over elements)
- magnitude M = max |f|;  error e = c - f;  rel_rms = sqrt(mean e^2) / s
- corr = Pearson correlation of c and f after removing each element's mean over events
- if s > SPREAD_FLOOR * M (the float output really varies across events): pass iff
  rel_rms <= REL_RMS_MAX and corr >= CORR_MIN;
- else (the float output is constant across events, up to about 100 float32 ulps of its
  magnitude, which float32 itself can barely resolve): pass iff max |e| <= REL_RMS_MAX * M
  (so an output that is exactly 0 in float must be exactly 0 in fixed point).
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
    spread = float(np.sqrt(np.mean(np.var(f, axis=0))))
    mag = float(np.max(np.abs(f))) if f.size else 0.0
    rep = {"spread": spread, "magnitude": mag, "max_abs_err": float(np.max(np.abs(err), initial=0.0)),
           "rms_err": float(np.sqrt(np.mean(err ** 2))) if err.size else 0.0}
    if spread > SPREAD_FLOOR * mag:
        fc, cc = f - f.mean(axis=0), c - c.mean(axis=0)
        den = np.sqrt(np.sum(fc ** 2) * np.sum(cc ** 2))
        corr = float(np.sum(fc * cc) / den) if den > 0 else 0.0
        rep.update(kind="varying", rel_rms=rep["rms_err"] / spread, corr=corr)
        rep["passed"] = bool(rep["rel_rms"] <= REL_RMS_MAX and corr >= CORR_MIN)
    else:
        rep.update(kind="constant")
        rep["passed"] = bool(rep["max_abs_err"] <= REL_RMS_MAX * mag)
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
    """While active, records the (graph, Precision) of every equihls.precision.infer call, so a test
    can run the numpy twin of exactly what compile_model built. Yields a list; the last entry is
    the final result."""
    from equihls import precision

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
    from equihls import twin

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
