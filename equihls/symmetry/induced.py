"""The representation a constant coupling induces on its output, in whatever basis it is written.

A coupling z_k = sum_ij C[i,j,k] a_i b_j is z = M (a ⊗ b) with M = C reshaped to [Dk, Da·Db].
When ker M is invariant under ρ_a ⊗ ρ_b, the output carries the representation

    ρ_out(g) = M (ρ_a(g) ⊗ ρ_b(g)) M⁺  on range M,  the identity on its complement

(directions of z the coupling never reaches are identically zero, so any action fixes them), and
C is an intertwiner ρ_a ⊗ ρ_b -> ρ_out by construction: M T(g) = ρ_out(g) M. A C whose kernel is
not invariant intertwines into no action at all (`induced_action` returns None).

ρ_out is then decomposed into the standard irreps D of the group: the intertwiners X [Dk, d] with
ρ_out(g) X = X D(g) for all g form a space of dimension (multiplicity) x (dim End D): one null
vector per copy for irreps of real type (all O(3) irreps, the real Lorentz forms but
(1,0)+(0,1)), two for the complex-type (1,0)+(0,1). Copies are taken greedily while they enlarge
the span, giving the basis Q [Dk, Dk] with z = Q z_std, z_std in the standard basis of the
decomposition, so ρ_out(g) = Q D_std(g) Q⁻¹. ρ_out itself does not depend on which Q is chosen.

All matrices are float64; C comes from float32 ONNX constants, hence the tolerances below.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

# Relative size below which a singular value is zero: float32 constants carry ~6e-8 relative
# rounding, which the group action amplifies by a few units.
RANK_RTOL = 1e-5
# Largest relative violation of an intertwining / homomorphism identity that still counts as exact.
ACTION_RTOL = 1e-5

Rep = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Decomposition:
    """ρ_out = Q (⊕ D_names) Q⁻¹: `names` the irreps in layout order (one per copy), `basis` Q
    [Dk, Dk] (output = Q · standard coordinates), `dead` the number of output directions the
    coupling never reaches (they decompose as copies of the trivial irrep)."""
    names: tuple
    basis: np.ndarray
    dead: int


def _rel(x: np.ndarray, scale: float) -> float:
    return float(np.abs(x).max(initial=0.0)) / max(scale, 1e-300)


def induced_action(c, rho_a: Rep, rho_b: Rep, elements: Sequence[np.ndarray]):
    """(act, dead): act(g) -> ρ_out(g) [Dk, Dk] on the output of the coupling c [Da, Db, Dk], or
    None when ker M is not invariant under ρ_a ⊗ ρ_b at some of `elements` (then c intertwines
    into no representation); dead = Dk - rank M."""
    c = np.asarray(c, dtype=np.float64)
    da, db, dk = c.shape
    m = c.reshape(da * db, dk).T
    u, s, vt = np.linalg.svd(m)
    if s.size == 0 or s[0] == 0.0:
        return None
    rank = int((s > RANK_RTOL * s[0]).sum())
    row = vt[:rank].T @ vt[:rank]             # projector onto (ker M)^⊥
    pinv = vt[:rank].T @ np.diag(1.0 / s[:rank]) @ u[:, :rank].T
    dead_proj = np.eye(dk) - u[:, :rank] @ u[:, :rank].T

    def tensor(g):
        return np.kron(rho_a(g), rho_b(g))

    for g in elements:
        t = tensor(g)
        leak = m @ t @ (np.eye(da * db) - row)
        if _rel(leak, s[0] * np.abs(t).sum(1).max()) > ACTION_RTOL:
            return None

    def act(g):
        return m @ tensor(g) @ pinv + dead_proj

    return act, dk - rank


def _intertwiners(mats_out: list, mats_d: list) -> np.ndarray:
    """Basis [n, Dk, d] of {X : ρ(g) X = X D(g) for every element}, from the matrices at the same
    elements (mats_out [Dk, Dk], mats_d [d, d])."""
    dk, d = mats_out[0].shape[0], mats_d[0].shape[0]
    rows = [np.kron(r, np.eye(d)) - np.kron(np.eye(dk), dm.T) for r, dm in zip(mats_out, mats_d)]
    a = np.concatenate(rows)
    _, s, vt = np.linalg.svd(a)         # a has at least as many rows as columns: one s per row of vt
    null = vt[s <= RANK_RTOL * max(float(s[0]), 1.0)]
    return null.reshape(-1, dk, d)


def _canonical(x: np.ndarray) -> np.ndarray:
    """x scaled to Frobenius norm sqrt(d) (orthonormal columns when x is an isometry) with its
    first largest-magnitude entry positive: the same C gives the same basis."""
    x = x * np.sqrt(x.shape[1]) / np.linalg.norm(x)
    flat = x.ravel()
    k = int(np.flatnonzero(np.abs(flat) >= np.abs(flat).max() * (1 - 1e-9))[0])
    return x if flat[k] > 0 else -x


def decompose(act: Rep, dim: int, elements: Sequence[np.ndarray], candidates: Sequence[tuple],
              dead: int = 0) -> Decomposition | None:
    """The irreps content of the representation `act` (dimension `dim`) and its basis.

    candidates: (name, D) pairs of standard irreps, D: element -> [d, d], in the order the
    content is listed. None when the candidates do not span the whole space (a representation
    outside them, or a numerically ill-posed one) or the reconstruction misses ACTION_RTOL."""
    mats = [act(g) for g in elements]
    names, cols = [], np.zeros((dim, 0))
    for name, d_fn in candidates:
        dmats = [d_fn(g) for g in elements]
        if dmats[0].shape[0] > dim:
            continue
        for x in _intertwiners(mats, dmats):
            trial = np.concatenate([cols, x], axis=1)
            if np.linalg.matrix_rank(trial, tol=RANK_RTOL * np.abs(trial).max()) == trial.shape[1]:
                cols = np.concatenate([cols, _canonical(x)], axis=1)
                names.append(name)
    if cols.shape[1] != dim:
        return None
    q = cols
    qinv = np.linalg.inv(q)
    for g, r in zip(elements, mats):
        std = _block_diag([dict(candidates)[n](g) for n in names])
        if _rel(q @ std @ qinv - r, np.abs(r).max()) > ACTION_RTOL:
            return None
    return Decomposition(tuple(names), q, dead)


def _block_diag(blocks: list) -> np.ndarray:
    n = sum(b.shape[0] for b in blocks)
    out, k = np.zeros((n, n)), 0
    for b in blocks:
        out[k:k + b.shape[0], k:k + b.shape[0]] = b
        k += b.shape[0]
    return out


def is_homomorphism(act: Rep, elements: Sequence[np.ndarray]) -> bool:
    """act(g h) == act(g) act(h) for all pairs of `elements` (a representation, not only a map)."""
    for g in elements:
        for h in elements:
            lhs, rhs = act(g @ h), act(g) @ act(h)
            if _rel(lhs - rhs, np.abs(lhs).max()) > ACTION_RTOL:
                return False
    return True


def induced_irreps(c, rho_a: Rep, rho_b: Rep, elements: Sequence[np.ndarray],
                   candidates: Sequence[tuple]) -> Decomposition | None:
    """The decomposition of the representation the coupling c [Da, Db, Dk] induces on its output
    from ρ_a ⊗ ρ_b (see the module docstring); None when c intertwines into no representation or
    the candidates do not decompose it."""
    found = induced_action(c, rho_a, rho_b, elements)
    if found is None:
        return None
    act, dead = found
    if not is_homomorphism(act, elements):
        return None
    return decompose(act, np.shape(c)[2], elements, candidates, dead)


def reorder_basis(found: Sequence[tuple], basis: np.ndarray, wanted: Sequence[tuple]) -> np.ndarray | None:
    """The basis Q re-laid for the copies `wanted`: found / wanted are (irrep key, dim) per copy in
    layout order (the same multiset, in any order); None when they are not the same multiset."""
    if sorted(found) != sorted(wanted):
        return None
    starts, k = [], 0
    for _, d in found:
        starts.append(k)
        k += d
    free = list(range(len(found)))
    cols = []
    for key in wanted:
        j = next(j for j in free if found[j] == key)
        free.remove(j)
        cols.extend(range(starts[j], starts[j] + key[1]))
    return np.asarray(basis)[:, cols]
