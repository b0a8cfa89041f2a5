// Element-wise unary ops without tables:
//   relu: y = max(x, 0)   (exact, no growth)
//   neg:  y = -x          (exact, one more integer bit)
//   cast: y = (res_T) x   (the explicit requantisation point: rounding/overflow of res_T apply)
#ifndef EQUIHLS_UNARY_H_
#define EQUIHLS_UNARY_H_

#include "equihls_common.h"

namespace equihls {

enum unary_op { op_relu = 0, op_neg = 1, op_cast = 2 };

template <class data_T, class res_T, typename CONFIG_T>
void unary(const data_T x[CONFIG_T::n_elem], res_T y[CONFIG_T::n_elem]) {
    #pragma HLS INLINE
Elem:
    for (unsigned k = 0; k < CONFIG_T::n_elem; k++) {
        #pragma HLS UNROLL
        typename CONFIG_T::accum_t v = x[k];
        if (CONFIG_T::op == op_relu) store<CONFIG_T>(y[k], v > 0 ? v : typename CONFIG_T::accum_t(0));
        else if (CONFIG_T::op == op_neg) store<CONFIG_T>(y[k], -v);
        else store<CONFIG_T>(y[k], v);
    }
}

} // namespace equihls

#endif
