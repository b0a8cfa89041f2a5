"""Model of ip_blocks/equihls_route.h: data movement through constant index tables."""
from __future__ import annotations

import numpy as np

from .base import Block, align, as_dtype, cpp_table, operand_range, size
from .cost import BlockCost


class Route(Block):
    """y[k] = x[src[k]] (reshape, transpose, slice, gather, expand...). Exact, no logic."""

    op = "Route"
    header = "equihls_route.h"
    commutes_with_scale = True

    def acc_range(self, g, node, types, qconst):
        return operand_range(g, node.inputs[0], types, qconst)

    def twin(self, g, node, raws, types, qconst, acc_frac):
        return raws[node.inputs[0]][:, np.asarray(node.attrs["src"])]

    def error(self, g, node, errs, mags, types, qconst):
        return errs[node.inputs[0]]

    def error_elem(self, g, node, E, V, types, qconst, consts):
        src = np.asarray(node.attrs["src"])
        return E[node.inputs[0]][:, src], 0 * V[node.inputs[0]][:, src]

    def cpp_config(self, g, node, ctx):
        src = np.asarray(node.attrs["src"]).tolist()
        return (f"    static const unsigned n_in = {size(g.shapes[node.inputs[0]])};\n"
                f"    static const unsigned n_out = {len(src)};\n" + cpp_table("src", "unsigned", src))

    def cpp_call(self, g, node, ctx):
        return "equihls::route<{in0_t}, {out_t}, {config}>({in0}, {out});"

    def cost(self, g, node, prec, post_adder=True):
        return BlockCost(node.name, node.op)   # wiring: no logic


class Concat2(Block):
    """y[k] = (a|b)[src[k]]: concatenation (and any routing) of two tensors. Exact."""

    op = "Concat2"
    header = "equihls_route.h"

    def acc_range(self, g, node, types, qconst):
        (alo, ahi, fa), (blo, bhi, fb) = (operand_range(g, t, types, qconst) for t in node.inputs)
        f = max(fa, fb)
        return min(alo << (f - fa), blo << (f - fb)), max(ahi << (f - fa), bhi << (f - fb)), f

    def twin(self, g, node, raws, types, qconst, acc_frac):
        bits = max(types[t].width + acc_frac - types[t].frac for t in node.inputs) + 1
        parts = [align(as_dtype(raws[t], bits), types[t].frac, acc_frac) for t in node.inputs]
        return np.concatenate(parts, axis=1)[:, np.asarray(node.attrs["src"])]

    def error(self, g, node, errs, mags, types, qconst):
        return max(errs[t] for t in node.inputs)

    def error_elem(self, g, node, E, V, types, qconst, consts):
        src = np.asarray(node.attrs["src"])
        b = max(E[t].shape[0] for t in node.inputs)
        e = np.concatenate([np.broadcast_to(E[t], (b, E[t].shape[1])) for t in node.inputs], axis=1)[:, src]
        return e, 0 * e

    def cpp_config(self, g, node, ctx):
        src = np.asarray(node.attrs["src"]).tolist()
        return (f"    static const unsigned n_a = {size(g.shapes[node.inputs[0]])};\n"
                f"    static const unsigned n_b = {size(g.shapes[node.inputs[1]])};\n"
                f"    static const unsigned n_out = {len(src)};\n" + cpp_table("src", "unsigned", src))

    def cpp_call(self, g, node, ctx):
        return "equihls::concat2<{in0_t}, {in1_t}, {out_t}, {config}>({in0}, {in1}, {out});"

    def cost(self, g, node, prec, post_adder=True):
        return BlockCost(node.name, node.op)   # wiring: no logic
