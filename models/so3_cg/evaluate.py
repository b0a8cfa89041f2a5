"""Float vs. C-sim metrics of a compiled so3_cg project on the Pythia test set and the bundled samples.

Run from the repository root after ``equihls compile`` (see README.md)::

    .venv/bin/python models/so3_cg/evaluate.py hls_projects/so3_cg_vu9p \
        --plot models/so3_cg/csim_vs_float.png
    .venv/bin/python models/so3_cg/evaluate.py hls_projects/so3_cg_l2_vu9p --l2

Loads the 2,000-jet Pythia test set (:func:`models.common.pythia_splits`, as in train.py; 3-momenta
in units of 64 GeV), runs the float32 ONNX model (ONNX Runtime) and the project's bit-accurate C
simulation on it and on ``samples.npz``, and prints R^2 / relative errors per output block against
the targets (all test jets, and the jets with a constituent <= 10 GeV, where the target's cut
matters), |C-sim - float| in units of y and of the output LSB, the number of events with an input
component outside the input type, and the largest |input| and |output| (to set against the types'
ranges). Prints JSON; ``--json OUT`` also writes it; ``--plot OUT.png`` draws the relative errors
(float and C-sim) and C-sim - float on the test set.
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
from models.so3_cg.train import BLOCKS_ALL, block_metrics, has_soft, pythia_momenta  # noqa: E402


def plot(path: Path, y_f: np.ndarray, y_c: np.ndarray, t: np.ndarray, blocks: dict, lsb: float) -> None:
    """PNG at `path` (needs matplotlib) for outputs `y_f` (float32), `y_c` (C-sim) and targets `t`,
    all [n, 3] or [n, 8] in units of y: left, per-event relative error |y - t| / |t| of each block,
    float solid and C-sim dashed; right, histogram of C-sim - float per block in output LSB `lsb`."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8.4, 3.6), dpi=100)
    edges = np.logspace(-6, 0, 61)
    for (k, sl), c in zip(blocks.items(), ("C0", "C1")):
        for y, style, what in ((y_f, "-", "float32"), (y_c, "--", "C-sim")):
            rel = np.linalg.norm(y[:, sl] - t[:, sl], axis=1) / np.maximum(np.linalg.norm(t[:, sl], axis=1), 1e-12)
            r2 = block_metrics(y, t, {k: sl})[k]["r2"]
            a1.hist(np.clip(rel, edges[0], edges[-1]), bins=edges, histtype="step", ls=style, color=c,
                    label=f"{k} {what} (1$-$R$^2$ = {1 - r2:.1e})")
    a1.set_xscale("log")
    a1.set_xlabel("relative error |y $-$ y*| / |y*| per jet")
    a1.set_ylabel("jets")
    a1.set_title(f"{len(y_f)} Pythia test jets (lowest bin: < 1e-6)", fontsize=9)
    a1.legend(fontsize=7, frameon=False, loc="upper right")
    d = (y_c - y_f) / lsb
    bins = np.linspace(np.floor(d.min()) - 0.5, np.ceil(d.max()) + 0.5, 60)
    for (k, sl), c in zip(blocks.items(), ("C0", "C1")):
        a2.hist(d[:, sl].ravel(), bins=bins, histtype="step", color=c, label=k)
    a2.set_yscale("log")
    a2.set_xlabel(f"C-sim $-$ float32 per component (output LSB = 2$^{{{int(np.log2(lsb))}}}$)")
    a2.set_ylabel("components")
    a2.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("project", help="compiled project directory")
    ap.add_argument("--l2", action="store_true", help="the project is so3_cg_l2 (outputs v and t)")
    ap.add_argument("--json", type=Path, help="also write the metrics here")
    ap.add_argument("--plot", type=Path, metavar="FILE.png", help="C-sim vs. float plot of the test set")
    args = ap.parse_args(argv)
    blocks = BLOCKS_ALL if args.l2 else {"v_1o": BLOCKS_ALL["v_1o"]}
    onnx_path = HERE / ("so3_cg_l2.onnx" if args.l2 else "so3_cg.onnx")

    import onnxruntime as ort
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    prj = Project(args.project)
    in_t, out_t = prj.input_type(0), prj.output_type(0)

    test = pythia_momenta()["test"]
    smp = np.load(HERE / "samples.npz")
    sets = {
        "test": (test, targets(torch.from_numpy(test).double(), l2=args.l2).numpy()),
        "samples": (smp["x"], np.concatenate([smp["target_v"], smp["target_t"]], axis=1)[:, :8 if args.l2 else 3]),
    }
    out = {"project": str(args.project), "input_type": str(in_t), "output_type": str(out_t)}
    for name, (x, t) in sets.items():
        t0 = time.perf_counter()
        y_c = prj.run(x.astype(np.float64))[0]
        t_c = time.perf_counter() - t0
        y_f = sess.run(None, {"x": x.astype(np.float32)})[0]
        soft = has_soft(x)
        d = np.abs(y_c - y_f)
        out[name] = {"events": int(len(x)), "input_overflow_events": input_overflow_count(x, in_t),
                     "input_max_abs": round(float(np.abs(x).max()), 4),
                     # compare with the output type's range: a wrapped output would jump across it
                     "output_max_abs": round(float(np.abs(y_c).max()), 4),
                     "float": block_metrics(y_f, t, blocks), "csim": block_metrics(y_c, t, blocks),
                     "events_with_soft": int(soft.sum()),
                     "float_with_soft": block_metrics(y_f[soft], t[soft], blocks),
                     "csim_with_soft": block_metrics(y_c[soft], t[soft], blocks),
                     "csim_vs_float_max_abs": float(d.max()), "csim_vs_float_mean_abs": float(d.mean()),
                     "csim_vs_float_max_lsb": round(float(d.max() / out_t.lsb), 2),
                     "csim_vs_float_mean_lsb": round(float(d.mean() / out_t.lsb), 2),
                     "csim_s": round(t_c, 2)}
        if name == "test" and args.plot:
            plot(args.plot, y_f, y_c, t, blocks, out_t.lsb)
    print(json.dumps(out, indent=2))
    if args.json:
        write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
