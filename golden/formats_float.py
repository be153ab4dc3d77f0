"""Binary floating-point formats: IEEE-style, with the OCP fn/fnuz/finite variants, and their
names (the presets and the ``eXmY`` grammar).

Examples
--------
>>> e4m3fn = parse_float_name("e4m3fn")
>>> e4m3fn.decode(e4m3fn.encode([1.0, 3.3, 400.0]))
array([  1.  ,   3.25, 448.  ])
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import cached_property
from numbers import Integral

import numpy as np

from .formats_base import (CLASS_INF, CLASS_NAN, CLASS_NORMAL, CLASS_SUBNORMAL, CLASS_ZERO,
                           TABLE_BITS, Format, build_named, check_int)
from .kernel import ZERO_EXP, bit_length, check_overflow, check_rounding, rounds_to_inf

SPECIALS = ("ieee", "fn", "fnuz", "finite")

#: Widest exponent field a FloatFormat may have. With it and :data:`MAX_BIAS`, every exponent
#: of a format's values (``emin - M`` .. ``emax``) fits in 32-bit integers and stays far above
#: :data:`ulpflow.golden.kernel.ZERO_EXP`, so golden (and hdl, whose widths derive from the
#: same format) computes exactly; wider fields are refused when the format is built.
MAX_EXP_BITS = 30
#: Largest magnitude of a FloatFormat's exponent bias (see :data:`MAX_EXP_BITS`).
MAX_BIAS = 1 << 30
#: Widest fraction field a FloatFormat may have: the rounding kernel works on int64 significands
#: of at most 61 bits, which hold p = M + 1 bits plus three guard bits and a carry.
MAX_MAN_BITS = 57


class FloatFormat(Format):
    """A binary floating-point format: sign | exponent (E bits) | fraction (M bits).

    Parameters
    ----------
    exp_bits : int
        E, the width of the exponent field (>= 1).
    man_bits : int
        M, the number of stored fraction bits (fp32: 23).
    bias : int, optional
        Exponent bias; default ``2**(E-1) - 1``, or ``2**(E-1)`` for ``specials="fnuz"``.
    subnormals : bool
        False means flush-to-zero on inputs and outputs: subnormal codes read as signed zero and a
        result that rounds to a non-zero subnormal becomes signed zero.
    specials : {"ieee", "fn", "fnuz", "finite"}
        ``ieee``: all-ones exponent holds ±inf and NaN. ``fn``: no inf, only the all-ones codes
        are NaN (OCP E4M3FN). ``fnuz``: no inf, no -0, the code 100…0 is the only NaN.
        ``finite``: every code is a finite number.
    saturate : bool
        Overflow that IEEE rounds to ±inf gives ±max instead (always so for ``finite``).

    Members
    -------
    bits, emin, emax, max_finite, min_normal, min_subnormal, nan_code, inf_code ...
    """

    kind = "float"

    def __init__(self, exp_bits, man_bits, *, bias=None, subnormals=True, specials="ieee",
                 saturate=False):
        E = check_int("exp_bits", exp_bits, 1)
        M = check_int("man_bits", man_bits, 0)
        if E > MAX_EXP_BITS:
            raise ValueError(f"exp_bits must be at most {MAX_EXP_BITS}, got {E} (wider exponent "
                             "fields are not supported)")
        if M > MAX_MAN_BITS:
            raise ValueError(f"man_bits must be at most {MAX_MAN_BITS}, got {M} (the rounding "
                             "kernel keeps significands, with guard bits, in 61 bits)")
        if specials not in SPECIALS:
            raise ValueError(f"unknown specials style {specials!r}; expected one of {', '.join(SPECIALS)}")
        if 1 + E + M > 64:
            raise ValueError(f"float format e{E}m{M} has {1 + E + M} bits; at most 64 are supported")
        if specials == "ieee" and E < 2:
            raise ValueError(f"an ieee-style format needs exp_bits >= 2, got {E}")
        default_bias = (1 << (E - 1)) - (0 if specials == "fnuz" else 1)
        if bias is None:
            bias = default_bias
        if isinstance(bias, bool) or not isinstance(bias, Integral):
            raise TypeError(f"bias must be an integer, not {bias!r}")
        if not -MAX_BIAS <= bias <= MAX_BIAS:
            raise ValueError(f"bias must be in -2**30 .. 2**30, got {bias!r}")
        self.exp_bits, self.man_bits, self.bias = E, M, int(bias)
        self.subnormals, self.specials, self.saturate = bool(subnormals), specials, bool(saturate)
        self.bits = 1 + E + M
        self._default_bias = default_bias
        self._key = (E, M, self.bias, self.subnormals, specials, self.saturate)
        top = (1 << (E + M)) - 1  # all-ones magnitude code
        if specials == "ieee":
            self._max_mag = top - (1 << M)   # field all-ones minus one, fraction all ones
            self._inf_mag = top - ((1 << M) - 1)
            self.nan_code = ((1 << E) - 1) << M | (1 << (M - 1) if M else 0)
            if M == 0:
                raise ValueError("an ieee-style format needs man_bits >= 1 to have a NaN")
        elif specials == "fn":
            self._max_mag, self._inf_mag = top - 1, None
            self.nan_code = top
        elif specials == "fnuz":
            self._max_mag, self._inf_mag = top, None
            self.nan_code = 1 << (E + M)
        else:
            self._max_mag, self._inf_mag = top, None
            self.nan_code = None
        #: exponent of the smallest normal binade
        self.emin = 1 - self.bias
        #: exponent of the largest finite binade
        self.emax = (self._max_mag >> M) - self.bias

    # -- names ------------------------------------------------------------------------------
    def __reduce__(self):  # pickles by name (worker processes, caches)
        return (parse_float_name, (str(self),))

    def __str__(self):
        for name, fmt in FLOAT_PRESETS.items():
            if fmt._key == self._key:
                return name
        name = f"e{self.exp_bits}m{self.man_bits}"
        if self.specials != "ieee":
            name += f"_{self.specials}"
        if self.bias != self._default_bias:
            name += f"_b{self.bias}"
        if not self.subnormals:
            name += "_ftz"
        if self.saturate:
            name += "_sat"
        return name

    # -- properties ----------------------------------------------------------------------------
    @property
    def p(self) -> int:
        """Precision in bits, hidden bit included."""
        return self.man_bits + 1

    @property
    def inf_code(self):
        """Code of +inf, or None."""
        return self._inf_mag

    @property
    def has_nan(self) -> bool:
        """The format has a NaN code (every style but ``finite``)."""
        return self.nan_code is not None

    @property
    def has_inf(self) -> bool:
        """The format has ±inf (``ieee`` style only)."""
        return self._inf_mag is not None

    @property
    def lsb_exp_range(self) -> tuple[int, int]:
        """``(lo, hi)``: range of the LSB exponent ``exp`` of ``unpack(codes, raw=True)`` over
        the finite codes (the subnormal binade shares the first normal binade's grid)."""
        M = self.man_bits
        return self.emin - M, max(self._max_mag >> M, 1) - self.bias - M

    def signed_code(self, sign, mag) -> int:
        """The code of magnitude code ``mag`` with sign bit ``sign``."""
        return (int(bool(sign)) << (self.bits - 1)) | int(mag)

    def inf_result_code(self, sign) -> int:
        """Code of an exact infinity of sign ``sign`` (an infinite operand, not an overflow):
        ±inf in ``ieee`` formats (even saturating ones: saturation only changes overflow), NaN
        in ``fn``/``fnuz`` formats, ±max where those saturate and in ``finite`` formats."""
        if self.has_inf:
            return self.signed_code(sign, self._inf_mag)
        if self.specials in ("fn", "fnuz") and not self.saturate:
            return self.nan_code
        return self.signed_code(sign, self._max_mag)

    def overflow_code(self, sign, rounding="RNE") -> int:
        """Code of a finite result of sign ``sign`` whose rounded magnitude is above the largest
        finite value. IEEE 754 decides between ∞ and max by the rounding mode (RNE/RNA: ∞,
        RTZ: max, RUP: +∞/−max, RDN: +max/−∞); where it says ∞ the format gives ±inf
        (``ieee``), NaN (``fn``/``fnuz``) or ±max (``saturate=True`` and ``finite``)."""
        if not rounds_to_inf(check_rounding(rounding), bool(sign)):
            return self.signed_code(sign, self._max_mag)
        if self.specials == "finite" or self.saturate:
            return self.signed_code(sign, self._max_mag)
        if self.has_inf:
            return self.signed_code(sign, self._inf_mag)
        return self.nan_code

    def check_overflow_mode(self, overflow):
        if overflow is not None:
            overflow = check_overflow(overflow)
            raise ValueError(f"overflow={overflow!r} applies to fixed-point results, not to {self}")
        return None

    def special_flags(self, code, field, frac):
        """``(nan, inf)``: which codes are NaN / ±inf, from the code and its exponent field and
        fraction. Built from ``==``, ``!=``, ``&`` and ``|`` only, so the same rule serves NumPy
        arrays (golden unpacking) and Amaranth values (hdl unpacking); a flag that can never be
        set is the Python ``False``."""
        E, M = self.exp_bits, self.man_bits
        if self.specials == "ieee":
            top = field == (1 << E) - 1
            return top & (frac != 0), top & (frac == 0)
        if self.specials == "fn":
            return (field == (1 << E) - 1) & (frac == (1 << M) - 1), False
        if self.specials == "fnuz":
            return code == (1 << (E + M)), False
        return False, False

    @property
    def max_finite_code(self) -> int:
        return self._max_mag

    @property
    def min_subnormal_code(self) -> int:
        return 1 if (self.subnormals and self.man_bits) else self.min_normal_code

    @property
    def min_normal_code(self) -> int:
        return 1 << self.man_bits

    @property
    def zero_code(self) -> int:
        return 0

    @property
    def one_code(self):
        c = int(self.encode(1.0))
        return c if self.decode(c) == 1.0 else None

    @property
    def max_finite(self) -> float:
        return float(self.decode(self._max_mag))

    @property
    def min_subnormal(self) -> float:
        return float(self.decode(self.min_subnormal_code))

    @property
    def min_normal(self) -> float:
        return float(self.decode(self.min_normal_code))

    def _valid_mask(self, codes):
        return None  # every bit pattern is a code (NaNs included)

    @property
    def decode_table(self) -> np.ndarray:
        """Every code's value as float64, indexed by code (read-only; formats of at most 16
        bits). Exact wherever float64 holds the format; subnormals of flush-to-zero formats
        read as zeros of their sign, as :meth:`decode` gives them."""
        if self.bits > TABLE_BITS:
            raise ValueError(f"{self} has {self.bits}-bit codes; decode tables stop at {TABLE_BITS} bits")
        table = self._decode_table
        table.setflags(write=False)
        return table

    # -- classification and unpacking -----------------------------------------------------------
    def classify(self, codes) -> np.ndarray:
        """Class id per code: CLASS_ZERO, CLASS_SUBNORMAL, CLASS_NORMAL, CLASS_INF, CLASS_NAN.

        Under flush-to-zero, subnormal codes classify as zero (that is how they read).
        """
        codes = self.check_codes(codes)
        if self.bits <= TABLE_BITS:
            return self._unpack_table[3][codes]
        return self._unpack_arith(codes, raw=False)[3]

    def sign(self, codes) -> np.ndarray:
        """True where the sign bit is set."""
        codes = self.check_codes(codes).astype(np.uint64)
        return (codes >> np.uint64(self.bits - 1)).astype(bool)

    def unpack(self, codes, *, raw=False):
        """Split codes into ``(sign, sig, exp, cls)`` with value ``(-1)**sign * sig * 2**exp``.

        ``sig`` is normalised to exactly ``p`` bits (MSB at bit M) unless ``raw`` is set, in
        which case subnormals keep their stored fraction. Zeros get ``sig = 0`` and
        ``exp = ZERO_EXP``; inf/NaN get ``sig = 0`` (look at ``cls``).
        """
        codes = self.check_codes(codes)
        if not raw and self.bits <= TABLE_BITS:
            t = self._unpack_table
            return t[0][codes], t[1][codes], t[2][codes], t[3][codes]
        return self._unpack_arith(codes, raw=raw)

    @cached_property
    def _unpack_table(self):
        codes = np.arange(1 << self.bits, dtype=np.uint64).astype(self.dtype)
        return self._unpack_arith(codes, raw=False)

    def _unpack_arith(self, codes, *, raw):
        E, M = self.exp_bits, self.man_bits
        c = codes.astype(np.int64)
        sign = (c >> (E + M)).astype(bool)
        mag = c & ((1 << (E + M)) - 1)
        field = mag >> M
        frac = mag & ((1 << M) - 1)
        cls = np.where(field == 0, np.where(frac == 0, CLASS_ZERO, CLASS_SUBNORMAL), CLASS_NORMAL)
        nan, inf = self.special_flags(c, field, frac)
        if inf is not False:
            cls = np.where(inf, CLASS_INF, cls)
        if nan is not False:
            cls = np.where(nan, CLASS_NAN, cls)
        if not self.subnormals:
            cls = np.where(cls == CLASS_SUBNORMAL, CLASS_ZERO, cls)
        cls = cls.astype(np.uint8)
        sig = np.where(field == 0, frac, frac | (1 << M))
        exp = np.maximum(field, 1) - self.bias - M
        finite_nonzero = (cls == CLASS_NORMAL) | (cls == CLASS_SUBNORMAL)
        sig = np.where(finite_nonzero, sig, 0)
        if not raw:
            sh = np.where(finite_nonzero, M + 1 - bit_length(sig), 0)
            sig = sig << sh
            exp = exp - sh
        exp = np.where(finite_nonzero, exp, ZERO_EXP if not raw else 0)
        return sign, sig.astype(np.int64), exp.astype(np.int64), cls

    def _decode_arith(self, codes):
        sign, sig, exp, cls = self._unpack_arith(codes, raw=True)
        val = np.ldexp(sig.astype(np.float64), exp.astype(np.int32))
        val = np.where(cls == CLASS_INF, np.inf, val)
        val = np.where(cls == CLASS_NAN, np.nan, val)
        return np.where(sign, -val, val)

    # -- encoding helpers -------------------------------------------------------------------------
    def _exact_triple(self, v: Fraction, overflow):
        """(sig, exp, sticky) for |v| with p+2 or p+3 significant bits (enough guard bits)."""
        if v == 0:
            return 0, 0, False
        n, d = v.numerator, v.denominator
        e = n.bit_length() - d.bit_length() - (self.p + 3)
        num, den = (n, d << e) if e >= 0 else (n << -e, d)
        q, r = divmod(num, den)
        return q, e, r != 0

    # -- neighbours ----------------------------------------------------------------------------
    def sign_magnitude(self, codes):
        """``(negative, magnitude)`` of codes: the sign bit as a bool array and the other bits
        as int64 (exact for every width up to 64 bits: the sign is read unsigned)."""
        u = np.asarray(codes).astype(np.uint64)
        top = np.uint64(self.bits - 1)
        return (u >> top) == 1, (u & ((np.uint64(1) << top) - np.uint64(1))).astype(np.int64)

    def from_sign_magnitude(self, negative, magnitude):
        """Codes from a sign mask and non-negative int64 magnitudes (inverse of
        :meth:`sign_magnitude`)."""
        mag = np.asarray(magnitude).astype(np.uint64)
        sign = np.uint64(1) << np.uint64(self.bits - 1)
        return np.where(negative, mag | sign, mag).astype(self.dtype)

    def _order_key(self, codes):
        """Signed integer key that orders finite and infinite codes by value (+0 == -0)."""
        neg, mag = self.sign_magnitude(codes)
        return np.where(neg, -mag, mag)

    def _from_key(self, key):
        return self.from_sign_magnitude(key < 0, np.abs(key))

    def next_up(self, codes):
        """The next larger value's code (+inf and NaN map to themselves; max stays max where
        the format has no +inf). Under flush-to-zero, subnormals are skipped."""
        return self._step(codes, +1)

    def next_down(self, codes):
        """The next smaller value's code (mirror of :meth:`next_up`)."""
        return self._step(codes, -1)

    def _step(self, codes, direction):
        codes = self.check_codes(codes)
        cls = self.classify(codes)
        # under FTZ a subnormal code reads as zero of its sign: step from that zero
        key = self._order_key(np.where(cls == CLASS_ZERO, codes & (1 << (self.bits - 1)), codes)
                              .astype(self.dtype))
        top = self._inf_mag if self._inf_mag is not None else self._max_mag
        new = np.clip(key + direction, -top, top)
        if not self.subnormals:
            # jump over the subnormal range: values between the zero and the smallest normal
            lo = 1 << self.man_bits
            small = (np.abs(new) > 0) & (np.abs(new) < lo)
            new = np.where(small, np.where(new > 0, lo if direction > 0 else 0,
                                           0 if direction > 0 else -lo), new)
        out = self._from_key(new)
        # stepping up from the negative side onto zero lands on -0 (IEEE 754 nextUp)
        neg_zero = (new == 0) & (key < 0)
        if neg_zero.any():
            out = np.where(neg_zero, 1 << (self.bits - 1), out).astype(self.dtype)
        if self.specials == "fnuz":
            out = np.where(new == 0, 0, out).astype(self.dtype)
        nan = cls == CLASS_NAN
        if nan.any():
            out = np.where(nan, codes, out).astype(self.dtype)
        # the ordering starts at +0 from -0 upwards: key(-0) = key(+0) = 0.
        return out

    def ulp(self, codes) -> np.ndarray:
        """Spacing of the format at each code's binade, as float64 (nan for inf/NaN)."""
        codes = self.check_codes(codes)
        sign, sig, exp, cls = self._unpack_arith(codes, raw=True)
        mag = codes.astype(np.int64) & ((1 << (self.bits - 1)) - 1)
        field = np.maximum(mag >> self.man_bits, 1)
        val = np.ldexp(1.0, (field - self.bias - self.man_bits).astype(np.int32))
        return np.where((cls == CLASS_INF) | (cls == CLASS_NAN), np.nan, val)



# -- names ---------------------------------------------------------------------------------------
#: Preset float formats by name.
FLOAT_PRESETS = {
    "fp32": FloatFormat(8, 23),
    "fp16": FloatFormat(5, 10),
    "bf16": FloatFormat(8, 7),
    "e5m2": FloatFormat(5, 2),
    "e4m3": FloatFormat(4, 3),
    "e4m3fn": FloatFormat(4, 3, specials="fn"),
    "e4m3fnuz": FloatFormat(4, 3, specials="fnuz"),
    "e5m2fnuz": FloatFormat(5, 2, specials="fnuz"),
    "e3m4": FloatFormat(3, 4),
    "e3m2": FloatFormat(3, 2),
    "e2m3fn": FloatFormat(2, 3, specials="finite"),
    "e3m2fn": FloatFormat(3, 2, specials="finite"),
    "e2m1fn": FloatFormat(2, 1, specials="finite"),
}

_FLOAT_RE = re.compile(r"e(\d+)m(\d+)((?:_-?[a-z0-9]+|_b-\d+)*)")


def parse_float_name(name) -> FloatFormat | None:
    """The float format ``name`` names: a preset, or ``eXmY`` with optional tokens ``_fn _fnuz
    _finite _b<bias> _ftz _sat``; None when ``name`` is no float name at all (a name of this
    grammar with a bad token or parameter is refused, naming it)."""
    key = name.strip().lower()
    if key in FLOAT_PRESETS:
        return FLOAT_PRESETS[key]
    m = _FLOAT_RE.fullmatch(key)
    if not m:
        return None
    kw = {}
    for tok in filter(None, m.group(3).split("_")):
        key_of = ("specials" if tok in ("ieee", "fn", "fnuz", "finite") else "subnormals"
                  if tok == "ftz" else "saturate" if tok == "sat" else "bias")
        if key_of in kw:
            raise ValueError(f"format name {name!r} sets the {key_of} twice")
        if tok in ("ieee", "fn", "fnuz", "finite"):
            kw["specials"] = tok
        elif tok == "ftz":
            kw["subnormals"] = False
        elif tok == "sat":
            kw["saturate"] = True
        elif re.fullmatch(r"b-?\d+", tok):
            kw["bias"] = int(tok[1:])
        else:
            raise ValueError(f"unknown token {tok!r} in format name {name!r}; expected "
                             "fn, fnuz, finite, b<bias>, ftz or sat")
    return build_named(name, FloatFormat, int(m.group(1)), int(m.group(2)), **kw)
