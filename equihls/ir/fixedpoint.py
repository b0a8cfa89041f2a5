"""Bit-exact numpy model of Vitis HLS ``ap_fixed`` / ``ap_ufixed`` conversions.

A value of a :class:`FixedType` is stored as its *raw* integer ``r`` (the
two's-complement content of the W-bit register) and means ``r * 2**-frac``.
Raw arrays are ``np.int64`` when every width involved is <= 62 bits (fast,
vectorised path) and ``object`` arrays of Python ints otherwise (exact, slower).

Conversion semantics follow ``ap_fixed_base::operator=`` and
``ap_fixed_base(double)`` of the ``ap_types`` headers shipped with hls4ml:
first the quantisation mode rounds the exact source value to the target LSB,
then the overflow mode maps the rounded integer into W bits.  Because the
source in C++ is an exact fixed-point value, the result only depends on that
value, so it is modelled here mathematically (floor + rounding increment,
then wrap/clamp) rather than by replaying the header's bit tricks; the test
suite checks the equivalence against compiled C++.
"""
from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from ..errors import OptionError

ROUNDING_MODES = ("AP_TRN", "AP_TRN_ZERO", "AP_RND", "AP_RND_ZERO", "AP_RND_MIN_INF", "AP_RND_INF", "AP_RND_CONV")
OVERFLOW_MODES = ("AP_WRAP", "AP_SAT", "AP_SAT_ZERO", "AP_SAT_SYM")
# rounding modes with round(-x) == -round(x): they commute with sign flips (AP_RND rounds ties up,
# AP_TRN and AP_RND_MIN_INF towards -inf, so -x and x round apart by an LSB)
ODD_ROUNDING = ("AP_TRN_ZERO", "AP_RND_ZERO", "AP_RND_INF", "AP_RND_CONV")

# Significant bits of each constant tensor's largest value (quantize_const's default).
DEFAULT_WEIGHT_BITS = 12

# Widths up to 62 bits leave headroom in int64 for the rounding increment and
# for callers adding two values before re-quantising.
INT64_MAX_WIDTH = 62

_TYPE_RE = re.compile(r"^\s*(ap_fixed|ap_ufixed|ap_int|ap_uint)\s*<(.*)>\s*$", re.S)
_INT_RE = re.compile(r"^[+-]?\d+$")


@dataclass(frozen=True)
class FixedType:
    """An ``ap_fixed<W,I,Q,O>`` (``signed=True``) or ``ap_ufixed<W,I,Q,O>`` type.

    ``width`` W >= 1 is the total number of bits, ``integer`` I the number of
    integer bits (including the sign bit when signed; may be <= 0 or > W), so
    the type has ``frac = W - I`` fractional bits and resolution ``2**-frac``.
    """

    width: int
    integer: int
    signed: bool = True
    rounding: str = "AP_TRN"
    overflow: str = "AP_WRAP"

    def __post_init__(self):
        for name in ("width", "integer"):
            try:
                object.__setattr__(self, name, operator.index(getattr(self, name)))
            except TypeError:
                raise TypeError(f"FixedType.{name} must be an integer, got {getattr(self, name)!r}") from None
        object.__setattr__(self, "signed", bool(self.signed))
        if self.width < 1:
            raise ValueError(f"FixedType width must be >= 1, got {self.width}")
        if self.rounding not in ROUNDING_MODES:
            raise ValueError(f"unsupported rounding mode {self.rounding!r}; expected one of {ROUNDING_MODES}")
        if self.overflow not in OVERFLOW_MODES:
            raise ValueError(f"unsupported overflow mode {self.overflow!r}; expected one of {OVERFLOW_MODES}")

    # ---- derived quantities -------------------------------------------------
    @property
    def frac(self) -> int:
        """Number of fractional bits, W - I (may be negative)."""
        return self.width - self.integer

    @property
    def lsb(self) -> float:
        """Value of one raw unit, 2**-frac, as float."""
        return math.ldexp(1.0, -self.frac)

    @property
    def raw_min(self) -> int:
        """Smallest stored integer (Python int): -2**(W-1) signed, 0 unsigned."""
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def raw_max(self) -> int:
        """Largest stored integer (Python int): 2**(W-1)-1 signed, 2**W-1 unsigned."""
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def min(self) -> float:
        """Smallest representable value, raw_min * lsb, as float."""
        return _ldexp_int(self.raw_min, -self.frac)

    @property
    def max(self) -> float:
        """Largest representable value, raw_max * lsb, as float."""
        return _ldexp_int(self.raw_max, -self.frac)

    # ---- spelling -----------------------------------------------------------
    @classmethod
    def parse(cls, s: str) -> "FixedType":
        """Parse a C++ type spelling into a FixedType.

        Accepts ``ap_fixed<W,I>``, ``ap_fixed<W,I,Q>``, ``ap_fixed<W,I,Q,O>``,
        ``ap_fixed<W,I,Q,O,0>`` (saturation-bit count must be 0), the same for
        ``ap_ufixed``, and ``ap_int<W>`` / ``ap_uint<W>``.  Whitespace anywhere
        between tokens is ignored.

        ``ap_int<W>`` maps to ``ap_fixed<W,W,AP_TRN_ZERO,AP_WRAP>``: assigning an
        ap_fixed to an ap_int truncates toward zero (``to_ap_int_base``) and
        wraps.  Two ap_types bugs are not modelled: double -> ap_int gives +1
        for -0.5 < x < 0, and a source ap_fixed with I <= 0 converts negative
        values to -1 instead of 0.
        Raises ValueError quoting ``s`` on any malformed or unsupported spelling.
        """
        if not isinstance(s, str):
            raise TypeError(f"FixedType.parse expects a str, got {type(s).__name__}")
        m = _TYPE_RE.match(s)
        if not m:
            raise ValueError(f"cannot parse fixed-point type {s!r}: expected ap_fixed<...>, ap_ufixed<...>, "
                             f"ap_int<W> or ap_uint<W>")
        kind, body = m.group(1), m.group(2)
        args = [a.strip() for a in body.split(",")]
        if any(a == "" for a in args):
            raise ValueError(f"cannot parse fixed-point type {s!r}: empty template argument")

        def _int(a, what):
            if not _INT_RE.match(a):
                raise ValueError(f"cannot parse fixed-point type {s!r}: {what} must be an integer, got {a!r}")
            return int(a)

        if kind in ("ap_int", "ap_uint"):
            if len(args) != 1:
                raise ValueError(f"cannot parse fixed-point type {s!r}: {kind} takes exactly 1 argument, got "
                                 f"{len(args)}")
            w = _int(args[0], "width")
            if w < 1:
                raise ValueError(f"cannot parse fixed-point type {s!r}: width must be >= 1")
            return cls(w, w, kind == "ap_int", "AP_TRN_ZERO", "AP_WRAP")

        if not 2 <= len(args) <= 5:
            raise ValueError(f"cannot parse fixed-point type {s!r}: {kind} takes 2 to 5 arguments, got {len(args)}")
        w = _int(args[0], "width")
        i = _int(args[1], "integer bits")
        if w < 1:
            raise ValueError(f"cannot parse fixed-point type {s!r}: width must be >= 1")
        q = args[2] if len(args) > 2 else "AP_TRN"
        o = args[3] if len(args) > 3 else "AP_WRAP"
        if q not in ROUNDING_MODES:
            raise ValueError(f"cannot parse fixed-point type {s!r}: unknown rounding mode {q!r} (supported: "
                             f"{', '.join(ROUNDING_MODES)})")
        if o == "AP_WRAP_SM":
            raise ValueError(f"cannot parse fixed-point type {s!r}: overflow mode AP_WRAP_SM is not supported")
        if o not in OVERFLOW_MODES:
            raise ValueError(f"cannot parse fixed-point type {s!r}: unknown overflow mode {o!r} (supported: "
                             f"{', '.join(OVERFLOW_MODES)})")
        if len(args) == 5 and _int(args[4], "saturation bits") != 0:
            raise ValueError(f"cannot parse fixed-point type {s!r}: saturation-bits argument must be 0, got {args[4]}")
        return cls(w, i, kind == "ap_fixed", q, o)

    def cpp(self) -> str:
        """Canonical C++ spelling: ``ap_fixed<W,I>`` for default modes, else ``ap_fixed<W,I,Q,O>``."""
        name = "ap_fixed" if self.signed else "ap_ufixed"
        if self.rounding == "AP_TRN" and self.overflow == "AP_WRAP":
            return f"{name}<{self.width},{self.integer}>"
        return f"{name}<{self.width},{self.integer},{self.rounding},{self.overflow}>"

    def __str__(self) -> str:
        return self.cpp()

    def with_modes(self, rounding: str | None = None, overflow: str | None = None) -> "FixedType":
        """Same W, I and signedness with the given rounding and/or overflow mode replaced."""
        return replace(self, rounding=self.rounding if rounding is None else rounding,
                       overflow=self.overflow if overflow is None else overflow)

    # ---- conversions --------------------------------------------------------
    def quantize_raw(self, raw, frac_in: int) -> tuple[np.ndarray, int]:
        """Convert exact fixed-point values to this type, as C++ assignment does.

        ``raw``: integer array of any shape (int64, other numpy ints, or object
        dtype holding Python ints) meaning ``raw * 2**-frac_in``; ``frac_in`` is a
        Python int (may be negative).  Returns ``(raw_out, n_overflow)`` where
        ``raw_out`` has the shape of ``raw``, dtype ``raw_dtype(self)``, holds the
        stored integer with ``self.frac`` fractional bits, and ``n_overflow`` is
        the number of elements whose *rounded* value fell outside the range the
        overflow mode keeps (``[raw_min, raw_max]``; ``[-raw_max, raw_max]`` for
        signed AP_SAT_SYM with W >= 2), i.e. were wrapped or saturated.
        """
        frac_in = operator.index(frac_in)
        out, ovf = self._convert(_as_raw_array(raw), np.int64(frac_in - self.frac))
        return out, int(np.count_nonzero(ovf))

    def from_float(self, x) -> tuple[np.ndarray, int]:
        """Convert float64 values like C++ ``ap_fixed<...> v = (double)x;``.

        ``x``: float array of any shape (converted to float64).  Returns
        ``(raw_out, n_overflow)`` as :meth:`quantize_raw`.  NaN or +-inf raise
        ValueError naming the index of the first such element.  (ap_types
        mis-decodes subnormal doubles; that only matters when frac > 1021 and is
        not modelled.)
        """
        mant, k = self._decompose(np.asarray(x, dtype=np.float64))
        out, ovf = self._convert(mant, k)
        return out, int(np.count_nonzero(ovf))

    def quantize(self, x) -> np.ndarray:
        """Float64 values (any shape) as this type stores them: from_float then to_float, i.e.
        the value a C++ input port of this type sees (rounding and overflow modes applied)."""
        x = np.asarray(x, dtype=np.float64)
        return self.to_float(self.from_float(x)[0]).reshape(x.shape)

    def to_float(self, raw) -> np.ndarray:
        """Raw integers (any shape, int64 or object) -> float64 values raw * 2**-frac.

        Exact when |raw| < 2**53 (and the result is a normal double); otherwise
        correctly rounded for object input.
        """
        raw = _as_raw_array(raw)
        if raw.dtype != object:
            return np.ldexp(raw.astype(np.float64), -self.frac)
        f = self.frac
        # Python int true division is correctly rounded, unlike float(raw) * lsb.
        conv = (lambda v: v / (1 << f)) if f >= 0 else (lambda v: float(v << -f))
        out = np.empty(raw.shape, dtype=np.float64)
        flat = out.reshape(-1)
        for j, v in enumerate(raw.reshape(-1)):
            flat[j] = conv(int(v))
        return out

    def contains(self, x) -> np.ndarray:
        """Bool array (shape of ``x``): float value exactly representable in this type.

        NaN/inf give False.
        """
        x = np.asarray(x, dtype=np.float64)
        finite = np.isfinite(x)
        mant, k = self._decompose(np.where(finite, x, 0.0))
        # exact iff no set bits are shifted out (|mant| < 2**53, so k > 53 only leaves 0)
        kc = np.clip(k, 0, 62)
        exact = (k <= 0) | (mant == 0) | ((k <= 62) & ((mant & ((np.int64(1) << kc) - 1)) == 0))
        _, ovf = self.with_modes("AP_TRN", "AP_SAT")._convert(mant, k)
        return finite & exact & ~ovf

    # ---- core ---------------------------------------------------------------
    def _bounds(self) -> tuple[int, int]:
        """(lo, hi) raw bounds kept by the overflow mode."""
        lo, hi = self.raw_min, self.raw_max
        # AP_SAT_SYM: a negative source landing on -2**(W-1) is treated as
        # underflow and set to 0b10..01 = -raw_max.  With W == 1 that pattern
        # is the single bit 1, i.e. still -1, so the range stays [-1, 0].
        if self.overflow == "AP_SAT_SYM" and self.signed and self.width >= 2:
            lo = -hi
        return lo, hi

    def _increment(self, t, qb, r, neg):
        """Rounding increment (bool array) from floor ``t``, first dropped bit ``qb``,
        OR of the remaining dropped bits ``r`` and source sign ``neg``
        (ap_fixed_base::quantization_adjust)."""
        q = self.rounding
        if q == "AP_TRN":
            return np.zeros_like(qb)
        if q == "AP_TRN_ZERO":  # truncate toward zero: bump negatives with any dropped bits
            return neg & (qb | r)
        if q == "AP_RND":  # ties toward +inf
            return qb
        if q == "AP_RND_ZERO":  # ties toward zero
            return qb & (neg | r)
        if q == "AP_RND_MIN_INF":  # ties toward -inf
            return qb & r
        if q == "AP_RND_INF":  # ties away from zero
            return qb & (~neg | r)
        # AP_RND_CONV: ties to even
        return qb & (((t & 1) != 0) | r)

    def _convert(self, raw: np.ndarray, k) -> tuple[np.ndarray, np.ndarray]:
        """Quantise values ``raw * 2**-k`` (k: target-lsb shift, scalar or array
        broadcastable to raw) to this type; returns (raw_out, per-element overflow mask)."""
        big = self.width > INT64_MAX_WIDTH
        if raw.dtype == object or big:
            y, above, below = self._round_obj(raw.astype(object), np.asarray(k, dtype=np.int64))
        else:
            y, above, below = self._round_i64(raw, np.asarray(k, dtype=np.int64))
        lo, hi = self._bounds()
        o = self.overflow
        if o == "AP_WRAP":
            out = y
        elif o == "AP_SAT_ZERO":
            out = np.where(above | below, 0, y)
        else:  # AP_SAT, AP_SAT_SYM
            out = np.where(above, hi, np.where(below, lo, y))
        return np.asarray(out, dtype=object if big else np.int64), above | below

    def _decompose(self, x: np.ndarray):
        """Finite float64 x -> int64 arrays (mant, k) with x == mant * 2**-k * lsb
        exactly and |mant| < 2**53; non-finite -> ValueError naming the first index."""
        bad = ~np.isfinite(x)
        if bad.any():
            idx = tuple(int(i) for i in np.unravel_index(int(np.flatnonzero(bad)[0]), x.shape))
            where = idx[0] if len(idx) == 1 else idx
            raise ValueError(f"from_float: non-finite value {float(x[idx])} at index {where} cannot be converted to "
                             f"{self.cpp()}")
        m, e = np.frexp(x)  # x == m * 2**e, 0.5 <= |m| < 1
        mant = np.ldexp(m, 53).astype(np.int64)  # exact 53-bit integer mantissa
        k = (53 - self.frac) - e.astype(np.int64)
        return mant, k

    def _wrap_consts(self):
        mask = (1 << self.width) - 1
        half = (1 << (self.width - 1)) if self.signed else 0
        return mask, half

    def _round_obj(self, raw, k):
        """Object path: returns (y wrapped to W bits, above, below) with Python ints."""
        lo, hi = self._bounds()
        mask, half = self._wrap_consts()
        right = k > 0
        # Python-int shift counts: any np.int64 operand would silently overflow.
        kr = np.asarray(np.maximum(k, 1)).astype(object)
        kl = np.asarray(np.maximum(-k, 0)).astype(object)
        t = raw >> kr  # floor
        rem = raw - (t << kr)  # dropped bits, in [0, 2**kr)
        hb = np.array(1, dtype=object) << (kr - 1)  # weight of the first dropped bit
        qb = np.asarray(rem >= hb, dtype=bool)
        r = np.asarray((rem != 0) & (rem != hb), dtype=bool)
        neg = np.asarray(raw < 0, dtype=bool)
        inc = self._increment(t, qb, r, neg).astype(np.int64).astype(object)
        y = np.where(right, t + inc, raw << kl)
        y = np.asarray(y, dtype=object)
        above = np.asarray(y > hi, dtype=bool)
        below = np.asarray(y < lo, dtype=bool)
        return ((y + half) & mask) - half, above, below

    def _round_i64(self, raw, k):
        """int64 path (W <= 62): same as _round_obj without leaving int64/uint64.

        Right shifts are clamped at 63 (|raw| <= 2**63 so floor, first dropped
        bit and sticky bits are unchanged); left shifts that would overflow are
        range-checked before shifting and wrapped modulo 2**64 >= 2**W.
        """
        lo, hi = self._bounds()
        mask, half = self._wrap_consts()
        raw = np.asarray(raw, dtype=np.int64)
        ru = raw.astype(np.uint64)  # two's-complement bits (modular cast)
        kr = np.maximum(k, 1)
        t = raw >> np.minimum(kr, 63)
        qb = ((raw >> np.minimum(kr - 1, 63)) & 1).astype(bool)
        k1 = kr - 1  # bits strictly below the first dropped bit
        rmask = np.where(k1 >= 64, np.uint64(2**64 - 1),
                         (np.uint64(1) << np.minimum(k1, 63).astype(np.uint64)) - np.uint64(1))
        r = (ru & rmask) != 0
        yr = t + self._increment(t, qb, r, raw < 0)
        above_r, below_r = yr > hi, yr < lo
        yr = ((yr + half) & mask) - half

        s = np.maximum(-k, 0)
        sc = np.minimum(s, 63)
        above_l = raw > (np.int64(hi) >> sc)  # raw * 2**s > hi  <=>  raw > floor(hi / 2**s)
        below_l = raw < -(np.int64(-lo) >> sc)  # raw * 2**s < lo  <=>  raw < ceil(lo / 2**s)
        ul = np.where(s >= 64, np.uint64(0), ru << sc.astype(np.uint64))
        yl = ((ul + np.uint64(half)) & np.uint64(mask)).astype(np.int64) - np.int64(half)

        right = k > 0
        return np.where(right, yr, yl), np.where(right, above_r, above_l), np.where(right, below_r, below_l)


def parse_user_type(s: str, option: str, max_width: int, allow_negative_frac: bool = False) -> FixedType:
    """Parse a type the user wrote on the command line (``--input-type``, ``--type T=...``) and
    check it lies in the domain equihls compiles: 1 <= W <= max_width (the widest type the
    precision pass, twin and C-sim are built for) and, unless allow_negative_frac, no more
    integer than total bits (I <= W: an LSB above 1 silently drops every value's low bits).
    ``FixedType.parse`` stays general: manifests legitimately store types such as
    ``ap_fixed<1,-9>`` (I < 0 is fine here too). Raises OptionError naming `option` and `s`."""
    try:
        t = FixedType.parse(s)
    except (ValueError, TypeError) as e:
        raise OptionError(f"{option}: {e}") from None
    if t.width > max_width:
        raise OptionError(f"{option}: {s!r} is {t.width} bits wide; equihls supports at most {max_width} bits")
    if t.frac < 0 and not allow_negative_frac:
        raise OptionError(f"{option}: {s!r} has {t.integer} integer bits but only {t.width} in total "
                          f"({t.frac} fractional bits: an LSB of 2^{-t.frac}); use I <= W")
    return t


def _ldexp_int(v: int, e: int) -> float:
    """Python int v times 2**e as a correctly rounded float."""
    return v / (1 << -e) if e < 0 else float(v << e)


def _as_raw_array(raw) -> np.ndarray:
    """Coerce raw integers to an int64 ndarray, or object ndarray of Python ints when they do not fit."""
    a = np.asarray(raw)
    if a.dtype == object:
        return np.asarray(np.frompyfunc(operator.index, 1, 1)(a), dtype=object) if a.size else a
    if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"raw values must be integers, got dtype {a.dtype} (use from_float for floats)")
    if a.dtype == np.uint64 and a.size and a.max() > np.iinfo(np.int64).max:
        return a.astype(object)
    return a.astype(np.int64, copy=False)


def exact_type(lo_raw: int, hi_raw: int, frac: int, signed: bool = True) -> FixedType:
    """Narrowest FixedType with ``frac`` fractional bits holding every raw value in
    ``[lo_raw, hi_raw]`` (Python ints, units of 2**-frac) without overflow.

    Signed types are returned whenever ``signed`` is True (even for lo_raw >= 0);
    width is at least 1.  ``signed=False`` with ``lo_raw < 0`` raises ValueError.
    Modes are the defaults (AP_TRN, AP_WRAP).
    """
    lo_raw, hi_raw, frac = operator.index(lo_raw), operator.index(hi_raw), operator.index(frac)
    if lo_raw > hi_raw:
        raise ValueError(f"exact_type: empty range [{lo_raw}, {hi_raw}]")
    if signed:
        # bits of the two's-complement form of v: bit_length of v (or ~v for v < 0) plus a sign bit
        w = max((v if v >= 0 else ~v).bit_length() + 1 for v in (lo_raw, hi_raw))
    else:
        if lo_raw < 0:
            raise ValueError(f"exact_type: unsigned type cannot hold negative raw value {lo_raw}")
        w = max(1, hi_raw.bit_length())
    return FixedType(w, w - frac, signed)


def raw_dtype(*types: FixedType):
    """numpy dtype for raw arrays of the given types: ``np.dtype(np.int64)`` when every
    width is <= 62 bits (callers may then add two such values without overflow),
    else ``np.dtype(object)`` (Python ints)."""
    if all(t.width <= INT64_MAX_WIDTH for t in types):
        return np.dtype(np.int64)
    return np.dtype(object)


def is_pow2(v) -> bool:
    """True if every entry of v (a number or an array) is 0 or ±2^k for an integer k of either
    sign, i.e. multiplying by v is an exact shift. Exact for floats and for Python ints of any size."""
    a = np.asarray(v)
    if a.dtype.kind == "f":
        nz = np.abs(a.reshape(-1).astype(np.float64))
        return bool(np.all(np.frexp(nz[nz != 0])[0] == 0.5))   # inf/nan: mantissa not 0.5
    for x in a.reshape(-1).tolist():                           # ints, objects: exact rationals
        f = abs(Fraction(x))
        if f and (f.numerator & (f.numerator - 1) or f.denominator & (f.denominator - 1)):
            return False
    return True


def const_frac_cap(c: np.ndarray, weight_bits: int) -> int:
    """Fractional bits that give the largest |c| `weight_bits` significant bits (a per-tensor
    binary point, like a floating-point mantissa): max|c| * 2^f < 2^weight_bits. Never
    negative (integers stay integers); 0 for an all-zero tensor."""
    nz = np.abs(np.asarray(c, dtype=np.float64).reshape(-1))
    nz = nz[nz != 0]
    if not nz.size:
        return 0
    return max(0, weight_bits - int(np.frexp(nz.max())[1]))


def quantize_const(c: np.ndarray, weight_bits: int = DEFAULT_WEIGHT_BITS,
                   weight_frac: int | None = None) -> tuple[FixedType, np.ndarray, float]:
    """(type, raw ints flat, max quantisation error) of a constant array.

    The binary point comes from the tensor's magnitude (const_frac_cap: `weight_bits`
    significant bits for its largest entry) unless `weight_frac` fixes the fractional bits
    explicitly. Values exactly representable with fewer fractional bits use the fewest that
    represent them; tensors of powers of two are exact whatever the cap."""
    c = np.asarray(c, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(c)):
        raise ValueError("constant contains NaN or Inf")
    cap = const_frac_cap(c, weight_bits) if weight_frac is None else weight_frac
    nz = np.abs(c[c != 0])
    mant, expo = np.frexp(nz)
    # powers of two (scales such as 2^-10) stay exact whatever the cap is: rounding one to
    # 0 would silently cut a feature
    pow2_frac = int(max(0, (1 - expo).max())) if nz.size and np.all(mant == 0.5) else None
    for f in range(0, max(cap, pow2_frac or 0) + 1):
        s = c * 2.0 ** f
        if np.all(s == np.round(s)) and np.all(np.abs(s) < 2**53):
            raw = np.array([int(v) for v in s], dtype=object)
            break
    else:
        f = cap
        raw = np.array([int(np.round(v)) for v in c * 2.0 ** f], dtype=object)
    lo, hi = (int(raw.min()), int(raw.max())) if raw.size else (0, 0)
    t = exact_type(min(lo, 0), max(hi, 0), f)
    err = float(np.max(np.abs(c - raw.astype(np.float64) * 2.0 ** -f))) if raw.size else 0.0
    raw = raw.astype(np.int64) if t.width <= 62 else raw
    return t, raw, err
