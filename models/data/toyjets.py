"""Toy boosted-jet generator (numpy only, fast, seedable).

.. warning::
   This is a **TOY**. It is *not* Pythia, has no colour flow, no hadronisation
   model, no underlying event / pile-up and no detector simulation. It exists
   so that the bundled reference models can be trained and tested in seconds
   without any external generator. A Pythia8-based generator will follow; do
   not quote physics performance numbers obtained with these jets.

Two classes are produced:

* ``y = 1`` ("top"): a top quark with m ~ Breit-Wigner(173 GeV, 1.4 GeV),
  pT ~ U(550, 650) GeV, |eta| < 2, phi ~ U(-pi, pi). It decays t -> b W
  isotropically in its rest frame, the W (m ~ BW(80.4 GeV, 2.1 GeV)) decays
  to q q' isotropically in the W rest frame, and everything is boosted to
  the lab. The b and the light quarks are treated as massless.
* ``y = 0`` ("QCD"): a single light quark/gluon with the same pT/eta/phi
  distribution.

Each parton is then showered by a toy *angular-ordered* sequence of
collinear 1 -> 2 splittings carried out in the (pT, eta, phi) plane:

* for ``N_GENERATIONS`` generations, every particle with pT above
  ``PT_MIN`` splits with probability ``P_SPLIT_TOP`` / ``P_SPLIT_QCD``
  (particles that do not split stay in the pool and may split later);
* the momentum fraction of the softer daughter is drawn from dP/dz ~ 1/z on
  [z_min, 1/2] (the soft limit of the splitting functions);
* the opening angle theta is log-uniform in [theta_min, theta_max], where
  theta_max is the opening angle of the splitting that produced the particle
  (angular ordering); the first splitting uses a per-class starting value,
  broader for the QCD 1-prong shower than for the top decay products;
* daughters get pT fractions z and 1 - z and are displaced from the parent by
  (1 - z) * theta and -z * theta along a random direction in (eta, phi), so
  that the pT-weighted centroid (and the total pT) is conserved. (Energy
  and longitudinal momentum are *not* exactly conserved: good enough for a
  toy.)

Finally a few soft particles (Poisson-distributed number, exponential pT) are
sprinkled uniformly in the disc Delta R < 0.8 around the jet axis (the
direction of the top / initiating parton), only constituents with
Delta R < 0.8 are kept, and each jet is sorted by pT (descending) and
truncated / zero-padded to ``n_const`` rows.

Output convention (this is the input convention of the bundled models):
``x[..., :] = (E, px, py, pz)`` in GeV, metric diag(+1, -1, -1, -1); all
constituents are massless (E = |p| up to float32 rounding); padding rows are
exactly zero.

CLI::

    python -m models.data.toyjets --n 1000 --seed 1 -o jets.npz

writes ``n`` jets *per class* to ``jets.npz`` (keys ``x``, ``y``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

__all__ = ["generate", "M_TOP", "M_W", "R_JET"]

M_TOP = 173.0
GAMMA_TOP = 1.4
M_W = 80.4
GAMMA_W = 2.1
R_JET = 0.8

PT_RANGE = (550.0, 650.0)
ETA_MAX = 2.0

# Shower parameters (toy values, tuned by eye so that multiplicities are
# ~10-40 and QCD jet masses are mostly small with a tail).
N_GENERATIONS = 5
P_SPLIT_TOP = 0.55     # per-generation splitting probability, top decay products
P_SPLIT_QCD = 0.70     # slightly higher for the (gluon-like) QCD parton
PT_MIN = 2.0            # GeV: particles below this do not split further
Z_MIN = 0.05
THETA_MIN = 0.005
THETA0_TOP = 0.25       # first-splitting angular scale of each top decay product
THETA0_QCD = 0.80       # broader (= jet radius) for the QCD 1-prong shower
SOFT_MEAN_N = 3.0       # mean number of soft uniform particles per jet
SOFT_MEAN_PT = 1.5      # GeV


# --------------------------------------------------------------------------
# small kinematics helpers (float64 throughout)
# --------------------------------------------------------------------------
def _wrap(phi: np.ndarray) -> np.ndarray:
    return (phi + np.pi) % (2.0 * np.pi) - np.pi


def _truncated_bw(rng: np.random.Generator, m0: float, width: float, n: int,
                  nsig: float = 5.0) -> np.ndarray:
    """Non-relativistic Breit-Wigner (Cauchy) truncated to m0 +- nsig*width."""
    lo = np.arctan(-nsig * 2.0)
    hi = np.arctan(nsig * 2.0)
    u = rng.uniform(lo, hi, n)
    return m0 + 0.5 * width * np.tan(u)


def _isotropic(rng: np.random.Generator, n: int) -> np.ndarray:
    cth = rng.uniform(-1.0, 1.0, n)
    sth = np.sqrt(1.0 - cth * cth)
    phi = rng.uniform(-np.pi, np.pi, n)
    return np.stack([sth * np.cos(phi), sth * np.sin(phi), cth], axis=-1)


def _boost(p: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Boost 4-vectors ``p`` [n,4] (E,px,py,pz) by velocity ``beta`` [n,3]."""
    b2 = np.sum(beta * beta, axis=-1)
    gamma = 1.0 / np.sqrt(1.0 - b2)
    bp = np.sum(beta * p[:, 1:], axis=-1)
    coef = np.where(b2 > 0, (gamma - 1.0) * bp / np.where(b2 > 0, b2, 1.0), 0.0)
    e = gamma * (p[:, 0] + bp)
    vec = p[:, 1:] + (coef + gamma * p[:, 0])[:, None] * beta
    return np.concatenate([e[:, None], vec], axis=-1)


def _to_pt_eta_phi(p: np.ndarray):
    px, py, pz = p[:, 1], p[:, 2], p[:, 3]
    pt = np.hypot(px, py)
    eta = np.arcsinh(pz / pt)
    phi = np.arctan2(py, px)
    return pt, eta, phi


# --------------------------------------------------------------------------
# toy shower
# --------------------------------------------------------------------------
def _shower(rng: np.random.Generator, jet: np.ndarray, pt: np.ndarray,
            eta: np.ndarray, phi: np.ndarray, theta0: float, p_split: float):
    """Shower a flat list of massless partons; returns flat particle arrays."""
    tmax = np.full(pt.shape, theta0)
    log_tmin = np.log(THETA_MIN)
    for _ in range(N_GENERATIONS):
        n = pt.size
        split = (pt > PT_MIN) & (rng.uniform(size=n) < p_split)
        stay = ~split
        j, p, e, f, tm = jet[split], pt[split], eta[split], phi[split], tmax[split]
        m = p.size
        # softer-daughter fraction: dP/dz ~ 1/z on [Z_MIN, 1/2]
        z = Z_MIN * (0.5 / Z_MIN) ** rng.uniform(size=m)
        # opening angle: log-uniform in [THETA_MIN, tmax] (angular ordering)
        theta = np.exp(log_tmin + (np.log(tm) - log_tmin) * rng.uniform(size=m))
        alpha = rng.uniform(-np.pi, np.pi, m)
        de, df = np.cos(alpha) * theta, np.sin(alpha) * theta
        # non-splitting particles stay in the pool and may split later
        jet = np.concatenate([jet[stay], j, j])
        pt = np.concatenate([pt[stay], z * p, (1.0 - z) * p])
        eta = np.concatenate([eta[stay], e + (1.0 - z) * de, e - z * de])
        phi = _wrap(np.concatenate([phi[stay], f + (1.0 - z) * df, f - z * df]))
        tmax = np.concatenate([tmax[stay], theta, theta])
    return jet, pt, eta, phi


def _soft(rng: np.random.Generator, axis_eta: np.ndarray, axis_phi: np.ndarray):
    nj = axis_eta.size
    counts = rng.poisson(SOFT_MEAN_N, nj)
    jet = np.repeat(np.arange(nj), counts)
    m = jet.size
    r = R_JET * np.sqrt(rng.uniform(size=m))
    a = rng.uniform(-np.pi, np.pi, m)
    pt = 0.2 + rng.exponential(SOFT_MEAN_PT, m)
    return jet, pt, axis_eta[jet] + r * np.cos(a), _wrap(axis_phi[jet] + r * np.sin(a))


# --------------------------------------------------------------------------
# hard processes
# --------------------------------------------------------------------------
def _jet_axes(rng: np.random.Generator, n: int):
    pt = rng.uniform(*PT_RANGE, n)
    eta = rng.uniform(-ETA_MAX, ETA_MAX, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    return pt, eta, phi


def _top_partons(rng: np.random.Generator, n: int):
    """Return (axis_eta, axis_phi, flat parton arrays) for n top decays."""
    pt, eta, phi = _jet_axes(rng, n)
    mt = _truncated_bw(rng, M_TOP, GAMMA_TOP, n)
    mw = np.minimum(_truncated_bw(rng, M_W, GAMMA_W, n), mt - 1.0)
    # t -> b W in the top rest frame (massless b)
    pstar = (mt * mt - mw * mw) / (2.0 * mt)
    d = _isotropic(rng, n)
    p_b = np.concatenate([pstar[:, None], -pstar[:, None] * d], axis=-1)
    e_w = np.sqrt(pstar * pstar + mw * mw)
    beta_w = (pstar / e_w)[:, None] * d
    # W -> q q' in the W rest frame (massless quarks)
    dq = _isotropic(rng, n)
    h = (0.5 * mw)[:, None]
    p_q1 = np.concatenate([h, h * dq], axis=-1)
    p_q2 = np.concatenate([h, -h * dq], axis=-1)
    p_q1, p_q2 = _boost(p_q1, beta_w), _boost(p_q2, beta_w)
    # top rest frame -> lab
    pz = pt * np.sinh(eta)
    p_top = np.stack([pt * np.cos(phi), pt * np.sin(phi), pz], axis=-1)
    e_top = np.sqrt(np.sum(p_top * p_top, axis=-1) + mt * mt)
    beta_t = p_top / e_top[:, None]
    partons = [_boost(q, beta_t) for q in (p_b, p_q1, p_q2)]
    allp = np.concatenate(partons, axis=0)
    ppt, peta, pphi = _to_pt_eta_phi(allp)
    jet = np.tile(np.arange(n), 3)
    return eta, phi, (jet, ppt, peta, pphi)


def _assemble(jet, pt, eta, phi, axis_eta, axis_phi, n_jets, n_const):
    dr2 = (eta - axis_eta[jet]) ** 2 + _wrap(phi - axis_phi[jet]) ** 2
    sel = dr2 < R_JET * R_JET
    jet, pt, eta, phi = jet[sel], pt[sel], eta[sel], phi[sel]
    order = np.lexsort((-pt, jet))
    jet, pt, eta, phi = jet[order], pt[order], eta[order], phi[order]
    starts = np.searchsorted(jet, np.arange(n_jets))
    rank = np.arange(jet.size) - starts[jet]
    mult = np.bincount(jet, minlength=n_jets)
    keep = rank < n_const
    jet, rank, pt, eta, phi = jet[keep], rank[keep], pt[keep], eta[keep], phi[keep]
    out = np.zeros((n_jets, n_const, 4), dtype=np.float64)
    out[jet, rank, 0] = pt * np.cosh(eta)
    out[jet, rank, 1] = pt * np.cos(phi)
    out[jet, rank, 2] = pt * np.sin(phi)
    out[jet, rank, 3] = pt * np.sinh(eta)
    return out, mult


def _generate_class(rng, n, n_const, top: bool):
    if top:
        axis_eta, axis_phi, (jet, pt, eta, phi) = _top_partons(rng, n)
        theta0, p_split = THETA0_TOP, P_SPLIT_TOP
    else:
        pt, axis_eta, axis_phi = _jet_axes(rng, n)
        jet, eta, phi = np.arange(n), axis_eta.copy(), axis_phi.copy()
        theta0, p_split = THETA0_QCD, P_SPLIT_QCD
    sj, spt, seta, sphi = _shower(rng, jet, pt, eta, phi, theta0, p_split)
    uj, upt, ueta, uphi = _soft(rng, axis_eta, axis_phi)
    return _assemble(np.concatenate([sj, uj]), np.concatenate([spt, upt]),
                     np.concatenate([seta, ueta]), np.concatenate([sphi, uphi]),
                     axis_eta, axis_phi, n, n_const)


def generate(n_per_class: int, n_const: int = 16, seed: int = 0,
             return_multiplicity: bool = False) -> dict:
    """Generate ``n_per_class`` toy top jets and ``n_per_class`` toy QCD jets.

    Returns ``dict(x=float32 [2n, n_const, 4], y=int64 [2n])`` with rows
    (E, px, py, pz) in GeV sorted by pT (descending), zero-padded, and the
    two classes shuffled together. With ``return_multiplicity=True`` the
    dict also has ``n_const_total`` (int64 [2n]): the number of constituents
    inside Delta R < 0.8 before truncation to ``n_const``.
    """
    if n_per_class < 0 or n_const < 1:
        raise ValueError("need n_per_class >= 0 and n_const >= 1")
    rng = np.random.default_rng(seed)
    x_qcd, m_qcd = _generate_class(rng, n_per_class, n_const, top=False)
    x_top, m_top = _generate_class(rng, n_per_class, n_const, top=True)
    x = np.concatenate([x_qcd, x_top]).astype(np.float32)
    y = np.concatenate([np.zeros(n_per_class, np.int64), np.ones(n_per_class, np.int64)])
    mult = np.concatenate([m_qcd, m_top]).astype(np.int64)
    perm = rng.permutation(y.size)
    out = dict(x=x[perm], y=y[perm])
    if return_multiplicity:
        out["n_const_total"] = mult[perm]
    return out


def jet_mass(x: np.ndarray) -> np.ndarray:
    """Invariant mass of the sum of the (kept) constituents, [..., n, 4] -> [...]."""
    p = x.astype(np.float64).sum(axis=-2)
    m2 = p[..., 0] ** 2 - np.sum(p[..., 1:] ** 2, axis=-1)
    return np.sqrt(np.maximum(m2, 0.0))


def _main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="jets per class")
    ap.add_argument("--n-const", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", required=True, help="output .npz")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    d = generate(args.n, args.n_const, args.seed)
    np.savez_compressed(args.output, **d)
    print(f"wrote {args.output}: x{tuple(d['x'].shape)} y{tuple(d['y'].shape)} "
          f"({time.perf_counter() - t0:.2f} s, seed={args.seed}) -- TOY jets, not Pythia")


if __name__ == "__main__":
    _main()
