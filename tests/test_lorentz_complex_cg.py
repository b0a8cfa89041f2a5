"""Couplings of the complex Lorentz irreps (m, n), m, n <= 1."""
from fractions import Fraction

import numpy as np
import pytest

from equihls.symmetry.o3 import _intertwiner_basis
from equihls.symmetry.lorentz import (VECTOR_TO_BISPINOR, cg_complex, complex_product_table, complex_rep,
                                      complex_rep_generators, lorentz_from_sl2c)
from tests.conftest import expm

H = Fraction(1, 2)
TABLE = complex_product_table()


def _random_sl2c(rng, scale=0.6):
    """A = expm(X) for X random traceless complex [2, 2]: a mixed boost and rotation."""
    x = scale * (rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2)))
    x -= np.trace(x) / 2 * np.eye(2)
    return expm(x)


def _residual(c, mn1, mn2, mn3, a):
    d1, d2, d3 = (complex_rep(*mn, a) for mn in (mn1, mn2, mn3))
    lhs = np.einsum("ijk,ia,jb->kab", c, d1, d2)
    rhs = np.einsum("kc,abc->kab", d3, c)
    return np.abs(lhs - rhs).max() / max(np.abs(lhs).max(), np.abs(rhs).max())


def test_table_shape_and_order():
    assert len(TABLE) == 73
    assert TABLE == complex_product_table()
    keys = [(tuple(2 * s for s in r[0]), tuple(2 * s for s in r[1]), tuple(2 * s for s in r[2])) for r in TABLE]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert all(k[0] <= k[1] for k in keys)
    # Brute-force count of the selection rule over all m, n in {0, 1/2, 1}.
    ok = lambda a, b, c: abs(a - b) <= c <= a + b and (a + b + c) % 2 == 0  # noqa: E731
    reps = [(a, b) for a in range(3) for b in range(3)]
    n = sum(ok(r1[0], r2[0], r3[0]) and ok(r1[1], r2[1], r3[1])
            for r1 in reps for r2 in reps for r3 in reps if r1 <= r2)
    assert n == len(TABLE)


@pytest.mark.parametrize("row", TABLE, ids=lambda r: "{}x{}->{}".format(*[f"({a},{b})" for a, b in r[:3]]))
def test_intertwines_sl2c(row):
    mn1, mn2, mn3, nnz = row
    c = cg_complex(mn1, mn2, mn3)
    dims = [int((2 * m + 1) * (2 * n + 1)) for m, n in (mn1, mn2, mn3)]
    assert c.shape == tuple(dims) and c.dtype == complex
    assert abs(np.linalg.norm(c) - 1) < 1e-12
    flat = c.reshape(-1)
    first = flat[np.flatnonzero(np.abs(flat) > 1e-12)[0]]
    assert first.real > 0 and first.imag == 0
    assert np.count_nonzero(np.abs(c) > 1e-12) == nnz
    rng = np.random.default_rng(hash(tuple(dims)) % 2**32)
    for _ in range(4):
        assert _residual(c, mn1, mn2, mn3, _random_sl2c(rng)) < 1e-10


@pytest.mark.parametrize(
    "mn1, mn2, mn3",
    [
        ((H, 0), (H, 1), (1, 1)),
        ((1, H), (1, 1), (1, H)),
        ((1, 1), (1, 1), (1, 0)),
        ((0, H), (H, 0), (H, H)),
    ],
)
def test_unique_up_to_scale(mn1, mn2, mn3):
    gens = [complex_rep_generators(*mn) for mn in (mn1, mn2, mn3)]
    basis = _intertwiner_basis(*gens)
    assert len(basis) == 1
    assert np.allclose(basis[0], cg_complex(mn1, mn2, mn3).real, atol=1e-10)


@pytest.mark.parametrize(
    "mn1, mn2, mn3",
    [
        ((H, 0), (H, 0), (H, 0)),  # m1 + m2 + m3 not integer
        ((H, 0), (0, H), (0, 0)),
        ((H, 0), (0, H), (1, 0)),
        ((1, 0), (0, 1), (0, 0)),  # triangle fails in both factors
        ((1, 1), (1, 1), (H, 1)),
        ((H, H), (H, H), (H, H)),
        ((1, H), (0, H), (0, 0)),
    ],
)
def test_disallowed(mn1, mn2, mn3):
    gens = [complex_rep_generators(*mn) for mn in (mn1, mn2, mn3)]
    assert len(_intertwiner_basis(*gens)) == 0
    with pytest.raises(ValueError, match="selection rule"):
        cg_complex(mn1, mn2, mn3)


def test_generators_match_complex_rep():
    rng = np.random.default_rng(1)
    sl2 = [np.diag([1.0, -1.0]), np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[0.0, 0.0], [1.0, 0.0]])]
    for m, n in [(H, 0), (1, H), (1, 1)]:
        g = complex_rep_generators(m, n)
        for a, x in enumerate(sl2):
            t = rng.normal()
            assert np.allclose(complex_rep(m, n, expm(t * x)), expm(t * (g[a] + g[3 + a])), atol=1e-12)
            assert np.allclose(complex_rep(m, n, expm(1j * t * x)), expm(1j * t * (g[a] - g[3 + a])), atol=1e-12)


def test_two_spinors_to_four_vector():
    """(1/2,0) x (0,1/2) -> (1/2,1/2) is x = S^-1 vec(xi eta^T) / 2, a four-vector."""
    c = cg_complex((H, 0), (0, H), (H, H))
    assert np.allclose(c, np.einsum("ik,jl->ijkl", np.eye(2), np.eye(2)).reshape(2, 2, 4) / 2)
    s_inv = np.linalg.inv(VECTOR_TO_BISPINOR)
    rng = np.random.default_rng(2)
    for _ in range(3):
        a = _random_sl2c(rng)
        xi = rng.normal(size=2) + 1j * rng.normal(size=2)
        eta = rng.normal(size=2) + 1j * rng.normal(size=2)
        vec = lambda u, v: s_inv @ np.einsum("ijk,i,j->k", c, u, v)  # noqa: E731
        assert np.allclose(vec(a @ xi, a.conj() @ eta), lorentz_from_sl2c(a) @ vec(xi, eta), atol=1e-10)
        # eta = conj(xi): X = xi xi^dagger / 2 is Hermitian, rank 1 -> real future null vector.
        p = vec(xi, xi.conj())
        assert np.abs(p.imag).max() < 1e-12 and p.real[0] > 0
        assert abs(p.real[0] ** 2 - p.real[1:] @ p.real[1:]) < 1e-12 * p.real[0] ** 2


@pytest.mark.parametrize("bad", [(1, 0, 0), "10", (Fraction(1, 3), 0), (-1, 0)])
def test_bad_inputs(bad):
    with pytest.raises(ValueError):
        cg_complex(bad, (0, 0), (0, 0))
