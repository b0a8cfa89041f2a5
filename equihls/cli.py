"""Command-line interface (thin: argument parsing and printing only)."""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from . import __version__, targets
from .errors import EquihlsError


def _cmd_compile(a):
    from .fixedpoint import FixedType
    from .project import compile_model

    def pairs(items, flag, what):
        out = {}
        for item in items or []:
            name, _, t = item.partition("=")
            if not t:
                raise EquihlsError(f"{flag} expects {what}=ap_fixed<W,I,...>, got '{item}'")
            out[name] = FixedType.parse(t)
        return out

    overrides = pairs(a.type, "--type", "TENSOR")
    compile_model(a.model, target=a.target, output_dir=a.output, clock_ns=a.clock_ns, input_type=a.input_type,
                  default_type=a.default_type, weight_frac=a.weight_frac, samples=a.samples,
                  n_samples=a.n_samples, seed=a.seed, tolerance_lsb=a.tolerance_lsb, type_overrides=overrides,
                  accum_overrides=pairs(a.accum_type, "--accum-type", "NODE"), symmetry=_split(a.symmetry), input_reps=_split(a.input_rep), output_reps=_split(a.output_rep),
                  output_perm=a.output_perm, calibrate=a.calibrate, calib_margin=a.calib_margin,
                  allow_overflow=a.allow_overflow, force=a.force)
    return 0


def _split(v):
    """'a,b' -> ['a', 'b'] (irreps strings contain '+', never ','); None stays None."""
    return [p.strip() for p in v.split(",") if p.strip()] if v else None


def _cmd_check(a):
    from . import check
    from .project import Project

    p = Project(a.project)
    xs = None
    if a.input:
        xs = _read_input(a.input, len(p.inputs))
    rep = check.run(p, groups=_split(a.group), xs=xs, n_events=a.events, n_elements=a.samples, seed=a.seed,
                    tol_lsb=a.tol_lsb, tol_exact=a.tol_exact, max_rapidity=a.max_rapidity,
                    time_reversal=a.time_reversal, input_reps=_split(a.input_rep), output_reps=_split(a.output_rep),
                    output_perm=a.output_perm, progress=False if a.quiet else None)
    print(check.format_report(rep))
    text = json.dumps(rep, indent=1, sort_keys=True)
    with open(os.path.join(p.dir, check.CHECK_FILE), "w") as f:
        f.write(text)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text)
    return 0 if rep["passed"] else 1


def _read_input(spec: str, n_inputs: int):
    path, _, key = spec.partition(":")
    if not os.path.exists(path):
        raise EquihlsError(f"{path}: no such file")
    try:
        data = np.load(path)
    except Exception as e:
        raise EquihlsError(f"{path}: cannot read ({e})") from None
    if isinstance(data, np.ndarray):
        return [data]
    if key:
        if key not in data.files:
            raise EquihlsError(f"{path}: no array '{key}' (has {data.files})")
        return [data[key]]
    if n_inputs == 1:
        k = "x" if "x" in data.files else data.files[0]
        return [data[k]]
    return [data[k] for k in data.files[:n_inputs]]


def _cmd_csim(a):
    from .csim import range_report
    from .overflow import format_trace
    from .project import Project

    p = Project(a.project)
    xs = _read_input(a.input, len(p.inputs))
    if a.trace:
        ys, rep = p.trace(*xs)
        print(format_trace(rep, all_tensors=True))
        if a.json:
            with open(a.json, "w") as f:
                json.dump(rep, f, indent=1, sort_keys=True)
        if a.output:
            np.save(a.output, ys[0])
        return 1 if rep["n_overflow"] or rep["n_rounding_violations"] else 0
    for k, (x, spec) in enumerate(zip(xs, p.inputs)):
        rep = range_report(np.asarray(x, dtype=np.float64).reshape(len(x), -1) if np.isfinite(x).all() else np.zeros((1, 1)),
                           p.input_type(k))
        if rep["n_out_of_range"]:
            print(f"warning: input '{spec['onnx_name']}': {rep['n_out_of_range']} values outside {spec['type']} "
                  f"[{rep['type_min']}, {rep['type_max']}] (max |x| = {rep['max_abs']}); first rows {rep['rows']}",
                  file=sys.stderr)
    ys = p.run(*xs)
    if a.output:
        np.save(a.output, ys[0])
        print(f"wrote {a.output}: shape {list(ys[0].shape)} ({p.outputs[0]['type']})")
    else:
        np.set_printoptions(threshold=50, linewidth=120)
        for o, y in zip(p.outputs, ys):
            print(f"{o['onnx_name']} [{o['type']}] shape {list(y.shape)}:\n{y}")
    return 0


def _cmd_report(a):
    from . import report
    from .project import Project

    rep = report.collect(Project(a.project))
    if a.json:
        text = json.dumps(rep, indent=1, sort_keys=True)
        if a.json == "-":
            print(text)
        else:
            with open(a.json, "w") as f:
                f.write(text)
    if a.json != "-":
        print(report.format_report(rep))
    return 0


def _cmd_targets(a):
    print(targets.table())
    return 0


def build_parser():
    ap = argparse.ArgumentParser(prog="equihls", description="Compile equivariant neural networks (ONNX) into "
                                 "fixed-point HLS firmware for trigger FPGAs, with bit-accurate C simulation.")
    ap.add_argument("--version", action="version", version=f"equihls {__version__}")
    sub = ap.add_subparsers(dest="cmd", required=True)

    c = sub.add_parser("compile", help="compile an ONNX model into a self-checked Vitis HLS project")
    c.add_argument("model", help="ONNX file")
    c.add_argument("--target", default="vu9p", help="FPGA target (see `equihls targets`); default vu9p")
    c.add_argument("-o", "--output", help="project directory (default hls_projects/<model>_<target>)")
    c.add_argument("--force", action="store_true", help="write the project into an existing non-empty directory "
                   "that is not an equihls project (its other files are kept)")
    c.add_argument("--clock-ns", type=float, help="clock period in ns (default: the target's)")
    c.add_argument("--input-type", default="ap_fixed<16,12>", help="type of the input port (default ap_fixed<16,12>)")
    c.add_argument("--default-type", default="ap_fixed<18,8,AP_RND>",
                   help="fractional bits and rounding of tensors that must round (dense, mul, LUT outputs); "
                        "integer bits always come from the interval analysis (default ap_fixed<18,8,AP_RND>)")
    c.add_argument("--weight-frac", type=int, default=12, help="max fractional bits of constants (default 12)")
    c.add_argument("--type", action="append", metavar="TENSOR=TYPE", help="override the type of one tensor")
    c.add_argument("--accum-type", action="append", metavar="NODE=TYPE",
                   help="narrow the accumulator of one block (node name or its output tensor); it then rounds "
                        "after every term, which can break exact invariance (equihls check shows it)")
    c.add_argument("--samples", help="sample inputs for the self-check (.npy, or .npz keyed by input name)")
    c.add_argument("--calibrate", metavar="X.npz", help="calibration events: their value ranges times "
                   "--calib-margin narrow the integer bits of computed tensors (which then saturate)")
    c.add_argument("--calib-margin", type=float, default=2.0,
                   help="safety factor on calibrated ranges (default 2: one spare integer bit)")
    c.add_argument("--allow-overflow", action="store_true", help="keep the project when values overflow on the "
                   "samples (counts go to the manifest) instead of failing")
    c.add_argument("--n-samples", type=int, default=256, help="generated samples when --samples is not given")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--tolerance-lsb", type=float, help="accept a C-sim vs ONNX Runtime error up to this many output LSB")
    c.add_argument("--symmetry", help="groups the model must respect, comma-separated: perm, so3, o3, lorentz, "
                   "o13, translation (overrides ONNX metadata equihls.symmetry); recorded for `equihls check`")
    c.add_argument("--input-rep", help="how each input's last axis transforms, comma-separated: 4vec, 3vec, scalar, "
                   "an irreps string (1x0e+1x1o) or a Lorentz irrep ((1,1)); default 4vec/3vec by size")
    c.add_argument("--output-rep", help="how each output transforms (default scalar = invariant)")
    c.add_argument("--output-perm", choices=("invariant", "equivariant"),
                   help="outputs under particle permutations (default invariant)")
    c.set_defaults(fn=_cmd_compile)

    s = sub.add_parser("csim", help="bit-accurate C simulation of a compiled project")
    s.add_argument("project", help="project directory")
    s.add_argument("--input", required=True, help="X.npy or X.npz[:key]")
    s.add_argument("-o", "--output", help="write the outputs to this .npy")
    s.add_argument("--trace", action="store_true", help="count per tensor the values that overflowed (saturated "
                   "or wrapped) or were rounded; exit 1 if any overflowed")
    s.add_argument("--json", help="with --trace: write the counts as JSON here")
    s.set_defaults(fn=_cmd_csim)

    k = sub.add_parser("check", help="equivariance certificate: C-sim under group transformations "
                       "(exit 0 pass, 1 a line failed, 2 error)")
    k.add_argument("project", help="project directory")
    k.add_argument("--group", help="groups to check, comma-separated (default: those declared at compile)")
    k.add_argument("--input", help="events X.npy or X.npz[:key] (default: the samples stored at compile)")
    k.add_argument("--events", type=int, help="use the first N events")
    k.add_argument("--samples", type=int, default=8, help="group elements sampled per line (default 8)")
    k.add_argument("--seed", type=int, default=0)
    k.add_argument("--tol-lsb", type=float, default=2.0, help="continuous lines: allowed C-sim violation above the "
                   "float64 floor, in output LSB, on every event (default 2)")
    k.add_argument("--tol-exact", type=int, default=0, help="exact lines: allowed mismatching pairs (default 0)")
    k.add_argument("--max-rapidity", type=float, default=1.0, help="boost rapidity bound (default 1)")
    k.add_argument("--time-reversal", action="store_true", help="o13: include time reversal")
    k.add_argument("--input-rep", help="override the declared input representations")
    k.add_argument("--output-rep", help="override the declared output representations")
    k.add_argument("--output-perm", choices=("invariant", "equivariant"))
    k.add_argument("--json", help="also write the JSON report here (always written to the project)")
    k.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    k.set_defaults(fn=_cmd_check)

    r = sub.add_parser("report", help="estimates, types, self-check, overflow trace and certificate of a project "
                       "(beside measured figures when a synthesis report is present)")
    r.add_argument("project", help="project directory")
    r.add_argument("--json", metavar="FILE", help="write the report as JSON to FILE ('-': stdout only)")
    r.set_defaults(fn=_cmd_report)

    t = sub.add_parser("targets", help="list the known FPGA targets")
    t.set_defaults(fn=_cmd_targets)
    return ap


def main(argv=None) -> int:
    """Entry point of the `equihls` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except EquihlsError as e:
        print(f"equihls: error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:  # type strings, widths
        print(f"equihls: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
