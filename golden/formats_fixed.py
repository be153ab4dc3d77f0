"""Binary fixed-point formats (value = k · 2**-F, signed, unsigned or symmetric) and their
names (``qI.F``, ``qI.Fs``, ``uqI.F``, optional ``_wrap``/``_sat``).

Examples
--------
>>> q44 = parse_fixed_name("q4.4")
>>> q44.decode(q44.encode([1.0, 3.3, 1000.0]))
array([1.    , 3.3125, 7.9375])
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import cached_property

import numpy as np

from .formats_base import CLASS_NORMAL, CLASS_ZERO, Format, build_named, check_int
from .kernel import ZERO_EXP, check_overflow

class FixedFormat(Format):
    """A binary fixed-point format: value = k · 2**-F with k an integer of I+F bits.

    Parameters
    ----------
    int_bits : int
        I, integer bits (the sign bit included for signed formats).
    frac_bits : int
        F, fraction bits.
    signed : bool
        Two's complement (True) or unsigned.
    symmetric : bool
        Removes the most negative code, so that negation never overflows.
    overflow : {"SAT", "WRAP"}
        Default overflow policy of operations that produce this format.
    """

    kind = "fixed"

    def __init__(self, int_bits, frac_bits, *, signed=True, symmetric=False, overflow="SAT"):
        I = check_int("int_bits", int_bits, 0)
        F = check_int("frac_bits", frac_bits, 0)
        n = I + F
        if n < 1 or n > 62:
            raise ValueError(f"fixed-point width int_bits+frac_bits must be 1..62, got {n}")
        if signed and I < 1:
            raise ValueError(f"a signed fixed-point format needs int_bits >= 1 (the sign bit), got {I}")
        if symmetric and not signed:
            raise ValueError(f"symmetric=True needs a signed format, got signed={signed!r}")
        overflow = check_overflow(overflow)
        if symmetric and overflow == "WRAP":
            raise ValueError("overflow='WRAP' is not defined for a symmetric format: wrapping can "
                             "produce the excluded most negative code")
        self.int_bits, self.frac_bits = I, F
        self.signed, self.symmetric, self.overflow = bool(signed), bool(symmetric), overflow
        self.bits = n
        self._key = (I, F, self.signed, self.symmetric, overflow)
        if signed:
            self._kmin = -(1 << (n - 1)) + (1 if symmetric else 0)
            self._kmax = (1 << (n - 1)) - 1
        else:
            self._kmin, self._kmax = 0, (1 << n) - 1
        self.nan_code = None
        self.inf_code = None

    def __reduce__(self):  # pickles by name (worker processes, caches)
        return (parse_fixed_name, (str(self),))

    def __str__(self):
        name = f"{'' if self.signed else 'u'}q{self.int_bits}.{self.frac_bits}"
        if self.symmetric:
            name += "s"
        if self.overflow == "WRAP":
            name += "_wrap"
        return name

    # -- the specials policy (see Format) ----------------------------------------------------
    has_nan = False
    has_inf = False

    @property
    def lsb_exp_range(self) -> tuple[int, int]:
        """``(-F, -F)``: the LSB exponent of every code (as :attr:`FloatFormat.lsb_exp_range`)."""
        return -self.frac_bits, -self.frac_bits

    def inf_result_code(self, sign) -> int:
        """Code of an exact infinity: the end of the range (kmin for -inf, kmax for +inf)."""
        return self._code_of(self._kmin if sign else self._kmax)

    def overflow_code(self, sign, rounding="RNE", overflow=None):
        """Code of a result beyond the range under the (effective) overflow mode: SAT gives the
        end of the range on the result's side; WRAP has no single code (None: the low bits of
        the integer are kept)."""
        if self.check_overflow_mode(overflow) == "WRAP":
            return None
        return self._code_of(self._kmin if sign else self._kmax)

    def check_overflow_mode(self, overflow):
        mode = self.overflow if overflow is None else check_overflow(overflow)
        if mode == "WRAP" and self.symmetric:
            raise ValueError(f"WRAP overflow is not defined for the symmetric format {self}")
        return mode

    def _code_of(self, k) -> int:
        return int(k) & ((1 << self.bits) - 1)

    def _valid_mask(self, codes):
        if not self.symmetric:
            return None
        return codes.astype(np.uint64) != np.uint64(1 << (self.bits - 1))

    # -- integers ------------------------------------------------------------------------------
    @property
    def kmin(self) -> int:
        """Smallest integer k of the format (value kmin · 2**-F)."""
        return self._kmin

    @property
    def kmax(self) -> int:
        """Largest integer k of the format."""
        return self._kmax

    def to_int(self, codes) -> np.ndarray:
        """The integer k of each code (value = k · 2**-F), as int64."""
        c = self.check_codes(codes).astype(np.int64)
        if self.signed:
            c = np.where(c >= (1 << (self.bits - 1)), c - (1 << self.bits), c)
        return c

    def from_int(self, k) -> np.ndarray:
        """Codes for integers k; every k must be in range (no rounding, no overflow)."""
        k = np.asarray(k)
        if k.dtype.kind not in "iu":
            raise TypeError(f"from_int expects integers, got an array of {k.dtype}")
        k = k.astype(np.int64)
        if k.size and (k.min() < self._kmin or k.max() > self._kmax):
            bad = k.min() if k.min() < self._kmin else k.max()
            raise ValueError(f"integer {int(bad)} is out of range for {self} "
                             f"(expected {self._kmin} .. {self._kmax})")
        return (k & ((1 << self.bits) - 1)).astype(self.dtype)

    def unpack(self, codes, *, raw=False):
        """``(sign, sig, exp, cls)`` like :meth:`FloatFormat.unpack` (sig = |k|, exp = -F)."""
        k = self.to_int(codes)
        sign = k < 0
        sig = np.abs(k)
        exp = np.full(k.shape, -self.frac_bits, dtype=np.int64)
        cls = np.where(k == 0, CLASS_ZERO, CLASS_NORMAL).astype(np.uint8)
        if not raw:
            exp = np.where(k == 0, ZERO_EXP, exp)
        return sign, sig, exp, cls

    def classify(self, codes):
        return np.where(self.to_int(codes) == 0, CLASS_ZERO, CLASS_NORMAL).astype(np.uint8)

    def sign(self, codes):
        return self.to_int(codes) < 0

    def _decode_arith(self, codes):
        return np.ldexp(self.to_int(codes).astype(np.float64), -self.frac_bits)

    @cached_property
    def _decode_table(self):
        codes = np.arange(1 << self.bits, dtype=np.uint64).astype(self.dtype)
        k = codes.astype(np.int64)
        if self.signed:
            k = np.where(k >= (1 << (self.bits - 1)), k - (1 << self.bits), k)
        return np.ldexp(k.astype(np.float64), -self.frac_bits)

    def _exact_triple(self, v: Fraction, overflow):
        """(sig, exp, sticky) for |v| at 2 guard bits below the LSB; huge values reduced."""
        F = self.frac_bits
        ovf = self.overflow if overflow is None else check_overflow(overflow)
        span = Fraction(1 << self.bits, 1 << F)  # 2**n ulps
        if v >= 2 * span:
            # SAT: anything this large saturates. WRAP: magnitude rounding is invariant under
            # translation by 2**n ulps (an even number of ulps), so reduce modulo it first.
            v = 2 * span if ovf == "SAT" else v - span * (v // span)
        scaled = v * (1 << (F + 2))
        q, r = divmod(scaled.numerator, scaled.denominator)
        return q, -(F + 2), r != 0

    # -- properties ---------------------------------------------------------------------------
    @property
    def max_finite(self) -> float:
        return float(np.ldexp(float(self._kmax), -self.frac_bits))

    @property
    def min_value(self) -> float:
        return float(np.ldexp(float(self._kmin), -self.frac_bits))

    @property
    def min_subnormal(self) -> float:
        """The smallest positive value, 2**-F (fixed point has no subnormals; kept for symmetry)."""
        return float(np.ldexp(1.0, -self.frac_bits))

    min_normal = min_subnormal

    @property
    def max_finite_code(self) -> int:
        return int(self.from_int(self._kmax))

    @property
    def min_subnormal_code(self) -> int:
        return 1

    @property
    def zero_code(self) -> int:
        return 0

    @property
    def one_code(self):
        return (1 << self.frac_bits) if self._kmax >= (1 << self.frac_bits) else None

    def next_up(self, codes):
        return self.from_int(np.minimum(self.to_int(codes) + 1, self._kmax))

    def next_down(self, codes):
        return self.from_int(np.maximum(self.to_int(codes) - 1, self._kmin))

    def ulp(self, codes):
        codes = self.check_codes(codes)
        return np.full(codes.shape, np.ldexp(1.0, -self.frac_bits))


# -- names ---------------------------------------------------------------------------------------
_FIXED_RE = re.compile(r"(u?)q(\d+)\.(\d+)(s?)((?:_[a-z0-9]+)*)")


def parse_fixed_name(name) -> FixedFormat | None:
    """The fixed-point format ``name`` names (``qI.F``, ``qI.Fs`` symmetric, ``uqI.F``, with
    optional ``_wrap`` or ``_sat``); None when ``name`` is no fixed-point name at all."""
    key = name.strip().lower()
    m = _FIXED_RE.fullmatch(key)
    if not m:
        return None
    kw = {"signed": not m.group(1), "symmetric": bool(m.group(4))}
    for tok in filter(None, m.group(5).split("_")):
        if "overflow" in kw:
            raise ValueError(f"format name {name!r} sets the overflow twice")
        if tok == "wrap":
            kw["overflow"] = "WRAP"
        elif tok == "sat":
            kw["overflow"] = "SAT"
        else:
            raise ValueError(f"unknown token {tok!r} in format name {name!r}; expected wrap or sat")
    return build_named(name, FixedFormat, int(m.group(2)), int(m.group(3)), **kw)
