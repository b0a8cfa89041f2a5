"""Exact lines on an l=2 output (issue 15, point 5): most octahedral rotations have non-integral
l=2 matrices, so the octahedral lines draw their elements among those that are integral (the
rotations of the square about y, with parity for o3) and check every l=2 component bit for bit;
a model with a wrong sign on one l=2 component fails them."""
import numpy as np
import pytest

from equihls import project
from equihls.symmetry import o3 as irreps
from equihls.verify import check

torch = pytest.importorskip("torch")

from tests.exporters import export  # noqa: E402

pytestmark = pytest.mark.gxx
QUIET = dict(log=lambda *a: None)


class Quadrupole(torch.nn.Module):
    """t_k = Σ_ij C[i,j,k] a_i b_j: the l=2 part of two polar vectors (a 2e), with torch.einsum and
    the real Clebsch-Gordan tensor; `flip` negates component `flip` of the coupling."""

    def __init__(self, flip: int | None = None):
        super().__init__()
        c = irreps.cg(1, 1, 2) * np.sqrt(10)
        if flip is not None:
            c[..., flip] *= -1
        self.register_buffer("c", torch.tensor(c, dtype=torch.float32))

    def forward(self, x):
        return torch.einsum("bi,bj,ijk->bk", x[:, 0], x[:, 1], self.c)


def _certificate(tmp_path, flip):
    path = str(tmp_path / f"q{flip}.onnx")
    export(Quadrupole(flip).eval(), (torch.zeros(2, 2, 3),), path, dynamo=False)
    x = np.random.default_rng(0).integers(-32, 33, size=(128, 2, 3)) / 16.0
    out = str(tmp_path / f"q{flip}")
    project.compile_model(path, output_dir=out, input_type="ap_fixed<12,4>", samples=x, symmetry=["so3", "o3"],
                          input_reps=["1x1o"], output_reps=["1x2e"], output_perm="invariant", **QUIET)
    return check.run(project.Project(out), xs=[x], n_elements=8, progress=False)


def _exact(rep):
    return {r["group"]: r for r in rep["lines"] if r["kind"] == "exact"}


def test_l2_output_is_checked_bit_for_bit(tmp_path):
    rep = _certificate(tmp_path, None)
    for g, r in _exact(rep).items():
        assert r["elements"] == 8 and r["skipped_nonintegral_output"] == 0, r
        assert r["pairs"] == 8 * 128 and r["mismatched"] == 0 and r["passed"], check.format_report(rep)
    assert rep["passed"], check.format_report(rep)


def test_wrong_l2_sign_fails_the_exact_lines(tmp_path):
    rep = _certificate(tmp_path, 1)         # component 1 (√3·xy) swaps with 3 (√3·yz) under 90° about y
    for g, r in _exact(rep).items():
        assert not r["passed"] and r["pairs"] + r["model_exceptions"] > 0, r
    assert not rep["passed"]
