"""Compile an ONNX model into a self-checked Vitis HLS project, and load one back.

Layout of a project directory:
  build_prj.tcl, firmware/ (top function, parameters, weights, nnet_utils with the equihls IP
  headers, ap_types), <top>_test.cpp + tb_data/ (testbench with sample inputs and expected
  outputs), hls4ml's build_lib.sh, equihls_graph.onnx (the lowered graph), equihls.json (the
  manifest), equihls_csim.so (the C simulation) and build.log.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil

import numpy as np

from . import __version__, passes, targets
from .verify import check, overflow, selfcheck, probe as symprobe
from .report import estimate
from .frontend import onnx_import as frontend, qonnx_quant as quant, source
from .precision import infer as precision
from .backend import staging as pdir
from .backend.csim import CSim, build as build_csim, check_finite, range_report, write_bridge
from .errors import EquihlsError, OverflowDetected, SelfCheckError
from .ir.fixedpoint import FixedType
from .backend import emit as emitter
from .backend import extension

MANIFEST = "equihls.json"
TOP = "myproject"
DEFAULT_INPUT_TYPE = "ap_fixed<16,12>"
DEFAULT_TYPE = "ap_fixed<18,8,AP_RND>"


def default_output_dir(model_path: str, target: str) -> str:
    """hls_projects/<model>_<target> under the current directory."""
    stem = os.path.splitext(os.path.basename(model_path))[0]
    return os.path.join("hls_projects", f"{stem}_{target}")


def _hls4ml_model(onnx_graph, cname, out_dir, target, clock_ns, input_types, x_tb, y_tb, outputs):
    """Convert the emitted equihls graph with hls4ml and write the project. `outputs`: the graph's
    output tensors in ONNX order, which the top function's output ports must follow."""
    import hls4ml

    extension.register()
    cfg = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"},
           "LayerName": {cname[i]: {"Precision": {"result": t.cpp()}} for i, t in input_types.items()}}
    with contextlib.redirect_stdout(io.StringIO()):
        hm = hls4ml.converters.convert_from_onnx_model(
            onnx_graph, output_dir=out_dir, project_name=TOP, backend="Vitis", part=target.part,
            clock_period=clock_ns, io_type="io_parallel", hls_config=cfg, write_weights_txt=False,
            input_data_tb=x_tb, output_data_tb=y_tb)
        # hls4ml orders output ports by the node that writes them, not by the graph's output list
        want = [cname[o] for o in outputs]
        if sorted(hm.outputs) != sorted(want):
            raise EquihlsError(f"internal error: hls4ml outputs {hm.outputs} are not the graph outputs {want}")
        hm.outputs = want
        hm.write()
    return hm


@pdir.releases_outputs
def compile_model(model_path: str, target: str = "vu9p", output_dir: str | None = None,
                  clock_ns: float | None = None, input_type: str = DEFAULT_INPUT_TYPE,
                  default_type: str = DEFAULT_TYPE, weight_frac: int | None = None,
                  weight_bits: int = precision.DEFAULT_WEIGHT_BITS, allow_weight_rounding: bool = False,
                  fidelity_rms: float = selfcheck.DEFAULT_FIDELITY_RMS,
                  samples: str | None = None, n_samples: int = 256, seed: int = 0,
                  tolerance_lsb: float | None = None, type_overrides: dict | None = None,
                  accum_overrides: dict | None = None, symmetry: list | None = None, input_reps: list | None = None, output_reps: list | None = None,
                  output_perm: str | None = None, calibrate: str | None = None,
                  calib_margin: float = precision.DEFAULT_CALIB_MARGIN, allow_overflow: bool = False,
                  force: bool = False, log=print) -> dict:
    """Compile `model_path` for `target`; returns the manifest (also written to the project).

    The project is built in '<dir>.partial.<pid>' under a lock and swapped in only after the
    self-check passes (equihls.project_dir); on a failed self-check it is kept as '<dir>.rejected'
    (no manifest) for inspection. An existing non-empty <dir> that is not an equihls project is
    refused unless force (the project is then written into it; its other files are kept).
    symmetry / input_reps / output_reps / output_perm declare what `equihls check` certifies
    (they override the ONNX metadata_props equihls.symmetry etc.; see check.declare_symmetry).
    calibrate: events (.npy/.npz like samples) whose value ranges, times calib_margin, narrow the
    integer bits of computed tensors (those then saturate). The samples are C-simulated with the
    overflow trace on; any overflow (or a rounding of a tensor promised exact) rejects the
    project unless allow_overflow, which keeps it and records the counts.
    """
    tgt = targets.get(target)
    if not 1 <= int(weight_bits) <= 40:
        raise EquihlsError(f"--weight-bits must be between 1 and 40, got {weight_bits}")
    if not 0 < float(fidelity_rms) < float("inf"):
        raise EquihlsError(f"--fidelity-rms must be a positive number, got {fidelity_rms}")
    clock = float(clock_ns) if clock_ns else tgt.clock_ns
    if clock <= 0:
        raise EquihlsError(f"--clock-ns must be positive, got {clock}")
    in_t, def_t = FixedType.parse(input_type), FixedType.parse(default_type)
    g, model = frontend.load(model_path)
    sym = check.declare_symmetry({p.key: p.value for p in model.metadata_props},
                                 [(i, g.shapes[i][1:]) for i in g.inputs], [(o, g.shapes[o][1:]) for o in g.outputs],
                                 symmetry, input_reps, output_reps, output_perm)
    log_passes = passes.run_all(g)
    in_types = {i: in_t for i in g.inputs}
    const_opts = dict(weight_bits=weight_bits, allow_weight_rounding=allow_weight_rounding)
    prec = precision.infer(g, in_types, def_t, weight_frac, type_overrides, accum_overrides, **const_opts)
    if calibrate:
        x_cal = selfcheck.load_samples(calibrate, g, list(g.inputs))
        for name, a in x_cal.items():
            check_finite(a, f"{name}' in '{calibrate}")
        ranges = precision.calibration_ranges(g, prec, {n: prec.types[n].quantize(a) for n, a in x_cal.items()})
        prec = precision.infer(g, in_types, def_t, weight_frac, type_overrides, accum_overrides,
                               calibration=ranges, calib_margin=calib_margin, **const_opts)
    out_dir = output_dir or default_output_dir(model_path, tgt.name)
    out = pdir.open_output(out_dir, force=force, log=log)     # refuses foreign dirs; locked until return
    onnx_names = list(g.inputs)

    # sample events: quantised to the input type exactly as the hardware port does
    x = selfcheck.load_samples(samples, g, onnx_names) if samples else selfcheck.sample_inputs(g, prec, n_samples, seed)
    rng_rep = {}
    x_q = {}
    for name, a in x.items():
        check_finite(a, name)
        rng_rep[name] = range_report(a, prec.types[name])
        x_q[name] = prec.types[name].quantize(a)
    ref_model = quant.standard_ops(model)
    ref_bytes = ref_model.SerializeToString()
    y_ref = selfcheck.run_onnxruntime(ref_bytes, x_q)
    # samples already on the input grid are their own quantisation: no second run needed
    on_grid = all(np.array_equal(x[i], x_q[i]) for i in g.inputs)
    y_ref_raw = y_ref if on_grid else selfcheck.run_onnxruntime(ref_bytes, x)

    onnx_graph, cname = emitter.emit(g, prec)
    partial = out.stage()
    tb_dir = os.path.join(partial, ".tb")
    os.makedirs(tb_dir, exist_ok=True)
    try:
        from .blocks import twin
        y_twin = twin.predict(g, prec, x_q)
        x_tb, y_tb = os.path.join(tb_dir, "x.npy"), os.path.join(tb_dir, "y.npy")
        # one row per event: every input (resp. output) flattened, concatenated in graph order, as
        # the hls4ml testbench reads them
        n_ev = x_q[g.inputs[0]].shape[0]
        np.save(x_tb, np.concatenate([x_q[i].reshape(n_ev, -1) for i in g.inputs], axis=1))
        np.save(y_tb, np.concatenate([y_twin[o].reshape(n_ev, -1) for o in g.outputs], axis=1))
        hm = _hls4ml_model(onnx_graph, cname, partial, tgt, clock, {i: in_t for i in g.inputs}, x_tb, y_tb,
                           g.outputs)
    finally:
        shutil.rmtree(tb_dir, ignore_errors=True)
    pdir.fix_hls4ml_files(partial, out_dir)
    with open(os.path.join(partial, "equihls_graph.onnx"), "wb") as f:
        f.write(onnx_graph.SerializeToString())
    source.save_model(model, os.path.join(partial, check.SOURCE_MODEL))   # frontend.reference_model
    _save_npz(os.path.join(partial, check.SAMPLES_FILE), x)
    ins = [(v.type.name, v.size()) for v in hm.get_input_variables()]
    outs = [(v.type.name, v.size()) for v in hm.get_output_variables()]
    write_bridge(partial, TOP, ins, outs)
    log(f"equihls: building C simulation ({len(g.nodes)} blocks) ...")
    build_csim(partial, TOP, os.path.join(partial, "build.log"))
    sim = CSim(partial, [s for _, s in ins], [s for _, s in outs])
    y_csim, counts, flags = sim.run(*[x_q[i] for i in g.inputs], n_blocks=len(g.nodes))
    rep = selfcheck.compare(g, prec, x_q, y_csim, y_ref, tolerance_lsb, allow_overflow)
    # fidelity: the firmware on the raw samples (the port quantises them) against the float model
    y_csim_raw = y_csim if on_grid else sim.run(*[x[i] for i in g.inputs])
    fid = selfcheck.fidelity(g, prec, y_csim_raw, y_ref_raw, y_ref, fidelity_rms)
    if not fid["passed"] or any(r["envelope_vacuous"] for r in rep["outputs"].values()):
        fid["divergence"] = selfcheck.locate_divergence(g, prec, ref_model, x, x_q, rep["envelope"], fidelity_rms)
    rep["fidelity"] = fid
    rep["passed"] &= fid["passed"]
    rep["input_range"] = rng_rep
    rep["samples"] = os.path.basename(samples) if samples else f"generated (seed {seed}, uniform over the input type)"

    options = dict(input_type=in_t.cpp(), default_type=def_t.cpp(), weight_frac=weight_frac, weight_bits=weight_bits,
                   allow_weight_rounding=bool(allow_weight_rounding), rounded_constants=prec.rounded_consts,
                   fidelity_rms=fidelity_rms,
                   calibrate=os.path.basename(calibrate) if calibrate else None,
                   calib_margin=calib_margin if calibrate else None, allow_overflow=bool(allow_overflow))
    manifest = _manifest(model_path, tgt, clock, g, prec, cname, log_passes, rep, ins, outs, options)
    manifest["symmetry"] = sym
    manifest["symmetry_probe"] = symprobe.probe(g, prec, sym, x_q)
    manifest["estimate"] = estimate.estimate(g, prec, tgt, clock)
    accum = {k[:-len(".accum")]: v for k, v in rep["overflow"].items() if k.endswith(".accum")}
    trace = overflow.trace_report(manifest["nodes"], manifest["tensors"], counts, flags, x, prec.types, accum)
    manifest["overflow"] = trace
    # the traced C-sim and the twin count overflows independently: they must agree tensor by tensor
    seen = {t: c["overflow"] + c.get("clipped", 0) for t, c in trace["tensors"].items()}
    disagree = {t: (n, rep["overflow"].get(t, 0)) for t, n in seen.items() if n != rep["overflow"].get(t, 0)}
    if disagree:
        rep["trace_vs_twin_overflow"] = disagree
        rep["passed"] = False
    log(selfcheck.format_report(rep))
    if trace["n_overflow"] or trace["n_rounding_violations"]:
        log(overflow.format_trace(trace))
    # the firmware must equal its twin before anything else means something; then overflow, the
    # root cause of a wrong output when it happens; then fidelity and the envelope
    bit_exact = not rep.get("trace_vs_twin_overflow") and all(
        r["csim_vs_twin_mismatches"] == 0 for r in rep["outputs"].values())
    if not rep["passed"] and not bit_exact:
        rejected = _reject(partial, out_dir, "selfcheck_failed.json", rep)
        raise SelfCheckError(_selfcheck_failure(model_path, rep, rejected))
    if trace["n_rounding_violations"] or (trace["n_overflow"] and not allow_overflow):
        rejected = _reject(partial, out_dir, "overflow_trace.json", trace)
        what = (f"{trace['n_overflow']} value(s) overflowed in {trace['events_with_overflow']} of "
                f"{trace['n_events']} sample events" if trace["n_overflow"] else
                f"{trace['n_rounding_violations']} tensor(s) promised exact were rounded")
        raise OverflowDetected(f"{model_path}: {what}; see the table above. Project kept (without manifest) in "
                               f"{rejected}." + ("" if trace["n_rounding_violations"] else
                                                 " Widen the types, or pass --allow-overflow to accept it."))
    if not rep["passed"]:
        rejected = _reject(partial, out_dir, "selfcheck_failed.json", rep)
        raise SelfCheckError(_selfcheck_failure(model_path, rep, rejected))
    if symprobe.format_probe(manifest["symmetry_probe"]):
        log(symprobe.format_probe(manifest["symmetry_probe"]))
    if trace["n_overflow"]:
        log(f"equihls: warning: {trace['n_overflow']} value(s) overflowed on the samples (--allow-overflow); "
            f"counts are in {MANIFEST} under 'overflow'")
    with open(os.path.join(partial, MANIFEST), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    out.install(partial)
    t = manifest["estimate"]["total"]
    log(f"equihls: estimate: {t['dsp']} DSP, {t['lut']:,} LUT, {t['ff']:,} FF, {t['bram18']} BRAM18, latency "
        f"{t['latency_cycles']} cycles ({t['latency_ns']:.0f} ns), II {t['ii']}; details: equihls report {out_dir}")
    log(f"equihls: wrote {out_dir} (target {tgt.name}, part {tgt.part}, clock {clock} ns)")
    manifest["project_dir"] = out_dir
    return manifest


def _selfcheck_failure(model_path: str, rep: dict, rejected: str) -> str:
    """The one-paragraph reason a self-check failed: fidelity first (what the user cares about),
    then a vacuous envelope, then the bit-level checks."""
    fid = rep.get("fidelity", {})
    bad = [(o, r) for o, r in fid.get("outputs", {}).items() if not r["passed"]]
    where = f"; project kept (without manifest) in {rejected}"
    d = fid.get("divergence")
    first = (f" The first diverging tensor is '{d['tensor']}' ({d['op']} '{d['node']}', {d['type']}): {d['cause']}; "
             f"try {d['hint']}." if d else "")
    if bad:
        o, r = bad[0]
        what = ("is constant over the samples" if r["constant_output"] else
                f"has a relative RMS error of {r['rel_rms']:.3g} (allowed {fid['max_rel_rms']:g}, --fidelity-rms)")
        inp = (f" The input type alone costs {r['input_rel_rms']:.3g}: give --input-type more fractional bits."
               if r["input_rel_rms"] > fid["max_rel_rms"] / 2 else "")
        return (f"{model_path}: the firmware does not compute the float model: output '{o}' {what} against ONNX "
                f"Runtime on the raw samples{where}.{first}{inp}")
    vac = [o for o, r in rep["outputs"].items() if r.get("envelope_vacuous")]
    if vac:
        r = rep["outputs"][vac[0]]
        return (f"{model_path}: the self-check cannot vouch for output '{vac[0]}': its error envelope on a typical "
                f"event, {r['envelope_median']:.3g}, is wider than the output's spread {r['output_spread']:.3g} over the "
                f"samples{where}.{first}")
    return (f"self-check failed for {model_path}: see above{where}. Use --tolerance-lsb to accept a larger error.")


def _reject(partial: str, out_dir: str, report_name: str, report: dict) -> str:
    """Keep a failed build as '<dir>.rejected' (no manifest) with the report that failed it."""
    return pdir.reject(partial, out_dir, report_name, report)


def _save_npz(path: str, arrays: dict):
    """np.savez without zip timestamps varying between runs (byte-identical projects)."""
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name in sorted(arrays):
            buf = io.BytesIO()
            np.save(buf, np.ascontiguousarray(arrays[name]))
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, buf.getvalue())


def _manifest(model_path, tgt, clock, g, prec, cname, log_passes, rep, ins, outs, options) -> dict:
    tensors = {}
    for t, ty in prec.types.items():
        if g.is_const(t):
            continue
        prod = g.producer(t)
        exact = prod is None or ty.frac >= prec.acc_frac.get(prod.name, 0)
        tensors[cname.get(t, t)] = {"onnx_name": t, "type": ty.cpp(), "shape": list(g.shapes[t][1:]),
                                   "exact": bool(exact), "user_override": t in prec.overridden,
                                   "calibrated": prec.calibrated.get(t), "quantizer": t in prec.quantized,
                                   "error_bound": prec.errs[t]}
    return {
        "equihls_version": __version__,
        "model": source.identity(model_path),     # sha256 of the .onnx and of each external data file
        "target": {"name": tgt.name, "part": tgt.part, "clock_ns": clock},
        "top": TOP, "io_type": "io_parallel", "ii": 1,
        "options": options,
        "inputs": [{"name": cname[i], "onnx_name": i, "shape": list(g.shapes[i][1:]), "type": prec.types[i].cpp(),
                    "size": s} for i, (_, s) in zip(g.inputs, ins)],
        "outputs": [{"name": cname[o], "onnx_name": o, "shape": list(g.shapes[o][1:]), "type": prec.types[o].cpp(),
                     "size": s} for o, (_, s) in zip(g.outputs, outs)],
        "tensors": tensors,
        "nodes": [{"name": n.name, "op": n.op, "attrs": {k: (list(v) if isinstance(v, tuple) else v) for k, v in n.attrs.items()
                             if isinstance(v, (str, int, float, tuple, list))},
                   "inputs": n.inputs, "outputs": n.outputs, "accum_type": prec.acc[n.name].cpp(), "accum_user_override": n.name in prec.acc_narrowed}
                  for n in g.nodes],
        "passes": log_passes,
        "self_check": rep,
    }


class Project:
    """A compiled project directory (reads equihls.json; runs the C simulation)."""

    def __init__(self, project_dir: str):
        path = os.path.join(project_dir, MANIFEST)
        if not os.path.exists(path):
            pdir.recover(project_dir)   # a compile killed while installing the project leaves it beside
        if not os.path.exists(path):
            raise EquihlsError(f"{project_dir}: not an equihls project (no {MANIFEST}); run equihls compile first")
        with open(path) as f:
            self.manifest = json.load(f)
        self.dir = project_dir
        self.inputs = self.manifest["inputs"]
        self.outputs = self.manifest["outputs"]
        self._sim = None

    def input_type(self, k: int = 0) -> FixedType:
        return FixedType.parse(self.inputs[k]["type"])

    def output_type(self, k: int = 0) -> FixedType:
        return FixedType.parse(self.outputs[k]["type"])

    @property
    def sim(self) -> CSim:
        if self._sim is None:
            self._sim = CSim(self.dir, [i["size"] for i in self.inputs], [o["size"] for o in self.outputs])
        return self._sim

    def run(self, *xs) -> list:
        """C-simulate float64 inputs [batch, *shape] (converted to the input type as hardware does);
        returns outputs [batch, *shape]. NaN/Inf are refused with the row index."""
        return self._run(xs, trace=False)

    def trace(self, *xs) -> tuple[list, dict]:
        """Like run(), with the overflow trace on: (outputs, overflow.trace_report dict) counting,
        per tensor, values that overflowed (saturated or wrapped) or were rounded."""
        ys, counts, flags = self._run(xs, trace=True)
        types = {i["onnx_name"]: FixedType.parse(i["type"]) for i in self.inputs}
        xs_named = {i["onnx_name"]: np.asarray(x, dtype=np.float64) for i, x in zip(self.inputs, xs)}
        return ys, overflow.trace_report(self.manifest["nodes"], self.manifest["tensors"], counts, flags,
                                         xs_named, types)

    def _run(self, xs, trace: bool):
        if len(xs) != len(self.inputs):
            raise EquihlsError(f"project has {len(self.inputs)} inputs, got {len(xs)}")
        arrs = []
        for x, spec in zip(xs, self.inputs):
            x = np.asarray(x, dtype=np.float64)
            if tuple(x.shape[1:]) != tuple(spec["shape"]):
                raise EquihlsError(f"input '{spec['onnx_name']}' has shape {list(x.shape)}, expected [batch, "
                                   f"{', '.join(map(str, spec['shape']))}]")
            check_finite(x, spec["onnx_name"])
            arrs.append(x)
        if trace:
            ys, counts, flags = self.sim.run(*arrs, n_blocks=len(self.manifest["nodes"]))
        else:
            ys = self.sim.run(*arrs)
        ys = [y.reshape(y.shape[0], *o["shape"]) for y, o in zip(ys, self.outputs)]
        return (ys, counts, flags) if trace else ys
