"""The one rounding kernel of the golden model (public face: :mod:`ulpflow.golden.rounding`).

Every operation of ulpflow (add, mul, fma, convert, encode, activation tables, exact sums) computes
its result exactly as a triple ``(sign, sig, exp)`` — the value ``(-1)**sign * sig * 2**exp`` with
an optional *sticky* flag meaning "there are non-zero bits below the LSB of ``sig``" — and hands it
to :func:`round_pack_format`, which rounds it once to a float or fixed-point format. A bug fixed
here is fixed everywhere; the hardware rounding module (``ulpflow.hdl.rounding``) mirrors this
file.

This module sits below the format classes (they encode through the kernel), so it takes format
*objects* only. :func:`ulpflow.golden.rounding.round_pack` is the same kernel for callers: it
also accepts format names, and re-exports the constants and checks defined here.

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


def rounds_to_inf(rounding: str, sign: bool) -> bool:
    """IEEE 754's choice for a result beyond the largest finite value: True for ∞ (RNE, RNA,
    RUP of a positive and RDN of a negative result), False for the largest finite value."""
    if rounding in ("RNE", "RNA"):
        return True
    if rounding == "RUP":
        return not sign
    if rounding == "RDN":
        return bool(sign)
    return False  # RTZ


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


def round_pack_format(sign, sig, exp, fmt, rounding="RNE", *, sticky=None, overflow=None,
                      nan=None, inf=None):
    """The kernel itself: :func:`ulpflow.golden.rounding.round_pack` with ``fmt`` a
    FloatFormat or FixedFormat object (no name lookup); see there for the contract."""
    mode = check_rounding(rounding)
    ovf = fmt.check_overflow_mode(overflow)
    sign = np.asarray(sign, dtype=bool)
    sig = np.asarray(sig, dtype=np.int64)
    exp = np.asarray(exp, dtype=np.int64)
    if sticky is not None:
        sticky = np.asarray(sticky, dtype=bool)
    if fmt.kind == "fixed":
        codes = _round_pack_fixed(sign, sig, exp, fmt, mode, sticky, ovf)
    else:
        codes = _round_pack_float(sign, sig, exp, fmt, mode, sticky)
    if nan is None and inf is None:
        return codes
    return _apply_specials(codes, fmt, sign, nan, inf)


def _apply_specials(codes, fmt, sign, nan, inf):
    """Overwrite the (rare) NaN and infinity lanes by the format's policy; NaN wins where a lane
    is flagged both. ``codes`` is the kernel's fresh array: written in place when shapes agree."""
    masks = [None if m is None else np.asarray(m, dtype=bool) for m in (nan, inf)]
    shape = codes.shape
    if any(m is not None and m.shape != shape for m in masks):
        shape = np.broadcast_shapes(shape, *(m.shape for m in masks if m is not None))
    if codes.shape != shape:
        codes = np.array(np.broadcast_to(codes, shape), dtype=fmt.dtype)
    flat = codes.reshape(-1)
    masks = [None if m is None else (m if m.shape == shape else np.broadcast_to(m, shape)).ravel()
             for m in masks]
    nan, inf = masks
    special = nan if inf is None else inf if nan is None else nan | inf
    idx = np.flatnonzero(special)
    if not idx.size:
        return codes
    t = fmt.dtype.type
    neg = (sign if sign.shape == shape else np.broadcast_to(sign, shape)).ravel()[idx]
    vals = np.where(neg, t(fmt.inf_result_code(True)), t(fmt.inf_result_code(False)))
    if nan is not None:
        vals = np.where(nan[idx], t(fmt.nan_result_code), vals)
    flat[idx] = vals
    return codes


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
    # Clipped at 2**E: every binade from there on overflows, and the magnitude stays below
    # 2**(E+M) + 2**(M+1), which fits int64 up to E+M = 62 (uint64 for 64-bit formats).
    binade = np.minimum(q - qmin, 1 << fmt.exp_bits)
    max_mag = fmt.max_finite_code
    if fmt.exp_bits + fmt.man_bits >= 63:
        mag = (binade.astype(np.uint64) << np.uint64(M)) + kept.astype(np.uint64)
        over = mag > np.uint64(max_mag)
        mag = np.where(over, 0, mag).astype(np.int64)
    else:
        mag = (binade << M) + kept
        over = mag > max_mag
    if not fmt.subnormals:
        mag = np.where(mag < (1 << M), 0, mag)
    if fmt.specials == "fnuz":
        sign = sign & (mag != 0)
    if fmt.bits == 64:
        codes = (sign.astype(np.uint64) << np.uint64(63)) | mag.astype(np.uint64)
    else:
        codes = (sign.astype(np.int64) << (fmt.bits - 1)) | mag
    if over.any():
        # IEEE decides between infinity and max per rounding mode and sign; the format says
        # what "infinity" is (fmt.overflow_code states the whole rule once)
        t = codes.dtype.type
        pos, neg = t(fmt.overflow_code(False, mode)), t(fmt.overflow_code(True, mode))
        codes = np.where(over, np.where(sign, neg, pos), codes)
    return codes.astype(fmt.dtype)


def _round_pack_fixed(sign, sig, exp, fmt, mode, sticky, ovf):
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
        k = np.where(huge, np.where(sign, fmt.kmin, fmt.kmax), k)
        k = np.clip(k, fmt.kmin, fmt.kmax)
    return (k & ((np.int64(1) << n) - 1)).astype(fmt.dtype)
