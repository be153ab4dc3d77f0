"""The base class of every number format: what floats and fixed point share.

A format is an immutable, hashable value object. Values are handled as integer *codes* (bit
patterns in unsigned NumPy arrays); ``decode`` and ``decode_fraction`` are for people and tests.
Every conversion into a format goes through the one rounding kernel
(:func:`ulpflow.golden.kernel.round_pack_format`). The concrete formats are
:class:`~ulpflow.golden.formats_float.FloatFormat` and
:class:`~ulpflow.golden.formats_fixed.FixedFormat`; names are read by
:func:`ulpflow.golden.formats.parse_format`.
"""

from __future__ import annotations

from fractions import Fraction
from functools import cached_property
from numbers import Integral, Rational

import numpy as np

from .kernel import check_rounding, round_pack_format

CLASS_ZERO, CLASS_SUBNORMAL, CLASS_NORMAL, CLASS_INF, CLASS_NAN = range(5)
CLASS_NAMES = ("zero", "subnormal", "normal", "inf", "nan")

#: Formats up to this width keep per-code lookup tables (decode, unpack) for speed.
TABLE_BITS = 16


def dtype_for(bits: int):
    """Smallest unsigned NumPy dtype that holds ``bits``-bit codes."""
    for dt in (np.uint8, np.uint16, np.uint32, np.uint64):
        if bits <= np.iinfo(dt).bits:
            return np.dtype(dt)
    raise ValueError(f"formats wider than 64 bits are not supported, got {bits} bits")


def check_int(name, value, minimum):
    """``value`` as an int >= ``minimum`` (a format parameter); reject anything else clearly."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def build_named(name, cls, *args, **kw):
    """``cls(*args, **kw)`` for the format name ``name``: a refused parameter names the name."""
    try:
        return cls(*args, **kw)
    except ValueError as exc:
        raise ValueError(f"format name {name!r}: {exc}") from None


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

    @cached_property
    def dtype(self) -> np.dtype:
        """Smallest unsigned NumPy dtype that holds a code."""
        return dtype_for(self.bits)

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
        if self.bits <= TABLE_BITS:
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


