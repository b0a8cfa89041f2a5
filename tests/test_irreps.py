"""SO(3)/O(3) irreps, Wigner-D, Clebsch-Gordan, scale folding and Lorentz representations."""
import itertools
import re

import numpy as np
import pytest

from equihls.symmetry.o3 import Irrep, Irreps, cg, cg_o3, simplest_scale, so3_generators, wigner_D
from equihls.symmetry.lorentz import (ETA, PARITY, REAL_REPS, VECTOR_TO_BISPINOR, cg_lorentz, complex_rep,
                                      lorentz_from_sl2c, lorentz_generators, lorentz_intertwiners, rep_dim,
                                      rep_generators, rep_matrix, sl2c_from_lorentz)
from tests.conftest import expm

LEVI_CIVITA = np.zeros((3, 3, 3))
for _i, _j, _k in itertools.permutations(range(3)):
    LEVI_CIVITA[_i, _j, _k] = round(np.linalg.det(np.eye(3)[[_i, _j, _k]]))


# --------------------------------------------------------------------------- helpers


def _rodrigues(axis, angle):
    n = np.asarray(axis, float) / np.linalg.norm(axis)
    k = -np.einsum("kij,k->ij", LEVI_CIVITA, n)  # k @ v = n x v
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def _random_rotation(rng):
    return _rodrigues(rng.normal(size=3), rng.uniform(0, np.pi))


def _expm_antisym(a):
    """exp of a real antisymmetric matrix via the Hermitian matrix i*a."""
    w, v = np.linalg.eigh(1j * a)
    return (v @ np.diag(np.exp(-1j * w)) @ v.conj().T).real


def _boost(direction, rapidity):
    n = np.asarray(direction, float) / np.linalg.norm(direction)
    b = np.eye(4)
    b[0, 0] = np.cosh(rapidity)
    b[0, 1:] = b[1:, 0] = np.sinh(rapidity) * n
    b[1:, 1:] += (np.cosh(rapidity) - 1) * np.outer(n, n)
    return b


def _spatial(r):
    out = np.eye(4)
    out[1:, 1:] = r
    return out


def random_lorentz(rng, max_rapidity):
    """Proper orthochronous Lam = R1 B R2 with a boost of rapidity <= max_rapidity."""
    b = _boost(rng.normal(size=3), rng.uniform(0, max_rapidity))
    return _spatial(_random_rotation(rng)) @ b @ _spatial(_random_rotation(rng))


def _intertwines(C, d1, d2, d3):
    lhs = np.einsum("ijk,ia,jb->kab", C, d1, d2)
    rhs = np.einsum("kc,abc->kab", d3, C)
    return np.abs(lhs - rhs).max() / max(1.0, np.abs(lhs).max())


TRIANGLE_L3 = [
    (l1, l2, l3) for l1 in range(4) for l2 in range(4) for l3 in range(4) if abs(l1 - l2) <= l3 <= l1 + l2
]


# --------------------------------------------------------------------------- parsing


def test_parse_and_canonical_str():
    x = Irreps.parse("2x0e+1x1o+1x2e")
    assert x.dim == 2 + 3 + 5 and x.num_irreps == 4 and len(x) == 3
    assert str(x) == "2x0e+1x1o+1x2e" and Irreps.parse(str(x)) == x
    assert [(m, str(ir)) for m, ir in x] == [(2, "0e"), (1, "1o"), (1, "2e")]
    y = Irreps.parse("  2 x 0e +1o+ 1x2e ")
    assert y == x and str(y) == str(x)
    assert str(Irreps("1o")) == "1x1o" and Irreps("0e").dim == 1
    assert str(Irreps("1y+2y")) == "1x1o+1x2e"
    assert Irreps("").dim == 0 and str(Irreps("")) == ""
    assert Irreps([(2, "1o"), (1, Irrep(0, 1))]) == "2x1o+1x0e"
    assert Irreps("1o") + "0e" == Irreps("1o+0e")
    assert Irrep("1o") == Irrep(1, -1) == Irrep(1, "o") and Irrep(2, 1).dim == 5


def test_slices():
    x = Irreps("2x0e+1x1o+2x2e")
    assert x.slices() == [slice(0, 1), slice(1, 2), slice(2, 5), slice(5, 10), slice(10, 15)]
    assert [str(ir) for ir, _ in x.copies()] == ["0e", "0e", "1o", "2e", "2e"]
    assert x.entry_slices() == [slice(0, 2), slice(2, 5), slice(5, 15)]


@pytest.mark.parametrize(
    "bad, token",
    [("1x1q", "'1x1q'"), ("x1o", "'x1o'"), ("-1o", "'-1o'"), ("2x0e+", "''"),
     ("1o+1.5e", "'1.5e'"), ("2x0e+3x", "'3x'"), ("1e+o", "'o'")],
)
def test_parse_errors_name_the_token(bad, token):
    with pytest.raises(ValueError, match=re.escape(token)):
        Irreps.parse(bad)


def test_irrep_validation():
    for args in [(-1, 1), (1, 0), (1, "x"), (1.5, 1)]:
        with pytest.raises(ValueError):
            Irrep(*args)
    with pytest.raises(ValueError, match="'2x1o'"):
        Irrep("2x1o")


# --------------------------------------------------------------------------- Wigner-D


def test_l1_is_cartesian():
    rng = np.random.default_rng(0)
    for _ in range(5):
        r = _random_rotation(rng)
        assert np.array_equal(wigner_D(1, r), r)
    gens = so3_generators(1)
    assert np.array_equal(gens, -LEVI_CIVITA)


@pytest.mark.parametrize("l", range(5))
def test_generators_commutation(l):
    lx, ly, lz = so3_generators(l)
    for a, b, c in [(lx, ly, lz), (ly, lz, lx), (lz, lx, ly)]:
        assert np.abs(a @ b - b @ a - c).max() < 1e-12
    assert np.abs(lx + lx.T).max() == 0


@pytest.mark.parametrize("l", range(5))
def test_wigner_homomorphism_orthogonality_identity(l):
    rng = np.random.default_rng(10 + l)
    n = 2 * l + 1
    assert np.abs(wigner_D(l, np.eye(3)) - np.eye(n)).max() < 1e-14
    for _ in range(5):
        r1, r2 = _random_rotation(rng), _random_rotation(rng)
        d1, d2 = wigner_D(l, r1), wigner_D(l, r2)
        assert np.abs(wigner_D(l, r1 @ r2) - d1 @ d2).max() < 1e-12
        assert np.abs(d1 @ d1.T - np.eye(n)).max() < 1e-12
        assert np.abs(wigner_D(l, r1.T) - d1.T).max() < 1e-12
    batch = np.stack([_random_rotation(rng) for _ in range(4)])
    assert np.allclose(wigner_D(l, batch)[2], wigner_D(l, batch[2]), atol=1e-14)


@pytest.mark.parametrize("angle", [0.0, 1e-9, 1.3, np.pi - 1e-9, np.pi])
def test_wigner_matches_generator_exponential(angle):
    rng = np.random.default_rng(3)
    n = rng.normal(size=3)
    n /= np.linalg.norm(n)
    r = _expm_antisym(angle * np.einsum("k,kij->ij", n, so3_generators(1)))
    for l in range(5):
        expected = _expm_antisym(angle * np.einsum("k,kij->ij", n, so3_generators(l)))
        assert np.abs(wigner_D(l, r) - expected).max() < 1e-12
        if angle == np.pi:
            d = wigner_D(l, r)
            assert np.abs(d @ d - np.eye(2 * l + 1)).max() < 1e-12


def test_l2_basis_is_real_spherical_harmonics():
    def y2(v):
        x, y, z = v
        s = np.sqrt(3)
        return np.array([s * x * z, s * x * y, y * y - (x * x + z * z) / 2, s * y * z, s / 2 * (z * z - x * x)])

    rng = np.random.default_rng(4)
    for _ in range(3):
        r, v = _random_rotation(rng), rng.normal(size=3)
        assert np.abs(y2(r @ v) - wigner_D(2, r) @ y2(v)).max() < 1e-12


def test_wigner_rejects_bad_input():
    with pytest.raises(ValueError, match="det R"):
        wigner_D(1, -np.eye(3))
    with pytest.raises(ValueError, match="not orthogonal"):
        wigner_D(2, np.eye(3) * 1.1)
    with pytest.raises(ValueError):
        wigner_D(-1, np.eye(3))


def test_irreps_D_parity():
    rng = np.random.default_rng(5)
    r = _random_rotation(rng)
    improper = -r  # det -1
    assert np.array_equal(Irreps("1o").D(improper), improper)
    assert np.abs(Irreps("1e").D(improper) - np.linalg.det(improper) * improper).max() < 1e-15
    assert np.array_equal(Irreps("1o").D(r), r) and np.array_equal(Irreps("1e").D(r), r)
    assert Irreps("0o").D(improper)[0, 0] == -1 and Irreps("0e").D(improper)[0, 0] == 1
    assert np.abs(Irreps("2e").D(improper) - wigner_D(2, r)).max() < 1e-15
    assert np.abs(Irreps("2o").D(improper) + wigner_D(2, r)).max() < 1e-15
    # A reflection (det -1, not -I): still a homomorphism on O(3).
    mirror = np.diag([1.0, -1.0, 1.0])
    x = Irreps("2x0e+1x1o+1x1e+1x2o+1x3e")
    for g1, g2 in [(mirror, r), (improper, mirror), (r, improper)]:
        assert np.abs(x.D(g1 @ g2) - x.D(g1) @ x.D(g2)).max() < 1e-12
    d = x.D(improper)
    assert d.shape == (x.dim, x.dim)
    assert np.abs(d[5:8, 5:8] - r).max() < 1e-15  # the 1e block: det(-r) (-r) = r
    assert np.all(d[:5, 5:] == 0)


# --------------------------------------------------------------------------- Clebsch-Gordan


@pytest.mark.parametrize("l1, l2, l3", TRIANGLE_L3)
def test_cg_intertwines(l1, l2, l3):
    rng = np.random.default_rng(100 + 16 * l1 + 4 * l2 + l3)
    c = cg(l1, l2, l3)
    assert c.shape == (2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1)
    assert abs(np.linalg.norm(c) - 1) < 1e-14
    assert c[np.nonzero(c)][0] > 0
    for _ in range(3):
        r = _random_rotation(rng)
        assert _intertwines(c, wigner_D(l1, r), wigner_D(l2, r), wigner_D(l3, r)) < 1e-12


def test_cg_forbidden_and_o3_rules():
    assert not cg(1, 1, 3).any() and cg(1, 1, 3).shape == (3, 3, 7)
    assert not cg(0, 2, 1).any()
    with pytest.raises(ValueError, match="parity rule"):
        cg_o3("1o", "1o", "1o")
    with pytest.raises(ValueError, match="triangle rule"):
        cg_o3("1o", "1o", "3e")
    # The cross product of two polar vectors is axial and O(3)-equivariant.
    c = cg_o3("1o", "1o", "1e")
    rng = np.random.default_rng(6)
    for g in [-_random_rotation(rng), np.diag([1.0, 1.0, -1.0])]:
        assert _intertwines(c, Irreps("1o").D(g), Irreps("1o").D(g), Irreps("1e").D(g)) < 1e-12
        assert _intertwines(cg_o3("1o", "2e", "3o"), Irreps("1o").D(g), Irreps("2e").D(g), Irreps("3o").D(g)) < 1e-12


def test_cg_known_tensors():
    assert np.abs(cg(1, 1, 0)[:, :, 0] - np.eye(3) / np.sqrt(3)).max() < 1e-15
    assert np.abs(cg(1, 1, 1) - LEVI_CIVITA / np.sqrt(6)).max() < 1e-15
    assert np.abs(cg(0, 2, 2)[0] - np.eye(5) / np.sqrt(5)).max() < 1e-15
    # x (x) x -> 2 is the degree-2 harmonic (up to the sign convention of cg).
    x = np.array([0.3, -1.2, 0.7])
    out = np.einsum("ijk,i,j->k", cg(1, 1, 2), x, x)
    s = np.sqrt(3)
    y2 = np.array([s * x[0] * x[2], s * x[0] * x[1], x[1] ** 2 - (x[0] ** 2 + x[2] ** 2) / 2,
                   s * x[1] * x[2], s / 2 * (x[2] ** 2 - x[0] ** 2)])
    assert np.abs(out + np.sqrt(2 / 15) * y2).max() < 1e-14


NONZEROS = {
    (0, 0, 0): 1, (0, 1, 1): 3, (0, 2, 2): 5, (0, 3, 3): 7, (1, 1, 0): 3, (1, 1, 1): 6, (1, 1, 2): 11,
    (1, 2, 1): 11, (1, 2, 2): 16, (1, 2, 3): 21, (1, 3, 2): 21, (1, 3, 3): 26, (2, 2, 0): 5, (2, 2, 1): 16,
    (2, 2, 2): 25, (2, 2, 3): 28, (2, 3, 1): 21, (2, 3, 2): 28, (2, 3, 3): 41, (3, 3, 0): 7, (3, 3, 1): 26,
    (3, 3, 2): 41, (3, 3, 3): 42,
}


def test_cg_nonzero_counts():
    for (l1, l2, l3), n in NONZEROS.items():
        assert np.count_nonzero(cg(l1, l2, l3)) == n
        assert np.count_nonzero(cg(l2, l1, l3)) == n


# --------------------------------------------------------------------------- scale folding


def test_simplest_scale_integer_cases():
    s, c, res = simplest_scale(cg(1, 1, 0))
    assert res == 0 and abs(s - np.sqrt(3)) < 1e-12 and np.array_equal(c[:, :, 0], np.eye(3))
    r = simplest_scale(cg(1, 1, 1))
    assert r.kind == "integer" and abs(r.scale - np.sqrt(6)) < 1e-12
    assert np.array_equal(r.coeffs, LEVI_CIVITA)
    for l in range(4):
        assert simplest_scale(cg(0, l, l)).kind == "integer"
    r = simplest_scale(cg(3, 3, 3))
    assert r.kind == "integer" and set(np.unique(np.abs(r.coeffs))) == {0.0, 1.0}


def test_simplest_scale_dyadic_and_approximate():
    # Rational ratios whose coprime integers exceed max_int: shifted to dyadic.
    r = simplest_scale(np.array([1.0, 3.0, 100.0]) / 7)
    assert r.kind == "dyadic" and r.frac_bits == 3 and np.array_equal(r.coeffs, [0.125, 0.375, 12.5])
    assert simplest_scale(np.array([1.0, 3.0, 100.0]) / 7, max_int=None).kind == "integer"
    # 1 (x) 1 -> 2: entries in ratio 1 : sqrt3 : 2, no exact scale.  Documented
    # result with integers <= 16: coefficients {7, 12, 14}, residual ~0.124.
    r = simplest_scale(cg(1, 1, 2))
    assert r.kind == "approximate" and np.abs(r.coeffs).max() <= 16
    assert set(np.unique(np.abs(r.coeffs))) == {0.0, 7.0, 12.0, 14.0}
    assert abs(r.residual - 0.1244) < 1e-3
    assert abs(r.residual - np.abs(r.scale * cg(1, 1, 2) - r.coeffs).max()) < 1e-12
    finer = simplest_scale(cg(1, 1, 2), frac_bits=4)
    assert finer.residual < r.residual and finer.frac_bits <= 4
    r = simplest_scale(cg(2, 3, 3))
    assert r.kind == "approximate" and r.residual / np.abs(r.coeffs).max() < 0.03


# --------------------------------------------------------------------------- Lorentz


def test_lorentz_helpers_and_generators():
    rng = np.random.default_rng(7)
    for _ in range(5):
        lam = random_lorentz(rng, 2.0)
        assert np.abs(lam.T @ ETA @ lam - ETA).max() < 1e-12 * np.abs(lam).max() ** 2
        assert lam[0, 0] >= 1 and np.linalg.det(lam) > 0
    gens = lorentz_generators()
    assert np.abs(expm(0.7 * gens[5]) - _boost([0, 0, 1], 0.7)).max() < 1e-13
    assert np.abs(expm(0.7 * gens[2])[1:, 1:] - _rodrigues([0, 0, 1], 0.7)).max() < 1e-13
    for name in REAL_REPS:
        g = rep_generators(name)
        for k in range(6):
            h = 1e-5
            fd = (rep_matrix(name, expm(h * gens[k])) - rep_matrix(name, expm(-h * gens[k]))) / (2 * h)
            assert np.abs(fd - g[k]).max() < 1e-8


@pytest.mark.parametrize("name", list(REAL_REPS))
def test_rep_matrix_homomorphism(name):
    rng = np.random.default_rng(8)
    d = rep_dim(name)
    assert rep_matrix(name, np.eye(4)).shape == (d, d)
    assert np.abs(rep_matrix(name, np.eye(4)) - np.eye(d)).max() == 0
    for _ in range(5):
        a, b = random_lorentz(rng, 2.0), random_lorentz(rng, 2.0)
        ab = rep_matrix(name, a @ b)
        assert np.abs(ab - rep_matrix(name, a) @ rep_matrix(name, b)).max() < 1e-10 * np.abs(ab).max()
        inv = rep_matrix(name, ETA @ a.T @ ETA)  # Lam^-1 = eta Lam^T eta
        assert np.abs(inv @ rep_matrix(name, a) - np.eye(d)).max() < 1e-10 * np.abs(rep_matrix(name, a)).max() ** 2
    p = rep_matrix(name, PARITY)
    assert np.abs(p @ p - np.eye(d)).max() == 0


def test_rep_matrix_errors():
    with pytest.raises(ValueError, match=re.escape("(1,1)")) as e:
        rep_matrix("(2,0)", np.eye(4))
    assert "(1/2,1/2)" in str(e.value)
    with pytest.raises(ValueError, match="not a Lorentz"):
        rep_matrix("(1/2,1/2)", 2 * np.eye(4))
    assert rep_matrix(" (0,1) + (1,0) ", np.eye(4)).shape == (6, 6)


REAL_TRIPLES = list(itertools.product(REAL_REPS, repeat=3))


def _unique_lorentz_products():
    """Every triple of real Lorentz forms with a unique parity-even coupling (the README table).

    Computed when a test asks (the library caches each coupling), not at import: collecting this
    module must stay cheap."""
    return [r for r in REAL_TRIPLES if len(lorentz_intertwiners(*r)) == 1]


def test_lorentz_product_table_is_complete():
    """The products listed by benchmarks/bench_cg.py (unordered inputs): 17 couplings, including the
    four-vector ones."""
    products = _unique_lorentz_products()
    unordered = {(min(a, b), max(a, b), c) for a, b, c in products}
    assert len(products) == 24 and len(unordered) == 17
    assert ("(1/2,1/2)", "(1/2,1/2)", "(1,1)") in products and ("(0,0)", "(0,0)", "(0,0)") in products


@pytest.mark.parametrize("reps", REAL_TRIPLES, ids=lambda r: "x".join(r))
def test_cg_lorentz_intertwines(reps):
    """A unique coupling is returned, normalised and equivariant; otherwise cg_lorentz refuses,
    saying whether none or several exist."""
    basis = lorentz_intertwiners(*reps)
    if len(basis) != 1:
        with pytest.raises(ValueError, match="no Lorentz-equivariant" if len(basis) == 0 else "independent"):
            cg_lorentz(*reps)
        return
    c = cg_lorentz(*reps)
    assert c.shape == tuple(rep_dim(r) for r in reps) and np.array_equal(c, basis[0])
    assert abs(np.linalg.norm(c) - 1) < 1e-14 and c[np.nonzero(c)][0] > 0
    rng = np.random.default_rng(9)
    for lam in [random_lorentz(rng, 2.0) for _ in range(3)] + [PARITY]:
        assert _intertwines(c, *(rep_matrix(r, lam) for r in reps)) < 1e-10


def test_cg_lorentz_known_forms():
    rng = np.random.default_rng(11)
    p, q = rng.normal(size=4), rng.normal(size=4)
    dot = np.einsum("ijk,i,j->k", cg_lorentz("(1/2,1/2)", "(1/2,1/2)", "(0,0)"), p, q)
    assert abs(dot[0] - (p @ ETA @ q) / 2) < 1e-14
    wedge = np.einsum("ijk,i,j->k", cg_lorentz("(1/2,1/2)", "(1/2,1/2)", "(1,0)+(0,1)"), p, q)
    f = np.outer(p, q) - np.outer(q, p)
    pairs = [(0, 1), (0, 2), (0, 3), (2, 3), (3, 1), (1, 2)]
    assert np.abs(wedge - np.array([f[a, b] for a, b in pairs]) / np.sqrt(12)).max() < 1e-14
    sym = np.einsum("ijk,i,j->k", cg_lorentz("(1/2,1/2)", "(1/2,1/2)", "(1,1)"), p, q)
    t = (np.outer(p, q) + np.outer(q, p)) / 2 - (p @ ETA @ q) / 4 * ETA
    t_coords = np.array([t[a, b] for a, b in [(0, 1), (0, 2), (0, 3), (1, 1), (2, 2), (3, 3), (2, 3), (3, 1), (1, 2)]])
    ratio = sym @ t_coords / (t_coords @ t_coords)
    assert np.abs(sym - ratio * t_coords).max() < 1e-14 and ratio > 0
    assert np.abs(cg_lorentz("(1/2,1/2)", "(0,0)", "(1/2,1/2)")[:, 0, :] - np.eye(4) / 2).max() < 1e-15
    fcoords = np.array([f[a, b] for a, b in pairs])
    fp = np.einsum("ijk,i,j->k", cg_lorentz("(1,0)+(0,1)", "(1/2,1/2)", "(1/2,1/2)"), fcoords, q)
    assert np.abs(fp - f.T @ ETA @ q / np.sqrt(12)).max() < 1e-14  # F^{nu mu} q_nu / sqrt12


def test_lorentz_parity_odd_couplings_and_absent_ones():
    both = lorentz_intertwiners("(1/2,1/2)", "(1/2,1/2)", "(1,0)+(0,1)", parity=False)
    assert both.shape == (2, 4, 4, 6)
    rng = np.random.default_rng(12)
    lam = random_lorentz(rng, 1.5)
    reps = ("(1/2,1/2)", "(1/2,1/2)", "(1,0)+(0,1)")
    for c in both:
        assert _intertwines(c, *(rep_matrix(r, lam) for r in reps)) < 1e-10
    odd = [c for c in both if _intertwines(c, *(rep_matrix(r, PARITY) for r in reps)) > 1e-3]
    assert len(odd) == 1  # the Hodge dual of the wedge
    with pytest.raises(ValueError, match="use lorentz_intertwiners"):
        cg_lorentz(*reps, parity=False)
    with pytest.raises(ValueError, match="no Lorentz-equivariant coupling"):
        cg_lorentz("(1/2,1/2)", "(1/2,1/2)", "(1/2,1/2)")
    with pytest.raises(ValueError, match="no Lorentz-equivariant coupling"):
        cg_lorentz("(1,0)+(0,1)", "(1/2,1/2)", "(1,1)")


def _random_sl2c(rng):
    m = rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2))
    return m / np.sqrt(np.linalg.det(m))


def test_sl2c_round_trip():
    rng = np.random.default_rng(13)
    for lam in [random_lorentz(rng, 2.0) for _ in range(5)] + [_spatial(_rodrigues([1, 2, 0.5], np.pi))]:
        a = sl2c_from_lorentz(lam)
        assert abs(np.linalg.det(a) - 1) < 1e-12
        assert np.abs(lorentz_from_sl2c(a) - lam).max() < 1e-12 * np.abs(lam).max()
    a = _random_sl2c(rng)
    assert np.min([np.abs(sl2c_from_lorentz(lorentz_from_sl2c(a)) - s * a).max() for s in (1, -1)]) < 1e-12
    with pytest.raises(ValueError, match="orthochronous"):
        sl2c_from_lorentz(PARITY)


@pytest.mark.parametrize("m, n", list(itertools.product([0, 0.5, 1], repeat=2)))
def test_complex_reps(m, n):
    rng = np.random.default_rng(14)
    a, b = _random_sl2c(rng), _random_sl2c(rng)
    dab = complex_rep(m, n, a @ b)
    assert dab.shape == (int((2 * m + 1) * (2 * n + 1)),) * 2
    assert np.abs(dab - complex_rep(m, n, a) @ complex_rep(m, n, b)).max() < 1e-10 * np.abs(dab).max()
    assert np.abs(complex_rep(m, n, np.eye(2)) - np.eye(len(dab))).max() < 1e-15


def test_complex_reps_match_real_forms():
    rng = np.random.default_rng(15)
    s = VECTOR_TO_BISPINOR
    for _ in range(3):
        a = _random_sl2c(rng)
        lam = lorentz_from_sl2c(a)
        assert np.abs(complex_rep("1/2", "1/2", a) @ s - s @ lam).max() < 1e-10 * np.abs(lam).max()
        # Equivalent representations have equal characters.
        def tr(m, n):
            return np.trace(complex_rep(m, n, a))
        assert abs(tr(0, 0) - np.trace(rep_matrix("(0,0)", lam))) < 1e-12
        assert abs(tr(0.5, 0.5) - np.trace(lam)) < 1e-10 * np.abs(lam).max()
        assert abs(tr(1, 0) + tr(0, 1) - np.trace(rep_matrix("(1,0)+(0,1)", lam))) < 1e-9 * np.abs(lam).max() ** 2
        assert abs(tr(1, 1) - np.trace(rep_matrix("(1,1)", lam))) < 1e-9 * np.abs(lam).max() ** 2
    with pytest.raises(ValueError, match="multiple of 1/2"):
        complex_rep(0.3, 0, np.eye(2))
