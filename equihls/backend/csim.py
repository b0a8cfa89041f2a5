"""Bit-accurate C simulation of a generated project with g++ (no vendor tools).

equihls builds its own batch bridge next to hls4ml's: one ctypes call runs a whole batch, and
inputs are converted double -> input type inside C++ exactly as the hardware port would see them.
"""
from __future__ import annotations

import ctypes
import itertools
import os
import shutil
import signal
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..errors import EquihlsError, InputError
from ..project import LAYOUT

# NDEBUG: ap_types asserts abort some valid conversions (a source whose bits all lie below the
# target's first dropped bit); Vitis HLS C-sim does not assert there either.
# -fno-gnu-unique and hidden visibility: every project defines config structs with the same names
# (config2, ...) whose inline tables would otherwise be process-wide unique symbols, so a second
# project loaded in the same process would silently use the first one's tables.
# -Wno-...: GCC 12 runs these access-analysis warnings over the big static weight initialisers even
# under -w; turned off, g++ takes about half the time and writes the identical object code
COMMON_CXXFLAGS = ["-std=c++14", "-fPIC", "-shared", "-w", "-DNDEBUG", "-fno-gnu-unique",
                   "-Wno-free-nonheap-object", "-Wno-mismatched-new-delete", "-Wno-mismatched-dealloc"]
MIN_EVENTS_PER_THREAD = 256
# EQUIHLS_TRACE: compile the per-block overflow/rounding counters (active only in equihls_run_trace)
CXXFLAGS = ["-O2", *COMMON_CXXFLAGS, "-fvisibility=hidden", "-DEQUIHLS_TRACE"]
TRACE_FIELDS = ("values", "overflow", "rounded")
GXX_TIMEOUT_S = 900.0           # a hung g++ fails the compile after this; env EQUIHLS_GXX_TIMEOUT overrides
_copies = itertools.count()     # process-unique names of the private library copies (see CSim)


def write_bridge(project_dir: str, top: str, inputs: list, outputs: list):
    """Write the batch bridge. inputs/outputs: lists of (C type name, per-event size).

    equihls_run(x.., y.., n) runs n events; equihls_run_trace(x.., y.., counts, flags, n) does the
    same with the blocks' trace counters on: counts[3 * trace_id + field] (TRACE_FIELDS) are
    incremented, and flags[e] = 1 for events in which some block output overflowed."""
    args = [f"const double *x{k}" for k in range(len(inputs))] + [f"double *y{k}" for k in range(len(outputs))]
    fwd = ", ".join([f"x{k}" for k in range(len(inputs))] + [f"y{k}" for k in range(len(outputs))])
    export = '__attribute__((visibility("default")))'
    lines = ["// equihls batch C-simulation bridge: runs n events through the top function.",
             f'#include "firmware/{top}.h"', '#include "nnet_utils/equihls_common.h"', "", 'extern "C" {', "",
             f"static void run_event({', '.join(args)}, long e) {{", "    {"]
    for k, (t, s) in enumerate(inputs):
        lines += [f"        {t} in{k}[{s}];",
                  f"        for (int i = 0; i < {s}; i++) in{k}[i] = x{k}[(long)e * {s} + i];"]
    for k, (t, s) in enumerate(outputs):
        lines.append(f"        {t} out{k}[{s}];")
    call = ", ".join([f"in{k}" for k in range(len(inputs))] + [f"out{k}" for k in range(len(outputs))])
    lines.append(f"        {top}({call});")
    for k, (t, s) in enumerate(outputs):
        lines.append(f"        for (int i = 0; i < {s}; i++) y{k}[(long)e * {s} + i] = out{k}[i].to_double();")
    lines += ["    }", "}", "",
              f"{export} int equihls_run({', '.join(args)}, int n) {{",
              f"    for (long e = 0; e < n; e++) run_event({fwd}, e);", "    return 0;", "}", "",
              f"{export} int equihls_run_trace({', '.join(args)}, long long *counts, unsigned char *flags, int n) {{",
              "    equihls::trace_state &s = equihls::trace();",
              "    s.counts = counts;",
              "    for (long e = 0; e < n; e++) {",
              "        s.event_overflows = 0;",
              f"        run_event({fwd}, e);",
              "        flags[e] = s.event_overflows > 0;",
              "    }",
              "    s.counts = 0;", "    return 0;", "}", "", "}", ""]
    with open(os.path.join(project_dir, LAYOUT.csim_bridge), "w") as f:
        f.write("\n".join(lines))


def build(project_dir: str, top: str, log_path: str):
    """Compile firmware + bridge into equihls_csim.so with g++; raise with the log on failure."""
    cxx = shutil.which("g++")
    if cxx is None:
        raise EquihlsError("g++ not found: the C simulation needs g++ (apt-get install g++)")
    cmd = [cxx, *CXXFLAGS, "-Ifirmware/ap_types", "-Ifirmware", f"firmware/{top}.cpp", LAYOUT.csim_bridge,
           "-o", LAYOUT.csim_lib]
    timeout = gxx_timeout()
    with open(log_path, "w") as log:
        log.write(" ".join(cmd) + "\n")
        log.flush()
        try:
            # TMPDIR: g++'s own temporary objects stay inside the project tree, so a killed compile
            # leaves none in /tmp (the staging tree is removed by the next compile)
            r = subprocess.run(cmd, cwd=project_dir, stdout=log, stderr=subprocess.STDOUT, timeout=timeout,
                               preexec_fn=_die_with_parent, env=dict(os.environ, TMPDIR=os.path.abspath(project_dir)))
        except subprocess.TimeoutExpired:
            raise EquihlsError(f"g++ did not finish building the C simulation of {project_dir} within {timeout:g} s "
                               f"(killed; log: {log_path}); set EQUIHLS_GXX_TIMEOUT=SECONDS to allow longer") from None
    if r.returncode != 0:
        with open(log_path) as f:
            tail = "".join(l for l in f.readlines() if "error" in l)[-3000:]
        raise EquihlsError(f"g++ failed building the C simulation of {project_dir} (log: {log_path}):\n{tail}")


def gxx_timeout() -> float:
    """Seconds g++ may run: EQUIHLS_GXX_TIMEOUT if set (a positive number), else GXX_TIMEOUT_S."""
    v = os.environ.get("EQUIHLS_GXX_TIMEOUT")
    if not v:
        return GXX_TIMEOUT_S
    try:
        t = float(v)
    except ValueError:
        t = float("nan")
    if not t > 0 or t == float("inf"):
        raise EquihlsError(f"EQUIHLS_GXX_TIMEOUT must be a positive number of seconds, got '{v}'")
    return t


def _die_with_parent():
    """In the g++ child: get SIGKILL when the compiling process dies, so a killed compile leaves no
    g++ driver (its cc1plus child, if running, finishes its unit and exits; nothing links)."""
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)      # PR_SET_PDEATHSIG
    except (AttributeError, OSError):
        pass


class CSim:
    """A loaded C simulation. `run(*xs)` takes float64 arrays [batch, ...] per input."""

    def __init__(self, project_dir: str, in_sizes: list, out_sizes: list):
        src = os.path.join(project_dir, LAYOUT.csim_lib)
        if not os.path.exists(src):
            raise EquihlsError(f"{project_dir}: no compiled C simulation ({LAYOUT.csim_lib}); re-run equihls compile")
        # dlopen caches by path: load a private copy (a name never used before in this process) so a
        # rebuilt library is really reloaded; unlink it once loaded (the mapping stays), so a killed
        # process leaves no copy behind
        fd, path = tempfile.mkstemp(suffix=".so", prefix=f"equihls_csim_{os.getpid()}_{next(_copies)}_")
        try:
            with os.fdopen(fd, "wb") as f, open(src, "rb") as s:
                shutil.copyfileobj(s, f)
            self._lib = ctypes.CDLL(path)
        finally:
            os.unlink(path)
        self.in_sizes, self.out_sizes = list(in_sizes), list(out_sizes)

    def run(self, *xs, n_blocks: int | None = None):
        """Run a batch; returns one float64 array [batch, out_size] per output.

        With n_blocks (the number of blocks, i.e. manifest nodes) the trace counters are on and
        the result is (outputs, counts int64 [n_blocks, 3] (TRACE_FIELDS per block), flags bool
        [batch]: events in which some block output overflowed).
        Large batches are split over the CPU cores (ctypes releases the GIL during the call and
        the generated top function keeps no state between events; trace state is per thread)."""
        n = xs[0].shape[0]
        ins = [np.ascontiguousarray(np.asarray(x, dtype=np.float64).reshape(n, s)) for x, s in zip(xs, self.in_sizes)]
        outs = [np.zeros((n, s), dtype=np.float64) for s in self.out_sizes]
        workers = min(os.cpu_count() or 1, max(1, n // MIN_EVENTS_PER_THREAD))
        bounds = np.linspace(0, n, workers + 1).astype(int)
        chunks = [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
        traced = n_blocks is not None
        counts = np.zeros((max(len(chunks), 1), max(n_blocks or 0, 1), len(TRACE_FIELDS)), dtype=np.int64)
        flags = np.zeros(n, dtype=np.uint8)
        jobs = [(k, a, b) for k, (a, b) in enumerate(chunks)]
        run_one = (lambda job: self._run_slice(ins, outs, *job[1:], counts[job[0]], flags)) if traced else \
            (lambda job: self._run_slice(ins, outs, *job[1:]))
        if len(jobs) <= 1:
            list(map(run_one, jobs))
        else:
            with ThreadPoolExecutor(len(jobs)) as pool:
                list(pool.map(run_one, jobs))
        if not traced:
            return outs
        return outs, counts.sum(axis=0)[:n_blocks], flags.astype(bool)

    def _run_slice(self, ins, outs, a: int, b: int, counts=None, flags=None):
        ptr = ctypes.POINTER(ctypes.c_double)
        args = [arr[a:b].ctypes.data_as(ptr) for arr in ins + outs]
        if counts is None:
            self._lib.equihls_run(*args, ctypes.c_int(b - a))
        else:
            self._lib.equihls_run_trace(*args, counts.ctypes.data_as(ctypes.POINTER(ctypes.c_longlong)),
                                        flags[a:].ctypes.data_as(ctypes.POINTER(ctypes.c_ubyte)), ctypes.c_int(b - a))


def check_finite(x: np.ndarray, name: str):
    """Refuse NaN/Inf, naming the first offending row (event) index."""
    bad = ~np.isfinite(x.reshape(x.shape[0], -1)).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise InputError(f"input '{name}': {len(rows)} event(s) contain NaN or Inf; first at row {rows[0]}")


def out_of_range(x: np.ndarray, t) -> np.ndarray:
    """Bool mask [batch, size] of the values of x [batch, ...] outside type t's range."""
    flat = x.reshape(x.shape[0], -1)
    return (flat < t.min) | (flat > t.max)


def range_report(x: np.ndarray, t) -> dict:
    """Count values outside the input type's range (they will saturate or wrap in hardware)."""
    out = out_of_range(x, t)
    return {"n_out_of_range": int(out.sum()), "max_abs": float(np.abs(x).max()) if x.size else 0.0,
            "type_min": t.min, "type_max": t.max, "rows": [int(r) for r in np.flatnonzero(out.any(axis=1))[:10]]}
