"""Train, evaluate and export the PELICAN-nano reference top tagger on Pythia 8 jets.

Run from the repository root::

    .venv/bin/python models/pelican_nano/train.py            # reproduces the shipped files
    .venv/bin/python models/pelican_nano/train.py --epochs 50 --seed 1 --out /tmp/pn

Data: Pythia 8 + FastJet jets from :mod:`models.data.pythia_jets` (16 constituents), read from
``data/pythia_top16_{train,test}.npz`` at the repository root (not shipped: ~1.5 MB, git-ignored
location). A missing file is generated first with the fixed seeds below and 2 worker processes
(the sample depends on the number of workers), identical to::

    .venv/bin/python -m models.data.pythia_jets --n-per-class 2000 --n-const 16 --seed 11 --workers 2 \\
        --out data/pythia_top16_train.npz
    .venv/bin/python -m models.data.pythia_jets --n-per-class 1000 --n-const 16 --seed 12 --workers 2 \\
        --out data/pythia_top16_test.npz

(about 100 s and 70 s on 2 cores). The last 20 % of the (shuffled) training file is the
validation set used to pick the epoch.

Training sees the inputs on the firmware's input grid: every component is rounded to the
nearest multiple of INPUT_LSB = 2^-6 GeV (half up, like ``ap_fixed<18,12,AP_RND>``). The
float reference numbers are on the raw float32 test jets.

Writes into ``--out`` (default: this directory):

* ``pelican_nano.onnx``   -- opset 17, input ``x`` [batch, 16, 4], output ``logit`` [batch, 1]
* ``pelican_nano.weights.npz`` -- the trained state_dict (models.common.save_weights)
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
from models.pelican_nano.model import CHANNELS, PelicanNano, n_params  # noqa: E402


def build(args) -> PelicanNano:
    model = PelicanNano(channels=args.channels)
    print(f"PelicanNano(channels={args.channels}): {n_params(model)} parameters")
    return model


def mix_weight_stats(model: PelicanNano) -> dict:
    w = model.mix.weight.detach()
    return {"mix_weight_abs_max_per_aggregation": [round(float(v), 4) for v in w.abs().max(dim=0).values]}


def main(argv=None) -> dict:
    return train_pythia_tagger(
        argv, doc=__doc__, name="pelican_nano", here=HERE,
        add_args=lambda ap: ap.add_argument("--channels", type=int, default=CHANNELS),
        build=build, hparams=lambda args: {"channels": args.channels},
        # the factorised forward is the textbook Linear(6, C) on the six aggregations
        reference_check=check_forward_reference, extra_metrics=mix_weight_stats)


if __name__ == "__main__":
    main()
