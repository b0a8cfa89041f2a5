"""Benchmark of the bundled model: compile time, C-sim throughput, float vs fixed-point accuracy.

Run: make benchmark   (or: .venv/bin/python benchmarks/bench_compile.py [--n-per-class N])
Everything is measured side by side in one run on the same toy test jets (seed 303, as in
models/deepsets_pairs/train.py): ONNX Runtime (float32) vs the equihls C simulation.
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from equihls import project, selfcheck  # noqa: E402
from models.data import toyjets  # noqa: E402
from models.deepsets_pairs import ONNX_PATH, SAMPLES_PATH  # noqa: E402
from models.deepsets_pairs.train import DATA, auc, rejection_at  # noqa: E402

MODEL, SAMPLES = ONNX_PATH, SAMPLES_PATH


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-per-class", type=int, default=DATA["test"]["n_per_class"])
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        project.compile_model(MODEL, target="vu9p", output_dir=os.path.join(tmp, "p"), samples=SAMPLES,
                              log=lambda *x: None)
        t_compile = time.perf_counter() - t0
        p = project.Project(os.path.join(tmp, "p"))
        d = toyjets.generate(a.n_per_class, 16, seed=DATA["test"]["seed"])
        x, y = d["x"].astype(np.float64), d["y"]
        t0 = time.perf_counter()
        y_fix = p.run(x)[0].reshape(-1)
        t_csim = time.perf_counter() - t0
        t0 = time.perf_counter()
        y_flt = selfcheck.run_onnxruntime(open(MODEL, "rb").read(), {"x": x})[0].reshape(-1)
        t_ort = time.perf_counter() - t0
        in_t = p.input_type()
        n_oor = int(((x < in_t.min) | (x > in_t.max)).any(axis=(1, 2)).sum())
    print(f"model: {os.path.relpath(MODEL, ROOT)}  target vu9p  input {in_t.cpp()}  test jets {len(y)} (toy, seed {DATA['test']['seed']})")
    print(f"compile (frontend + passes + hls4ml write + g++ C-sim build + self-check): {t_compile:.1f} s")
    print(f"C-sim: {len(y) / t_csim:,.0f} events/s   ONNX Runtime float32: {len(y) / t_ort:,.0f} events/s   ratio {t_csim / t_ort:.1f}x")
    print(f"jets with an input outside {in_t.cpp()}: {n_oor}")
    a_f, a_q = auc(y_flt, y), auc(y_fix, y)
    r_f, r_q = rejection_at(y_flt, y), rejection_at(y_fix, y)
    print(f"AUC  float {a_f:.4f}   equihls C-sim {a_q:.4f}   diff {a_q - a_f:+.4f}")
    print(f"1/eps_B at eps_S=0.3  float {r_f:.1f}   equihls C-sim {r_q:.1f}")
    print(f"|logit diff| float vs C-sim: max {np.abs(y_fix - y_flt).max():.4f}  mean {np.abs(y_fix - y_flt).mean():.5f}")


if __name__ == "__main__":
    main()
