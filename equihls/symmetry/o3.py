"""Irreducible representations of SO(3) and O(3) in a real basis.

Irreps and layouts
    ``Irrep(l, p)`` is the O(3) irrep of degree ``l`` (dimension 2l+1) and parity
    ``p`` (+1 'e', -1 'o'): space inversion ``-I`` acts as ``p``.  ``Irreps`` is a
    direct sum written like ``"2x0e+1x1o+1x2e"``; the copies are laid out one after
    another, each copy a contiguous block of 2l+1 components (``2x1o`` is
    ``[v0_x, v0_y, v0_z, v1_x, v1_y, v1_z]``).

Real basis
    The components of degree l are indexed by m = -l..l (index m + l).  They are
    the real spherical harmonics with *y as the polar axis* and azimuth measured
    from z towards x, i.e. the textbook real harmonics (polar axis Z, sine type for
    m < 0, cosine type for m > 0, positive coefficients) after the cyclic
    relabelling (X, Y, Z) -> (z, x, y).  Consequences:

    * l = 1 is Cartesian (x, y, z): ``wigner_D(1, R) == R`` exactly;
    * l = 2 is (sqrt3 xz, sqrt3 xy, y^2 - (x^2+z^2)/2, sqrt3 yz,
      sqrt3/2 (z^2 - x^2)) up to a common factor (orthonormal on the sphere);
    * functions transform as ``Y_l(R x) = wigner_D(l, R) @ Y_l(x)``.

    Generators: ``so3_generators(l)[k]`` is the real antisymmetric matrix of
    the rotation about Cartesian axis k, with ``so3_generators(1)[k][i, j] =
    -epsilon[k, i, j]``; ``wigner_D(l, expm(t * n.L1)) == expm(t * n.L_l)``.  They
    are obtained from the complex |l, m> generators (Condon-Shortley phases) by a
    fixed unitary change of basis whose signs make l = 1 Cartesian.

Wigner-D
    ``wigner_D`` needs no axis-angle extraction (so nothing is fragile near angle
    0 or pi): D^0 = 1, D^1 = R and D^l = P_l^T (R (x) D^{l-1}) P_l where P_l is the
    isometric embedding of degree l into 1 (x) (l-1) (a Clebsch-Gordan tensor).
    Each D^l is therefore a polynomial of degree l in the entries of R and an exact
    homomorphism up to rounding.

Clebsch-Gordan
    ``cg(l1, l2, l3)[i, j, k]`` couples x (degree l1) and y (degree l2) to
    ``z_k = sum_ij C[i, j, k] x_i y_j`` of degree l3, equivariantly::

        einsum('ijk,ia,jb->kab', C, D1, D2) == einsum('kc,abc->kab', D3, C)

    for every rotation.  It is computed as the null space of the Lie-algebra
    intertwiner equations, normalised to unit Frobenius norm, with the first
    non-zero entry (C order) positive.
"""
from __future__ import annotations

import math
import re
from fractions import Fraction
from functools import lru_cache
from typing import Iterable, Iterator, NamedTuple, Sequence

import numpy as np

__all__ = [
    "Irrep",
    "Irreps",
    "so3_generators",
    "wigner_D",
    "cg",
    "cg_o3",
    "ScaleResult",
    "simplest_scale",
]

# Entries of normalised couplings below this are rounding noise of exact zeros.
_ZERO_TOL = 1e-12
# How far from orthogonal an input matrix may be before it is refused.
_ORTHO_TOL = 1e-6


# --------------------------------------------------------------------------- irreps

_PARITY_CHARS = {"e": 1, "o": -1}


class Irrep:
    """O(3) irrep of degree ``l`` >= 0 and parity ``p`` (+1 / 'e' even, -1 / 'o' odd).

    ``Irrep(1, -1)``, ``Irrep(1, 'o')`` and ``Irrep("1o")`` are the same (a polar
    vector); ``"2y"`` means parity (-1)**l (the parity of degree-l harmonics).
    Immutable, hashable, ordered by (l, p).
    """

    __slots__ = ("_l", "_p")

    def __init__(self, l, p=None):
        if p is None:
            if isinstance(l, Irrep):
                l, p = l.l, l.p
            elif isinstance(l, str):
                l, p = _parse_irrep_token(l, l)
            elif isinstance(l, tuple) and len(l) == 2:
                l, p = l
            else:
                raise ValueError(f"Irrep needs (l, p) or a string like '1o', got {l!r}")
        if isinstance(p, str):
            if p not in _PARITY_CHARS:
                raise ValueError(f"parity must be 'e', 'o', +1 or -1, got {p!r}")
            p = _PARITY_CHARS[p]
        if isinstance(l, bool) or not isinstance(l, (int, np.integer)) or l < 0:
            raise ValueError(f"degree l must be an integer >= 0, got {l!r}")
        if p not in (1, -1):
            raise ValueError(f"parity must be 'e', 'o', +1 or -1, got {p!r}")
        object.__setattr__(self, "_l", int(l))
        object.__setattr__(self, "_p", int(p))

    def __setattr__(self, name, value):
        raise AttributeError("Irrep is immutable")

    @classmethod
    def parse(cls, s: str) -> "Irrep":
        """Irrep from a string like ``"1o"``, ``"0e"`` or ``"2y"``."""
        return cls(s)

    @property
    def l(self) -> int:
        """Degree."""
        return self._l

    @property
    def p(self) -> int:
        """Parity, +1 or -1."""
        return self._p

    @property
    def dim(self) -> int:
        """Dimension 2l+1."""
        return 2 * self._l + 1

    def __iter__(self):
        yield self._l
        yield self._p

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = Irrep(other)
            except ValueError:
                return False
        return isinstance(other, Irrep) and (self._l, self._p) == (other._l, other._p)

    def __lt__(self, other):
        return (self._l, self._p) < (other._l, other._p)

    def __hash__(self):
        return hash((self._l, self._p))

    def __str__(self):
        return f"{self._l}{'e' if self._p == 1 else 'o'}"

    def __repr__(self):
        return f"Irrep('{self}')"

    def __mul__(self, other: "Irrep") -> list["Irrep"]:
        """Irreps in the tensor product (triangle rule, parity p1*p2), lowest l first."""
        other = Irrep(other)
        p = self._p * other._p
        return [Irrep(l, p) for l in range(abs(self._l - other._l), self._l + other._l + 1)]

    def D(self, R: np.ndarray) -> np.ndarray:
        """Real representation matrix for orthogonal ``R`` [..., 3, 3] -> [..., 2l+1, 2l+1]."""
        return _o3_block(self._l, self._p, R)


_TOKEN_RE = re.compile(r"^(?:(\d+)\s*x\s*)?(\d+)([eoy])$")


def _parse_irrep_token(token: str, whole: str, allow_mul: bool = False):
    t = token.strip()
    m = _TOKEN_RE.match(t)
    if m is None or (m.group(1) is not None and not allow_mul):
        what = "irreps term" if allow_mul else "irrep"
        shown = repr(t) if t else "'' (empty)"
        form = "[MULx]L(e|o|y), e.g. '2x1o'" if allow_mul else "L(e|o|y), e.g. '1o'"
        raise ValueError(f"malformed {what} {shown} in {whole!r}: expected {form}")
    l = int(m.group(2))
    pc = m.group(3)
    p = (-1) ** l if pc == "y" else _PARITY_CHARS[pc]
    if allow_mul:
        mul = 1 if m.group(1) is None else int(m.group(1))
        return mul, l, p
    return l, p


class _MulIr(NamedTuple):
    mul: int
    ir: Irrep


class Irreps:
    """Direct sum of O(3) irreps with multiplicities, e.g. ``Irreps("2x0e+1x1o")``.

    Accepts a string (``"2x0e + 1o"``; ``"1o"`` means ``1x1o``; ``"y"`` parity means
    (-1)**l; the empty string is the empty sum), another ``Irreps``, an ``Irrep``,
    or a sequence of ``(mul, irrep)`` pairs.  Iterating yields ``(mul, Irrep)``
    named tuples in order; ``str()`` is canonical (``"2x0e+1x1o"``) and parses
    back to an equal object.  Order is kept (it defines the layout).
    """

    __slots__ = ("_entries",)

    def __init__(self, spec: "str | Irreps | Irrep | Iterable" = ""):
        if isinstance(spec, Irreps):
            entries = spec._entries
        elif isinstance(spec, Irrep):
            entries = (_MulIr(1, spec),)
        elif isinstance(spec, str):
            entries = self._parse(spec)
        else:
            entries = []
            for item in spec:
                try:
                    mul, ir = item
                except (TypeError, ValueError):
                    raise ValueError(f"Irreps entries must be (mul, irrep) pairs, got {item!r}") from None
                if isinstance(mul, bool) or not isinstance(mul, (int, np.integer)) or mul < 0:
                    raise ValueError(f"multiplicity must be an integer >= 0, got {mul!r}")
                entries.append(_MulIr(int(mul), Irrep(ir)))
            entries = tuple(entries)
        object.__setattr__(self, "_entries", tuple(entries))

    def __setattr__(self, name, value):
        raise AttributeError("Irreps is immutable")

    @staticmethod
    def _parse(s: str) -> tuple:
        if not s.strip():
            return ()
        out = []
        for tok in s.split("+"):
            mul, l, p = _parse_irrep_token(tok, s, allow_mul=True)
            out.append(_MulIr(mul, Irrep(l, p)))
        return tuple(out)

    @classmethod
    def parse(cls, s: str) -> "Irreps":
        """Parse an e3nn-style string; ValueError naming the malformed term."""
        if not isinstance(s, str):
            raise ValueError(f"Irreps.parse needs a string, got {type(s).__name__}")
        return cls(s)

    @property
    def dim(self) -> int:
        """Total dimension sum(mul * (2l+1))."""
        return sum(mi.mul * mi.ir.dim for mi in self._entries)

    @property
    def num_irreps(self) -> int:
        """Number of copies sum(mul)."""
        return sum(mi.mul for mi in self._entries)

    @property
    def lmax(self) -> int:
        """Largest degree present (ValueError when empty)."""
        if not self._entries:
            raise ValueError("empty Irreps has no lmax")
        return max(mi.ir.l for mi in self._entries)

    def __iter__(self) -> Iterator[_MulIr]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return Irreps(self._entries[i])
        return self._entries[i]

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = Irreps(other)
            except ValueError:
                return False
        return isinstance(other, Irreps) and self._entries == other._entries

    def __hash__(self):
        return hash(self._entries)

    def __add__(self, other) -> "Irreps":
        return Irreps(self._entries + Irreps(other)._entries)

    def __str__(self):
        return "+".join(f"{mi.mul}x{mi.ir}" for mi in self._entries)

    def __repr__(self):
        return f"Irreps('{self}')"

    def slices(self) -> list[slice]:
        """Index range of every copy, in layout order: ``len == num_irreps``.

        ``Irreps("2x0e+1x1o").slices() == [slice(0,1), slice(1,2), slice(2,5)]``.
        """
        return [s for _, s in self.copies()]

    def copies(self) -> list[tuple[Irrep, slice]]:
        """``(Irrep, slice)`` of every copy, in layout order."""
        out, start = [], 0
        for mi in self._entries:
            for _ in range(mi.mul):
                out.append((mi.ir, slice(start, start + mi.ir.dim)))
                start += mi.ir.dim
        return out

    def entry_slices(self) -> list[slice]:
        """Index range of each ``mul x irrep`` entry (all its copies together)."""
        out, start = [], 0
        for mi in self._entries:
            n = mi.mul * mi.ir.dim
            out.append(slice(start, start + n))
            start += n
        return out

    def D(self, R: np.ndarray) -> np.ndarray:
        """Block-diagonal real representation of orthogonal ``R``.

        R: [..., 3, 3] with det +-1 -> [..., dim, dim].  For det R = -1, with
        R = -R' (R' proper), each block is p * D^l(R'): "1o" gives R, "1e" gives
        det(R) R.
        """
        R = np.asarray(R, dtype=float)
        _check_orthogonal(R)
        out = np.zeros(R.shape[:-2] + (self.dim, self.dim))
        blocks = {}
        for ir, s in self.copies():
            if ir not in blocks:
                blocks[ir] = _o3_block(ir.l, ir.p, R, checked=True)
            out[..., s, s] = blocks[ir]
        return out


# --------------------------------------------------------------------------- generators


@lru_cache(maxsize=None)
def _so3_generators_cached(l: int) -> np.ndarray:
    m = np.arange(-l, l + 1)
    n = 2 * l + 1
    jp = np.zeros((n, n), dtype=complex)
    for i in range(n - 1):
        jp[i + 1, i] = math.sqrt(l * (l + 1) - m[i] * (m[i] + 1))
    jm = jp.T.copy()
    jx, jy, jz = (jp + jm) / 2, (jp - jm) / 2j, np.diag(m).astype(complex)
    # Columns: real basis vectors in the complex |l, m> basis (textbook axes).
    v = np.zeros((n, n), dtype=complex)
    v[l, l] = 1.0
    r = 1 / math.sqrt(2)
    for k in range(1, l + 1):
        sgn = (-1) ** k
        v[l - k, l + k], v[l + k, l + k] = r, sgn * r
        v[l - k, l - k], v[l + k, l - k] = 1j * r, -1j * sgn * r
    # Physical axes (x, y, z) are the textbook axes (Y, Z, X).
    gens = [v.conj().T @ (-1j * j) @ v for j in (jy, jz, jx)]
    out = np.stack([g.real for g in gens])
    out = 0.5 * (out - np.swapaxes(out, 1, 2))  # exact antisymmetry
    # Every entry is +-sqrt(integer)/2; re-deriving it from that integer gives
    # correctly rounded values (l = 1 becomes exactly -epsilon).
    four_sq = 4 * out**2
    snap = np.abs(four_sq - np.round(four_sq)) < 1e-9
    out[snap] = np.sign(out[snap]) * np.sqrt(np.round(four_sq[snap])) / 2
    out.setflags(write=False)
    return out


def so3_generators(l: int) -> np.ndarray:
    """Real antisymmetric generators of degree ``l``: [3, 2l+1, 2l+1] (axes x, y, z).

    ``so3_generators(1)[k][i, j] == -epsilon[k, i, j]`` and the commutators are
    [L_x, L_y] = L_z (cyclic).
    """
    return _so3_generators_cached(_check_l(l)).copy()


def _check_l(l) -> int:
    if isinstance(l, bool) or not isinstance(l, (int, np.integer)) or l < 0:
        raise ValueError(f"degree l must be an integer >= 0, got {l!r}")
    return int(l)


# --------------------------------------------------------------------------- null spaces


def _null_space(blocks: Sequence[np.ndarray], n: int) -> np.ndarray:
    """Orthonormal basis [k, n] of the common null space of matrices [*, n]."""
    if not blocks:
        return np.eye(n)
    m = np.concatenate([np.asarray(b, dtype=float) for b in blocks], axis=0)
    if m.shape[0] > 2 * n:
        # Same right singular vectors and values, on an n x n triangle (cheaper SVD).
        m = np.linalg.qr(m, mode="r")
    _, s, vt = np.linalg.svd(m, full_matrices=True)
    s_full = np.zeros(n)
    s_full[: len(s)] = s
    scale = max(s_full.max(), 1.0)
    null = s_full < 1e-9 * scale
    nonnull = s_full[~null]
    if nonnull.size and nonnull.min() < 1e-6 * scale:
        raise RuntimeError("intertwiner equations are ill-conditioned (no clear null space)")
    return vt[null]


def _canonical_basis(basis: np.ndarray) -> np.ndarray:
    """Deterministic basis of the row space of ``basis`` [k, n].

    Reduced row echelon form (independent of which orthonormal basis came in),
    then every row scaled to unit norm with its first non-zero entry positive.
    """
    b = np.array(basis, dtype=float)
    k, n = b.shape
    row = 0
    for col in range(n):
        if row == k:
            break
        piv = row + int(np.argmax(np.abs(b[row:, col])))
        if abs(b[piv, col]) < 1e-9:
            continue
        b[[row, piv]] = b[[piv, row]]
        b[row] /= b[row, col]
        for r in range(k):
            if r != row:
                b[r] -= b[r, col] * b[row]
        row += 1
    b = b[:row]
    out = []
    for v in b:
        v = v / np.linalg.norm(v)
        v[np.abs(v) < _ZERO_TOL] = 0.0
        nz = np.flatnonzero(v)
        if nz.size and v[nz[0]] < 0:
            v = -v
        out.append(v / np.linalg.norm(v))
    return np.array(out).reshape(len(out), n)


def _intertwiner_basis(gens1, gens2, gens3, elems=()) -> np.ndarray:
    """All C[i, j, k] with C^T (rho1 (x) rho2) = rho3 C^T, as [k, d1, d2, d3].

    gens*: matching Lie-algebra generators [g, d, d] of the three representations;
    elems: optional extra group elements (rho1, rho2, rho3) to intertwine as well.
    Canonical basis (see _canonical_basis), unit Frobenius norm each.
    """
    d1, d2, d3 = gens1.shape[-1], gens2.shape[-1], gens3.shape[-1]
    i1, i2, i3 = np.eye(d1), np.eye(d2), np.eye(d3)
    rows = []
    # sum_i g1[i,a] C[i,b,k] + sum_j g2[j,b] C[a,j,k] - sum_c g3[k,c] C[a,b,c] = 0
    for g1, g2, g3 in zip(gens1, gens2, gens3):
        rows.append(
            np.kron(np.kron(g1.T, i2), i3) + np.kron(np.kron(i1, g2.T), i3) - np.kron(np.kron(i1, i2), g3)
        )
    for r1, r2, r3 in elems:
        rows.append(np.kron(np.kron(r1.T, r2.T), i3) - np.kron(np.kron(i1, i2), r3))
    basis = _canonical_basis(_null_space(rows, d1 * d2 * d3))
    return basis.reshape(len(basis), d1, d2, d3)


# --------------------------------------------------------------------------- Clebsch-Gordan


@lru_cache(maxsize=None)
def _cg_cached(l1: int, l2: int, l3: int) -> np.ndarray:
    shape = (2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1)
    if not abs(l1 - l2) <= l3 <= l1 + l2:
        out = np.zeros(shape)
    else:
        basis = _intertwiner_basis(
            _so3_generators_cached(l1), _so3_generators_cached(l2), _so3_generators_cached(l3)
        )
        if len(basis) != 1:
            raise RuntimeError(f"expected a 1-dim coupling space for {l1}x{l2}->{l3}, got {len(basis)}")
        out = basis[0]
    out.setflags(write=False)
    return out


def cg(l1: int, l2: int, l3: int) -> np.ndarray:
    """Real Clebsch-Gordan tensor C [2l1+1, 2l2+1, 2l3+1] coupling l1 (x) l2 -> l3.

    Equivariance (for every rotation R, Dn = wigner_D(ln, R))::

        einsum('ijk,ia,jb->kab', C, D1, D2) == einsum('kc,abc->kab', D3, C)

    i.e. z_k = sum_ij C[i,j,k] x_i y_j maps (D1 x, D2 y) to D3 z.  Unit Frobenius
    norm, first non-zero entry (C order) positive, exact zeros where the
    coupling vanishes.  All zeros when the triangle rule |l1-l2| <= l3 <= l1+l2
    fails.  Examples: cg(1,1,0) = I/sqrt3 (dot product), cg(1,1,1) =
    epsilon/sqrt6 (cross product); cg(1,1,2) maps (x, x) to -sqrt(2/15) times
    the degree-2 polynomials of the module docstring.
    """
    return _cg_cached(_check_l(l1), _check_l(l2), _check_l(l3)).copy()


def cg_o3(ir1, ir2, ir3) -> np.ndarray:
    """O(3) coupling ``ir1 (x) ir2 -> ir3`` (Irrep or strings like "1o").

    Returns ``cg(l1, l2, l3)`` [2l1+1, 2l2+1, 2l3+1], which then also intertwines
    the improper rotations (Irrep.D).  ValueError when the parity rule
    p1*p2 == p3 or the triangle rule fails.
    """
    a, b, c = Irrep(ir1), Irrep(ir2), Irrep(ir3)
    if a.p * b.p != c.p:
        raise ValueError(f"parity rule p1*p2 == p3 violated: {a} x {b} -> {c}")
    if not abs(a.l - b.l) <= c.l <= a.l + b.l:
        raise ValueError(f"triangle rule |l1-l2| <= l3 <= l1+l2 violated: {a} x {b} -> {c}")
    return cg(a.l, b.l, c.l)


# --------------------------------------------------------------------------- Wigner-D


def _check_orthogonal(R: np.ndarray) -> None:
    if R.shape[-2:] != (3, 3):
        raise ValueError(f"expected rotation matrices [..., 3, 3], got shape {R.shape}")
    err = np.abs(np.swapaxes(R, -1, -2) @ R - np.eye(3)).max(initial=0.0)
    if not err <= _ORTHO_TOL:
        raise ValueError(f"matrix is not orthogonal: max |R^T R - I| = {err:.3g}")


@lru_cache(maxsize=None)
def _embedding(l: int) -> np.ndarray:
    """Isometry [3(2l-1), 2l+1] embedding degree l into 1 (x) (l-1)."""
    # C^T C = I / (2l+1) by Schur's lemma and unit Frobenius norm.
    p = math.sqrt(2 * l + 1) * _cg_cached(1, l - 1, l).reshape(3 * (2 * l - 1), 2 * l + 1)
    p.setflags(write=False)
    return p


def _wigner_D_unchecked(l: int, R: np.ndarray) -> np.ndarray:
    batch = R.shape[:-2]
    if l == 0:
        return np.ones(batch + (1, 1))
    d = R.copy()
    for k in range(2, l + 1):
        n = 2 * k - 1
        kron = np.einsum("...ia,...jb->...ijab", R, d).reshape(batch + (3 * n, 3 * n))
        p = _embedding(k)
        d = np.einsum("xk,...xy,yc->...kc", p, kron, p)
    return d


def wigner_D(l: int, R: np.ndarray) -> np.ndarray:
    """Real Wigner-D matrix of degree ``l`` for proper rotations ``R`` [..., 3, 3].

    Returns [..., 2l+1, 2l+1]; ``wigner_D(1, R) == R``; an exact homomorphism
    (up to rounding, ~1e-15 per degree).  ValueError for non-orthogonal R or
    det R = -1 (use ``Irreps.D`` / ``Irrep.D`` for improper elements).
    """
    l = _check_l(l)
    R = np.asarray(R, dtype=float)
    _check_orthogonal(R)
    if np.any(np.linalg.det(R) < 0):
        raise ValueError("wigner_D needs det R = +1; use Irreps.D for improper rotations")
    return _wigner_D_unchecked(l, R)


def _o3_block(l: int, p: int, R: np.ndarray, checked: bool = False) -> np.ndarray:
    R = np.asarray(R, dtype=float)
    if not checked:
        _check_orthogonal(R)
    det = np.sign(np.linalg.det(R))
    proper = R * det[..., None, None]
    factor = np.where(det < 0, float(p), 1.0)[..., None, None]
    return factor * _wigner_D_unchecked(l, proper) + 0.0  # + 0.0: no negative zeros


# --------------------------------------------------------------------------- scale folding


class ScaleResult(NamedTuple):
    """Result of :func:`simplest_scale`; unpacks as ``(scale, coeffs, residual)``.

    scale: s > 0; coeffs: the rounded s*C (same shape as C); residual:
    max |s*C - coeffs| (0.0 when exact).
    """

    scale: float
    coeffs: np.ndarray
    residual: float

    @property
    def frac_bits(self) -> int:
        """Fewest fractional bits k with coeffs * 2**k integral."""
        c = np.asarray(self.coeffs, dtype=float)
        for k in range(64):
            v = c * 2.0**k
            if np.array_equal(v, np.round(v)):
                return k
        return 64

    @property
    def kind(self) -> str:
        """'integer', 'dyadic' (exact, fractional bits needed) or 'approximate'."""
        if self.residual > 0:
            return "approximate"
        return "integer" if self.frac_bits == 0 else "dyadic"


def simplest_scale(
    C: np.ndarray,
    max_den: int = 64,
    max_int: int | None = 16,
    frac_bits: int = 0,
    tol: float = 1e-9,
) -> ScaleResult:
    """Scalar s > 0 giving s*C the simplest coefficients (to fold 1/s elsewhere).

    C: any real array (e.g. a ``cg`` tensor).  Returns ScaleResult(s, coeffs,
    residual) with coeffs the same shape as C (``max_int=None``: no bound in
    step 1, 16 in step 2).  Real CG entries are +-sqrt(rational), so step 1
    succeeds exactly when all squared ratios are perfect squares of rationals
    (e.g. 1x1->0, 1x1->1, 0xl->l, 3x3->3).  Procedure:

    1. Exact: if every ratio |c| / min|c| of non-zero entries is a rational
       p/q with q <= max_den (to ``tol``), s makes the entries coprime
       integers (residual 0, kind 'integer').  If the largest integer exceeds
       ``max_int``, s is halved k times (smallest k) so that max |coeff| <=
       max_int, giving dyadic coefficients with denominator 2**k ('dyadic').
    2. Otherwise (irrational ratios such as sqrt3): candidates are s = t/|c|
       for every distinct non-zero |c| and integer t = 1..max_int (some entry
       becomes exactly t) with max |s*C| <= max_int; s*C is rounded to
       ``frac_bits`` fractional bits; the candidate with the least relative
       residual max|s*C - q| / max|s*C| wins (ties: smaller s).  The absolute
       residual is returned ('approximate').
    """
    C = np.asarray(C, dtype=float)
    amax = np.abs(C).max(initial=0.0)
    if amax == 0.0:
        return ScaleResult(1.0, np.zeros_like(C), 0.0)
    mags = np.abs(C[np.abs(C) > tol * amax])
    ref = mags.min()
    ratios = mags / ref
    fracs = [Fraction(float(r)).limit_denominator(max_den) for r in ratios]
    if all(abs(float(f) - r) <= tol * r for f, r in zip(fracs, ratios)):
        den = 1
        for f in fracs:
            den = den * f.denominator // math.gcd(den, f.denominator)
        nums = [int(f * den) for f in fracs]
        g = 0
        for v in nums:
            g = math.gcd(g, v)
        s = den / (g * ref)
        q = np.round(s * C)
        q[np.abs(C) <= tol * amax] = 0.0
        if max_int is not None and np.abs(q).max() > max_int:
            k = math.ceil(math.log2(np.abs(q).max() / max_int))
            s, q = s / 2.0**k, q / 2.0**k
        return ScaleResult(float(s), q, 0.0)

    if max_int is None:
        max_int = 16
    unit = 2.0**frac_bits
    best = None
    for v in np.unique(np.round(mags, 12)):
        for t in range(1, max_int + 1):
            s = t / v
            if s * amax > max_int * (1 + 1e-12):
                break
            sc = s * C
            q = np.round(sc * unit) / unit
            res = np.abs(sc - q).max()
            rel = res / (s * amax)
            key = (round(rel, 12), s)
            if best is None or key < best[0]:
                best = (key, s, q, res)
    if best is None:  # max_int too small for any entry to be an integer
        s = max_int / amax
        q = np.round(s * C * unit) / unit
        return ScaleResult(float(s), q, float(np.abs(s * C - q).max()))
    _, s, q, res = best
    return ScaleResult(float(s), q, float(res))
