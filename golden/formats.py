"""Number formats: IEEE-style floats (with OCP fn/fnuz/finite variants) and fixed point.

A format is an immutable, hashable value object. Values are handled as integer *codes* (bit
patterns in unsigned NumPy arrays); ``decode`` and ``decode_fraction`` are for people and tests.
Every conversion into a format goes through the one rounding kernel
(:func:`ulpflow.golden.kernel.round_pack_format`, which callers reach as
:func:`ulpflow.golden.rounding.round_pack`).

The format objects live in :mod:`.formats_base` (the shared :class:`Format`),
:mod:`.formats_float` and :mod:`.formats_fixed` (each with its name grammar); this module is the
one vocabulary over them — names (:func:`parse_format`, :func:`as_format`, :data:`PRESETS`) and
the ordered number line (:func:`ordinal`, :func:`from_ordinal`, :func:`ulp_distance`) — and
re-exports every format name.

Examples
--------
>>> from ulpflow.golden import parse_format
>>> e4m3 = parse_format("e4m3")
>>> e4m3.decode(e4m3.encode([1.0, 3.3, 1000.0]))
array([1.  , 3.25,  inf])
"""

from __future__ import annotations

import numpy as np

from .formats_base import (CLASS_INF, CLASS_NAMES, CLASS_NAN, CLASS_NORMAL, CLASS_SUBNORMAL,
                           CLASS_ZERO, Format)
from .formats_fixed import FixedFormat, parse_fixed_name
from .formats_float import (FLOAT_PRESETS, MAX_BIAS, MAX_EXP_BITS, MAX_MAN_BITS, SPECIALS, FloatFormat,
                            parse_float_name)

__all__ = [
    "CLASS_INF", "CLASS_NAMES", "CLASS_NAN", "CLASS_NORMAL", "CLASS_SUBNORMAL", "CLASS_ZERO",
    "MAX_BIAS", "MAX_EXP_BITS", "MAX_MAN_BITS", "PRESETS", "SPECIALS", "FixedFormat", "FloatFormat", "Format",
    "as_format", "from_ordinal", "ordinal", "parse_format", "ulp_distance",
]

# -- names ---------------------------------------------------------------------------------------
#: Preset formats by name (floats; fixed-point names are parsed, e.g. ``q4.4``).
PRESETS = dict(FLOAT_PRESETS)


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
    fmt = parse_float_name(name)
    if fmt is None:
        fmt = parse_fixed_name(name)
    if fmt is not None:
        return fmt
    raise ValueError(f"unknown format name {name!r}; expected a preset ({', '.join(FLOAT_PRESETS)}), "
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
    neg, mag = fmt.sign_magnitude(codes)
    if not fmt.subnormals:
        mag = np.where(mag < (1 << fmt.man_bits), 0, mag - (1 << fmt.man_bits) + 1)
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
    return fmt.from_sign_magnitude(neg, mag)


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
