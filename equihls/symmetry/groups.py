"""Symmetry groups, their elements and their actions on model inputs and outputs (numpy, float64).

A group element is stored as one 4x4 real matrix `lorentz` acting on (E, px, py, pz) (spatial
groups use diag(1, R) with R in O(3)), a particle permutation `perm` and a translation `shift`
(4,) of (t, x, y, z). Acting on an event: x'[i] = lorentz @ x[perm[i]] + shift.

Exact elements map the fixed-point input lattice onto itself: particle permutations, signed
permutations of the spatial axes (the octahedral group), integer Lorentz matrices and
translations by multiples of the input LSB. An exactly invariant pipeline must give
bit-identical outputs under them.

Integer Lorentz generators (both satisfy Lᵀ η L = η, η = diag(+1,-1,-1,-1), and L[0,0] > 0):
  M      = [[2,1,1,1],[1,0,1,1],[1,1,0,1],[1,1,1,0]]        det +1, γ = 2
  H(t,x,y) = [[3,2,2],[2,1,2],[2,2,1]] on (t, x, y)            det -1 on that block (the Hall
             matrix, a reflection times a boost); z -> -z makes it proper (HZ), z -> z improper.
Their inverses are η Lᵀ η. Words of length 1..3 in these, each conjugated by a random signed
axis permutation, give a rich set of elements of O(1,3; Z) with entries small enough that
most events stay inside the input type.
"""
from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from . import lorentz as lorentz_irreps
from .lorentz import ETA
from .o3 import Irreps

GROUPS = ("perm", "perm_real", "so3", "o3", "lorentz", "o13", "translation")
PERM_GROUPS = ("perm", "perm_real")
# groups whose exact elements flip signs (the octahedral group holds diag(-1,-1,1); the integer
# Lorentz words are conjugated by signed axis permutations): rounding must be odd to commute
SIGN_FLIP_GROUPS = ("so3", "o3", "lorentz", "o13")
GROUP_HELP = {
    "perm": "permutations of the particles (exact), zero-padded ones included",
    "perm_real": "permutations of each event's real particles (exact); zero-padded particles (every feature 0) "
                 "stay in place",
    "so3": "rotations SO(3): octahedral rotations (exact) + Haar-random rotations",
    "o3": "rotations and reflections O(3): signed axis permutations (exact) + Haar-random O(3)",
    "lorentz": "proper orthochronous Lorentz group SO+(1,3): integer Lorentz words (exact) + boosts + rotations",
    "o13": "Lorentz group with parity (and time reversal on request): integer words (exact) + boosts x O(3)",
    "translation": "common translation of all particle vectors (exact on the input lattice; continuous)",
}

M_INT = np.array([[2, 1, 1, 1], [1, 0, 1, 1], [1, 1, 0, 1], [1, 1, 1, 0]], dtype=np.float64)
HALL3 = np.array([[3, 2, 2], [2, 1, 2], [2, 2, 1]], dtype=np.float64)


@dataclasses.dataclass(frozen=True)
class Element:
    """One group element. lorentz: (4, 4); perm: (N,) int or None; shift: (4,) or None.
    real_only: perm acts on each event's real particles only (scoped_perms)."""

    label: str
    lorentz: np.ndarray
    perm: np.ndarray | None = None
    shift: np.ndarray | None = None
    exact: bool = False
    real_only: bool = False

    @property
    def rotation(self) -> np.ndarray:
        """The O(3) part (3, 3); only meaningful for elements that fix the time axis."""
        return self.lorentz[1:, 1:]

    def is_spatial(self) -> bool:
        """True if the element fixes E and does not mix it with space (an O(3) element)."""
        L = self.lorentz
        return bool(L[0, 0] == 1.0 and not L[0, 1:].any() and not L[1:, 0].any())


def compose(g: Element, h: Element) -> Element:
    """g∘h (apply h first). Permutations: (g∘h)(x)[i] = x[h.perm[g.perm[i]]]."""
    if g.perm is None and h.perm is None:
        perm = None
    else:
        n = len(g.perm if g.perm is not None else h.perm)
        pg = g.perm if g.perm is not None else np.arange(n)
        ph = h.perm if h.perm is not None else np.arange(n)
        perm = ph[pg]
    shift = None
    if g.shift is not None or h.shift is not None:
        sh = h.shift if h.shift is not None else np.zeros(4)
        sg = g.shift if g.shift is not None else np.zeros(4)
        shift = g.lorentz @ sh + sg
    return Element(f"{g.label}*{h.label}", g.lorentz @ h.lorentz, perm, shift, g.exact and h.exact)


def is_identity(e: Element) -> bool:
    """Whether e moves nothing (no permutation, no shift, the identity matrix)."""
    return (e.perm is None or (np.asarray(e.perm) == np.arange(len(e.perm))).all()) and e.shift is None \
        and np.array_equal(e.lorentz, np.eye(4))


def identity() -> Element:
    """The identity element."""
    return Element("e", np.eye(4), None, None, True)


# ---------------------------------------------------------------- matrices

def embed_o3(R: np.ndarray) -> np.ndarray:
    """diag(1, R): an O(3) matrix (3, 3) as a 4x4 Lorentz matrix."""
    L = np.eye(4)
    L[1:, 1:] = R
    return L


def boost(rapidity: float, direction) -> np.ndarray:
    """Pure boost (4, 4) with rapidity y along the unit 3-vector `direction` (γ = cosh y)."""
    n = np.asarray(direction, dtype=np.float64)
    n = n / np.linalg.norm(n)
    ch, sh = np.cosh(rapidity), np.sinh(rapidity)
    L = np.eye(4)
    L[0, 0] = ch
    L[0, 1:] = L[1:, 0] = sh * n
    L[1:, 1:] += (ch - 1.0) * np.outer(n, n)
    return L


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Haar-random SO(3) matrix (3, 3) (QR of a Gaussian matrix with the sign fixed)."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def random_direction(rng: np.random.Generator) -> np.ndarray:
    """Uniform unit 3-vector."""
    v = rng.normal(size=3)
    return v / np.linalg.norm(v)


def signed_permutations(proper: bool | None = None) -> list[np.ndarray]:
    """The 48 signed permutation matrices (3, 3) of the octahedral group O_h, in a fixed order;
    proper=True keeps the 24 rotations, proper=False the 24 with det -1."""
    out = []
    for p in itertools.permutations(range(3)):
        for s in itertools.product((1.0, -1.0), repeat=3):
            m = np.zeros((3, 3))
            m[np.arange(3), p] = s
            d = round(np.linalg.det(m))
            if proper is None or (d > 0) == proper:
                out.append(m)
    return out


def lorentz_inverse(L: np.ndarray) -> np.ndarray:
    """Inverse of a Lorentz matrix: η Lᵀ η (exact for integer matrices)."""
    return ETA @ L.T @ ETA


def integer_generators(proper: bool = True) -> dict[str, np.ndarray]:
    """Integer Lorentz generators (and inverses) by name; proper=False adds the improper Hall
    matrix (z fixed) and parity."""
    hz = np.eye(4)
    hz[:3, :3] = HALL3
    hz[3, 3] = -1.0          # Hall (det -1) times z-reflection: proper, orthochronous
    gens = {"M": M_INT, "M^-1": lorentz_inverse(M_INT), "HZ": hz, "HZ^-1": lorentz_inverse(hz)}
    if not proper:
        h = np.eye(4)
        h[:3, :3] = HALL3
        gens.update({"H": h, "H^-1": lorentz_inverse(h), "P": np.diag([1.0, -1, -1, -1])})
    return gens


# ---------------------------------------------------------------- sampling

def random_permutation(rng, n: int, real_only: bool = False) -> Element:
    p = rng.permutation(n)
    return Element("perm(" + ",".join(map(str, p)) + ")", np.eye(4), p, None, True, real_only)


def real_particles(xs: list, axes: list) -> np.ndarray | None:
    """[batch, N] bool: particles with a non-zero feature in some input that has a particle axis
    (axes[k] is input k's particle axis or None); None when no input has one."""
    real = None
    for x, ax in zip(xs, axes):
        if ax is None:
            continue
        nz = np.moveaxis(np.asarray(x) != 0, ax, 1).reshape(len(x), np.shape(x)[ax], -1).any(axis=2)
        real = nz if real is None else real | nz
    return real


def scoped_perms(perm: np.ndarray, real: np.ndarray) -> np.ndarray:
    """[batch, N] per-event permutations: `perm` restricted to each event's real particles.

    For an event with real particles at positions R (k of them), the entries of perm below k, in
    order, are a permutation q of 0..k-1; the event's permutation sends R[i] to R[q[i]] and leaves
    the zero-padded positions in place, wherever the padding sits."""
    out = np.tile(np.arange(len(perm)), (len(real), 1))
    for e, r in enumerate(np.asarray(real, dtype=bool)):
        pos = np.flatnonzero(r)
        q = perm[perm < len(pos)]
        out[e, pos] = pos[q]
    return out


def octahedral(rng, proper: bool) -> Element:
    mats = signed_permutations(True if proper else None)
    k = int(rng.integers(len(mats)))
    return Element(f"{'O' if proper else 'Oh'}[{k}]", embed_o3(mats[k]), None, None, True)


def integer_lorentz_word(rng, max_len: int = 3, proper: bool = True, time_reversal: bool = False) -> Element:
    """A word of length 1..max_len in the integer generators, each conjugated by a random signed
    axis permutation S (S G S⁻¹ is again an integer Lorentz matrix)."""
    gens = integer_generators(proper)
    names = sorted(gens)
    sp = signed_permutations()
    L, parts = np.eye(4), []
    for _ in range(int(rng.integers(1, max_len + 1))):
        name = names[int(rng.integers(len(names)))]
        k = int(rng.integers(len(sp)))
        S = embed_o3(sp[k])
        L = L @ S @ gens[name] @ S.T
        parts.append(f"S{k}·{name}")
    if time_reversal and rng.integers(2):
        L = np.diag([-1.0, 1, 1, 1]) @ L
        parts.append("T")
    return Element("[" + " ".join(parts) + "]", L, None, None, True)


def random_boost(rng, max_rapidity: float) -> Element:
    y = float(rng.uniform(-max_rapidity, max_rapidity))
    n = random_direction(rng)
    return Element(f"boost(y={y:+.3f},n=({n[0]:+.2f},{n[1]:+.2f},{n[2]:+.2f}))", boost(y, n))


def random_o3(rng, improper: bool) -> Element:
    R = random_rotation(rng)
    p = improper and bool(rng.integers(2))
    return Element(("P·" if p else "") + "rot", embed_o3(-R if p else R))


def random_translation(rng, scale: float, lsb: float | None = None) -> Element:
    """Translation of every particle by a random (t, x, y, z) shift of size ~scale; with `lsb` the
    shift is a multiple of it (exact on the lattice)."""
    s = rng.normal(size=4) * scale
    if lsb:
        s = np.round(s / lsb) * lsb
    return Element(f"shift({','.join(f'{v:+.3g}' for v in s)})", np.eye(4), None, s, lsb is not None)


@dataclasses.dataclass
class Line:
    """One line of a certificate: a named set of elements, exact or continuous."""

    group: str
    name: str
    exact: bool
    elements: list


def lines_for(group: str, n_particles: int | None, k: int, rng: np.random.Generator,
              max_rapidity: float = 1.0, time_reversal: bool = False, lsb: float | None = None,
              shift_scale: float = 10.0) -> list[Line]:
    """The certificate lines of a group, each with k sampled elements (the exact octahedral lines
    take all 24/48 elements when k exceeds them). `n_particles` is needed by perm and perm_real."""
    if group in PERM_GROUPS:
        if not n_particles:
            raise ValueError(f"group '{group}' needs inputs with a particle axis ([batch, N, ...])")
        real = group == "perm_real"
        return [Line(group, "permutations of real particles" if real else "particle permutations", True,
                     [random_permutation(rng, n_particles, real) for _ in range(k)])]
    if group in ("so3", "o3"):
        proper = group == "so3"
        mats = signed_permutations(True if proper else None)
        pick = range(len(mats)) if k >= len(mats) else sorted(rng.choice(len(mats), size=k, replace=False))
        tag = "O" if proper else "Oh"
        exact = [Element(f"{tag}[{i}]", embed_o3(mats[i]), None, None, True) for i in pick]
        cont = [random_o3(rng, not proper) for _ in range(k)]
        return [Line(group, "octahedral rotations" if proper else "signed axis permutations", True, exact),
                Line(group, "Haar rotations" if proper else "Haar O(3)", False, cont)]
    if group in ("lorentz", "o13"):
        proper = group == "lorentz"
        words = [integer_lorentz_word(rng, 3, proper, time_reversal and not proper) for _ in range(k)]
        boosts = [random_boost(rng, max_rapidity) for _ in range(k)]
        out = [Line(group, "integer Lorentz words (length 1-3)", True, words),
               Line(group, f"boosts |y|<={max_rapidity:g}", False, boosts)]
        if proper:
            out.append(Line(group, "rotations", False, [random_o3(rng, False) for _ in range(k)]))
        else:
            mixed = [compose(random_boost(rng, max_rapidity), random_o3(rng, True)) for _ in range(k)]
            out.append(Line(group, "boosts x O(3)", False, mixed))
        return out
    if group == "translation":
        return [Line(group, "lattice translations", True, [random_translation(rng, shift_scale,
                                                                              lsb) for _ in range(k)]),
                Line(group, "translations", False, [random_translation(rng, shift_scale) for _ in range(k)])]
    raise ValueError(f"unknown group '{group}' (known: {', '.join(GROUPS)})")


# ---------------------------------------------------------------- representations

# Suffix of a representation name written in the basis of the coupling that computes it.
COUPLING_BASIS = "@coupling"
# Integrality tolerance of a representation written in a basis found from float32 constants
# (relative rounding ~6e-8, amplified by the basis' condition number): far below any fraction an
# integral-looking matrix of a genuine non-integral element would show.
BASIS_INTEGRAL_TOL = 1e-5


class Rep:
    """How a tensor's last axis transforms. Names: 'scalar' (invariant, any size), '4vec'
    ((1/2,1/2): E, px, py, pz), '3vec' (polar vector, = '1o'), an e3nn-style O(3) irreps string
    ('1x0e+1x1o'), or a real Lorentz irrep name ('(1,1)', '(1,0)+(0,1)', ...).

    `translates`: the vectors are positions that a translation shifts (inputs only).

    A name ending in COUPLING_BASIS ('1x0e+1x1e+1x2e@coupling') is in the basis of the coupling
    that computes the tensor, found at compile (e.g. a Cartesian symmetric traceless product):
    `basis` is then Q [dim, dim] (tensor = Q · standard coordinates) and the matrices are
    Q D(g) Q⁻¹."""

    def __init__(self, name: str, basis=None):
        self.name = name.strip()
        self.in_coupling_basis = self.name.endswith(COUPLING_BASIS)
        self.standard = self.name[:-len(COUPLING_BASIS)] if self.in_coupling_basis else self.name
        self.kind, self.dim, self._irreps = self._parse(self.standard)
        if basis is not None and not self.in_coupling_basis:
            raise ValueError(f"representation '{self.name}' is in the standard basis; only a name ending in "
                             f"'{COUPLING_BASIS}' takes a basis")
        self.basis = None if basis is None else np.asarray(basis, dtype=np.float64)
        if self.basis is not None:
            if self.dim is None or self.basis.shape != (self.dim, self.dim):
                raise ValueError(f"representation '{self.name}' has dimension {self.dim}; its basis is "
                                 f"{list(self.basis.shape)}")
            self._basis_inv = np.linalg.inv(self.basis)

    def copies(self) -> list:
        """(irrep key, dim) of every irreducible copy in layout order (empty for scalars)."""
        if self.kind == "scalar":
            return []
        if self.kind == "lorentz":
            return [("(1/2,1/2)", 4)]
        if self.kind == "o3":
            return [("1o", 3)]
        if self.kind == "lorentz_irrep":
            return [(f, lorentz_irreps.REAL_REPS[f]) for f in lorentz_irreps.real_forms(self.standard)]
        return [(str(ir), ir.dim) for ir, _ in self._irreps.copies()]

    @staticmethod
    def _parse(name):
        if name in ("scalar", "invariant", "0e", "(0,0)"):
            return "scalar", None, None
        if name in ("4vec", "(1/2,1/2)"):
            return "lorentz", 4, None
        if name in ("3vec", "1o", "1x1o"):
            return "o3", 3, None
        if name.startswith("("):
            return "lorentz_irrep", lorentz_irreps.rep_matrix(name, np.eye(4)).shape[0], None
        try:
            ir = Irreps.parse(name)
        except ValueError as e:
            raise ValueError(f"unknown representation '{name}': use scalar, 4vec, 3vec, an irreps string "
                             f"like 1x0e+1x1o, or a Lorentz irrep like (1,1) ({e})") from None
        return "irreps", ir.dim, ir

    def supports(self, group: str) -> bool:
        """Whether the group acts on this representation."""
        if self.kind == "scalar" or group in (*PERM_GROUPS, "translation"):
            return True
        if self.kind in ("lorentz", "lorentz_irrep"):
            return True
        return group in ("so3", "o3")       # 3-vectors and O(3) irreps: spatial groups only

    def matrix(self, g: Element) -> np.ndarray | None:
        """The representation matrix (dim, dim) of g; None for scalars."""
        m = self._standard_matrix(g)
        if m is None or not self.in_coupling_basis:
            return m
        if self.basis is None:
            raise ValueError(f"representation '{self.name}': no coupling basis was recorded for this output (it is "
                             f"not computed by a recognised coupling)")
        return self.basis @ m @ self._basis_inv

    def _standard_matrix(self, g: Element) -> np.ndarray | None:
        if self.kind == "scalar":
            return None
        if self.kind == "lorentz":
            return g.lorentz
        if self.kind == "lorentz_irrep":
            return lorentz_irreps.rep_matrix(self.standard, g.lorentz)
        if not g.is_spatial():
            raise ValueError(f"representation '{self.name}' is an O(3) representation; element {g.label} is not in "
                             f"O(3)")
        if self.kind == "o3":
            return g.rotation
        return self._irreps.D(g.rotation)

    def integral_matrix(self, g: Element, tol: float = 1e-9) -> np.ndarray | None:
        """The representation matrix rounded to integers if it is integral up to float noise
        (e.g. Wigner matrices of 90° rotations), None for scalars; raises ValueError if it is not.
        With a basis the noise is that of the float32 coupling it came from (BASIS_INTEGRAL_TOL)."""
        m = self.matrix(g)
        if m is None:
            return None
        if self.basis is not None:
            tol = max(tol, BASIS_INTEGRAL_TOL)
        r = np.round(m)
        if np.abs(m - r).max() > tol:
            raise ValueError(f"representation '{self.name}' of {g.label} is not an integer matrix")
        return r

    def apply(self, x: np.ndarray, g: Element, particle_axis: int | None, shift: bool = False,
              exact: bool = False, real: np.ndarray | None = None) -> np.ndarray:
        """g acting on x [batch, ..., dim]: permute `particle_axis` (of the batched array), apply
        the matrix on the last axis, add the translation when `shift` (positions). exact=True
        uses the integer matrix (see integral_matrix), so lattice values map exactly. real:
        [batch, N] real-particle mask of the events, needed when g.real_only."""
        x = np.asarray(x, dtype=np.float64)
        if g.perm is not None and particle_axis is not None:
            if g.real_only:
                idx = np.moveaxis(scoped_perms(g.perm, real).reshape(
                    (len(x), -1) + (1,) * (x.ndim - 2)), 1, particle_axis)
                x = np.take_along_axis(x, idx, axis=particle_axis)
            else:
                x = np.take(x, g.perm, axis=particle_axis)
        m = self.integral_matrix(g) if exact else self.matrix(g)
        if m is not None:
            if x.shape[-1] != m.shape[0]:
                raise ValueError(f"representation '{self.name}' has dimension {m.shape[0]}, tensor's last axis is "
                                 f"{x.shape[-1]}")
            x = x @ m.T
        if shift and g.shift is not None and self.kind in ("lorentz", "o3"):
            x = x + (g.shift if self.kind == "lorentz" else g.shift[1:])
        return x


def is_lorentz(L: np.ndarray, tol: float = 1e-12) -> bool:
    """Lᵀ η L = η to tolerance `tol` (relative to the entries' size)."""
    scale = max(1.0, float(np.abs(L).max()) ** 2)
    return bool(np.abs(L.T @ ETA @ L - ETA).max() <= tol * scale)
