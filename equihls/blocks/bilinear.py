"""Model of ip_blocks/equihls_bilinear.h: a sparse constant bilinear map (Clebsch-Gordan core)."""
from __future__ import annotations

import itertools
from fractions import Fraction
from typing import NamedTuple

import numpy as np

from ..errors import ModelError
from ..ir.fixedpoint import exact_type, is_pow2
from .base import Block, as_dtype, cpp_table, per_event, size
from .cost import DELAY_DSP_NS, DELAY_LUT_NS, BlockCost, const_products, dsp_slices, tree_delay, width_of

# Largest number of free variables whose box vertices acc_range enumerates for one output
# (2**14 vertices); beyond it the sound term-wise bound is used.
MAX_VERTEX_VARS = 14
# Coefficients travel to C++ as double literals: exact only up to 53 significant bits.
MAX_COEF_BITS = 53


class SparsePlan(NamedTuple):
    """What the header computes for a coefficient tensor C [Da, Db, Dk].

    pairs: distinct (i, j) with some C[i, j, :] != 0 (one product a_i*b_j each);
    terms: distinct (pair index, |c|) (one product-times-constant each);
    entries: (term index, k, negative) per non-zero C[i, j, k] (an add or subtract into out k).
    """

    pairs: list
    terms: list
    entries: list


def sparse_plan(c) -> SparsePlan:
    """Sparse structure of a coefficient tensor c [Da, Db, Dk] (raw ints or values; zeros skipped)."""
    c = np.asarray(c)
    pairs, terms, entries = [], [], []
    pair_of, term_of = {}, {}
    for i, j, k in itertools.product(*(range(n) for n in c.shape)):
        v = c[i, j, k]
        v = v.item() if isinstance(v, np.generic) else v   # Python int / float: exact Fraction
        if v == 0:
            continue
        p = pair_of.setdefault((i, j), len(pairs))
        if p == len(pairs):
            pairs.append((i, j))
        key = (p, abs(Fraction(v)))
        t = term_of.setdefault(key, len(terms))
        if t == len(terms):
            terms.append((p, abs(v)))
        entries.append((t, k, v < 0))
    return SparsePlan(pairs, terms, entries)


def multiplier_count(c) -> tuple[int, int]:
    """(products a_i*b_j, multipliers by a constant) the header emits for c [Da, Db, Dk].

    A product is one variable-by-variable multiplier per distinct (i, j); a constant multiplier
    is one per distinct (i, j, |c|) whose |c| is not a power of two (powers of two are shifts,
    signs are add/subtract). Pass the coefficients the block sees (the quantised C)."""
    plan = sparse_plan(c)
    return len(plan.pairs), sum(1 for _, m in plan.terms if not is_pow2(m))


def dense_multiplier_count(c) -> int:
    """Da*Db*Dk: the multiplications of the dense einsum('ijk,i,j->k') for c [Da, Db, Dk]."""
    return int(np.prod(np.shape(c)))


class Bilinear(Block):
    """out[r, k] = sum_ij C[i, j, k] a[r, i] b[r, j] over the non-zero entries of C. Exact.

    Inputs: a (1, ..., Da), b (1, ..., Db) with the same leading shape (rows), C const
    (Da, Db, Dk); output (1, ..., Dk). The result is exact for the quantised C (fractional bits
    Fa + Fb + Fc); the gap to the float C is an error term, as for Dense's weights."""

    op = "Bilinear"
    header = "equihls_bilinear.h"

    def weight_inputs(self, g, node):
        return []   # C is compiled into the config's constant tables, not passed as an array

    def _dims(self, g, node):
        """(rows, Da, Db, Dk)."""
        da, db, dk = g.shapes[node.inputs[2]]
        rows = size(per_event(g.shapes[node.inputs[0]])) // da
        assert rows * db == size(per_event(g.shapes[node.inputs[1]])), "a and b must have the same rows"
        return rows, da, db, dk

    def _cq(self, g, node, qconst):
        """Raw quantised C [Da, Db, Dk] as Python ints."""
        return np.asarray(qconst[node.inputs[2]]).astype(object).reshape(g.shapes[node.inputs[2]])

    def _frac(self, types, node):
        a, b, c = (types[t] for t in node.inputs)
        return a.frac + b.frac + c.frac

    def acc_range(self, g, node, types, qconst):
        a, b = types[node.inputs[0]], types[node.inputs[1]]
        cq = self._cq(g, node, qconst)
        lo_all, hi_all = 0, 0   # every output's interval contains 0 (inputs may be 0)
        for k in range(cq.shape[2]):
            lo, hi = _bilinear_range(cq[:, :, k], (a.raw_min, a.raw_max), (b.raw_min, b.raw_max))
            lo_all, hi_all = min(lo_all, lo), max(hi_all, hi)
        return lo_all, hi_all, self._frac(types, node)

    def twin(self, g, node, raws, types, qconst, acc_frac):
        a, b, c = (types[t] for t in node.inputs)
        rows, da, db, dk = self._dims(g, node)
        cq = self._cq(g, node, qconst)
        plan = sparse_plan(cq)
        bits = a.width + b.width + c.width + len(plan.pairs).bit_length() + 2
        batch = raws[node.inputs[0]].shape[0]
        if not plan.pairs:
            return as_dtype(np.zeros((batch, rows * dk), dtype=np.int64), bits)
        ar = as_dtype(np.asarray(raws[node.inputs[0]]), bits).reshape(-1, da)
        br = as_dtype(np.asarray(raws[node.inputs[1]]), bits).reshape(-1, db)
        # products of the distinct pairs, then one integer matrix of signed raw coefficients
        m = np.zeros((len(plan.pairs), dk), dtype=object)
        for p, (i, j) in enumerate(plan.pairs):
            m[p] = cq[i, j]
        pr = ar[:, [i for i, _ in plan.pairs]] * br[:, [j for _, j in plan.pairs]]
        return (pr @ as_dtype(m, bits)).reshape(batch, -1)

    def error(self, g, node, errs, mags, types, qconst):
        x, y, c = node.inputs
        cq = np.abs(types[c].to_float(np.asarray(qconst[c]).reshape(-1))).reshape(g.shapes[c])
        dc = np.abs(np.asarray(g.consts[c], dtype=np.float64).reshape(g.shapes[c])
                    - types[c].to_float(np.asarray(qconst[c]).reshape(-1)).reshape(g.shapes[c]))
        ea, eb, ma, mb = errs[x], errs[y], mags[x], mags[y]
        # fixed a', b' vs model a, b: |a'b' - ab| <= |a'| eb + (|b'| + eb) ea; plus |C - Cq| |ab|
        per_out = cq.sum((0, 1)) * (ma * eb + (mb + eb) * ea) + dc.sum((0, 1)) * (ma + ea) * (mb + eb)
        return float(per_out.max(initial=0.0))

    def error_elem(self, g, node, E, V, types, qconst, consts):
        x, y, c = node.inputs
        _, da, db, dk = self._dims(g, node)
        cv = V[c][0].reshape(da, db, dk)
        cq, dc = np.abs(cv), np.abs(consts[c].reshape(da, db, dk) - cv)
        batch = V[x].shape[0]
        va, ea = np.abs(V[x]).reshape(-1, da), E[x].reshape(-1, da)
        vb, eb = np.abs(V[y]).reshape(-1, db), E[y].reshape(-1, db)

        def form(u, w, t):
            return np.einsum("ri,rj,ijk->rk", u, w, t, optimize=True)

        err = form(va, eb, cq) + form(ea, vb + eb, cq) + form(va + ea, vb + eb, dc)
        return err.reshape(batch, -1), form(va, vb, cq).reshape(batch, -1)

    def cpp_config(self, g, node, ctx):
        ta, tb, tc = (ctx["types"][t] for t in node.inputs)
        rows, da, db, dk = self._dims(g, node)
        plan = sparse_plan(self._cq(g, node, ctx["qconst"]))   # C as the precision pass quantised it
        fp, fc = ta.frac + tb.frac, tc.frac
        corners = [u * v for u in (ta.raw_min, ta.raw_max) for v in (tb.raw_min, tb.raw_max)]
        plo, phi = min(corners), max(corners)
        mags = [m for _, m in plan.terms]
        muls = [not is_pow2(m) for m in mags]
        cmax = max(mags, default=1)
        if not all(muls):
            # a shifted term first holds its product unshifted (raw product << Fc)
            cmax = max(cmax, 1 << fc)
        if max(mags, default=0).bit_length() > MAX_COEF_BITS:
            raise ModelError(f"Bilinear '{node.name}': coefficient wider than {MAX_COEF_BITS} bits")
        prod_t = exact_type(min(plo, 0), max(phi, 0), fp)
        term_t = exact_type(min(plo, 0) * cmax, max(phi, 0) * cmax, fp + fc)
        coef_t = exact_type(0, max(mags, default=1), fc, signed=False)
        pad = lambda v: v if v else [0]   # noqa: E731  (no zero-length C++ arrays)
        tsh = [(m.bit_length() - 1 - fc) if is_pow2(m) else 0 for m in mags]
        coef = [repr(float(Fraction(m, 1 << fc))) for m in mags]   # exact: <= 53 bits, dyadic
        return (f"    static const unsigned n_rows = {rows};\n    static const unsigned n_a = {da};\n"
                f"    static const unsigned n_b = {db};\n    static const unsigned n_out = {dk};\n"
                f"    static const unsigned n_products = {len(plan.pairs)};\n"
                f"    static const unsigned n_terms = {len(plan.terms)};\n"
                f"    static const unsigned n_nonzero = {len(plan.entries)};\n"
                f"    static const bool all_pow2 = {'false' if any(muls) else 'true'};\n"
                f"    typedef {prod_t.cpp()} prod_t;\n    typedef {term_t.cpp()} term_t;\n"
                f"    typedef {coef_t.cpp()} coef_t;\n    typedef {ctx['accum_t']} accum_t;\n"
                + cpp_table("pa", "unsigned", pad([i for i, _ in plan.pairs]))
                + cpp_table("pb", "unsigned", pad([j for _, j in plan.pairs]))
                + cpp_table("tp", "unsigned", pad([p for p, _ in plan.terms]))
                + cpp_table("tmul", "bool", pad([int(u) for u in muls]))
                + cpp_table("tsh", "int", pad(tsh))
                + cpp_table("tc", "coef_t", pad(coef))
                + cpp_table("et", "unsigned", pad([t for t, _, _ in plan.entries]))
                + cpp_table("ek", "unsigned", pad([k for _, k, _ in plan.entries]))
                + cpp_table("eneg", "bool", pad([int(n) for _, _, n in plan.entries])))

    def cpp_call(self, g, node, ctx):
        return "equihls::bilinear<{in0_t}, {in1_t}, {out_t}, {config}>({in0}, {in1}, {out});"

    def cost(self, g, node, prec, post_adder=True):
        a, b, _ = node.inputs
        rows, da, db, dk = self._dims(g, node)
        wa, wb, acc = width_of(prec, a), width_of(prec, b), prec.acc[node.name].width
        plan = sparse_plan(self._cq(g, node, prec.qconst))
        c = BlockCost(node.name, node.op)
        c.products.append((rows * len(plan.pairs), wa, wb, "var"))
        _, chain = const_products(c, wa + wb, [int(m) for _, m in plan.terms], rows)
        per_k = np.bincount([k for _, k, _ in plan.entries], minlength=dk) if plan.entries else np.zeros(dk, int)
        c.adders.append((rows * int(np.maximum(per_k - 1, 0).sum()), acc))
        c.ops = (([DELAY_DSP_NS] if dsp_slices(wa, wb) else [DELAY_LUT_NS * 3]) + chain
                 + tree_delay(int(per_k.max(initial=0)), acc))
        c.notes = {"multipliers": len(plan.pairs) * rows, "dense_multipliers": da * db * dk * rows}
        return c


def _bilinear_range(ck, ar, br) -> tuple[int, int]:
    """(min, max) of sum_ij ck[i, j] a_i b_j over the box a_i in ar, b_j in br (raw ints).

    Exact when one side has at most MAX_VERTEX_VARS active variables: for fixed a the form is
    linear in b (each b_j at the end of its range that the sign of s_j = sum_i ck[i,j] a_i
    picks), and the resulting max over b is convex in a, so a vertex of a's box attains it.
    Otherwise the term-wise bound, sound but loose when a variable meets coefficients of both
    signs (e.g. a0 b0 + a0 b1 + a1 b0 - a1 b1 reaches 2 of its term-wise 4)."""
    rows = [i for i in range(ck.shape[0]) if any(ck[i])]
    cols = [j for j in range(ck.shape[1]) if any(ck[:, j])]
    if not rows:
        return 0, 0
    sub = ck[np.ix_(rows, cols)]
    if len(rows) > len(cols):
        sub, ar, br = sub.T, br, ar
    n = sub.shape[0]
    if n > MAX_VERTEX_VARS:
        t = [c * u * v for c in sub.reshape(-1) for u in ar for v in br]
        t = np.array(t, dtype=object).reshape(-1, 4)
        return int(t.min(1).sum()), int(t.max(1).sum())
    verts = np.array(list(itertools.product(ar, repeat=n)), dtype=object)   # [2**n, n]
    s = verts @ sub                                                         # [2**n, m]
    lo_b, hi_b = s * br[0], s * br[1]
    lo = np.minimum(lo_b, hi_b).sum(1).min()
    hi = np.maximum(lo_b, hi_b).sum(1).max()
    return int(lo), int(hi)
