// Table look-up for smooth scalar functions.
//
// lut_log_odd: odd functions with logarithmic growth, e.g. psi(x) = sgn(x) * log(1 + |x|).
//   With a = |raw(x)| (the input's integer representation) and M mantissa bits:
//     a <  2^M : index = a                                   (exact cells for small inputs)
//     a >= 2^M : p = msb(a), index = (p - M + 1) * 2^M + (a >> (p - M)) - 2^M
//   i.e. a floating-point style index (exponent, M-bit mantissa), so the relative cell width is
//   at most 2^-M over the whole input range and the table has (W_in - M) * 2^M entries.
//   y = sgn(x) * table[index].  Error bound: half the largest change of f across a cell plus
//   half an output LSB; the compiler computes it exactly for monotone f and stores it.
//
// lut_uniform: any function on a uniform grid over [lo, hi] of the input:
//   index = clamp((raw(x) - raw_lo) >> shift, 0, n_table - 1), y = table[index].
#ifndef EQUIHLS_LUT_H_
#define EQUIHLS_LUT_H_

#include "equihls_common.h"

namespace equihls {

template <class data_T, class res_T, typename CONFIG_T>
void lut_log_odd(const data_T x[CONFIG_T::n_elem], res_T y[CONFIG_T::n_elem]) {
    #pragma HLS INLINE
    const int W = CONFIG_T::in_width;
    const int M = CONFIG_T::mantissa_bits;
Elem:
    for (unsigned k = 0; k < CONFIG_T::n_elem; k++) {
        #pragma HLS UNROLL
        ap_int<W + 1> v = 0;
        v.range(W - 1, 0) = x[k].range(W - 1, 0);
        if (CONFIG_T::in_signed && x[k][W - 1]) v[W] = 1; // sign-extend signed inputs
        const bool neg = v < 0;
        ap_uint<W> a = neg ? ap_uint<W>(-v) : ap_uint<W>(v);
        unsigned index;
        if (a < (ap_uint<W>(1) << M)) {
            index = a.to_uint();
        } else {
            const int p = msb_index<W>(a);
            index = ((p - M + 1) << M) + (unsigned)((a >> (p - M)).to_uint()) - (1u << M);
        }
        const typename CONFIG_T::table_t t = CONFIG_T::table(index);
        if (neg) store<CONFIG_T>(y[k], -t);
        else store<CONFIG_T>(y[k], t);
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void lut_uniform(const data_T x[CONFIG_T::n_elem], res_T y[CONFIG_T::n_elem]) {
    #pragma HLS INLINE
    const int W = CONFIG_T::in_width;
Elem:
    for (unsigned k = 0; k < CONFIG_T::n_elem; k++) {
        #pragma HLS UNROLL
        ap_int<W + 2> v = 0;
        v.range(W - 1, 0) = x[k].range(W - 1, 0);
        if (CONFIG_T::in_signed && x[k][W - 1]) { v[W] = 1; v[W + 1] = 1; }
        long long d = (long long)v.to_int64() - (long long)CONFIG_T::raw_lo;
        long long idx = d < 0 ? 0 : (d >> CONFIG_T::shift);
        if (idx > (long long)CONFIG_T::n_table - 1) idx = CONFIG_T::n_table - 1;
        store<CONFIG_T>(y[k], CONFIG_T::table((unsigned)idx));
    }
}

} // namespace equihls

#endif
