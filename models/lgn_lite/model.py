"""LGN-lite: one Lorentz Clebsch-Gordan layer on four-vectors, then an invariant readout.

A Lorentz- and permutation-invariant top tagger in the spirit of the Lorentz Group Network (LGN;
Bogatskiy, Anderson, Offermann, Roussi, Miller, Kondor, ICML 2020, arXiv:2006.04780): features
are finite-dimensional Lorentz irreps (m, n), the nonlinearity is the Clebsch-Gordan product
(½,½) ⊗ (½,½) = (0,0) ⊕ (1,0)+(0,1) ⊕ (1,1), and the readout takes Lorentz invariants only. One
layer, written with the ops the ``equihls`` compiler lowers::

    x: [B, N, 4] float32, (E, px, py, pz) in GeV, zero rows = padding
    u_i = S_X x_i                                # four-vectors in units of 64 GeV (a shift)
    J   = sum_i u_i                              # the jet four-momentum, (½,½)
    CG layer, per particle, (½,½) ⊗ (½,½) with integer real-form couplings C (equihls.symmetry.lorentz):
      m_i = C_00(u_i, u_i)                       # (0,0): <u_i, u_i> = m_i² (C_00 = the metric)
      s_i = C_00(u_i, J)                         # (0,0): <u_i, J>
      F_i = C_F(u_i, J)                          # (1,0)+(0,1): u_i ∧ J, the antisymmetric part, [B,N,6]
      T_i = C_T(u_i, J)                          # (1,1): the symmetric traceless part, [B,N,9]
    invariant readout (CG products onto (0,0), the "norms" of the covariant features):
      f_i = C_FF(F_i, F_i)     t_i = C_TT(T_i, T_i)
      h_i = relu(Linear(4, H)(psi(S_M m_i), psi(S_S s_i), psi(S_F f_i), psi(S_T t_i)))
      logit = Linear(H + 1, 1)(POOL sum_i h_i, psi(S_J <J, J>))
    psi(v) = sign(v) log(1 + |v|)               # one LUT each

Invariance (exact arithmetic): u_i and J are four-vectors; each C intertwines the real forms
(tests/test_irreps.py), so F_i, T_i transform as (1,0)+(0,1), (1,1) and m_i, s_i, f_i, t_i and
<J, J> are invariants; relabelling the particles permutes the per-particle terms and J, the sum
over i and the readout are unchanged. In firmware F_i and T_i are covariant and are computed
exactly (integer couplings, no rounding): the certificate's integer Lorentz words map them
bit for bit.

What one layer can see: with only u_i and J, f_i and t_i are polynomials in m_i, s_i and <J, J>
(for F = u ∧ J, F·F ∝ m² J² − s²), so this is a CG-layer parametrisation of an invariant net on
(m_i, s_i, <J, J>); deeper LGNs feed the covariant features into further CG layers. It is the
zoo's reference for covariant (m, n) features in firmware, not a stronger tagger.

FLOAT64: the model computes in float64 (input and logit stay float32). The Minkowski norms of
the covariant features cancel strongly for the nearly light-like constituents (components of T_i
up to 2,000 units for t_i of order 0.01), so in float32 the model does not compute its own
equations (in development: logits up to 2.2 away from float64 on 50 test jets); the firmware computes them
exactly (exact products and sums), and the compiler's float reference is then the float64 one.

Padding (zero rows) is not masked, as in pelican_nano: a zero row has every feature 0 and adds
relu(bias), an exactly invariant multiplicity feature. All scales are powers of two.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from equihls.ops.torch_ops import tensor_product
from equihls.symmetry.lorentz import cg_lorentz

N_CONST = 16
HIDDEN = 8
S_X = 2.0 ** -6          # four-vectors in units of 64 GeV
S_M = 2.0 ** 2           # m_i²: units of 1024 GeV² (on the input grid m_i² is mostly its noise, ~ E 2^-6 GeV²)
S_S = 2.0 ** 2           # <u_i, J>: units of 1024 GeV²
S_F = 2.0 ** 4           # f_i (degree 4 in momenta)
S_T = 2.0 ** 3           # t_i
S_J = 2.0 ** 0           # <J, J>: units of 4096 GeV² (m_top² ~ 7.3)
POOL = 2.0 ** -4         # 1 / N

V = "(1/2,1/2)"
F = "(1,0)+(0,1)"
T = "(1,1)"
S = "(0,0)"


def integer_cg(r1: str, r2: str, r3: str) -> np.ndarray:
    """The real-form coupling r1 ⊗ r2 -> r3, scaled so its smallest non-zero entry is ±1; its
    entries are then small integers (checked), so the firmware product is exact."""
    c = cg_lorentz(r1, r2, r3)
    c = c / np.abs(c[np.abs(c) > 1e-12]).min()
    ci = np.round(c)
    if np.abs(c - ci).max() > 1e-9:
        raise ValueError(f"coupling {r1} x {r2} -> {r3} has no integer form")
    return ci.astype(np.float32)


def psi(x: torch.Tensor) -> torch.Tensor:
    """sign(x) log(1 + |x|), written the way equihls recognises it (one LUT)."""
    return torch.sign(x) * torch.log1p(torch.abs(x))


class LGNLite(nn.Module):
    def __init__(self, n_const: int = N_CONST, hidden: int = HIDDEN):
        super().__init__()
        self.n, self.h = int(n_const), int(hidden)
        for name, reps in (("c_vv", (V, V, S)), ("c_f", (V, V, F)), ("c_t", (V, V, T)),
                           ("c_ff", (F, F, S)), ("c_tt", (T, T, S))):
            self.register_buffer(name, torch.from_numpy(integer_cg(*reps)))
        self.embed = nn.Linear(4, hidden)
        self.out = nn.Linear(hidden + 1, 1)
        self.double()       # see FLOAT64 in the module docstring

    def covariants(self, x: torch.Tensor):
        """(u, J broadcast to the particles, F, T): the CG layer's inputs and covariant outputs."""
        u = x * S_X
        jet = u.sum(dim=1, keepdim=True).expand(-1, self.n, -1)             # [B,N,4]
        f = tensor_product(u, jet, self.c_f, V, V, F)                        # [B,N,6]
        t = tensor_product(u, jet, self.c_t, V, V, T)                        # [B,N,9]
        return u, jet, f, t

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u, jet, f, t = self.covariants(x.to(torch.float64))
        m = tensor_product(u, u, self.c_vv, V, V, S)                         # [B,N,1]
        s = tensor_product(u, jet, self.c_vv, V, V, S)                       # [B,N,1]
        ff = tensor_product(f, f, self.c_ff, F, F, S)                        # [B,N,1]
        tt = tensor_product(t, t, self.c_tt, T, T, S)                        # [B,N,1]
        feats = torch.cat([psi(m * S_M), psi(s * S_S), psi(ff * S_F), psi(tt * S_T)], dim=-1)
        h = torch.relu(self.embed(feats))                                    # [B,N,H]
        j0 = jet[:, :1]                                                      # [B,1,4]
        jj = tensor_product(j0, j0, self.c_vv, V, V, S).reshape(-1, 1)       # <J,J> [B,1]
        return self.out(torch.cat([h.sum(dim=1) * POOL, psi(jj * S_J)], dim=-1)).to(torch.float32)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
