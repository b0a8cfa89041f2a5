"""Model of ip_blocks/equihls_scalar_products.h: pairwise products under a diagonal ±1 metric."""
from __future__ import annotations

import math

import numpy as np

from .base import Block, align, as_dtype, per_event
from .cost import DELAY_DSP_CASCADE_NS, DELAY_DSP_NS, DELAY_LUT_NS, BlockCost, dsp_slices, tree_delay, width_of


class ScalarProducts(Block):
    """out[i,j] = sum_d metric[d] x[i,d] x[j,d]; input (1, N, D) -> output (1, N, N). Exact."""

    op = "ScalarProducts"
    header = "equihls_scalar_products.h"
    accumulates = True

    def n_terms(self, g, node):
        return len(node.attrs["metric"])

    def twin_accumulate(self, g, node, raws, types, acc_t):
        n, d = per_event(g.shapes[node.inputs[0]])
        t = types[node.inputs[0]]
        x = np.asarray(raws[node.inputs[0]]).astype(object).reshape(-1, n, d)
        f = max(acc_t.frac, 2 * t.frac)     # every partial sum is exact at this fraction
        acc = np.zeros((x.shape[0], n, n), dtype=object)
        overflow = 0
        for k, s in enumerate(node.attrs["metric"]):
            term = x[:, :, None, k] * x[:, None, :, k] * (1 if s > 0 else -1)
            total = align(acc, acc_t.frac, f) + align(term, 2 * t.frac, f)
            acc, ovf = acc_t.quantize_raw(total, f)
            acc = np.asarray(acc).astype(object)
            overflow += ovf
        return acc.reshape(x.shape[0], n * n), overflow

    @staticmethod
    def raw_range(lo: int, hi: int, metric, n_vectors: int = 2) -> tuple[int, int]:
        """Exact (min, max) of sum_d metric[d] x_i[d] x_j[d] over raw components x in [lo, hi], for
        every pair (i, j) of n_vectors vectors (one vector: only its sum of squares)."""
        sq_hi = max(lo * lo, hi * hi)              # x_i*x_i in [0, sq_hi]
        cross = [lo * lo, lo * hi, hi * hi]        # x_i*x_j, i != j
        c_lo, c_hi = min(cross), max(cross)
        # a diagonal element is sum of squares; an off-diagonal one a sum of cross products
        pos = sum(1 for m in metric if m > 0)
        neg = len(metric) - pos
        diag = (-neg * sq_hi, pos * sq_hi)
        off = (pos * c_lo - neg * c_hi, pos * c_hi - neg * c_lo)
        return (min(diag[0], off[0]), max(diag[1], off[1])) if n_vectors > 1 else diag

    def acc_range(self, g, node, types, qconst):
        t = types[node.inputs[0]]
        n = per_event(g.shapes[node.inputs[0]])[0]
        lo_r, hi_r = self.raw_range(t.raw_min, t.raw_max, node.attrs["metric"], n)
        return lo_r, hi_r, 2 * t.frac

    def twin(self, g, node, raws, types, qconst, acc_frac):
        n, d = per_event(g.shapes[node.inputs[0]])
        t = types[node.inputs[0]]
        x = as_dtype(raws[node.inputs[0]], 2 * t.width + 3).reshape(-1, n, d)
        m = np.array(node.attrs["metric"], dtype=np.int64).astype(x.dtype)
        out = np.einsum("bid,d,bjd->bij", x, m, x) if x.dtype != object else _gram_object(x, m)
        return out.reshape(x.shape[0], n * n)

    def error(self, g, node, errs, mags, types, qconst):
        e = errs[node.inputs[0]]
        m = mags[node.inputs[0]]
        return len(node.attrs["metric"]) * (2 * m * e + e * e)

    def error_elem(self, g, node, E, V, types, qconst, consts):
        n, d = per_event(g.shapes[node.inputs[0]])
        x, e = np.abs(V[node.inputs[0]]).reshape(-1, n, d), E[node.inputs[0]].reshape(-1, n, d)
        xe = np.einsum("bid,bjd->bij", x, e)
        err = xe + xe.transpose(0, 2, 1) + np.einsum("bid,bjd->bij", e, e)
        return err.reshape(x.shape[0], -1), np.einsum("bid,bjd->bij", x, x).reshape(x.shape[0], -1)

    def cpp_config(self, g, node, ctx):
        n, d = per_event(g.shapes[node.inputs[0]])
        mask = sum(1 << k for k, s in enumerate(node.attrs["metric"]) if s < 0)
        return (f"    static const unsigned n_vectors = {n};\n    static const unsigned n_dims = {d};\n"
                f"    static const unsigned neg_mask = {mask};\n    typedef {ctx['accum_t']} accum_t;\n")

    def cpp_call(self, g, node, ctx):
        return "equihls::scalar_products<{in0_t}, {out_t}, {config}>({in0}, {out});"

    def cost(self, g, node, prec, post_adder=True):
        n, d = per_event(g.shapes[node.inputs[0]])
        w, acc = width_of(prec, node.inputs[0]), prec.acc[node.name].width
        used = sum(1 for m in node.attrs["metric"] if m != 0)
        pairs = n * (n + 1) // 2
        c = BlockCost(node.name, node.op)
        c.products.append((pairs * used, w, w, "var"))
        # the D-term signed sum: D-1 adders, one absorbed by each DSP product's post-adder
        n_fabric_adds = max(0, used - 1 - (used if dsp_slices(w, w) and post_adder else 0))
        c.adders.append((pairs * n_fabric_adds, acc))
        if dsp_slices(w, w) and post_adder:   # products chained through the DSP post-adders
            c.ops = [DELAY_DSP_NS] + [DELAY_DSP_CASCADE_NS] * (used - 1)
        else:
            c.ops = [DELAY_LUT_NS * math.ceil(math.log2(w))] + tree_delay(used, acc)
        c.notes = {"multipliers": pairs * used, "dense_multipliers": n * n * d,
                   "ratio_vs_dense": pairs * used / (n * n * d), "pairs": pairs}
        return c


def _gram_object(x, m):
    """Object-dtype (Python int) Gram matrix: numpy einsum does not support object arrays."""
    b, n, d = x.shape
    out = np.empty((b, n, n), dtype=object)
    for i in range(n):
        for j in range(n):
            out[:, i, j] = (x[:, i, :] * x[:, j, :] * m).sum(axis=1)
    return out
