// Sum pooling (e.g. over the particle axis of a set, or over pairs):
//   y[j] = sum_{t < n_reduce} x[src(j * n_reduce + t)]
// The constant table src() selects the reduced elements of each output. Bit growth: a sum of
// n terms of <W,I> needs ceil(log2 n) more integer bits; accum_t is exact, so the pooled value is
// exact and permutation-invariant bit for bit (integer addition is associative).
#ifndef EQUIHLS_REDUCE_H_
#define EQUIHLS_REDUCE_H_

#include "equihls_common.h"

namespace equihls {

template <class data_T, class res_T, typename CONFIG_T>
void reduce_sum(const data_T x[CONFIG_T::n_in], res_T y[CONFIG_T::n_out]) {
    #pragma HLS INLINE
Out:
    for (unsigned j = 0; j < CONFIG_T::n_out; j++) {
        #pragma HLS UNROLL
        typename CONFIG_T::accum_t acc = 0;
    Red:
        for (unsigned t = 0; t < CONFIG_T::n_reduce; t++) {
            #pragma HLS UNROLL
            acc += x[CONFIG_T::src(j * CONFIG_T::n_reduce + t)];
        }
        store<CONFIG_T>(y[j], acc);
    }
}

} // namespace equihls

#endif
