"""Command-line interface (thin: argument parsing and printing only).

Each command imports what it runs inside its function, so `equihls --help`, `equihls targets` and
argument errors answer without loading onnx, hls4ml or the compiler."""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import traceback

import numpy as np

from . import __version__, targets
from .errors import EquihlsError, OptionError

EXIT_USER_ERROR = 2      # bad file, option, model or data: one line 'equihls: error: ...'
EXIT_INTERNAL_ERROR = 3  # a bug in equihls: the traceback goes to a file (or stderr with EQUIHLS_DEBUG=1)
EXIT_BROKEN_PIPE = 141   # stdout closed by the reader (`equihls report --json - | head`): 128 + SIGPIPE
DEBUG_ENV = "EQUIHLS_DEBUG"


def _pairs(items, option: str, what: str) -> dict:
    """['NAME=TYPE', ...] -> {NAME: FixedType}; each type checked like --input-type."""
    out = {}
    for item in items or []:
        name, _, t = item.rpartition("=")   # a type never contains '='
        if not name or not t:
            raise OptionError(f"{option} expects {what}=ap_fixed<W,I,...>, got '{item}'")
        out[name] = t      # checked with the other options (driver.CompileOptions.from_user)
    return out


def _cmd_compile(a):
    from . import api

    api.compile(a.model, target=a.target, output_dir=a.output, log=print, clock_ns=a.clock_ns,
                input_type=a.input_type, default_type=a.default_type, weight_frac=a.weight_frac,
                weight_bits=a.weight_bits, allow_weight_rounding=a.allow_weight_rounding,
                fidelity_rms=a.fidelity_rms, samples=a.samples, n_samples=a.n_samples, seed=a.seed,
                tolerance_lsb=a.tolerance_lsb, types=_pairs(a.type, "--type", "TENSOR"),
                accum_types=_pairs(a.accum_type, "--accum-type", "NODE"), symmetry=_split(a.symmetry),
                input_reps=_split(a.input_rep), output_reps=_split(a.output_rep), output_perm=a.output_perm,
                calibrate=a.calibrate, calib_margin=a.calib_margin, allow_overflow=a.allow_overflow,
                allow_overfit=a.allow_overfit, ii=a.ii, budget=a.budget, auto_exact=not a.no_auto_exact,
                force=a.force)
    return 0


def _split(v):
    """'a,b' -> ['a', 'b'] (irreps strings contain '+', never ','); None stays None."""
    return [p.strip() for p in v.split(",") if p.strip()] if v else None


def _cmd_check(a):
    from .verify import check
    from .project import certificate_json

    p = _load(a.project)
    rep = p.check(groups=_split(a.group), x=a.input, n_events=a.events, n_elements=a.samples, seed=a.seed,
                  tol_lsb=a.tol_lsb, tol_exact=a.tol_exact, max_rapidity=a.max_rapidity,
                  time_reversal=a.time_reversal, input_reps=_split(a.input_rep), output_reps=_split(a.output_rep),
                  output_perm=a.output_perm, progress=False if a.quiet else None)
    print(check.format_report(rep))
    if a.json:
        _write_text(a.json, certificate_json(rep), "--json")
    return 0 if rep["passed"] else 1


def _load(project_dir: str):
    """The project of a command's DIR argument (api.load)."""
    from . import api

    return api.load(project_dir)


def _write_text(path: str, text: str, what: str):
    """project.write_text: an unwritable path is a user error naming `what` and the path."""
    from .project import write_text

    write_text(path, text, what)


def _save_npy(path: str, y, what: str):
    """np.save with the same error handling as _write_text."""
    try:
        np.save(path, y)
    except OSError as e:
        raise EquihlsError(f"{what} {path}: cannot write ({e.strerror or e})") from None


def _cmd_csim(a):
    from .backend.csim import range_report
    from .verify.overflow import format_trace

    p = _load(a.project)
    xs = p.events(a.input)
    if a.trace:
        ys, rep = p.trace(*xs)
        print(format_trace(rep, all_tensors=True))
        if a.json:
            _write_text(a.json, json.dumps(rep, indent=1, sort_keys=True), "--json")
        if a.output:
            _save_npy(a.output, ys[0], "-o")
        return 1 if rep["n_overflow"] or rep["n_rounding_violations"] else 0
    for k, (x, spec) in enumerate(zip(xs, p.inputs)):
        rep = range_report(x.reshape(len(x), -1), p.input_type(k))
        if rep["n_out_of_range"]:
            print(f"warning: input '{spec['onnx_name']}': {rep['n_out_of_range']} values outside {spec['type']} "
                  f"[{rep['type_min']}, {rep['type_max']}] (max |x| = {rep['max_abs']}); first rows {rep['rows']}",
                  file=sys.stderr)
    ys = p.run(*xs)
    if a.output:
        _save_npy(a.output, ys[0], "-o")
        print(f"wrote {a.output}: shape {list(ys[0].shape)} ({p.outputs[0]['type']})")
    else:
        np.set_printoptions(threshold=50, linewidth=120)
        for o, y in zip(p.outputs, ys):
            print(f"{o['onnx_name']} [{o['type']}] shape {list(y.shape)}:\n{y}")
    return 0


def _cmd_report(a):
    from .report import summary as report

    rep = _load(a.project).report(json=True)
    if a.json:
        text = json.dumps(rep, indent=1, sort_keys=True)
        if a.json == "-":
            print(text)
        else:
            _write_text(a.json, text, "--json")
    if a.json != "-":
        print(report.format_report(rep))
    return 0


def _cmd_targets(a):
    print(targets.table())
    return 0


def _cmd_ops(a):
    from .report import op_table

    print(op_table.markdown(), end="")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse with its errors as one 'equihls: error: ...' line (exit 2, via OptionError)."""

    def error(self, message):
        raise OptionError(f"{message} (see '{self.prog} --help')")


def _number(low: float, high: float | None = None, *, above: bool = False, integer: bool = False, unit: str = ""):
    """argparse type: a finite number >= low (> low with `above`) and <= high, an int with `integer`."""
    def parse(text: str):
        try:
            v = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if integer else 'a number'}, got "
                                             f"'{text}'") from None
        if not math.isfinite(v) or v < low or (above and v == low) or (high is not None and v > high):
            bound = f"{'>' if above else '>='} {low:g}" + (f" and <= {high:g}" if high is not None else "")
            raise argparse.ArgumentTypeError(f"must be a finite {'integer' if integer else 'number'} {bound}"
                                             f"{' ' + unit if unit else ''}, got '{text}'")
        return v
    return parse


def build_parser():
    from .precision.infer import MAX_WIDTH

    ap = _Parser(prog="equihls", description="Compile equivariant neural networks (ONNX) into "
                                 "fixed-point HLS firmware for trigger FPGAs, with bit-accurate C simulation.")
    ap.add_argument("--version", action="version", version=f"equihls {__version__}")
    sub = ap.add_subparsers(dest="cmd", required=True)

    c = sub.add_parser("compile", help="compile an ONNX model into a self-checked Vitis HLS project")
    c.add_argument("model", help="ONNX file")
    c.add_argument("--target", default="vu9p", help="FPGA target (see `equihls targets`); default vu9p")
    c.add_argument("-o", "--output", help="project directory (default hls_projects/<model>_<target>)")
    c.add_argument("--force", action="store_true", help="write the project into an existing non-empty directory "
                   "that is not an equihls project (its other files are kept)")
    c.add_argument("--clock-ns", type=_number(0, above=True, unit="ns"),
                   help="clock period in ns (default: the target's)")
    c.add_argument("--input-type", default="ap_fixed<16,12>", help="type of the input port (default ap_fixed<16,12>)")
    c.add_argument("--default-type", default="ap_fixed<18,8,AP_RND>",
                   help="fractional bits and rounding of tensors that must round (dense, mul, LUT outputs); "
                        "integer bits always come from the interval analysis (default ap_fixed<18,8,AP_RND>)")
    c.add_argument("--weight-bits", type=_number(1, 40, integer=True), default=12,
                   help="significant bits of each constant tensor's largest value, 1 to 40: its binary point "
                        "follows its magnitude (default 12)")
    c.add_argument("--weight-frac", type=_number(0, MAX_WIDTH, integer=True),
                   help=f"fix the fractional bits of every constant instead, 0 to {MAX_WIDTH} (overrides "
                        "--weight-bits' binary point; the relative-precision check still applies)")
    c.add_argument("--allow-weight-rounding", action="store_true", help="accept constants that round to 0 or lose "
                   "more than 2^-(weight-bits - 1) of their largest value (recorded in the manifest)")
    c.add_argument("--type", action="append", metavar="TENSOR=TYPE", help="override the type of one tensor")
    c.add_argument("--accum-type", action="append", metavar="NODE=TYPE",
                   help="narrow the accumulator of one block (node name or its output tensor); it then rounds "
                        "after every term, which can break exact invariance (equihls check shows it)")
    c.add_argument("--samples",
                   help="sample inputs for the self-check (.npy, .npz keyed by input name, or FILE.npz:key)")
    c.add_argument("--calibrate", metavar="X.npz", help="calibration events: their value ranges times "
                   "--calib-margin narrow the integer bits of computed tensors (which then saturate)")
    c.add_argument("--calib-margin", type=_number(1), default=2.0,
                   help="safety factor on calibrated ranges (default 2: one spare integer bit)")
    c.add_argument("--allow-overflow", action="store_true", help="keep the project when values overflow on the "
                   "samples (counts go to the manifest) instead of failing")
    c.add_argument("--allow-overfit", action="store_true", help="keep the project when the estimate exceeds the "
                   "target's DSP, LUT, FF or BRAM (by default the compile stops, naming the blocks that use most)")
    c.add_argument("--ii", type=_number(1, 64, integer=True), default=1, help="initiation interval K: a new event "
                   "every K cycles, each multiplier shared by up to K products of its block (default 1)")
    c.add_argument("--budget", help="choose the smallest II that meets this budget, e.g. "
                   "'dsp=0.5,lut=0.6,latency-ns=150,ii=6' (fractions of the part; ii = the largest allowed)")
    c.add_argument("--no-auto-exact", action="store_true", help="round every tensor to its inferred type even "
                   "where the rounding breaks the declared symmetry (by default the symmetry probe's suspects are "
                   "kept at their exact width; the cost is printed)")
    c.add_argument("--n-samples", type=_number(1, integer=True), default=256,
                   help="generated samples when --samples is not given")
    c.add_argument("--seed", type=_number(0, integer=True), default=0)
    c.add_argument("--fidelity-rms", type=_number(0, above=True), default=0.05, help="fail unless every output's RMS "
                   "error against the float model on the raw samples is at most this fraction of its spread "
                   "(default 0.05)")
    c.add_argument("--tolerance-lsb", type=_number(0),
                   help="accept a C-sim vs ONNX Runtime error up to this many output LSB")
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
    k.add_argument("--events", type=_number(1, integer=True), help="use the first N events")
    k.add_argument("--samples", type=_number(1, integer=True), default=8,
                   help="group elements sampled per line (default 8)")
    k.add_argument("--seed", type=_number(0, integer=True), default=0)
    k.add_argument("--tol-lsb", type=_number(0), default=None,
                   help="continuous lines: allowed C-sim mean/p99 violation above the float64 floor, in output LSB "
                   "(default: twice the firmware's measured arithmetic error; the float64 model itself within 2)")
    k.add_argument("--tol-exact", type=_number(0, integer=True), default=0,
                   help="exact lines: allowed mismatching pairs (default 0)")
    k.add_argument("--max-rapidity", type=_number(0, above=True), default=1.0, help="boost rapidity bound (default 1)")
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

    o = sub.add_parser("ops", help="the ONNX forms equihls recognises and lowers, and to which blocks (markdown)")
    o.set_defaults(fn=_cmd_ops)
    return ap


def main(argv=None) -> int:
    """Entry point of the `equihls` console script. Exit codes: 0 success; 1 a certificate line
    (or csim --trace) failed; 2 a user error (bad file, option, model or data), printed as one
    'equihls: error: ...' line; 3 an internal error (a bug: traceback to a file, or to stderr
    with EQUIHLS_DEBUG=1); 141 stdout closed by its reader; 130 interrupted."""
    try:
        args = build_parser().parse_args(argv)
        rc = args.fn(args)
        sys.stdout.flush()   # a reader that closed the pipe shows up here, not at interpreter exit
        return rc
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except EquihlsError as e:
        return _user_error(str(e))
    except OSError as e:     # the file system refused a path the user gave (read-only, full, missing)
        where = f"{e.filename}: " if e.filename else ""
        return _user_error(f"{where}{e.strerror or e}")
    except KeyboardInterrupt:
        print("equihls: interrupted", file=sys.stderr)
        return 130
    except Exception as e:   # anything else is a bug in equihls, not in the user's input
        return _internal_error(e)


def _user_error(msg: str) -> int:
    print(f"equihls: error: {msg}", file=sys.stderr)
    return EXIT_USER_ERROR


def _silence_stdout():
    """Point stdout at /dev/null so that the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _internal_error(e: Exception) -> int:
    """Report an unexpected exception as an internal error: its traceback goes to stderr with
    EQUIHLS_DEBUG=1, else to a file in the temporary directory whose path is printed."""
    tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    what = f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}"
    if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
        sys.stderr.write(tb)
        where = "traceback above"
    else:
        try:
            fd, path = tempfile.mkstemp(prefix="equihls-internal-error-", suffix=".txt")
            with os.fdopen(fd, "w") as f:
                f.write(f"equihls {__version__}, argv {sys.argv}\n{tb}")
            where = f"traceback written to {path}"
        except OSError:
            where = f"set {DEBUG_ENV}=1 to print the traceback"
    print(f"equihls: internal error (a bug in equihls, not in your input): {what}; {where}. Please report it.",
          file=sys.stderr)
    return EXIT_INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
