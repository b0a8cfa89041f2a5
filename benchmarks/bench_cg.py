"""Clebsch-Gordan products: non-zeros, coefficients after normalisation folding, and multipliers
of the Bilinear block vs the dense contraction (all Da*Db*Dk entries).

Run: .venv/bin/python benchmarks/bench_cg.py   (part of `make benchmark`; prints a Markdown table)
SO(3)/O(3): every (l1, l2, l3) with l <= 3 allowed by the triangle rule (real basis of
equihls/irreps.py). Lorentz: every product of the real forms (0,0), (1/2,1/2), (1,0)+(0,1), (1,1)
with a unique parity-even coupling (equihls/lorentz_irreps.py). "block products" counts each
distinct a_i*b_j once; "const mults" counts the terms whose coefficient is not ±2^k (after
folding, when the coefficients have an exact simple form; else the CG values quantised with 12
fractional bits, as the compiler's default --weight-frac does).
"""
import itertools
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from equihls.symmetry import o3 as irreps, lorentz as lorentz_irreps  # noqa: E402
from equihls.blocks.bilinear import dense_multiplier_count, multiplier_count  # noqa: E402
from equihls.ir.fixedpoint import quantize_const  # noqa: E402

WEIGHT_FRAC = 12


def row(name, c):
    res = irreps.simplest_scale(c)
    if res.residual == 0.0:
        coeffs = np.asarray(res.coeffs, dtype=np.float64)
        vals = sorted({abs(float(v)) for v in coeffs.reshape(-1) if v != 0})
        form = f"{res.kind} (×{res.scale:.4g}): ±{{{', '.join(f'{v:g}' for v in vals)}}}"
    else:
        t, raw, qerr = quantize_const(c, weight_frac=WEIGHT_FRAC)
        coeffs = t.to_float(np.asarray(raw)).reshape(c.shape)
        form = (f"no exact simple form (best small-integer residual {res.residual:.3g}); {WEIGHT_FRAC}-bit CG "
                f"values, max error {qerr:.2g}")
    nnz = int(np.count_nonzero(c))
    prods, mults = multiplier_count(coeffs)
    dense = dense_multiplier_count(c)
    print(f"| {name} | {nnz} | {form} | {prods} | {mults} | {dense} | {(prods + mults) / dense:.2f} |")
    return prods + mults, dense


def main():
    print("| product | non-zeros | coefficients after folding | block products | const mults | dense mults | "
          "block/dense |")
    print("|---|---|---|---|---|---|---|")
    tot_b = tot_d = 0
    for l1, l2 in itertools.combinations_with_replacement(range(4), 2):
        for l3 in range(abs(l1 - l2), min(l1 + l2, 3) + 1):
            b, d = row(f"SO(3) {l1}⊗{l2}→{l3}", irreps.cg(l1, l2, l3))
            tot_b, tot_d = tot_b + b, tot_d + d
    names = list(lorentz_irreps.REAL_REPS)
    for r1, r2 in itertools.combinations_with_replacement(names, 2):
        for r3 in names:
            try:
                c = lorentz_irreps.cg_lorentz(r1, r2, r3)
            except ValueError:
                continue
            b, d = row(f"Lorentz {r1}⊗{r2}→{r3}", c)
            tot_b, tot_d = tot_b + b, tot_d + d
    print(f"\ntotal multipliers (products + constant multiplications): block {tot_b}, dense {tot_d}, "
          f"ratio {tot_b / tot_d:.3f}")
    complex_table()


def _spin(v) -> str:
    """0, ½ or 1."""
    return "½" if 2 * v == 1 else str(int(v))


def complex_table():
    """Complex (m,n) couplings, m, n <= 1 (SU(2)xSU(2) CG products): non-zeros per triple."""
    rows = {}
    for mn1, mn2, mn3, nnz in lorentz_irreps.complex_product_table():
        key = f"({_spin(mn1[0])},{_spin(mn1[1])})"
        rows.setdefault(key, []).append(f"⊗({_spin(mn2[0])},{_spin(mn2[1])})→({_spin(mn3[0])},{_spin(mn3[1])}): {nnz}")
    n = sum(len(v) for v in rows.values())
    print(f"\n{n} complex couplings (m1,n1)⊗(m2,n2)→(m3,n3), m,n ≤ 1, inputs unordered: non-zero entries\n")
    print("| (m1,n1) | ⊗(m2,n2)→(m3,n3): non-zeros |\n|---|---|")
    for k, v in rows.items():
        print(f"| {k} | {', '.join(v)} |")


if __name__ == "__main__":
    main()
