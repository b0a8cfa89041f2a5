"""Train, evaluate and export the Deep-Sets-over-pairs reference top tagger.

Run from the repository root::

    .venv/bin/python models/deepsets_pairs/train.py            # reproduces the shipped files
    .venv/bin/python models/deepsets_pairs/train.py --epochs 5 --seed 1 --out /tmp/dsp

Writes into ``--out`` (default: this directory):

* ``deepsets_pairs.onnx``  -- opset 17, input ``x`` [batch, 16, 4], output ``logit`` [batch, 1]
* ``samples.npz``          -- 2048 test jets (1024 per class, shuffled): ``x`` float32, ``y`` int64
* ``metrics_float.json``   -- float AUC / background rejection on the full test set, seeds, timing

Training data are TOY jets from :mod:`models.data.toyjets` (not Pythia).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from models.data import toyjets  # noqa: E402
from models.deepsets_pairs.model import HIDDEN, N_CONST, DeepSetsPairs, n_params  # noqa: E402

SYMMETRY_METADATA = {"equihls.symmetry": "perm,lorentz", "equihls.input_reps": "4vec",
                     "equihls.output_reps": "scalar"}

# Fixed data seeds (independent samples) and sizes, jets per class.
DATA = {
    "train": {"seed": 101, "n_per_class": 20000},
    "val": {"seed": 202, "n_per_class": 4000},
    "test": {"seed": 303, "n_per_class": 10000},
}
EPS_S = 0.3
N_SAMPLES_PER_CLASS = 1024


# --------------------------------------------------------------------------
# metrics (numpy only)
# --------------------------------------------------------------------------
def roc_curve(score: np.ndarray, y: np.ndarray):
    """Return (eps_B, eps_S) arrays, scanning the threshold from high to low."""
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
    eps_b, eps_s = roc_curve(score, y)
    return float(np.trapezoid(eps_s, eps_b))


def rejection_at(score: np.ndarray, y: np.ndarray, eps_s_target: float = EPS_S) -> float:
    """1 / eps_B at signal efficiency ``eps_s_target`` (linear ROC interpolation)."""
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


# --------------------------------------------------------------------------
def predict(model: nn.Module, x: np.ndarray, batch: int = 2048) -> np.ndarray:
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out.append(model(torch.from_numpy(x[i:i + batch])).numpy()[:, 0])
    return np.concatenate(out)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0, help="torch seed (init + batch order)")
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--hidden", type=int, default=HIDDEN)
    args = ap.parse_args(argv)

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    data = {k: toyjets.generate(v["n_per_class"], N_CONST, v["seed"]) for k, v in DATA.items()}
    t_gen = time.perf_counter() - t0
    print(f"generated toy jets in {t_gen:.1f} s: " +
          ", ".join(f"{k}={len(d['y'])}" for k, d in data.items()))

    model = DeepSetsPairs(hidden=args.hidden)
    print(f"DeepSetsPairs(hidden={args.hidden}): {n_params(model)} parameters")

    xtr = torch.from_numpy(data["train"]["x"])
    ytr = torch.from_numpy(data["train"]["y"]).float()
    n = len(ytr)
    steps_per_epoch = math.ceil(n / args.batch_size)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch, pct_start=0.15)
    loss_fn = nn.BCEWithLogitsLoss()
    gen = torch.Generator().manual_seed(args.seed)

    best = (-1.0, None, -1)
    t1 = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(n, generator=gen)
        tot = 0.0
        for i in range(0, n, args.batch_size):
            idx = perm[i:i + args.batch_size]
            loss = loss_fn(model(xtr[idx])[:, 0], ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(idx)
        val_auc = auc(predict(model, data["val"]["x"]), data["val"]["y"])
        if val_auc > best[0]:
            best = (val_auc, {k: v.clone() for k, v in model.state_dict().items()}, epoch)
        print(f"epoch {epoch + 1:3d}/{args.epochs}  loss {tot / n:.4f}  val AUC {val_auc:.4f}  "
              f"({time.perf_counter() - t1:.0f} s)")
    t_train = time.perf_counter() - t1
    model.load_state_dict(best[1])
    print(f"training time {t_train:.1f} s; keeping epoch {best[2] + 1} (val AUC {best[0]:.4f})")

    # ---- evaluation on the full test set
    xte, yte = data["test"]["x"], data["test"]["y"]
    s_te = predict(model, xte)
    test_auc = auc(s_te, yte)
    test_rej = rejection_at(s_te, yte)
    m_te = toyjets.jet_mass(xte)
    mass_auc = auc(-np.abs(m_te - toyjets.M_TOP), yte)
    mass_rej = rejection_at(-np.abs(m_te - toyjets.M_TOP), yte)
    print(f"float test AUC {test_auc:.4f}   1/eps_B @ eps_S={EPS_S}: {test_rej:.1f}   "
          f"(baseline |m_jet - m_top|: AUC {mass_auc:.4f}, 1/eps_B {mass_rej:.1f})")

    # ---- ONNX export + onnxruntime check
    model.eval()
    onnx_path = args.out / "deepsets_pairs.onnx"
    torch.onnx.export(model, (torch.from_numpy(xte[:2]),), str(onnx_path), dynamo=False,
                      opset_version=17, input_names=["x"], output_names=["logit"],
                      dynamic_axes={"x": {0: "batch"}, "logit": {0: "batch"}})
    import onnx
    import onnxruntime as ort

    om = onnx.load(str(onnx_path))
    # the symmetry the model is built to respect, read by `equihls compile` into the manifest
    onnx.helper.set_model_props(om, SYMMETRY_METADATA)
    onnx.save(om, str(onnx_path))
    onnx.checker.check_model(om)
    ops = [nd.op_type for nd in om.graph.node]
    print("ONNX ops:", ops)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    s_ort = np.concatenate([sess.run(None, {"x": xte[i:i + 2048]})[0][:, 0]
                            for i in range(0, len(xte), 2048)])
    max_diff = float(np.max(np.abs(s_ort - s_te)))
    print(f"onnxruntime vs torch on {len(xte)} test jets: max |diff| = {max_diff:.3g}")
    if max_diff > 1e-3:
        raise SystemExit("ONNX export mismatch")

    # ---- bundled sample events: first 256 test jets of each class, shuffled
    rng = np.random.default_rng(args.seed)
    idx = np.concatenate([np.nonzero(yte == c)[0][:N_SAMPLES_PER_CLASS] for c in (0, 1)])
    idx = idx[rng.permutation(idx.size)]
    np.savez_compressed(args.out / "samples.npz", x=xte[idx].astype(np.float32),
                        y=yte[idx].astype(np.int64))

    metrics = {
        "model": "deepsets_pairs",
        "note": "float32 reference on TOY jets (models/data/toyjets.py), not Pythia",
        "generator": "models.data.toyjets.generate(n_per_class, n_const, seed)",
        "test_auc": round(test_auc, 6),
        "eps_s": EPS_S,
        "rejection_at_eps_s": round(test_rej, 3),
        "samples_auc": round(auc(s_te[idx], yte[idx]), 6),
        "n_test": int(len(yte)),
        "baseline_mass_window": {"score": "-|m_jet - 173 GeV| (16 leading constituents)",
                                 "test_auc": round(mass_auc, 6),
                                 "rejection_at_eps_s": round(mass_rej, 3)},
        "n_params": n_params(model),
        "hidden": args.hidden,
        "epochs": args.epochs,
        "best_epoch": best[2] + 1,
        "val_auc": round(best[0], 6),
        "torch_seed": args.seed,
        "data": {k: dict(v, n_const=N_CONST) for k, v in DATA.items()},
        "onnx_ort_max_abs_diff": max_diff,
        "torch_version": torch.__version__,
    }
    # (training time is printed, not stored, so that the JSON is reproducible)
    (args.out / "metrics_float.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print("wrote", ", ".join(str(args.out / f) for f in
                             ("deepsets_pairs.onnx", "samples.npz", "metrics_float.json")))
    return metrics


if __name__ == "__main__":
    main()
