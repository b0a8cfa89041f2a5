"""What the input type alone costs each Pythia tagger: the float model on raw jets against the
same model on the jets rounded to a 2^-f GeV grid (AP_RND, as the input port rounds), as the
relative RMS of the logit difference over the logit's spread and the correlation. This is the
`input_rel_rms` the compile's fidelity self-check reports; models.ZOO sets the cards'
--fidelity-rms from it.

Run: .venv/bin/python benchmarks/bench_input_grid.py   (ONNX Runtime only, a few seconds)
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from equihls.frontend import qonnx_quant as quant  # noqa: E402
from equihls.verify import selfcheck
from equihls.ir.fixedpoint import FixedType  # noqa: E402
from equihls.frontend.source import read_model  # noqa: E402
from models import ZOO  # noqa: E402

N_EVENTS = 512
FRAC_BITS = (6, 8, 10, 12)


def main():
    print(f"float logit, raw jets vs jets on a 2^-f GeV grid ({N_EVENTS} shipped samples each)\n")
    print("| model | " + " | ".join(f"f = {f}: rel. RMS / corr." for f in FRAC_BITS) + " |")
    print("|---|" + "---|" * len(FRAC_BITS))
    for name, spec in ZOO.items():
        if spec["task"] != "tagger":
            continue
        model = quant.standard_ops(read_model(spec["onnx"])).SerializeToString()
        x = np.load(spec["samples"])["x"][:N_EVENTS].astype(np.float64)
        inp = read_model(spec["onnx"]).graph.input[0].name
        y = selfcheck.run_onnxruntime(model, {inp: x})[0].reshape(len(x), -1)
        cells = []
        for f in FRAC_BITS:
            t = FixedType(12 + f, 12, True, "AP_RND", "AP_SAT")
            yq = selfcheck.run_onnxruntime(model, {inp: t.quantize(x)})[0].reshape(len(x), -1)
            scale, _ = selfcheck.output_scale(y, t.lsb)
            rel = float(np.sqrt(np.mean((yq - y) ** 2)) / scale)
            cells.append(f"{rel:.4f} / {np.corrcoef(yq.ravel(), y.ravel())[0, 1]:.4f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
