"""Normalisation folding: a CG coefficient tensor with an exact simple form (1⊗1→0 = I/√3,
1⊗1→1 = ε/√6) becomes integer (no constant multipliers) and its scale moves into the next Dense;
without a Dense downstream nothing changes. The compiled model still passes its self-check."""
import warnings

import numpy as np
import pytest
import torch

from equihls.frontend import onnx_import as frontend
from equihls import passes
from equihls.blocks.bilinear import multiplier_count
from equihls.symmetry.o3 import cg
from equihls.project import compile_model
from equihls.ops.torch_ops import export, tensor_product

N = 4
C110, C111 = (torch.tensor(cg(1, 1, l), dtype=torch.float32) for l in (0, 1))


class DotThenLinear(torch.nn.Module):
    """s_i = u_i·w_i/√3 -> Linear(1->2) per particle -> sum; c = Σ_i u_i×w_i/√6 straight out."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.mix = torch.nn.Linear(1, 2)

    def forward(self, x):
        u, w = x[..., :3], x[..., 3:]
        s = self.mix(tensor_product(u, w, C110, "1x1o", "1x1o", "1x0e")).sum(1)
        c = tensor_product(u, w, C111, "1x1o", "1x1o", "1x1e").sum(1)
        return torch.cat([s, c], dim=-1)


def _export(tmp_path):
    path = str(tmp_path / "dot_linear.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        export(DotThenLinear().eval(), (torch.randn(2, N, 6),), path, input_names=["x"], output_names=["y"],
               dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    return path


def test_scale_moves_into_the_next_dense(tmp_path):
    path = _export(tmp_path)
    g, _ = frontend.load(path)
    log = passes.run_all(g)
    assert "fold_cg_scales" in log
    bil = [n for n in g.nodes if n.op == "Bilinear"]
    scales = sorted(n.attrs["cg_scale"] for n in bil)
    assert scales[0] == 1.0 and np.isclose(scales[1], np.sqrt(3))        # cross product feeds the output: kept
    dot = next(n for n in bil if n.attrs["cg_scale"] != 1.0)
    c = g.consts[dot.inputs[2]]
    assert np.array_equal(c[:, :, 0], np.eye(3))                          # u·w, integer coefficients
    assert multiplier_count(c)[1] == 0
    cross = next(n for n in bil if n.attrs["cg_scale"] == 1.0)
    assert multiplier_count(g.consts[cross.inputs[2]])[1] > 0             # ε/√6: constant multipliers remain
    dense = next(n for n in g.nodes if n.op == "Dense")
    w0 = DotThenLinear().mix.weight.detach().numpy().T
    assert np.allclose(g.consts[dense.inputs[1]], w0 / np.sqrt(3), rtol=1e-6)


@pytest.mark.gxx
def test_folded_model_passes_selfcheck(tmp_path):
    m = compile_model(_export(tmp_path), output_dir=str(tmp_path / "p"), input_type="ap_fixed<12,6>", n_samples=64,
                      log=lambda *a: None)
    assert m["self_check"]["passed"]
    assert sorted(round(n["attrs"]["cg_scale"], 6) for n in m["nodes"] if n["op"] == "Bilinear") == \
        [1.0, round(np.sqrt(3), 6)]


class CoordinateUpdate(torch.nn.Module):
    """LorentzNet's x_i' = x_i + c·Σ_j (x_i - x_j)·φ(|x_i - x_j|²), φ a Linear; `square`: the
    factor is the squared norm itself (no Dense to fold into); `pow2`: c = 1/4 (a shift)."""

    def __init__(self, c: float = 0.05, square: bool = False):
        super().__init__()
        torch.manual_seed(1)
        self.c, self.square = c, square
        self.phi = torch.nn.Linear(1, 1)

    def forward(self, x):
        dx = x[:, :, None, :] - x[:, None, :, :]
        n2 = (dx * dx).sum(-1, keepdim=True)
        f = n2 if self.square else self.phi(n2)
        return x + self.c * (dx * f).sum(dim=2)


def _coord(tmp_path, **kw):
    path = str(tmp_path / "coord.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(CoordinateUpdate(**kw).eval(), (torch.randn(2, N, 3),), path, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, dynamo=False)
    return path


@pytest.mark.parametrize("kw, folded", [({}, True), ({"square": True}, False), ({"c": 0.25}, False)],
                         ids=["dense", "no_dense", "pow2"])
def test_constant_factor_moves_into_the_dense_it_scales(tmp_path, kw, folded):
    """c·Σ_j dx·φ: c leaves the covariant chain for φ's weights and bias (no multiply by c is left);
    without a Dense on the way, or for c = 2^k (a shift), nothing changes."""
    g, _ = frontend.load(_coord(tmp_path, **kw))
    log = passes.run_all(g)
    assert ("fold_constant_factors" in log) == folded
    cmul = [n for n in g.nodes if n.op == "Eltwise" and n.attrs["op"] == "mul"
            and any(g.is_const(t) and np.allclose(g.consts[t], kw.get("c", 0.05)) for t in n.inputs)]
    assert bool(cmul) != folded
    if folded:
        dense = next(n for n in g.nodes if n.op == "Dense")
        m = CoordinateUpdate()
        assert np.allclose(g.consts[dense.inputs[1]], 0.05 * m.phi.weight.detach().numpy().T, rtol=1e-6)
        assert np.allclose(g.consts[dense.inputs[2]], 0.05 * m.phi.bias.detach().numpy(), rtol=1e-6)


@pytest.mark.gxx
def test_folded_constant_factor_computes_the_model(tmp_path):
    """The folded coordinate update passes the self-check against ONNX Runtime on raw samples."""
    m = compile_model(_coord(tmp_path), output_dir=str(tmp_path / "p"), input_type="ap_fixed<12,6>", n_samples=64,
                      log=lambda *a: None)
    assert m["self_check"]["passed"] and "fold_constant_factors" in m["passes"]
