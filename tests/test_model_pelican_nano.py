"""The bundled PELICAN-nano reference model (models/pelican_nano: Minkowski Gram -> one Eq2to2
layer with the six permutation-equivariant aggregations -> Eq2to0 -> logit, trained on Pythia
jets) compiles with its shipped samples and its model-card options, passes the self-check
without overflow, keeps its structure (one ScalarProducts block, psi tables, no foreign layer)
and carries the permutation and Lorentz certificate declared in its ONNX metadata."""

import os

import numpy as np
import pytest

pytest.importorskip("torch")

from equihls import check, project  # noqa: E402
from models import ZOO  # noqa: E402
from models.pelican_nano import ONNX_PATH, SAMPLES_PATH  # noqa: E402

N_EVENTS = 128
SPEC = ZOO["pelican_nano"]


def _line(rep, group, exact):
    return next(r for r in rep["lines"] if r["group"] == group and (r["kind"] == "exact") == exact)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pelican_nano")
    x = np.load(SAMPLES_PATH)["x"][:N_EVENTS]
    np.savez(tmp / "s.npz", x=x)
    out = str(tmp / "pelican_nano_vu9p")
    m = project.compile_model(ONNX_PATH, target="vu9p", output_dir=out, input_type=SPEC["input_type"],
                              samples=str(tmp / "s.npz"),
                              type_overrides={k: project.FixedType.parse(v) for k, v in SPEC["types"].items()},
                              log=lambda *a: None)
    return m, out


def test_pelican_nano_compiles_exactly(compiled):
    m, out = compiled
    assert SPEC["onnx"] == ONNX_PATH and SPEC["input_type"] == "ap_fixed<18,12,AP_RND,AP_SAT>"
    rep = m["self_check"]
    assert rep["passed"], rep
    assert rep["n_events"] == N_EVENTS
    assert all(r["csim_vs_twin_mismatches"] == 0 for r in rep["outputs"].values())
    assert rep["input_range"]["x"]["n_out_of_range"] == 0
    assert m["overflow"]["n_overflow"] == 0 and m["overflow"]["n_rounding_violations"] == 0
    ops = [n["op"] for n in m["nodes"]]
    assert ops.count("ScalarProducts") == 1
    assert sum(1 for n in m["nodes"] if n["op"] == "LUT" and n["attrs"].get("func") == "psi") == 4
    assert {"Dense", "ReduceSum", "Route", "Eltwise", "Unary"} <= set(ops)
    # the Gram matrix and the aggregations are exact; only Dense/LUT outputs round
    for t in m["tensors"].values():
        if t["onnx_name"].startswith(("/ScalarProducts", "/ReduceSum")):
            assert t["exact"], t
    assert m["symmetry"]["groups"] == ["perm", "lorentz"]
    top = open(os.path.join(out, "firmware", "myproject.cpp")).read()
    assert "nnet::" not in top.split("NETWORK INSTANTIATION")[1]   # every layer is an equihls block


def test_pelican_nano_certificate(compiled):
    _, out = compiled
    rep = check.run(project.Project(out), n_elements=2, progress=False)
    assert rep["groups"] == ["perm", "lorentz"]
    for group in ("perm", "lorentz"):
        ex = _line(rep, group, True)
        assert ex["passed"] and ex["mismatched"] == 0 and ex["identical"] == ex["pairs"] > 0, ex
    assert _line(rep, "perm", True)["pairs"] == 2 * N_EVENTS
    for r in rep["lines"]:
        assert r["passed"], r
        if r["kind"] == "continuous":
            assert r["pairs"] > 0 and r["floor"] is not None
    assert rep["passed"], check.format_report(rep)
