"""Every reference model in models.ZOO compiles with the options its card uses, passes its
self-check without overflow and its compile-time symmetry probe, and carries an equivariance
certificate for the groups its ONNX metadata declares (a small sample: the full evaluations are
in the model cards, `make evaluate` and the benchmarks)."""
import pytest

from equihls.verify import check
from equihls import project
from models import ZOO
from tests.conftest import ZOO_EVENTS, exact_line

pytestmark = pytest.mark.gxx


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_model_compiles_and_is_certified(zoo_compiled, name):
    m, out = zoo_compiled(name)
    rep = m["self_check"]
    assert rep["passed"] and rep["n_events"] == ZOO_EVENTS
    assert all(r["csim_vs_twin_mismatches"] == 0 for r in rep["outputs"].values())
    assert m["overflow"]["n_overflow"] == 0 and m["overflow"]["n_rounding_violations"] == 0
    assert m["symmetry"] and m["symmetry"]["groups"]
    # the compile-time probe (twin on exact elements) agrees with the certificate below
    assert m["symmetry_probe"]["passed"] and m["symmetry_probe"]["suspects"] == [], m["symmetry_probe"]
    assert m["estimate"]["total"]["ii"] == 1 and m["estimate"]["total"]["latency_cycles"] > 0
    # 8 elements per line: enough that some octahedral elements have integral l=2 matrices
    cert = check.run(project.Project(out), n_elements=8, progress=False)
    assert cert["groups"] == m["symmetry"]["groups"]
    assert cert["passed"], check.format_report(cert)
    assert exact_line(cert, "perm")["identical"] == exact_line(cert, "perm")["pairs"] == 8 * ZOO_EVENTS
    for r in cert["lines"]:
        if r["kind"] == "continuous":
            assert r["pairs"] > 0 and r["floor"] is not None
    if "lorentz" in cert["groups"]:
        ex = exact_line(cert, "lorentz")
        assert ex["mismatched"] == 0 and ex["identical"] == ex["pairs"] > 0
