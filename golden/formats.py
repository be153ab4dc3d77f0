"""Number formats: IEEE-style floats (with OCP fn/fnuz/finite variants) and fixed point.

A format is an immutable, hashable value object. Values are handled as integer *codes* (bit
patterns in unsigned NumPy arrays); ``decode`` and ``decode_fraction`` are for people and tests.
Every conversion into a format goes through the one rounding kernel
(:func:`ulpflow.golden.kernel.round_pack_format`, which callers reach as
:func:`ulpflow.golden.rounding.round_pack`).

Examples
--------
>>> from ulpflow.golden import parse_format
>>> e4m3 = parse_format("e4m3")
>>> e4m3.decode(e4m3.encode([1.0, 3.3, 1000.0]))
array([  1.   ,   3.25 , 240.   ])
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import cached_property
from numbers import Integral, Rational

import numpy as np

from .kernel import (ZERO_EXP, bit_length, check_overflow, check_rounding, round_pack_format,
                     rounds_to_inf)

CLASS_ZERO, CLASS_SUBNORMAL, CLASS_NORMAL, CLASS_INF, CLASS_NAN = range(5)
CLASS_NAMES = ("zero", "subnormal", "normal", "inf", "nan")
SPECIALS = ("ieee", "fn", "fnuz", "finite")

#: Widest exponent field a FloatFormat may have. With it and :data:`MAX_BIAS`, every exponent
#: of a format's values (``emin - M`` .. ``emax``) fits in 32-bit integers and stays far above
#: :data:`ulpflow.golden.kernel.ZERO_EXP`, so golden (and hdl, whose widths derive from the
#: same format) computes exactly; wider fields are refused when the format is built.
MAX_EXP_BITS = 30
#: Largest magnitude of a FloatFormat's exponent bias (see :data:`MAX_EXP_BITS`).
MAX_BIAS = 1 << 30

# Formats up to this width keep per-code lookup tables (decode, unpack) for speed.
_TABLE_BITS = 16


def _dtype_for(bits: int):
    for dt in (np.uint8, np.uint16, np.uint32, np.uint64):
        if bits <= np.iinfo(dt).bits:
            return np.dtype(dt)
    raise ValueError(f"formats wider than 64 bits are not supported, got {bits} bits")


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


class Format:
    """Base class of :class:`FloatFormat` and :class:`FixedFormat`: the behaviour they share
    (codes in, codes out). ``isinstance(x, Format)`` tells a format object from a name."""

    kind: str
    bits: int

    # -- identity -------------------------------------------------------------------------
    def __eq__(self, other):
        return type(other) is type(self) and other._key == self._key

    def __hash__(self):
        return hash((type(self).__name__, self._key))

    def __reduce__(self):  # pickles by name (worker processes, caches)
        return (parse_format, (str(self),))

    @cached_property
    def dtype(self) -> np.dtype:
        """Smallest unsigned NumPy dtype that holds a code."""
        return _dtype_for(self.bits)

    def all_codes(self) -> np.ndarray:
        """Every valid code of the format, ascending as unsigned integers."""
        codes = np.arange(1 << self.bits, dtype=np.uint64).astype(self.dtype)
        valid = self._valid_mask(codes)
        return codes if valid is None else codes[valid]

    def _valid_mask(self, codes):
        return None

    def is_code(self, values) -> np.ndarray:
        """Bool mask: which integers are codes of the format (in range, and not the excluded
        most negative pattern of a symmetric fixed format)."""
        v = np.asarray(values)
        ok = (v >= 0) & (v < (1 << self.bits)) if v.dtype.kind in "iu" else np.zeros(v.shape, bool)
        inner = self._valid_mask(np.where(ok, v, 0).astype(self.dtype))
        return ok if inner is None else ok & inner

    # -- showing codes -------------------------------------------------------------------------
    def hex(self, code) -> str:
        """One code in hex, zero-padded to the format's width: ``e4m3.hex(0x38) == "0x38"``."""
        return f"0x{int(code):0{(self.bits + 3) // 4}x}"

    def show(self, code) -> str:
        """One code for people and reports: ``"0x38 (1.0)"`` (hex, then the value it encodes;
        a number that is not a code of the format says so instead of a value)."""
        c = int(code)
        if not 0 <= c < (1 << self.bits):
            return f"{self.hex(c)} (not a {self} code)"
        arr = np.array([c], dtype=np.uint64).astype(self.dtype)
        valid = self._valid_mask(arr)
        if valid is not None and not valid[0]:
            return f"{self.hex(c)} (not a {self} code)"
        return f"{self.hex(c)} ({float(self.decode(arr)[0])!r})"

    # -- the specials policy (docs/semantics.md, "Specials and overflow") ---------------------
    # One statement of what a NaN, an exact infinity or an overflow becomes in this format,
    # as plain Python ints: golden's round_pack applies them to arrays, the hardware rounding
    # module turns them into constants at elaboration time.
    @property
    def nan_result_code(self) -> int:
        """Code of a NaN result (NaN operand or invalid operation): the format's canonical NaN,
        or +0 (the zero code) where the format has no NaN (fixed point, ``finite`` floats)."""
        return self.nan_code if self.nan_code is not None else self.zero_code

    def check_overflow_mode(self, overflow):
        """The effective ``overflow=`` mode of an operation producing this format (a method of
        the format so that golden and hdl state the rule once): fixed point returns "SAT" or
        "WRAP" (None: the format's own; WRAP into a symmetric format is refused); floats accept
        only None ("overflow= applies to fixed point only")."""
        raise NotImplementedError

    def check_codes(self, codes) -> np.ndarray:
        """Return ``codes`` as an array of ``self.dtype``; reject anything that is not a code."""
        arr = np.asarray(codes)
        if arr.dtype.kind == "u" and arr.dtype.itemsize * 8 <= self.bits:
            # every value of this dtype is in range: skip the scans (hot path)
            valid = self._valid_mask(arr)
            if valid is not None and not valid.all():
                raise ValueError(f"code {int(arr[~valid].flat[0]):#x} is not a code of {self}")
            return arr.astype(self.dtype, copy=False)
        if arr.dtype == object or arr.dtype.kind not in "ui":
            if arr.dtype.kind == "b" or arr.size == 0 and arr.dtype.kind == "f":
                arr = arr.astype(np.int64)
            else:
                raise TypeError(f"codes of {self} must be integers, got an array of {arr.dtype}")
        if arr.size:
            lo, hi = arr.min(), arr.max()
            if lo < 0 or int(hi) >= (1 << self.bits):
                bad = lo if lo < 0 else hi
                raise ValueError(f"code {int(bad)} is out of range for {self} "
                                 f"(expected 0 .. {(1 << self.bits) - 1})")
        out = arr.astype(self.dtype, copy=False)
        valid = self._valid_mask(out)
        if valid is not None and not valid.all():
            bad = out[~valid].flat[0]
            raise ValueError(f"code {int(bad):#x} is not a code of {self}")
        return out

    # -- decoding ------------------------------------------------------------------------
    def decode(self, codes) -> np.ndarray:
        """Values of ``codes`` as float64 (exact whenever the format fits in float64)."""
        codes = self.check_codes(codes)
        if self.bits <= _TABLE_BITS:
            return self._decode_table[codes]
        return self._decode_arith(codes)

    @cached_property
    def _decode_table(self):
        return self._decode_arith(np.arange(1 << self.bits, dtype=np.uint64).astype(self.dtype))

    def decode_fraction(self, codes) -> np.ndarray:
        """Exact values of ``codes`` as an object array of ``Fraction`` (nan/inf as floats)."""
        codes = self.check_codes(codes)
        sign, sig, exp, cls = self.unpack(codes, raw=True)
        out = np.empty(codes.shape, dtype=object)
        for idx in np.ndindex(codes.shape):
            c = cls[idx]
            if c == CLASS_NAN:
                out[idx] = float("nan")
            elif c == CLASS_INF:
                out[idx] = float("-inf") if sign[idx] else float("inf")
            else:
                e = int(exp[idx])
                v = Fraction(int(sig[idx])) * (Fraction(2) ** e)
                out[idx] = -v if sign[idx] else v
        return out

    # -- encoding ------------------------------------------------------------------------
    def encode(self, x, rounding=None, *, overflow=None, strict=True) -> np.ndarray:
        """Round real values to codes, exactly and once.

        ``x`` may be a float64 array (or anything ``np.asarray`` makes float64 without loss),
        or ``Fraction`` / int values (a scalar, a sequence or an object array). Never goes
        through a narrower float, so there is no double rounding.

        A NaN value has no code in a format without NaN, nor ±inf in fixed point: ``strict``
        (the default) raises naming the first such element; ``strict=False`` encodes them per
        element by the format's policy (:attr:`nan_result_code`, :meth:`inf_result_code`).
        ``overflow=`` applies to fixed-point formats only.
        """
        mode = check_rounding(rounding)
        arr = np.asarray(x, dtype=object) if _is_exact_input(x) else None
        if arr is not None:
            return self._encode_exact(arr, mode, overflow, strict)
        xf = np.asarray(x)
        if xf.dtype.kind not in "fiub":
            raise TypeError(f"cannot encode values of dtype {xf.dtype} into {self}")
        if xf.dtype.kind in "iu" and xf.size and np.abs(xf.astype(object)).max() > 2 ** 53:
            return self._encode_exact(xf.astype(object), mode, overflow, strict)
        xf = xf.astype(np.float64)
        nan = np.isnan(xf)
        inf = np.isinf(xf)
        neg = np.signbit(xf)
        if strict:
            self._refuse_specials(nan, inf, neg)
        mant, e = np.frexp(np.where(nan | inf, 0.0, xf))
        sig = np.abs(np.ldexp(mant, 53)).astype(np.int64)
        exp = e.astype(np.int64) - 53
        return round_pack_format(neg, sig, exp, self, mode, overflow=overflow, nan=nan, inf=inf)

    def _refuse_specials(self, nan, inf, neg):
        """Raise for NaN values without a NaN code, and for ±inf values in fixed point."""
        if not self.has_nan and nan.any():
            i = int(np.flatnonzero(nan.ravel())[0])
            what = "the fixed-point format" if self.kind == "fixed" else "the format"
            raise ValueError(f"cannot encode NaN (element {i}) into {self}: {what} has no NaN")
        if self.kind == "fixed" and inf.any():
            i = int(np.flatnonzero(inf.ravel())[0])
            raise ValueError(f"cannot encode {'-' if neg.ravel()[i] else '+'}inf (element {i}) "
                             f"into the fixed-point format {self}")

    def _encode_exact(self, arr, mode, overflow, strict):
        sign = np.zeros(arr.shape, dtype=bool)
        sig = np.zeros(arr.shape, dtype=np.int64)
        exp = np.zeros(arr.shape, dtype=np.int64)
        sticky = np.zeros(arr.shape, dtype=bool)
        nan = np.zeros(arr.shape, dtype=bool)
        inf = np.zeros(arr.shape, dtype=bool)
        for idx in np.ndindex(arr.shape):
            v = arr[idx]
            if isinstance(v, float):
                if v != v:
                    nan[idx] = True
                    continue
                if v in (float("inf"), float("-inf")):
                    inf[idx], sign[idx] = True, v < 0
                    continue
                v = Fraction(v)
            elif not isinstance(v, Rational):
                raise TypeError(f"cannot encode {v!r} into {self}: expected a Fraction, int or float")
            # int() also accepts gmpy2 mpz numerators (e.g. from mpfr.as_integer_ratio())
            v = Fraction(int(v.numerator), int(v.denominator))
            sign[idx] = v < 0
            sig[idx], exp[idx], sticky[idx] = self._exact_triple(abs(v), overflow)
        if strict:
            self._refuse_specials(nan, inf, sign)
        return round_pack_format(sign, sig, exp, self, mode, sticky=sticky, overflow=overflow,
                                 nan=nan, inf=inf)

    # -- misc ------------------------------------------------------------------------------
    def is_nan(self, codes):
        return self.classify(codes) == CLASS_NAN

    def is_inf(self, codes):
        return self.classify(codes) == CLASS_INF

    def is_zero(self, codes):
        return self.classify(codes) == CLASS_ZERO

    def is_finite(self, codes):
        return self.classify(codes) <= CLASS_NORMAL

    def __repr__(self):
        return f"parse_format({str(self)!r})"


def _is_exact_input(x) -> bool:
    if isinstance(x, (Fraction, int)) and not isinstance(x, bool):
        return True
    if isinstance(x, np.ndarray):
        return x.dtype == object
    if isinstance(x, (list, tuple)):
        flat = np.asarray(x, dtype=object).ravel()
        return any(isinstance(v, Fraction) or (isinstance(v, int) and not isinstance(v, bool)
                                               and abs(v) > 2 ** 53) for v in flat)
    return False


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
        E = _check_int("exp_bits", exp_bits, 1)
        M = _check_int("man_bits", man_bits, 0)
        if E > MAX_EXP_BITS:
            raise ValueError(f"exp_bits must be at most {MAX_EXP_BITS}, got {E} (wider exponent "
                             "fields are not supported)")
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
    def __str__(self):
        for name, fmt in _FLOAT_PRESETS.items():
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

    # -- classification and unpacking -----------------------------------------------------------
    def classify(self, codes) -> np.ndarray:
        """Class id per code: CLASS_ZERO, CLASS_SUBNORMAL, CLASS_NORMAL, CLASS_INF, CLASS_NAN.

        Under flush-to-zero, subnormal codes classify as zero (that is how they read).
        """
        codes = self.check_codes(codes)
        if self.bits <= _TABLE_BITS:
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
        if not raw and self.bits <= _TABLE_BITS:
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
    def _order_key(self, codes):
        """Signed integer key that orders finite and infinite codes by value (+0 == -0)."""
        c = codes.astype(np.int64)
        mag = c & ((1 << (self.bits - 1)) - 1)
        return np.where(c >> (self.bits - 1) == 1, -mag, mag)

    def _from_key(self, key):
        mag = np.abs(key)
        return (np.where(key < 0, mag | (1 << (self.bits - 1)), mag)).astype(self.dtype)

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
        I = _check_int("int_bits", int_bits, 0)
        F = _check_int("frac_bits", frac_bits, 0)
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
_FLOAT_PRESETS = {
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
#: Preset formats by name (floats; fixed-point names are parsed, e.g. ``q4.4``).
PRESETS = dict(_FLOAT_PRESETS)

_FLOAT_RE = re.compile(r"e(\d+)m(\d+)((?:_-?[a-z0-9]+|_b-\d+)*)")
_FIXED_RE = re.compile(r"(u?)q(\d+)\.(\d+)(s?)((?:_[a-z0-9]+)*)")


def _construct(name, cls, *args, **kw):
    try:
        return cls(*args, **kw)
    except ValueError as exc:
        raise ValueError(f"format name {name!r}: {exc}") from None


def as_format(x, what="format", *, kind=None) -> FloatFormat | FixedFormat:
    """The format ``x`` names: a format object passes through, a string is parsed.

    Every public entry point of ulpflow that takes a format goes through here, so names are
    accepted everywhere a format is. ``what`` names the argument in the error message;
    ``kind="float"`` or ``kind="fixed"`` also requires that kind.

    >>> as_format("e4m3").max_finite
    240.0
    """
    if isinstance(x, str):
        fmt = parse_format(x)
    elif isinstance(x, Format):
        fmt = x
    else:
        expected = {"float": "a FloatFormat", "fixed": "a FixedFormat"}.get(
            kind, "a FloatFormat, FixedFormat")
        raise TypeError(f"{what} must be {expected} or format name, not {x!r}")
    if kind is not None and fmt.kind != kind:
        cls = "FloatFormat" if kind == "float" else "FixedFormat"
        raise TypeError(f"{what} must be a {cls}, not {fmt!r}")
    return fmt


def parse_format(name) -> FloatFormat | FixedFormat:
    """Format from its name: a preset (``fp32 fp16 bf16 e5m2 e4m3 e4m3fn e4m3fnuz e5m2fnuz e3m4
    e3m2 e2m3fn e3m2fn e2m1fn``), ``eXmY`` with optional tokens ``_fn _fnuz _finite _b<bias>
    _ftz _sat``, or fixed point ``qI.F``, ``qI.Fs`` (symmetric), ``uqI.F`` with optional
    ``_wrap``. Format objects pass through unchanged. ``str(fmt)`` reads back.
    """
    if isinstance(name, Format):
        return name
    if not isinstance(name, str):
        raise TypeError(f"a format name must be a string, not {name!r}")
    key = name.strip().lower()
    if key in _FLOAT_PRESETS:
        return _FLOAT_PRESETS[key]
    m = _FLOAT_RE.fullmatch(key)
    if m:
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
        return _construct(name, FloatFormat, int(m.group(1)), int(m.group(2)), **kw)
    m = _FIXED_RE.fullmatch(key)
    if m:
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
        return _construct(name, FixedFormat, int(m.group(2)), int(m.group(3)), **kw)
    raise ValueError(f"unknown format name {name!r}; expected a preset ({', '.join(_FLOAT_PRESETS)}), "
                     "eXmY[_fn|_fnuz|_finite][_b<bias>][_ftz][_sat], qI.F[s][_wrap] or uqI.F[_wrap]")


# -- the ordered number line ---------------------------------------------------------------------
def ordinal(fmt, codes):
    """Position of each code on the ordered number line of ``fmt``.

    Returns ``(ord, nan)``: int64 positions where +0 and -0 are both 0, consecutive
    representable values differ by 1, ±inf sit one step beyond ±max (subnormal codes of a
    flush-to-zero format are skipped: they are not values of the format), and a bool mask of
    NaN codes (whose position is meaningless). Fixed point: the integer k of value k·2^-F.
    """
    fmt = as_format(fmt, "fmt")
    codes = fmt.check_codes(codes)
    if fmt.kind == "fixed":
        return fmt.to_int(codes), np.zeros(codes.shape, dtype=bool)
    c = codes.astype(np.int64)
    mag = c & ((1 << (fmt.bits - 1)) - 1)
    if not fmt.subnormals:
        mag = np.where(mag < (1 << fmt.man_bits), 0, mag - (1 << fmt.man_bits) + 1)
    neg = (c >> (fmt.bits - 1)) == 1
    return np.where(neg, -mag, mag), fmt.classify(codes) == CLASS_NAN


def from_ordinal(fmt, ords, negative_zero=None):
    """Codes at positions ``ords`` (inverse of :func:`ordinal` on non-NaN codes).

    Position 0 gives +0, or -0 where ``negative_zero`` is True and the format has -0.
    """
    fmt = as_format(fmt, "fmt")
    ords = np.asarray(ords, dtype=np.int64)
    if fmt.kind == "fixed":
        return fmt.from_int(ords)
    mag = np.abs(ords)
    if not fmt.subnormals:
        mag = np.where(mag > 0, mag + (1 << fmt.man_bits) - 1, 0)
    neg = ords < 0
    if negative_zero is not None and fmt.specials != "fnuz":
        neg = neg | ((ords == 0) & np.asarray(negative_zero, dtype=bool))
    codes = np.where(neg, mag | (1 << (fmt.bits - 1)), mag)
    return codes.astype(fmt.dtype)


def ulp_distance(a, b, fmt):
    """Distance in ulps between codes ``a`` and ``b`` of ``fmt`` (float64 array).

    The number of steps between the two values along the ordered number line (+0 and -0 are
    one point); NaN vs NaN is 0, NaN vs anything else is inf.
    """
    fmt = as_format(fmt, "fmt")
    oa, na = ordinal(fmt, a)
    ob, nb = ordinal(fmt, b)
    d = np.abs(oa - ob).astype(np.float64)
    d = np.where(na | nb, np.inf, d)
    return np.where(na & nb, 0.0, d)
