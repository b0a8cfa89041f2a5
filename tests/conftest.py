import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import pytest  # noqa: E402

# Graph.verify() after every pass (equihls.passes.manager): off by default, on under the tests
os.environ.setdefault("EQUIHLS_VERIFY_IR", "1")

from models.deepsets_pairs import ONNX_PATH as MODEL, SAMPLES_PATH as SAMPLES  # noqa: E402


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
