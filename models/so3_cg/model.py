"""Tiny O(3)- and permutation-equivariant model built from Clebsch-Gordan tensor products.

Input ``p`` [B, N, 3] float32: constituent 3-momenta (px, py, pz) in units of ``P_UNIT`` GeV
(64 GeV); all-zero rows are padding. Every coupling is an ``equihls::TensorProduct`` node with
declared irreps, so ``equihls compile`` verifies each one is an O(3) intertwiner::

    s_i = TP(p_i, p_i; cg(1,1,0)) * S_SCALE    # 1o x 1o -> 0e, = 64 |p_i|^2 / sqrt(3)   [B,N,1]
    h_i = tanh(Linear(1, H)(s_i))              # per-particle MLP on the invariant      [B,N,H]
    w_i = Linear(H, K)(h_i)                    # K scalar weights per particle (0e)     [B,N,K]
    v   = sum_i TP(w_i[0], p_i; cg(0,1,1))     # 0e x 1o -> 1o: weighted vector sum     [B,3]
  l2=False (K=1, the shipped so3_cg.onnx):
    y   = v                                    # "1x1o"                                 [B,3]
  l2=True (K=2, so3_cg_l2.onnx):
    q_i = TP(p_i, p_i; cg(1,1,2))              # 1o x 1o -> 2e: traceless quadrupole    [B,N,5]
    t   = sum_i TP(w_i[1], q_i; cg(0,2,2)) * T_SCALE   # 0e x 2e -> 2e              [B,5]
    y   = concat(v, t)                         # "1x1o+1x2e"                            [B,8]

Padding rows give p_i = 0, hence zero contributions to v and t whatever w_i is (no mask).
The sums over particles make the output invariant under constituent permutations.
S_SCALE = 2**6 and T_SCALE = 2**-4 are pure shifts in fixed point. S_SCALE puts the 10 GeV
threshold of the target at s = 0.9, where the default initialisation places the tanh knots.
The hidden activation is tanh (a lookup table in firmware), not ReLU: the ideal weight is a step
in |p_i| that stays constant up to |p_i| ~ 2 TeV, which a bounded activation represents directly;
a ReLU layer is linear at large s; on Pythia jets ReLU variants reach R^2 <= 0.9997 on v, barely
above the uncut sum (0.99956), vs. 0.999994 with tanh (see README.md).
"""

from __future__ import annotations

import torch
from torch import nn

from equihls.symmetry.o3 import cg
from equihls.ops.torch_ops import tensor_product

N_CONST = 16
HIDDEN = 8
P_UNIT = 64.0          # GeV per input unit
S_SCALE = 2.0 ** 6     # invariant s in units of (8 GeV)^2 / sqrt(3)
T_SCALE = 2.0 ** -4    # l=2 output in units of (256 GeV)^2 instead of (64 GeV)^2


def output_irreps(l2: bool) -> str:
    """Declared O(3) irreps of the output y (l=1 basis (x, y, z); l=2 basis of cg(1,1,2))."""
    return "1x1o+1x2e" if l2 else "1x1o"


C110 = torch.tensor(cg(1, 1, 0), dtype=torch.float32)   # [3,3,1]
C112 = torch.tensor(cg(1, 1, 2), dtype=torch.float32)   # [3,3,5]
C011 = torch.tensor(cg(0, 1, 1), dtype=torch.float32)   # [1,3,3]
C022 = torch.tensor(cg(0, 2, 2), dtype=torch.float32)   # [1,5,5]


class SO3CG(nn.Module):
    """Hard-axis vector (l=1) and, with l2=True, hard quadrupole (l=2) regressor; see the module
    docstring.

    forward(p): p [B, N, 3] in units of 64 GeV -> y [B, 3] = v in units of 64 GeV ("1x1o"), or
    with l2=True y [B, 8] = (v, t [5] in units of (256 GeV)^2) ("1x1o+1x2e").
    """

    def __init__(self, hidden: int = HIDDEN, l2: bool = False, s_scale: float = S_SCALE,
                 t_scale: float = T_SCALE):
        super().__init__()
        self.l2 = bool(l2)
        self.s_scale = float(s_scale)
        self.t_scale = float(t_scale)
        self.phi1 = nn.Linear(1, hidden)
        self.phi2 = nn.Linear(hidden, 2 if self.l2 else 1)

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        s = tensor_product(p, p, C110, "1x1o", "1x1o", "1x0e") * self.s_scale   # [B,N,1]
        w = self.phi2(torch.tanh(self.phi1(s)))                           # [B,N,2]
        v = tensor_product(w[..., 0:1], p, C011, "1x0e", "1x1o", "1x1o").sum(dim=1)
        if not self.l2:
            return v
        q = tensor_product(p, p, C112, "1x1o", "1x1o", "1x2e")             # [B,N,5]
        t = tensor_product(w[..., 1:2], q, C022, "1x0e", "1x2e", "1x2e").sum(dim=1) * self.t_scale
        return torch.cat([v, t], dim=-1)


def targets(p: torch.Tensor, l2: bool = False, threshold: float = 10.0 / P_UNIT,
            t_scale: float = T_SCALE) -> torch.Tensor:
    """Regression targets for p [B, N, 3] (units of 64 GeV) -> [B, 3] (v*), or [B, 8] (v*, t*)
    with l2=True.

    v* = sum_i p_i [|p_i| > 10 GeV]                      (hard axis, 64 GeV)
    t* = T_SCALE * sum_i [|p_i| > 10 GeV] TP(p_i, p_i; cg(1,1,2))
       = -sqrt(2/15)/16 * (traceless part of sum_hard p_i p_i^T, in the cg(1,1,2) basis),
         units (256 GeV)^2.
    """
    hard = (p.norm(dim=-1, keepdim=True) > threshold).to(p.dtype)
    v = (hard * p).sum(dim=1)
    if not l2:
        return v
    q = torch.einsum("bni,bnj,ijk->bnk", p, p, C112.to(p.dtype))
    t = (hard * q).sum(dim=1) * t_scale
    return torch.cat([v, t], dim=-1)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
