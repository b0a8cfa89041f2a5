// Linear map on the last axis of a [rows, n_in] tensor with constant weights:
//   y[r][o] = b[o] + sum_i x[r][i] * w[i][o]
// Bit growth: x<Wx,Ix> * w<Ww,Iw> is exact in <Wx+Ww, Ix+Iw>; the sum over n_in terms plus the
// bias is held in accum_t, sized from the interval of reachable values, so nothing overflows.
// Rounding happens only at the cast to res_T. Zero weights are skipped at compile time.
#ifndef EQUIHLS_DENSE_H_
#define EQUIHLS_DENSE_H_

#include "equihls_common.h"

namespace equihls {

template <class data_T, class res_T, typename CONFIG_T>
void dense_last_axis(const data_T x[CONFIG_T::n_rows * CONFIG_T::n_in],
                     res_T y[CONFIG_T::n_rows * CONFIG_T::n_out],
                     const typename CONFIG_T::weight_t w[CONFIG_T::n_in * CONFIG_T::n_out],
                     const typename CONFIG_T::bias_t b[CONFIG_T::n_out]) {
    #pragma HLS INLINE
Row:
    for (unsigned r = 0; r < CONFIG_T::n_rows; r++) {
        #pragma HLS UNROLL
    Out:
        for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
            #pragma HLS UNROLL
            typename CONFIG_T::accum_t acc = b[o];
        In:
            for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
                #pragma HLS UNROLL
                if (w[i * CONFIG_T::n_out + o] != 0) acc += x[r * CONFIG_T::n_in + i] * w[i * CONFIG_T::n_out + o];
            }
            store<CONFIG_T>(y[r * CONFIG_T::n_out + o], acc);
        }
    }
}

} // namespace equihls

#endif
