"""Model of ip_blocks/equihls_reduce.h: exact sum, max and min pooling through a constant index table."""
from __future__ import annotations

import numpy as np

from .base import Block, as_dtype, cpp_table, size
from .cost import DELAY_LUT_NS, BlockCost, add_delay, tree_delay


class ReduceSum(Block):
    """y[j] = sum_t x[src[j * n_reduce + t]]. Exact; bit growth ceil(log2 n_reduce)."""

    op = "ReduceSum"
    header = "equihls_reduce.h"
    commutes_with_scale = True

    def acc_range(self, g, node, types, qconst):
        t, n = types[node.inputs[0]], node.attrs["n_reduce"]
        return n * t.raw_min, n * t.raw_max, t.frac

    def twin(self, g, node, raws, types, qconst, acc_frac):
        n = node.attrs["n_reduce"]
        x = as_dtype(raws[node.inputs[0]], types[node.inputs[0]].width + int(n).bit_length() + 1)
        src = np.asarray(node.attrs["src"])
        return x[:, src].reshape(x.shape[0], -1, n).sum(axis=2)

    def error(self, g, node, errs, mags, types, qconst):
        return node.attrs["n_reduce"] * errs[node.inputs[0]]

    def error_elem(self, g, node, E, V, types, qconst, consts):
        n, src, x = node.attrs["n_reduce"], np.asarray(node.attrs["src"]), node.inputs[0]
        e = E[x][:, src].reshape(E[x].shape[0], -1, n).sum(axis=2)
        return e, np.abs(V[x][:, src]).reshape(V[x].shape[0], -1, n).sum(axis=2)

    def cpp_config(self, g, node, ctx):
        src = np.asarray(node.attrs["src"]).tolist()
        n = node.attrs["n_reduce"]
        return (f"    static const unsigned n_in = {size(g.shapes[node.inputs[0]])};\n"
                f"    static const unsigned n_out = {len(src) // n};\n    static const unsigned n_reduce = {n};\n"
                f"    typedef {ctx['accum_t']} accum_t;\n" + cpp_table("src", "unsigned", src))

    def cpp_call(self, g, node, ctx):
        return "equihls::reduce_sum<{in0_t}, {out_t}, {config}>({in0}, {out});"

    def cost(self, g, node, prec, post_adder=True):
        k = node.attrs["n_reduce"]
        n_out = len(np.asarray(node.attrs["src"])) // k
        acc = prec.acc[node.name].width
        c = BlockCost(node.name, node.op, adders=[(n_out * (k - 1), acc)])
        c.ops = tree_delay(k, acc)
        return c


class _ReduceExtreme(Block):
    """y[j] = max (or min) over t of x[src[j * n_reduce + t]]. Exact, no bit growth."""

    header = "equihls_reduce.h"
    pick = None   # np.max or np.min
    cpp_name = ""

    def acc_range(self, g, node, types, qconst):
        t = types[node.inputs[0]]
        return t.raw_min, t.raw_max, t.frac

    def twin(self, g, node, raws, types, qconst, acc_frac):
        n = node.attrs["n_reduce"]
        x = as_dtype(raws[node.inputs[0]], types[node.inputs[0]].width + 1)
        src = np.asarray(node.attrs["src"])
        return type(self).pick(x[:, src].reshape(x.shape[0], -1, n), axis=2)

    def error(self, g, node, errs, mags, types, qconst):
        return errs[node.inputs[0]]   # max and min are 1-Lipschitz in the sup norm

    def error_elem(self, g, node, E, V, types, qconst, consts):
        n, src, x = node.attrs["n_reduce"], np.asarray(node.attrs["src"]), node.inputs[0]
        e = E[x][:, src].reshape(E[x].shape[0], -1, n).max(axis=2)
        return e, 0 * e

    def cpp_config(self, g, node, ctx):
        return ReduceSum.cpp_config(self, g, node, ctx)

    def cpp_call(self, g, node, ctx):
        return f"equihls::{self.cpp_name}<{{in0_t}}, {{out_t}}, {{config}}>({{in0}}, {{out}});"

    def cost(self, g, node, prec, post_adder=True):
        k = node.attrs["n_reduce"]
        n_out = len(np.asarray(node.attrs["src"])) // k
        w = prec.acc[node.name].width
        # a tree of k - 1 compare-and-select cells: a subtraction's carry chain and a 2:1 mux each
        c = BlockCost(node.name, node.op, lut_other=2 * w * n_out * (k - 1))
        c.ops = [add_delay(w), DELAY_LUT_NS] * max(k - 1, 0).bit_length()
        return c


class ReduceMax(_ReduceExtreme):
    """y[j] = max_t x[src[j * n_reduce + t]]. Exact."""

    op = "ReduceMax"
    pick = np.max
    cpp_name = "reduce_max"


class ReduceMin(_ReduceExtreme):
    """y[j] = min_t x[src[j * n_reduce + t]]. Exact."""

    op = "ReduceMin"
    pick = np.min
    cpp_name = "reduce_min"
