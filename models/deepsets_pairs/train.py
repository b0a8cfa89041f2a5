"""Train, evaluate and export the Deep-Sets-over-pairs reference top tagger on Pythia 8 jets.

Run from the repository root::

    .venv/bin/python models/deepsets_pairs/train.py            # reproduces the shipped files
    .venv/bin/python models/deepsets_pairs/train.py --epochs 50 --seed 1 --out /tmp/dsp

Data: the Pythia 8 + FastJet jets shared by the Pythia reference models
(``data/pythia_top16_{train,test}.npz``, generated on first use; see models/common.py and
models/pelican_nano/README.md). Training sees the inputs on the firmware's input grid (2^-6 GeV,
``ap_fixed<18,12,AP_RND,AP_SAT>``); the float reference numbers are on the raw float32 test jets.

The export is plain ``torch.onnx.export`` (``Einsum`` for the Gram matrix, ``Log(Add(1, .))``
for log1p, ``MatMul`` + ``Add`` for the per-pair Linears): this model is the reference for the
compiler's recognition of what PyTorch writes.

Writes into ``--out`` (default: this directory):

* ``deepsets_pairs.onnx``  -- opset 17, input ``x`` [batch, 16, 4], output ``logit`` [batch, 1]
* ``deepsets_pairs.weights.npz`` -- the trained state_dict (models.common.save_weights)
* ``samples.npz``          -- 512 test jets (the first 256 of each class, shuffled): ``x`` float32, ``y`` int64
* ``metrics_float.json``   -- float metrics on the full test set, seeds, sizes, ONNX ops
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from models.common import export_torch, train_pythia_tagger  # noqa: E402
from models.deepsets_pairs.model import HIDDEN, DeepSetsPairs, n_params  # noqa: E402


def build(args) -> DeepSetsPairs:
    model = DeepSetsPairs(hidden=args.hidden)
    print(f"DeepSetsPairs(hidden={args.hidden}): {n_params(model)} parameters")
    return model


def add_args(ap) -> None:
    ap.add_argument("--hidden", type=int, default=HIDDEN)
    # lr 1e-2 (the PELICAN default) oscillates on this model; 200 epochs take ~30 s
    ap.set_defaults(epochs=200, lr=3e-3)


def main(argv=None) -> dict:
    return train_pythia_tagger(
        argv, doc=__doc__, name="deepsets_pairs", here=HERE, add_args=add_args,
        build=build, hparams=lambda args: {"hidden": args.hidden}, export=export_torch)


if __name__ == "__main__":
    main()
