"""How the Pythia taggers' cost grows with the number of particles N, at II = 1 and at the smallest
II that fits a VU9P within 1 µs; the largest N that fits.

Run: .venv/bin/python benchmarks/bench_scaling.py [--n 8,16,32,64,128] [--models deepsets_pairs,...]

Each zoo tagger is rebuilt at N particles with its shipped weights (the weights do not depend on
N; the power-of-two normalisers of the card are kept, so N != 16 is the same architecture, not a
retrained model), exported with equihls.ops.torch_ops.export, and put through the compiler's
passes, precision inference and estimate (equihls/report/estimate.py) on vu9p at 5 ns: no g++
build, C-simulation or self-check, so the times are the front end's and every figure is an
estimate. The II search is report/fit.smallest_ii with the budget 'latency-ns=1000' (what the
compile's --budget does). The fitted exponent is the log-log slope of DSP (at II = 1) over N.
"""
import argparse
import math
import os
import sys
import tempfile
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import models  # noqa: E402
from equihls import passes, targets  # noqa: E402
from equihls.driver import DEFAULT_TYPE  # noqa: E402
from equihls.frontend import onnx_import as frontend  # noqa: E402
from equihls.ir.fixedpoint import FixedType  # noqa: E402
from equihls.ops.torch_ops import export  # noqa: E402
from equihls.precision import infer as precision  # noqa: E402
from equihls.report import estimate, fit  # noqa: E402

TARGET = targets.get("vu9p")
CLOCK_NS = 5.0
BUDGET = {"latency_ns": 1000.0}
TAGGERS = ("deepsets_pairs", "pelican_nano", "lorentznet_lite", "lgn_lite")
warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)   # the export traces constant shapes


def at_n(name: str, n: int):
    """ZOO tagger `name` rebuilt for n particles with its shipped weights."""
    import importlib

    where, kwargs = models.ZOO[name]["torch"]
    mod, cls = where.split(":")
    klass = getattr(importlib.import_module(mod), cls)
    trained = models.torch_model(name)
    try:
        model = klass(**{**kwargs, "n_const": n})
    except TypeError:           # shape-agnostic models take any N as they are
        return trained
    model.load_state_dict(trained.state_dict())
    return model.eval()


def typed_graph(name: str, n: int):
    spec = models.ZOO[name]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"{name}_{n}.onnx")
        x = torch.zeros(2, n, 4)
        export(at_n(name, n), (x,), path, input_names=["x"], output_names=["logit"],
               dynamic_axes={"x": {0: "batch"}, "logit": {0: "batch"}})
        g, _ = frontend.load(path)
    passes.run_all(g)
    prec = precision.infer(g, {i: FixedType.parse(spec["input_type"]) for i in g.inputs},
                           FixedType.parse(DEFAULT_TYPE), None,
                           {k: FixedType.parse(v) for k, v in spec["types"].items()})
    return g, prec


def row(name, n, k, est, seconds):
    t, f = est["total"], fit.verdict(est)
    fr = f["fraction"]
    return (f"| {name} | {n} | {k} | {t['dsp']:,} ({100 * fr['dsp']:.1f} %) | {100 * fr['lut']:.1f} % | "
            f"{100 * fr['ff']:.1f} % | {t['latency_ns']:.0f} | {'yes' if f['fits'] else 'no'} | {seconds:.1f} |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", default="8,16,32,64,128")
    ap.add_argument("--models", default=",".join(TAGGERS))
    a = ap.parse_args(argv)
    ns = [int(v) for v in a.n.split(",")]
    print(f"Scaling on {TARGET.name} ({TARGET.dsp:,} DSP) at {CLOCK_NS} ns; II searched up to {fit.MAX_II} "
          f"within {BUDGET['latency_ns']:.0f} ns\n")
    print("| model | N | II | DSP | LUT | FF | latency (ns) | fits | front end (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    summary = []
    for name in a.models.split(","):
        dsp1, largest = [], None
        for n in ns:
            t0 = time.perf_counter()
            g, prec = typed_graph(name, n)
            est1 = estimate.estimate(g, prec, TARGET, CLOCK_NS)
            seconds = time.perf_counter() - t0
            dsp1.append(est1["total"]["dsp"])
            print(row(name, n, 1, est1, seconds))
            found = fit.smallest_ii(lambda k: estimate.estimate(g, prec, TARGET, CLOCK_NS, ii=k), BUDGET)
            if found and found[0] > 1:
                print(row(name, n, found[0], found[1], seconds))
            if found:
                largest = (n, found[0], found[1]["total"]["latency_ns"])
            elif fit.verdict(est1)["fits"] is False:
                print(f"| {name} | {n} | > {fit.MAX_II} or over 1 µs | | | | | no | |")
        slope = np.polyfit(np.log(ns), np.log(np.maximum(dsp1, 1)), 1)[0] if len(ns) > 1 else math.nan
        summary.append((name, slope, largest))
    print("\n| model | DSP ~ N^p (II = 1) | largest N that fits a VU9P within 1 µs (II, latency) |")
    print("|---|---|---|")
    for name, slope, largest in summary:
        where = f"{largest[0]} (II {largest[1]}, {largest[2]:.0f} ns)" if largest else f"none of {a.n}"
        print(f"| {name} | p = {slope:.2f} | {where} |")


if __name__ == "__main__":
    main()
