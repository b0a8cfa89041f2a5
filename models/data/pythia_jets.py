"""Top-tagging jet generator: Pythia 8 events clustered with FastJet.

Produces boosted hadronic-top jets (``y = 1``) and QCD light-quark/gluon
jets (``y = 0``) from a real event generator (parton shower, multi-parton
interactions, hadronisation, hadron decays): ``x`` float32 [n, n_const, 4]
constituent (E, px, py, pz) in GeV, pT-sorted, zero-padded.

Event generation (pp at sqrt(s) = 14 TeV, Pythia 8 default tune):

* signal: ``Top:gg2ttbar`` + ``Top:qqbar2ttbar`` with both W bosons forced
  to decay hadronically (``24:onMode = off``, ``24:onIfAny = 1 2 3 4 5``);
* background: ``HardQCD:all`` dijets;
* both with ``PhaseSpace:pTHatMin/Max = 500/700`` GeV (``--pthat-min/max``):
  the hard-process pT window feeding the 550-650 GeV jet window. It is a
  speed/bias compromise: in a 400-800 GeV control sample, ~16 % (top) and
  ~22 % (QCD) of the selected jets came from pTHat < 500 GeV (jets that
  gained pT from ISR/MPI; mostly near the 550 GeV edge) and ~2 % from
  pTHat > 700 GeV, so the default slightly under-represents them. 450-750
  GeV cuts the low-side loss to ~5 % / ~9 % at about half the rate;
* MPI, ISR/FSR and hadronisation on (Pythia defaults); no pile-up.

Jets: all final-state *visible* particles (``isFinal() and isVisible()``,
i.e. neutrinos excluded) are clustered with anti-kT, R = 0.8 (E-scheme).
Of the two leading jets of an event, those with 550 <= pT < 650 GeV and
|eta| < 2 are candidates. A top candidate is kept only if it is matched to
a top quark: the top (its last copy in the event record, i.e. after
ISR recoil, just before it decays) and its three decay quarks -- the b and
the two quarks from the W, read from the event record at the resonance
decays, *before* they shower -- all lie within Delta R(eta, phi) < 0.8 of
the jet axis. QCD candidates are kept as they are.

Per jet the ``n_const`` (default 16) highest-pT constituents are stored as
(E, px, py, pz) in GeV, sorted by pT descending, zero-padded at the end.

Optional detector smearing (``smear=True`` / ``--smear``) -- **a deliberately
crude stand-in, NOT a detector simulation** -- applied to every visible
particle *before* clustering (so cuts and jet kinematics are smeared too). The energy is smeared by a Gaussian
of width sigma(E) = a * sqrt(E) (+) c * E (in quadrature, E in GeV) with

===================  ==========  =======
particle             a (stoch.)  c
===================  ==========  =======
charged (tracks)     0           1 %
photons              10 %        0
neutral hadrons      50 %        0
===================  ==========  =======

and the whole four-vector is rescaled by E'/E, i.e. the direction (and
E/|p|) is kept; particles with E' <= 0 are dropped. No efficiencies, no
granularity, no magnetic field.

Reproducibility: the work of each class is split into ``workers`` tasks of
fixed size; task ``k`` of class ``c`` seeds Pythia (``Random:setSeed = on``,
``Random:seed`` in [1, 900000000]) and the smearing RNG from
``numpy.random.SeedSequence([seed, c, k])``. The output is therefore
identical for the same ``seed`` and ``workers`` (changing ``workers``
changes the sample).

CLI::

    python -m models.data.pythia_jets --n-per-class 20 --n-const 16 --seed 1 --out jets.npz

writes ``x`` (float32 [2K, N, 4]), ``y`` (int64 [2K]), ``jet_pt``,
``jet_eta``, ``jet_phi``, ``jet_mass`` (float32 [2K], GeV / rad, from *all*
jet constituents), ``n_const_total`` (int64 [2K], constituents before
truncation) and ``settings`` (0-d str array holding JSON). ``--root FILE``
additionally writes a ROOT TTree via ``uproot`` if it is installed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import multiprocessing as mp
import os
import queue
import sys
import time

import numpy as np

__all__ = ["generate", "pythia_settings", "pythia_seed", "smear_particles",
           "save_npz", "save_root", "PT_RANGE", "ETA_MAX", "R_JET", "PTHAT_RANGE"]

ECM = 14000.0                  # GeV
PTHAT_RANGE = (500.0, 700.0)   # GeV, hard-process pT window
PT_RANGE = (550.0, 650.0)      # GeV, jet pT window [lo, hi)
ETA_MAX = 2.0
R_JET = 0.8
N_LEADING = 2                  # jets per event considered
PYTHIA_SEED_MAX = 900_000_000  # Random:seed allowed range is [0, 9e8]; 0 = time-based
MAX_EVENTS_PER_JET = 1000      # give up if the selection efficiency is absurdly low

# (stochastic a, constant c): sigma_E = a*sqrt(E) (+) c*E, for kinds 0, 1, 2
SMEAR_CHARGED, SMEAR_PHOTON, SMEAR_NEUTRAL_HADRON = 0, 1, 2
SMEAR_PARAMS = {SMEAR_CHARGED: (0.0, 0.01), SMEAR_PHOTON: (0.10, 0.0),
                SMEAR_NEUTRAL_HADRON: (0.50, 0.0)}

CLASS_NAMES = {1: "top", 0: "qcd"}


def _pythia_module():
    try:  # the PyPI wheel (pythia8mc) ...
        import pythia8mc as p8
    except ImportError:  # ... or a Pythia build with its own python interface
        import pythia8 as p8
    return p8


# --------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------
def pythia_seed(seed: int, label: int, task: int) -> tuple[int, np.random.SeedSequence]:
    """Seeds for task ``task`` of class ``label`` derived from the user ``seed``.

    Returns ``(pythia_seed, seed_sequence)``: an int in [1, 900000000] for
    Pythia's ``Random:seed`` and a numpy ``SeedSequence`` for the smearing.
    """
    ss = np.random.SeedSequence([int(seed), int(label), int(task)])
    return int(ss.generate_state(1, np.uint32)[0]) % PYTHIA_SEED_MAX + 1, ss


def pythia_settings(label: int, seed: int, pthat=PTHAT_RANGE, ecm: float = ECM) -> list[str]:
    """Pythia ``readString`` lines for class ``label`` (1 = ttbar, 0 = QCD).

    ``seed`` must be in [1, 900000000]; ``pthat`` = (min, max) and ``ecm``
    in GeV.
    """
    if not 1 <= seed <= PYTHIA_SEED_MAX:
        raise ValueError(f"Pythia seed {seed} outside [1, {PYTHIA_SEED_MAX}]")
    common = [
        "Beams:idA = 2212", "Beams:idB = 2212", f"Beams:eCM = {ecm:g}",
        f"PhaseSpace:pTHatMin = {pthat[0]:g}", f"PhaseSpace:pTHatMax = {pthat[1]:g}",
        "PartonLevel:MPI = on", "HadronLevel:all = on",
        "Random:setSeed = on", f"Random:seed = {seed}",
        "Print:quiet = on", "Next:numberCount = 0",
    ]
    if label == 1:
        proc = ["Top:gg2ttbar = on", "Top:qqbar2ttbar = on",
                "24:onMode = off", "24:onIfAny = 1 2 3 4 5"]
    else:
        proc = ["HardQCD:all = on"]
    return proc + common


# --------------------------------------------------------------------------
# per-event helpers
# --------------------------------------------------------------------------
def smear_particles(p4: np.ndarray, kind: np.ndarray, rng: np.random.Generator):
    """Gaussian energy smearing keeping the direction (see module docstring).

    ``p4``: float64 [m, 4] (E, px, py, pz) in GeV; ``kind``: int [m] with
    0 = charged, 1 = photon, 2 = neutral hadron. Returns ``(p4', keep)``
    where ``p4'`` is the rescaled [m, 4] array and ``keep`` a bool [m] mask
    of particles whose smeared energy is positive.
    """
    a = np.array([SMEAR_PARAMS[k][0] for k in range(3)])[kind]
    c = np.array([SMEAR_PARAMS[k][1] for k in range(3)])[kind]
    e = p4[:, 0]
    sigma = np.sqrt(a * a * e + (c * e) ** 2)
    e_new = e + sigma * rng.standard_normal(e.size)
    scale = np.where(e > 0, e_new / np.where(e > 0, e, 1.0), 0.0)
    keep = scale > 0
    return p4 * np.maximum(scale, 0.0)[:, None], keep


def _read_event(event, want_tops: bool):
    """Visible final-state particles (p4 [m,4], kind [m]) and top first copies."""
    rows, kinds, tops = [], [], []
    for i in range(event.size()):
        q = event[i]
        if want_tops and q.idAbs() == 6 and q.iTopCopyId() == i:
            tops.append(i)
        if q.isFinal() and q.isVisible():
            rows.append((q.e(), q.px(), q.py(), q.pz()))
            kinds.append(SMEAR_CHARGED if q.isCharged() else
                         SMEAR_PHOTON if q.id() == 22 else SMEAR_NEUTRAL_HADRON)
    return np.array(rows, dtype=np.float64).reshape(-1, 4), np.array(kinds, dtype=np.int64), tops


def _top_partons(event, i_top):
    """(eta, phi) [4, 2] of the decaying top, its b and the two W quarks, or None."""
    top = event[event[i_top].iBotCopyId()]
    b = w = None
    for d in top.daughterList():
        if event[d].idAbs() == 5:
            b = event[d]
        elif event[d].idAbs() == 24:
            w = event[event[d].iBotCopyId()]
    if b is None or w is None:
        return None
    quarks = [event[d] for d in w.daughterList() if 1 <= event[d].idAbs() <= 5]
    if len(quarks) != 2:  # leptonic W (not generated with the default settings)
        return None
    return np.array([(p.eta(), p.phi()) for p in (top, b, *quarks)])


def _delta_r(eta, phi, eta0, phi0):
    dphi = (np.asarray(phi) - phi0 + np.pi) % (2.0 * np.pi) - np.pi
    return np.hypot(np.asarray(eta) - eta0, dphi)


def _jet_row(jet, p4, n_const):
    idx = np.array([c.user_index() for c in jet.constituents()], dtype=np.int64)
    c4 = p4[idx].astype(np.float32)
    pt = np.hypot(c4[:, 1].astype(np.float64), c4[:, 2].astype(np.float64))
    order = np.argsort(-pt, kind="stable")[:n_const]
    row = np.zeros((n_const, 4), np.float32)
    row[:order.size] = c4[order]
    return row, idx.size


# --------------------------------------------------------------------------
# one task = one Pythia instance producing a fixed number of jets of one class
# --------------------------------------------------------------------------
_PROGRESS = None


def _init_worker(q):
    global _PROGRESS
    _PROGRESS = q


def _run_task(task: dict) -> dict:
    import fastjet
    import fastjet._swig
    fastjet._swig.ClusterSequence.set_fastjet_banner_stream(None)  # no banner
    p8 = _pythia_module()

    t0, c0 = time.perf_counter(), time.process_time()
    label, n_want, n_const = task["label"], task["n_jets"], task["n_const"]
    py = p8.Pythia("", False)
    for s in task["pythia"]:
        if not py.readString(s):
            raise RuntimeError(f"Pythia rejected setting {s!r}")
    if not py.init():
        raise RuntimeError("Pythia initialisation failed")
    rng = np.random.default_rng(np.random.SeedSequence(task["ss_entropy"]))
    jet_def = fastjet.JetDefinition(fastjet.antikt_algorithm, R_JET)

    x = np.zeros((n_want, n_const, 4), np.float32)
    meta = np.zeros((n_want, 4), np.float64)
    mult = np.zeros(n_want, np.int64)
    n_jets = n_events = n_failed = 0
    while n_jets < n_want:
        if n_events > MAX_EVENTS_PER_JET * (n_want + 1):
            raise RuntimeError(f"{CLASS_NAMES[label]}: efficiency too low "
                               f"({n_jets} jets in {n_events} events)")
        n_events += 1
        if not py.next():
            n_failed += 1
            continue
        p4, kind, tops = _read_event(py.event, label == 1)
        if task["smear"]:
            p4, keep = smear_particles(p4, kind, rng)
            p4 = p4[keep]
        pjs = []
        for i, (e, px_, py_, pz) in enumerate(p4.tolist()):
            pj = fastjet.PseudoJet(px_, py_, pz, e)
            pj.set_user_index(i)
            pjs.append(pj)
        cs = fastjet.ClusterSequence(pjs, jet_def)
        jets = fastjet.sorted_by_pt(cs.inclusive_jets(20.0))[:N_LEADING]
        partons = [t for t in (_top_partons(py.event, i) for i in tops) if t is not None]
        used = set()
        for jet in jets:
            pt, eta, phi = jet.pt(), jet.eta(), jet.phi_std()
            if not (PT_RANGE[0] <= pt < PT_RANGE[1] and abs(eta) < ETA_MAX):
                continue
            if label == 1:
                match = [k for k, t in enumerate(partons) if k not in used
                         and np.all(_delta_r(t[:, 0], t[:, 1], eta, phi) < R_JET)]
                if not match:
                    continue
                used.add(match[0])
            x[n_jets], mult[n_jets] = _jet_row(jet, p4, n_const)
            meta[n_jets] = (pt, eta, phi, jet.m())
            n_jets += 1
            if _PROGRESS is not None:
                _PROGRESS.put((label, 1))
            if n_jets == n_want:
                break
        del cs
    return dict(label=label, task=task["task"], x=x, meta=meta, mult=mult,
                n_events=n_events, n_failed=n_failed, seconds=time.perf_counter() - t0,
                cpu_seconds=time.process_time() - c0)


# --------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------
def _split(n: int, k: int) -> list[int]:
    return [n // k + (i < n % k) for i in range(k)]


def _progress_line(done, n, t0):
    return (f"\r[pythia_jets] top {done[1]}/{n}  qcd {done[0]}/{n}  "
            f"({time.perf_counter() - t0:.1f} s)")


def generate(n_per_class: int, n_const: int = 16, seed: int = 0, workers: int | None = None,
             smear: bool = False, pthat=PTHAT_RANGE, progress: bool = True,
             stats: dict | None = None) -> dict:
    """Generate ``n_per_class`` top jets and ``n_per_class`` QCD jets.

    Returns a dict with ``x`` float32 [2n, n_const, 4] (E, px, py, pz in
    GeV, pT-sorted, zero-padded), ``y`` int64 [2n] (1 = top, 0 = QCD),
    ``jet_pt``/``jet_eta``/``jet_phi``/``jet_mass`` float32 [2n] (GeV, -,
    rad in (-pi, pi], GeV; from all constituents of the anti-kT jet),
    ``n_const_total`` int64 [2n] and ``settings`` (JSON str). Classes are
    shuffled together with an RNG derived from ``seed``. ``workers``
    (default: number of CPUs) processes run in parallel; the result is a
    deterministic function of (arguments, ``workers``). Progress goes to
    stderr if ``progress``. If ``stats`` is a dict it receives per-class
    timing/efficiency numbers (not part of the deterministic output).
    """
    if n_per_class < 0 or n_const < 1 or seed < 0:
        raise ValueError("need n_per_class >= 0, n_const >= 1, seed >= 0")
    workers = max(1, int(workers or os.cpu_count() or 1))
    tasks = []
    for k, n_k in enumerate(_split(n_per_class, workers)):
        for label in (1, 0):  # interleave classes for load balance
            if n_k == 0:
                continue
            ps, ss = pythia_seed(seed, label, k)
            tasks.append(dict(label=label, task=k, n_jets=n_k, n_const=n_const,
                              smear=bool(smear), ss_entropy=ss.entropy,
                              pythia=pythia_settings(label, ps, pthat)))

    t0 = time.perf_counter()
    done = {0: 0, 1: 0}
    if tasks:
        ctx = mp.get_context("spawn")  # fresh interpreters: no forked C++ / thread state
        q = ctx.Queue()
        with ctx.Pool(min(workers, len(tasks)), initializer=_init_worker, initargs=(q,)) as pool:
            res = pool.map_async(_run_task, tasks, chunksize=1)
            last = 0.0
            while True:
                finished = res.ready()
                try:
                    lab, k = q.get(timeout=0.05 if finished else 0.2)
                    done[lab] += k
                    while True:  # drain what is already there, then report
                        lab, k = q.get_nowait()
                        done[lab] += k
                except queue.Empty:
                    pass
                if finished:
                    break
                if progress and time.perf_counter() - last > 0.5:
                    print(_progress_line(done, n_per_class, t0), end="", file=sys.stderr, flush=True)
                    last = time.perf_counter()
            results = res.get()
        # exact final counts (the last queue messages may still be in flight)
        done = {lab: sum(r["x"].shape[0] for r in results if r["label"] == lab) for lab in (0, 1)}
        if progress:
            print(_progress_line(done, n_per_class, t0), file=sys.stderr, flush=True)
    else:
        results = []
    wall = time.perf_counter() - t0

    results.sort(key=lambda r: (-r["label"], r["task"]))  # top tasks, then QCD, by task index
    cat = (lambda key, shape, dt: np.concatenate([r[key] for r in results])
           if results else np.zeros(shape, dt))
    x = cat("x", (0, n_const, 4), np.float32)
    meta = cat("meta", (0, 4), np.float64)
    mult = cat("mult", (0,), np.int64)
    y = (np.concatenate([np.full(r["x"].shape[0], r["label"], np.int64) for r in results])
         if results else np.zeros(0, np.int64))
    perm = np.random.default_rng(np.random.SeedSequence([int(seed), 2**31])).permutation(y.size)

    settings = dict(
        generator=f"Pythia {_pythia_version()} + FastJet {_fastjet_version()}",
        seed=int(seed), workers=workers, n_per_class=int(n_per_class), n_const=int(n_const),
        ecm_gev=ECM, pthat_gev=list(map(float, pthat)), jet_algorithm="anti-kt", jet_r=R_JET,
        jet_pt_gev=list(PT_RANGE), jet_abs_eta_max=ETA_MAX, leading_jets_per_event=N_LEADING,
        top_match="top, b and both W-daughter quarks within DeltaR < 0.8 of the jet axis",
        particles="final-state visible (no neutrinos)",
        smear=({"sigma_E": "a*sqrt(E) (+) c*E, direction kept",
                "charged": SMEAR_PARAMS[0], "photon": SMEAR_PARAMS[1],
                "neutral_hadron": SMEAR_PARAMS[2]} if smear else None),
        tasks=[dict(label=t["label"], task=t["task"], n_jets=t["n_jets"], pythia=t["pythia"])
               for t in tasks],
    )
    if stats is not None:
        stats["wall_s"] = wall
        for label in (1, 0):
            rs = [r for r in results if r["label"] == label]
            n_ev = sum(r["n_events"] for r in rs)
            stats[CLASS_NAMES[label]] = dict(
                jets=n_per_class, events=n_ev, failed=sum(r["n_failed"] for r in rs),
                worker_s=sum(r["seconds"] for r in rs),
                cpu_s=sum(r["cpu_seconds"] for r in rs),
                jets_per_event=n_per_class / n_ev if n_ev else float("nan"))
    return dict(x=x[perm], y=y[perm], jet_pt=meta[perm, 0].astype(np.float32),
                jet_eta=meta[perm, 1].astype(np.float32), jet_phi=meta[perm, 2].astype(np.float32),
                jet_mass=meta[perm, 3].astype(np.float32), n_const_total=mult[perm],
                settings=json.dumps(settings, sort_keys=True))


def _pythia_version() -> str:
    try:
        from importlib.metadata import version
        return version("pythia8mc")
    except Exception:
        return "8"


def _fastjet_version() -> str:
    try:
        import fastjet
        return fastjet.__version__
    except Exception:
        return "3"


def save_npz(path: str, data: dict) -> None:
    """Write the dict returned by :func:`generate` to a compressed ``.npz``."""
    np.savez_compressed(path, **{k: (np.array(v) if isinstance(v, str) else v)
                                 for k, v in data.items()})


def save_root(path: str, data: dict) -> None:
    """Write ``data`` as TTree ``jets`` (+ TObjString ``settings``) with uproot.

    ``x`` becomes a fixed-size float[n_const][4] branch. Raises ImportError
    if uproot is not installed (it is not a dependency of this project).
    """
    import uproot
    with uproot.recreate(path) as f:
        f["jets"] = {k: v for k, v in data.items() if k != "settings"}
        f["settings"] = data["settings"]


def _main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n-per-class", type=int, default=1000, help="jets per class (K)")
    ap.add_argument("--n-const", type=int, default=16, help="constituents per jet (N)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="processes (default: number of CPUs); the sample depends on it")
    ap.add_argument("--smear", action="store_true",
                    help="apply the simple Gaussian energy smearing (see module docstring)")
    ap.add_argument("--pthat-min", type=float, default=PTHAT_RANGE[0], help="GeV")
    ap.add_argument("--pthat-max", type=float, default=PTHAT_RANGE[1], help="GeV")
    ap.add_argument("-o", "--out", required=True, help="output .npz")
    ap.add_argument("--root", default=None, help="also write a ROOT file (needs uproot)")
    ap.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = ap.parse_args(argv)

    if args.root is not None:
        if importlib.util.find_spec("uproot") is None:
            ap.error("--root needs the 'uproot' package, which is not installed")
    st: dict = {}
    d = generate(args.n_per_class, args.n_const, args.seed, args.workers, args.smear,
                 (args.pthat_min, args.pthat_max), progress=not args.quiet, stats=st)
    save_npz(args.out, d)
    if args.root is not None:
        save_root(args.root, d)
    print(f"wrote {args.out}: x{tuple(d['x'].shape)} y{tuple(d['y'].shape)} "
          f"seed={args.seed} workers={args.workers} smear={args.smear}")
    for label in (1, 0):
        s, name = st[CLASS_NAMES[label]], CLASS_NAMES[label]
        m = d["jet_mass"][d["y"] == label]
        med = float(np.median(m)) if m.size else math.nan
        print(f"  {name}: {s['jets']} jets from {s['events']} events "
              f"({s['jets_per_event']:.3f} jets/event), "
              f"{s['jets'] / max(s['worker_s'], 1e-9):.2f} jets/s per worker "
              f"({s['jets'] / max(s['cpu_s'], 1e-9):.2f} per CPU-s), "
              f"{s['jets'] / st['wall_s']:.2f} jets/s wall; median jet mass {med:.1f} GeV")
    print(f"  total: {2 * args.n_per_class} jets in {st['wall_s']:.1f} s wall "
          f"({2 * args.n_per_class / st['wall_s']:.2f} jets/s)")


if __name__ == "__main__":
    _main()
