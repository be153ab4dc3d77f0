"""Rounding: the one kernel of the golden model, as callers use it.

Every operation of ulpflow (add, mul, fma, convert, encode, activation tables, exact sums) computes
its result exactly as a triple ``(sign, sig, exp)`` — the value ``(-1)**sign * sig * 2**exp`` with
an optional *sticky* flag meaning "there are non-zero bits below the LSB of ``sig``" — and hands it
to :func:`round_pack`, which rounds it once to a float or fixed-point format. The kernel's code
lives in :mod:`ulpflow.golden.kernel` (below the format classes, which encode through it); this
module adds what callers need above the formats — format names — and re-exports the rounding and
overflow modes, the guard-bit count and the checks. The hardware rounding module
(``ulpflow.hdl.rounding``) mirrors the kernel.

Callers that set ``sticky`` must keep at least two guard bits below the rounding position so that
the sticky bit can never be mistaken for a tie (the adders keep three).
"""

from __future__ import annotations

from .formats import Format, as_format
from .kernel import (GUARD_BITS, OVERFLOW_MODES, ROUNDING_MODES, ZERO_EXP, bit_length,
                     check_overflow, check_rounding, round_pack_format, rounds_to_inf)

__all__ = ["GUARD_BITS", "OVERFLOW_MODES", "ROUNDING_MODES", "ZERO_EXP", "bit_length",
           "check_overflow", "check_rounding", "round_pack", "rounds_to_inf"]


def round_pack(sign, sig, exp, fmt, rounding="RNE", *, sticky=None, overflow=None, nan=None,
               inf=None):
    """Round ``(-1)**sign * (sig [+ sticky]) * 2**exp`` once to codes of ``fmt``.

    The same contract as the hardware ``RoundPack``: besides the exact value, ``nan`` and
    ``inf`` flag lanes whose exact result is NaN or an infinity of sign ``sign``, and the
    format's own specials policy decides their codes (``fmt.nan_result_code``,
    ``fmt.inf_result_code``; overflow by ``fmt.overflow_code``; see docs/semantics.md,
    "Specials and overflow"). Nothing is raised for those lanes: callers that refuse NaN into a
    format without NaN check before (``golden.add(..., strict=True)``).

    Parameters
    ----------
    sign : bool array
        True for negative values (including negative zero).
    sig : int64 array
        Non-negative significand, narrower than 62 bits (ignored in ``nan``/``inf`` lanes).
    exp : int64 array
        Exponent of the LSB of ``sig``.
    fmt : FloatFormat, FixedFormat or format name
        Destination format (a name is parsed as :func:`~ulpflow.golden.formats.as_format` does).
    rounding : str
        One of ``ROUNDING_MODES``.
    sticky : bool array, optional
        Non-zero bits exist below the LSB of ``sig`` (requires >= 2 guard bits, see module doc).
    overflow : str, optional
        Fixed point only (``fmt.check_overflow_mode``): ``"SAT"`` or ``"WRAP"``; default the
        format's own.
    nan, inf : bool arrays, optional
        Lanes whose exact result is NaN / ±inf (default: none).

    Returns
    -------
    numpy array of ``fmt.dtype`` codes.
    """
    if not isinstance(fmt, Format):  # a name (the one check on the hot path)
        fmt = as_format(fmt, "fmt")
    return round_pack_format(sign, sig, exp, fmt, rounding, sticky=sticky, overflow=overflow,
                             nan=nan, inf=inf)
