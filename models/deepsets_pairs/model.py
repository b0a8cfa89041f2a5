"""Deep Sets over pairwise Minkowski products: a Lorentz- and permutation-
invariant top tagger.

The op structure below is deliberately minimal and is what the ``equihls``
compiler pattern-matches; do not add other ops (normalisation layers,
softmax, dropout, masking, comparisons, ...)::

    x: [B, N, 4] float32, (E, px, py, pz) in GeV
    g = einsum('bid,d,bjd->bij', x, eta, x)   # eta = (1, -1, -1, -1): Minkowski Gram matrix
    g = g * G_SCALE                           # power-of-two scale
    p = sign(g) * log1p(|g|)                  # psi
    h = relu(Linear(1, H)(p[..., None]))      # per-pair MLP
    h = relu(Linear(H, H)(h))
    s = h.sum(dim=(1, 2)) * POOL_SCALE        # sum pooling over all N*N pairs
    z = relu(Linear(H, H)(s))
    logit = Linear(H, 1)(z)                   # [B, 1]

Both scales are exact powers of two, so they are exactly representable in
any binary fixed-point format (they become pure shifts).
"""

from __future__ import annotations

import torch
from torch import nn

N_CONST = 16
HIDDEN = 4
G_SCALE = 1.0 / 256.0      # 2**-8  (GeV^2 -> units of 16 GeV squared)
POOL_SCALE = 1.0 / 256.0   # 2**-8  (= 1 / N_CONST**2: mean over pairs)


class DeepSetsPairs(nn.Module):
    def __init__(self, hidden: int = HIDDEN, g_scale: float = G_SCALE,
                 pool_scale: float = POOL_SCALE):
        super().__init__()
        self.register_buffer("eta", torch.tensor([1.0, -1.0, -1.0, -1.0]))
        self.g_scale = float(g_scale)
        self.pool_scale = float(pool_scale)
        self.phi1 = nn.Linear(1, hidden)
        self.phi2 = nn.Linear(hidden, hidden)
        self.rho1 = nn.Linear(hidden, hidden)
        self.rho2 = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = torch.einsum("bid,d,bjd->bij", x, self.eta, x)
        g = g * self.g_scale
        p = torch.sign(g) * torch.log1p(torch.abs(g))
        h = p.unsqueeze(-1)
        h = torch.relu(self.phi1(h))
        h = torch.relu(self.phi2(h))
        s = h.sum(dim=(1, 2)) * self.pool_scale
        z = torch.relu(self.rho1(s))
        return self.rho2(z)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
