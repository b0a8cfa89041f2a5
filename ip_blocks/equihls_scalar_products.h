// Pairwise scalar products of N vectors of dimension D under a diagonal ±1 metric:
//   out[i][j] = sum_d eta_d * x[i][d] * x[j][d]          (Minkowski for eta = diag(+1,-1,-1,-1))
// Only the N(N+1)/2 pairs i <= j are computed; out[j][i] mirrors out[i][j].
// The metric sign is applied as add/subtract, never as a multiplier.
// Bit growth: x is <W,I>; a product is <2W,2I>; a signed sum of D products needs at most
// ceil(log2 D) more integer bits. accum_t is the exact interval-derived type, so nothing is
// rounded inside; res_T equals accum_t unless the user narrowed it.
#ifndef EQUIHLS_SCALAR_PRODUCTS_H_
#define EQUIHLS_SCALAR_PRODUCTS_H_

#include "equihls_common.h"

namespace equihls {

template <class data_T, class res_T, typename CONFIG_T>
void scalar_products(const data_T x[CONFIG_T::n_vectors * CONFIG_T::n_dims],
                     res_T out[CONFIG_T::n_vectors * CONFIG_T::n_vectors]) {
    #pragma HLS INLINE
    const unsigned N = CONFIG_T::n_vectors, D = CONFIG_T::n_dims;
PairI:
    for (unsigned i = 0; i < N; i++) {
        #pragma HLS UNROLL
    PairJ:
        for (unsigned j = i; j < N; j++) {
            #pragma HLS UNROLL
            typename CONFIG_T::accum_t acc = 0;
        Dim:
            for (unsigned d = 0; d < D; d++) {
                #pragma HLS UNROLL
                if ((CONFIG_T::neg_mask >> d) & 1) acc -= x[i * D + d] * x[j * D + d];
                else acc += x[i * D + d] * x[j * D + d];
            }
            store<CONFIG_T>(out[i * N + j], acc);
            if (j != i) store<CONFIG_T>(out[j * N + i], acc);
        }
    }
}

} // namespace equihls

#endif
