"""The compile-time symmetry probe (equihls/symprobe.py): a rounded product of a four-vector
with an invariant breaks the exact Lorentz line, and the probe says so at compile time, naming
that tensor and its exact type; with that type the probe passes, and `equihls check` agrees with
the probe both ways. A model whose rounded tensors are all invariant passes."""
import numpy as np
import onnx
import pytest
import torch

from equihls.verify import check
from equihls import project
from equihls.report import summary
from equihls.ir.fixedpoint import FixedType
from equihls.ops.torch_ops import export as eq_export
from equihls.ops.torch_ops import scalar_products

pytestmark = pytest.mark.gxx

N = 4
INPUT_TYPE = "ap_fixed<12,8,AP_RND,AP_SAT>"


class ScaledJet(torch.nn.Module):
    """m² of the jet after scaling every constituent by the invariant s = tanh(2^-10 Σ_ij d_ij):
    x_i * s is a four-vector times an invariant (equivariant), but rounded it is not."""

    def forward(self, x):
        d = scalar_products(x)                                      # [B, N, N]
        s = torch.tanh(d.sum(dim=(1, 2)) * 2.0 ** -10)              # [B]
        xs = x * s.reshape(-1, 1, 1)                                # [B, N, 4]
        jet = xs.sum(dim=1, keepdim=True)                           # [B, 1, 4]
        return scalar_products(jet).reshape(-1, 1)                  # [B, 1]


@pytest.fixture(scope="module")
def scaled_jet(tmp_path_factory):
    d = tmp_path_factory.mktemp("probe")
    path = str(d / "scaled_jet.onnx")
    om = eq_export(ScaledJet(), (torch.zeros(2, N, 4),), path, input_names=["x"], output_names=["y"],
                   dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    onnx.helper.set_model_props(om, {"equihls.symmetry": "perm,lorentz", "equihls.input_reps": "4vec",
                                     "equihls.output_reps": "scalar"})
    onnx.save(om, path)
    rng = np.random.default_rng(0)
    x = rng.integers(-24, 25, size=(128, N, 4)) / 2.0      # small lattice events: words stay in range
    x[..., 0] = np.abs(x[..., 0]) + 12
    np.savez(d / "s.npz", x=x)
    return path, str(d / "s.npz"), d


def _compile(path, samples, out, logs, **kw):
    return project.compile_model(path, output_dir=out, input_type=INPUT_TYPE, samples=samples,
                                 log=lambda *a: logs.append(" ".join(map(str, a))), **kw)


def test_probe_names_the_rounded_vector_and_check_agrees(scaled_jet):
    path, samples, d = scaled_jet
    logs = []
    m = _compile(path, samples, str(d / "rounded"), logs, auto_exact=False)
    assert m["auto_exact"] == {"enabled": False, "tensors": []}
    pr = m["symmetry_probe"]
    assert not pr["passed"]
    lor = next(r for r in pr["lines"] if r["group"] == "lorentz")
    perm = next(r for r in pr["lines"] if r["group"] == "perm")
    assert lor["mismatched"] > 0 and perm["mismatched"] == 0       # rounding commutes with permutations
    assert [s["tensor"] for s in pr["suspects"]] == ["/Mul_1_output_0"], pr["suspects"]
    exact_t = pr["suspects"][0]["exact_type"]
    assert "AP_RND" not in exact_t and FixedType.parse(exact_t).frac > FixedType.parse(pr["suspects"][0]["type"]).frac
    text = "\n".join(logs)
    assert "warning: the exact symmetry lines fail" in text and f"--type '/Mul_1_output_0={exact_t}'" in text
    rep = check.run(project.Project(str(d / "rounded")), n_elements=4, progress=False)
    assert not next(r for r in rep["lines"] if r["group"] == "lorentz" and r["kind"] == "exact")["passed"]

    logs = []
    m = _compile(path, samples, str(d / "exact"), logs, type_overrides={"/Mul_1_output_0": FixedType.parse(exact_t)})
    assert m["symmetry_probe"]["passed"] and m["symmetry_probe"]["suspects"] == []
    assert not any("warning: the exact symmetry" in s for s in logs)
    rep = check.run(project.Project(str(d / "exact")), n_elements=4, progress=False)
    assert all(r["passed"] for r in rep["lines"] if r["kind"] == "exact")

    # by default (auto-exact) the compiler applies that type itself and says what it cost
    logs = []
    m = _compile(path, samples, str(d / "auto"), logs)
    assert m["symmetry_probe"]["passed"] and m["symmetry_probe"]["suspects"] == []
    ae = m["auto_exact"]
    assert ae["tensors"] == [{"tensor": "/Mul_1_output_0", "from": pr["suspects"][0]["type"], "to": exact_t}]
    assert all(after >= before for before, after in ae["cost"].values()) and ae["cost"]["lut"][1] > ae["cost"]["lut"][0]
    text = "\n".join(logs)
    assert "kept exact for the declared symmetry" in text and "/Mul_1_output_0" in text
    assert "warning: the exact symmetry" not in text
    t = next(t for t in m["tensors"].values() if t["onnx_name"] == "/Mul_1_output_0")
    assert t["exact"] and not t["user_override"] and t["type"] == exact_t
    rep = check.run(project.Project(str(d / "auto")), n_elements=4, progress=False)
    assert rep["passed"], check.format_report(rep)
    shown = summary.format_report(summary.collect(project.Project(str(d / "auto"))))
    assert "kept exact for the declared symmetry" in shown


def test_probe_passes_on_the_bundled_tagger(demo):
    _, m = demo
    pr = m["symmetry_probe"]
    assert pr["passed"] and pr["suspects"] == []
    assert {r["group"] for r in pr["lines"]} == {"perm", "lorentz"} and all(r["pairs"] > 0 for r in pr["lines"])


def test_no_probe_without_declared_symmetry(scaled_jet, tmp_path):
    path, samples, _ = scaled_jet
    om = onnx.load(path)
    del om.metadata_props[:]
    onnx.save(om, str(tmp_path / "nosym.onnx"))
    m = _compile(str(tmp_path / "nosym.onnx"), samples, str(tmp_path / "nosym"), [])
    assert m["symmetry"] is None and m["symmetry_probe"] is None
