"""PELICAN-nano-QAT: pelican_nano with Brevitas-quantised channel mixing (QONNX export).

Same architecture and factorisation as :mod:`models.pelican_nano.model` (one Eq2to2 layer on
the six permutation-equivariant aggregations of the Minkowski Gram matrix, Eq2to0, logit); the
equivariant front end (``scalar_products``, the sums, psi) stays float -- equihls sizes those
exactly -- and everything after psi is quantisation-aware (Brevitas), with per-tensor
power-of-two scales only, so that every QONNX ``Quant`` node maps to an ``ap_fixed`` type:

* psi outputs: ``QuantIdentity`` (signed 8 bit, learned power-of-two scale; ROUND);
* Eq2to2 mixing ``Linear(6, C)``, written factorised as five ``QuantLinear`` layers (pair term on
  the pairs i<j, diagonal term [psi(S_D d_ii), psi(S_R r_i)], row, column, total + bias),
  WEIGHT_BITS-bit power-of-two per-tensor weights; the one bias is ``Int16Bias`` (scale = input
  scale x weight scale, a power of two);
* ``QuantReLU`` (unsigned ACT_BITS bit, power-of-two scale);
* the Eq2to0 features (pair sum / 256, diagonal sum / 16): ``QuantIdentity`` (signed 8 bit),
  then ``QuantLinear(2C, 1)`` with WEIGHT_BITS-bit weights and an ``Int16Bias``; the logit is
  not quantised (equihls types it).

The diagonal term has its own 2 x C weights (in pelican_nano it is (W0 + W4, W5)): the same
function class (W4 is free): 73 weights and biases as in pelican_nano, plus the 6 learned
activation scales of the quantisers (n_params = 79).
"""

from __future__ import annotations

import torch
from brevitas import nn as qnn
from brevitas.quant import (Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint, Int16Bias,
                            Uint8ActPerTensorFixedPoint)
from torch import nn

from equihls.ops.torch_ops import scalar_products
from models.pelican_nano.model import (CHANNELS, N_CONST, POOL_DIAG, POOL_PAIRS, S_D, S_R, S_T,
                                       index_tables, n_params, psi)

WEIGHT_BITS = 6
ACT_BITS = 8

__all__ = ["PelicanNanoQAT", "n_params", "N_CONST", "CHANNELS", "WEIGHT_BITS", "ACT_BITS"]


def _qlin(n_in: int, n_out: int, bias: bool, bits: int) -> qnn.QuantLinear:
    return qnn.QuantLinear(n_in, n_out, bias=bias, weight_quant=Int8WeightPerTensorFixedPoint,
                           weight_bit_width=bits, bias_quant=Int16Bias if bias else None,
                           return_quant_tensor=False)


def _qid(quant_tensor: bool = False) -> qnn.QuantIdentity:
    return qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, return_quant_tensor=quant_tensor)


class PelicanNanoQAT(nn.Module):
    def __init__(self, n_const: int = N_CONST, channels: int = CHANNELS, weight_bits: int = WEIGHT_BITS,
                 act_bits: int = ACT_BITS, s_d: float = S_D, s_r: float = S_R, s_t: float = S_T):
        super().__init__()
        self.n, self.c = int(n_const), int(channels)
        self.s_d, self.s_r, self.s_t = float(s_d), float(s_r), float(s_t)
        c, wb = self.c, int(weight_bits)
        # psi outputs -> 8-bit fixed point
        self.q_off, self.q_dd, self.q_r, self.q_t = _qid(), _qid(), _qid(), _qid(quant_tensor=True)
        # Eq2to2 mixing, factorised
        self.lin_pair = _qlin(1, c, False, wb)    # W0 psi(S_D d_ij), i<j, routed to (i,j), (j,i)
        self.lin_dia = _qlin(2, c, False, wb)     # [psi(S_D d_ii), psi(S_R r_i)] on the diagonal
        self.lin_row = _qlin(1, c, False, wb)     # W1 psi(S_R r_i), broadcast over j
        self.lin_col = _qlin(1, c, False, wb)     # W2 psi(S_R r_j), broadcast over i
        self.lin_tot = _qlin(1, c, True, wb)      # W3 psi(S_T t) + b, broadcast over (i, j)
        self.relu = qnn.QuantReLU(act_quant=Uint8ActPerTensorFixedPoint, bit_width=int(act_bits),
                                  return_quant_tensor=False)
        self.q_pool = _qid(quant_tensor=True)
        self.out = _qlin(2 * c, 1, True, wb)
        off, dg, pos = index_tables(self.n)
        self.register_buffer("off_idx", torch.from_numpy(off), persistent=False)
        self.register_buffer("diag_idx", torch.from_numpy(dg), persistent=False)
        self.register_buffer("pair_pos", torch.from_numpy(pos), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = self.n, self.c
        d = scalar_products(x)
        r = d.sum(dim=2)
        t = r.sum(dim=1, keepdim=True)
        dflat = d.reshape(-1, n * n)
        dd = dflat[:, self.diag_idx]
        f_off = self.q_off(psi(dflat[:, self.off_idx] * self.s_d))        # [B,P]
        f_dd = self.q_dd(psi(dd * self.s_d))                               # [B,N]
        f_r = self.q_r(psi(r * self.s_r))                                  # [B,N]
        f_t = self.q_t(psi(t * self.s_t))                                  # [B,1] (QuantTensor)
        a_off = self.lin_pair(f_off.unsqueeze(-1))                          # [B,P,C]
        a_dia = self.lin_dia(torch.stack([f_dd, f_r], dim=-1))              # [B,N,C]
        a_pair = torch.cat([a_off, a_dia], dim=1)[:, self.pair_pos].reshape(-1, n, n, c)
        a_row = self.lin_row(f_r.unsqueeze(-1))                             # [B,N,C]
        a_col = self.lin_col(f_r.unsqueeze(-1))                             # [B,N,C]
        a_tot = self.lin_tot(f_t)                                           # [B,C]
        pre = a_pair + (a_row + a_tot.unsqueeze(1)).unsqueeze(2) + a_col.unsqueeze(1)
        h = self.relu(pre)                                                  # [B,N,N,C]
        s_all = h.sum(dim=(1, 2)) * POOL_PAIRS
        s_dia = h.reshape(-1, n * n, c)[:, self.diag_idx].sum(dim=1) * POOL_DIAG
        return self.out(self.q_pool(torch.cat([s_all, s_dia], dim=-1)))
