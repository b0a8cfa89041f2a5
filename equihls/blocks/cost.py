"""The device model of the resource and latency estimates: named constants and primitive costs.

Each Block's `cost` method describes its products, adders, tables and critical path with these
primitives (a BlockCost); report/estimate.py sums the resources and schedules the paths.
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
the cycle in which the last output is ready, plus one output register.
Sharing (II = K > 1, `--ii`). A new event enters every K cycles, so each multiplier may serve K
products of a block: a block with n products of one kind (widths a, b) keeps ceil(n/K) of them
(hls4ml's ReuseFactor rule), each with a K:1 multiplexer on both operands (SHARE_MUX_LUT_PER_BIT
LUTs per operand bit per 4 inputs beyond the first: ceil((K-1)/3) LUT6 per bit) and registers
holding the products it computes early (a + b FFs per product beyond the first per unit); the
block's latency grows by K - 1 cycles. A table read by e elements keeps ceil(e/K) read ports
(ROM copies; two per BRAM18), each with a K:1 mux on its index. Adders are not shared. This is
what the project asks Vitis HLS for (PIPELINE II=K, ALLOCATION limit on mul); it is not measured
here.
Registers. Each block's outputs are registered at every cycle boundary its values cross
(output bits x cycles it spans); DSP-internal registers are not fabric FFs.
"""
from __future__ import annotations

import dataclasses
import math

from ..ir.fixedpoint import is_pow2

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
    tables: list = dataclasses.field(default_factory=list)     # (elements read, entries, out width, index width)


SHARE_MUX_LUT_PER_BIT = 1     # LUT6 per operand bit per 3 extra inputs of a shared multiplier's mux


def shared_units(count: int, ii: int) -> int:
    """Multipliers left of `count` products of one kind when each may serve `ii` of them."""
    return -(-count // max(1, ii))


def share_mux_luts(a: int, b: int, ii: int) -> int:
    """LUTs of the K:1 operand multiplexers of one shared a x b multiplier (0 at K = 1)."""
    return SHARE_MUX_LUT_PER_BIT * (a + b) * math.ceil((ii - 1) / 3) if ii > 1 else 0


def rom_cost(copies: int, entries: int, width: int) -> tuple[int, int]:
    """(LUT, BRAM18) of `copies` read ports of a table of `entries` x `width` bits: distributed ROM
    below BRAM_MIN_BITS, else block RAM with two ports per BRAM18 copy."""
    bits = entries * width
    if bits >= BRAM_MIN_BITS:
        return 0, math.ceil(copies / 2) * math.ceil(bits / BRAM18_BITS)
    return math.ceil(entries / 64) * width * copies, 0


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


def const_products(cost: BlockCost, x_width: int, consts, rows: int = 1) -> tuple[int, list]:
    """Add to cost the products of a variable (x_width bits) with each constant raw in `consts`,
    repeated for `rows` rows. Returns (DSP products per row, delay chain of the slowest one)."""
    n_dsp, slow = 0, []
    for c in consts:
        if is_pow2(int(c)):   # 0 is skipped, ±2^k is a shift
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


def width_of(prec, t: str) -> int:
    """Bits of tensor t's type in the Precision `prec`."""
    return prec.types[t].width
