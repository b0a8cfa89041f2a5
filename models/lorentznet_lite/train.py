"""Train, evaluate and export the LorentzNet-lite reference top tagger on Pythia 8 jets.

Run from the repository root::

    .venv/bin/python models/lorentznet_lite/train.py            # reproduces the shipped files
    .venv/bin/python models/lorentznet_lite/train.py --epochs 50 --seed 1 --out /tmp/ll

Data: the same Pythia 8 + FastJet jets as pelican_nano (:mod:`models.data.pythia_jets`, 16
constituents), read from ``data/pelican_nano_{train,test}.npz`` at the repository root (not
shipped: ~1.5 MB, git-ignored location). A missing file is generated first with the fixed seeds below and 2 worker processes
(the sample depends on the number of workers), identical to::

    .venv/bin/python -m models.data.pythia_jets --n-per-class 2000 --n-const 16 --seed 11 --workers 2 --out data/pelican_nano_train.npz
    .venv/bin/python -m models.data.pythia_jets --n-per-class 1000 --n-const 16 --seed 12 --workers 2 --out data/pelican_nano_test.npz

(about 100 s and 70 s on 2 cores). The last 20 % of the (shuffled) training file is the
validation set used to pick the epoch.

Training sees the inputs on the firmware's input grid: every component is rounded to the
nearest multiple of INPUT_LSB = 2^-6 GeV (half up, like ``ap_fixed<18,12,AP_RND>``): quantising
E and p separately gives the small invariants (m_i^2 = d_ii, collinear d_ij) errors ~ E 2^-7 GeV^2,
larger than the values themselves, so a model trained on raw floats leans on features the
firmware cannot see (see pelican_nano/README.md). The float reference numbers are on the raw
float32 test jets.

Writes into ``--out`` (default: this directory):

* ``lorentznet_lite.onnx`` -- opset 17, input ``x`` [batch, 16, 4], output ``logit`` [batch, 1]
* ``samples.npz``         -- 512 test jets (the first 256 of each class, shuffled): ``x`` float32, ``y`` int64
* ``metrics_float.json``  -- float metrics on the full test set, seeds, sizes, ONNX ops
"""

from __future__ import annotations

import argparse
import copy
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

from models.deepsets_pairs.train import EPS_S, auc, rejection_at  # noqa: E402
from models.lorentznet_lite.model import EDGE, HIDDEN, N_CONST, LorentzNetLite, n_params  # noqa: E402

SYMMETRY_METADATA = {"equihls.symmetry": "perm,lorentz", "equihls.input_reps": "4vec",
                     "equihls.output_reps": "scalar"}

DATA_DIR = REPO / "data"
# Pythia jets per class, generator seed; generated with workers=2
DATA = {
    "train": {"file": "pelican_nano_train.npz", "seed": 11, "n_per_class": 2000},
    "test": {"file": "pelican_nano_test.npz", "seed": 12, "n_per_class": 1000},
}
WORKERS = 2
VAL_FRACTION = 0.2
INPUT_LSB = 2.0 ** -6          # the LSB of the input type ap_fixed<18,12,AP_RND>
N_SAMPLES_PER_CLASS = 256
M_TOP = 173.0


def load_jets(split: str) -> dict:
    """The Pythia jets of `split` ('train' or 'test'), generated on first use."""
    spec = DATA[split]
    path = DATA_DIR / spec["file"]
    if not path.exists():
        from models.data import pythia_jets
        print(f"{path} missing: generating {spec['n_per_class']} jets/class (seed {spec['seed']}, "
              f"{WORKERS} workers) ...", flush=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        pythia_jets.save_npz(str(path), pythia_jets.generate(spec["n_per_class"], N_CONST, spec["seed"],
                                                             workers=WORKERS))
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def to_input_grid(x: np.ndarray, lsb: float = INPUT_LSB) -> np.ndarray:
    """Round to the nearest multiple of lsb, ties up (ap_fixed AP_RND), in float64."""
    return np.floor(np.asarray(x, np.float64) / lsb + 0.5) * lsb


def jet_mass(x: np.ndarray) -> np.ndarray:
    j = np.asarray(x, np.float64).sum(axis=1)
    return np.sqrt(np.maximum(j[:, 0] ** 2 - (j[:, 1:] ** 2).sum(axis=1), 0.0))


def accuracy(score: np.ndarray, y: np.ndarray) -> float:
    """Fraction of jets on the right side of logit 0 (P(top) = 0.5)."""
    return float(np.mean((np.asarray(score) > 0) == (np.asarray(y) == 1)))


def metrics(score: np.ndarray, y: np.ndarray) -> dict:
    return {"auc": round(auc(score, y), 6), "accuracy": round(accuracy(score, y), 6),
            "rejection_at_eps_s": round(rejection_at(score, y), 3)}


def predict(model: nn.Module, x: np.ndarray, batch: int = 1000) -> np.ndarray:
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out.append(model(torch.from_numpy(np.asarray(x[i:i + batch], np.float32))).numpy()[:, 0])
    return np.concatenate(out)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=250)
    ap.add_argument("--seed", type=int, default=0, help="torch seed (init + batch order)")
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--hidden", type=int, default=HIDDEN)
    ap.add_argument("--edge", type=int, default=EDGE)
    args = ap.parse_args(argv)

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    train, test = load_jets("train"), load_jets("test")
    n_val = int(round(VAL_FRACTION * len(train["y"])))
    x_all, y_all = train["x"], train["y"]
    xtr, ytr = x_all[:-n_val], y_all[:-n_val]
    xva, yva = x_all[-n_val:], y_all[-n_val:]
    xte, yte = test["x"], test["y"]
    print(f"Pythia jets: train {len(ytr)}, val {len(yva)}, test {len(yte)} "
          f"({time.perf_counter() - t0:.1f} s)")

    model = LorentzNetLite(hidden=args.hidden, edge=args.edge)
    print(f"LorentzNetLite(hidden={args.hidden}, edge={args.edge}): {n_params(model)} parameters")

    xtr_t = torch.from_numpy(to_input_grid(xtr).astype(np.float32))
    xva_q = to_input_grid(xva)
    ytr_t = torch.from_numpy(ytr).float()
    n = len(ytr_t)
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
            loss = loss_fn(model(xtr_t[idx])[:, 0], ytr_t[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(idx)
        val_auc = auc(predict(model, xva_q), yva)
        if val_auc > best[0]:
            best = (val_auc, {k: v.clone() for k, v in model.state_dict().items()}, epoch)
        if (epoch + 1) % 25 == 0 or epoch == 0:
            print(f"epoch {epoch + 1:3d}/{args.epochs}  loss {tot / n:.4f}  val AUC {val_auc:.4f}  "
                  f"({time.perf_counter() - t1:.0f} s)", flush=True)
    t_train = time.perf_counter() - t1
    model.load_state_dict(best[1])
    print(f"training time {t_train:.1f} s; keeping epoch {best[2] + 1} (val AUC {best[0]:.4f})")

    # ---- evaluation on the full test set: raw float32 jets, and the same jets on the input grid
    s_te = predict(model, xte)
    s_te_q = predict(model, to_input_grid(xte))
    m_float, m_grid = metrics(s_te, yte), metrics(s_te_q, yte)
    mj = jet_mass(xte)
    base = metrics(-np.abs(mj - M_TOP), yte)
    del base["accuracy"]          # a score, not a logit: no natural threshold
    print(f"float test (raw jets):      AUC {m_float['auc']:.4f}  acc {m_float['accuracy']:.4f}  "
          f"1/eps_B @ eps_S={EPS_S}: {m_float['rejection_at_eps_s']:.1f}")
    print(f"float test (2^-6 GeV grid): AUC {m_grid['auc']:.4f}  acc {m_grid['accuracy']:.4f}  "
          f"1/eps_B: {m_grid['rejection_at_eps_s']:.1f}")
    print(f"baseline -|m_16 - {M_TOP:g} GeV|: AUC {base['auc']:.4f}  1/eps_B {base['rejection_at_eps_s']:.1f}")

    # the factorised forward is the textbook Linear(2H+2, E) edge MLP (compared in float64: in
    # float32 the two summation orders differ by ~1e-4 on the largest logits)
    with torch.no_grad():
        m64 = copy.deepcopy(model).double()
        xt = torch.from_numpy(xte[:500]).double()
        ref_diff = float((m64(xt) - m64.forward_reference(xt)).abs().max())
    print(f"forward vs forward_reference (500 test jets, float64): max |diff| = {ref_diff:.3g}")
    if ref_diff > 1e-4:
        raise SystemExit("factorised forward disagrees with the reference form")

    # ---- ONNX export (equihls::ScalarProducts node + its function) + onnxruntime check
    import onnx
    import onnxruntime as ort

    from equihls.torch_ops import export

    model.eval()
    onnx_path = args.out / "lorentznet_lite.onnx"
    om = export(model, (torch.from_numpy(xte[:2]),), str(onnx_path), input_names=["x"],
                output_names=["logit"], dynamic_axes={"x": {0: "batch"}, "logit": {0: "batch"}})
    # the symmetry the model is built to respect, read by `equihls compile` into the manifest
    onnx.helper.set_model_props(om, SYMMETRY_METADATA)
    onnx.checker.check_model(om)
    onnx.save(om, str(onnx_path))
    ops = [nd.op_type for nd in om.graph.node if nd.op_type != "Constant"]
    print("ONNX ops (without Constant):", ops)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    s_ort = sess.run(None, {"x": xte.astype(np.float32)})[0][:, 0]
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

    metrics_out = {
        "model": "lorentznet_lite",
        "note": "float32 reference on Pythia 8 + FastJet jets (models/data/pythia_jets.py), no detector",
        "generator": "models.data.pythia_jets.generate(n_per_class, n_const=16, seed, workers=2)",
        "test": m_float,
        "test_on_input_grid": dict(m_grid, input_lsb_gev=INPUT_LSB, rounding="nearest, ties up (AP_RND)"),
        "eps_s": EPS_S,
        "samples": metrics(s_te[idx], yte[idx]),
        "n_test": int(len(yte)),
        "baseline_mass_window": dict(base, score="-|m_jet - 173 GeV| (16 leading constituents)"),
        "n_params": n_params(model),
        "hidden": args.hidden,
        "edge": args.edge,
        "epochs": args.epochs,
        "best_epoch": best[2] + 1,
        "val_auc": round(best[0], 6),
        "torch_seed": args.seed,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "training_inputs": f"rounded to multiples of {INPUT_LSB} GeV (ties up)",
        "data": {k: {"file": f"data/{v['file']}", "seed": v["seed"], "n_per_class": v["n_per_class"],
                     "n_const": N_CONST, "workers": WORKERS} for k, v in DATA.items()},
        "split": {"train": int(len(ytr)), "val": int(len(yva)), "val_is": "last 20% of the train file"},
        "onnx_ops": ops,
        "onnx_ort_max_abs_diff": max_diff,
        "forward_vs_reference_max_abs_diff": ref_diff,
        "torch_version": torch.__version__,
    }
    # (training time is printed, not stored, so that the JSON is reproducible)
    (args.out / "metrics_float.json").write_text(json.dumps(metrics_out, indent=2) + "\n")
    print("wrote", ", ".join(str(args.out / f) for f in
                             ("lorentznet_lite.onnx", "samples.npz", "metrics_float.json")))
    return metrics_out


if __name__ == "__main__":
    main()
