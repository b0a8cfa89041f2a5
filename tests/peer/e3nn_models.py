"""Small e3nn models written the way e3nn users write them (public API only), for the peer-library
suite (tests/peer/test_e3nn.py). Each takes x [batch, N, 3]: N particles, one polar vector (1x1o)
each, and returns invariants [batch, K] (0e), so it is O(3) and permutation invariant.
"""
import torch
from e3nn import nn as enn
from e3nn import o3
from tests import exporters

N = 4                       # particles per event
VEC = o3.Irreps("1x1o")     # the per-particle input


class PairwiseFCTP(torch.nn.Module):
    """(a) FullyConnectedTensorProduct of every ordered pair (x_i, x_j) into scalars and l=2 tensors
    (1e would be the cross product, which cancels in the sum over ordered pairs),
    summed over pairs; an invariant readout (o3.Norm of the l=2 parts plus the scalars, o3.Linear)."""

    def __init__(self):
        super().__init__()
        self.mid = o3.Irreps("4x0e+2x2e")
        self.tp = o3.FullyConnectedTensorProduct(VEC, VEC, self.mid)
        self.norm = o3.Norm("2x2e")
        self.out = o3.Linear("4x0e+2x0e", "2x0e")

    def forward(self, x):
        n = x.shape[1]
        a = x.unsqueeze(2).expand(-1, n, n, 3)
        b = x.unsqueeze(1).expand(-1, n, n, 3)
        h = self.tp(a, b).sum(dim=(1, 2)) * 0.0625
        s, v = h[..., :4], h[..., 4:]
        return self.out(torch.cat([s, self.norm(v)], dim=-1))


class LinearGate(torch.nn.Module):
    """(b) o3.Linear on each particle's vector features, nn.Gate (gated vectors, activated scalars),
    sum over particles, scalar readout through a tensor product of the summed vectors with themselves."""

    def __init__(self):
        super().__init__()
        self.gate = enn.Gate("2x0e", [torch.tanh], "2x0e", [torch.sigmoid], "2x1o")
        self.lin = o3.Linear("1x0e+1x1o", self.gate.irreps_in)
        self.dot = o3.FullyConnectedTensorProduct("2x0e+2x1o", "2x0e+2x1o", "2x0e")

    def forward(self, x):
        r2 = (x * x).sum(dim=-1, keepdim=True) * 0.25        # the invariant 0e feature |x|^2
        h = self.gate(self.lin(torch.cat([r2, x], dim=-1))).sum(dim=1) * 0.25
        return self.dot(h, h)


class TFNLayer(torch.nn.Module):
    """(c) A Tensor Field Network layer: r_ij = x_j - x_i, spherical harmonics Y^l(r_ij), l <= 2,
    tensor product with the neighbour's features (its vector), summed over neighbours, then an
    invariant readout (o3.Norm and o3.Linear)."""

    def __init__(self):
        super().__init__()
        self.sh = o3.Irreps.spherical_harmonics(2)            # 1x0e+1x1o+1x2e
        self.mid = o3.Irreps("2x0e+2x1o+1x2e")
        self.tp = o3.FullyConnectedTensorProduct(VEC, self.sh, self.mid)
        self.norm = o3.Norm(self.mid)
        self.out = o3.Linear("5x0e", "2x0e")

    def forward(self, x):
        r = x.unsqueeze(1) - x.unsqueeze(2)                       # [B, i, j, 3]: x_j - x_i
        y = o3.spherical_harmonics(self.sh, r, normalize=False, normalization="component")
        f = x.unsqueeze(1).expand_as(r)                          # the neighbour's features
        h = self.tp(f, y).sum(dim=2) * 0.25                      # message sum: [B, i, mid]
        return self.out(self.norm(h)).sum(dim=1) * 0.25


class ExplicitTP(torch.nn.Module):
    """(d) o3.TensorProduct with explicit instructions ('uvw' to scalars, 'uvu' to axial vectors)
    of each particle's o3.Linear features with its offset from the event's centroid; per-particle
    invariants (the scalars and o3.Norm of the axial vectors), summed over particles."""

    def __init__(self):
        super().__init__()
        self.lin = o3.Linear("1x1o", "2x1o")
        self.tp = o3.TensorProduct(
            "2x1o", "1x1o", "2x0e+2x1e",
            [(0, 0, 0, "uvw", True), (0, 0, 1, "uvu", True)],
        )
        self.norm = o3.Norm("2x1e")

    def forward(self, x):
        z = self.tp(self.lin(x), x - x.mean(dim=1, keepdim=True))
        return torch.cat([z[..., :2], self.norm(z[..., 2:])], dim=-1).sum(dim=1) * 0.25


MODELS = {"pairwise_fctp": PairwiseFCTP, "linear_gate": LinearGate, "tfn_sh2": TFNLayer, "explicit_tp": ExplicitTP}


def export(model: torch.nn.Module, path: str, dynamo: bool, n: int = N):
    """x [batch, n, 3] -> y as a user exports it: batch axis dynamic, the exporters' own defaults."""
    exporters.export(model, (torch.zeros(2, n, 3),), path, dynamo, opset=None, external_data=True)
