"""Float vs. C-sim metrics of a compiled so3_cg project on the toy test set and the bundled samples.

Run from the repository root after ``equihls compile`` (see README.md)::

    .venv/bin/python models/so3_cg/evaluate.py hls_projects/so3_cg_vu9p
    .venv/bin/python models/so3_cg/evaluate.py hls_projects/so3_cg_l2_vu9p --l2

Regenerates the 10,000-event test set (seed 333, as in train.py), runs the float32 ONNX model
(ONNX Runtime) and the project's bit-accurate C simulation on it and on ``samples.npz``, and
prints R^2 / relative errors per output block against the targets, plus the number of events
with an input component outside the input type. Prints JSON; ``--json OUT`` also writes it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from equihls.project import Project  # noqa: E402
from models.common import input_overflow_count, write_json  # noqa: E402
from models.so3_cg.model import targets  # noqa: E402
from models.so3_cg.train import BLOCKS_ALL, DATA, block_metrics, momenta  # noqa: E402


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("project", help="compiled project directory")
    ap.add_argument("--l2", action="store_true", help="the project is so3_cg_l2 (outputs v and t)")
    ap.add_argument("--json", type=Path, help="also write the metrics here")
    args = ap.parse_args(argv)
    blocks = BLOCKS_ALL if args.l2 else {"v_1o": BLOCKS_ALL["v_1o"]}
    onnx_path = HERE / ("so3_cg_l2.onnx" if args.l2 else "so3_cg.onnx")

    import onnxruntime as ort
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    prj = Project(args.project)
    in_t = prj.input_type(0)

    test = momenta(DATA["test"]["n_per_class"], DATA["test"]["seed"])
    smp = np.load(HERE / "samples.npz")
    sets = {
        "test": (test, targets(torch.from_numpy(test).double(), l2=args.l2).numpy()),
        "samples": (smp["x"], np.concatenate([smp["target_v"], smp["target_t"]], axis=1)[:, :8 if args.l2 else 3]),
    }
    out = {"project": str(args.project), "input_type": str(in_t), "output_type": str(prj.output_type(0))}
    for name, (x, t) in sets.items():
        t0 = time.perf_counter()
        y_c = prj.run(x.astype(np.float64))[0]
        t_c = time.perf_counter() - t0
        y_f = sess.run(None, {"x": x.astype(np.float32)})[0]
        out[name] = {"events": int(len(x)), "input_overflow_events": input_overflow_count(x, in_t),
                     "float": block_metrics(y_f, t, blocks), "csim": block_metrics(y_c, t, blocks),
                     "csim_vs_float_max_abs": float(np.abs(y_c - y_f).max()),
                     "csim_vs_float_mean_abs": float(np.abs(y_c - y_f).mean()),
                     "csim_s": round(t_c, 2)}
    print(json.dumps(out, indent=2))
    if args.json:
        write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
