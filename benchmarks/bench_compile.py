"""Benchmark of the bundled model: compile time, C-sim throughput, float vs fixed-point accuracy.

Run: make benchmark   (or: .venv/bin/python benchmarks/bench_compile.py)
Everything is measured side by side in one run on the same Pythia test jets
(data/pythia_top16_test.npz, generated if missing): ONNX Runtime (float32) vs the equihls C
simulation, compiled with the model card's options (models.ZOO).
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from equihls import project  # noqa: E402
from equihls.verify import selfcheck  # noqa: E402
from models import ZOO, compile_zoo  # noqa: E402
from models.common import auc, load_pythia_jets, rejection_at  # noqa: E402

NAME = "deepsets_pairs"
MODEL = ZOO[NAME]["onnx"]


def main():
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        compile_zoo(NAME, os.path.join(tmp, "p"), log=lambda *x: None)
        t_compile = time.perf_counter() - t0
        p = project.Project(os.path.join(tmp, "p"))
        d = load_pythia_jets("test")
        x, y = d["x"].astype(np.float64), d["y"]
        t0 = time.perf_counter()
        y_fix = p.run(x)[0].reshape(-1)
        t_csim = time.perf_counter() - t0
        t0 = time.perf_counter()
        y_flt = selfcheck.run_onnxruntime(open(MODEL, "rb").read(), {"x": x})[0].reshape(-1)
        t_ort = time.perf_counter() - t0
        in_t = p.input_type()
        n_oor = int(((x < in_t.min) | (x > in_t.max)).any(axis=(1, 2)).sum())
    print(f"model: {os.path.relpath(MODEL, ROOT)}  target vu9p  input {in_t.cpp()}  Pythia test jets {len(y)}")
    print(f"compile (frontend + passes + hls4ml write + g++ C-sim build + self-check): {t_compile:.1f} s")
    print(f"C-sim: {len(y) / t_csim:,.0f} events/s   ONNX Runtime float32: {len(y) / t_ort:,.0f} events/s   "
          f"ratio {t_csim / t_ort:.1f}x")
    print(f"jets with an input outside {in_t.cpp()}: {n_oor}")
    a_f, a_q = auc(y_flt, y), auc(y_fix, y)
    r_f, r_q = rejection_at(y_flt, y), rejection_at(y_fix, y)
    print(f"AUC  float {a_f:.4f}   equihls C-sim {a_q:.4f}   diff {a_q - a_f:+.4f}")
    print(f"1/eps_B at eps_S=0.3  float {r_f:.1f}   equihls C-sim {r_q:.1f}")
    diff = np.abs(y_fix - y_flt)
    print(f"|logit diff| float vs C-sim: max {diff.max():.4f}  mean {diff.mean():.5f}")


if __name__ == "__main__":
    main()
