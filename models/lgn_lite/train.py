"""Train, evaluate and export the LGN-lite reference top tagger on Pythia 8 jets.

Run from the repository root::

    .venv/bin/python models/lgn_lite/train.py             # reproduces the shipped files
    .venv/bin/python models/lgn_lite/train.py --epochs 50 --seed 1 --out /tmp/lgn

Data, input grid and outputs as models/lorentznet_lite/train.py: the Pythia 8 + FastJet jets of
:mod:`models.data.pythia_jets` (``data/pythia_top16_{train,test}.npz``, generated on first use
with fixed seeds), trained on the 2^-6 GeV input grid, the epoch with the best validation AUC.

Writes into ``--out`` (default: this directory): ``lgn_lite.onnx`` (opset 17 + equihls functions,
input ``x`` [batch, 16, 4], output ``logit`` [batch, 1]), ``lgn_lite.weights.npz``,
``samples.npz`` (512 test jets) and ``metrics_float.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from models.common import train_pythia_tagger  # noqa: E402
from models.lgn_lite.model import HIDDEN, LGNLite, n_params  # noqa: E402


def add_args(ap) -> None:
    ap.add_argument("--hidden", type=int, default=HIDDEN)


def build(args) -> LGNLite:
    model = LGNLite(hidden=args.hidden)
    print(f"LGNLite(hidden={args.hidden}): {n_params(model)} parameters")
    return model


def main(argv=None) -> dict:
    return train_pythia_tagger(argv, doc=__doc__, name="lgn_lite", here=HERE, add_args=add_args, build=build,
                               hparams=lambda args: {"hidden": args.hidden})


if __name__ == "__main__":
    main()
