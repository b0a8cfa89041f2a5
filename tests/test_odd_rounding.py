"""Symmetric (odd) rounding by construction (issue 15, points 1-2): with a declared group that
flips signs, a rounded tensor that transforms rounds with AP_RND_CONV, so round(-x) = -round(x)
and the exact signed-permutation lines hold without extra bits; --no-auto-exact keeps AP_RND and
the same firmware fails them on ties."""
import json
import os

import numpy as np
import pytest

from equihls import project
from equihls.ir.fixedpoint import ODD_ROUNDING, ROUNDING_MODES, FixedType
from equihls.project import LAYOUT
from equihls.verify import check

QUIET = dict(log=lambda *a: None)


@pytest.mark.parametrize("mode", ROUNDING_MODES)
def test_odd_modes_are_exactly_the_odd_ones(mode):
    """round(-x) == -round(x) for every raw value in ODD_ROUNDING, and some tie breaks it otherwise."""
    t = FixedType(12, 4, True, mode, "AP_SAT")
    raw = np.arange(-4096, 4097, dtype=np.int64)          # every value with 3 more fractional bits
    pos, _ = t.quantize_raw(raw, t.frac + 3)
    neg, _ = t.quantize_raw(-raw, t.frac + 3)
    assert np.array_equal(neg == -pos, np.ones_like(pos, dtype=bool)) == (mode in ODD_ROUNDING)


def _weighted_sum(tmp_path):
    """y = sum_i w_i x_i with w of 2-3 fractional bits on inputs of 10: the exact sum has 13
    fractional bits and the output rounds to 10, so a quarter of the values are ties."""
    torch = pytest.importorskip("torch")
    from tests.exporters import export

    class WeightedSum(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("w", torch.tensor([0.75, -1.25, 0.375, 1.5]))

        def forward(self, x):
            return (x * self.w[:, None]).sum(dim=1)

    path = str(tmp_path / "wsum.onnx")
    export(WeightedSum().eval(), (torch.zeros(2, 4, 3),), path, dynamo=False)
    x = np.random.default_rng(0).integers(-2048, 2048, size=(64, 4, 3)) / 1024.0
    np.savez(tmp_path / "s.npz", x=x)
    return path, str(tmp_path / "s.npz")


def _compile(path, out, samples, **kw):
    m = project.compile_model(path, output_dir=out, input_type="ap_fixed<16,6>", samples=samples,
                              symmetry=["o3", "so3"], input_reps=["1x1o"], **kw, **QUIET)
    return m, check.run(project.Project(out), n_elements=8, progress=False)


def _exact(rep):
    return [r for r in rep["lines"] if r["kind"] == "exact"]


@pytest.mark.gxx
def test_a_rounded_vector_rounds_oddly_and_passes(tmp_path):
    path, s = _weighted_sum(tmp_path)
    m, rep = _compile(path, str(tmp_path / "auto"), s, output_reps=["1x1o"], output_perm="invariant")
    odd = m["auto_exact"]["odd_rounding"]
    assert odd and all(FixedType.parse(t["to"]).rounding == "AP_RND_CONV" for t in odd), m["auto_exact"]
    assert all(FixedType.parse(t["from"]).rounding == "AP_RND" for t in odd)
    assert not m["auto_exact"]["tensors"]            # no tensor needed extra bits
    assert m["symmetry_probe"]["passed"]
    assert all(r["pairs"] > 0 and r["mismatched"] == 0 for r in _exact(rep)) and rep["passed"], \
        check.format_report(rep)
    # the same model with today's AP_RND: ties round apart under sign flips
    m0, rep0 = _compile(path, str(tmp_path / "off"), s, output_reps=["1x1o"], output_perm="invariant",
                        auto_exact=False)
    assert "odd_rounding" not in m0["auto_exact"]
    assert all(r["mismatched"] > 0 for r in _exact(rep0)) and not rep0["passed"]
    man = json.load(open(os.path.join(str(tmp_path / "auto"), LAYOUT.manifest)))
    assert man["auto_exact"]["odd_rounding"] == odd


@pytest.mark.gxx
@pytest.mark.slow
def test_e3nn_tensor_product_passes_exact_lines_with_default_options(tmp_path):
    """One e3nn FullyConnectedTensorProduct 1o x 1o -> 0e+1e+2e, exported as its users do, compiled
    with default types: its rounded paths round oddly (no extra bits) and every exact line
    compares pairs and passes; with --no-auto-exact (AP_RND) the same lines fail."""
    torch = pytest.importorskip("torch")
    o3 = pytest.importorskip("e3nn.o3")
    pytest.importorskip("onnxscript")
    from tests.exporters import export

    class TP(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.tp = o3.FullyConnectedTensorProduct("1x1o", "1x1o", "1x0e+1x1e+1x2e")

        def forward(self, x):
            return self.tp(x[:, 0], x[:, 1])

    torch.manual_seed(0)
    path = str(tmp_path / "tp.onnx")
    export(TP().eval(), (torch.zeros(2, 2, 3),), path, dynamo=True, opset=None)
    np.savez(tmp_path / "s.npz", x=np.random.default_rng(0).integers(-32, 33, size=(64, 2, 3)) / 16.0)
    common = dict(samples=str(tmp_path / "s.npz"), symmetry=["o3", "so3"], input_reps=["1x1o"],
                  output_reps=["1x0e+1x1e+1x2e"], **QUIET)
    m = project.compile_model(path, output_dir=str(tmp_path / "auto"), **common)
    assert m["auto_exact"]["odd_rounding"] and not m["auto_exact"]["tensors"], m["auto_exact"]
    rep = check.run(project.Project(str(tmp_path / "auto")), progress=False)
    assert all(r["pairs"] > 0 and r["mismatched"] == 0 for r in _exact(rep)) and rep["passed"], \
        check.format_report(rep)
    project.compile_model(path, output_dir=str(tmp_path / "off"), auto_exact=False, **common)
    rep0 = check.run(project.Project(str(tmp_path / "off")), progress=False)
    assert any(r["mismatched"] > 0 for r in _exact(rep0)) and not rep0["passed"]
