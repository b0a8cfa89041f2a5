"""Shared fixtures and the test tiers.

Markers (registered in pyproject.toml, `--strict-markers`): `gxx` runs g++ (a compile, a C-sim, a
block harness), `yosys` runs yosys/iverilog/vvp, `slow` takes seconds without them. `make test-fast`
deselects all three. Tests using a compiling session fixture (GXX_FIXTURES) are marked `gxx`
automatically; every other test marks itself. Each run checks the marks: g++, yosys, iverilog and vvp
are reached through recording wrappers first on PATH, and a passing test that ran one without its
mark fails at teardown.
"""
import os
import shutil
import stat
import sys
import tempfile

# One BLAS/OpenMP thread per test process, set before numpy loads: on a small shared machine (and
# under pytest-xdist) OpenBLAS's spinning worker threads made numpy-heavy tests up to 8x slower.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import pytest  # noqa: E402

# Graph.verify() after every pass (equihls.passes.manager): off by default, on under the tests
os.environ.setdefault("EQUIHLS_VERIFY_IR", "1")

from models.deepsets_pairs import ONNX_PATH as MODEL, SAMPLES_PATH as SAMPLES  # noqa: E402, F401 (re-exported)

# --------------------------------------------------------------------------- tiers

TOOL_MARKS = {"g++": "gxx", "yosys": "yosys", "iverilog": "yosys", "vvp": "yosys"}
GXX_FIXTURES = {"demo", "zoo_compiled"}      # session fixtures below that compile a model
TOOL_LOG_ENV = "EQUIHLS_TEST_TOOL_LOG"       # the wrappers append their tool name to this file
_SHIM_TAG = ".equihls-test-tools"            # marks a wrapper directory (never a real tool's)
_shim_dir = None


def _install_tool_wrappers() -> str:
    """A fresh directory of /bin/sh wrappers, one per tool of TOOL_MARKS found on PATH, each logging
    its name to $EQUIHLS_TEST_TOOL_LOG and exec'ing the real tool (same pid, arguments, exit status),
    prepended to PATH so that child processes (the CLI, a wheel's venv) use it too. Returns the directory."""
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep)
            if not os.path.exists(os.path.join(p, _SHIM_TAG))]          # not an outer run's wrappers
    d = tempfile.mkdtemp(prefix="equihls-test-tools-")
    open(os.path.join(d, _SHIM_TAG), "w").close()
    for tool in TOOL_MARKS:
        real = shutil.which(tool, path=os.pathsep.join(path))
        if real is None:         # a missing tool stays missing: its tests skip or report it
            continue
        shim = os.path.join(d, tool)
        with open(shim, "w") as f:
            f.write(f'#!/bin/sh\n[ -n "${TOOL_LOG_ENV}" ] && echo {tool} >> "${TOOL_LOG_ENV}"\nexec "{real}" "$@"\n')
        os.chmod(shim, os.stat(shim).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    os.environ["PATH"] = os.pathsep.join([d, *path])
    return d


def pytest_configure(config):
    global _shim_dir
    _shim_dir = _install_tool_wrappers()


def pytest_unconfigure(config):
    if _shim_dir:
        shutil.rmtree(_shim_dir, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    """Mark `gxx` every test that uses a compiling session fixture (it may be the one that compiles)."""
    for item in items:
        if GXX_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.gxx)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """A new, empty tool log for this test, before its fixtures run (they may compile)."""
    log = os.path.join(_shim_dir, "tools.log")
    open(log, "w").close()
    os.environ[TOOL_LOG_ENV] = log


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Fail, at teardown, a passing test that ran a tool its marks do not declare."""
    outcome = yield
    rep = outcome.get_result()
    log = os.environ.get(TOOL_LOG_ENV)
    if rep.when != "teardown" or not rep.passed or not log or not os.path.exists(log):
        return
    with open(log) as f:
        used = {t for t in f.read().split() if t in TOOL_MARKS}
    missing = sorted({TOOL_MARKS[t] for t in used} - {m.name for m in item.iter_markers()})
    if missing:
        rep.outcome = "failed"
        rep.longrepr = (f"{item.nodeid} ran {', '.join(sorted(used))} but is not marked "
                        f"{', '.join(missing)}: add @pytest.mark.{missing[0]} (or pytestmark) so that "
                        f"`make test-fast` leaves it out")


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """The bundled model compiled for vu9p once per session: (project dir, manifest)."""
    from models import compile_zoo

    d = str(tmp_path_factory.mktemp("demo") / "ds_vu9p")
    m = compile_zoo("deepsets_pairs", d, log=lambda *a: None)
    return d, m


ZOO_EVENTS = 128


@pytest.fixture(scope="session")
def zoo_compiled(tmp_path_factory):
    """name -> (manifest, project dir) of a models.ZOO entry compiled once per session with its
    card's options on its first ZOO_EVENTS shipped samples."""
    import numpy as np

    from models import ZOO, compile_zoo

    cache = {}

    def get(name):
        if name not in cache:
            tmp = tmp_path_factory.mktemp(name)
            np.savez(tmp / "s.npz", x=np.load(ZOO[name]["samples"])["x"][:ZOO_EVENTS])
            out = str(tmp / f"{name}_vu9p")
            m = compile_zoo(name, out, samples=str(tmp / "s.npz"), log=lambda *a: None)
            cache[name] = (m, out)
        return cache[name]

    return get


def staging_leftovers(out: str) -> list:
    """Siblings of project dir `out` that a compile stages or rejects into ('out.partial.<pid>',
    'out.rejected*', 'out.old.<pid>'): none may remain after a refused compile."""
    parent, base = os.path.dirname(os.path.abspath(out)), os.path.basename(os.path.abspath(out))
    return sorted(n for n in os.listdir(parent) if n.startswith(base + ".")) if os.path.isdir(parent) else []


def exact_line(rep, group):
    """The exact (bit-identity) line of `group` in a certificate report."""
    return next(r for r in rep["lines"] if r["group"] == group and r["kind"] == "exact")


def expm(x):
    """Matrix exponential [d, d] (real or complex) by scaling and squaring a Taylor series."""
    import numpy as np

    x = np.asarray(x)
    s = max(0, int(np.ceil(np.log2(max(np.abs(x).sum(axis=1).max(), 1e-300)))) + 1)
    y = x / 2**s
    out = term = np.eye(len(x), dtype=np.result_type(x, float))
    for k in range(1, 30):
        term = term @ y / k
        out = out + term
    for _ in range(s):
        out = out @ out
    return out
