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
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from models.common import (EPS_S, LORENTZ_TAGGER_METADATA, auc, balanced_sample_indices,  # noqa: E402
                           check_ort, finish_onnx, fit, onnx_ops, ort_session, predict, rejection_at,
                           save_jet_samples, seed_everything, write_json)
from models.data import toyjets  # noqa: E402
from models.deepsets_pairs.model import HIDDEN, N_CONST, DeepSetsPairs, n_params  # noqa: E402

# names other scripts import from here (benchmarks/): the metrics live in models/common.py
__all__ = ["DATA", "EPS_S", "N_SAMPLES_PER_CLASS", "auc", "rejection_at", "main"]

# Fixed data seeds (independent samples) and sizes, jets per class.
DATA = {
    "train": {"seed": 101, "n_per_class": 20000},
    "val": {"seed": 202, "n_per_class": 4000},
    "test": {"seed": 303, "n_per_class": 10000},
}
N_SAMPLES_PER_CLASS = 1024
PREDICT_BATCH = 2048


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0, help="torch seed (init + batch order)")
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--hidden", type=int, default=HIDDEN)
    args = ap.parse_args(argv)
    seed_everything(args.seed, args.out)

    t0 = time.perf_counter()
    data = {k: toyjets.generate(v["n_per_class"], N_CONST, v["seed"]) for k, v in DATA.items()}
    t_gen = time.perf_counter() - t0
    print(f"generated toy jets in {t_gen:.1f} s: " +
          ", ".join(f"{k}={len(d['y'])}" for k, d in data.items()))

    model = DeepSetsPairs(hidden=args.hidden)
    print(f"DeepSetsPairs(hidden={args.hidden}): {n_params(model)} parameters")

    xtr = torch.from_numpy(data["train"]["x"])
    ytr = torch.from_numpy(data["train"]["y"]).float()
    xva, yva = data["val"]["x"], data["val"]["y"]
    fr = fit(model, xtr, ytr, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
             validate=lambda m: auc(predict(m, xva, PREDICT_BATCH), yva))
    print(f"training time {fr.seconds:.1f} s; keeping epoch {fr.epoch + 1} (val AUC {fr.best:.4f})")

    # ---- evaluation on the full test set
    xte, yte = data["test"]["x"], data["test"]["y"]
    s_te = predict(model, xte, PREDICT_BATCH)
    test_auc = auc(s_te, yte)
    test_rej = rejection_at(s_te, yte)
    m_te = toyjets.jet_mass(xte)
    mass_auc = auc(-np.abs(m_te - toyjets.M_TOP), yte)
    mass_rej = rejection_at(-np.abs(m_te - toyjets.M_TOP), yte)
    print(f"float test AUC {test_auc:.4f}   1/eps_B @ eps_S={EPS_S}: {test_rej:.1f}   "
          f"(baseline |m_jet - m_top|: AUC {mass_auc:.4f}, 1/eps_B {mass_rej:.1f})")

    # ---- ONNX export (plain torch.onnx) + onnxruntime check
    import onnx

    model.eval()
    onnx_path = args.out / "deepsets_pairs.onnx"
    torch.onnx.export(model, (torch.from_numpy(xte[:2]),), str(onnx_path), dynamo=False,
                      opset_version=17, input_names=["x"], output_names=["logit"],
                      dynamic_axes={"x": {0: "batch"}, "logit": {0: "batch"}})
    om = finish_onnx(onnx.load(str(onnx_path)), onnx_path, LORENTZ_TAGGER_METADATA)
    ops = onnx_ops(om, skip_constant=False)
    print("ONNX ops:", ops)
    max_diff = check_ort(ort_session(onnx_path), xte, s_te, 1e-3, f"onnxruntime vs torch on {len(xte)} test jets",
                         batch=PREDICT_BATCH)

    # ---- bundled sample events: first 1024 test jets of each class, shuffled
    idx = balanced_sample_indices(yte, N_SAMPLES_PER_CLASS, args.seed)
    save_jet_samples(args.out / "samples.npz", xte[idx], yte[idx])

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
        "best_epoch": fr.epoch + 1,
        "val_auc": round(fr.best, 6),
        "torch_seed": args.seed,
        "data": {k: dict(v, n_const=N_CONST) for k, v in DATA.items()},
        "onnx_ort_max_abs_diff": max_diff,
        "torch_version": torch.__version__,
    }
    write_json(args.out / "metrics_float.json", metrics)
    print("wrote", ", ".join(str(args.out / f) for f in
                             ("deepsets_pairs.onnx", "samples.npz", "metrics_float.json")))
    return metrics


if __name__ == "__main__":
    main()
