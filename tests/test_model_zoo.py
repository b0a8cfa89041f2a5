"""Every reference model in models.ZOO compiles with the options its card uses, passes its
self-check without overflow, and carries an equivariance certificate for the groups its ONNX
metadata declares (a small sample: the full evaluations are in the model cards and benchmarks)."""
import numpy as np
import pytest

from equihls import check, project
from equihls.fixedpoint import FixedType
from models import ZOO

N_EVENTS = 96


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_model_compiles_and_is_certified(tmp_path, name):
    spec = ZOO[name]
    x = np.load(spec["samples"])["x"][:N_EVENTS]
    np.savez(tmp_path / "s.npz", x=x)
    out = str(tmp_path / name)
    m = project.compile_model(spec["onnx"], output_dir=out, input_type=spec["input_type"],
                              samples=str(tmp_path / "s.npz"),
                              type_overrides={k: FixedType.parse(v) for k, v in spec["types"].items()},
                              log=lambda *a: None)
    assert m["self_check"]["passed"] and m["overflow"]["n_overflow"] == 0
    assert m["symmetry"] and m["symmetry"]["groups"]
    assert m["estimate"]["total"]["ii"] == 1 and m["estimate"]["total"]["latency_cycles"] > 0
    # 8 elements per line: enough that some octahedral elements have integral l=2 matrices
    rep = check.run(project.Project(out), n_elements=8, progress=False)
    assert rep["groups"] == m["symmetry"]["groups"]
    assert rep["passed"], check.format_report(rep)
    assert any(r["kind"] == "exact" and r["identical"] > 0 for r in rep["lines"])
