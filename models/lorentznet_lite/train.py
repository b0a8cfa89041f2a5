"""Train, evaluate and export the LorentzNet-lite reference top tagger on Pythia 8 jets.

Run from the repository root::

    .venv/bin/python models/lorentznet_lite/train.py            # reproduces the shipped files
    .venv/bin/python models/lorentznet_lite/train.py --epochs 50 --seed 1 --out /tmp/ll

Data: the same Pythia 8 + FastJet jets as pelican_nano (:mod:`models.data.pythia_jets`, 16
constituents), read from ``data/pythia_top16_{train,test}.npz`` at the repository root (not
shipped: ~1.5 MB, git-ignored location). A missing file is generated first with the fixed seeds below and 2 worker
processes (the sample depends on the number of workers), identical to::

    .venv/bin/python -m models.data.pythia_jets --n-per-class 2000 --n-const 16 --seed 11 --workers 2 \\
        --out data/pythia_top16_train.npz
    .venv/bin/python -m models.data.pythia_jets --n-per-class 1000 --n-const 16 --seed 12 --workers 2 \\
        --out data/pythia_top16_test.npz

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
* ``lorentznet_lite.weights.npz`` -- the trained state_dict (models.common.save_weights)
* ``samples.npz``         -- 512 test jets (the first 256 of each class, shuffled): ``x`` float32, ``y`` int64
* ``metrics_float.json``  -- float metrics on the full test set, seeds, sizes, ONNX ops
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from models.common import check_forward_reference, train_pythia_tagger  # noqa: E402
from models.lorentznet_lite.model import EDGE, HIDDEN, LorentzNetLite, n_params  # noqa: E402


def add_args(ap) -> None:
    ap.add_argument("--hidden", type=int, default=HIDDEN)
    ap.add_argument("--edge", type=int, default=EDGE)


def build(args) -> LorentzNetLite:
    model = LorentzNetLite(hidden=args.hidden, edge=args.edge)
    print(f"LorentzNetLite(hidden={args.hidden}, edge={args.edge}): {n_params(model)} parameters")
    return model


def main(argv=None) -> dict:
    return train_pythia_tagger(
        argv, doc=__doc__, name="lorentznet_lite", here=HERE, add_args=add_args, build=build,
        hparams=lambda args: {"hidden": args.hidden, "edge": args.edge},
        # the factorised forward is the textbook Linear(2H+2, E) edge MLP; in float64, since in
        # float32 the two summation orders differ by ~1e-4 on the largest logits
        reference_check=lambda model, xte: check_forward_reference(model, xte, float64=True))


if __name__ == "__main__":
    main()
