"""LorentzNet-lite: one Lorentz group equivariant block (LGEB) on Minkowski products.

A Lorentz- and permutation-invariant top tagger in the spirit of LorentzNet (Gong, Meng, Qi,
Li, Zhang, Liu, Li, Zhang, JHEP 07 (2022) 030, arXiv:2201.08187), cut down to a single LGEB and
written only with op patterns that the ``equihls`` compiler lowers (no comparisons, no division
by tensors, no clamp)::

    x: [B, N, 4] float32, (E, px, py, pz) in GeV, zero rows = padding
    d    = scalar_products(x)                     # d_ij = <x_i, x_j>, metric (+,-,-,-), GeV^2
    dd   = diag(d)                                # d_ii = m_i^2
    r    = d.sum(2)                               # r_i  = <x_i, J>, J = sum of the N constituents
    q_ij = d_ii + d_jj - 2 d_ij                   # ||x_i - x_j||^2 (Minkowski), exact
    psi(v) = sign(v) log(1 + |v|)                 # one LUT each, after a 2^-k scale
    h_i  = Linear(2, H)(psi(S_M d_ii), psi(S_R r_i))                # node scalars, [B, N, H]
    m_ij = phi_e(h_i, h_j, psi(S_D d_ij), psi(S_D q_ij))            # edge MLP, [B, N, N, E]
         = relu(A h_i + B h_j + Linear(2, E)(psi(S_D d_ij), psi(S_D q_ij)))   # = Linear(2H+2, E)
    w_ij = sigmoid(phi_m(m_ij))                   # phi_m = Linear(E, 1); sigmoid = LUT
    h_i' = h_i + phi_h(h_i, 2^-4 sum_j w_ij m_ij) # phi_h = Linear(H+E, H) -> relu -> Linear(H, H)
    x_i' = x_i + C_X sum_j (x_i - x_j) phi_x(m_ij)      # phi_x = tanh(Linear(E, 1)); no clamp
    X'   = sum_i x_i'                                   # the updated jet four-momentum
    logit = Linear(H + 1, 1)(2^-4 sum_i h_i',  psi(S_T <X', X'>))

Firmware shape (same numbers as the formula): the pair invariants d_ij, q_ij are symmetric, so
psi and Linear(2, E) run on the N(N+1)/2 pairs i <= j only and are routed (wiring) to (i, j) and
(j, i), as in pelican_nano; A h_i and B h_j run on the N particles and are broadcast-added. phi_e
has one layer (LorentzNet's has two): a second E x E layer on all N^2 pairs alone would need more
DSPs than a VU9P has (development estimate: 8,960 DSP for E = 8).

The coordinate update is the LGEB's equivariant one: x_i - x_j is a four-vector and phi_x(m_ij)
a Lorentz scalar, so x_i' transforms like x_i (no clamp, which would break that). With a single
block, x' enters the readout through the invariant mass of the updated jet, <X', X'>.

Invariance (exact arithmetic): every quantity feeding the MLPs is a function of Minkowski
products only, hence Lorentz invariant; relabelling the particles permutes i, j consistently in
every pair tensor, and the sums over j (messages, coordinate update) and over i (readout, X')
are permutation invariant. The sum over j runs over all j, the diagonal j = i included (its
coordinate term vanishes since x_i - x_i = 0; its message m_ii is an ordinary permutation
equivariant term). Nothing else enters: the logit is exactly invariant.

Padding (zero rows) is not masked, as in pelican_nano: a zero row has d_ij = 0, so its pairs see
psi(0) = 0 invariants but still its own h (the bias of the embedding); it is an exactly invariant
multiplicity feature. 99.9 % of the jets have 16 constituents.

All scales and normalisers are powers of two (shifts in fixed point).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from equihls.ops.torch_ops import scalar_products

N_CONST = 16
HIDDEN = 4               # H: node scalars
EDGE = 4                 # E: edge message width
S_M = 2.0 ** -4          # masses d_ii: units of 16 GeV^2
S_R = 2.0 ** -8          # r_i = <x_i, J>: units of 256 GeV^2
S_D = 2.0 ** -4          # pair products d_ij and ||x_i - x_j||^2: units of 16 GeV^2
S_T = 2.0 ** -10         # <X', X'>: units of 1024 GeV^2 (m_top^2 ~ 29.2)
AGG = 2.0 ** -4          # 1 / N: message sum over j
POOL = 2.0 ** -4         # 1 / N: readout sum over i
C_X = 2.0 ** -5          # coordinate-update step c


def psi(x: torch.Tensor) -> torch.Tensor:
    """sign(x) log(1 + |x|), written the way equihls recognises it (one LUT)."""
    return torch.sign(x) * torch.log1p(torch.abs(x))


class LorentzNetLite(nn.Module):
    def __init__(self, n_const: int = N_CONST, hidden: int = HIDDEN, edge: int = EDGE):
        super().__init__()
        self.n, self.h, self.e = int(n_const), int(hidden), int(edge)
        self.embed = nn.Linear(2, hidden)                   # h_i from psi(d_ii), psi(r_i)
        # phi_e layer 1 = Linear(2H + 2, E), split by input: h_i, h_j, the two pair invariants
        self.e_hi = nn.Linear(hidden, edge, bias=False)
        self.e_hj = nn.Linear(hidden, edge, bias=False)
        self.e_pair = nn.Linear(2, edge)
        self.phi_m = nn.Linear(edge, 1)                     # gate
        self.phi_x = nn.Linear(edge, 1)                     # coordinate weight (through tanh)
        self.h_1 = nn.Linear(hidden + edge, hidden)         # phi_h
        self.h_2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden + 1, 1)
        iu, ju = np.triu_indices(self.n, k=1)
        diag = np.arange(self.n)
        pos = np.empty((self.n, self.n), dtype=np.int64)    # (i, j) -> index in [pairs i<j, diagonal]
        pos[iu, ju] = pos[ju, iu] = np.arange(iu.size)
        pos[diag, diag] = iu.size + diag
        self.register_buffer("diag_idx", torch.from_numpy(diag * (self.n + 1)), persistent=False)
        self.register_buffer("sym_idx", torch.from_numpy(np.concatenate([iu * self.n + ju, diag * (self.n + 1)])),
                             persistent=False)
        self.register_buffer("pair_pos", torch.from_numpy(pos.reshape(-1)), persistent=False)

    def block(self, x: torch.Tensor):
        """The LGEB: (h', x') and the invariants it used."""
        n = self.n
        d = scalar_products(x)                                           # [B,N,N]
        dflat = d.reshape(-1, n * n)
        dd = dflat[:, self.diag_idx]                                     # [B,N]
        r = d.sum(dim=2)                                                 # [B,N]
        ds = dflat[:, self.sym_idx]                                      # [B,P] pairs i<j, then i=j
        dd_s = dd[:, self.sym_idx // n]
        qs = dd_s + dd[:, self.sym_idx % n] - 2.0 * ds                   # ||x_i - x_j||^2, [B,P]
        h = self.embed(torch.stack([psi(dd * S_M), psi(r * S_R)], dim=-1))          # [B,N,H]
        e_sym = self.e_pair(torch.stack([psi(ds * S_D), psi(qs * S_D)], dim=-1))     # [B,P,E]
        e_pair = e_sym[:, self.pair_pos].reshape(-1, n, n, self.e)                   # [B,N,N,E]
        m = torch.relu(e_pair + self.e_hi(h).unsqueeze(2) + self.e_hj(h).unsqueeze(1))  # [B,N,N,E]
        w = torch.sigmoid(self.phi_m(m))                                             # [B,N,N,1]
        agg = (w * m).sum(dim=2) * AGG                                               # [B,N,E]
        h = h + self.h_2(torch.relu(self.h_1(torch.cat([h, agg], dim=-1))))          # [B,N,H]
        dx = x.unsqueeze(2) - x.unsqueeze(1)                                         # [B,N,N,4]
        x = x + C_X * (dx * torch.tanh(self.phi_x(m))).sum(dim=2)                    # [B,N,4]
        return h, x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, xu = self.block(x)
        return self.readout(h, xu)

    def readout(self, h: torch.Tensor, xu: torch.Tensor) -> torch.Tensor:
        jet = xu.sum(dim=1, keepdim=True)                                # X' [B,1,4]
        mj2 = scalar_products(jet).reshape(-1, 1)                        # <X',X'> [B,1]
        feats = torch.cat([h.sum(dim=1) * POOL, psi(mj2 * S_T)], dim=-1)  # [B,H+1]
        return self.out(feats)


    # ------------------------------------------------------------------ textbook form (tests)
    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        """Textbook form: phi_e = Linear(2H+2, E) on the explicit [B,N,N,2H+2] edge input."""
        n = self.n
        d = scalar_products(x)
        dd = torch.diagonal(d, dim1=1, dim2=2)
        r = d.sum(dim=2)
        q = dd.unsqueeze(2) + dd.unsqueeze(1) - 2.0 * d
        h = self.embed(torch.stack([psi(dd * S_M), psi(r * S_R)], dim=-1))
        hi, hj = h.unsqueeze(2).expand(-1, n, n, -1), h.unsqueeze(1).expand(-1, n, n, -1)
        edge_in = torch.cat([hi, hj, psi(d * S_D).unsqueeze(-1), psi(q * S_D).unsqueeze(-1)], dim=-1)
        w = torch.cat([self.e_hi.weight, self.e_hj.weight, self.e_pair.weight], dim=1)   # [E, 2H+2]
        m = torch.relu(nn.functional.linear(edge_in, w, self.e_pair.bias))
        gate = torch.sigmoid(self.phi_m(m))
        h = h + self.h_2(torch.relu(self.h_1(torch.cat([h, (gate * m).sum(dim=2) * AGG], dim=-1))))
        dx = x.unsqueeze(2) - x.unsqueeze(1)
        xu = x + C_X * (dx * torch.tanh(self.phi_x(m))).sum(dim=2)
        return self.readout(h, xu)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
