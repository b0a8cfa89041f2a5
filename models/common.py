"""Helpers shared by the reference models' ``train.py`` / ``evaluate.py`` scripts and
:mod:`models.evaluate`.

Pure numpy / torch (ONNX, ONNX Runtime, equihls and matplotlib are imported inside the functions
that need them). The numpy part (metrics, Pythia data, input grid, samples) also works without
torch, in the Keras venv (models/deepsets_keras/train.py). Conventions used throughout:

* jets ``x``: float32 or float64 [n_jets, n_const, 4] constituent four-momenta (E, px, py, pz) in
  GeV, zero rows are padding; labels ``y``: int [n_jets], 1 = top (signal), 0 = QCD (background);
* scores / logits: [n_jets], larger = more top-like; a logit of 0 is P(top) = 0.5.

Each model keeps its own recipe (seeds, sizes, epochs, learning rates) in its ``train.py``; the
functions here only remove the copies of the code around it, so every script still writes the
same files byte for byte.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

try:
    import torch
    from torch import nn
except ImportError:     # the Keras venv: only the numpy helpers are usable
    torch = nn = None

REPO = Path(__file__).resolve().parents[1]

# ----------------------------------------------------------------------------------------------
# constants shared by the top taggers
# ----------------------------------------------------------------------------------------------
EPS_S = 0.3                       # signal efficiency at which the background rejection is quoted
M_TOP = 173.0                     # GeV, centre of the mass-window baseline

# ONNX metadata_props of a Lorentz- and permutation-invariant tagger on four-vectors, read by
# `equihls compile` into the manifest
LORENTZ_TAGGER_METADATA = {"equihls.symmetry": "perm,lorentz", "equihls.input_reps": "4vec",
                           "equihls.output_reps": "scalar"}

# The Pythia 8 + FastJet top/QCD jets shared by every Pythia reference model: files
# under data/ at the repository root (git-ignored), generated on first use with these seeds, jets
# per class and number of worker processes (the sample depends on the number of workers).
PYTHIA_DATA_DIR = REPO / "data"
PYTHIA_DATA = {
    "train": {"file": "pythia_top16_train.npz", "seed": 11, "n_per_class": 2000},
    "test": {"file": "pythia_top16_test.npz", "seed": 12, "n_per_class": 1000},
}
PYTHIA_N_CONST = 16
PYTHIA_WORKERS = 2
VAL_FRACTION = 0.2                # the last 20 % of the (shuffled) training file is the validation set
INPUT_LSB = 2.0 ** -6             # GeV, the LSB of the Pythia taggers' input type ap_fixed<18,12,AP_RND>
N_SAMPLES_PER_CLASS = 256         # bundled samples.npz of the Pythia taggers: jets per class


# ----------------------------------------------------------------------------------------------
# metrics (numpy only)
# ----------------------------------------------------------------------------------------------
def roc_curve(score: np.ndarray, y: np.ndarray):
    """ROC of `score` [n] against labels `y` [n] (1 = signal).

    Returns ``(eps_B, eps_S)``, two float64 arrays of the same length (one point per distinct
    score plus the origin), scanning the threshold from high to low: background and signal
    efficiencies (fractions in [0, 1]) of ``score >= threshold``.
    """
    score = np.asarray(score, np.float64)
    y = np.asarray(y)
    order = np.argsort(-score, kind="mergesort")
    s, yy = score[order], y[order]
    # keep the last index of each block of tied scores
    last = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]
    tp = np.cumsum(yy == 1)[last]
    fp = np.cumsum(yy == 0)[last]
    eps_s = np.r_[0.0, tp / max(tp[-1], 1)]
    eps_b = np.r_[0.0, fp / max(fp[-1], 1)]
    return eps_b, eps_s


def auc(score: np.ndarray, y: np.ndarray) -> float:
    """Area under the ROC curve (eps_S vs eps_B, trapezoidal), in [0, 1]; 0.5 = no separation."""
    eps_b, eps_s = roc_curve(score, y)
    return float(np.trapezoid(eps_s, eps_b))


def rejection_at(score: np.ndarray, y: np.ndarray, eps_s_target: float = EPS_S) -> float:
    """Background rejection 1 / eps_B at signal efficiency ``eps_s_target`` (linear ROC
    interpolation); ``inf`` when no background passes."""
    eps_b, eps_s = roc_curve(score, y)
    # eps_s is non-decreasing; take the first point reaching the target and
    # interpolate with the previous one
    k = int(np.searchsorted(eps_s, eps_s_target, side="left"))
    if k == 0:
        eb = eps_b[0]
    else:
        s0, s1, b0, b1 = eps_s[k - 1], eps_s[k], eps_b[k - 1], eps_b[k]
        eb = b1 if s1 == s0 else b0 + (b1 - b0) * (eps_s_target - s0) / (s1 - s0)
    return float("inf") if eb <= 0 else float(1.0 / eb)


def accuracy(score: np.ndarray, y: np.ndarray) -> float:
    """Fraction of jets on the right side of logit 0 (P(top) = 0.5); `score` [n] logits, `y` [n]."""
    return float(np.mean((np.asarray(score) > 0) == (np.asarray(y) == 1)))


def metrics(score: np.ndarray, y: np.ndarray) -> dict:
    """``{"auc", "accuracy", "rejection_at_eps_s"}`` of logits `score` [n] against `y` [n],
    rounded to 6, 6 and 3 decimals (1/eps_B at eps_S = EPS_S)."""
    return {"auc": round(auc(score, y), 6), "accuracy": round(accuracy(score, y), 6),
            "rejection_at_eps_s": round(rejection_at(score, y), 3)}


def mass_window_baseline(x: np.ndarray, y: np.ndarray) -> dict:
    """Metrics of the score -|m_jet - M_TOP| (`x` [n, n_const, 4] GeV) without "accuracy": a
    score, not a logit, has no natural threshold."""
    base = metrics(-np.abs(jet_mass(x) - M_TOP), y)
    del base["accuracy"]
    return base


def roc_plot(path: Path, curves: dict, title: str) -> None:
    """PNG at `path` (4.6 x 3.6 in, 100 dpi; needs matplotlib): background rejection 1/eps_B (log
    scale) vs signal efficiency eps_S for each legend label -> (score [n], y [n]) in `curves`,
    drawn solid, dashed, dotted in that order, with a grey line at eps_S = EPS_S."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 3.6), dpi=100)
    for (name, (score, y)), style in zip(curves.items(), ("-", "--", ":")):
        eps_b, eps_s = roc_curve(score, y)
        ok = eps_b > 0
        ax.plot(eps_s[ok], 1.0 / eps_b[ok], style, lw=1.4, label=name)
    ax.axvline(EPS_S, color="0.7", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_xlabel(r"signal efficiency $\epsilon_S$ (top)")
    ax.set_ylabel(r"background rejection $1/\epsilon_B$ (QCD)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, which="both", lw=0.5)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ----------------------------------------------------------------------------------------------
# jets and input grids
# ----------------------------------------------------------------------------------------------
def jet_mass(x: np.ndarray) -> np.ndarray:
    """Invariant mass in GeV [n] of the sum of the constituents of `x` [n, n_const, 4] (GeV),
    in float64; a (rounding-)negative m^2 gives 0."""
    j = np.asarray(x, np.float64).sum(axis=1)
    return np.sqrt(np.maximum(j[:, 0] ** 2 - (j[:, 1:] ** 2).sum(axis=1), 0.0))


def to_input_grid(x: np.ndarray, lsb: float = INPUT_LSB) -> np.ndarray:
    """`x` (any shape, GeV) rounded to the nearest multiple of `lsb` (GeV), ties up like ap_fixed
    AP_RND, as float64 of the same shape (no saturation)."""
    return np.floor(np.asarray(x, np.float64) / lsb + 0.5) * lsb


def input_overflow_count(x: np.ndarray, in_t) -> int:
    """Number of events of `x` [n, ...] with a component outside [in_t.min, in_t.max] (an
    equihls FixedType, same units as `x`), compared in float64."""
    flat = np.asarray(x).reshape(len(x), -1).astype(np.float64)
    return int((~((flat >= in_t.min) & (flat <= in_t.max)).all(axis=1)).sum())


def load_pythia_jets(split: str) -> dict:
    """The Pythia jets of `split` ('train' or 'test', see PYTHIA_DATA): ``{"x": float32 [n, 16, 4]
    GeV, "y": int [n], ...}`` read from data/, generated first (minutes) if the file is missing."""
    spec = PYTHIA_DATA[split]
    path = PYTHIA_DATA_DIR / spec["file"]
    if not path.exists():
        from models.data import pythia_jets
        print(f"{path} missing: generating {spec['n_per_class']} jets/class (seed {spec['seed']}, "
              f"{PYTHIA_WORKERS} workers) ...", flush=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        pythia_jets.save_npz(str(path), pythia_jets.generate(spec["n_per_class"], PYTHIA_N_CONST, spec["seed"],
                                                             workers=PYTHIA_WORKERS))
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def pythia_data_record() -> dict:
    """The ``"data"`` entry of a Pythia tagger's metrics json: per split file, seed, sizes."""
    return {k: {"file": f"data/{v['file']}", "seed": v["seed"], "n_per_class": v["n_per_class"],
                "n_const": PYTHIA_N_CONST, "workers": PYTHIA_WORKERS} for k, v in PYTHIA_DATA.items()}


def pythia_splits() -> tuple:
    """``(xtr, ytr, xva, yva, xte, yte)``: the Pythia training file split into training and
    validation (its last VAL_FRACTION), and the test file; x float32 [n, 16, 4] GeV, y int [n]."""
    train, test = load_pythia_jets("train"), load_pythia_jets("test")
    n_val = int(round(VAL_FRACTION * len(train["y"])))
    x_all, y_all = train["x"], train["y"]
    return (x_all[:-n_val], y_all[:-n_val], x_all[-n_val:], y_all[-n_val:], test["x"], test["y"])


def balanced_sample_indices(y: np.ndarray, n_per_class: int, seed: int) -> np.ndarray:
    """Indices [2 * n_per_class] of the first `n_per_class` events of class 0 and of class 1 in
    `y` [n], shuffled with ``numpy.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    idx = np.concatenate([np.nonzero(y == c)[0][:n_per_class] for c in (0, 1)])
    return idx[rng.permutation(idx.size)]


def save_jet_samples(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    """Compressed ``samples.npz`` with ``x`` float32 [n, n_const, 4] and ``y`` int64 [n]."""
    np.savez_compressed(path, x=x.astype(np.float32), y=y.astype(np.int64))


def write_json(path: Path, obj: dict) -> None:
    """`obj` as indented JSON (2 spaces, key order kept) plus a newline; training times belong
    on stdout, not here, so that the file is reproducible."""
    Path(path).write_text(json.dumps(obj, indent=2) + "\n")


# ----------------------------------------------------------------------------------------------
# torch: inference and the training loop
# ----------------------------------------------------------------------------------------------
def n_params(model: nn.Module) -> int:
    """Number of trainable-parameter scalars of `model`."""
    return sum(p.numel() for p in model.parameters())


def predict(model: nn.Module, x: np.ndarray, batch: int = 1000, column: int | None = 0) -> np.ndarray:
    """`model` in eval mode on `x` [n, ...] (cast to float32) in batches of `batch`, no grad.

    Returns output column `column` as [n] (the logit of a tagger), or with ``column=None`` the
    whole output [n, ...].
    """
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            o = model(torch.from_numpy(np.asarray(x[i:i + batch], np.float32))).numpy()
            out.append(o if column is None else o[:, column])
    return np.concatenate(out)


def check_forward_reference(model: nn.Module, xte: np.ndarray, float64: bool = False, n: int = 500,
                            tol: float = 1e-4) -> float:
    """max |model(x) - model.forward_reference(x)| on the first `n` test jets `xte` [n, 16, 4] GeV:
    a factorised forward against its textbook form, in float64 on a copy of the model when
    `float64` (where float32 summation orders differ by more than `tol`). Prints it, exits above
    `tol`, returns it (a ``reference_check`` for :func:`train_pythia_tagger`)."""
    import copy

    with torch.no_grad():
        m = copy.deepcopy(model).double() if float64 else model
        xt = torch.from_numpy(xte[:n])
        xt = xt.double() if float64 else xt
        ref_diff = float((m(xt) - m.forward_reference(xt)).abs().max())
    print(f"forward vs forward_reference ({n} test jets{', float64' if float64 else ''}): max |diff| = {ref_diff:.3g}")
    if ref_diff > tol:
        raise SystemExit("factorised forward disagrees with the reference form")
    return ref_diff


def seed_everything(seed: int, out: Path) -> None:
    """One torch thread (reproducible sums), ``torch.manual_seed(seed)`` and create `out`."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    out.mkdir(parents=True, exist_ok=True)


def logit_bce(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of the logits ``out[:, 0]`` [batch] against 0/1 `target` [batch]."""
    return nn.functional.binary_cross_entropy_with_logits(out[:, 0], target)


class FitResult(NamedTuple):
    best: float        # the best validation value
    epoch: int         # its epoch, 0-based
    seconds: float     # wall time of the whole loop


def fit(model: nn.Module, x: torch.Tensor, t: torch.Tensor, *, epochs: int, lr: float, batch_size: int,
        seed: int, validate: Callable[[nn.Module], float], loss_fn: Callable = logit_bce,
        schedule: str = "onecycle", mode: str = "max", log_every: int = 1, log_name: str = "val AUC",
        fmt: str = ".4f", indent: str = "") -> FitResult:
    """Seeded mini-batch training with best-epoch selection; leaves `model` at its best epoch.

    `x` [n, ...] inputs and `t` [n, ...] targets (float32 tensors), ``loss_fn(model(x[idx]),
    t[idx])`` a scalar; Adam at `lr` with a one-cycle (``schedule="onecycle"``, 15 % warm-up)
    or cosine (``"cosine"``) schedule over all steps; batch order from a torch Generator seeded
    with `seed`. After every epoch ``validate(model)`` is computed and the state of the best
    epoch (``mode="max"``: largest, ``"min"``: smallest; first one on ties) is kept and restored
    at the end. Prints one line every `log_every` epochs (and after the first).
    """
    n = len(t)
    steps = epochs * math.ceil(n / batch_size)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    if schedule == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    elif schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    else:
        raise ValueError(f"unknown schedule {schedule!r}")
    better = (lambda a, b: a > b) if mode == "max" else (lambda a, b: a < b)
    gen = torch.Generator().manual_seed(seed)
    best = (-1.0 if mode == "max" else math.inf, None, -1)
    t1 = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(n, generator=gen)
        tot = 0.0
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            loss = loss_fn(model(x[idx]), t[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(idx)
        val = validate(model)
        if better(val, best[0]):
            best = (val, {k: v.clone() for k, v in model.state_dict().items()}, epoch)
        if (epoch + 1) % log_every == 0 or epoch == 0:
            print(f"{indent}epoch {epoch + 1:3d}/{epochs}  loss {tot / n:{fmt}}  {log_name} {val:{fmt}}  "
                  f"({time.perf_counter() - t1:.0f} s)", flush=True)
    model.load_state_dict(best[1])
    return FitResult(best[0], best[2], time.perf_counter() - t1)


# ----------------------------------------------------------------------------------------------
# ONNX
# ----------------------------------------------------------------------------------------------
def finish_onnx(om, path: Path, metadata: dict):
    """Set `metadata` as the ModelProto's metadata_props (the symmetry the model is built to
    respect, read by `equihls compile` into the manifest), check it and save it to `path`."""
    import onnx

    onnx.helper.set_model_props(om, metadata)
    onnx.checker.check_model(om)
    onnx.save(om, str(path))
    return om


def save_weights(model: nn.Module, path: Path) -> None:
    """The trained state_dict as float32 arrays in an .npz (no pickle): the checkpoint a physicist
    keeps, from which the model can be exported again with either torch exporter."""
    np.savez(str(path), **{k: v.detach().cpu().numpy() for k, v in model.state_dict().items()})


def load_weights(model: nn.Module, path: Path) -> nn.Module:
    """`model` (built with the card's hyper-parameters) with the state_dict of :func:`save_weights`
    file `path`, in eval mode."""
    with np.load(str(path)) as z:
        model.load_state_dict({k: torch.from_numpy(z[k]) for k in z.files})
    return model.eval()


def export_equihls(model: nn.Module, x_example: np.ndarray, path: Path, metadata: dict,
                   output_name: str = "logit"):
    """``equihls.ops.torch_ops.export`` (opset 17 + equihls functions) of `model` in eval mode with
    input ``x`` [batch, ...] and output `output_name` [batch, ...] (dynamic batch), then
    :func:`finish_onnx`; returns the ModelProto."""
    from equihls.ops.torch_ops import export

    model.eval()
    om = export(model, (torch.from_numpy(x_example),), str(path), input_names=["x"],
                output_names=[output_name], dynamic_axes={"x": {0: "batch"}, output_name: {0: "batch"}})
    return finish_onnx(om, path, metadata)


def export_torch(model: nn.Module, x_example: np.ndarray, path: Path, metadata: dict,
                 output_name: str = "logit"):
    """Plain ``torch.onnx.export`` (TorchScript exporter, opset 17; no equihls ops, so the
    compiler has to recognise what PyTorch wrote) of `model` in eval mode with input ``x``
    [batch, ...] and output `output_name` [batch, ...] (dynamic batch), then :func:`finish_onnx`;
    returns the ModelProto."""
    import onnx

    model.eval()
    torch.onnx.export(model, (torch.from_numpy(x_example),), str(path), dynamo=False, opset_version=17,
                      input_names=["x"], output_names=[output_name],
                      dynamic_axes={"x": {0: "batch"}, output_name: {0: "batch"}})
    return finish_onnx(onnx.load(str(path)), path, metadata)


def onnx_ops(om, skip_constant: bool = True) -> list:
    """op_type of every graph node, in order (without Constant nodes unless told)."""
    return [nd.op_type for nd in om.graph.node if not (skip_constant and nd.op_type == "Constant")]


def ort_session(source):
    """Single-threaded CPU ONNX Runtime session of `source` (a path or serialised model bytes)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(source if isinstance(source, bytes) else str(source), so,
                                providers=["CPUExecutionProvider"])


def check_ort(sess, x: np.ndarray, ref: np.ndarray, tol: float, what: str, batch: int | None = None,
              column: int | None = 0) -> float:
    """max |ONNX Runtime - `ref`| of `sess` on input ``x`` = `x` [n, ...] (float32, in batches of
    `batch` if given; output column `column`, or all with None) against `ref`; prints it with
    `what` ("onnxruntime vs torch on N test jets") and exits above `tol`."""
    xs = [x] if batch is None else [x[i:i + batch] for i in range(0, len(x), batch)]
    outs = [sess.run(None, {"x": xb.astype(np.float32)})[0] for xb in xs]
    s = np.concatenate([o if column is None else o[:, column] for o in outs])
    max_diff = float(np.max(np.abs(s - ref)))
    print(f"{what}: max |diff| = {max_diff:.3g}")
    if max_diff > tol:
        raise SystemExit("ONNX export mismatch")
    return max_diff


# ----------------------------------------------------------------------------------------------
# the Pythia top taggers (pelican_nano, lorentznet_lite): train.py core
# ----------------------------------------------------------------------------------------------
def train_pythia_tagger(argv, *, doc: str, name: str, here: Path, add_args: Callable,
                        build: Callable, hparams: Callable, reference_check: Callable | None = None,
                        extra_metrics: Callable | None = None, export: Callable | None = None) -> dict:
    """The whole train.py of a float Pythia tagger with a logit output.

    Parses ``--epochs 250 --seed 0 --out here --batch-size 128 --lr 1e-2`` plus ``add_args(ap)``;
    ``build(args)`` makes the model (and prints it), ``hparams(args)`` the model-size entries of
    the metrics json, ``reference_check(model, xte)`` compares the model with its textbook form
    (prints, exits on mismatch, returns the max |diff|; optional), ``extra_metrics(model)`` optional
    json entries after "split", ``export(model, x_example, path, metadata)`` the ONNX exporter
    (default :func:`export_equihls`; returns the ModelProto). Trains on the inputs on the
    INPUT_LSB grid, keeps the best validation AUC epoch, and writes ``<name>.onnx``,
    ``<name>.weights.npz`` (:func:`save_weights`), ``samples.npz`` and ``metrics_float.json`` to --out.
    """
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=250)
    ap.add_argument("--seed", type=int, default=0, help="torch seed (init + batch order)")
    ap.add_argument("--out", type=Path, default=here)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-2)
    add_args(ap)
    args = ap.parse_args(argv)
    seed_everything(args.seed, args.out)

    t0 = time.perf_counter()
    xtr, ytr, xva, yva, xte, yte = pythia_splits()
    print(f"Pythia jets: train {len(ytr)}, val {len(yva)}, test {len(yte)} "
          f"({time.perf_counter() - t0:.1f} s)")

    model = build(args)
    xtr_t = torch.from_numpy(to_input_grid(xtr).astype(np.float32))
    xva_q = to_input_grid(xva)
    ytr_t = torch.from_numpy(ytr).float()
    fr = fit(model, xtr_t, ytr_t, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
             validate=lambda m: auc(predict(m, xva_q), yva), log_every=25)
    print(f"training time {fr.seconds:.1f} s; keeping epoch {fr.epoch + 1} (val AUC {fr.best:.4f})")

    # ---- evaluation on the full test set: raw float32 jets, and the same jets on the input grid
    s_te = predict(model, xte)
    s_te_q = predict(model, to_input_grid(xte))
    m_float, m_grid = metrics(s_te, yte), metrics(s_te_q, yte)
    base = mass_window_baseline(xte, yte)
    print(f"float test (raw jets):      AUC {m_float['auc']:.4f}  acc {m_float['accuracy']:.4f}  "
          f"1/eps_B @ eps_S={EPS_S}: {m_float['rejection_at_eps_s']:.1f}")
    print(f"float test (2^-6 GeV grid): AUC {m_grid['auc']:.4f}  acc {m_grid['accuracy']:.4f}  "
          f"1/eps_B: {m_grid['rejection_at_eps_s']:.1f}")
    print(f"baseline -|m_16 - {M_TOP:g} GeV|: AUC {base['auc']:.4f}  1/eps_B {base['rejection_at_eps_s']:.1f}")
    ref_diff = reference_check(model, xte) if reference_check else None

    # ---- ONNX export + onnxruntime check
    onnx_path = args.out / f"{name}.onnx"
    om = (export or export_equihls)(model, xte[:2], onnx_path, LORENTZ_TAGGER_METADATA)
    save_weights(model, args.out / f"{name}.weights.npz")
    ops = onnx_ops(om)
    print("ONNX ops (without Constant):", ops)
    max_diff = check_ort(ort_session(onnx_path), xte, s_te, 1e-3,
                         f"onnxruntime vs torch on {len(xte)} test jets")

    # ---- bundled sample events: first 256 test jets of each class, shuffled
    idx = balanced_sample_indices(yte, N_SAMPLES_PER_CLASS, args.seed)
    save_jet_samples(args.out / "samples.npz", xte[idx], yte[idx])

    metrics_out = {
        "model": name,
        "note": "float32 reference on Pythia 8 + FastJet jets (models/data/pythia_jets.py), no detector",
        "generator": "models.data.pythia_jets.generate(n_per_class, n_const=16, seed, workers=2)",
        "test": m_float,
        "test_on_input_grid": dict(m_grid, input_lsb_gev=INPUT_LSB, rounding="nearest, ties up (AP_RND)"),
        "eps_s": EPS_S,
        "samples": metrics(s_te[idx], yte[idx]),
        "n_test": int(len(yte)),
        "baseline_mass_window": dict(base, score="-|m_jet - 173 GeV| (16 leading constituents)"),
        "n_params": n_params(model),
        **hparams(args),
        "epochs": args.epochs,
        "best_epoch": fr.epoch + 1,
        "val_auc": round(fr.best, 6),
        "torch_seed": args.seed,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "training_inputs": f"rounded to multiples of {INPUT_LSB} GeV (ties up)",
        "data": pythia_data_record(),
        "split": {"train": int(len(ytr)), "val": int(len(yva)), "val_is": "last 20% of the train file"},
        **(extra_metrics(model) if extra_metrics else {}),
        "onnx_ops": ops,
        "onnx_ort_max_abs_diff": max_diff,
        **({} if ref_diff is None else {"forward_vs_reference_max_abs_diff": ref_diff}),
        "torch_version": torch.__version__,
    }
    write_json(args.out / "metrics_float.json", metrics_out)
    print("wrote", ", ".join(str(args.out / f) for f in (f"{name}.onnx", "samples.npz", "metrics_float.json")))
    return metrics_out


# ----------------------------------------------------------------------------------------------
# the Pythia top taggers: float ONNX vs bit-accurate C simulation (driven by models/evaluate.py)
# ----------------------------------------------------------------------------------------------
def float_onnx_session(path: Path):
    """ONNX Runtime session of a float reference model; QONNX ``Quant`` nodes are rewritten
    into standard ops (:func:`equihls.frontend.qonnx_quant.standard_ops`, a no-op without them)."""
    import onnx
    import onnxruntime as ort

    from equihls.frontend.qonnx_quant import standard_ops
    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(standard_ops(onnx.load(str(path))).SerializeToString(), so,
                                providers=["CPUExecutionProvider"])


def has_quant_nodes(path: Path) -> bool:
    """Whether the ONNX model at `path` has QONNX ``Quant`` nodes (a fake-quantised reference)."""
    import onnx
    return any(nd.op_type == "Quant" for nd in onnx.load(str(path)).graph.node)


def evaluate_pythia_tagger(project: str, *, name: str, float_session, samples: Path,
                           float_label: str = "float32", references: dict | None = None,
                           note: str | None = None, json_out: Path | None = None,
                           roc: Path | None = None, grid_scan: bool = False) -> dict:
    """Float vs. C-sim metrics of the compiled tagger `project` (a directory).

    ``float_session`` is the ONNX Runtime session of the float reference (input ``x``
    [n, 16, 4] float32 GeV, output logit [n, 1]); ``references`` optional label -> session of
    further float models, reported first. On the Pythia test jets and the `samples` npz it
    compares float (raw jets and jets on the input type's grid) with the project's C simulation:
    AUC, accuracy (logit > 0), 1/eps_B at eps_S = EPS_S, input overflows, |C-sim - float| logits
    (printed as JSON and a table). `json_out` writes the JSON, `roc` the test-set ROC as
    `float_label` vs C-sim (matplotlib); `grid_scan` adds the float AUC on test jets rounded /
    truncated to 2^-4..2^-10 GeV and with massless constituents. Returns the metrics dict.
    """
    from equihls.project import Project

    refs = references or {}
    prj = Project(project)
    in_t = prj.input_type(0)

    def run(s, xx):
        return s.run(None, {"x": np.asarray(xx, np.float32)})[0][:, 0]

    test = load_pythia_jets("test")
    smp = np.load(samples)
    sets = {"test": (test["x"], test["y"]), "samples": (smp["x"], smp["y"])}
    out = {"model": name, "project": str(project), "input_type": str(in_t), "output_type": str(prj.output_type(0)),
           "eps_s": EPS_S}
    scores = {}
    for set_name, (x, y) in sets.items():
        x32 = np.asarray(x, np.float32)
        x_grid = in_t.quantize(x32.astype(np.float64)).astype(np.float32)   # exactly what the port sees
        s_f, s_g = run(float_session, x32), run(float_session, x_grid)
        s_refs = {k: run(s, x32) for k, s in refs.items()}
        t0 = time.perf_counter()
        s_c = prj.run(x32.astype(np.float64))[0][:, 0]
        t_c = time.perf_counter() - t0
        out[set_name] = {
            "jets": int(len(y)), "input_overflow_jets": input_overflow_count(x32, in_t),
            **{k: metrics(s, y) for k, s in s_refs.items()},
            "float": metrics(s_f, y), "float_on_input_grid": metrics(s_g, y), "csim": metrics(s_c, y),
            "csim_vs_float_logit": {"max_abs": float(np.abs(s_c - s_f).max()),
                                    "mean_abs": float(np.abs(s_c - s_f).mean())},
            "csim_vs_float_on_grid_logit": {"max_abs": float(np.abs(s_c - s_g).max()),
                                            "mean_abs": float(np.abs(s_c - s_g).mean())},
            "csim_s": round(t_c, 2),
        }
        scores[set_name] = (s_f, s_c, y)
    print(json.dumps(out, indent=2))
    for set_name in sets:
        r = out[set_name]
        print(f"\n{name}, {set_name} ({r['jets']} jets, {r['input_overflow_jets']} outside {in_t}):")
        print(f"  {'':22s} {'AUC':>8s} {'acc':>8s} {'1/eps_B':>8s}")
        for k in (*refs, "float", "float_on_input_grid", "csim"):
            m = r[k]
            print(f"  {k:22s} {m['auc']:8.4f} {m['accuracy']:8.4f} {m['rejection_at_eps_s']:8.1f}")
        if note:
            print(f"  {note}")
        print(f"  delta AUC (C-sim - float) = {r['csim']['auc'] - r['float']['auc']:+.4f}")
    if grid_scan:
        x64, y = test["x"].astype(np.float64), test["y"]
        scan = {}
        for b in (4, 6, 8, 10):
            q = 2.0 ** b
            scan[f"2^-{b}"] = {"round": round(auc(run(float_session, np.floor(x64 * q + 0.5) / q), y), 4),
                               "floor": round(auc(run(float_session, np.floor(x64 * q) / q), y), 4)}
        xm = x64.copy()
        xm[..., 0] = np.where(x64[..., 0] > 0, np.linalg.norm(x64[..., 1:], axis=-1), 0.0)
        scan["massless (E = |p|)"] = round(auc(run(float_session, xm), y), 4)
        out["test_float_auc_input_grid_scan"] = scan
        print("\nfloat AUC on the test jets on input grids (GeV):", json.dumps(scan))
    if json_out:
        write_json(json_out, out)
    if roc:
        s_f, s_c, y = scores["test"]
        roc_plot(roc, {f"{float_label} (AUC {out['test']['float']['auc']:.4f})": (s_f, y),
                       f"C-sim {in_t} (AUC {out['test']['csim']['auc']:.4f})": (s_c, y)},
                 f"{name}, Pythia test jets ({len(y)}), vu9p C-sim")
        print(f"wrote {roc}")
    return out
