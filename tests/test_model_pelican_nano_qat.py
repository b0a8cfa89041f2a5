"""The bundled QONNX PELICAN-nano (models/pelican_nano_qat: Brevitas QAT, power-of-two per-tensor
Quant nodes after the float equivariant front end) compiles from the shipped ONNX alone (no
brevitas, no torch), passes the self-check without overflow, maps its Quant nodes to quantiser
types, and carries the permutation and Lorentz certificate declared in its ONNX metadata."""

import numpy as np
import onnx
import pytest

from equihls import check, project
from equihls.quant import is_quant
from models import ZOO
from models.pelican_nano_qat import ONNX_PATH, SAMPLES_PATH

N_EVENTS = 128
SPEC = ZOO["pelican_nano_qat"]


def _line(rep, group, exact):
    return next(r for r in rep["lines"] if r["group"] == group and (r["kind"] == "exact") == exact)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pelican_nano_qat")
    x = np.load(SAMPLES_PATH)["x"][:N_EVENTS]
    np.savez(tmp / "s.npz", x=x)
    out = str(tmp / "pelican_nano_qat_vu9p")
    m = project.compile_model(ONNX_PATH, target="vu9p", output_dir=out, input_type=SPEC["input_type"],
                              samples=str(tmp / "s.npz"),
                              type_overrides={k: project.FixedType.parse(v) for k, v in SPEC["types"].items()},
                              log=lambda *a: None)
    return m, out


def test_shipped_onnx_is_qonnx():
    om = onnx.load(ONNX_PATH)
    assert sum(is_quant(n.op_type, n.domain) for n in om.graph.node) >= 6
    assert any(n.op_type == "ScalarProducts" and n.domain == "equihls" for n in om.graph.node)


def test_pelican_nano_qat_compiles(compiled):
    m, _ = compiled
    assert SPEC["onnx"] == ONNX_PATH and SPEC["input_type"] == "ap_fixed<18,12,AP_RND,AP_SAT>"
    rep = m["self_check"]
    assert rep["passed"], rep
    assert rep["n_events"] == N_EVENTS
    assert all(r["csim_vs_twin_mismatches"] == 0 for r in rep["outputs"].values())
    assert m["overflow"]["n_overflow"] == 0
    assert [n["op"] for n in m["nodes"]].count("ScalarProducts") == 1
    quant = [t for t in m["tensors"].values() if t.get("quantizer")]
    assert quant, "no tensor typed by a Quant node"
    assert all("AP_SAT" in t["type"] for t in quant)
    assert m["symmetry"]["groups"] == ["perm", "lorentz"]


def test_pelican_nano_qat_certificate(compiled):
    _, out = compiled
    rep = check.run(project.Project(out), n_elements=2, progress=False)
    assert rep["groups"] == ["perm", "lorentz"]
    for group in ("perm", "lorentz"):
        ex = _line(rep, group, True)
        assert ex["passed"] and ex["mismatched"] == 0 and ex["identical"] == ex["pairs"] > 0, ex
    assert _line(rep, "perm", True)["pairs"] == 2 * N_EVENTS
    assert rep["passed"], check.format_report(rep)
