// Sum pooling (e.g. over the particle axis of a set, or over pairs):
//   y[j] = sum_{t < n_reduce} x[src(j * n_reduce + t)]
// The constant table src() selects the reduced elements of each output. Bit growth: a sum of
// n terms of <W,I> needs ceil(log2 n) more integer bits; accum_t is exact, so the pooled value is
// exact and permutation-invariant bit for bit (integer addition is associative).
// Max / min pooling: y[j] = max (min) over t of x[src(j * n_reduce + t)], exact, no bit growth
// (the result is one of the inputs), evaluated as a balanced tree of compare-and-select cells.
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

template <class data_T, class res_T, typename CONFIG_T, bool is_max>
void reduce_extreme(const data_T x[CONFIG_T::n_in], res_T y[CONFIG_T::n_out]) {
    #pragma HLS INLINE
Out:
    for (unsigned j = 0; j < CONFIG_T::n_out; j++) {
        #pragma HLS UNROLL
        typename CONFIG_T::accum_t v[CONFIG_T::n_reduce];
        #pragma HLS ARRAY_PARTITION variable = v complete
    Gather:
        for (unsigned t = 0; t < CONFIG_T::n_reduce; t++) {
            #pragma HLS UNROLL
            v[t] = x[CONFIG_T::src(j * CONFIG_T::n_reduce + t)];
        }
        // balanced tree: pair element i with element i + h, halving the live count each level
        unsigned m = CONFIG_T::n_reduce;
    Level:
        while (m > 1) {
            unsigned h = (m + 1) / 2;
        Pair:
            for (unsigned i = 0; i + h < m; i++) {
                #pragma HLS UNROLL
                if (is_max ? (v[i + h] > v[i]) : (v[i + h] < v[i])) v[i] = v[i + h];
            }
            m = h;
        }
        store<CONFIG_T>(y[j], v[0]);
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void reduce_max(const data_T x[CONFIG_T::n_in], res_T y[CONFIG_T::n_out]) {
    #pragma HLS INLINE
    reduce_extreme<data_T, res_T, CONFIG_T, true>(x, y);
}

template <class data_T, class res_T, typename CONFIG_T>
void reduce_min(const data_T x[CONFIG_T::n_in], res_T y[CONFIG_T::n_out]) {
    #pragma HLS INLINE
    reduce_extreme<data_T, res_T, CONFIG_T, false>(x, y);
}

} // namespace equihls

#endif
