"""Finite-dimensional Lorentz representations (m, n) with m, n <= 1.

Conventions
    Four-vectors are contravariant (E, px, py, pz), the metric is
    eta = diag(+1, -1, -1, -1) and a Lorentz transformation is a real 4x4 matrix
    Lam with Lam^T eta Lam = eta acting as x -> Lam @ x.  Generators
    (``lorentz_generators``) are [J_x, J_y, J_z, K_x, K_y, K_z]: J_k = diag(0, L_k)
    with (L_k)[i, j] = -epsilon[k, i, j] (so exp(t J_z) rotates x towards y),
    and K_k the symmetric boost generator (K_k)[0, k] = (K_k)[k, 0] = 1 (so
    exp(r K_z) boosts along +z with rapidity r).

Real forms (``rep_matrix(name, Lam)``; the rep is defined for every Lam in
O(1,3), so space inversion P = diag(1, -1, -1, -1) acts as on tensors)
    "(0,0)"        dim 1  scalar, matrix [[1]].
    "(1/2,1/2)"    dim 4  four-vector, matrix Lam.
    "(1,0)+(0,1)"  dim 6  antisymmetric F^{mu nu} -> Lam F Lam^T, coordinates
                          (F^01, F^02, F^03, F^23, F^31, F^12); under rotations
                          both triples are vectors (the "E-like" and "B-like"
                          parts).  Irreducible over the reals.
    "(1,1)"        dim 9  symmetric, eta-traceless T^{mu nu} -> Lam T Lam^T,
                          coordinates (T^01, T^02, T^03, T^11, T^22, T^33, T^23,
                          T^31, T^12); T^00 = T^11 + T^22 + T^33 is implied by
                          eta_{mu nu} T^{mu nu} = 0.
    The coordinates are plain tensor components, so the representation
    matrices are not orthogonal (the group is non-compact).

Complex irreps (``complex_rep(m, n, A)``)
    A in SL(2, C) acts on Hermitian X = x^mu sigma_mu (sigma_0 = 1, Pauli
    sigma_1..3; det X = x.x) as X -> A X A^dagger, which gives
    Lam(A)^mu_nu = 1/2 tr(sigma_mu A sigma_nu A^dagger) (``lorentz_from_sl2c``;
    ``sl2c_from_lorentz`` inverts it up to the sign of A).  (m, n) is
    Sym^{2m}(A) (x) conj(Sym^{2n}(A)), Sym^k on the orthonormal symmetrised
    basis of (C^2)^{(x)k} ordered by the number j = 0..k of second spinor
    components (spin projection k/2 - j).  (1/2, 1/2) = A (x) conj(A) is
    equivalent to Lam: with ``VECTOR_TO_BISPINOR`` S (S[:, mu] = sigma_mu
    flattened row-major), complex_rep(1/2, 1/2, A) @ S == S @ Lam(A).

Couplings (``cg_lorentz`` for the real forms, ``cg_complex`` for the complex
irreps) use the convention of ``equihls.irreps.cg``: z_k = sum_ij C[i,j,k] x_i y_j
is equivariant, C unit Frobenius norm, first non-zero entry positive.
"""
from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache

import numpy as np

from .o3 import _intertwiner_basis

__all__ = [
    "ETA",
    "PARITY",
    "REAL_REPS",
    "PAULI",
    "VECTOR_TO_BISPINOR",
    "lorentz_generators",
    "rep_matrix",
    "rep_generators",
    "rep_dim",
    "real_forms",
    "lorentz_intertwiners",
    "cg_lorentz",
    "lorentz_from_sl2c",
    "sl2c_from_lorentz",
    "complex_rep",
    "complex_rep_generators",
    "cg_complex",
    "complex_product_table",
]

ETA = np.diag([1.0, -1.0, -1.0, -1.0])
ETA.setflags(write=False)
# Space inversion: the same matrix as ETA, but a group element, not a metric.
PARITY = ETA

REAL_REPS = {"(0,0)": 1, "(1/2,1/2)": 4, "(1,0)+(0,1)": 6, "(1,1)": 9}

_ALIASES = {
    "(0,1)+(1,0)": "(1,0)+(0,1)",
    "(0.5,0.5)": "(1/2,1/2)",
}

_ANTI_PAIRS = ((0, 1), (0, 2), (0, 3), (2, 3), (3, 1), (1, 2))
_SYM_PAIRS = ((0, 1), (0, 2), (0, 3), (1, 1), (2, 2), (3, 3), (2, 3), (3, 1), (1, 2))

PAULI = np.array(
    [[[1, 0], [0, 1]], [[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]], dtype=complex
)
PAULI.setflags(write=False)

VECTOR_TO_BISPINOR = PAULI.reshape(4, 4).T.copy()
VECTOR_TO_BISPINOR.setflags(write=False)


def _canon_name(name: str) -> str:
    if not isinstance(name, str):
        raise ValueError(f"representation name must be a string, got {name!r}")
    key = "".join(name.split())
    key = _ALIASES.get(key, key)
    if key not in REAL_REPS:
        raise ValueError(f"unknown Lorentz representation {name!r}; known: {', '.join(REAL_REPS)}")
    return key


def real_forms(name: str) -> list[str]:
    """The canonical real forms of a direct sum, in order: "(0,0)+(1,1)+(1,0)+(0,1)" ->
    ["(0,0)", "(1,1)", "(1,0)+(0,1)"] ((1,0) and (0,1) are one real form and must be adjacent).
    ValueError for anything else."""
    key = "".join(str(name).split())
    if _ALIASES.get(key, key) in REAL_REPS:
        return [_canon_name(key)]
    toks = re.findall(r"\([^()]*\)", key)
    if not toks or "+".join(toks) != key:
        raise ValueError(f"unknown Lorentz representation {name!r}; known: {', '.join(REAL_REPS)} and their sums")
    out, i = [], 0
    while i < len(toks):
        pair = "+".join(toks[i:i + 2])
        if _ALIASES.get(pair, pair) == "(1,0)+(0,1)":
            out.append("(1,0)+(0,1)")
            i += 2
            continue
        out.append(_canon_name(toks[i]))
        i += 1
    return out


def rep_dim(name: str) -> int:
    """Dimension of a real form or a direct sum of them by name (see REAL_REPS)."""
    return sum(REAL_REPS[k] for k in real_forms(name))


@lru_cache(maxsize=None)
def _tensor_maps(key: str):
    """(coord [d, 16], embed [16, d]) for the rank-2 tensor forms (row-major vec)."""
    if key == "(1,0)+(0,1)":
        pairs, sym = _ANTI_PAIRS, False
    else:
        pairs, sym = _SYM_PAIRS, True
    d = len(pairs)
    coord = np.zeros((d, 16))
    embed = np.zeros((16, d))
    for a, (mu, nu) in enumerate(pairs):
        coord[a, 4 * mu + nu] = 1.0
        b = np.zeros((4, 4))
        if sym:
            b[mu, nu] = b[nu, mu] = 1.0
            if mu == nu:
                b[0, 0] = 1.0  # keeps eta-trace zero: T^00 = sum_i T^ii
        else:
            b[mu, nu], b[nu, mu] = 1.0, -1.0
        embed[:, a] = b.reshape(16)
    coord.setflags(write=False)
    embed.setflags(write=False)
    return coord, embed


def _check_lorentz(Lam: np.ndarray) -> None:
    if Lam.shape[-2:] != (4, 4):
        raise ValueError(f"expected Lorentz matrices [..., 4, 4], got shape {Lam.shape}")
    err = np.abs(np.swapaxes(Lam, -1, -2) @ ETA @ Lam - ETA).max(initial=0.0)
    scale = max(1.0, float(np.abs(Lam).max(initial=0.0)) ** 2)
    if not err <= 1e-8 * scale:
        raise ValueError(f"matrix is not a Lorentz transformation: max |Lam^T eta Lam - eta| = {err:.3g}")


def rep_matrix(name: str, Lam: np.ndarray, check: bool = True) -> np.ndarray:
    """Real representation matrix of ``Lam`` [..., 4, 4] -> [..., d, d].

    name: "(0,0)", "(1/2,1/2)", "(1,0)+(0,1)" or "(1,1)" (whitespace ignored);
    ValueError for other names (listing these) and, with ``check``, for Lam
    that are not Lorentz transformations. A direct sum ("(0,0)+(1,1)", see
    ``real_forms``) gives the block-diagonal matrix.
    """
    forms = real_forms(name)
    Lam = np.asarray(Lam, dtype=float)
    if check:
        _check_lorentz(Lam)
    batch = Lam.shape[:-2]
    if len(forms) > 1:
        blocks = [rep_matrix(f, Lam, check=False) for f in forms]
        out, k = np.zeros(batch + (sum(b.shape[-1] for b in blocks),) * 2), 0
        for blk in blocks:
            n = blk.shape[-1]
            out[..., k:k + n, k:k + n] = blk
            k += n
        return out
    key = forms[0]
    if key == "(0,0)":
        return np.ones(batch + (1, 1))
    if key == "(1/2,1/2)":
        return Lam.copy()
    coord, embed = _tensor_maps(key)
    kron = np.einsum("...ac,...bd->...abcd", Lam, Lam).reshape(batch + (16, 16))
    return coord @ kron @ embed


def lorentz_generators() -> np.ndarray:
    """Generators [6, 4, 4] of the vector rep: [J_x, J_y, J_z, K_x, K_y, K_z]."""
    g = np.zeros((6, 4, 4))
    for k in range(3):
        i, j = (k + 1) % 3, (k + 2) % 3
        g[k, 1 + j, 1 + i] = 1.0  # (L_k)[j, i] = -eps[k, j, i] = +1
        g[k, 1 + i, 1 + j] = -1.0
        g[3 + k, 0, 1 + k] = g[3 + k, 1 + k, 0] = 1.0
    return g


def rep_generators(name: str) -> np.ndarray:
    """Lie-algebra generators [6, d, d] of a real form, matching lorentz_generators().

    rep_matrix(name, expm(t X)) == expm(t rep_generator) for X the k-th generator.
    """
    key = _canon_name(name)
    gens = lorentz_generators()
    if key == "(0,0)":
        return np.zeros((6, 1, 1))
    if key == "(1/2,1/2)":
        return gens
    coord, embed = _tensor_maps(key)
    eye = np.eye(4)
    # d/dt (e^{tX} B e^{tX^T}) = X B + B X^T, i.e. (X (x) 1 + 1 (x) X) vec(B).
    return np.stack([coord @ (np.kron(x, eye) + np.kron(eye, x)) @ embed for x in gens])


@lru_cache(maxsize=None)
def _intertwiners_cached(k1: str, k2: str, k3: str, parity: bool) -> np.ndarray:
    elems = ()
    if parity:
        elems = ((rep_matrix(k1, PARITY), rep_matrix(k2, PARITY), rep_matrix(k3, PARITY)),)
    out = _intertwiner_basis(rep_generators(k1), rep_generators(k2), rep_generators(k3), elems)
    out.setflags(write=False)
    return out


def lorentz_intertwiners(rep1: str, rep2: str, rep3: str, parity: bool = True) -> np.ndarray:
    """Basis [k, d1, d2, d3] of all bilinear couplings rep1 (x) rep2 -> rep3.

    Every basis element C satisfies, for all proper orthochronous Lam (and for
    space inversion P when ``parity``)::

        einsum('ijk,ia,jb->kab', C, rho1, rho2) == einsum('kc,abc->kab', rho3, C)

    Without ``parity`` the Levi-Civita (Hodge-dual) couplings are included, e.g.
    (1/2,1/2) x (1/2,1/2) -> (1,0)+(0,1) has k = 2 (p^q and its dual).  Basis:
    reduced row echelon form of the solution space, each element of unit
    Frobenius norm with first non-zero entry positive.  k = 0 when none exists.
    """
    ks = (_canon_name(rep1), _canon_name(rep2), _canon_name(rep3))
    return _intertwiners_cached(*ks, bool(parity)).copy()


def cg_lorentz(rep1: str, rep2: str, rep3: str, parity: bool = True) -> np.ndarray:
    """The coupling tensor C [d1, d2, d3] of rep1 (x) rep2 -> rep3 (real forms).

    Same equivariance, normalisation and sign convention as
    ``lorentz_intertwiners``; with ``parity`` (default) only true-tensor
    couplings built from eta count, which makes them unique for products of
    these forms.  Examples: (1/2,1/2)x(1/2,1/2)->(0,0) gives p.q / 2;
    ->(1,0)+(0,1) gives (p^mu q^nu - p^nu q^mu) / sqrt12; ->(1,1) a positive
    multiple of the symmetric traceless (p q^T + q p^T)/2 - (p.q/4) eta;
    (1,0)+(0,1)x(1/2,1/2)->(1/2,1/2) gives F^{nu mu} p_nu / sqrt12 (the sign
    follows from the first-entry-positive rule).  ValueError when no coupling
    exists or it is not unique.
    """
    basis = lorentz_intertwiners(rep1, rep2, rep3, parity)
    if len(basis) == 0:
        raise ValueError(f"no Lorentz-equivariant coupling {rep1} x {rep2} -> {rep3}")
    if len(basis) > 1:
        raise ValueError(
            f"{len(basis)} independent couplings {rep1} x {rep2} -> {rep3}; use lorentz_intertwiners"
        )
    return basis[0]


# --------------------------------------------------------------------------- complex forms


def lorentz_from_sl2c(A: np.ndarray) -> np.ndarray:
    """Lam [4, 4] with Lam^mu_nu = 1/2 tr(sigma_mu A sigma_nu A^dagger) for A [2, 2], det A = 1."""
    A = np.asarray(A, dtype=complex)
    if A.shape != (2, 2) or abs(np.linalg.det(A) - 1) > 1e-8 * max(1.0, np.abs(A).max() ** 2):
        raise ValueError("A must be a 2x2 complex matrix with det A = 1")
    lam = 0.5 * np.einsum("mab,bc,ncd,ad->mn", PAULI, A, PAULI, A.conj())
    return lam.real.copy()


def sl2c_from_lorentz(Lam: np.ndarray) -> np.ndarray:
    """A [2, 2] in SL(2, C) with lorentz_from_sl2c(A) == Lam (A and -A both qualify).

    Lam must be proper orthochronous (det +1, Lam[0, 0] >= 1).  Uses
    sum_nu (A sigma_nu A^dagger) Q sigma_nu = 2 <A, Q> A for a fixed Q among the
    sigma_mu (the one with largest |<A, Q>|, never zero), so no rotation angle is
    extracted.  Sign fixed so that the largest-modulus entry of A (first in C
    order) has positive real part or, if that is zero, positive imaginary part.
    """
    Lam = np.asarray(Lam, dtype=float)
    if Lam.shape != (4, 4):
        raise ValueError(f"expected a 4x4 Lorentz matrix, got shape {Lam.shape}")
    _check_lorentz(Lam)
    if np.linalg.det(Lam) < 0 or Lam[0, 0] < 1 - 1e-9:
        raise ValueError("sl2c_from_lorentz needs a proper orthochronous Lam (det +1, Lam00 >= 1)")
    images = np.einsum("mn,mab->nab", Lam, PAULI)  # A sigma_nu A^dagger
    best = None
    for q in PAULI:
        m = np.einsum("nab,bc,ncd->ad", images, q, PAULI)
        det = np.linalg.det(m)
        if best is None or abs(det) > abs(best[1]):
            best = (m, det)
    m, det = best
    a = m / np.sqrt(det)
    flat = a.reshape(-1)
    i = int(np.argmax(np.abs(flat) > np.abs(flat).max() * (1 - 1e-9)))
    z = flat[i]
    if z.real < -1e-12 * abs(z) or (abs(z.real) <= 1e-12 * abs(z) and z.imag < 0):
        a = -a
    return a


def _spin2(m) -> int:
    """2m as an int for m in {0, 1/2, 1, ...} given as int, float, Fraction or 'p/q'."""
    try:
        f = Fraction(m) if not isinstance(m, float) else Fraction(m).limit_denominator(2)
    except (ValueError, TypeError):
        raise ValueError(f"spin must be a non-negative multiple of 1/2, got {m!r}") from None
    if f < 0 or (2 * f).denominator != 1 or (isinstance(m, float) and abs(float(f) - m) > 1e-12):
        raise ValueError(f"spin must be a non-negative multiple of 1/2, got {m!r}")
    k = int(2 * f)
    if k > 10:
        raise ValueError(f"spin {m} too large (at most 5)")
    return k


@lru_cache(maxsize=None)
def _sym_isometry(k: int) -> np.ndarray:
    """Orthonormal basis [2**k, k+1] of Sym^k(C^2); column j: j second components."""
    if k == 0:
        return np.ones((1, 1))
    ones = np.array([bin(i).count("1") for i in range(2**k)])
    p = np.zeros((2**k, k + 1))
    for j in range(k + 1):
        p[ones == j, j] = 1.0
    p /= np.linalg.norm(p, axis=0)
    p.setflags(write=False)
    return p


def _sym_power(A: np.ndarray, k: int) -> np.ndarray:
    p = _sym_isometry(k)
    big = np.ones((1, 1), dtype=complex)
    for _ in range(k):
        big = np.kron(big, A)
    return p.T @ big @ p


def complex_rep(m, n, A: np.ndarray) -> np.ndarray:
    """Complex (m, n) representation of A in SL(2, C): [(2m+1)(2n+1)] squared.

    m, n: 0, 1/2, 1 (also 3/2, ...) as int, float, Fraction or 'p/q' string.
    Equals Sym^{2m}(A) (x) conj(Sym^{2n}(A)); (1/2, 0) is A, (0, 1/2) conj(A).
    """
    k1, k2 = _spin2(m), _spin2(n)
    A = np.asarray(A, dtype=complex)
    if A.shape != (2, 2):
        raise ValueError(f"A must be 2x2, got shape {A.shape}")
    return np.kron(_sym_power(A, k1), _sym_power(A, k2).conj())


def complex_rep_generators(m, n) -> np.ndarray:
    """Real generators [6, d, d] of (m, n), d = (2m+1)(2n+1), as a rep of sl2 + sl2.

    With H = diag(1, -1), E = [[0, 1], [0, 0]], F = [[0, 0], [1, 0]]: entries 0..2
    are Sym^{2m}(X) (x) 1 and entries 3..5 are 1 (x) Sym^{2n}(X) for X = H, E, F.
    For real t, complex_rep(m, n, expm(t X)) == expm(t (g[a] + g[3+a])) and
    complex_rep(m, n, expm(1j t X)) == expm(1j t (g[a] - g[3+a])), so complex
    intertwiners of SL(2, C) are exactly the (real) intertwiners of these.
    """
    k1, k2 = _spin2(m), _spin2(n)
    return _complex_gens_cached(k1, k2).copy()


_SL2_BASIS = np.array([[[1.0, 0.0], [0.0, -1.0]], [[0.0, 1.0], [0.0, 0.0]], [[0.0, 0.0], [1.0, 0.0]]])


@lru_cache(maxsize=None)
def _sym_generators(k: int) -> np.ndarray:
    """Sym^k of H, E, F [3, k+1, k+1]; real, so the conjugate factor has the same ones."""
    p = _sym_isometry(k)
    eye = np.eye(2)
    out = []
    for x in _SL2_BASIS:
        big = np.zeros((2**k, 2**k))
        for slot in range(k):
            term = np.ones((1, 1))
            for s in range(k):
                term = np.kron(term, x if s == slot else eye)
            big += term
        out.append(p.T @ big @ p)
    out = np.array(out).reshape(3, k + 1, k + 1)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=None)
def _complex_gens_cached(k1: int, k2: int) -> np.ndarray:
    g1, g2 = _sym_generators(k1), _sym_generators(k2)
    e1, e2 = np.eye(k1 + 1), np.eye(k2 + 1)
    out = np.concatenate([[np.kron(g, e2) for g in g1], [np.kron(e1, g) for g in g2]])
    out.setflags(write=False)
    return out


def _triangle_ok(k1: int, k2: int, k3: int) -> bool:
    return abs(k1 - k2) <= k3 <= k1 + k2 and (k1 + k2 + k3) % 2 == 0


@lru_cache(maxsize=None)
def _su2_cg_sym(k1: int, k2: int, k3: int) -> np.ndarray:
    """SU(2) coupling [k1+1, k2+1, k3+1] of spins k/2 in the Sym^k basis (real)."""
    g1, g2, g3 = _sym_generators(k1), _sym_generators(k2), _sym_generators(k3)
    basis = _intertwiner_basis(g1, g2, g3)
    if len(basis) != 1:
        raise RuntimeError(f"expected one SU(2) coupling {k1}/2 x {k2}/2 -> {k3}/2, got {len(basis)}")
    out = basis[0]
    out.setflags(write=False)
    return out


def _parse_mn(mn, which: str) -> tuple[int, int]:
    try:
        m, n = mn
    except (TypeError, ValueError):
        raise ValueError(f"{which} must be a pair (m, n), got {mn!r}") from None
    return _spin2(m), _spin2(n)


def _fmt_spin(k: int) -> str:
    return str(k // 2) if k % 2 == 0 else f"{k}/2"


@lru_cache(maxsize=None)
def _cg_complex_cached(k1, l1, k2, l2, k3, l3) -> np.ndarray:
    cm = _su2_cg_sym(k1, k2, k3)
    cn = _su2_cg_sym(l1, l2, l3)
    # Product over the two SL(2) factors; C order of (m-index, n-index) matches np.kron.
    c = np.einsum("ace,bdf->abcdef", cm, cn).reshape(
        (k1 + 1) * (l1 + 1), (k2 + 1) * (l2 + 1), (k3 + 1) * (l3 + 1)
    )
    c = c / np.linalg.norm(c)
    flat = c.reshape(-1)
    first = flat[np.flatnonzero(np.abs(flat) > 1e-12)[0]]
    out = (c * (abs(first) / first)).astype(complex)
    out.setflags(write=False)
    return out


def cg_complex(mn1, mn2, mn3) -> np.ndarray:
    """Coupling (m1, n1) (x) (m2, n2) -> (m3, n3) of complex irreps: C [d1, d2, d3], complex.

    mn*: pairs (m, n) of spins (0, 1/2, 1, ... as accepted by ``complex_rep``);
    d = (2m+1)(2n+1).  For every A in SL(2, C), with Dk = complex_rep(mk, nk, A)::

        einsum('ijk,ia,jb->kab', C, D1, D2) == einsum('kc,abc->kab', D3, C)

    C is the SU(2) coupling m1 x m2 -> m3 in the Sym^{2m} basis times the one
    for n1 x n2 -> n3 (the conjugate factor; the couplings are real, so they
    serve both), reindexed to the kron order of complex_rep.  Unit Frobenius
    norm, first non-zero entry (C order) real positive; in these bases all
    entries are real.  Unique up to scale.  ValueError unless
    |m1-m2| <= m3 <= m1+m2 with m1+m2+m3 integer, and the same for n.
    """
    k1, l1 = _parse_mn(mn1, "mn1")
    k2, l2 = _parse_mn(mn2, "mn2")
    k3, l3 = _parse_mn(mn3, "mn3")
    for a, b, c, name in ((k1, k2, k3, "m"), (l1, l2, l3, "n")):
        if not _triangle_ok(a, b, c):
            raise ValueError(
                f"no coupling ({_fmt_spin(k1)},{_fmt_spin(l1)}) x ({_fmt_spin(k2)},{_fmt_spin(l2)}) -> "
                f"({_fmt_spin(k3)},{_fmt_spin(l3)}): selection rule |{name}1-{name}2| <= {name}3 <= "
                f"{name}1+{name}2 with {name}1+{name}2+{name}3 integer fails for {name}"
            )
    return _cg_complex_cached(k1, l1, k2, l2, k3, l3).copy()


def complex_product_table() -> list:
    """All allowed couplings with every m, n in {0, 1/2, 1}.

    Returns [((m1, n1), (m2, n2), (m3, n3), nnz), ...] with spins as Fraction and
    nnz the number of non-zero entries of ``cg_complex``.  Inputs unordered: only
    (2*m1, 2*n1) <= (2*m2, 2*n2) lexicographically; sorted by (input 1, input 2,
    output) in that order.
    """
    reps = [(a, b) for a in range(3) for b in range(3)]
    half = lambda k: Fraction(k, 2)  # noqa: E731
    out = []
    for i, r1 in enumerate(reps):
        for r2 in reps[i:]:
            for r3 in reps:
                if _triangle_ok(r1[0], r2[0], r3[0]) and _triangle_ok(r1[1], r2[1], r3[1]):
                    c = _cg_complex_cached(*r1, *r2, *r3)
                    out.append(
                        (
                            (half(r1[0]), half(r1[1])),
                            (half(r2[0]), half(r2[1])),
                            (half(r3[0]), half(r3[1])),
                            int(np.count_nonzero(np.abs(c) > 1e-12)),
                        )
                    )
    return out
