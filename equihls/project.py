"""A compiled project directory: its file names (ProjectLayout) and the loader (Project).

Layout of a project directory (every name is a field of LAYOUT):
  build_prj.tcl, firmware/ (top function, parameters, weights, nnet_utils with the equihls IP
  headers, ap_types), <top>_test.cpp + tb_data/ (testbench with sample inputs and expected
  outputs), hls4ml's build_lib.sh, equihls_graph.onnx (the lowered graph), equihls_source.onnx
  (the source model, self-contained), equihls_samples.npz (the self-check's samples),
  equihls.json (the manifest), equihls_csim.so (the C simulation), build.log and, after
  `equihls check`, equihls_check.json (the certificate).
Compiling one is equihls.driver's job; equihls.api is the Python entry point for both.
"""
from __future__ import annotations

import json as _json
import os
from dataclasses import dataclass

import numpy as np

from .errors import EquihlsError
from .ir.fixedpoint import FixedType


@dataclass(frozen=True)
class ProjectLayout:
    """Every file and folder name equihls writes into (or beside) a project directory DIR."""

    prefix: str = "equihls"                        # every equihls file of a project starts with it
    manifest: str = "equihls.json"                 # written last: a directory with it is a project
    certificate: str = "equihls_check.json"        # the last `equihls check` report
    csim_lib: str = "equihls_csim.so"              # the g++ C simulation (not part of the firmware)
    csim_bridge: str = "equihls_csim_bridge.cpp"   # its batch ctypes entry points
    graph: str = "equihls_graph.onnx"              # the lowered graph hls4ml converted
    source_model: str = "equihls_source.onnx"      # the compiled model, every tensor embedded
    samples: str = "equihls_samples.npz"           # the self-check's raw sample events
    build_log: str = "build.log"                   # g++ output of the C-sim build
    top: str = "myproject"                         # hls4ml project name: firmware/<top>.cpp
    tb_input: str = "tb_data/tb_input_features.dat"
    tb_output: str = "tb_data/tb_output_predictions.dat"
    tb_output_bits: str = "tb_data/tb_output_bits.dat"   # the outputs' raw bits, compared by <top>_test.cpp
    tb_scratch: str = ".tb"                        # .npy events handed to hls4ml, removed after
    selfcheck_failed: str = "selfcheck_failed.json"   # in DIR.rejected: why the self-check failed
    overflow_trace: str = "overflow_trace.json"       # in DIR.rejected: the overflow trace that failed it
    staging_marker: str = ".equihls-staging"       # in every DIR.partial.<pid> / DIR.rejected equihls creates
    old_marker: str = ".equihls-old"               # in DIR.old.<pid>: "project" or "foreign" (what DIR was)
    rejected_suffix: str = ".rejected"
    partial_suffix: str = ".partial"               # DIR.partial.<pid>: a build in progress
    old_suffix: str = ".old"                       # DIR.old.<pid>: the previous tree during a swap
    lock_suffix: str = ".equihls-lock"             # '.<name>.equihls-lock' beside DIR

    @property
    def later_files(self) -> frozenset:
        """Files equihls writes into a project after the compile (rejected reports): never user data."""
        return frozenset({self.selfcheck_failed, self.overflow_trace})

    def rejected(self, out_dir: str) -> str:
        """'DIR.rejected' (DIR as given, trailing '/' dropped)."""
        return out_dir.rstrip("/") + self.rejected_suffix

    def partial(self, real: str, pid: int) -> str:
        """'DIR.partial.<pid>': where compile `pid` builds the project."""
        return f"{real}{self.partial_suffix}.{pid}"

    def old(self, real: str, pid: int) -> str:
        """'DIR.old.<pid>': the previous tree while compile `pid` swaps the new one in."""
        return f"{real}{self.old_suffix}.{pid}"

    def lock(self, real: str) -> str:
        """'.<name>.equihls-lock' beside DIR (outside it, so it is never part of the project)."""
        return os.path.join(os.path.dirname(real), f".{os.path.basename(real)}{self.lock_suffix}")


LAYOUT = ProjectLayout()
# the backend and verify layers read LAYOUT from this module, so the Project methods import them
# where they are used (a module-level import would be a cycle); it also keeps equihls.load light


def write_text(path: str, text: str, what: str):
    """Write `text` to `path`; an unwritable path (missing folder, permissions, full disk) is a
    user error naming `what` (the option or file) and the path."""
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError as e:
        raise EquihlsError(f"{what} {path}: cannot write ({e.strerror or e})") from None


def compile_model(model_path: str, target: str = "vu9p", output_dir: str | None = None, log=print,
                  **options) -> dict:
    """The compile entry point scripts and tests have used: equihls.driver.compile_model (same
    keywords; returns the manifest). Imported at call time: the driver imports this module."""
    from . import driver

    return driver.compile_model(model_path, target=target, output_dir=output_dir, log=log, **options)


class Project:
    """A compiled project directory: its manifest, and its C simulation run from numpy.

    p = Project(dir)  (or equihls.load(dir));  p.predict(x), p.trace(x), p.check(), p.report()."""

    def __init__(self, project_dir: str):
        from .backend import staging

        path = os.path.join(project_dir, LAYOUT.manifest)
        if not os.path.exists(path):
            staging.recover(project_dir)   # a compile killed while installing the project leaves it beside
        if not os.path.exists(path):
            raise EquihlsError(f"{project_dir}: not an equihls project (no {LAYOUT.manifest}); "
                               f"run equihls compile first")
        with open(path) as f:
            self.manifest = _json.load(f)
        self.dir = project_dir
        self.inputs = self.manifest["inputs"]
        self.outputs = self.manifest["outputs"]
        self._sim = None

    def __repr__(self) -> str:
        t = self.manifest["target"]
        return f"Project({self.dir!r}, model={self.manifest['model']['file']!r}, target={t['name']!r})"

    def path(self, name: str) -> str:
        """DIR/name, e.g. p.path(LAYOUT.certificate)."""
        return os.path.join(self.dir, name)

    @property
    def estimate(self) -> dict | None:
        """The resource and latency estimate of the manifest ({"total": {dsp, lut, ff, bram18,
        latency_cycles, latency_ns, ii}, "nodes": ...})."""
        return self.manifest.get("estimate")

    def input_type(self, k: int = 0) -> FixedType:
        return FixedType.parse(self.inputs[k]["type"])

    def output_type(self, k: int = 0) -> FixedType:
        return FixedType.parse(self.outputs[k]["type"])

    @property
    def sim(self):
        """The loaded C simulation (backend.csim.CSim)."""
        from .backend.csim import CSim

        if self._sim is None:
            self._sim = CSim(self.dir, [i["size"] for i in self.inputs], [o["size"] for o in self.outputs])
        return self._sim

    def events(self, x, source: str = "input") -> list:
        """Event arrays for the input ports from numpy (one array per input, or {onnx_name: array})
        or a file spec (X.npy, X.npz keyed by input name or in order, X.npz:key), each float64
        [batch, *shape]; one event without a batch axis gets one. Malformed arrays raise InputError
        naming `source` (or the file), the input and the row."""
        from . import events

        if isinstance(x, (str, os.PathLike)):
            return self._file_events(os.fspath(x))
        ports = self.inputs
        if isinstance(x, dict):
            missing = [p["onnx_name"] for p in ports if p["onnx_name"] not in x]
            if missing:
                raise EquihlsError(f"{source}: no array for input(s) {missing} (has {list(x)})")
            arrays = [x[p["onnx_name"]] for p in ports]
        else:
            arrays = list(x) if isinstance(x, (list, tuple)) else [x]
        if len(arrays) != len(ports):
            raise EquihlsError(f"project has {len(ports)} inputs, got {len(arrays)}")
        return [events.checked_events(a, p["onnx_name"], source, tuple(p["shape"])) for a, p in zip(arrays, ports)]

    def _file_events(self, spec: str) -> list:
        """Events from X.npy, X.npz (keys in order, or the port names) or X.npz:key."""
        from . import events

        ports = self.inputs
        path, _ = events.split_spec(spec)
        data = events.load_arrays(spec)
        if isinstance(data, np.ndarray):
            arrays = [data]
        elif len(ports) == 1:
            arrays = [data["x"] if "x" in data else next(iter(data.values()), None)]
        else:
            arrays = [data[p["onnx_name"]] if p["onnx_name"] in data else v for p, v in zip(ports, data.values())]
        if len(arrays) != len(ports) or arrays[0] is None:
            raise EquihlsError(f"{path}: {len(data) if isinstance(data, dict) else 1} array(s) for the project's "
                               f"{len(ports)} input(s) {[p['onnx_name'] for p in ports]}")
        return [events.checked_events(x, p["onnx_name"], path, tuple(p["shape"])) for x, p in zip(arrays, ports)]

    def predict(self, *x):
        """C-simulate events: float inputs (numpy, one array per input port or {name: array}, or a
        file spec as for `equihls csim --input`), converted to the input type as the hardware port
        does; returns the outputs as float64 [batch, *shape], one array for a single-output
        project, else a list in port order."""
        ys = self.run(*self.events(x[0] if len(x) == 1 else list(x), "predict"))
        return ys[0] if len(ys) == 1 else ys

    def run(self, *xs) -> list:
        """C-simulate float64 inputs [batch, *shape] (converted to the input type as hardware does);
        returns outputs [batch, *shape]. NaN/Inf are refused with the row index."""
        return self._run(xs, trace=False)

    def trace(self, *xs) -> tuple[list, dict]:
        """Like run(), with the overflow trace on: (outputs, overflow.trace_report dict) counting,
        per tensor, values that overflowed (saturated or wrapped) or were rounded."""
        from .verify import overflow

        ys, counts, flags = self._run(xs, trace=True)
        types = {i["onnx_name"]: FixedType.parse(i["type"]) for i in self.inputs}
        xs_named = {i["onnx_name"]: np.asarray(x, dtype=np.float64) for i, x in zip(self.inputs, xs)}
        return ys, overflow.trace_report(self.manifest["nodes"], self.manifest["tensors"], counts, flags,
                                         xs_named, types)

    def check(self, groups: list | None = None, x=None, write: bool = True, **options) -> dict:
        """The equivariance certificate (verify.check.run: groups default to those declared at
        compile, events `x` (as for predict) to the stored samples; further options n_events,
        n_elements, seed, tol_lsb, tol_exact, max_rapidity, time_reversal, input_reps, output_reps,
        output_perm, progress (default off)). Writes it to DIR/equihls_check.json, as `equihls
        check` does, unless write=False; returns the report dict (its "passed" is the verdict)."""
        from .verify import check

        xs = None if x is None else self.events(x, "check")
        options.setdefault("progress", False)
        rep = check.run(self, groups=groups, xs=xs, **options)
        if write:
            write_text(self.path(LAYOUT.certificate), certificate_json(rep), "the certificate")
        return rep

    def report(self, json: bool = False):
        """What `equihls report DIR` shows: the text (default), or with json=True the dict that
        `equihls report --json` writes (estimate, types, self-check, overflow, certificate, synthesis)."""
        from .report import summary

        rep = summary.collect(self)
        return rep if json else summary.format_report(rep)

    def _run(self, xs, trace: bool):
        from .backend.csim import check_finite

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


def certificate_json(rep: dict) -> str:
    """The certificate as `equihls check` writes it (DIR/equihls_check.json and --json)."""
    return _json.dumps(rep, indent=1, sort_keys=True)
