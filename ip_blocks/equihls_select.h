// Element-wise selection (ONNX Where) with numpy broadcasting resolved into index tables:
//   out[k] = cond[ic(k)] != 0 ? a[ia(k)] : b[ib(k)]
// Any operand may be a constant array. Bit growth: none beyond aligning a and b (max(Fa,Fb)
// fractional bits, the wider integer part); accum_t is exact; rounding only at res_T.
#ifndef EQUIHLS_SELECT_H_
#define EQUIHLS_SELECT_H_

#include "equihls_common.h"

namespace equihls {

template <class c_T, class a_T, class b_T, class res_T, typename CONFIG_T>
void select(const c_T cond[CONFIG_T::n_c], const a_T a[CONFIG_T::n_a], const b_T b[CONFIG_T::n_b],
            res_T out[CONFIG_T::n_out]) {
    #pragma HLS INLINE
Elem:
    for (unsigned k = 0; k < CONFIG_T::n_out; k++) {
        #pragma HLS UNROLL
        typename CONFIG_T::accum_t r;
        if (cond[CONFIG_T::ic(k)] != 0) r = a[CONFIG_T::ia(k)];
        else r = b[CONFIG_T::ib(k)];
        store<CONFIG_T>(out[k], r);
    }
}

} // namespace equihls

#endif
