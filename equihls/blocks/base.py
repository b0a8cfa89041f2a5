"""Shared machinery of the IP-block models.

Each equihls op has a Python class (one module per block, next to its header in ip_blocks/)
that knows: the exact interval of its pre-rounding result, its bit-exact numpy twin on raw
integers, an error bound against real arithmetic, the C++ it emits, its resource and latency
cost (with the device model of blocks/cost.py) and the traits optimisation passes ask about.
Defining a subclass with an `op` registers one instance in BLOCKS; `block_for` finds it.

Raw data: a tensor of type <W,I> is held as integers raw = value * 2**F (F = W - I), shaped
[batch, size] (flat per event), dtype int64 when every intermediate fits in 62 bits, else object
(Python ints).
"""
from __future__ import annotations

import numpy as np

from ..ir.fixedpoint import FixedType


def raw_dtype(bits: int):
    """int64 if integers of `bits` bits (incl. sign) cannot overflow int64 arithmetic, else object."""
    return np.int64 if bits <= 62 else object


def align(raw, frac_from: int, frac_to: int):
    """Exact change of scale of raw integers from `frac_from` to `frac_to` >= frac_from."""
    assert frac_to >= frac_from
    return raw << (frac_to - frac_from) if frac_to > frac_from else raw


def as_dtype(raw, bits: int):
    """Cast a raw array to the dtype that holds `bits`-bit intermediates."""
    dt = raw_dtype(bits)
    if dt is object:
        return raw.astype(object)
    return raw.astype(np.int64)


def mag(t: FixedType) -> float:
    """Largest |value| of a type (float, for error bounds)."""
    return max(abs(t.min), abs(t.max))


def round_error(out: FixedType, acc_frac: int) -> float:
    """Worst-case error of rounding an exact value with acc_frac fractional bits to `out`."""
    if out.frac >= acc_frac:
        return 0.0
    # truncation towards -inf or zero loses up to one LSB (minus one acc LSB); the RND modes half an LSB
    step = out.lsb - 2.0 ** (-acc_frac)
    return step if out.rounding in ("AP_TRN", "AP_TRN_ZERO") else out.lsb / 2


def cpp_table(name: str, ctype: str, values) -> str:
    """A static member function returning entry i of a constant table (C++11, no ODR issues)."""
    vals = ", ".join(str(v) for v in values)
    return (f"    static {ctype} {name}(unsigned i) {{\n"
            f"        static const {ctype} t[{len(values)}] = {{{vals}}};\n"
            f"        return t[i];\n    }}\n")


# op name -> the one instance of its Block subclass, in definition order (filled by Block.__init_subclass__)
BLOCKS: dict = {}


def block_for(node):
    """The Block model of an equihls node."""
    return BLOCKS[node.op]


def block_or_none(node):
    """The Block model of a node, or None for a node that is not (yet) an equihls block."""
    return BLOCKS.get(node.op) if node.is_equihls else None


class Block:
    """Interface of an IP-block model. Subclasses set `op`, `header`, `rounds`; a subclass with a
    non-empty `op` registers itself in BLOCKS (one block per op)."""

    op = ""
    header = ""
    accumulates = False   # True: the user may narrow the accumulator (twin_accumulate models it)
    # traits of the optimisation passes
    per_element = False   # out[k] depends on in[k] only (any shape): fold_pairs may move it onto i <= j pairs
    commutes_with_scale = False   # scaling its (only) runtime input by s scales its output by s (fold_scales)
    float_ref_abs = 0.0   # absolute error of ONNX Runtime's float32 kernel for this op (self-check envelope)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("op"):
            return
        if cls.op in BLOCKS:
            raise ValueError(f"block op '{cls.op}' is registered twice ({type(BLOCKS[cls.op]).__name__}, "
                             f"{cls.__name__})")
        BLOCKS[cls.op] = cls()

    def divergence_hint(self, node) -> dict | None:
        """{'cause', 'hint'} when this block's own method explains its output diverging from the
        float model (the self-check names it); None lets the self-check judge types and inputs."""
        return None

    def bind_defaults(self, node, default_type: FixedType) -> None:
        """Fill attributes the block takes from the compile's default type before its interval is
        computed (the precision pass calls it on every node); none by default."""

    def bind_intervals(self, g, node, types: dict, intervals: dict) -> None:
        """Fill attributes that depend on the reachable value intervals of the inputs (the precision
        pass calls it on every node, after bind_defaults and before acc_range). intervals: tensor ->
        (lo_raw, hi_raw, frac), exact bounds of what the twin can produce; none by default."""

    def rounds(self, node) -> bool:
        """True if the output may be rounded to the default fractional bits (else it is exact)."""
        return False

    def weight_inputs(self, g, node) -> list[str]:
        """Names of constant inputs that become weight arrays in the firmware."""
        return [t for t in node.inputs if g.is_const(t)]

    def acc_range(self, g, node, types: dict, qconst: dict) -> tuple[int, int, int]:
        """Exact (lo_raw, hi_raw, frac) of the pre-rounding result over all reachable inputs."""
        raise NotImplementedError

    def twin(self, g, node, raws: dict, types: dict, qconst: dict, acc_frac: int):
        """Bit-exact pre-rounding result: raw ints at acc_frac, shape [batch, out_size]."""
        raise NotImplementedError

    def n_terms(self, g, node) -> int:
        """Terms added into one accumulator (each may round when the accumulator is narrowed)."""
        raise NotImplementedError

    def twin_accumulate(self, g, node, raws: dict, types: dict, acc_t: FixedType):
        """Bit-exact result with a user-narrowed accumulator `acc_t` (which rounds and overflows
        after every term, as C++ `acc += term` does): (raw ints at acc_t.frac [batch, out_size],
        number of accumulator overflows)."""
        raise NotImplementedError

    def error(self, g, node, errs: dict, mags: dict, types: dict, qconst: dict) -> float:
        """Bound on |exact pre-rounding result - real-arithmetic float model|.

        errs: tensor -> bound of its own error; mags: tensor -> bound of |value| (the type's range
        a priori, or the largest value seen on given samples)."""
        raise NotImplementedError

    def error_elem(self, g, node, E: dict, V: dict, types: dict, qconst: dict, consts: dict):
        """Per-event, per-element error propagation (arrays [batch, size]).

        E: tensor -> bound of |fixed - float model| per element; V: tensor -> fixed-point values.
        Returns (propagated error of the exact pre-rounding result, abs-sum of the terms the float
        model adds up, for its own float32 rounding)."""
        raise NotImplementedError

    def cpp_config(self, g, node, ctx) -> str:
        """Body lines of the C++ config struct (without the struct wrapper)."""
        raise NotImplementedError

    def cpp_call(self, g, node, ctx) -> str:
        """The C++ call statement."""
        raise NotImplementedError

    def cost(self, g, node, prec, post_adder: bool = True):
        """Estimated resources and critical path (a blocks.cost.BlockCost) of this node typed by the
        Precision `prec`. post_adder=False: no DSP48E2 post-adder absorbs an addition."""
        raise NotImplementedError


def operand_range(g, t: str, types: dict, qconst: dict) -> tuple[int, int, int]:
    """(lo_raw, hi_raw, frac) of a tensor: a constant's actual values, else its type's range."""
    ty = types[t]
    if g.is_const(t):
        q = qconst[t]
        return int(q.min()), int(q.max()), ty.frac
    return ty.raw_min, ty.raw_max, ty.frac


def per_event(shape) -> tuple:
    """The per-event shape of an IR runtime tensor: the batch axis (size 1) dropped. A tensor that
    merged the batch axis into its first axis (reshape(-1, d): shape (N, d) at batch 1) is all one
    event and keeps its shape."""
    shape = tuple(shape)
    return shape[1:] if shape and shape[0] == 1 else shape


def size(shape) -> int:
    """Number of elements of a shape (per event for an IR runtime tensor: its batch axis is 1)."""
    return int(np.prod(shape, dtype=np.int64))
