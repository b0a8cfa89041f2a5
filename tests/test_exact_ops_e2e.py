"""A masked set model as torch exports it, compiled end to end with the exact lowerings of issue 14
point 3: mask = x.sum(-1) != 0 (ReduceSum, Equal, Not), Where, LeakyRelu, max pooling (ReduceMax),
BatchNorm after a pooling (per-channel affine) and after a Linear (folded into the Dense), Clip.
The project's self-check (C-sim == twin bit for bit, within the error envelope of ONNX Runtime)
must pass, and every firmware layer is an equihls block."""
import os

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")

from equihls import project  # noqa: E402
from tests.exporters import EXPORTERS, export  # noqa: E402

pytestmark = pytest.mark.gxx

N = 4


class MaskedSet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.lin = torch.nn.Linear(4, 5)
        self.bn = torch.nn.BatchNorm1d(5)
        self.lin2 = torch.nn.Linear(5, 3)
        self.bn2 = torch.nn.BatchNorm1d(3)
        self.out = torch.nn.Linear(3, 1)
        for bn in (self.bn, self.bn2):   # inference statistics that are not the identity
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.uniform_(-0.5, 0.5)

    def forward(self, x):                                    # x [B, N, 4], zero rows are padding
        mask = (x.sum(-1) != 0).unsqueeze(-1)                 # [B, N, 1]
        h = torch.nn.functional.leaky_relu(self.lin(x), 0.125)
        h = torch.where(mask, h, torch.zeros_like(h))
        p = h.sum(1) * 0.25 + torch.where(mask, h, torch.full_like(h, -4.0)).amax(1)   # [B, 5]
        p = torch.clamp(self.bn(p), -3.0, 3.0)
        q = torch.nn.functional.leaky_relu(self.bn2(self.lin2(p)), 0.25)
        return self.out(q)


@EXPORTERS
def test_masked_set_model_compiles_and_passes_selfcheck(tmp_path, dynamo):
    path = export(MaskedSet().eval(), (torch.randn(2, N, 4),), str(tmp_path / "masked.onnx"), dynamo)
    ops = {n.op_type for n in onnx.load(path).graph.node}
    assert {"Where", "LeakyRelu", "ReduceMax", "BatchNormalization", "Clip"} <= ops, ops
    assert {"Not", "Equal"} <= ops or dynamo, ops          # dynamo may write the mask its own way
    # events with zero-padded particles (1 to N real ones), on the input grid: the masks matter
    rng = np.random.default_rng(0)
    x = np.round(rng.normal(size=(128, N, 4)) * 2 ** 9) / 2 ** 9
    x[np.arange(N)[None, :] >= rng.integers(1, N + 1, size=128)[:, None]] = 0.0
    assert (np.abs(x).sum(-1) == 0).any()
    m = project.compile_model(path, output_dir=str(tmp_path / "p"), input_type="ap_fixed<16,5>", samples={"x": x},
                              log=lambda *a: None)
    rep = m["self_check"]
    assert rep["passed"], rep
    assert rep["outputs"]["y"]["csim_vs_twin_mismatches"] == 0
    used = {n["op"] for n in m["nodes"]}
    assert {"Select", "ReduceMax", "Eltwise", "Dense"} <= used, used
    top = open(os.path.join(str(tmp_path / "p"), "firmware", "myproject.cpp")).read()
    assert "nnet::" not in top.split("NETWORK INSTANTIATION")[1]
