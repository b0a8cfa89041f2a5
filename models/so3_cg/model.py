"""Tiny O(3)- and permutation-equivariant model built from Clebsch-Gordan tensor products.

Input ``p`` [B, N, 3] float32: constituent 3-momenta (px, py, pz) in units of ``P_UNIT`` GeV
(64 GeV); all-zero rows are padding. Every coupling is an ``equihls::TensorProduct`` node with
declared irreps, so ``equihls compile`` verifies each one is an O(3) intertwiner::

    s_i = TP(p_i, p_i; cg(1,1,0))              # 1o x 1o -> 0e, = |p_i|^2 / sqrt(3)      [B,N,1]
    h_i = relu(Linear(1, H)(s_i))              # per-particle MLP on the invariant
    w_i = Linear(H, 2)(h_i)                    # two scalar weights per particle (0e)   [B,N,2]
    v   = sum_i TP(w_i[0], p_i; cg(0,1,1))     # 0e x 1o -> 1o: weighted vector sum     [B,3]
    q_i = TP(p_i, p_i; cg(1,1,2))              # 1o x 1o -> 2e: traceless quadrupole    [B,N,5]
    t   = sum_i TP(w_i[1], q_i; cg(0,2,2)) * T_SCALE   # 0e x 2e -> 2e              [B,5]
    y   = concat(v, t)                         # "1x1o+1x2e"                            [B,8]

Padding rows give p_i = 0, hence zero contributions to v and t whatever w_i is (no mask).
The sums over particles make the output invariant under constituent permutations.
T_SCALE = 2**-4 is a pure shift in fixed point.
"""

from __future__ import annotations

import torch
from torch import nn

from equihls.irreps import cg
from equihls.torch_ops import tensor_product

N_CONST = 16
HIDDEN = 8
P_UNIT = 64.0          # GeV per input unit
T_SCALE = 2.0 ** -4    # l=2 output in units of (256 GeV)^2 instead of (64 GeV)^2
OUTPUT_IRREPS = "1x1o+1x2e"

C110 = torch.tensor(cg(1, 1, 0), dtype=torch.float32)   # [3,3,1]
C112 = torch.tensor(cg(1, 1, 2), dtype=torch.float32)   # [3,3,5]
C011 = torch.tensor(cg(0, 1, 1), dtype=torch.float32)   # [1,3,3]
C022 = torch.tensor(cg(0, 2, 2), dtype=torch.float32)   # [1,5,5]


class SO3CG(nn.Module):
    """Hard-axis vector (l=1) and hard quadrupole (l=2) regressor; see the module docstring.

    forward(p): p [B, N, 3] in units of 64 GeV -> y [B, 8] = (v [3] in 64 GeV,
    t [5] in (256 GeV)^2), irreps "1x1o+1x2e" (l=1 basis (x, y, z); l=2 basis of cg(1,1,2)).
    """

    def __init__(self, hidden: int = HIDDEN, t_scale: float = T_SCALE):
        super().__init__()
        self.t_scale = float(t_scale)
        self.phi1 = nn.Linear(1, hidden)
        self.phi2 = nn.Linear(hidden, 2)

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        s = tensor_product(p, p, C110, "1x1o", "1x1o", "1x0e")             # [B,N,1]
        w = self.phi2(torch.relu(self.phi1(s)))                           # [B,N,2]
        v = tensor_product(w[..., 0:1], p, C011, "1x0e", "1x1o", "1x1o").sum(dim=1)
        q = tensor_product(p, p, C112, "1x1o", "1x1o", "1x2e")             # [B,N,5]
        t = tensor_product(w[..., 1:2], q, C022, "1x0e", "1x2e", "1x2e").sum(dim=1) * self.t_scale
        return torch.cat([v, t], dim=-1)


def targets(p: torch.Tensor, threshold: float = 10.0 / P_UNIT, t_scale: float = T_SCALE) -> torch.Tensor:
    """Regression targets for p [B, N, 3] (units of 64 GeV) -> [B, 8].

    v* = sum_i p_i [|p_i| > 10 GeV]                      (hard axis, 64 GeV)
    t* = T_SCALE * sum_i [|p_i| > 10 GeV] TP(p_i, p_i; cg(1,1,2))
       = -sqrt(2/15)/16 * (traceless part of sum_hard p_i p_i^T, in the cg(1,1,2) basis),
         units (256 GeV)^2.
    """
    hard = (p.norm(dim=-1, keepdim=True) > threshold).to(p.dtype)
    v = (hard * p).sum(dim=1)
    q = torch.einsum("bni,bnj,ijk->bnk", p, p, C112.to(p.dtype))
    t = (hard * q).sum(dim=1) * t_scale
    return torch.cat([v, t], dim=-1)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
