"""Benchmark of `equihls check` on the bundled model: wall time for N events x K elements per line.

Run: make benchmark   (or: .venv/bin/python benchmarks/bench_check.py [--events N] [--elements K])
Compiles models/deepsets_pairs for vu9p (card options, models.ZOO) into a temporary directory, then
certifies it against its declared groups (perm, lorentz) on the first N Pythia test jets
(data/pythia_top16_test.npz, generated if missing) with K sampled elements per line, and prints
the wall time, the C-sim throughput it used and each line's result.
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from equihls.verify import check  # noqa: E402
from equihls import project  # noqa: E402
from models import ZOO, compile_zoo  # noqa: E402
from models.common import load_pythia_jets  # noqa: E402

NAME = "deepsets_pairs"
MODEL = ZOO[NAME]["onnx"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--elements", type=int, default=8)
    a = ap.parse_args()
    x = load_pythia_jets("test")["x"][:a.events].astype(np.float64)
    with tempfile.TemporaryDirectory() as tmp:
        d = os.path.join(tmp, "p")
        compile_zoo(NAME, d, log=lambda *m: None)
        t0 = time.perf_counter()
        rep = check.run(project.Project(d), xs=[x], n_elements=a.elements)
        wall = time.perf_counter() - t0
    tim = rep["timing"]
    n_lines = len(rep["lines"])
    print(f"equihls check {os.path.relpath(MODEL, ROOT)} (vu9p): groups {', '.join(rep['groups'])}; "
          f"{rep['events']} events x {a.elements} elements x {n_lines} lines")
    print(f"wall {wall:.1f} s; C-sim {tim['csim_events']:,} events in {tim['csim_s']:.1f} s = "
          f"{tim['csim_events_per_s']:,.0f} events/s ({os.cpu_count()} threads); "
          f"C-sim share of wall {tim['csim_s'] / wall:.0%}")
    for r in rep["lines"]:
        if r["kind"] == "exact":
            print(f"  {r['group']:>8} {r['line']:<36} exact: {r['identical']}/{r['pairs']} bit-identical pairs on "
                  f"{r['events_checked']} events, {r['skipped_input_overflow']} skipped (input overflow) "
                  f"-> {check.SHOWN[r['verdict']]}")
        else:
            print(f"  {r['group']:>8} {r['line']:<36} mean/p99/max {r['mean_lsb']:.2f}/{r['p99_lsb']:.2f}/"
                  f"{r['max_lsb']:.1f} LSB; float64 floor {r['floor']['mean_lsb']:.2f}/{r['floor']['p99_lsb']:.2f}/"
                  f"{r['floor']['max_lsb']:.1f}; float64 model on exact inputs max "
                  f"{r['floor_exact_inputs']['max_lsb']:.2g} -> {check.SHOWN[r['verdict']]}")
    print(f"verdict: {check.verdict_text(rep)}")


if __name__ == "__main__":
    main()
