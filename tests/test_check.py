"""Equivariance certificate (`equihls check`): the bundled tagger passes, and the check is sensitive
to a non-invariant model, to a narrowed accumulator inside the invariant block and to a wrongly
declared output representation."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from equihls.verify import check  # noqa: E402
from equihls.project import LAYOUT  # noqa: E402
from equihls import project  # noqa: E402
from equihls.errors import EquihlsError  # noqa: E402
from equihls.ops.torch_ops import export, scalar_products  # noqa: E402
from tests.conftest import MODEL, ROOT, SAMPLES  # noqa: E402

pytestmark = pytest.mark.gxx

QUIET = dict(log=lambda *a: None)
CARD_INPUT = "ap_fixed<18,12,AP_RND,AP_SAT>"   # the bundled tagger's input type (its card)
N = 6
TINY_TYPE = "ap_fixed<12,8>"   # LSB 1/16, range [-128, 128)


class GramSum(torch.nn.Module):
    """Lorentz invariant: sum of all Minkowski products; `px_term` adds c * sum_i px_i (not invariant
    under boosts or rotations, but invariant under permutations)."""

    def __init__(self, px_term: float = 0.0):
        super().__init__()
        self.px_term = px_term

    def forward(self, x):
        y = scalar_products(x).sum(dim=(1, 2)) * 2.0 ** -10
        if self.px_term:
            y = y + self.px_term * x[:, :, 1].sum(dim=1)
        return y.unsqueeze(-1)


class VectorSum(torch.nn.Module):
    """Equivariant vector output: half the sum of the particle vectors (4-vectors or 3-vectors)."""

    def forward(self, x):
        return x.sum(dim=1) * 0.5


def tiny_project(tmp_path, model, name, d=4, **kw):
    path = str(tmp_path / f"{name}.onnx")
    export(model.eval(), (torch.randn(2, N, d),), path, input_names=["x"], output_names=["y"],
           dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    out = str(tmp_path / name)
    project.compile_model(path, output_dir=out, input_type=TINY_TYPE, n_samples=64, **kw, **QUIET)
    return project.Project(out)


def lattice_events(n, d=4, seed=0, scale=256):
    """Events on the input lattice, small enough that most integer Lorentz words stay in range."""
    return np.random.default_rng(seed).integers(-scale, scale, size=(n, N, d)) / 16.0


def line(rep, group, exact):
    return next(r for r in rep["lines"] if r["group"] == group and (r["kind"] == "exact") == exact)


def test_bundled_tagger_certificate(demo):
    """Permutations and integer Lorentz words: bit-identical on >= 256 of the 512 events; boosts (|y| <= 1)
    and rotations reported beside the float64 floor."""
    d, _ = demo
    rep = check.run(project.Project(d), n_elements=3, progress=False)
    assert rep["groups"] == ["perm", "lorentz"]            # from the model's ONNX metadata
    for group in ("perm", "lorentz"):
        ex = line(rep, group, True)
        assert ex["mismatched"] == 0 and ex["passed"]
        assert ex["events_checked"] >= 256 and ex["identical"] == ex["pairs"]
    assert line(rep, "lorentz", True)["skipped_input_overflow"] > 0   # counted, not hidden
    names = [r["line"] for r in rep["lines"] if r["kind"] == "continuous"]
    assert names == ["boosts |y|<=1", "rotations"]
    assert rep["float_reference"] == "float64"
    for r in rep["lines"]:
        if r["kind"] == "continuous":
            assert r["pairs"] > 0 and r["floor"] is not None and r["passed"]
            # the float64 model itself is invariant to rounding level on unquantised inputs
            assert r["floor_exact_inputs"]["max_lsb"] < 1e-3
            assert r["max_lsb"] > 0            # input quantisation does break continuous symmetry
    assert rep["passed"]
    assert rep["timing"]["csim_events"] == rep["events"] * 2 + sum(
        r["pairs"] for r in rep["lines"])


def test_non_invariant_model_fails_lorentz_passes_perm(tmp_path):
    p = tiny_project(tmp_path, GramSum(px_term=0.25), "gram_px", symmetry=["perm", "lorentz"])
    x = lattice_events(300)
    rep = check.run(p, xs=[x], n_elements=4, progress=False)
    assert line(rep, "perm", True)["passed"] and line(rep, "perm", True)["mismatched"] == 0
    ex = line(rep, "lorentz", True)     # the float64 model breaks it on the grid too: model exceptions > 1%
    assert not ex["passed"] and "float64 model itself breaks the symmetry" in ex["reason"], ex["reason"]
    assert ex["model_exceptions"] > 0.5 * (ex["pairs"] + ex["model_exceptions"])
    for r in rep["lines"]:       # the float64 model itself is not Lorentz invariant: continuous lines say so
        if r["kind"] == "continuous":
            assert not r["passed"] and "float64 model itself" in r["reason"]
    assert not rep["passed"]
    # the invariant part alone passes everything
    p0 = tiny_project(tmp_path, GramSum(), "gram", symmetry=["perm", "lorentz", "o13"])
    rep0 = check.run(p0, xs=[x], n_elements=4, progress=False)
    assert rep0["passed"], check.format_report(rep0)
    assert {r["group"] for r in rep0["lines"]} == {"perm", "lorentz", "o13"}


class MaskedGramSum(torch.nn.Module):
    """GramSum over the particles with x.sum(-1) != 0 (how PELICAN and LorentzNet mask padding):
    Lorentz invariant except where an integer Lorentz word maps a real particle onto E+px+py+pz = 0."""

    def forward(self, x):
        m = (x.sum(dim=-1) != 0).float()
        return (scalar_products(x) * m[:, :, None] * m[:, None, :]).sum(dim=(1, 2)).unsqueeze(-1) * 2.0 ** -10


def test_model_exceptions_on_exact_lines(tmp_path):
    """Pairs where the float64 model itself is not symmetric (the mask, under a few Lorentz words)
    are counted as model exceptions and not judged as firmware: the boosts and rotations find the
    model invariant off the grid, so the line passes, and the firmware is bit-identical on every
    other pair. The non-invariant model above fails its exact line on the same rule."""
    x = np.random.default_rng(4).integers(-64, 65, size=(400, N, 4)) / 16.0
    x[..., 0] = np.abs(x[..., 0]) + 4.0
    x = x[(x.sum(axis=-1) != 0).all(axis=1)]    # no particle of the events themselves on the mask
    np.savez(tmp_path / "s.npz", x=x)       # on the input grid: quantising moves no particle onto the mask
    p = tiny_project(tmp_path, MaskedGramSum(), "masked", symmetry=["perm", "lorentz"], samples=str(tmp_path / "s.npz"))
    rep = check.run(p, xs=[x], n_elements=24, progress=False)
    ex = line(rep, "lorentz", True)
    assert 0 < ex["model_exceptions"] < 0.1 * ex["pairs"], ex
    assert ex["mismatched"] == 0 and ex["passed"], check.format_report(rep)
    assert "pairs where the float64 model itself is not symmetric" in check.format_report(rep)
    assert line(rep, "perm", True)["model_exceptions"] == 0


def test_narrowed_accumulator_breaks_the_exact_certificate(tmp_path):
    """Rounding inside the Gram accumulator (before the invariant is complete) breaks bit-exact
    Lorentz invariance; the integer-Lorentz line catches it while permutations still pass."""
    x = np.load(SAMPLES)["x"][:256]
    np.savez(tmp_path / "s.npz", x=x)
    out = str(tmp_path / "narrow")
    m = project.compile_model(MODEL, output_dir=out, samples=str(tmp_path / "s.npz"), input_type=CARD_INPUT,
                              accum_overrides={"/Einsum_output_0": project.FixedType.parse("ap_fixed<28,25,AP_TRN>")},
                              **QUIET)
    assert m["self_check"]["passed"]
    assert [n["accum_user_override"] for n in m["nodes"] if n["op"] == "ScalarProducts"] == [True]
    rep = check.run(project.Project(out), n_elements=4, progress=False)
    assert line(rep, "perm", True)["passed"]
    ex = line(rep, "lorentz", True)
    assert not ex["passed"] and ex["mismatched"] > 0


def test_equivariant_vector_outputs(tmp_path):
    """A 4-vector output is compared after transforming it: passes as 4vec, fails if declared scalar."""
    p = tiny_project(tmp_path, VectorSum(), "vsum4", symmetry=["perm", "lorentz"], output_reps=["4vec"])
    x = lattice_events(200, scale=128)
    rep = check.run(p, xs=[x], n_elements=4, progress=False)
    assert rep["passed"], check.format_report(rep)
    assert line(rep, "lorentz", True)["identical"] > 100
    wrong = check.run(p, xs=[x], n_elements=4, output_reps=["scalar"], progress=False)
    assert not line(wrong, "lorentz", True)["passed"]
    assert line(wrong, "perm", True)["passed"]


def test_so3_vector_model(tmp_path):
    p = tiny_project(tmp_path, VectorSum(), "vsum3", d=3, symmetry=["so3", "o3"], output_reps=["1o"])
    x = lattice_events(200, d=3)
    rep = check.run(p, xs=[x], n_elements=48, progress=False)   # the whole octahedral group
    assert rep["passed"], check.format_report(rep)
    assert line(rep, "so3", True)["elements"] == 24 and line(rep, "o3", True)["elements"] == 48
    # an axial-vector declaration is wrong for a sum of polar vectors: reflections expose it
    wrong = check.run(p, xs=[x], n_elements=6, groups=["o3"], output_reps=["1e"], progress=False)
    assert not line(wrong, "o3", True)["passed"]


class PairDistances(torch.nn.Module):
    """E(3)-invariant: sum over pairs of |x_i - x_j|^2 (differences make it translation invariant)."""

    def forward(self, x):
        d = x.unsqueeze(2) - x.unsqueeze(1)                   # [B, N, N, 3]
        return (d * d).sum(dim=(1, 2, 3)).unsqueeze(-1) * 2.0 ** -6


def test_translations_via_differences(tmp_path):
    p = tiny_project(tmp_path, PairDistances(), "pairdist", d=3, symmetry=["translation", "o3", "perm"])
    x = lattice_events(200, d=3, scale=128)
    rep = check.run(p, xs=[x], n_elements=4, progress=False)
    assert rep["passed"], check.format_report(rep)
    assert line(rep, "translation", True)["identical"] > 100
    # a sum of positions is not translation invariant
    q = tiny_project(tmp_path, VectorSum(), "vsum3t", d=3)
    bad = check.run(q, xs=[x], groups=["translation"], output_reps=["1o"], n_elements=4, progress=False)
    assert not line(bad, "translation", True)["passed"]


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "equihls", *args], capture_output=True, text=True, cwd=ROOT)


def test_cli_exit_codes_and_json(demo, tmp_path):
    d, _ = demo
    js = tmp_path / "c.json"
    r = run_cli("check", d, "--events", "150", "--samples", "2", "--json", str(js), "-q")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verdict: PASS" in r.stdout
    rep = json.loads(js.read_text())
    assert rep == json.load(open(os.path.join(d, LAYOUT.certificate)))
    for key in ("groups", "representations", "events", "outputs", "thresholds", "lines", "passed", "timing",
                "float_reference"):
        assert key in rep
    # a symmetry the model does not have (Minkowski products change under translations): exit 1
    r = run_cli("check", d, "--group", "translation", "--events", "100", "--samples", "2", "-q")
    assert r.returncode == 1 and "FAIL" in r.stdout
    r = run_cli("check", d, "--group", "lorentz", "--tol-lsb=-1e9", "-q")   # outside the option's domain
    assert r.returncode == 2 and "--tol-lsb" in r.stderr
    r = run_cli("check", d, "--group", "poincare")
    assert r.returncode == 2 and "unknown group 'poincare'" in r.stderr
    r = run_cli("check", d, "--group", "so3", "--input-rep", "3vec")
    assert r.returncode == 2 and "input 'x' has per-event shape [16, 4]" in r.stderr
    r = run_cli("check", d, "--group", "lorentz", "--output-rep", "1o")
    assert r.returncode == 2 and "output 'logit' has per-event shape [1]; representation '1o'" in r.stderr


def test_declarations_are_validated(tmp_path, capsys):
    with pytest.raises(EquihlsError, match="needs a last axis of 3"):
        check.declare_symmetry({}, [("x", [6, 4])], [("y", [1])], ["so3"], ["3vec"])
    with pytest.raises(EquihlsError, match="unknown group 'spin'"):
        check.declare_symmetry({"equihls.symmetry": "spin"}, [("x", [6, 4])], [("y", [1])])
    with pytest.raises(EquihlsError, match="group 'lorentz' does not act on input 'x'"):
        check.declare_symmetry({}, [("x", [6, 3])], [("y", [1])], ["lorentz"])
    spec = check.declare_symmetry({"equihls.symmetry": "perm, lorentz"}, [("x", [6, 4])], [("y", [4])],
                                  output_reps=["4vec"])
    assert spec == {"groups": ["perm", "lorentz"], "input_reps": ["4vec"], "output_reps": ["4vec"],
                    "output_perm": "invariant"}
    assert check.declare_symmetry({}, [("x", [6, 4])], [("y", [1])]) is None
    # a project compiled without a declaration: check needs --group
    p = tiny_project(tmp_path, GramSum(), "nosym")
    with pytest.raises(EquihlsError, match="no symmetry to check"):
        check.run(p, progress=False)
    assert check.run(p, groups=["perm"], n_events=20, n_elements=2, progress=True)["passed"]
    assert "100.0%" in capsys.readouterr().err          # the progress bar reaches the end
