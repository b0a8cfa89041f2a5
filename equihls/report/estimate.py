"""Resource and latency estimates of a compiled graph, per block, before any vendor tool runs.

The model (every constant is named below, and the README states it):

Multipliers. Each block lists its products with operand widths. A variable x variable product
(scalar products, bilinear/CG, Eltwise mul) of widths a >= b goes to DSP48E2 slices when
b >= DSP_MIN_WIDTH, using ceil(a/27) * ceil(b/18) slices (27x18 signed multiplier), else to
fabric at FABRIC_MULT_LUT_PER_BIT2 * a * b LUTs. A product with a constant c (dense weights,
CG coefficients) costs nothing when |c| is 0 or a power of two (skipped or a shift); otherwise
it is a shift-add of k-1 adders when its canonical signed-digit form has k <= CSD_LUT_MAX_DIGITS
non-zero digits or the variable is narrower than DSP_MIN_WIDTH, and one multiplier as above
(b = the constant's significant bits) otherwise.
Adders. A w-bit adder/subtractor is w LUTs (one LUT6 per bit feeding the CARRY8 chain). A sum of
n terms needs n-1 adders; a DSP product absorbs one of them in the slice's post-adder (for the
scalar products the D products of a pair form one DSP cascade, DELAY_DSP_CASCADE_NS per link).
Comparators, muxes, relu: max/min = 2 LUTs per bit, relu = 1/2 LUT per bit, saturation 1 LUT
per bit. Routing (reshape, gather, concat) is wiring: no logic.
Tables. A table of e entries x w bits per looked-up element is distributed ROM
(ceil(e/64) * w LUT6) when e * w < BRAM_MIN_BITS, else block RAM: ceil(e*w / 18432) BRAM18 per
two elements (one per port). psi's log index adds a priority encoder and shifter
(PSI_INDEX_LUT_PER_BIT LUTs per input bit).
Latency. Every block is a chain of operations with delays (DELAY_* below, UltraScale+ -2
speed grade, including routing). The blocks are inlined into one pipelined function, so
operations are scheduled as soon as possible across block boundaries: an operation that does
not fit in what is left of the clock period minus Vitis HLS's default 27% clock uncertainty
starts the next cycle; a block RAM read takes BRAM_READ_CYCLES whole cycles. The latency is
the cycle in which the last output is ready, plus one output register. II is 1: every loop is
unrolled and nothing is shared (reuse factor 1).
Registers. Each block's outputs are registered at every cycle boundary its values cross
(output bits x cycles it spans); DSP-internal registers are not fabric FFs.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..blocks.base import per_event, size
from ..blocks.bilinear import is_pow2, sparse_plan

DSP_MIN_WIDTH = 10          # narrower operand below this: fabric multiplier (hls4ml/Vitis HLS practice)
DSP_A, DSP_B = 27, 18       # DSP48E2 signed multiplier port widths
FABRIC_MULT_LUT_PER_BIT2 = 0.5
CSD_LUT_MAX_DIGITS = 2      # constants with <= 2 signed digits: one adder beats a DSP
BRAM_MIN_BITS = 16384       # smaller ROMs stay in LUTs
BRAM18_BITS = 18432
PSI_INDEX_LUT_PER_BIT = 3
CLOCK_UNCERTAINTY = 0.27    # Vitis HLS default, fraction of the clock period
BRAM_READ_CYCLES = 2
DELAY_DSP_NS = 2.8          # DSP48E2 A*B -> P, unregistered, plus routing
DELAY_DSP_CASCADE_NS = 1.2  # one more product added through the post-adder cascade (PCIN -> P)
DELAY_ADD_NS = 0.45         # LUT + carry chain + routing, plus DELAY_ADD_PER_BIT_NS per bit
DELAY_ADD_PER_BIT_NS = 0.008
DELAY_LUT_NS = 0.5          # one LUT level plus routing (mux, relu, compare)
DELAY_ROM_NS = 1.2          # distributed ROM incl. F7/F8 muxes


@dataclasses.dataclass
class BlockCost:
    """Estimated cost of one block. ops: the chain of operation delays (ns, or 'bram') on its
    critical path; products: (count, a_width, b_width, kind) with kind 'var' or 'const'."""

    node: str
    op: str
    products: list = dataclasses.field(default_factory=list)
    adders: list = dataclasses.field(default_factory=list)      # (count, width)
    lut_other: int = 0
    bram18: int = 0
    out_bits: int = 0
    ops: list = dataclasses.field(default_factory=list)
    notes: dict = dataclasses.field(default_factory=dict)


def dsp_slices(a: int, b: int) -> int:
    """DSP48E2 slices for an a x b bit signed product (0: it goes to fabric)."""
    a, b = max(a, b), min(a, b)
    if b < DSP_MIN_WIDTH:
        return 0
    return min(math.ceil(a / DSP_A) * math.ceil(b / DSP_B), math.ceil(b / DSP_A) * math.ceil(a / DSP_B))


def fabric_mult_luts(a: int, b: int) -> int:
    """LUTs of an a x b bit multiplier built in fabric."""
    return math.ceil(FABRIC_MULT_LUT_PER_BIT2 * a * b)


def csd_digits(v: int) -> int:
    """Non-zero digits of |v| in canonical signed-digit form."""
    v, n = abs(int(v)), 0
    while v:
        if v & 1:
            n += 1
            v -= 2 - (v & 3)   # digit +1 if v = 1 mod 4, else -1
        v >>= 1
    return n


def significant_bits(v: int) -> int:
    """Signed width of |v| with its trailing zero bits dropped (a shift is free)."""
    v = abs(int(v))
    if v == 0:
        return 0
    while not v & 1:
        v >>= 1
    return v.bit_length() + 1


def add_delay(width: int) -> float:
    """ns of one w-bit adder."""
    return DELAY_ADD_NS + DELAY_ADD_PER_BIT_NS * width


def tree_delay(n_terms: int, width: int) -> list:
    """Delays of an adder tree summing n terms (log2 levels)."""
    return [add_delay(width)] * (math.ceil(math.log2(n_terms)) if n_terms > 1 else 0)


def _const_products(cost: BlockCost, x_width: int, consts, rows: int = 1) -> tuple[int, list]:
    """Add to cost the products of a variable (x_width bits) with each constant raw in `consts`,
    repeated for `rows` rows. Returns (DSP products per row, delay chain of the slowest one)."""
    n_dsp, slow = 0, []
    for c in consts:
        if c == 0 or is_pow2(int(c)):
            continue
        k, sb = csd_digits(c), significant_bits(c)
        if k <= CSD_LUT_MAX_DIGITS or x_width < DSP_MIN_WIDTH or sb < DSP_MIN_WIDTH:
            cost.adders.append((rows * (k - 1), x_width + sb))
            chain = tree_delay(k, x_width + sb)
        else:
            cost.products.append((rows, x_width, sb, "const"))
            n_dsp += 1
            chain = [DELAY_DSP_NS]
        if sum(chain) > sum(slow):
            slow = chain
    return n_dsp, slow


def _width(prec, t) -> int:
    return prec.types[t].width


def cost_scalar_products(g, node, prec, post_adder: bool = True) -> BlockCost:
    n, d = per_event(g.shapes[node.inputs[0]])
    w, acc = _width(prec, node.inputs[0]), prec.acc[node.name].width
    used = sum(1 for m in node.attrs["metric"] if m != 0)
    pairs = n * (n + 1) // 2
    c = BlockCost(node.name, node.op)
    c.products.append((pairs * used, w, w, "var"))
    # the D-term signed sum: D-1 adders, one absorbed by each DSP product's post-adder
    n_fabric_adds = max(0, used - 1 - (used if dsp_slices(w, w) and post_adder else 0))
    c.adders.append((pairs * n_fabric_adds, acc))
    if dsp_slices(w, w) and post_adder:   # products chained through the DSP post-adders
        c.ops = [DELAY_DSP_NS] + [DELAY_DSP_CASCADE_NS] * (used - 1)
    else:
        c.ops = [DELAY_LUT_NS * math.ceil(math.log2(w))] + tree_delay(used, acc)
    c.notes = {"multipliers": pairs * used, "dense_multipliers": n * n * d,
               "ratio_vs_dense": pairs * used / (n * n * d), "pairs": pairs}
    return c


def cost_dense(g, node, prec, post_adder: bool = True) -> BlockCost:
    x, w, b = node.inputs
    cin, cout = g.shapes[w]
    rows = size(per_event(g.shapes[x])) // cin
    xw, acc = _width(prec, x), prec.acc[node.name].width
    wq = np.asarray(prec.qconst[w]).reshape(cin, cout)
    bq = np.asarray(prec.qconst[b]).reshape(-1)
    c = BlockCost(node.name, node.op)
    slow, max_terms = [], 0
    for o in range(cout):
        col = [int(v) for v in wq[:, o]]
        n_dsp, chain = _const_products(c, xw, col, rows)
        terms = sum(1 for v in col if v != 0) + (1 if int(bq[o]) != 0 else 0)
        c.adders.append((rows * max(0, terms - 1 - (n_dsp if post_adder else 0)), acc))
        if sum(chain) > sum(slow):
            slow = chain
        max_terms = max(max_terms, terms)
    c.ops = slow + tree_delay(max_terms, acc)
    c.notes = {"nonzero_weights": int(np.count_nonzero(wq)), "weights": int(wq.size)}
    return c


def cost_eltwise(g, node, prec, post_adder: bool = True) -> BlockCost:
    op, n = node.attrs["op"], len(node.attrs["ia"])
    acc = prec.acc[node.name].width
    a, b = node.inputs
    c = BlockCost(node.name, node.op)
    if op in ("add", "sub"):
        c.adders.append((n, acc))
        c.ops = [add_delay(acc)]
    elif op in ("max", "min"):
        c.lut_other += 2 * acc * n
        c.ops = [add_delay(acc), DELAY_LUT_NS]
    elif node.attrs.get("pow2", False):
        c.ops = []
    elif g.is_const(b) or g.is_const(a):
        var, const = (a, b) if g.is_const(b) else (b, a)
        q = np.asarray(prec.qconst[const]).reshape(-1)
        table = np.asarray(node.attrs["ib" if const == b else "ia"])
        _, c.ops = _const_products(c, _width(prec, var), [int(q[i]) for i in table])
    else:
        wa, wb = _width(prec, a), _width(prec, b)
        c.products.append((n, wa, wb, "var"))
        c.ops = [DELAY_DSP_NS] if dsp_slices(wa, wb) else [DELAY_LUT_NS * math.ceil(math.log2(min(wa, wb) + 1))]
    return c


def cost_reduce(g, node, prec, post_adder: bool = True) -> BlockCost:
    k = node.attrs["n_reduce"]
    n_out = len(np.asarray(node.attrs["src"])) // k
    acc = prec.acc[node.name].width
    c = BlockCost(node.name, node.op, adders=[(n_out * (k - 1), acc)])
    c.ops = tree_delay(k, acc)
    return c


def cost_unary(g, node, prec, post_adder: bool = True) -> BlockCost:
    op = node.attrs["op"]
    n = size(per_event(g.shapes[node.inputs[0]]))
    out_t, in_t = prec.types[node.outputs[0]], prec.types[node.inputs[0]]
    c = BlockCost(node.name, node.op)
    if op == "relu":
        c.lut_other = math.ceil(out_t.width / 2) * n
        c.ops = [DELAY_LUT_NS]
    elif op == "neg":
        c.adders.append((n, out_t.width))
        c.ops = [add_delay(out_t.width)]
    else:  # cast: a rounding adder when bits are dropped with a rounding mode, saturation logic
        rnd = in_t.frac > out_t.frac and out_t.rounding not in ("AP_TRN", "AP_TRN_ZERO")
        sat = out_t.overflow != "AP_WRAP" and in_t.integer > out_t.integer
        if rnd:
            c.adders.append((n, out_t.width))
        c.lut_other = (out_t.width if sat else 0) * n
        c.ops = ([add_delay(out_t.width)] if rnd else []) + ([DELAY_LUT_NS] if sat else [])
    return c


def cost_lut(g, node, prec, post_adder: bool = True) -> BlockCost:
    from ..blocks.lut import LUT

    n = size(per_event(g.shapes[node.inputs[0]]))
    entries = len(LUT().table(node, prec.types)["raw"])
    w_in, w_out = _width(prec, node.inputs[0]), _width(prec, node.outputs[0])
    c = BlockCost(node.name, node.op)
    bits = entries * w_out
    if bits >= BRAM_MIN_BITS:
        c.bram18 = math.ceil(n / 2) * math.ceil(bits / BRAM18_BITS)
        c.ops = ["bram"]
    else:
        c.lut_other = math.ceil(entries / 64) * w_out * n
        c.ops = [DELAY_ROM_NS]
    if node.attrs["func"] == "psi":   # |x|, log index, and the output sign
        c.lut_other += PSI_INDEX_LUT_PER_BIT * w_in * n
        c.adders.append((2 * n, w_out))
        c.ops = [add_delay(w_in), 2 * DELAY_LUT_NS] + c.ops + [add_delay(w_out)]
    else:
        c.adders.append((n, w_in))
        c.ops = [add_delay(w_in)] + c.ops
    c.notes = {"table_entries": entries, "table_bits": bits, "elements": n}
    return c


def cost_bilinear(g, node, prec, post_adder: bool = True) -> BlockCost:
    a, b, cst = node.inputs
    da, db, dk = g.shapes[cst]
    rows = size(per_event(g.shapes[a])) // da
    wa, wb, acc = _width(prec, a), _width(prec, b), prec.acc[node.name].width
    plan = sparse_plan(np.asarray(prec.qconst[cst]).astype(object).reshape(da, db, dk))
    c = BlockCost(node.name, node.op)
    c.products.append((rows * len(plan.pairs), wa, wb, "var"))
    _, chain = _const_products(c, wa + wb, [int(m) for _, m in plan.terms], rows)
    per_k = np.bincount([k for _, k, _ in plan.entries], minlength=dk) if plan.entries else np.zeros(dk, int)
    c.adders.append((rows * int(np.maximum(per_k - 1, 0).sum()), acc))
    c.ops = ([DELAY_DSP_NS] if dsp_slices(wa, wb) else [DELAY_LUT_NS * 3]) + chain + tree_delay(int(per_k.max(initial=0)), acc)
    c.notes = {"multipliers": len(plan.pairs) * rows, "dense_multipliers": da * db * dk * rows}
    return c


def cost_route(g, node, prec, post_adder: bool = True) -> BlockCost:
    return BlockCost(node.name, node.op)


COSTS = {"ScalarProducts": cost_scalar_products, "Dense": cost_dense, "Eltwise": cost_eltwise,
         "ReduceSum": cost_reduce, "Unary": cost_unary, "LUT": cost_lut, "Bilinear": cost_bilinear,
         "Route": cost_route, "Concat2": cost_route}


def _resources(c: BlockCost) -> dict:
    dsp = sum(cnt * dsp_slices(a, b) for cnt, a, b, _ in c.products)
    fab = [(cnt, a, b) for cnt, a, b, _ in c.products if not dsp_slices(a, b)]
    lut = (sum(cnt * fabric_mult_luts(a, b) for cnt, a, b in fab) + sum(cnt * w for cnt, w in c.adders)
           + c.lut_other)
    return {"multipliers": sum(cnt for cnt, *_ in c.products),
            "dsp_multipliers": sum(cnt for cnt, a, b, _ in c.products if dsp_slices(a, b)),
            "lut_multipliers": sum(cnt for cnt, *_ in fab), "dsp": dsp, "lut": lut, "bram18": c.bram18}


def _schedule(ops: list, start: tuple, budget: float) -> tuple:
    """ASAP placement of a chain of operation delays from (cycle, ns used in that cycle)."""
    cyc, used = start
    for d in ops:
        if d == "bram":
            cyc, used = cyc + (1 if used > 0 else 0) + BRAM_READ_CYCLES, 0.0
        elif used + d > budget:
            cyc, used = cyc + 1, d
        else:
            used += d
    return cyc, used


def estimate(g, prec, target, clock_ns: float, post_adder: bool = True) -> dict:
    """Estimate a typed graph on `target` (targets.Target) at clock_ns (ns).

    post_adder=False puts every addition in fabric (no DSP48E2 post-adder absorbs one), as
    yosys' synth_xilinx does for UltraScale+; used by the RTL cross-check.

    Returns {"blocks": [per-block dict], "total": {...}, "target": ..., "model": ...}; each block
    has multipliers / dsp_multipliers / lut_multipliers / dsp / lut / ff / bram18, its start and
    end cycle, latency_cycles and notes; total adds latency_cycles (and ns), ii and the fraction
    of the target's capacity of each resource."""
    budget = clock_ns * (1 - CLOCK_UNCERTAINTY)
    ready = {t: (0, 0.0) for t in g.inputs}
    ready.update({t: (0, 0.0) for t in g.consts})
    blocks = []
    for node in g.nodes:
        c = COSTS[node.op](g, node, prec, post_adder)
        out = node.outputs[0]
        start = max(ready[t] for t in node.inputs)
        end = _schedule(c.ops, start, budget)
        ready[out] = end
        out_bits = size(per_event(g.shapes[out])) * prec.types[out].width
        r = _resources(c)
        r["ff"] = out_bits * (end[0] - start[0])
        blocks.append({"node": node.name, "op": node.op, "output": out, **r,
                       "start_cycle": start[0], "end_cycle": end[0], "latency_cycles": end[0] - start[0],
                       "notes": c.notes})
    last = max(ready[o] for o in g.outputs)
    latency = last[0] + 1   # the output register
    total = {k: sum(b[k] for b in blocks) for k in ("multipliers", "dsp_multipliers", "lut_multipliers",
                                                    "dsp", "lut", "ff", "bram18")}
    total.update(latency_cycles=latency, latency_ns=latency * clock_ns, ii=1,
                 fraction={"lut": total["lut"] / target.lut, "ff": total["ff"] / target.ff,
                           "dsp": total["dsp"] / target.dsp, "bram18": total["bram18"] / target.bram18})
    return {"blocks": blocks, "total": total, "clock_ns": clock_ns,
            "target": {"name": target.name, "lut": target.lut, "ff": target.ff, "dsp": target.dsp,
                       "bram18": target.bram18},
            "model": {"dsp_min_width": DSP_MIN_WIDTH, "clock_uncertainty": CLOCK_UNCERTAINTY,
                      "fabric_mult_lut_per_bit2": FABRIC_MULT_LUT_PER_BIT2}}


def format_estimate(est: dict) -> str:
    """Readable per-block table and totals of an estimate."""
    rows = [f"{'block':28} {'op':14} {'mult':>6} {'DSP':>6} {'LUTmul':>6} {'LUT':>9} {'FF':>9} {'BRAM18':>6} "
            f"{'cycles':>6}"]
    for b in est["blocks"]:
        rows.append(f"{b['node'][:28]:28} {b['op']:14} {b['multipliers']:>6} {b['dsp']:>6} {b['lut_multipliers']:>6} "
                    f"{b['lut']:>9,} {b['ff']:>9,} {b['bram18']:>6} {b['latency_cycles']:>6}")
    t = est["total"]
    rows.append(f"{'total':28} {'':14} {t['multipliers']:>6} {t['dsp']:>6} {t['lut_multipliers']:>6} {t['lut']:>9,} "
                f"{t['ff']:>9,} {t['bram18']:>6}")
    f = t["fraction"]
    rows.append(f"  of {est['target']['name']}: DSP {100 * f['dsp']:.2f}%  LUT {100 * f['lut']:.2f}%  "
                f"FF {100 * f['ff']:.2f}%  BRAM18 {100 * f['bram18']:.2f}%")
    rows.append(f"  latency {t['latency_cycles']} cycles = {t['latency_ns']:.1f} ns at {est['clock_ns']} ns, II = {t['ii']}")
    for b in est["blocks"]:
        if "dense_multipliers" in b["notes"]:
            n = b["notes"]
            rows.append(f"  {b['node']}: {n['multipliers']} multipliers vs {n['dense_multipliers']} for the dense "
                        f"form ({n['multipliers'] / n['dense_multipliers']:.3f})")
    return "\n".join(rows)
