// Sparse constant bilinear map per row r (the core of a Clebsch-Gordan tensor product):
//   out[r][k] = sum_{(i,j) : C[i][j][k] != 0} C[i][j][k] * a[r][i] * b[r][j]
// C is constant; only its non-zero entries are emitted, through constant tables in CONFIG_T:
//   products p: prod[p] = a[pa(p)] * b[pb(p)]     each distinct (i,j) once (variable x variable)
//   terms t:    term[t] = prod[tp(t)] * |c_t|      each distinct (product, |coefficient|) once
//   entries e:  acc[ek(e)] += / -= term[et(e)]     the sign is add/subtract, never a multiplier
// A term whose |c| is a power of two (tmul(t) false) is a constant shift of its product by
// tsh(t) = log2|c| (negative: right shift), no multiplier; all_pow2 says every term is such a
// shift and removes the multiply path at compile time. Other terms multiply by the constant
// tc(t) of coef_t (a constant-coefficient multiplier, not a general one).
// Bit growth: a<Wa,Ia> * b<Wb,Ib> is exact in prod_t (Fa+Fb fractional bits); |c| has Fc
// fractional bits, so a term is exact in term_t (Fa+Fb+Fc) and so is the sum in accum_t, the
// exact interval type. A partial sum may leave accum_t's range when that interval is tighter
// than the term-wise bound, but AP_WRAP arithmetic is modular, so the final sum, which lies in
// the interval, is exact. Nothing is rounded inside; rounding happens only at the cast to res_T.
#ifndef EQUIHLS_BILINEAR_H_
#define EQUIHLS_BILINEAR_H_

#include "equihls_common.h"

namespace equihls {

template <class a_T, class b_T, class res_T, typename CONFIG_T>
void bilinear(const a_T a[CONFIG_T::n_rows * CONFIG_T::n_a], const b_T b[CONFIG_T::n_rows * CONFIG_T::n_b],
              res_T out[CONFIG_T::n_rows * CONFIG_T::n_out]) {
    #pragma HLS INLINE
Row:
    for (unsigned r = 0; r < CONFIG_T::n_rows; r++) {
        #pragma HLS UNROLL
        // at least one slot: zero-length arrays are not C++ (C may have no non-zero entry)
        typename CONFIG_T::prod_t prod[CONFIG_T::n_products > 0 ? CONFIG_T::n_products : 1];
        typename CONFIG_T::term_t term[CONFIG_T::n_terms > 0 ? CONFIG_T::n_terms : 1];
        typename CONFIG_T::accum_t acc[CONFIG_T::n_out];
        #pragma HLS ARRAY_PARTITION variable=prod complete
        #pragma HLS ARRAY_PARTITION variable=term complete
        #pragma HLS ARRAY_PARTITION variable=acc complete
    Product:
        for (unsigned p = 0; p < CONFIG_T::n_products; p++) {
            #pragma HLS UNROLL
            prod[p] = a[r * CONFIG_T::n_a + CONFIG_T::pa(p)] * b[r * CONFIG_T::n_b + CONFIG_T::pb(p)];
        }
    Term:
        for (unsigned t = 0; t < CONFIG_T::n_terms; t++) {
            #pragma HLS UNROLL
            if (!CONFIG_T::all_pow2 && CONFIG_T::tmul(t)) {
                term[t] = prod[CONFIG_T::tp(t)] * CONFIG_T::tc(t);
            } else {
                // exact: term_t holds the unshifted product, and a right shift only drops zero bits
                typename CONFIG_T::term_t s = prod[CONFIG_T::tp(t)];
                term[t] = s << CONFIG_T::tsh(t);
            }
        }
    Clear:
        for (unsigned k = 0; k < CONFIG_T::n_out; k++) {
            #pragma HLS UNROLL
            acc[k] = 0;
        }
    Entry:
        for (unsigned e = 0; e < CONFIG_T::n_nonzero; e++) {
            #pragma HLS UNROLL
            if (CONFIG_T::eneg(e)) acc[CONFIG_T::ek(e)] -= term[CONFIG_T::et(e)];
            else acc[CONFIG_T::ek(e)] += term[CONFIG_T::et(e)];
        }
    Out:
        for (unsigned k = 0; k < CONFIG_T::n_out; k++) {
            #pragma HLS UNROLL
            store<CONFIG_T>(out[r * CONFIG_T::n_out + k], acc[k]);
        }
    }
}

} // namespace equihls

#endif
