"""Train, check and export the Keras Deep-Sets-over-pairs top tagger (Keras 3 + TensorFlow).

Runs in the Keras venv (README.md: ``.venv-keras``, no torch, no equihls needed), from the
repository root::

    .venv-keras/bin/python models/deepsets_keras/train.py              # reproduces the shipped files
    .venv-keras/bin/python models/deepsets_keras/train.py --epochs 20 --out /tmp/dk

Reads the Pythia jets ``data/pythia_top16_{train,test}.npz`` (generate them with the main venv,
models/pelican_nano/README.md) with models.common.pythia_splits (the last 20 % of the training
file is the validation set), whose numpy helpers work without torch. Writes into ``--out``
(default: this directory):

* ``deepsets_keras.onnx`` -- ``model.export(format="onnx")`` (tf2onnx), opset 17, input ``x``
  [batch, 16, 4], output ``logit`` [batch, 1], equihls symmetry metadata
* ``samples.npz``         -- 512 test jets (the first 256 of each class, shuffled): x float32, y int64
* ``metrics_float.json``  -- float AUC / accuracy on the test set, sizes, seeds, versions, ONNX ops
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from models.deepsets_keras.model import HIDDEN, build, n_params, reference  # noqa: E402

from models.common import (INPUT_LSB, LORENTZ_TAGGER_METADATA, PYTHIA_DATA, auc,  # noqa: E402
                           balanced_sample_indices, pythia_splits, save_jet_samples, to_input_grid)

DATA = {k: f"data/{v['file']}" for k, v in PYTHIA_DATA.items()}   # as recorded in metrics_float.json
N_SAMPLES_PER_CLASS = 256
OPSET = 17


def finish_onnx(path: Path) -> "onnx.ModelProto":  # noqa: F821
    """Give the tf2onnx file at `path` the model zoo's interface (output ``logit``, batch axis
    ``batch``) and metadata, check it and save it in place. Refuses an IR version above 10."""
    import onnx

    om = onnx.load(str(path))
    if om.ir_version > 10:
        raise SystemExit(f"ONNX IR version {om.ir_version} > 10: onnxruntime 1.31 cannot load it")
    (out,) = om.graph.output
    old = out.name
    for n in om.graph.node:
        n.output[:] = ["logit" if o == old else o for o in n.output]
        n.input[:] = ["logit" if i == old else i for i in n.input]
    out.name = "logit"
    for vi in (om.graph.input[0], out):
        vi.type.tensor_type.shape.dim[0].dim_param = "batch"
    om.graph.name = "deepsets_keras"
    onnx.helper.set_model_props(om, LORENTZ_TAGGER_METADATA)
    onnx.checker.check_model(om)
    onnx.save(om, str(path))
    return om


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0, help="Keras seed (init + batch order) and samples shuffle")
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--hidden", type=int, default=HIDDEN)
    args = ap.parse_args(argv)

    import keras
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx

    keras.utils.set_random_seed(args.seed)
    tf.config.experimental.enable_op_determinism()
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)

    xtr, ytr, xva, yva, xte, yte = pythia_splits()
    print(f"Pythia jets: train {len(ytr)}, val {len(yva)}, test {len(yte)}")
    xtr_q, xva_q = to_input_grid(xtr).astype(np.float32), to_input_grid(xva).astype(np.float32)

    model = build(args.hidden)
    print(f"deepsets_keras(hidden={args.hidden}): {n_params(model)} parameters")
    steps = args.epochs * int(np.ceil(len(ytr) / args.batch_size))
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(args.lr, steps)),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))

    class KeepBest(keras.callbacks.Callback):
        """Validation AUC after every epoch; the best epoch's weights are restored at the end."""
        best, epoch, weights = -1.0, -1, None

        def on_epoch_end(self, epoch, logs=None):
            v = auc(self.model.predict(xva_q, batch_size=1000, verbose=0)[:, 0], yva)
            if v > self.best:
                self.best, self.epoch, self.weights = v, epoch, self.model.get_weights()
            if (epoch + 1) % 25 == 0 or epoch == 0:
                print(f"epoch {epoch + 1:3d}/{args.epochs}  loss {logs['loss']:.4f}  val AUC {v:.4f}", flush=True)

    keep = KeepBest()
    t0 = time.perf_counter()
    model.fit(xtr_q, ytr.astype(np.float32), batch_size=args.batch_size, epochs=args.epochs,
              shuffle=True, verbose=0, callbacks=[keep])
    t_train = time.perf_counter() - t0
    model.set_weights(keep.weights)
    print(f"training time {t_train:.0f} s; keeping epoch {keep.epoch + 1} (val AUC {keep.best:.4f})")

    # ---- float metrics: raw jets and jets on the input grid; textbook numpy check
    s_te = model.predict(xte, batch_size=1000, verbose=0)[:, 0]
    s_te_q = model.predict(to_input_grid(xte).astype(np.float32), batch_size=1000, verbose=0)[:, 0]
    ref_diff = float(np.abs(reference(model, xte) - s_te).max())
    print(f"float test AUC {auc(s_te, yte):.4f} (on the 2^-6 GeV grid {auc(s_te_q, yte):.4f}); "
          f"keras vs numpy reference max |diff| {ref_diff:.3g}")
    if ref_diff > 1e-3:
        raise SystemExit("the Keras graph does not compute the documented model")

    # ---- ONNX: Keras's own export (tf2onnx underneath), then the zoo interface + metadata
    onnx_path = args.out / "deepsets_keras.onnx"
    model.export(str(onnx_path), format="onnx", opset_version=OPSET, verbose=False)
    om = finish_onnx(onnx_path)
    ops = [n.op_type for n in om.graph.node]
    print("ONNX ops:", ops)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    s_ort = sess.run(["logit"], {"x": xte.astype(np.float32)})[0][:, 0]
    ort_diff = float(np.abs(s_ort - s_te).max())
    print(f"onnxruntime vs keras on {len(yte)} test jets: max |diff| = {ort_diff:.3g}")
    if ort_diff > 1e-3:
        raise SystemExit("ONNX export mismatch")

    idx = balanced_sample_indices(yte, N_SAMPLES_PER_CLASS, args.seed)
    save_jet_samples(args.out / "samples.npz", xte[idx], yte[idx])

    metrics = {
        "model": "deepsets_keras",
        "note": "float32 Keras model on Pythia 8 + FastJet jets (models/data/pythia_jets.py), no detector",
        "test": {"auc": round(auc(s_te, yte), 6),
                 "accuracy": round(float(np.mean((s_te > 0) == (yte == 1))), 6)},
        "test_on_input_grid": {"auc": round(auc(s_te_q, yte), 6), "input_lsb_gev": INPUT_LSB},
        "samples_auc": round(auc(s_te[idx], yte[idx]), 6),
        "n_test": int(len(yte)),
        "n_params": n_params(model),
        "hidden": args.hidden,
        "epochs": args.epochs,
        "best_epoch": keep.epoch + 1,
        "val_auc": round(keep.best, 6),
        "seed": args.seed,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "schedule": "Adam, cosine decay to 0 over all steps",
        "training_inputs": f"rounded to multiples of {INPUT_LSB} GeV (ties up)",
        "data": DATA,
        "split": {"train": int(len(ytr)), "val": int(len(yva)), "val_is": "last 20% of the train file"},
        "onnx_ops": ops,
        "onnx_producer": f"{om.producer_name} {om.producer_version}".strip(),
        "onnx_ir_version": int(om.ir_version),
        "onnx_ort_max_abs_diff": ort_diff,
        "keras_vs_reference_max_abs_diff": ref_diff,
        "versions": {"keras": keras.__version__, "tensorflow": tf.__version__, "tf2onnx": tf2onnx.__version__,
                     "numpy": np.__version__},
    }
    (args.out / "metrics_float.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print("wrote", ", ".join(str(args.out / f) for f in ("deepsets_keras.onnx", "samples.npz", "metrics_float.json")))
    return metrics


if __name__ == "__main__":
    main()
