// equihls common definitions for the header-only IP blocks.
// Conventions: io_parallel flat arrays (row-major, batch axis removed), fully unrolled, II=1.
// Every block computes its exact result in CONFIG_T::accum_t (sized by the compiler so nothing
// overflows or rounds) and rounds only once, when assigning to res_T.
#ifndef EQUIHLS_COMMON_H_
#define EQUIHLS_COMMON_H_

#include "ap_fixed.h"
#include "ap_int.h"

namespace equihls {

// Index of the most significant set bit of a (W-bit unsigned), -1 for zero. Unrolled priority encoder.
template <int W> int msb_index(ap_uint<W> a) {
    #pragma HLS INLINE
    int p = -1;
    for (int b = 0; b < W; b++) {
        #pragma HLS UNROLL
        if (a[b]) p = b;
    }
    return p;
}

} // namespace equihls

#endif
