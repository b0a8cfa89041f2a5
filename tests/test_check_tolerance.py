"""Continuous-line thresholds from the firmware's arithmetic (issue 15, point 4): C-sim minus the
float64 floor is judged against twice the firmware's measured error on the same events, not a
fixed 2 LSB; --tol-lsb still overrides it, and the non-equivariant controls still fail."""
import numpy as np
import pytest

from equihls import project
from equihls.verify import check

torch = pytest.importorskip("torch")

from tests.exporters import export  # noqa: E402

pytestmark = pytest.mark.gxx
QUIET = dict(log=lambda *a: None)


class CoarseInvariant(torch.nn.Module):
    """y = W2 · round(W1 · |x_i|²): a rotation invariant whose hidden layer the default type rounds
    much more coarsely than the output type resolves, so the firmware's ordinary arithmetic error
    is several output LSB (and so is its honest violation under a rotation)."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w1 = torch.nn.Parameter(torch.randn(4, 6, generator=g) * 0.3)
        self.w2 = torch.nn.Parameter(torch.randn(6, 2, generator=g) * 0.5)

    def forward(self, x):
        return ((x * x).sum(dim=-1) @ self.w1) @ self.w2


class PolarSum(torch.nn.Module):
    def forward(self, x):
        return x.sum(dim=1) * 0.5


def _project(tmp_path, model, name, **kw):
    path = str(tmp_path / f"{name}.onnx")
    export(model.eval(), (torch.zeros(2, 4, 3),), path, dynamo=False)
    x = np.random.default_rng(0).uniform(-2, 2, size=(400, 4, 3))
    out = str(tmp_path / name)
    project.compile_model(path, output_dir=out, input_type="ap_fixed<16,4,AP_RND_CONV>", samples=x,
                          input_reps=["1x1o"], **kw, **QUIET)
    return project.Project(out), x


def _continuous(rep):
    return [r for r in rep["lines"] if r["kind"] == "continuous"]


def test_threshold_follows_the_arithmetic_error(tmp_path):
    p, x = _project(tmp_path, CoarseInvariant(), "coarse", symmetry=["so3"], default_type="ap_fixed<18,12,AP_RND>",
                    type_overrides={"y": project.FixedType.parse("ap_fixed<24,12,AP_RND_CONV>")})
    rep = check.run(p, xs=[x], n_elements=8, progress=False)
    t = rep["thresholds"]
    assert t["continuous_source"] == "arithmetic"
    a = t["arithmetic_error_lsb"]
    assert a["mean"] > 2.0, a                      # the hidden rounding costs several output LSB
    assert t["continuous_excess_lsb"]["mean"] == pytest.approx(2 * a["mean"])
    for r in _continuous(rep):
        excess = r["mean_lsb"] - r["floor"]["mean_lsb"]
        assert 2.0 < excess <= t["continuous_excess_lsb"]["mean"], r
        assert r["passed"], check.format_report(rep)
    assert rep["passed"] and "2 x the firmware's arithmetic error" in check.format_report(rep)
    # the old fixed rule fails the same firmware on its own rounding noise
    fixed = check.run(p, xs=[x], n_elements=8, tol_lsb=2.0, progress=False)
    assert fixed["thresholds"]["continuous_source"] == "--tol-lsb"
    assert all(not r["passed"] and "exceeds the float64 floor" in r["reason"] for r in _continuous(fixed))


def test_non_equivariant_controls_still_fail(tmp_path):
    """A polar vector output declared axial (1e) fails the continuous O(3) line through the float64
    model itself, whatever the arithmetic allows."""
    p, x = _project(tmp_path, PolarSum(), "polar", symmetry=["o3"], output_reps=["1o"])
    ok = check.run(p, xs=[x], n_elements=8, progress=False)
    assert ok["passed"], check.format_report(ok)
    wrong = check.run(p, xs=[x], n_elements=8, output_reps=["1e"], progress=False)
    assert wrong["thresholds"]["continuous_source"] == "arithmetic"
    for r in _continuous(wrong):
        assert not r["passed"] and "float64 model itself breaks the symmetry" in r["reason"], r
    assert not wrong["passed"]
