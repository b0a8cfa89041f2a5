"""End-to-end lowering of what exports of permutation-equivariant layers contain: broadcasting
between [B,N,N,C], [B,N,1,C], [B,1,N,C] and constants (identity mask), Expand, Concat along the
channel axis, Slice/Gather with constant indices, Linear on rank-3/4 tensors, ReduceSum/Mean,
Sigmoid/Tanh tables and psi. Each is compiled and must pass the self-check."""
import os

import onnx
import pytest

torch = pytest.importorskip("torch")

from equihls import project  # noqa: E402
from tests.exporters import EXPORTERS, export  # noqa: E402

pytestmark = pytest.mark.gxx

N = 4


class Eq2to2(torch.nn.Module):
    """PELICAN-style: Gram matrix -> six permutation-equivariant aggregations -> Linear -> pooling."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.register_buffer("eta", torch.tensor([1.0, -1.0, -1.0, -1.0]))
        self.register_buffer("eye", torch.eye(N))
        self.mix = torch.nn.Linear(6, 3)
        self.out = torch.nn.Linear(2, 1)

    def forward(self, x):
        d = torch.einsum("bid,d,bjd->bij", x, self.eta, x) * 2**-6
        d = torch.sign(d) * torch.log1p(torch.abs(d))
        d = d.unsqueeze(-1)                                   # [B,N,N,1]
        row = d.sum(dim=2, keepdim=True).expand(-1, -1, N, -1)  # [B,N,N,1]
        col = d.sum(dim=1, keepdim=True).expand(-1, N, -1, -1)
        tot = d.sum(dim=(1, 2), keepdim=True).expand(-1, N, N, -1) * 0.125
        diag = (d * self.eye.unsqueeze(-1)).sum(dim=2)         # [B,N,1]
        diag_b = diag.unsqueeze(2) * self.eye.unsqueeze(-1)    # diag(d_ii) as matrix
        dmean = d.mean(dim=2, keepdim=True) * self.eye.unsqueeze(-1)  # [B,N,N,1] via broadcasting
        h = torch.cat([d, row, col, tot, diag_b, dmean], dim=-1)  # [B,N,N,6]
        h = torch.relu(self.mix(h))
        h = torch.tanh(h[..., :2]).sum(dim=(1, 2)) + torch.sigmoid(h[..., 2:3]).mean(dim=(1, 2))
        return self.out(torch.cat([h[:, :1], h[:, 1:]], dim=-1))


@EXPORTERS
def test_eq2to2_layer_compiles_and_passes_selfcheck(tmp_path, dynamo):
    path = export(Eq2to2().eval(), (torch.randn(2, N, 4) * 20,), str(tmp_path / "eq2to2.onnx"), dynamo)
    ops = {n.op_type for n in onnx.load(path).graph.node}
    assert {"Concat", "ReduceSum"} <= ops and ({"Expand"} <= ops or dynamo), ops
    m = project.compile_model(path, output_dir=str(tmp_path / "p"), input_type="ap_fixed<12,8>", n_samples=128,
                              log=lambda *a: None)
    rep = m["self_check"]
    assert rep["passed"], rep
    assert rep["outputs"]["y"]["csim_vs_twin_mismatches"] == 0
    used = {n["op"] for n in m["nodes"]}
    assert {"ScalarProducts", "Route", "Concat2", "ReduceSum", "Eltwise", "Dense", "LUT"} <= used
    top = open(os.path.join(str(tmp_path / "p"), "firmware", "myproject.cpp")).read()
    assert "nnet::" not in top.split("NETWORK INSTANTIATION")[1]  # every layer is an equihls block
