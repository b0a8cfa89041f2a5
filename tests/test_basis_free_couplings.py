"""Couplings written in the user's own basis (issue 15, point 3): a constant C between inputs of
known representation induces ρ_out(g) = M (ρ_a ⊗ ρ_b)(g) M⁺ on its output (symmetry/induced.py);
its irreps and basis Q are found, recorded on the Bilinear node and, for a model output, used by
the certificate ('@coupling' representations).

Cartesian SO(3) model (what a physicist writes, plain torch.einsum):
  y = [a·b, a×b (3), (a_x b_y + a_y b_x)/2, (yz), (zx), a_x b_x − a_y b_y, 2 a_z b_z − a_x b_x − a_y b_y]
Lorentz model: F^{μν} = a^μ b^ν − a^ν b^μ in the order (01, 02, 03, 12, 13, 23) (not the
standard (01, 02, 03, 23, 31, 12))."""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from equihls.errors import EquihlsError, ModelError
from equihls.passes.recognize.tensor_products import _check_declared, induce_irreps, infer_irreps
from equihls.symmetry import groups as G
from equihls.symmetry.induced import induced_action, induced_irreps, reorder_basis
from equihls.symmetry.lorentz import rep_matrix
from equihls.symmetry.o3 import Irreps, cg
from equihls.verify import check

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cartesian_coupling(trace_free: bool = True) -> np.ndarray:
    """C [3, 3, 9]: dot, cross, and the symmetric traceless part as xy, yz, zx, x²−y², 2z²−x²−y².
    trace_free=False: [3, 3, 8] without the dot product and x² for x²−y², so the span is not
    invariant (with the dot product the 9 outputs would span every product: a mere change of basis)."""
    c = np.zeros((3, 3, 9))
    c[:, :, 0] = np.eye(3)
    for i, j, k in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
        c[i, j, 1 + k], c[j, i, 1 + k] = 1.0, -1.0

    def sym(i, j):
        m = np.zeros((3, 3))
        m[i, j] += 0.5
        m[j, i] += 0.5
        return m

    c[:, :, 4], c[:, :, 5], c[:, :, 6] = sym(0, 1), sym(1, 2), sym(2, 0)
    c[:, :, 7] = sym(0, 0) - sym(1, 1) if trace_free else sym(0, 0)
    c[:, :, 8] = 2 * sym(2, 2) - sym(0, 0) - sym(1, 1)
    return c if trace_free else c[:, :, 1:]


def field_strength(order=((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))) -> np.ndarray:
    c = np.zeros((4, 4, len(order)))
    for k, (m, n) in enumerate(order):
        c[m, n, k], c[n, m, k] = 1.0, -1.0
    return c


def _o3_elements(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return [(-1) ** k * G.random_rotation(rng) for k in range(n)]


O3_CANDIDATES = [(f"1x{l}{p}", Irreps.parse(f"1x{l}{p}").D) for l in range(3) for p in ("eo" if l % 2 == 0 else "oe")]


def test_cartesian_product_decomposes_and_its_action_is_the_rotation_of_the_tensor():
    c = cartesian_coupling().astype(np.float32)
    d1 = Irreps.parse("1o").D
    dec = induced_irreps(c, d1, d1, _o3_elements(), O3_CANDIDATES)
    assert dec.names == ("1x0e", "1x1e", "1x2e") and dec.dead == 0
    # the action found is how the Cartesian outputs really move: y(Ra, Rb) = ρ(R) y(a, b)
    act, _ = induced_action(c, d1, d1, _o3_elements())
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 3))
    y = lambda a, b: np.einsum("i,j,ijk->k", a, b, cartesian_coupling())  # noqa: E731
    for r in _o3_elements(3, seed=2):
        np.testing.assert_allclose(y(r @ a, r @ b), act(r) @ y(a, b), atol=1e-5)
        std = np.zeros((9, 9))
        for sl, name in zip((slice(0, 1), slice(1, 4), slice(4, 9)), dec.names):
            std[sl, sl] = Irreps.parse(name).D(r)
        np.testing.assert_allclose(dec.basis @ std @ np.linalg.inv(dec.basis), act(r), atol=1e-5)


def test_any_basis_is_recognised_and_a_non_invariant_span_is_not():
    rng = np.random.default_rng(3)
    mix = np.eye(9)
    mix[4:, 4:] = rng.normal(size=(5, 5))          # any invertible basis of the l=2 part
    c = np.einsum("ijk,kl->ijl", cartesian_coupling(), mix)
    rec, q = induce_irreps(c.astype(np.float32))
    assert rec == "1x1o*1x1o->1x0e+1x1e+1x2e" and q.shape == (9, 9)
    assert infer_irreps(c) is None                   # not the standard basis
    assert induce_irreps(cartesian_coupling(trace_free=False)) is None   # x² is not in an invariant span
    assert induce_irreps(cartesian_coupling()[:, :, :4] * [1, 1, 1, 0]) is None   # a cross product missing z
    assert induce_irreps(np.random.default_rng(1).normal(size=(3, 3, 1))) is None
    # the standard CG couplings keep their standard-basis record (no basis)
    assert infer_irreps(cg(1, 1, 2)) == "1x1o*1x1o->1x2e"


def test_lorentz_couplings_in_any_coordinates():
    assert infer_irreps(field_strength()) is None     # not the standard (01, 02, 03, 23, 31, 12)
    rec, q = induce_irreps(field_strength().astype(np.float32))
    assert rec == "(1/2,1/2)*(1/2,1/2)->(1,0)+(0,1)"
    rec, q = induce_irreps(np.eye(16).reshape(4, 4, 16))        # a^μ b^ν itself
    assert rec == "(1/2,1/2)*(1/2,1/2)->(0,0)+(1,0)+(0,1)+(1,1)"
    rep = G.Rep("(0,0)+(1,0)+(0,1)+(1,1)@coupling", basis=q)
    lam = G.embed_o3(G.random_rotation(np.random.default_rng(0))) @ G.boost(0.4, [1.0, 2.0, 0.5])
    g = G.Element(label="x", lorentz=lam)
    np.testing.assert_allclose(rep.matrix(g), np.kron(lam, lam), atol=1e-6)
    broken = field_strength()
    broken[:, :, 3] = 0
    broken[1, 2, 3] = broken[2, 1, 3] = 1.0                    # a symmetric component among antisymmetric ones
    assert induce_irreps(broken) is None
    assert rep_matrix("(0,0)+(1/2,1/2)", lam).shape == (5, 5)


def test_declared_irreps_are_checked_in_the_couplings_basis():
    c = cartesian_coupling()
    rec, q = _check_declared("TensorProduct 'tp'", c, ["1x1o", "1x1o", "1x2e+1x0e+1x1e"])
    assert rec == "1x1o*1x1o->1x2e+1x0e+1x1e"
    # re-laid in the declared order: the l=2 columns come first
    assert np.allclose(q[:, 5:6], np.eye(9)[:, :1]) and not np.allclose(q[:, :5], 0)
    with pytest.raises(ModelError, match=r"in its own output basis it couples 1x1o ⊗ 1x1o -> 1x0e\+1x1e\+1x2e, "
                                         r"not 1x0e\+1x1o\+1x2e"):
        _check_declared("TensorProduct 'tp'", c, ["1x1o", "1x1o", "1x0e+1x1o+1x2e"])
    with pytest.raises(ModelError, match="not an intertwiner"):
        _check_declared("TensorProduct 'tp'", cartesian_coupling(trace_free=False),
                        ["1x1o", "1x1o", "1x1e+1x2e"])


def test_reorder_basis():
    q = np.arange(16.0).reshape(4, 4)
    assert reorder_basis([("0e", 1), ("1o", 3)], q, [("0e", 1), ("1e", 3)]) is None
    np.testing.assert_array_equal(reorder_basis([("0e", 1), ("1o", 3)], q, [("1o", 3), ("0e", 1)]), q[:, [1, 2, 3, 0]])


def test_rep_in_a_coupling_basis():
    q = np.diag([1.0, -1.0, 2.0])
    r = G.Rep("1o@coupling", basis=q)
    g = G.Element(label="r", lorentz=G.embed_o3(G.random_rotation(np.random.default_rng(0))))
    np.testing.assert_allclose(r.matrix(g), q @ g.rotation @ np.linalg.inv(q))
    with pytest.raises(ValueError, match="standard basis"):
        G.Rep("1o", basis=q)
    with pytest.raises(ValueError, match="no coupling basis was recorded"):
        G.Rep("1o@coupling").matrix(g)
    with pytest.raises(ValueError, match="dimension 3; its basis is"):
        G.Rep("1o@coupling", basis=np.eye(2))


def _sym(output_reps):
    return {"groups": ["so3"], "input_reps": ["3vec", "3vec"], "output_reps": list(output_reps),
            "output_perm": "invariant"}


def test_bind_output_bases():
    q = np.eye(9)[:, ::-1]
    outs = [("y", [9])]
    induced = {0: ("1x0e+1x1e+1x2e", q, "/Einsum")}
    sym = _sym(["scalar"])
    (line,) = check.bind_output_bases(sym, induced, False, outs)
    assert sym["output_reps"] == ["1x0e+1x1e+1x2e@coupling"] and np.allclose(sym["output_bases"][0], q), line
    sym = _sym(["2e+0e+1e@coupling"])
    assert check.bind_output_bases(sym, induced, True, outs) == []
    assert np.allclose(sym["output_bases"][0], q[:, [4, 5, 6, 7, 8, 0, 1, 2, 3]])
    sym = _sym(["0o+1o+2o@coupling"])                 # all parities flipped: inputs of the other parity
    check.bind_output_bases(sym, induced, True, outs)
    assert np.allclose(sym["output_bases"][0], q)
    with pytest.raises(EquihlsError, match="declared '0e\\+1o\\+2e@coupling', but the coupling at '/Einsum'"):
        check.bind_output_bases(_sym(["0e+1o+2e@coupling"]), induced, True, outs)
    with pytest.raises(EquihlsError, match="no recognised coupling computes it"):
        check.bind_output_bases(_sym(["0e+1e+2e@coupling"]), {}, True, outs)
    (note,) = check.bind_output_bases(_sym(["0e+1e+2e"]), induced, True, outs)
    assert note.startswith("note:") and "0e+1e+2e@coupling" in note
    # invariant couplings (a Minkowski or dot product) bind nothing
    for inv in ("(0,0)", "1x0e"):
        sym = _sym(["scalar"])
        assert check.bind_output_bases(sym, {0: (inv, None, "/dot")}, False, [("y", [1])]) == []
        assert sym["output_reps"] == ["scalar"] and "output_bases" not in sym
    # a standard-basis coupling: undeclared outputs take its content, no basis
    sym = _sym(["scalar"])
    check.bind_output_bases(sym, {0: ("1x2e", None, "/cg")}, False, [("y", [5])])
    assert sym["output_reps"] == ["1x2e"] and "output_bases" not in sym
    # an override at check time keeps the basis only for the same name
    spec = check._merged({**sym, "output_reps": ["1x2e@coupling"], "output_bases": [np.eye(5).tolist()]},
                         None, None, ["1x2e"], None)
    assert spec["output_bases"] == [None]


torch = pytest.importorskip("torch")


class Cartesian(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.register_buffer("c", torch.tensor(c, dtype=torch.float32))

    def forward(self, a, b):
        return torch.einsum("bi,bj,ijk->bk", a, b, self.c)


def _export(tmp_path, c, dynamo, name="m"):
    from tests.exporters import export
    path = str(tmp_path / f"{name}{'_dyn' if dynamo else ''}.onnx")
    export(Cartesian(c).eval(), (torch.randn(2, c.shape[0]), torch.randn(2, c.shape[1])), path, dynamo,
           input_names=["a", "b"], output_names=["y"])
    return path


def _equihls(*args):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "equihls", *args], capture_output=True, text=True, env=env,
                          timeout=600)


def _certify(out, group):
    from equihls import project
    return check.run(project.Project(out), groups=[group], n_elements=6, progress=False)


from tests.exporters import EXPORTERS  # noqa: E402


@EXPORTERS
@pytest.mark.gxx
def test_cartesian_model_certifies_in_its_own_basis(tmp_path, dynamo):
    from equihls import project
    path = _export(tmp_path, cartesian_coupling(), dynamo)
    out = str(tmp_path / "prj")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)          # recognised: no "no symmetry is certified"
        man = project.compile_model(path, output_dir=out, input_type="ap_fixed<12,4>", symmetry=["so3", "o3"],
                                    log=lambda *a: None)
    (bil,) = [n for n in man["nodes"] if n["op"] == "Bilinear"]
    assert bil["attrs"]["irreps"] == "1x1o*1x1o->1x0e+1x1e+1x2e" and len(bil["attrs"]["irreps_basis"]) == 9
    assert man["symmetry"]["output_reps"] == ["1x0e+1x1e+1x2e@coupling"]
    for group in ("so3", "o3"):
        rep = _certify(out, group)
        exact = [r for r in rep["lines"] if r["kind"] == "exact"]
        assert exact and all(r["pairs"] > 0 and r["mismatched"] == 0 for r in exact), check.format_report(rep)
        assert rep["passed"], check.format_report(rep)


@pytest.mark.gxx
def test_cartesian_declarations_are_checked(tmp_path):
    path = _export(tmp_path, cartesian_coupling(), False)
    common = ["--symmetry", "o3", "--input-type", "ap_fixed<12,4>"]
    # declared in another order, in the coupling's basis: certified
    r = _equihls("compile", path, "-o", str(tmp_path / "ok"), "--output-rep", "2e+0e+1e@coupling", *common)
    assert r.returncode == 0, r.stderr
    assert _certify(str(tmp_path / "ok"), "o3")["passed"]
    # every parity flipped (as if the inputs were axial): compiles, and the O(3) certificate fails
    r = _equihls("compile", path, "-o", str(tmp_path / "flip"), "--output-rep", "0o+1o+2o@coupling", *common)
    assert r.returncode == 0, r.stderr
    assert _certify(str(tmp_path / "flip"), "so3")["passed"]
    assert not _certify(str(tmp_path / "flip"), "o3")["passed"]
    # irreps the coupling does not have: exit 2 naming the output and the node, no project
    r = _equihls("compile", path, "-o", str(tmp_path / "bad"), "--output-rep", "0e+1o+2e@coupling", *common)
    assert r.returncode == 2 and "output 'y' is declared '0e+1o+2e@coupling'" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not os.path.exists(tmp_path / "bad")
    # declared in the standard basis: a note, and the certificate judges that declaration (it fails)
    r = _equihls("compile", path, "-o", str(tmp_path / "std"), "--output-rep", "0e+1e+2e", *common)
    assert r.returncode == 0 and "declare '0e+1e+2e@coupling'" in r.stdout + r.stderr
    assert not _certify(str(tmp_path / "std"), "o3")["passed"]
    # naming the coupling's basis only at check time: that project recorded none (exit 2, no traceback)
    r = _equihls("check", str(tmp_path / "std"), "--group", "so3", "--output-rep", "0e+1e+2e@coupling")
    assert r.returncode == 2 and "recorded none for it" in r.stderr and "Traceback" not in r.stderr, r.stderr


@pytest.mark.gxx
def test_non_intertwiner_is_reported_and_fails(tmp_path):
    from equihls import project
    path = _export(tmp_path, cartesian_coupling(trace_free=False), False, "bad")
    out = str(tmp_path / "prj")
    with pytest.warns(UserWarning, match="in any output basis; lowered as a plain bilinear map"):
        man = project.compile_model(path, output_dir=out, input_type="ap_fixed<12,4>", symmetry=["so3"],
                                    log=lambda *a: None)
    assert man["symmetry"]["output_reps"] == ["scalar"]
    assert not _certify(out, "so3")["passed"]


@pytest.mark.gxx
def test_field_strength_in_other_coordinates_certifies_lorentz(tmp_path):
    from equihls import project
    path = _export(tmp_path, field_strength(), False, "f")
    out = str(tmp_path / "prj")
    man = project.compile_model(path, output_dir=out, input_type="ap_fixed<12,4>", symmetry=["lorentz"],
                                log=lambda *a: None)
    assert man["symmetry"]["output_reps"] == ["(1,0)+(0,1)@coupling"]
    rep = _certify(out, "lorentz")
    assert rep["passed"] and any(r["kind"] == "exact" and r["pairs"] > 0 for r in rep["lines"]), \
        check.format_report(rep)


class SummedParts(torch.nn.Module):
    """Per-particle Cartesian products of u, w (x [B, 4, 6]) summed over particles and concatenated as
    a physicist writes them: the symmetric traceless part, then the dot and the cross product."""

    def __init__(self):
        super().__init__()
        c = torch.tensor(cartesian_coupling(), dtype=torch.float32)
        self.register_buffer("c_sym", c[..., 4:].contiguous())
        self.register_buffer("c_dot", c[..., :1].contiguous())
        self.register_buffer("c_cross", c[..., 1:4].contiguous())

    def forward(self, x):
        u, w = x[..., :3], x[..., 3:]
        parts = [torch.einsum("bni,bnj,ijk->bnk", u, w, c).sum(1) for c in (self.c_sym, self.c_dot, self.c_cross)]
        return torch.cat(parts, dim=-1)


@pytest.mark.gxx
def test_outputs_summed_and_concatenated_keep_their_representation(tmp_path):
    """The coupling outputs reach the port through a sum over particles and a Concat: the output's
    representation is followed through both (its basis re-laid by the Concat), and it certifies."""
    from equihls import project
    from tests.exporters import export

    path = export(SummedParts().eval(), (torch.randn(2, 4, 6),), str(tmp_path / "parts.onnx"), False)
    x = np.random.default_rng(0).integers(-32, 33, size=(128, 4, 6)) / 16.0
    out = str(tmp_path / "prj")
    man = project.compile_model(path, output_dir=out, input_type="ap_fixed<12,4>", samples=x, symmetry=["so3", "o3"],
                                input_reps=["1x1o+1x1o"], log=lambda *a: None)
    assert man["symmetry"]["output_reps"] == ["1x2e+1x0e+1x1e@coupling"], man["symmetry"]
    q = np.asarray(man["symmetry"]["output_bases"][0])
    assert np.allclose(q[5:, 5:], np.eye(4)) and not np.allclose(q[:5, :5], np.eye(5))   # dot, cross standard
    for group in ("so3", "o3"):
        rep = check.run(project.Project(out), groups=[group], n_elements=6, progress=False)
        assert rep["passed"] and all(r["pairs"] > 0 for r in rep["lines"]), check.format_report(rep)
