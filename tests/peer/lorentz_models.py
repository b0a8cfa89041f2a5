"""Lorentz-equivariant peer models for the peer-library tests (issue 14, point 6).

Two families, both taking x: [B, N, 4] four-momenta (E, px, py, pz), metric (+, -, -, -):

* L-GATr pieces, built only from the ``lgatr`` package's public API (layers, the vector/scalar
  embedding and extraction functions of ``lgatr.interface``), exactly as a user would stack them;
* PELICAN and LorentzNet, written in plain torch from their papers' equations (PELICAN:
  Bogatskiy et al., arXiv:2211.00454, Eq2to2 layers of Maron et al., ICLR 2019; LorentzNet: Gong
  et al., arXiv:2201.08187, the LGEB), the way a physicist would: a padding mask from
  ``x.sum(-1) != 0``, means normalised by the number of real particles, BatchNorm, dropout.

Everything is tiny (N = 4 particles, a few channels) so that compile + C simulation take seconds.
"""
from __future__ import annotations

import torch
from torch import nn

N = 4
METRIC = (1.0, -1.0, -1.0, -1.0)


def minkowski(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """<a, b> = a0 b0 - a.b over the last axis."""
    return a[..., 0] * b[..., 0] - (a[..., 1:] * b[..., 1:]).sum(-1)


def psi(v: torch.Tensor) -> torch.Tensor:
    """sign(v) log(1 + |v|): LorentzNet's compression of the pair invariants."""
    return torch.sign(v) * torch.log1p(torch.abs(v))


def _randomise_batchnorm(bn: nn.BatchNorm1d, gen: torch.Generator):
    """Give an eval-mode BatchNorm trained-looking statistics and affine parameters (else it is ~identity)."""
    c = bn.num_features
    with torch.no_grad():
        bn.running_mean.copy_(0.3 * torch.randn(c, generator=gen))
        bn.running_var.copy_(0.5 + torch.rand(c, generator=gen))
        bn.weight.copy_(1.0 + 0.2 * torch.randn(c, generator=gen))
        bn.bias.copy_(0.1 * torch.randn(c, generator=gen))


# =========================================================================== L-GATr

def _lgatr():
    import lgatr
    from lgatr import layers

    return lgatr, layers


class LGATrEquiLinear(nn.Module):
    """EquiLinear on two vector channels per particle, x_i and the jet J = sum_j x_j: the output
    vector part, a learned mix a x_i + b J per output channel, is Lorentz and permutation equivariant."""

    def __init__(self, out_channels: int = 1):
        super().__init__()
        lgatr, layers = _lgatr()
        self.lgatr = lgatr
        self.lin = layers.EquiLinear(2, out_channels, lgatr.PrimitivesConfig())

    def forward(self, x):
        jet = x.sum(dim=1, keepdim=True).expand_as(x)
        mv = self.lgatr.embed_vector(torch.stack([x, jet], dim=-2))        # [B, N, 2, 16]
        out, _ = self.lin(mv)                                              # [B, N, C, 16]
        return self.lgatr.extract_vector(out)[..., 0, :]                   # [B, N, 4]


class LGATrBilinear(nn.Module):
    """GeometricBilinear (geometric products of learned linear combinations, then EquiLayerNorm) on
    (x_i, J), read out as the scalar component of each output channel: per-particle invariants."""

    def __init__(self, out_channels: int = 2):
        super().__init__()
        lgatr, layers = _lgatr()
        self.lgatr = lgatr
        # lgatr initialises its right-hand EquiLinear near the unit scalar, which needs a scalar input
        self.bil = layers.GeometricBilinear(2, out_channels, lgatr.PrimitivesConfig(), in_s_channels=1)

    def forward(self, x):
        jet = x.sum(dim=1, keepdim=True).expand_as(x)
        mv = self.lgatr.embed_vector(torch.stack([x, jet], dim=-2) * 0.125)    # [B, N, 2, 16]
        mass2 = minkowski(x, x)[..., None] * 2.0 ** -6                          # invariant scalar channel
        out, _ = self.bil(mv, mass2)
        return self.lgatr.extract_scalar(out)[..., 0]                          # [B, N, C]


class LGATrTagger(nn.Module):
    """One L-GATr block with multi-head geometric self-attention and a geometric MLP between an
    input and an output EquiLinear, with a scalar readout: mean over particles of the output
    multivector's scalar component and of the scalar channel. Lorentz and permutation invariant."""

    def __init__(self, mv: int = 2, s: int = 2, heads: int = 1):
        super().__init__()
        lgatr, layers = _lgatr()
        self.lgatr = lgatr
        prim = lgatr.PrimitivesConfig()
        self.inp = layers.EquiLinear(1, mv, prim, in_s_channels=0, out_s_channels=s)
        self.block = layers.LGATrBlock(mv, s, lgatr.SelfAttentionConfig(num_heads=heads),
                                       lgatr.MLPConfig(mlp_ratio=1, nonlinearity="gelu"), prim)
        self.out = layers.EquiLinear(mv, 1, prim, in_s_channels=s, out_s_channels=1)

    def forward(self, x):
        mv = self.lgatr.embed_vector(x.unsqueeze(-2) * 0.125)                  # [B, N, 1, 16]
        mv, s = self.inp(mv)
        mv, s = self.block(mv, s)
        mv, s = self.out(mv, s)
        feat = self.lgatr.extract_scalar(mv)[..., 0, :] + s                    # [B, N, 1]
        return feat.mean(dim=1)                                                # [B, 1]


class LGATrScalarReadout(nn.Module):
    """The L-GATr readout alone: embed, EquiLinear, the invariant <mv, mv> of each output channel
    (lgatr's inner product), mean over particles, a Linear head."""

    def __init__(self, channels: int = 3):
        super().__init__()
        lgatr, layers = _lgatr()
        self.lgatr = lgatr
        self.lin = layers.EquiLinear(2, channels, lgatr.PrimitivesConfig())
        self.head = nn.Linear(channels, 1)

    def forward(self, x):
        from lgatr.primitives import inner_product

        jet = x.sum(dim=1, keepdim=True).expand_as(x)
        mv = self.lgatr.embed_vector(torch.stack([x, jet], dim=-2) * 0.125)
        mv, _ = self.lin(mv)                                                   # [B, N, C, 16]
        inv = inner_product(mv, mv)[..., 0]                                    # [B, N, C]
        return self.head(inv.mean(dim=1))


# =========================================================================== PELICAN

class Eq2to2(nn.Module):
    """Masked permutation-equivariant map of pair tensors T [B, N, N, C] -> [B, N, N, C_out]: the
    15 aggregations of Maron et al. (identity, transpose, diagonal, row/column/diagonal/total
    broadcasts and their placements on the diagonal), means over the real particles (divided by
    nobj, the count of each event's real particles), mixed by one Linear(15 C, C_out), masked so
    that pairs touching padding stay 0."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.mix = nn.Linear(15 * c_in, c_out)

    def forward(self, t, mask):
        # t: [B, N, N, C], zero on padded pairs; mask: [B, N] float 0/1
        nobj = mask.sum(dim=1).clamp(min=1.0)[:, None, None, None]         # [B, 1, 1, 1]
        n = t.shape[1]
        eye = torch.eye(n, dtype=t.dtype)[None, :, :, None]                 # delta_ij
        diag = torch.diagonal(t, dim1=1, dim2=2).transpose(1, 2)           # T_ii, [B, N, C]
        row = t.sum(dim=2) / nobj[:, 0]                                     # mean_k T_ik, [B, N, C]
        col = t.sum(dim=1) / nobj[:, 0]                                     # mean_k T_ki
        tot = t.sum(dim=(1, 2), keepdim=True) / nobj ** 2                   # [B, 1, 1, C]
        tr = diag.sum(dim=1)[:, None, None, :] / nobj                       # [B, 1, 1, C]
        ones = torch.ones_like(t)
        aggs = [t, t.transpose(1, 2), eye * diag[:, :, None, :],
                diag[:, :, None, :] * ones, diag[:, None, :, :] * ones,
                row[:, :, None, :] * ones, row[:, None, :, :] * ones,
                col[:, :, None, :] * ones, col[:, None, :, :] * ones,
                eye * row[:, :, None, :], eye * col[:, :, None, :],
                tot * ones, eye * tot, tr * ones, eye * tr]
        pair_mask = (mask[:, :, None] * mask[:, None, :])[..., None]        # [B, N, N, 1]
        return self.mix(torch.cat(aggs, dim=-1)) * pair_mask


class PELICAN(nn.Module):
    """PELICAN cut to one masked Eq2to2 layer: the input is the pair tensor d_ij = <p_i, p_j>
    (scaled), then Eq2to2 -> LeakyReLU -> Eq2to0 readout (mean over all real pairs and over the
    diagonal, normalised by nobj^2 and nobj) -> Linear. Lorentz and permutation invariant."""

    def __init__(self, hidden: int = 3, scale: float = 2.0 ** -6):
        super().__init__()
        self.scale = scale
        self.eq = Eq2to2(1, hidden)
        self.act = nn.LeakyReLU(0.1)
        self.out = nn.Linear(2 * hidden, 1)

    def forward(self, x):
        mask = (x.sum(dim=-1) != 0).float()                                 # [B, N] real particles
        nobj = mask.sum(dim=1, keepdim=True).clamp(min=1.0)                 # [B, 1]
        d = minkowski(x[:, :, None, :], x[:, None, :, :]) * self.scale     # [B, N, N]
        h = self.act(self.eq(d[..., None], mask))                           # [B, N, N, C]
        h = h * (mask[:, :, None] * mask[:, None, :])[..., None]
        pairs = h.sum(dim=(1, 2)) / nobj ** 2
        diag = torch.diagonal(h, dim1=1, dim2=2).sum(dim=-1) / nobj
        return self.out(torch.cat([pairs, diag], dim=-1))


# =========================================================================== LorentzNet

class LGEB(nn.Module):
    """LorentzNet's Lorentz group equivariant block on node scalars h [B, N, H] and four-vectors
    x [B, N, 4], over the fully connected graph of real particles without self loops:

        m_ij = phi_e(h_i, h_j, psi(||x_i - x_j||^2), psi(<x_i, x_j>))
        x_i' = x_i + c_weight * sum_j (x_i - x_j) phi_x(m_ij)
        h_i' = h_i + phi_h(h_i, sum_j sigmoid(phi_m(m_ij)) m_ij)

    phi_e and phi_h carry BatchNorm (eval mode: running statistics) and dropout, as in the paper."""

    def __init__(self, hidden: int, edge: int, c_weight: float = 1e-3, dropout: float = 0.2):
        super().__init__()
        self.c_weight = c_weight
        self.e1 = nn.Linear(2 * hidden + 2, edge)
        self.e_bn = nn.BatchNorm1d(edge)
        self.e2 = nn.Linear(edge, edge)
        self.m = nn.Linear(edge, 1)
        self.x1 = nn.Linear(edge, edge)
        self.x2 = nn.Linear(edge, 1)
        self.h1 = nn.Linear(hidden + edge, hidden)
        self.h_bn = nn.BatchNorm1d(hidden)
        self.h2 = nn.Linear(hidden, hidden)
        self.drop = nn.Dropout(dropout)

    def forward(self, h, x, mask):
        b, n, hid = h.shape
        edge_mask = (mask[:, :, None] * mask[:, None, :] * (1.0 - torch.eye(n, dtype=x.dtype)))[..., None]
        xi, xj = x[:, :, None, :], x[:, None, :, :]
        dx = xi - xj                                                        # [B, N, N, 4]
        norms = psi(minkowski(dx, dx))
        dots = psi(minkowski(xi, xj))
        hi, hj = h[:, :, None, :].expand(b, n, n, hid), h[:, None, :, :].expand(b, n, n, hid)
        e = self.e1(torch.cat([hi, hj, norms[..., None], dots[..., None]], dim=-1))
        e = torch.relu(self.e_bn(e.reshape(-1, e.shape[-1])).reshape(e.shape))
        m = torch.relu(self.e2(self.drop(e)))                               # m_ij, [B, N, N, E]
        w = torch.sigmoid(self.m(m))
        agg = (w * m * edge_mask).sum(dim=2)                                # [B, N, E]
        u = self.h1(torch.cat([h, agg], dim=-1))
        u = torch.relu(self.h_bn(u.reshape(-1, hid)).reshape(b, n, hid))
        h = (h + self.h2(self.drop(u))) * mask[..., None]
        phi_x = self.x2(torch.relu(self.x1(m)))                             # [B, N, N, 1]
        x = x + self.c_weight * (dx * phi_x * edge_mask).sum(dim=2)
        return h, x


class LorentzNet(nn.Module):
    """One LGEB between an embedding of the particles' invariant masses psi(<x_i, x_i>) and a readout
    from the mean of h over the real particles and psi(<X', X'>) of the updated jet X' = sum_i x_i'
    (so the c_weight coordinate update reaches the output). Lorentz and permutation invariant."""

    def __init__(self, hidden: int = 3, edge: int = 3, c_weight: float = 0.05, seed: int = 0):
        super().__init__()
        self.embed = nn.Linear(1, hidden)
        self.block = LGEB(hidden, edge, c_weight=c_weight)
        self.out = nn.Linear(hidden + 1, 1)
        gen = torch.Generator().manual_seed(seed)
        _randomise_batchnorm(self.block.e_bn, gen)
        _randomise_batchnorm(self.block.h_bn, gen)

    def forward(self, x):
        mask = (x.sum(dim=-1) != 0).float()                                 # [B, N]
        nobj = mask.sum(dim=1, keepdim=True).clamp(min=1.0)
        h = self.embed(psi(minkowski(x, x) * 2.0 ** -4)[..., None]) * mask[..., None]
        h, xu = self.block(h, x, mask)
        jet = xu.sum(dim=1)
        feats = torch.cat([h.sum(dim=1) / nobj, psi(minkowski(jet, jet) * 2.0 ** -8)[:, None]], dim=-1)
        return self.out(feats)


MODELS = {
    # name: (factory, symmetry, output rep, output perm)
    "lgatr_equilinear": (LGATrEquiLinear, "perm,lorentz", "4vec", "equivariant"),
    "lgatr_bilinear": (LGATrBilinear, "perm,lorentz", "scalar", "equivariant"),
    "lgatr_block": (LGATrTagger, "perm,lorentz", "scalar", "invariant"),
    "lgatr_readout": (LGATrScalarReadout, "perm,lorentz", "scalar", "invariant"),
    "pelican": (PELICAN, "perm,lorentz", "scalar", "invariant"),
    "lorentznet": (LorentzNet, "perm,lorentz", "scalar", "invariant"),
}
