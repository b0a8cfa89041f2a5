// Element-wise unary ops without tables:
//   relu: y = max(x, 0)   (exact, no growth)
//   neg:  y = -x          (exact, one more integer bit)
//   cast: y = (res_T) x   (the explicit requantisation point: rounding/overflow of res_T apply)
//   abs:  y = |x|         (exact, one more integer bit: |min| = max + 1 LSB)
//   sign: y = sgn(x)      (exact: -1, 0 or 1, no fractional bits; x is compared in its own type)
#ifndef EQUIHLS_UNARY_H_
#define EQUIHLS_UNARY_H_

#include "equihls_common.h"

namespace equihls {

enum unary_op { op_relu = 0, op_neg = 1, op_cast = 2, op_abs = 3, op_sign = 4 };

template <class data_T, class res_T, typename CONFIG_T>
void unary(const data_T x[CONFIG_T::n_elem], res_T y[CONFIG_T::n_elem]) {
    #pragma HLS INLINE
Elem:
    for (unsigned k = 0; k < CONFIG_T::n_elem; k++) {
        #pragma HLS UNROLL
        typedef typename CONFIG_T::accum_t acc_t;
        if (CONFIG_T::op == op_sign) {
            // accum_t holds -1..1 only: compare x itself
            store<CONFIG_T>(y[k], x[k] > 0 ? acc_t(1) : (x[k] < 0 ? acc_t(-1) : acc_t(0)));
            continue;
        }
        acc_t v = x[k];
        if (CONFIG_T::op == op_relu) store<CONFIG_T>(y[k], v > 0 ? v : acc_t(0));
        else if (CONFIG_T::op == op_neg) store<CONFIG_T>(y[k], -v);
        else if (CONFIG_T::op == op_abs) store<CONFIG_T>(y[k], v < 0 ? acc_t(-v) : v);
        else store<CONFIG_T>(y[k], v);
    }
}

} // namespace equihls

#endif
