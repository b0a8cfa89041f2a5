"""Verdicts that mean something (issue 12, point 4): a probe or certificate line that compared 0
(event, element) pairs is `not checked`, never PASS — in the compile output, the manifest's
`symmetry_probe`, `equihls check` (text, JSON, exit 1) and `equihls report`; a group that moves no
input is an error (exit 2), not a vacuous PASS."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from equihls.verify import check, probe as symprobe  # noqa: E402
from equihls import cli, driver, passes, project  # noqa: E402
from equihls.frontend import onnx_import as frontend  # noqa: E402
from equihls.precision import infer as precision  # noqa: E402
from equihls.ir.fixedpoint import FixedType  # noqa: E402
from equihls.ops.torch_ops import export, scalar_products  # noqa: E402
from models import ZOO  # noqa: E402

N = 4
TYPE = "ap_fixed<12,8>"            # range [-128, 128), LSB 1/16


class GramSum(torch.nn.Module):
    """Lorentz invariant: 2^-10 times the sum of all Minkowski products."""

    def forward(self, x):
        return scalar_products(x).sum(dim=(1, 2)).unsqueeze(-1) * 2.0 ** -10


def edge_events(n=32, seed=0):
    """At rest (p = 0) with E in [70, 120): every integer Lorentz word has L00 >= 2, so E' >= 140
    leaves the input type: the exact Lorentz line can compare nothing."""
    x = np.zeros((n, N, 4))
    x[..., 0] = np.random.default_rng(seed).integers(70 * 16, 120 * 16, size=(n, N)) / 16.0
    return x


def _probe_of(path, in_type, types, x, spec=None):
    """The symmetry probe of a model without compiling it (frontend, passes, types, twin)."""
    g, model = frontend.load(path)
    sym = spec or check.declare_symmetry({p.key: p.value for p in model.metadata_props},
                                         [(i, g.shapes[i][1:]) for i in g.inputs],
                                         [(o, g.shapes[o][1:]) for o in g.outputs])
    passes.run_all(g)
    t = FixedType.parse(in_type)
    prec = precision.infer(g, {i: t for i in g.inputs}, FixedType.parse(driver.DEFAULT_TYPE),
                           None, {k: FixedType.parse(v) for k, v in types.items()}, None)
    return symprobe.probe(g, prec, sym, {g.inputs[0]: t.quantize(x)})


def test_probe_checks_pairs_on_an_l2_output():
    """so3_cg_l2's output has an l=2 part: 90° rotations have no integral l=2 matrix, so the
    probe used to record passed with 0 so3 pairs; it now compares the elements that act
    integrally (180° rotations, ...) and every line compares pairs."""
    spec = ZOO["so3_cg_l2"]
    x = np.load(spec["samples"])["x"][:32]
    pr = _probe_of(spec["onnx"], spec["input_type"], spec["types"], x)
    so3 = next(r for r in pr["lines"] if r["group"] == "so3")
    assert so3["elements"] > 0 and so3["pairs"] == so3["elements"] * 32 and so3["mismatched"] == 0
    assert all(r["pairs"] > 0 and r["verdict"] == check.PASS for r in pr["lines"]), pr
    assert pr["verdict"] == check.PASS and pr["passed"]


@pytest.fixture(scope="module")
def edge_project(tmp_path_factory):
    """GramSum compiled with perm+lorentz on edge events: (project dir, manifest, compile log)."""
    d = tmp_path_factory.mktemp("verdicts")
    path = str(d / "gram.onnx")
    export(GramSum().eval(), (torch.randn(2, N, 4),), path, input_names=["x"], output_names=["y"],
           dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    np.savez(d / "edge.npz", x=edge_events())
    logs = []
    out = str(d / "gram")
    m = project.compile_model(path, output_dir=out, input_type=TYPE, samples=str(d / "edge.npz"),
                              symmetry=["perm", "lorentz"], log=lambda *a: logs.append(" ".join(map(str, a))))
    return out, m, "\n".join(logs), d


@pytest.mark.gxx
def test_probe_not_checked_in_manifest_and_compile_output(edge_project):
    _, m, log, _ = edge_project
    pr = m["symmetry_probe"]
    lor = next(r for r in pr["lines"] if r["group"] == "lorentz")
    assert lor["pairs"] == 0 and lor["verdict"] == check.NOT_CHECKED
    assert pr["group_verdicts"] == {"perm": check.PASS, "lorentz": check.NOT_CHECKED}
    assert pr["verdict"] == check.NOT_CHECKED and pr["passed"] is False
    assert "symmetry probe not checked" in log and "lorentz" in log


@pytest.mark.gxx
def test_check_not_checked_exits_1_and_report_shows_it(edge_project, capsys):
    """--group translation on events with one particle at the type's max and one at its min:
    every shift leaves the input type, no line compares anything -> not checked, exit 1."""
    out, _, _, d = edge_project
    x = np.zeros((8, N, 4))
    x[:, 0], x[:, 1] = 127.9375, -128.0
    np.savez(d / "walls.npz", x=x)
    js = d / "c.json"
    rc = cli.main(["check", out, "--group", "perm,translation", "--input", str(d / "walls.npz"), "--samples", "3",
                   "--json", str(js), "-q"])
    text = capsys.readouterr().out
    assert rc == 1, text
    rep = json.loads(js.read_text())
    assert rep["group_verdicts"] == {"perm": check.PASS, "translation": check.NOT_CHECKED}
    assert rep["verdict"] == check.NOT_CHECKED and rep["passed"] is False
    tr = [r for r in rep["lines"] if r["group"] == "translation"]
    assert len(tr) == 2 and all(r["pairs"] == 0 and r["verdict"] == check.NOT_CHECKED and not r["passed"] for r in tr)
    assert "verdict: not checked (no line of translation compared" in text
    assert text.count("not checked") >= 3             # both lines and the verdict
    assert cli.main(["report", out]) == 0
    rtext = capsys.readouterr().out
    assert "equivariance certificate (equihls_check.json): not checked" in rtext
    assert "translation: lattice translations (exact, 0 pairs) not checked" in rtext
    assert "symmetry probe at compile (twin, exact lines on the samples): not checked" in rtext
    # the stored samples: perm compares, lorentz's rotations compare (p = 0 is rotation-invariant)
    assert cli.main(["check", out, "--samples", "2", "-q"]) == 0
    capsys.readouterr()


@pytest.mark.gxx
def test_group_that_moves_no_input_is_an_error(edge_project, capsys):
    out, _, _, _ = edge_project
    rc = cli.main(["check", out, "--group", "lorentz", "--input-rep", "scalar", "-q"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "group 'lorentz' acts trivially on every input ('x' (per-event shape [4, 4], representation 'scalar')" in err
    with pytest.raises(check.EquihlsError, match="group 'so3' acts trivially on every input"):
        check.declare_symmetry({}, [("x", [8])], [("y", [1])], ["so3"])
    with pytest.raises(check.EquihlsError, match="group 'perm' acts trivially.*particle axis"):
        check.declare_symmetry({}, [("x", [8])], [("y", [1])], ["perm"])
    assert check.declare_symmetry({}, [("x", [5, 8])], [("y", [1])], ["perm"])["groups"] == ["perm"]
