"""Compile an ONNX model into a self-checked Vitis HLS project, as named stages.

    validate -> load -> passes -> precision -> open output -> samples -> float reference -> emit
    -> hls4ml project -> project files -> build C-sim -> self-check -> certify (manifest)
    -> verdict (reject or keep) -> install (write manifest, swap in)

`run(model_path, options)` runs them over one CompileOptions; each stage is a function of the
state it needs (`_Build`). The project is built in 'DIR.partial.<pid>' under a lock and swapped in
only after the self-check passes (backend.staging); a failed self-check keeps it as
'DIR.rejected' (no manifest) for inspection.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import shutil
import zipfile
from dataclasses import dataclass, field

import numpy as np

from . import __version__, events, passes, targets
from .verify import check, independence, overflow, selfcheck, probe as symprobe
from .report import estimate, fit
from .frontend import onnx_import as frontend, qonnx_quant as quant, source
from .precision import infer as precision
from .backend import staging as pdir
from .backend.csim import CSim, build as build_csim, check_finite, range_report, write_bridge
from .errors import EquihlsError, FitError, OptionError, OverflowDetected, SelfCheckError, TypeWidthError
from .ir.fixedpoint import ODD_ROUNDING, FixedType, parse_user_type
from .symmetry.groups import SIGN_FLIP_GROUPS
from .backend import emit as emitter
from .backend import extension, testbench
from .project import LAYOUT
from .passes.recognize.tensor_products import output_representation

DEFAULT_INPUT_TYPE = "ap_fixed<16,12>"
DEFAULT_TYPE = "ap_fixed<18,8,AP_RND>"


def _opt(default, doc: str, **kw):
    """A CompileOptions field with its documentation (units, CLI option) in the metadata."""
    return field(default=default, metadata={"doc": doc}, **kw)


@dataclass
class CompileOptions:
    """Everything `equihls compile` takes besides the model; defaults are the CLI's.

    Types are FixedType or C++ type strings ('ap_fixed<16,12>'); samples / calibrate are a path
    (.npy, .npz keyed by input name, FILE.npz:key) or numpy arrays (one per input, or {name: array}).
    `validate()` refuses bad values with the messages the CLI prints."""

    target: str = _opt("vu9p", "FPGA target name (targets.TARGETS; --target)")
    output_dir: str | None = _opt(None, "project directory (default hls_projects/<model>_<target>; -o)")
    clock_ns: float | None = _opt(None, "clock period in ns, > 0 (default: the target's; --clock-ns)")
    input_type: object = _opt(DEFAULT_INPUT_TYPE, "type of every input port (--input-type)")
    default_type: object = _opt(DEFAULT_TYPE, "fractional bits and rounding of tensors that must round "
                                              "(--default-type)")
    weight_frac: int | None = _opt(None, "fractional bits of every constant, 0..MAX_WIDTH (--weight-frac)")
    weight_bits: int = _opt(precision.DEFAULT_WEIGHT_BITS, "significant bits of each constant, 1..40 "
                                                           "(--weight-bits)")
    allow_weight_rounding: bool = _opt(False, "accept constants that round badly (--allow-weight-rounding)")
    fidelity_rms: float = _opt(selfcheck.DEFAULT_FIDELITY_RMS, "allowed RMS error against the float model, as a "
                                                               "fraction of each output's spread (--fidelity-rms)")
    samples: object = _opt(None, "self-check events: path or arrays (default: generated; --samples)")
    n_samples: int = _opt(256, "generated events when samples is None, >= 1 (--n-samples)")
    seed: int = _opt(0, "seed of the generated events, >= 0 (--seed)")
    tolerance_lsb: float | None = _opt(None, "accepted C-sim vs ONNX Runtime error in output LSB, >= 0 "
                                             "(--tolerance-lsb)")
    type_overrides: dict | None = _opt(None, "{tensor: type} (--type TENSOR=TYPE)")
    accum_overrides: dict | None = _opt(None, "{node or its output tensor: accumulator type} (--accum-type)")
    symmetry: list | None = _opt(None, "groups `equihls check` certifies (--symmetry)")
    input_reps: list | None = _opt(None, "how each input's last axis transforms (--input-rep)")
    output_reps: list | None = _opt(None, "how each output transforms (--output-rep)")
    output_perm: str | None = _opt(None, "'invariant' or 'equivariant' under particle permutations (--output-perm)")
    calibrate: object = _opt(None, "calibration events: path or arrays (--calibrate)")
    calib_margin: float = _opt(precision.DEFAULT_CALIB_MARGIN, "safety factor on calibrated ranges, >= 1 "
                                                              "(--calib-margin)")
    allow_overflow: bool = _opt(False, "keep a project whose samples overflow (--allow-overflow)")
    allow_overfit: bool = _opt(False, "keep a project whose estimate exceeds the target (--allow-overfit)")
    ii: int = _opt(1, "initiation interval K: a new event every K cycles, each multiplier shared by up to K "
                      "products (--ii)")
    budget: object = _opt(None, "'dsp=0.5,lut=0.6,latency-ns=150,ii=6' or a dict: the smallest II that meets it "
                                "is chosen (--budget; overrides ii)")
    auto_exact: bool = _opt(True, "keep the rounded tensors that break a declared exact symmetry at their exact "
                                  "width (off: --no-auto-exact)")
    force: bool = _opt(False, "write into a non-empty directory that is not a project (--force)")

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_user(cls, **kw) -> "CompileOptions":
        """Options a user wrote (CLI or Python API), checked: unknown names, types (strings or
        FixedType, in the domain equihls compiles) and numbers out of range raise OptionError."""
        unknown = sorted(set(kw) - set(cls.names()))
        if unknown:
            raise OptionError(f"unknown compile option(s) {unknown}; known: {', '.join(cls.names())}")
        o = cls(**kw)
        o.input_type = user_type(o.input_type, "--input-type")
        # --default-type gives the fractional bits of rounded tensors: negative ones would round
        # every dense/mul/table output to a multiple of 2, 4, ...
        o.default_type = user_type(o.default_type, "--default-type")
        o.type_overrides = _user_types(o.type_overrides, "--type")
        o.accum_overrides = _user_types(o.accum_overrides, "--accum-type")
        o.symmetry, o.input_reps, o.output_reps = (_names(v) for v in (o.symmetry, o.input_reps, o.output_reps))
        o.validate(user=True)
        return o

    def validate(self, user: bool = False):
        """Refuse out-of-range numbers (OptionError/EquihlsError naming the CLI option). Without
        `user` only what compile_model always checked (weight bits, fidelity, clock)."""
        if not 1 <= int(self.weight_bits) <= 40:
            raise EquihlsError(f"--weight-bits must be between 1 and 40, got {self.weight_bits}")
        if not 0 < float(self.fidelity_rms) < float("inf"):
            raise EquihlsError(f"--fidelity-rms must be a positive number, got {self.fidelity_rms}")
        _check_int(self.ii, "--ii", 1, fit.MAX_II)
        if self.budget is not None:
            try:
                self.budget = fit.parse_budget(self.budget)
            except ValueError as e:
                raise OptionError(str(e)) from None
        if not user:
            return
        if self.clock_ns is not None:
            _check_number(self.clock_ns, "--clock-ns", 0, above=True, unit="ns")
        _check_int(self.n_samples, "--n-samples", 1)
        _check_int(self.seed, "--seed", 0)
        if self.weight_frac is not None:
            _check_int(self.weight_frac, "--weight-frac", 0, precision.MAX_WIDTH)
        _check_number(self.calib_margin, "--calib-margin", 1)
        if self.tolerance_lsb is not None:
            _check_number(self.tolerance_lsb, "--tolerance-lsb", 0)
        if self.output_perm not in (None, "invariant", "equivariant"):
            raise OptionError(f"--output-perm must be 'invariant' or 'equivariant', got {self.output_perm!r}")


def user_type(t, option: str) -> FixedType:
    """A type the user gave (string or FixedType), checked like --input-type (fixedpoint.parse_user_type)."""
    text = t.cpp() if isinstance(t, FixedType) else t
    if not isinstance(text, str):
        raise OptionError(f"{option}: expected a type such as 'ap_fixed<16,6>' or a FixedType, got {t!r}")
    return parse_user_type(text, option, precision.MAX_WIDTH)


def _user_types(d, option: str) -> dict | None:
    """{name: type string or FixedType} -> {name: FixedType}, each checked like --input-type."""
    if d is None:
        return None
    if not isinstance(d, dict):
        raise OptionError(f"{option} expects {{name: type}}, got {type(d).__name__}")
    return {name: user_type(t, f"{option} {name}") for name, t in d.items()}


def _names(v):
    """'a,b' or ['a', 'b'] -> ['a', 'b'] (irreps strings contain '+', never ','); None stays None."""
    if isinstance(v, str):
        return [p.strip() for p in v.split(",") if p.strip()] or None
    return list(v) if v is not None else None


def _check_int(v, option: str, low: int, high: int | None = None):
    """Refuse what the CLI's argparse type refuses, in its words (cli._number)."""
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low or (high is not None and v > high):
        bound = f">= {low:g}" + (f" and <= {high:g}" if high is not None else "")
        raise OptionError(f"argument {option}: must be a finite integer {bound}, got '{v}'")


def _check_number(v, option: str, low: float, above: bool = False, unit: str = ""):
    """Like _check_int for a finite number >= low (> low with `above`)."""
    if (isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not np.isfinite(v) or v < low
            or (above and v == low)):
        raise OptionError(f"argument {option}: must be a finite number {'>' if above else '>='} {low:g}"
                          f"{' ' + unit if unit else ''}, got '{v}'")


def default_output_dir(model_path: str, target: str) -> str:
    """hls_projects/<model>_<target> under the current directory."""
    stem = os.path.splitext(os.path.basename(model_path))[0]
    return os.path.join("hls_projects", f"{stem}_{target}")


@dataclass
class _Build:
    """The state one compile passes from stage to stage."""

    model_path: str
    opts: CompileOptions
    log: object
    tgt: object = None
    clock: float = 0.0
    in_t: FixedType = None
    def_t: FixedType = None
    g: object = None                  # the IR graph (ir.Graph)
    model: object = None              # the reference onnx.ModelProto
    sym: dict = None                  # declared symmetry (check.declare_symmetry)
    out_reps_declared: bool = False   # the user declared the output representations
    calibration: dict = None          # calibrated ranges (computed once; --calibrate)
    auto_exact: dict = None           # what stage_keep_covariant_exact changed
    ii: int = 1                       # the initiation interval the project is built for
    est: dict = None                  # the estimate with the final types at that II (report.estimate)
    fit: dict = None                  # its fit verdict (report.fit)
    pass_log: list = None
    prec: object = None               # precision.infer result
    out_dir: str = ""
    out: object = None                # the locked staging.Output
    partial: str = ""                 # DIR.partial.<pid>
    x: dict = None                    # raw sample events {input: float64 [batch, *shape]}
    x_q: dict = None                  # the same quantised to the input types
    rng_rep: dict = None
    ref_model: object = None
    ref_bytes: bytes = b""            # ref_model serialised (ONNX Runtime's input)
    y_ref: list = None                # ONNX Runtime on x_q
    y_ref_raw: list = None            # ONNX Runtime on x
    per_event: dict = None            # the per-event independence proof (verify/independence.py)
    on_grid: bool = False
    onnx_graph: object = None         # the emitted equihls ONNX graph hls4ml converts
    cname: dict = None                # tensor -> C name
    ins: list = None                  # [(C type name, size)] of the top function's input ports
    outs: list = None
    counts: object = None             # overflow trace counters of the C-sim run
    flags: object = None
    tb_raw: dict = None               # the twin's raw outputs on the testbench events (x_q)
    rep: dict = None                  # the self-check report
    manifest: dict = None


@pdir.releases_outputs
def run(model_path: str, opts: CompileOptions, log=print) -> dict:
    """Compile `model_path` (an ONNX file) with `opts`, stage by stage; returns the manifest (also
    written to the project) with "project_dir" added. Raises EquihlsError subclasses
    (ModelError, SelfCheckError, OverflowDetected, ...); the output lock is released on return."""
    b = _Build(os.fspath(model_path), opts, log)
    stage_validate(b)
    stage_load(b)
    stage_passes(b)
    stage_bind_output_bases(b)
    stage_precision(b)
    stage_open_output(b)
    stage_samples(b)
    stage_keep_covariant_exact(b)
    stage_fit(b)
    stage_reference(b)
    stage_per_event(b)
    stage_emit(b)
    stage_hls4ml_project(b)
    stage_project_files(b)
    sim = stage_build_csim(b)
    stage_self_check(b, sim)
    stage_certify(b)
    stage_verdict(b)
    return stage_install(b)


def stage_validate(b: _Build):
    """Target, clock (ns) and the numeric options; the input and default types parsed."""
    o = b.opts
    b.tgt = targets.get(o.target)
    o.validate()
    b.clock = float(o.clock_ns) if o.clock_ns else b.tgt.clock_ns
    if b.clock <= 0:
        raise EquihlsError(f"--clock-ns must be positive, got {b.clock}")
    b.in_t, b.def_t = _as_type(o.input_type), _as_type(o.default_type)


def _as_type(t) -> FixedType:
    return t if isinstance(t, FixedType) else FixedType.parse(t)


def stage_load(b: _Build):
    """Read the ONNX file into the IR; the symmetry declaration (options over ONNX metadata)."""
    o = b.opts
    g, model = frontend.load(b.model_path)
    b.g, b.model = g, model
    meta = {p.key: p.value for p in model.metadata_props}
    b.sym = check.declare_symmetry(meta, [(i, g.shapes[i][1:]) for i in g.inputs],
                                   [(t, g.shapes[t][1:]) for t in g.outputs],
                                   o.symmetry, o.input_reps, o.output_reps, o.output_perm)
    b.out_reps_declared = bool(o.output_reps) or bool(meta.get(check.METADATA_KEYS["output_reps"]))


def stage_passes(b: _Build):
    """Recognise, lower and optimise the graph (the pass log goes into the manifest)."""
    b.pass_log = passes.run_all(b.g)


def stage_bind_output_bases(b: _Build):
    """Outputs that a recognised coupling computes (e.g. a Cartesian dot / cross / symmetric
    traceless product, in its own basis) take the representation it induces; one declared
    '@coupling' is checked against it (check.bind_output_bases)."""
    g, induced = b.g, {}
    for k, t in enumerate(g.outputs):
        found = output_representation(g, t)
        if found is not None:
            induced[k] = found
    for line in check.bind_output_bases(b.sym, induced, b.out_reps_declared, [(t, g.shapes[t][1:]) for t in g.outputs]):
        b.log(line)


def stage_precision(b: _Build):
    """Interval inference of every tensor's type; narrowed by calibration events when given."""
    b.prec = _infer(b, b.opts.type_overrides)


def _infer(b: _Build, overrides: dict | None):
    """precision.infer with the options' settings and type `overrides` {tensor: FixedType}."""
    o, g = b.opts, b.g
    in_types = {i: b.in_t for i in g.inputs}
    const_opts = dict(weight_bits=o.weight_bits, allow_weight_rounding=o.allow_weight_rounding)
    prec = precision.infer(g, in_types, b.def_t, o.weight_frac, overrides, o.accum_overrides, **const_opts)
    if _given(o.calibrate):
        if b.calibration is None:
            x_cal = _events(o.calibrate, g, "calibrate")
            for name, a in x_cal.items():
                check_finite(a, f"{name}' in '{_source(o.calibrate)}")
            b.calibration = precision.calibration_ranges(
                g, prec, {n: prec.types[n].quantize(a) for n, a in x_cal.items()})
        prec = precision.infer(g, in_types, b.def_t, o.weight_frac, overrides, o.accum_overrides,
                               calibration=b.calibration, calib_margin=o.calib_margin, **const_opts)
    return prec


def _events(spec, g, what: str) -> dict:
    """{input: float64 [batch, *shape]} from a file spec (selfcheck.load_samples) or numpy
    arrays (one per input in graph order, or {input name: array}; `what` names them in errors)."""
    if isinstance(spec, (str, os.PathLike)):
        return selfcheck.load_samples(os.fspath(spec), g, list(g.inputs))
    if isinstance(spec, dict):
        missing = [i for i in g.inputs if i not in spec]
        if missing:
            raise OptionError(f"{what}: no array for input(s) {missing} (has {list(spec)})")
        arrays = [spec[i] for i in g.inputs]
    else:
        arrays = list(spec) if isinstance(spec, (list, tuple)) else [spec]
    if len(arrays) != len(g.inputs):
        raise OptionError(f"{what}: {len(arrays)} array(s) for the model's inputs {list(g.inputs)}")
    return {i: events.checked_events(a, i, what, tuple(g.shapes[i][1:])) for i, a in zip(g.inputs, arrays)}


def _given(spec) -> bool:
    """Whether a samples/calibrate option was given (None or '' is not, as on the command line)."""
    return spec is not None and not (isinstance(spec, str) and not spec)


def _source(spec) -> str:
    """How errors name a samples/calibrate source: the path as given, or 'numpy arrays'."""
    return os.fspath(spec) if isinstance(spec, (str, os.PathLike)) else "numpy arrays"


def _label(spec) -> str:
    """How the manifest names a samples/calibrate source: the file's base name, or 'numpy arrays'."""
    return os.path.basename(os.fspath(spec)) if isinstance(spec, (str, os.PathLike)) else "numpy arrays"


def stage_open_output(b: _Build):
    """Refuse a foreign output directory and lock it (until compile returns)."""
    b.out_dir = b.opts.output_dir or default_output_dir(b.model_path, b.tgt.name)
    b.out = pdir.open_output(b.out_dir, force=b.opts.force, log=b.log)


def stage_samples(b: _Build):
    """The self-check's events, quantised to the input type exactly as the hardware port does."""
    o, g, prec = b.opts, b.g, b.prec
    b.x = _events(o.samples, g, "samples") if _given(o.samples) else \
        selfcheck.sample_inputs(g, prec, o.n_samples, o.seed, padded=_padded(b))
    b.rng_rep, b.x_q = {}, {}
    for name, a in b.x.items():
        check_finite(a, name)
        b.rng_rep[name] = range_report(a, prec.types[name])
        b.x_q[name] = prec.types[name].quantize(a)


AUTO_EXACT_ROUNDS = 4     # each round can expose a tensor downstream of the ones just made exact


def stage_keep_covariant_exact(b: _Build):
    """Symmetry by construction: with a declared group, a rounded tensor that transforms
    non-trivially (a vector times an invariant, a covariant product) breaks the exact lines.
    1. When the group flips signs, each such tensor (the probe's covariant_rounded) that rounds
       with a mode that is not odd (AP_RND rounds ties up) rounds with AP_RND_CONV instead: odd
       rounding commutes with sign flips and permutations, at no extra bits.
    2. The probe (the twin on exact group elements of the samples) names the rounded tensors that
       still break the lines (an integer Lorentz matrix or a rotation of l=2 components mixes
       them); each is given its exact accumulator type and the types are inferred again, until the
       probe finds none.
    A tensor the user typed (--type) is left as typed. Off with --no-auto-exact."""
    b.auto_exact = {"enabled": bool(b.opts.auto_exact), "tensors": []}
    if not (b.sym and b.opts.auto_exact):
        return
    user = dict(b.opts.type_overrides or {})
    overrides, before, res = dict(user), b.prec, None
    if set(b.sym["groups"]) & set(SIGN_FLIP_GROUPS):
        res = symprobe.probe(b.g, b.prec, b.sym, b.x_q)
        odd = [t for t in res["covariant_rounded"] if t not in user and b.prec.types[t].rounding not in ODD_ROUNDING]
        if odd:
            trial = {**overrides, **{t: b.prec.types[t].with_modes(rounding="AP_RND_CONV") for t in odd}}
            overrides, b.prec, res = trial, _infer(b, trial), None
            b.auto_exact["odd_rounding"] = [{"tensor": t, "from": before.types[t].cpp(), "to": trial[t].cpp()}
                                            for t in odd]
    exact, probed = set(), None
    for _ in range(AUTO_EXACT_ROUNDS):
        res = res or symprobe.probe(b.g, b.prec, b.sym, b.x_q)
        probed = (res, b.prec)
        new = [s for s in res["suspects"] if s["tensor"] not in user and s["tensor"] not in exact]
        res = None
        if not new:
            break
        trial = {**overrides, **{s["tensor"]: FixedType.parse(s["exact_type"]) for s in new}}
        try:
            prec = _infer(b, trial)
        except TypeWidthError as e:     # exact here, a tensor downstream would exceed the widest type
            b.auto_exact["not_kept"] = [{"tensor": s["tensor"], "type": s["type"], "exact_type": s["exact_type"],
                                         "reason": str(e)} for s in new]
            b.log(f"equihls: warning: cannot keep {', '.join(s['tensor'] for s in new)} exact for the declared "
                  f"symmetry: {e}")
            break
        overrides, b.prec = trial, prec
        exact.update(s["tensor"] for s in new)
        b.auto_exact["tensors"] += [{"tensor": s["tensor"], "from": before.types[s["tensor"]].cpp(),
                                     "to": s["exact_type"]} for s in new]
    if b.auto_exact.get("odd_rounding"):
        # the loop's last probe, when it saw the types as they are now
        _drop_needless_odd_rounding(b, overrides, exact, probed[0] if probed and probed[1] is b.prec else None)
    b.prec.overridden = set(user)      # the manifest's user_override: what the user typed, not these
    if b.auto_exact["tensors"] or b.auto_exact.get("odd_rounding"):
        cost = {k: [estimate.estimate(b.g, p, b.tgt, b.clock)["total"][k] for p in (before, b.prec)]
                for k in ("dsp", "lut", "ff")}
        b.auto_exact["cost"] = cost
        b.log(symprobe.format_auto_exact(b.auto_exact))


def _drop_needless_odd_rounding(b: _Build, overrides: dict, exact: set, res: dict | None):
    """A tensor made odd that is now exact, or that no longer transforms (it only moved because a
    rounded covariant tensor upstream broke the symmetry, and that one is exact now), goes back to
    its inferred type, as long as the probe still passes. res: a probe of the current types, if
    one was run."""
    moved = set((res or symprobe.probe(b.g, b.prec, b.sym, b.x_q))["covariant_rounded"])
    keep = [t for t in b.auto_exact["odd_rounding"] if t["tensor"] not in exact and t["tensor"] in moved]
    drop = [t["tensor"] for t in b.auto_exact["odd_rounding"] if t["tensor"] not in exact | moved]
    if drop:
        trial = {k: v for k, v in overrides.items() if k not in drop}
        prec = _infer(b, trial)
        if not symprobe.probe(b.g, prec, b.sym, b.x_q)["suspects"]:
            b.prec = prec
        else:
            keep = [t for t in b.auto_exact["odd_rounding"] if t["tensor"] not in exact]
    b.auto_exact["odd_rounding"] = keep


def _padded(b: _Build) -> bool:
    """Generated events are zero-padded when the model declares permutations of real particles."""
    return "perm_real" in ((b.sym or {}).get("groups") or [])


def stage_fit(b: _Build):
    """The estimate with the final types at the chosen II (--ii, or the smallest that meets
    --budget) and its fit verdict, printed; a design over the target's capacity stops here
    (before the C++ is built, naming the smallest II that would fit) unless allow_overfit."""
    o = b.opts

    def at(k):
        return estimate.estimate(b.g, b.prec, b.tgt, b.clock, ii=k)

    b.ii = int(o.ii)
    if o.budget:
        found = fit.smallest_ii(at, o.budget)
        if found is None:
            e = at(o.budget.get("ii", fit.MAX_II))
            raise FitError(f"{b.model_path}: no II up to {o.budget.get('ii', fit.MAX_II)} meets --budget "
                           f"{_budget_text(o.budget)} on {b.tgt.name}: at the largest, "
                           f"{fit.format_fit(fit.verdict(e), e).removeprefix('equihls: ')}")
        b.ii, b.est = found
        b.log(f"equihls: --budget {_budget_text(o.budget)}: II {b.ii} is the smallest that meets it")
    else:
        b.est = at(b.ii)
    b.fit = fit.verdict(b.est)
    b.log(fit.format_fit(b.fit, b.est))
    if not b.fit["fits"] and not o.allow_overfit:
        raise FitError(fit.overfit_message(b.model_path, b.fit, b.est, fit.smallest_ii(at, {}, b.ii + 1)))


def _budget_text(budget: dict) -> str:
    return ",".join(f"{k.replace('_', '-')}={v:g}" for k, v in budget.items())


def stage_reference(b: _Build):
    """ONNX Runtime outputs of the float model on the quantised and on the raw samples."""
    b.ref_model = quant.standard_ops(b.model)
    b.ref_bytes = ref_bytes = b.ref_model.SerializeToString()
    b.y_ref = selfcheck.run_onnxruntime(ref_bytes, b.x_q)
    # samples already on the input grid are their own quantisation: no second run needed
    b.on_grid = all(np.array_equal(b.x[i], b.x_q[i]) for i in b.g.inputs)
    b.y_ref_raw = b.y_ref if b.on_grid else selfcheck.run_onnxruntime(ref_bytes, b.x)


def stage_per_event(b: _Build):
    """Prove on ONNX Runtime that the model computes each event alone (a batch of two events equals
    the two run alone): the graph was compiled at batch 1, inner tensors may merge the batch axis."""
    def extra():    # drawn only when the samples hold no two different events
        return {k: b.prec.types[k].quantize(v) for k, v in
                selfcheck.sample_inputs(b.g, b.prec, 1, b.opts.seed + 1, _padded(b)).items()}
    x2 = independence.two_events(b.x_q, extra)
    outputs = [o.name for o in b.ref_model.graph.output]
    b.per_event = independence.prove_per_event(b.ref_bytes, outputs, x2, b.model_path)


def stage_emit(b: _Build):
    """The equihls ONNX graph hls4ml converts (one node per block) and the C names of tensors."""
    b.onnx_graph, b.cname = emitter.emit(b.g, b.prec)


def stage_hls4ml_project(b: _Build):
    """Stage DIR.partial.<pid> and let hls4ml write the project into it, with the testbench
    events: the quantised samples and the twin's outputs."""
    from .blocks import twin

    g = b.g
    b.partial = b.out.stage()
    tb_dir = os.path.join(b.partial, LAYOUT.tb_scratch)
    os.makedirs(tb_dir, exist_ok=True)
    try:
        b.tb_raw = twin.predict_raw(g, b.prec, b.x_q)
        y_twin = {o: b.prec.types[o].to_float(r) for o, r in b.tb_raw.items()}
        x_tb, y_tb = os.path.join(tb_dir, "x.npy"), os.path.join(tb_dir, "y.npy")
        # one row per event: every input (resp. output) flattened, concatenated in graph order, as
        # the hls4ml testbench reads them
        n_ev = b.x_q[g.inputs[0]].shape[0]
        np.save(x_tb, np.concatenate([b.x_q[i].reshape(n_ev, -1) for i in g.inputs], axis=1))
        np.save(y_tb, np.concatenate([y_twin[o].reshape(n_ev, -1) for o in g.outputs], axis=1))
        hm = _hls4ml_model(b.onnx_graph, b.cname, b.partial, b.tgt, b.clock, {i: b.in_t for i in g.inputs},
                           x_tb, y_tb, g.outputs)
    finally:
        shutil.rmtree(tb_dir, ignore_errors=True)
    b.ins = [(v.type.name, v.size()) for v in hm.get_input_variables()]
    b.outs = [(v.type.name, v.size()) for v in hm.get_output_variables()]


def _hls4ml_model(onnx_graph, cname, out_dir, target, clock_ns, input_types, x_tb, y_tb, outputs):
    """Convert the emitted equihls graph with hls4ml and write the project. `outputs`: the graph's
    output tensors in ONNX order, which the top function's output ports must follow."""
    import hls4ml

    extension.register()
    cfg = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"},
           "LayerName": {cname[i]: {"Precision": {"result": t.cpp()}} for i, t in input_types.items()}}
    with contextlib.redirect_stdout(io.StringIO()):
        hm = hls4ml.converters.convert_from_onnx_model(
            onnx_graph, output_dir=out_dir, project_name=LAYOUT.top, backend="Vitis", part=target.part,
            clock_period=clock_ns, io_type="io_parallel", hls_config=cfg, write_weights_txt=False,
            input_data_tb=x_tb, output_data_tb=y_tb)
        # hls4ml orders output ports by the node that writes them, not by the graph's output list
        want = [cname[o] for o in outputs]
        if sorted(hm.outputs) != sorted(want):
            raise EquihlsError(f"internal error: hls4ml outputs {hm.outputs} are not the graph outputs {want}")
        hm.outputs = want
        hm.write()
    return hm


def stage_project_files(b: _Build):
    """equihls' own files beside hls4ml's: the lowered graph, the source model, the samples and
    the C-sim bridge; hls4ml's files made deterministic."""
    p = b.partial
    pdir.fix_hls4ml_files(p, b.out_dir)
    with open(os.path.join(p, LAYOUT.graph), "wb") as f:
        f.write(b.onnx_graph.SerializeToString())
    source.save_model(b.model, os.path.join(p, LAYOUT.source_model))   # frontend.reference_model
    _save_npz(os.path.join(p, LAYOUT.samples), b.x)
    write_bridge(p, LAYOUT.top, b.ins, b.outs)
    extension.set_initiation_interval(p, LAYOUT.top, b.ii, b.est["total"]["multipliers"])
    # the testbench compares the same events' outputs bit for bit (hls4ml's compared nothing)
    g, n = b.g, len(b.x_q[b.g.inputs[0]])
    outs = [(t, s, b.prec.types[o].width) for (t, s), o in zip(b.outs, g.outputs)]
    testbench.write_testbench(p, LAYOUT.top, b.ins, outs, [np.asarray(b.tb_raw[o]).reshape(n, -1) for o in g.outputs])


def stage_build_csim(b: _Build) -> CSim:
    """g++ the C simulation (output in build.log) and load it."""
    b.log(f"equihls: building C simulation ({len(b.g.nodes)} blocks) ...")
    build_csim(b.partial, LAYOUT.top, os.path.join(b.partial, LAYOUT.build_log))
    return CSim(b.partial, [s for _, s in b.ins], [s for _, s in b.outs])


def stage_self_check(b: _Build, sim: CSim):
    """C-sim the samples with the overflow trace on; compare with the twin and ONNX Runtime
    (selfcheck.compare) and the raw-sample outputs with the float model (selfcheck.fidelity)."""
    o, g, prec = b.opts, b.g, b.prec
    y_csim, b.counts, b.flags = sim.run(*[b.x_q[i] for i in g.inputs], n_blocks=len(g.nodes))
    rep = selfcheck.compare(g, prec, b.x_q, y_csim, b.y_ref, o.tolerance_lsb, o.allow_overflow)
    # fidelity: the firmware on the raw samples (the port quantises them) against the float model
    y_csim_raw = y_csim if b.on_grid else sim.run(*[b.x[i] for i in g.inputs])
    fid = selfcheck.fidelity(g, prec, y_csim_raw, b.y_ref_raw, b.y_ref, o.fidelity_rms)
    if not fid["passed"] or any(r["envelope_vacuous"] for r in rep["outputs"].values()):
        fid["divergence"] = selfcheck.locate_divergence(g, prec, b.ref_model, b.x, b.x_q, rep["envelope"],
                                                        o.fidelity_rms)
    rep["fidelity"] = fid
    rep["passed"] &= fid["passed"]
    rep["input_range"] = b.rng_rep
    rep["samples"] = _label(o.samples) if _given(o.samples) else \
        f"generated (seed {o.seed}, uniform over the input type)"
    b.rep = rep


def stage_certify(b: _Build):
    """The manifest: types, nodes, self-check, symmetry probe, estimate and the overflow trace,
    which must agree with the twin's overflow counts tensor by tensor."""
    o, prec, rep = b.opts, b.prec, b.rep
    options = dict(input_type=b.in_t.cpp(), default_type=b.def_t.cpp(), weight_frac=o.weight_frac,
                   weight_bits=o.weight_bits, allow_weight_rounding=bool(o.allow_weight_rounding),
                   rounded_constants=prec.rounded_consts, fidelity_rms=o.fidelity_rms,
                   calibrate=_label(o.calibrate) if _given(o.calibrate) else None,
                   calib_margin=o.calib_margin if _given(o.calibrate) else None,
                   allow_overflow=bool(o.allow_overflow), allow_overfit=bool(o.allow_overfit),
                   ii=int(o.ii), budget=o.budget, auto_exact=bool(o.auto_exact))
    m = _manifest(b.model_path, b.tgt, b.clock, b.g, prec, b.cname, b.pass_log, rep, b.ins, b.outs, options, b.ii)
    m["symmetry"] = b.sym
    m["auto_exact"] = b.auto_exact
    m["per_event"] = b.per_event
    m["symmetry_probe"] = symprobe.probe(b.g, prec, b.sym, b.x_q)
    m["estimate"] = b.est
    m["fit"] = dict(b.fit, allow_overfit=bool(o.allow_overfit))
    accum = {k[:-len(".accum")]: v for k, v in rep["overflow"].items() if k.endswith(".accum")}
    trace = overflow.trace_report(m["nodes"], m["tensors"], b.counts, b.flags, b.x, prec.types, accum)
    m["overflow"] = trace
    # the traced C-sim and the twin count overflows independently: they must agree tensor by tensor
    seen = {t: c["overflow"] + c.get("clipped", 0) for t, c in trace["tensors"].items()}
    disagree = {t: (n, rep["overflow"].get(t, 0)) for t, n in seen.items() if n != rep["overflow"].get(t, 0)}
    if disagree:
        rep["trace_vs_twin_overflow"] = disagree
        rep["passed"] = False
    b.manifest = m


def stage_verdict(b: _Build):
    """Print the self-check; reject the build (DIR.rejected, no manifest) when it failed. The
    firmware must equal its twin before anything else means something; then overflow, the root
    cause of a wrong output when it happens; then fidelity and the envelope."""
    rep, trace, log, mp = b.rep, b.manifest["overflow"], b.log, b.model_path
    log(selfcheck.format_report(rep))
    if trace["n_overflow"] or trace["n_rounding_violations"]:
        log(overflow.format_trace(trace))
    bit_exact = not rep.get("trace_vs_twin_overflow") and all(
        r["csim_vs_twin_mismatches"] == 0 for r in rep["outputs"].values())
    if not rep["passed"] and not bit_exact:
        rejected = _reject(b.partial, b.out_dir, LAYOUT.selfcheck_failed, rep)
        raise SelfCheckError(_selfcheck_failure(mp, rep, rejected))
    if trace["n_rounding_violations"] or (trace["n_overflow"] and not b.opts.allow_overflow):
        rejected = _reject(b.partial, b.out_dir, LAYOUT.overflow_trace, trace)
        what = (f"{trace['n_overflow']} value(s) overflowed in {trace['events_with_overflow']} of "
                f"{trace['n_events']} sample events" if trace["n_overflow"] else
                f"{trace['n_rounding_violations']} tensor(s) promised exact were rounded")
        raise OverflowDetected(f"{mp}: {what}; see the table above. Project kept (without manifest) in "
                               f"{rejected}." + ("" if trace["n_rounding_violations"] else
                                                 " Widen the types, or pass --allow-overflow to accept it."))
    if not rep["passed"]:
        rejected = _reject(b.partial, b.out_dir, LAYOUT.selfcheck_failed, rep)
        raise SelfCheckError(_selfcheck_failure(mp, rep, rejected))


def stage_install(b: _Build) -> dict:
    """Write the manifest (last: it makes the directory a project) and swap the project in."""
    m, trace, log = b.manifest, b.manifest["overflow"], b.log
    if symprobe.format_probe(m["symmetry_probe"]):
        log(symprobe.format_probe(m["symmetry_probe"]))
    if trace["n_overflow"]:
        log(f"equihls: warning: {trace['n_overflow']} value(s) overflowed on the samples (--allow-overflow); "
            f"counts are in {LAYOUT.manifest} under 'overflow'")
    with open(os.path.join(b.partial, LAYOUT.manifest), "w") as f:
        json.dump(m, f, indent=1, sort_keys=True)
    b.out.install(b.partial)
    t = m["estimate"]["total"]
    log(f"equihls: estimate: {t['dsp']} DSP, {t['lut']:,} LUT, {t['ff']:,} FF, {t['bram18']} BRAM18, latency "
        f"{t['latency_cycles']} cycles ({t['latency_ns']:.0f} ns), II {t['ii']}; details: equihls report {b.out_dir}")
    log(f"equihls: wrote {b.out_dir} (target {b.tgt.name}, part {b.tgt.part}, clock {b.clock} ns)")
    m["project_dir"] = b.out_dir
    return m


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
                f"event, {r['envelope_median']:.3g}, is wider than the output's spread {r['output_spread']:.3g} "
                f"over the samples{where}.{first}")
    return (f"self-check failed for {model_path}: see above{where}. Use --tolerance-lsb to accept a larger error.")


def _reject(partial: str, out_dir: str, report_name: str, report: dict) -> str:
    """Keep a failed build as '<dir>.rejected' (no manifest) with the report that failed it."""
    return pdir.reject(partial, out_dir, report_name, report)


def _save_npz(path: str, arrays: dict):
    """np.savez without zip timestamps varying between runs (byte-identical projects)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name in sorted(arrays):
            buf = io.BytesIO()
            np.save(buf, np.ascontiguousarray(arrays[name]))
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, buf.getvalue())


def _manifest(model_path, tgt, clock, g, prec, cname, log_passes, rep, ins, outs, options, ii=1) -> dict:
    """The manifest (equihls.json) before the symmetry, estimate and overflow entries."""
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
        "top": LAYOUT.top, "io_type": "io_parallel", "ii": ii,
        "options": options,
        "inputs": [{"name": cname[i], "onnx_name": i, "shape": list(g.shapes[i][1:]), "type": prec.types[i].cpp(),
                    "size": s} for i, (_, s) in zip(g.inputs, ins)],
        "outputs": [{"name": cname[o], "onnx_name": o, "shape": list(g.shapes[o][1:]), "type": prec.types[o].cpp(),
                     "size": s} for o, (_, s) in zip(g.outputs, outs)],
        "tensors": tensors,
        "nodes": [{"name": n.name, "op": n.op,
                   "attrs": {k: (list(v) if isinstance(v, tuple) else v) for k, v in n.attrs.items()
                             if isinstance(v, (str, int, float, tuple, list))},
                   "inputs": n.inputs, "outputs": n.outputs, "accum_type": prec.acc[n.name].cpp(),
                   "accum_user_override": n.name in prec.acc_narrowed}
                  for n in g.nodes],
        "passes": log_passes,
        "self_check": rep,
    }


def compile_model(model_path: str, target: str = "vu9p", output_dir: str | None = None, log=print,
                  **options) -> dict:
    """Compile `model_path` for `target` (the keyword options are CompileOptions' fields, with the
    same defaults); returns the manifest (also written to the project) with "project_dir".

    An existing non-empty output_dir that is not an equihls project is refused unless force.
    symmetry / input_reps / output_reps / output_perm declare what `equihls check` certifies
    (they override the ONNX metadata_props equihls.symmetry etc.; see check.declare_symmetry).
    calibrate: events (like samples) whose value ranges, times calib_margin, narrow the integer
    bits of computed tensors (those then saturate). The samples are C-simulated with the overflow
    trace on; any overflow (or a rounding of a tensor promised exact) rejects the project unless
    allow_overflow, which keeps it and records the counts."""
    unknown = sorted(set(options) - set(CompileOptions.names()))
    if unknown:
        raise TypeError(f"compile_model() got unexpected keyword argument(s) {unknown}")
    return run(model_path, CompileOptions(target=target, output_dir=output_dir, **options), log=log)
