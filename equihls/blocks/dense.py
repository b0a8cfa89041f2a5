"""Model of ip_blocks/equihls_dense.h: a constant linear map on the last axis."""
from __future__ import annotations

import numpy as np

from .base import Block, align, as_dtype, per_event, size
from .cost import BlockCost, const_products, tree_delay, width_of


class Dense(Block):
    """y = x @ W + b on the last axis. Inputs: x (1,...,Cin), W const (Cin,Cout), b const (Cout,)."""

    op = "Dense"
    header = "equihls_dense.h"

    def rounds(self, node):
        return True

    def _acc_frac(self, types, node):
        x, w, b = (types[t] for t in node.inputs)
        return max(x.frac + w.frac, b.frac)

    def acc_range(self, g, node, types, qconst):
        x, w, b = (types[t] for t in node.inputs)
        f = self._acc_frac(types, node)
        wq = qconst[node.inputs[1]].reshape(g.shapes[node.inputs[1]])
        bq = qconst[node.inputs[2]]
        lo_all, hi_all = None, None
        for o in range(wq.shape[1]):
            col = [int(v) for v in wq[:, o]]
            lo = sum(min(c * x.raw_min, c * x.raw_max) for c in col)
            hi = sum(max(c * x.raw_min, c * x.raw_max) for c in col)
            bb = int(bq[o]) << (f - b.frac)
            lo, hi = (lo << (f - x.frac - w.frac)) + bb, (hi << (f - x.frac - w.frac)) + bb
            lo_all = lo if lo_all is None else min(lo_all, lo)
            hi_all = hi if hi_all is None else max(hi_all, hi)
        return lo_all, hi_all, f

    def twin(self, g, node, raws, types, qconst, acc_frac):
        x, w, b = (types[t] for t in node.inputs)
        cin, cout = g.shapes[node.inputs[1]]
        bits = x.width + w.width + int(cin).bit_length() + 2
        xr = as_dtype(raws[node.inputs[0]], bits).reshape(-1, cin)
        wr = as_dtype(qconst[node.inputs[1]], bits).reshape(cin, cout)
        br = align(as_dtype(qconst[node.inputs[2]], bits + acc_frac), b.frac, acc_frac)
        y = align(xr @ wr, x.frac + w.frac, acc_frac) + br
        return y.reshape(raws[node.inputs[0]].shape[0], -1)

    def error(self, g, node, errs, mags, types, qconst):
        x, w, b = (types[t] for t in node.inputs)
        wf = g.consts[node.inputs[1]]
        wq = w.to_float(qconst[node.inputs[1]]).reshape(wf.shape)
        bf = g.consts[node.inputs[2]].reshape(-1)
        bq = b.to_float(qconst[node.inputs[2]])
        e, m = errs[node.inputs[0]], mags[node.inputs[0]]
        per_out = np.abs(wq).sum(0) * e + np.abs(wf - wq).sum(0) * (m + e) + np.abs(bf - bq)
        return float(per_out.max())

    def error_elem(self, g, node, E, V, types, qconst, consts):
        x, w, b = node.inputs
        cin, cout = g.shapes[w]
        wq = np.abs(V[w][0]).reshape(cin, cout)
        dw = np.abs(consts[w].reshape(cin, cout) - V[w][0].reshape(cin, cout))
        db = np.abs(consts[b].reshape(-1) - V[b][0])
        xv, xe = np.abs(V[x]).reshape(-1, cin), E[x].reshape(-1, cin)
        err = xe @ wq + (xv + xe) @ dw + db
        return err.reshape(V[x].shape[0], -1), (xv @ wq + np.abs(V[b][0])).reshape(V[x].shape[0], -1)

    def cpp_config(self, g, node, ctx):
        cin, cout = g.shapes[node.inputs[1]]
        rows = size(per_event(g.shapes[node.inputs[0]])) // cin
        return (f"    static const unsigned n_rows = {rows};\n    static const unsigned n_in = {cin};\n"
                f"    static const unsigned n_out = {cout};\n    typedef {ctx['accum_t']} accum_t;\n"
                f"    typedef {ctx['in1_t']} weight_t;\n    typedef {ctx['in2_t']} bias_t;\n")

    def cpp_call(self, g, node, ctx):
        return "equihls::dense_last_axis<{in0_t}, {out_t}, {config}>({in0}, {out}, {in1}, {in2});"

    def cost(self, g, node, prec, post_adder=True):
        x, w, b = node.inputs
        cin, cout = g.shapes[w]
        rows = size(per_event(g.shapes[x])) // cin
        xw, acc = width_of(prec, x), prec.acc[node.name].width
        wq = np.asarray(prec.qconst[w]).reshape(cin, cout)
        bq = np.asarray(prec.qconst[b]).reshape(-1)
        c = BlockCost(node.name, node.op)
        slow, max_terms = [], 0
        for o in range(cout):
            col = [int(v) for v in wq[:, o]]
            n_dsp, chain = const_products(c, xw, col, rows)
            terms = sum(1 for v in col if v != 0) + (1 if int(bq[o]) != 0 else 0)
            c.adders.append((rows * max(0, terms - 1 - (n_dsp if post_adder else 0)), acc))
            if sum(chain) > sum(slow):
                slow = chain
            max_terms = max(max_terms, terms)
        c.ops = slow + tree_delay(max_terms, acc)
        c.notes = {"nonzero_weights": int(np.count_nonzero(wq)), "weights": int(wq.size)}
        return c
