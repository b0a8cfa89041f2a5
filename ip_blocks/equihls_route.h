// Pure data movement: reshape, transpose, slice, gather with constant indices, expand, concat.
//   route:   y[k] = x[src(k)]
//   concat2: y[k] = src(k) < n_a ? a[src(k)] : b[src(k) - n_a]
// src() is a constant table fixed at compile time, so after unrolling this is wiring only:
// no logic, no bit growth (res_T holds every input value exactly).
#ifndef EQUIHLS_ROUTE_H_
#define EQUIHLS_ROUTE_H_

#include "equihls_common.h"

namespace equihls {

template <class data_T, class res_T, typename CONFIG_T>
void route(const data_T x[CONFIG_T::n_in], res_T y[CONFIG_T::n_out]) {
    #pragma HLS INLINE
Elem:
    for (unsigned k = 0; k < CONFIG_T::n_out; k++) {
        #pragma HLS UNROLL
        store<CONFIG_T>(y[k], x[CONFIG_T::src(k)]);
    }
}

template <class a_T, class b_T, class res_T, typename CONFIG_T>
void concat2(const a_T a[CONFIG_T::n_a], const b_T b[CONFIG_T::n_b], res_T y[CONFIG_T::n_out]) {
    #pragma HLS INLINE
Elem:
    for (unsigned k = 0; k < CONFIG_T::n_out; k++) {
        #pragma HLS UNROLL
        const unsigned s = CONFIG_T::src(k);
        if (s < CONFIG_T::n_a) store<CONFIG_T>(y[k], a[s]);
        else store<CONFIG_T>(y[k], b[s - CONFIG_T::n_a]);
    }
}

} // namespace equihls

#endif
