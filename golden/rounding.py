"""The one rounding kernel of the golden model.

Every operation of ulpflow (add, mul, fma, convert, encode, activation tables, exact sums) computes
its result exactly as a triple ``(sign, sig, exp)`` — the value ``(-1)**sign * sig * 2**exp`` with
an optional *sticky* flag meaning "there are non-zero bits below the LSB of ``sig``" — and hands it
to :func:`round_pack`, which rounds it once to a float or fixed-point format. A bug fixed here is
fixed everywhere; the hardware rounding module (``ulpflow.hdl.rounding``) mirrors this file.

Callers that set ``sticky`` must keep at least two guard bits below the rounding position so that
the sticky bit can never be mistaken for a tie (the adders keep three).
"""

from __future__ import annotations

import numpy as np

ROUNDING_MODES = ("RNE", "RNA", "RTZ", "RUP", "RDN")
OVERFLOW_MODES = ("SAT", "WRAP")

#: Guard bits the adders keep below the operands' LSB (golden and hardware alike): at least two
#: are needed so that the sticky flag is never mistaken for a tie; three leave room for the
#: jammed sticky bit of the alignment shifter.
GUARD_BITS = 3

#: Exponent given to a zero significand so that it always aligns below every other operand.
ZERO_EXP = -(1 << 40)

# Shifts are clipped here: NumPy's behaviour for shifts of >= 64 bits is platform dependent, and
# every significand the kernel sees is narrower than 62 bits.
_MAX_SHIFT = 62


def check_rounding(rounding) -> str:
    """Return the rounding mode name, ``"RNE"`` for ``None``; reject anything else clearly."""
    if rounding is None:
        return "RNE"
    if isinstance(rounding, str) and rounding in ROUNDING_MODES:
        return rounding
    raise ValueError(f"unknown rounding mode {rounding!r}; expected one of {', '.join(ROUNDING_MODES)}")


def check_overflow(overflow) -> str:
    if isinstance(overflow, str) and overflow in OVERFLOW_MODES:
        return overflow
    raise ValueError(f"unknown overflow mode {overflow!r}; expected 'SAT' or 'WRAP'")


def bit_length(x: np.ndarray) -> np.ndarray:
    """Vectorised ``int.bit_length`` for non-negative int64 arrays (0 for 0)."""
    x = np.asarray(x, dtype=np.int64)
    _, e = np.frexp(x.astype(np.float64))
    e = e.astype(np.int64)
    # float64 conversion may round a wide integer up to the next power of two: correct by one.
    over = (e > 0) & ((x >> np.clip(e - 1, 0, _MAX_SHIFT)) == 0)
    return e - over


def _shift_right_round(sig, shift, sign, mode, sticky):
    """Shift ``sig`` right by ``shift`` (>= 0, clipped) and round the magnitude by ``mode``.

    Returns ``(kept, inexact)``: ``kept`` may have grown by one unit (carry out), which the
    callers handle through their encodings.
    """
    s = np.clip(shift, 0, _MAX_SHIFT)
    kept = sig >> s
    rem = sig - (kept << s)
    half = (np.int64(1) << s) >> 1
    shifted = s > 0
    if sticky is None:
        inexact = rem != 0
        above = rem > half
        tie = shifted & (rem == half)
    else:
        inexact = (rem != 0) | sticky
        above = (rem > half) | (shifted & (rem == half) & sticky)
        tie = shifted & (rem == half) & ~sticky
    if mode == "RNE":
        up = above | (tie & ((kept & 1) == 1))
    elif mode == "RNA":
        up = above | tie
    elif mode == "RTZ":
        up = np.zeros_like(inexact)
    elif mode == "RUP":
        up = inexact & ~sign
    else:  # RDN
        up = inexact & sign
    return kept + up, inexact


def round_pack(sign, sig, exp, fmt, rounding="RNE", *, sticky=None, overflow=None):
    """Round ``(-1)**sign * (sig [+ sticky]) * 2**exp`` once to codes of ``fmt``.

    Parameters
    ----------
    sign : bool array
        True for negative values (including negative zero).
    sig : int64 array
        Non-negative significand, narrower than 62 bits.
    exp : int64 array
        Exponent of the LSB of ``sig``.
    fmt : FloatFormat or FixedFormat
        Destination format.
    rounding : str
        One of ``ROUNDING_MODES``.
    sticky : bool array, optional
        Non-zero bits exist below the LSB of ``sig`` (requires >= 2 guard bits, see module doc).
    overflow : str, optional
        Fixed point only: ``"SAT"`` or ``"WRAP"``; default the format's own.

    Returns
    -------
    numpy array of ``fmt.dtype`` codes.
    """
    mode = check_rounding(rounding)
    sign = np.asarray(sign, dtype=bool)
    sig = np.asarray(sig, dtype=np.int64)
    exp = np.asarray(exp, dtype=np.int64)
    if sticky is not None:
        sticky = np.asarray(sticky, dtype=bool)
    if fmt.kind == "fixed":
        return _round_pack_fixed(sign, sig, exp, fmt, mode, sticky, overflow)
    return _round_pack_float(sign, sig, exp, fmt, mode, sticky)


def _round_pack_float(sign, sig, exp, fmt, mode, sticky):
    M = fmt.man_bits
    qmin = fmt.emin - M  # LSB exponent of subnormals and of the lowest normal binade
    nb = bit_length(sig)
    # LSB exponent of the result: M+1 significant bits, never below the subnormal grid.
    q = np.where(sig == 0, qmin, np.maximum(exp + nb - 1 - M, qmin))
    shift = q - exp
    left = np.clip(-shift, 0, _MAX_SHIFT)
    kept, _ = _shift_right_round(sig << left, shift, sign, mode, sticky)
    # Magnitude code: this one formula covers subnormals, normals and the carry out of rounding
    # (kept == 2**(M+1) lands on the next binade's first code).
    binade = np.minimum(q - qmin, (1 << (fmt.exp_bits + 1)) + 2)
    mag = (binade << M) + kept
    if not fmt.subnormals:
        mag = np.where(mag < (1 << M), 0, mag)
    over = mag > fmt._max_mag
    if over.any():
        if mode in ("RNE", "RNA"):
            to_inf = over
        elif mode == "RTZ":
            to_inf = np.zeros_like(over)
        elif mode == "RUP":
            to_inf = over & ~sign
        else:
            to_inf = over & sign
        if fmt.specials == "finite" or fmt.saturate:
            inf_mag = fmt._max_mag
        elif fmt.specials == "ieee":
            inf_mag = fmt._inf_mag
        else:
            inf_mag = -1  # becomes the format's NaN below
        mag = np.where(over, np.where(to_inf, inf_mag, fmt._max_mag), mag)
        is_nan = mag < 0
    else:
        is_nan = None
    if fmt.specials == "fnuz":
        sign = sign & (mag != 0)
    codes = (sign.astype(np.int64) << (fmt.bits - 1)) | np.maximum(mag, 0)
    if is_nan is not None and is_nan.any():
        codes = np.where(is_nan, fmt.nan_code, codes)
    return codes.astype(fmt.dtype)


def _round_pack_fixed(sign, sig, exp, fmt, mode, sticky, overflow):
    ovf = fmt.overflow if overflow is None else check_overflow(overflow)
    if ovf == "WRAP" and fmt.symmetric:
        raise ValueError(f"WRAP overflow is not defined for the symmetric format {fmt}")
    n = fmt.bits
    shift = -fmt.frac_bits - exp
    left = np.clip(-shift, 0, _MAX_SHIFT)
    nb = bit_length(sig)
    # Magnitudes of 2**n ulps or more overflow whatever the rounding; below that, left shifts
    # fit in int64. Keep only the low n bits of huge magnitudes (enough for WRAP).
    huge = (sig != 0) & (left > 0) & (nb + left > n)
    keep_bits = np.clip(n - left, 0, _MAX_SHIFT)
    low = np.where(huge, sig & ((np.int64(1) << keep_bits) - 1), sig)
    kept, _ = _shift_right_round(low << np.where(huge, np.minimum(left, n), left), shift, sign, mode, sticky)
    k = np.where(sign, -kept, kept)
    if ovf == "SAT":
        k = np.where(huge, np.where(sign, fmt._kmin, fmt._kmax), k)
        k = np.clip(k, fmt._kmin, fmt._kmax)
    return (k & ((np.int64(1) << n) - 1)).astype(fmt.dtype)
