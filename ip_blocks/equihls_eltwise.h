// Element-wise binary op with numpy broadcasting resolved at compile time into index tables:
//   out[k] = a[ia(k)] (op) b[ib(k)],   op in {add, sub, mul, max, min}
// b may be a runtime tensor or a constant array (a weight). Bit growth: add/sub need
// max(Fa,Fb) fractional bits and one more integer bit than the wider operand; mul is exact in
// <Wa+Wb, Ia+Ib>; max/min need no growth. accum_t is exact; rounding only at res_T.
// Comparisons gt/ge/lt/le/eq/ne: out = (a op b) ? 1 : 0, the operands compared exactly in their own
// types (ap_fixed comparison aligns them); the 0/1 result needs no fractional bit.
#ifndef EQUIHLS_ELTWISE_H_
#define EQUIHLS_ELTWISE_H_

#include "equihls_common.h"

namespace equihls {

enum eltwise_op { op_add = 0, op_sub = 1, op_mul = 2, op_max = 3, op_min = 4,
                  op_gt = 5, op_ge = 6, op_lt = 7, op_le = 8, op_eq = 9, op_ne = 10 };

template <class a_T, class b_T, class res_T, typename CONFIG_T>
void eltwise(const a_T a[CONFIG_T::n_a], const b_T b[CONFIG_T::n_b], res_T out[CONFIG_T::n_out]) {
    #pragma HLS INLINE
Elem:
    for (unsigned k = 0; k < CONFIG_T::n_out; k++) {
        #pragma HLS UNROLL
        if (CONFIG_T::op >= op_gt) {
            // accum_t holds 0..1 only: compare the operands themselves
            const a_T &x = a[CONFIG_T::ia(k)];
            const b_T &z = b[CONFIG_T::ib(k)];
            bool c;
            if (CONFIG_T::op == op_gt) c = x > z;
            else if (CONFIG_T::op == op_ge) c = x >= z;
            else if (CONFIG_T::op == op_lt) c = x < z;
            else if (CONFIG_T::op == op_le) c = x <= z;
            else if (CONFIG_T::op == op_eq) c = x == z;
            else c = x != z;
            store<CONFIG_T>(out[k], typename CONFIG_T::accum_t(c ? 1 : 0));
            continue;
        }
        typename CONFIG_T::accum_t va = a[CONFIG_T::ia(k)];
        typename CONFIG_T::accum_t vb = b[CONFIG_T::ib(k)];
        typename CONFIG_T::accum_t r;
        if (CONFIG_T::op == op_add) r = va + vb;
        else if (CONFIG_T::op == op_sub) r = va - vb;
        else if (CONFIG_T::op == op_mul) r = a[CONFIG_T::ia(k)] * b[CONFIG_T::ib(k)];
        else if (CONFIG_T::op == op_max) r = va > vb ? va : vb;
        else r = va < vb ? va : vb;
        store<CONFIG_T>(out[k], r);
    }
}

} // namespace equihls

#endif
