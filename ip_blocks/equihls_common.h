// equihls common definitions for the header-only IP blocks.
// Conventions: io_parallel flat arrays (row-major, batch axis removed), fully unrolled, II=1.
// Every block computes its exact result in CONFIG_T::accum_t (sized by the compiler so nothing
// overflows or rounds) and rounds only once, when assigning to res_T through store().
// store() is a plain assignment in synthesis. C-simulation built with -DEQUIHLS_TRACE also
// counts, per block (CONFIG_T::trace_id), the stored values, those that overflowed res_T (value
// after res_T's rounding outside its range: saturated or wrapped) and those that were rounded.
// CONFIG_T::trace_clip marks a quantiser of the model, whose clipping is not an overflow event.
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

#if defined(EQUIHLS_TRACE) && !defined(__SYNTHESIS__)
// Per-thread trace state set by the C-simulation bridge: counts[3 * id + {0,1,2}] = values,
// overflows, roundings of block id; event_overflows counts overflows of the current event.
struct trace_state {
    long long *counts;
    long long event_overflows;
};
inline trace_state &trace() {
    static thread_local trace_state s = {0, 0};
    return s;
}
template <class res_T, class src_T> void trace_store(unsigned id, bool clip, const res_T &stored, const src_T &v) {
    trace_state &s = trace();
    if (!s.counts) return;
    // v rounded as res_T rounds, with 128 more integer bits: no value of a compiled model (at most
    // 96 bits wide) can overflow it
    typedef ap_fixed<res_T::width + 128, res_T::iwidth + 128, res_T::qmode, AP_WRAP> rounded_t;
    const rounded_t q = v;
    s.counts[3 * id] += 1;
    if (q != stored) {
        s.counts[3 * id + 1] += 1;
        if (!clip) s.event_overflows += 1;
    }
    if (q != v) s.counts[3 * id + 2] += 1;
}
#endif

// dst = v (the block's rounding point), traced in C-simulation built with -DEQUIHLS_TRACE.
template <typename CONFIG_T, class res_T, class src_T> void store(res_T &dst, const src_T &v) {
    #pragma HLS INLINE
    dst = v;
#if defined(EQUIHLS_TRACE) && !defined(__SYNTHESIS__)
    trace_store(CONFIG_T::trace_id, CONFIG_T::trace_clip, dst, v);
#endif
}

} // namespace equihls

#endif
