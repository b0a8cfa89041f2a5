"""PELICAN-nano: one permutation-equivariant 2->2 layer on pairwise Minkowski products.

A Lorentz- and permutation-invariant top tagger in the spirit of PELICAN (Bogatskiy, Hoffman,
Miller, Offermann, arXiv:2211.00454), cut down to one Eq2to2 layer and written only with op
patterns that the ``equihls`` compiler lowers (no comparisons, no division by tensors, no
softmax)::

    x: [B, N, 4] float32, (E, px, py, pz) in GeV, zero rows = padding
    d  = scalar_products(x)        # d_ij = <p_i, p_j>, metric (+,-,-,-), [B, N, N], GeV^2
    r  = d.sum(2)                  # r_i  = p_i . J    (J = sum of the N constituents)
    t  = r.sum(1)                  # t    = J . J = m_J^2 (mass^2 of the N constituents)
    dd = diag(d)                   # d_ii = m_i^2
    # the six aggregations, each compressed by psi(x) = sign(x) log(1 + |x|) after a 2^-k scale:
    A1_ij = psi(S_D d_ij)          # identity             A2_ij = psi(S_R r_i)  row-sum broadcast
    A3_ij = psi(S_R r_j)           # column-sum broadcast A4_ij = psi(S_T t)    total-sum broadcast
    A5_ij = delta_ij psi(S_D d_ii) # diagonal             A6_ij = delta_ij psi(S_R r_i)  row sums on the diagonal
    h_ij  = relu(Linear(6, C)(A_ij))                           # [B, N, N, C]
    s     = concat(sum_ij h_ij * 2**-8, sum_i h_ii * 2**-4)    # Eq2to0: all pairs, diagonal; [B, 2C]
    logit = Linear(2C, 1)(s)

Basis: the six maps are six of the 15 basis elements of the permutation-equivariant linear maps
R^{NxN} -> R^{NxN} (Maron, Ben-Hamu, Shamir, Lipman, ICLR 2019) -- identity, row-sum and
column-sum broadcasts, total-sum broadcast, diagonal extraction, row sums placed on the
diagonal -- evaluated on the symmetric d (so the transpose-type elements coincide with these,
and the column sum of column j is r_j). psi is applied after the (exact) aggregation, as an
element-wise function, so each A_k is still permutation equivariant; every A_k is a function of
Minkowski products only, so it is Lorentz invariant; the Eq2to0 sums make the logit permutation
invariant. Nothing else enters: the model is exactly invariant in exact arithmetic.

``forward`` computes ``Linear(6, C)`` factorised -- the same numbers as ``forward_reference``,
which builds the [B, N, N, 6] tensor -- in the shape the firmware should have:

* the pair term W[:,0] psi(S_D d_ij) is symmetric in (i, j): psi and the 1->C product run only
  on the N(N-1)/2 off-diagonal pairs i < j and are routed (wiring) to both (i, j) and (j, i);
* the diagonal (W[:,0] + W[:,4]) psi(S_D d_ii) + W[:,5] psi(S_R r_i) runs on the N particles;
* the row, column and total terms run on N particles / once and are broadcast-added.

Padding (zero rows) is NOT masked: a zero row has d_ij = 0, r_i = 0, hence A1 = A2/A3 = A5 =
A6 = 0 on its pairs, but the total term and the bias (and the other particle's row/column term)
remain, so pairs touching a zero row add relu(W_row psi(S_R r_j) + W_tot psi(S_T t) + b) terms: an
exactly invariant function of the other particle, m_J^2 and the number of zero rows (an implicit
multiplicity feature, as in deepsets_pairs). See README.md ("Padding") for why no mask.

All scales are powers of two (shifts in fixed point).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from equihls.ops.torch_ops import scalar_products

N_CONST = 16
CHANNELS = 8
S_D = 2.0 ** -4          # pair products d_ij and masses d_ii: GeV^2 -> units of 16 GeV^2
S_R = 2.0 ** -8          # row sums r_i = p_i . J: units of 256 GeV^2
S_T = 2.0 ** -10         # total t = m_J^2: units of 1024 GeV^2 (m_top^2 ~ 29.2)
POOL_PAIRS = 2.0 ** -8   # 1 / N^2
POOL_DIAG = 2.0 ** -4    # 1 / N


def psi(x: torch.Tensor) -> torch.Tensor:
    """sign(x) log(1 + |x|), written the way equihls recognises it (one LUT)."""
    return torch.sign(x) * torch.log1p(torch.abs(x))


def index_tables(n: int):
    """(flat index of the pairs i<j, flat index of the diagonal, position of every (i, j) in
    concat([pairs i<j], [diagonal]))."""
    iu, ju = np.triu_indices(n, k=1)
    diag = np.arange(n)
    pos = np.empty((n, n), dtype=np.int64)
    pos[iu, ju] = np.arange(iu.size)
    pos[ju, iu] = np.arange(iu.size)
    pos[diag, diag] = iu.size + diag
    return iu * n + ju, diag * (n + 1), pos.reshape(-1)


class PelicanNano(nn.Module):
    def __init__(self, n_const: int = N_CONST, channels: int = CHANNELS, s_d: float = S_D,
                 s_r: float = S_R, s_t: float = S_T):
        super().__init__()
        self.n, self.c = int(n_const), int(channels)
        self.s_d, self.s_r, self.s_t = float(s_d), float(s_r), float(s_t)
        self.mix = nn.Linear(6, channels)      # Eq2to2: mixes the six aggregations to C channels
        self.out = nn.Linear(2 * channels, 1)  # Eq2to0 features -> logit
        off, dg, pos = index_tables(self.n)
        self.register_buffer("off_idx", torch.from_numpy(off), persistent=False)
        self.register_buffer("diag_idx", torch.from_numpy(dg), persistent=False)
        self.register_buffer("pair_pos", torch.from_numpy(pos), persistent=False)

    def invariants(self, x: torch.Tensor):
        """d [B,N,N] (flattened too), r = p_i.J [B,N], t = m_J^2 [B,1], d_ii [B,N]."""
        d = scalar_products(x)
        r = d.sum(dim=2)
        t = r.sum(dim=1, keepdim=True)
        dflat = d.reshape(-1, self.n * self.n)
        return d, dflat, r, t, dflat[:, self.diag_idx]

    def pool(self, h: torch.Tensor) -> torch.Tensor:
        """Eq2to0 of h [B,N,N,C]: sum over all pairs and over the diagonal, then the logit."""
        n, c = self.n, self.c
        s_all = h.sum(dim=(1, 2)) * POOL_PAIRS                                        # [B,C]
        s_dia = h.reshape(-1, n * n, c)[:, self.diag_idx].sum(dim=1) * POOL_DIAG     # [B,C]
        return self.out(torch.cat([s_all, s_dia], dim=-1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = self.n, self.c
        d, dflat, r, t, dd = self.invariants(x)
        w, b = self.mix.weight, self.mix.bias                   # [C,6], [C]
        f_off = psi(dflat[:, self.off_idx] * self.s_d)          # [B,N(N-1)/2]
        f_dd = psi(dd * self.s_d)                               # [B,N]
        f_r = psi(r * self.s_r)                                 # [B,N]
        f_t = psi(t * self.s_t)                                 # [B,1]
        # pair term: off-diagonal pairs i<j once, the diagonal separately, routed to all (i, j)
        a_off = torch.matmul(f_off.unsqueeze(-1), w[:, 0:1].t())                    # [B,P,C]
        w_dia = torch.stack([w[:, 0] + w[:, 4], w[:, 5]], dim=0)                     # [2,C]
        a_dia = torch.matmul(torch.stack([f_dd, f_r], dim=-1), w_dia)                # [B,N,C]
        a_pair = torch.cat([a_off, a_dia], dim=1)[:, self.pair_pos].reshape(-1, n, n, c)
        # row, column and total terms on N particles / once, broadcast over the pairs
        a_row = torch.matmul(f_r.unsqueeze(-1), w[:, 1:2].t())                       # [B,N,C]
        a_col = torch.matmul(f_r.unsqueeze(-1), w[:, 2:3].t())                       # [B,N,C]
        a_tot = torch.matmul(f_t, w[:, 3:4].t()) + b                                 # [B,C]
        pre = a_pair + (a_row + a_tot.unsqueeze(1)).unsqueeze(2) + a_col.unsqueeze(1)
        return self.pool(torch.relu(pre))

    # ------------------------------------------------------------------ textbook form (tests)
    def aggregations(self, x: torch.Tensor) -> torch.Tensor:
        """The six psi-compressed aggregations A [B,N,N,6]."""
        n = self.n
        d, _, r, t, dd = self.invariants(x)
        eye = torch.eye(n, dtype=x.dtype, device=x.device)
        f_r = psi(r * self.s_r)
        return torch.stack([psi(d * self.s_d),
                            f_r.unsqueeze(2).expand(-1, n, n),
                            f_r.unsqueeze(1).expand(-1, n, n),
                            psi(t * self.s_t).unsqueeze(2).expand(-1, n, n),
                            psi(dd * self.s_d).unsqueeze(2) * eye,
                            f_r.unsqueeze(2) * eye], dim=-1)

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        """Textbook form: Linear(6, C) on the explicit [B,N,N,6] aggregations (same numbers)."""
        return self.pool(torch.relu(self.mix(self.aggregations(x))))


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
