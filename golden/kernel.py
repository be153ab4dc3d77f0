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


def _shift_right_round(sig, shift, sign, mode, sticky, inplace=False):
    """Shift ``sig`` right by ``shift`` (>= 0, clipped) and round the magnitude by ``mode``:
    the one rounding decision of the golden model (every entry of this module comes here).

    Returns ``kept``, which may have grown by one unit (carry out): the callers handle it
    through their encodings. A Python-int ``shift >= 1`` without ``sticky`` (the float fast
    entry, :func:`round_pack_binary`) takes closed forms of the same decision, which also work
    on unsigned bit patterns that carry a sign bit above the magnitude (the increment never
    reaches it); ``sign`` is then only read by the directed modes, and may be given as the
    position (an int) of that sign bit in ``sig``; ``inplace`` lets them overwrite ``sig``.
    """
    if sticky is None and isinstance(shift, int) and 1 <= shift <= _MAX_SHIFT:
        t = sig.dtype.type
        s = t(shift)
        x = sig if inplace else sig.copy()
        if sign is None and x.dtype.kind == "i":
            return _shift_right_round_signed(x, shift, mode)
        if mode == "RTZ":
            return np.right_shift(x, s, out=x)
        if mode == "RNA":
            x += t(1 << (shift - 1))
        elif mode == "RNE":
            # below half: no carry; above half: carry; exactly half: carry iff kept is odd
            lsb = x >> s
            lsb &= t(1)
            lsb += t((1 << (shift - 1)) - 1)
            x += lsb
        else:
            # directed: magnitude up by one unit iff inexact and the mode points away from zero
            ones = t((1 << shift) - 1)
            if isinstance(sign, int):  # the position of the sign bit in the pattern sig
                away = x >> t(sign)
                if mode == "RUP":
                    away -= t(1)
                else:
                    np.subtract(t(0), away, out=away)
                away &= ones
            else:
                away = (~sign if mode == "RUP" else sign).astype(sig.dtype)
                away *= ones
            x += away
        return np.right_shift(x, s, out=x)
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
    return kept + up


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
    if callable(sign):  # the fast entry reads signs from its codes, lane by lane
        neg = sign(idx)
    else:
        neg = (sign if sign.shape == shape else np.broadcast_to(sign, shape)).ravel()[idx]
    vals = np.where(neg, t(fmt.inf_result_code(True)), t(fmt.inf_result_code(False)))
    if nan is not None:
        vals = np.where(nan[idx], t(fmt.nan_result_code), vals)
    flat[idx] = vals
    return codes


def _shift_right_round_signed(x, shift, mode):
    """The closed forms of :func:`_shift_right_round` on two's complement integers ``x``
    (overwritten): ``x / 2**shift`` rounded by ``mode`` to an integer. The arithmetic shift
    rounds toward -inf (RDN); every other mode adds its increment first (RUP: all ones; RTZ:
    all ones on negatives; RNA: half, less one on negatives; RNE: half less one, plus the
    kept LSB). ``|x| + 2**shift`` must fit the dtype."""
    t = x.dtype.type
    s = t(shift)
    ones = t((1 << shift) - 1)
    if mode == "RUP":
        x += ones
    elif mode == "RTZ":
        neg = x >> t(x.dtype.itemsize * 8 - 1)  # -1 on negatives, else 0
        neg &= ones
        x += neg
    elif mode == "RNA":
        neg = x >> t(x.dtype.itemsize * 8 - 1)
        x += t(1 << (shift - 1))
        x += neg
    elif mode == "RNE":
        lsb = x >> s
        lsb &= t(1)
        lsb += t((1 << (shift - 1)) - 1)
        x += lsb
    return np.right_shift(x, s, out=x)


def round_pack_int(k, shift, fmt, rounding="RNE", *, overflow=None):
    """Round the exact values ``k * 2**-(fmt.frac_bits + shift)`` once to the fixed-point
    format ``fmt``: the kernel's fixed-point fast entry (the integer entry
    :func:`round_pack_format` with ``sign = k < 0``, ``sig = |k|``,
    ``exp = -(fmt.frac_bits + shift)`` gives the same codes).

    ``k`` is a one-dimensional int64 array of two's complement integers, overwritten (pass a
    temporary); ``shift`` a Python int >= 0, with ``|k| + 2**shift < 2**63``. The rounding
    decision is the closed form of :func:`_shift_right_round` for two's complement integers;
    the overflow policy (``SAT`` clips to ``[kmin, kmax]``, ``WRAP`` keeps the low bits) is
    the integer entry's.
    """
    mode = check_rounding(rounding)
    ovf = fmt.check_overflow_mode(overflow)
    if fmt.kind != "fixed" or k.dtype != np.int64 or k.ndim != 1 or shift < 0:
        raise ValueError(f"round_pack_int rounds one-dimensional int64 arrays with a shift >= 0 "
                         f"to fixed-point formats, got {k.dtype} of shape {k.shape}, shift "
                         f"{shift}, {fmt}")
    r = _shift_right_round(k, shift, None, mode, None, inplace=True) if shift else k
    if ovf == "SAT":
        np.clip(r, fmt.kmin, fmt.kmax, out=r)
    if fmt.bits < fmt.dtype.itemsize * 8:
        r &= np.int64((1 << fmt.bits) - 1)
    return r.astype(fmt.dtype)


def _round_pack_float(sign, sig, exp, fmt, mode, sticky):
    mag, over = _float_magnitude(sign, sig, exp, fmt, mode, sticky)
    return _finish_float(sign, mag, over, fmt, mode)


def _float_magnitude(sign, sig, exp, fmt, mode, sticky):
    """Round ``(sig [+ sticky]) * 2**exp`` to ``fmt``'s grid: ``(mag, over)``, the magnitude
    code (int64) and the lanes whose rounded magnitude is above the largest finite value."""
    M = fmt.man_bits
    qmin = fmt.emin - M  # LSB exponent of subnormals and of the lowest normal binade
    nb = bit_length(sig)
    # LSB exponent of the result: M+1 significant bits, never below the subnormal grid.
    q = np.where(sig == 0, qmin, np.maximum(exp + nb - 1 - M, qmin))
    shift = q - exp
    left = np.clip(-shift, 0, _MAX_SHIFT)
    kept = _shift_right_round(sig << left, shift, sign, mode, sticky)
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
    return mag, over


def _finish_float(sign, mag, over, fmt, mode):
    """Codes from signs and rounded magnitude codes: flush to zero, no -0 in ``fnuz``, and the
    overflow lanes replaced by ``fmt.overflow_code`` (shared by both float entries)."""
    M = fmt.man_bits
    if not fmt.subnormals:
        mag = np.where(mag < (1 << M), 0, mag)
    if fmt.specials == "fnuz":
        sign = sign & (mag != 0)
    if fmt.bits == 64:
        codes = (sign.astype(np.uint64) << np.uint64(63)) | mag.astype(np.uint64)
    else:
        codes = (sign.astype(mag.dtype) << mag.dtype.type(fmt.bits - 1)) | mag
    if over.any():
        # IEEE decides between infinity and max per rounding mode and sign; the format says
        # what "infinity" is (fmt.overflow_code states the whole rule once)
        t = codes.dtype.type
        pos, neg = t(fmt.overflow_code(False, mode)), t(fmt.overflow_code(True, mode))
        if (isinstance(codes, np.ndarray) and codes.ndim == 1 and codes.shape == over.shape
                and np.shape(sign) == codes.shape):
            idx = np.flatnonzero(over)  # the fresh array, patched where it overflows
            codes[idx] = np.where(sign[idx], neg, pos)
        else:
            codes = np.where(over, np.where(sign, neg, pos), codes)
    return codes.astype(fmt.dtype, copy=False)


# -- the float fast entry: exact values given as a float head plus a tail ------------------------
#: Binary layouts of the float dtypes the fast entry reads: (exponent bits, fraction bits).
_BINARY = {np.dtype(np.float32): (8, 23, np.uint32), np.dtype(np.float64): (11, 52, np.uint64)}


def binary_covers(fmt, dtype, scaled=False) -> bool:
    """Whether :func:`round_pack_binary` can round ``dtype`` (float32/float64) values to
    ``fmt``: a float format whose every rounding boundary (grid points and midpoints) lies on
    the dtype's grid with at least one dtype value strictly between two boundaries (M at most
    the dtype's fraction bits minus 2), whose normal range lies in the dtype's normal range,
    and that either shares the dtype's exponent layout or lies inside its range. With
    ``scaled``: whether ``fmt``'s range, scaled by ``2**binary_scale(fmt, dtype)``, starts at
    the dtype's smallest normal and ends below the dtype's largest binade."""
    if getattr(fmt, "kind", None) != "float" or np.dtype(dtype) not in _BINARY:
        return False
    E, Ms, _ = _BINARY[np.dtype(dtype)]
    bias = (1 << (E - 1)) - 1
    if fmt.man_bits > Ms - 2:
        return False
    if scaled:
        k = binary_scale(fmt, dtype)
        return k <= 0 and fmt.emax + 1 + k < bias
    if fmt.emax > bias:
        return False
    if fmt.exp_bits == E and fmt.bias == bias:
        return True  # the same exponent field: subnormals included, one fixed shift
    return fmt.emin >= 2 - (1 << (E - 1))


def binary_scale(fmt, dtype) -> int:
    """``k`` such that ``2**k`` maps ``fmt``'s smallest normal onto the dtype's: scaled by it,
    ``fmt``'s binades (subnormals included) have the dtype's exponent fields."""
    E = _BINARY[np.dtype(dtype)][0]
    return (2 - (1 << (E - 1))) - fmt.emin


def round_pack_binary(head, fmt, rounding="RNE", *, tail=None, special=None, scaled=False,
                      overwrite=False):
    """Round the exact values ``head + tail`` once to ``fmt``: the kernel's fast entry.

    ``head`` is a float32 or float64 array (one dimension) and ``tail`` the exact remainder as
    an error-free transform gives it (TwoSum: ``|tail|`` at most half the spacing of the
    dtype at ``head``), either as an array of the same dtype or as a function ``tail(idx)``
    giving it at the lane indices ``idx`` (``None``: every lane), called only where the tail
    can change the result; without ``tail`` the heads are exact. Only the tail's sign (and
    whether it is zero) matters, and only at finite heads on a rounding boundary of ``fmt``:
    a stand-in with the exact tail's sign there serves as well. Only :func:`binary_covers`
    pairs are accepted. ``special = (idx, is_nan)`` flags lanes whose exact result is NaN
    (``is_nan``) or else an infinity of the head's sign; the format's policy gives their
    codes (``fmt.nan_result_code``, ``fmt.inf_result_code``). Any other non-finite head is an
    overflow of the dtype (a float32 sum beyond float32's range) and rounds as one. With
    ``scaled``, ``head`` and ``tail`` are the exact values times ``2**binary_scale(fmt,
    dtype)`` (an exact scaling wherever the caller uses it). With ``overwrite`` the caller
    gives up ``head``: its buffer may serve as the rounding's workspace (fewer fresh temporaries
    keep a block's work in the cache).

    How: the head's bit pattern is an integer magnitude on the dtype's grid. Where the tail is
    non-zero and the head sits exactly on a rounding boundary of ``fmt`` (a grid point or a
    midpoint), the head is moved one dtype step toward the exact value; it then lies strictly
    between the same two boundaries as the exact value (there are >= 2 steps between
    boundaries), so both round alike in every mode. The pattern is then rounded by the one
    rounding decision (``_shift_right_round``) with a fixed shift; lanes below ``fmt``'s normal
    range of a format with another exponent field take the same decision with their own
    shift, the tail entering as the significand's last bit and sticky. Scaled heads need no
    such lanes: ``fmt``'s normal range starts where the dtype's does, and its subnormals lie on
    the dtype's subnormal grid, so one shift rounds every lane, as for a shared exponent field.
    """
    mode = check_rounding(rounding)
    head = np.asarray(head)
    if head.ndim != 1 or not binary_covers(fmt, head.dtype, scaled):
        raise ValueError(f"round_pack_binary cannot round {head.dtype} arrays of shape "
                         f"{head.shape} to {fmt}")
    E, Ms, ut = _BINARY[head.dtype]
    t = np.dtype(ut).type
    bias = (1 << (E - 1)) - 1
    s = Ms - fmt.man_bits
    sbit = E + Ms
    exp_all = t(((1 << E) - 1) << Ms)
    u0 = u = head.view(ut)
    if tail is not None and not callable(tail):
        tail_arr = np.asarray(tail, dtype=head.dtype)
        tail = (lambda idx: tail_arr if idx is None else tail_arr[idx])
    # the special lanes' signs (the head's sign bits), read before any rounding in place
    special_sign = None
    if special is not None and special[0].size:
        special_sign = (u0[special[0]] >> t(sbit)).astype(bool)
    if tail is not None:
        u = _nudge(u0, tail, s, mode, t, exp_all, t(sbit))
    if scaled:
        # the pattern rounds as it stands (fmt's fields are the dtype's lowest ones); the
        # sign bit lands s bits lower, above magnitudes that reach beyond fmt's range
        ieee = fmt.specials == "ieee" and fmt.subnormals and not fmt.saturate
        # in place where the pattern is a fresh one (nudged) or the caller gave up the head,
        # and nothing below reads the head again (the ieee case)
        codes = _shift_right_round(u, s, sbit if mode in ("RUP", "RDN") else None, mode, None,
                                   inplace=ieee and (overwrite or u is not u0))
        ct = codes.dtype.type
        top = sbit - s
        mag = codes & ct((1 << top) - 1)
        if ieee:
            # as in the re-biased case below: every magnitude beyond max (an overflow, a
            # non-finite head) clipped to the overflow code of its sign, the sign moved down
            pos, neg = (fmt.overflow_code(sg, mode) & ((1 << (fmt.bits - 1)) - 1)
                        for sg in (False, True))
            codes >>= ct(top)  # the sign bits
            if pos == neg:  # RNE/RNA: the infinity; RTZ: max
                np.minimum(mag, ct(pos), out=mag)
            else:  # RUP/RDN: the infinity on one side, max on the other
                limit = codes * ct((neg - pos) % (1 << (8 * codes.itemsize)))
                limit += ct(pos)
                np.minimum(mag, limit, out=mag)
            codes <<= ct(fmt.bits - 1)
            mag |= codes
            codes = mag.astype(fmt.dtype)
        else:
            # other specials policies, saturation or no subnormals: the integer path's encoding
            sign = (codes >> ct(top)).astype(bool)
            over = (mag > ct(fmt.max_finite_code)) | ((u0 & exp_all) == exp_all)
            if fmt.bits <= 32:
                mag = mag.astype(np.uint32)  # over lanes may wrap: they are replaced
            codes = _finish_float(sign, mag, over, fmt, mode)
    elif fmt.exp_bits == E and fmt.bias == bias:
        # the same exponent field (then fmt is ieee-style: binary_covers): the pattern rounds
        # as it stands, with its sign bit above the magnitude (an increment of at most
        # 2**s - 1 never reaches it), and lands on fmt's code; subnormals share the grid of
        # the lowest binade, so one shift serves every lane
        codes = _shift_right_round(u, s, sbit if mode in ("RUP", "RDN") else None, mode, None)
        ct = codes.dtype.type
        if fmt.subnormals and not fmt.saturate:
            # a finite head rounds to its code in every mode (beyond max the carry lands on
            # the infinity, where a mode that rounds up must go); only non-finite heads (an
            # overflow of the dtype, or a special lane) need the overflow code, and under
            # RNE/RNA that is the infinity they already give
            if mode in ("RTZ", "RUP", "RDN"):
                nf = (u0 & exp_all) == exp_all
                if nf.any():
                    idx = np.flatnonzero(nf)
                    neg = (codes[idx] >> ct(fmt.bits - 1)).astype(bool)
                    codes[idx] = np.where(neg, ct(fmt.overflow_code(True, mode)),
                                          ct(fmt.overflow_code(False, mode)))
            codes = codes.astype(fmt.dtype)
        else:
            mag = codes & ct((1 << (fmt.bits - 1)) - 1)
            over = (mag > ct(fmt.max_finite_code)) | ((u0 & exp_all) == exp_all)
            codes = _finish_float((codes >> ct(fmt.bits - 1)).astype(bool), mag, over, fmt, mode)
    else:
        nearest = mode in ("RNE", "RNA")
        sign = None if nearest else (u >> t(sbit)).astype(bool)
        m = u & t((1 << (E + Ms)) - 1)
        # fmt's normal range starts at 2**emin; the lanes below it (zeros included)
        # are rounded separately. Above it, re-biasing the exponent field makes the pattern
        # fmt's magnitude code followed by s bits to round away (non-finite heads land above
        # max: an overflow, or special lanes replaced below).
        low = m < t((fmt.emin + bias) << Ms)
        tiny = None
        if low.any():
            # heads below a quarter of fmt's smallest subnormal: the exact value (a tail is at
            # most half a dtype step, and a zero head is an exact zero) lies strictly between
            # zero and half of that subnormal unless it is zero, so it rounds to zero, or under
            # RUP/RDN to the smallest subnormal where it is non-zero and the mode points away
            tiny = m < t(max(fmt.emin - fmt.man_bits - 2 + bias, 0) << Ms)
            if mode in ("RUP", "RDN"):
                away = m != t(0)
                away &= sign if mode == "RDN" else ~sign
                away &= tiny
        m -= t((fmt.emin + bias - 1) << Ms)  # wraps in the low lanes, recomputed below
        mag = _shift_right_round(m, s, sign, mode, None, inplace=True)
        if tiny is not None:
            np.putmask(mag, low, t(0))
            if mode in ("RUP", "RDN"):
                mag |= away.astype(mag.dtype)
            low &= ~tiny
        if low.any():
            idx = np.flatnonzero(low)
            mag[idx] = _low_lanes(u0[idx], (u0[idx] >> t(sbit)).astype(bool),
                                  None if tail is None else tail(idx), fmt, mode, E, Ms, t)
        if fmt.specials == "ieee" and fmt.subnormals and not fmt.saturate:
            # the common case in fewer passes: the sign bit moved from the head, and under
            # RNE/RNA every magnitude above max (overflows, non-finite heads) clipped to the
            # infinity, the overflow code of both signs there
            if nearest:
                np.minimum(mag, t(fmt.inf_code), out=mag)
            else:
                over = mag > t(fmt.max_finite_code)
                if over.any():
                    idx = np.flatnonzero(over)
                    mag[idx] = np.where(sign[idx], t(fmt.overflow_code(True, mode)),
                                        t(fmt.overflow_code(False, mode)))
            top = u >> t(sbit - fmt.bits + 1)
            top &= t(1 << (fmt.bits - 1))
            mag |= top
            codes = mag.astype(fmt.dtype)
        else:
            if sign is None:
                sign = (u >> t(sbit)).astype(bool)
            over = mag > t(fmt.max_finite_code)
            if fmt.bits <= 32:
                mag = mag.astype(np.uint32)  # over lanes may wrap: they are replaced
            codes = _finish_float(sign, mag, over, fmt, mode)
    if special_sign is not None:
        idx, is_nan = special
        ft = fmt.dtype.type
        vals = np.where(special_sign, ft(fmt.inf_result_code(True)),
                        ft(fmt.inf_result_code(False)))
        codes[idx] = np.where(is_nan, ft(fmt.nan_result_code), vals)
    return codes


def exact_scalable(fmt, dtype, q) -> bool:
    """Whether :func:`round_pack_exact` can round to ``fmt`` exact ``dtype`` values whose
    smallest non-zero magnitude is ``2**q``: ``fmt`` is a scaled destination of the dtype
    (:func:`binary_covers` with ``scaled``), every such value is a normal value of the dtype
    (its bit pattern holds the exponent), and the power of two that measures the scaled values
    below the dtype's normal range in units of its subnormal grid, as well as the smallest of
    them so measured, are normal values of the dtype too (destinations with far-off custom
    biases are not)."""
    if not binary_covers(fmt, dtype, scaled=True):
        return False
    info = np.finfo(dtype)
    units = info.nmant - info.minexp  # the subnormal grid's unit is 2**-units
    e = units + binary_scale(fmt, dtype)  # 2**e: the measuring factor
    return (q >= info.minexp and info.minexp <= e <= info.maxexp - 1
            and q + e >= info.minexp)


def round_pack_exact(head, fmt, rounding="RNE", *, workspace=None):
    """Round exact float32/float64 values ``head`` (normal, zero or not finite; not scaled)
    once to ``fmt``, a destination with another exponent field than the dtype's, as scaled
    heads (:func:`round_pack_binary` with ``scaled``): the caller has shown
    :func:`exact_scalable` for the values' smallest magnitude. A NaN head is a NaN result, an
    infinite head an exact infinity. ``workspace`` (a spent array of head's dtype and size, not
    overlapping it, or None for a fresh one) receives the scaled heads and the rounding's work.

    The values times ``2**binary_scale(fmt, dtype)`` are written as heads that round as the
    exact scaled values do (:func:`_scale_to_odd`); the one rounding happens below."""
    mode = check_rounding(rounding)
    head = np.asarray(head)
    if head.ndim != 1 or not binary_covers(fmt, head.dtype, scaled=True):
        raise ValueError(f"round_pack_exact cannot round {head.dtype} arrays of shape "
                         f"{head.shape} to {fmt}")
    out = np.empty_like(head) if workspace is None else workspace
    v, special = _scale_to_odd(head, -binary_scale(fmt, head.dtype), out)
    return round_pack_binary(v, fmt, mode, scaled=True, special=special, overwrite=True)


def _scale_to_odd(h, K, out):
    """Values ``h`` of a binary dtype (float32 or float64; normal, zero or not finite) times
    ``2**-K`` (``K >= 0``), written to ``out`` (same dtype and size, not overlapping ``h``) as a
    head that rounds as the exact scaled value does to any destination whose rounding
    boundaries lie at least two grid steps of the dtype apart (:func:`binary_covers`), and
    the special lanes as ``(idx, is_nan)`` (see :func:`round_pack_binary`).

    Normal results get their exponent field lowered by ``K`` (an integer subtraction). Results
    below the dtype's normal range are rounded to odd on its subnormal grid: their magnitude
    in units of that grid (``|h| * 2**(1074 - K)`` in float64, ``2**(149 - K)`` in float32: an
    exact power-of-two scaling to a normal value below ``2**52``, ``2**23``) is cut to its
    integer part, whose last bit is set where a fraction was cut off (the comparison of the
    two is exact). That head is the exact value where the value is on the grid, else a point
    strictly between the same two grid neighbours, never a rounding boundary: this encodes the
    sticky bit, it decides nothing. (A float multiplication by ``2**-K`` would round those
    results to nearest, and takes a slow microcode path for every subnormal result on x86:
    about 2.7 ns per element on random fp32 products in float64, one in eight of which is
    one.) Non-finite lanes become zeros of their sign: their codes are replaced."""
    ut, one_field, exp_mask, sign, units = _ODD[h.dtype]
    u = h.view(ut)
    v = out.view(ut)
    # the lanes below and the non-finite ones in one test: field + 1 (mod 2**E) <= K + 1
    np.add(u, one_field, out=v)
    v &= exp_mask
    odd = np.flatnonzero(v <= one_field * ut.type(K + 1))
    np.subtract(u, one_field * ut.type(K), out=v)  # wraps in the lanes below: replaced
    special = None
    if odd.size:
        hi = h[odd]
        w = np.abs(hi)
        fin = np.isfinite(w)
        if not fin.all():
            nf = np.flatnonzero(~fin)
            special = (odd[nf], np.isnan(w[nf]))
            w[nf] = 0  # any finite value: these codes are replaced
        w *= h.dtype.type(2.0 ** (units - K))
        kept = w.astype(ut)
        kept |= kept != w
        kept |= hi.view(ut) & sign
        v[odd] = kept
    return out, special


#: per head dtype, from :data:`_BINARY`: unsigned pattern dtype, one unit of the exponent
#: field, the exponent field's mask, the sign bit, and the exponent of the subnormal grid's
#: unit (negated: bias - 1 + fraction bits, 1074 for float64, 149 for float32)
_ODD = {dt: (np.dtype(ut), ut(1 << Ms), ut(((1 << E) - 1) << Ms), ut(1 << (E + Ms)),
             (1 << (E - 1)) - 2 + Ms)
        for dt, (E, Ms, ut) in _BINARY.items()}


class OperandTail:
    """The tail stand-in of sums ``h = fl(x + y)`` whose tail can only matter where the head
    equals an operand (the caller has shown that every other inexact head lies strictly between
    two rounding boundaries of the destination, and that both operands are grid points of it):
    ``y`` where ``h == x``, ``x`` where ``h == y``, else 0 — the exact tail's sign wherever the
    kernel reads it. Called like any tail (``tail(idx)``); :func:`_nudge` reads the operands'
    bit patterns instead, in fewer passes."""

    __slots__ = ("x", "y", "h")

    def __init__(self, x, y, h):
        self.x, self.y, self.h = x, y, h

    def __call__(self, idx):
        x, y, h = (self.x, self.y, self.h) if idx is None else (self.x[idx], self.y[idx],
                                                                self.h[idx])
        # at most one product is non-zero (h == x == y only for zeros), so the sum is exact;
        # the kernel reads finite heads only, whose operands are finite
        t = y * (h == x)
        t += x * (h == y)
        return t


def _nudge_at_operands(u, tail):
    """:func:`_nudge` for an :class:`OperandTail`: a head equal to one operand (bit for bit)
    while neither operand is zero moves one step toward the exact sum, on the other operand's
    side. Such a head has the sign of the operand it equals, so it moves up in magnitude where
    the operands' signs agree and down where they differ. Those heads are grid points of fmt
    (boundaries in every mode); no other head moves. A non-finite head equal to an operand (an
    infinite or NaN operand) may move too: its lane is a special one, whose code the caller
    replaces."""
    x, y = tail.x, tail.y
    at = u == x.view(u.dtype)
    at |= u == y.view(u.dtype)
    at &= x != 0
    at &= y != 0
    # the step as one small integer per lane (one add of mixed types costs as much as a plain
    # one): 1 - 2 * (signs differ) where the head moves, else 0
    step = np.signbit(x)
    step ^= np.signbit(y)
    step = step.view(np.int8)
    step *= np.int8(-2)
    step += np.int8(1)
    step *= at.view(np.int8)
    return (u.view(_SIGNED[u.dtype]) + step).view(u.dtype)


_SIGNED = {np.dtype(np.uint32): np.dtype(np.int32), np.dtype(np.uint64): np.dtype(np.int64)}


def _nudge(u, tail, s, mode, t, exp_all, top):
    """Move the finite heads that sit on a rounding boundary of fmt one dtype step toward a
    non-zero tail. Only the boundaries where the tail can matter are looked at: midpoints
    (low s bits 100...0) for RNE/RNA, grid points (low s bits zero) for the directed modes
    (a nudge elsewhere would not change the result either)."""
    if isinstance(tail, OperandTail):
        return _nudge_at_operands(u, tail)
    at = t(1 << (s - 1)) if mode in ("RNE", "RNA") else t(0)
    cand = (u & t((1 << s) - 1)) == at
    k = np.count_nonzero(cand)
    if not k:
        return u
    # +1 / -1 on the bit pattern is one step of magnitude (the sign bit is untouched: a
    # non-zero tail implies a non-zero head); -1 where the tail's sign is not the head's
    if 8 * k > cand.size:
        tl = tail(None)
        cand &= (tl != 0) & ((u & exp_all) != exp_all)
        opposite = (tl.view(u.dtype) ^ u) >> top
        return u + cand.astype(u.dtype) * (t(1) - (opposite << t(1)))
    idx = np.flatnonzero(cand)
    ui = u[idx]
    ti = tail(idx)
    live = (ti != 0) & ((ui & exp_all) != exp_all)
    opposite = (ti.view(u.dtype) ^ ui) >> top
    u = u.copy()
    u[idx] = ui + live.astype(u.dtype) * (t(1) - (opposite << t(1)))
    return u


def _low_lanes(u, sign, tail, fmt, mode, E, Ms, t):
    """Magnitude codes of heads (bit patterns ``u``, not nudged) below ``fmt``'s normal range
    (zeros included): the significand shifted to ``fmt``'s subnormal grid by the one rounding
    decision; with a tail, the significand is doubled and the tail's direction enters as its
    last bit and sticky (an odd doubled significand is never a rounding boundary of ``fmt``,
    so the exact value and this stand-in round alike)."""
    m = u & t((1 << (E + Ms)) - 1)
    field = (m >> t(Ms)).astype(np.int64)
    frac = (m & t((1 << Ms) - 1)).astype(np.int64)
    sig = np.where(field == 0, frac, frac | (1 << Ms))
    # LSB exponent of the head: max(field, 1) - bias - Ms; of fmt's subnormals: emin - M
    shift = (fmt.emin + (1 << (E - 1)) - 1) - np.maximum(field, 1) + (Ms - fmt.man_bits)
    if tail is None:
        return _shift_right_round(sig, shift, sign, mode, None)
    nz = (tail != 0)
    below = nz & ((tail.view(u.dtype) ^ u) >> t(E + Ms) == 1)
    return _shift_right_round(2 * sig - below, shift + 1, sign, mode, nz)


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
    kept = _shift_right_round(low << np.where(huge, np.minimum(left, n), left), shift, sign, mode,
                              sticky)
    k = np.where(sign, -kept, kept)
    if ovf == "SAT":
        k = np.where(huge, np.where(sign, fmt.kmin, fmt.kmax), k)
        k = np.clip(k, fmt.kmin, fmt.kmax)
    return (k & ((np.int64(1) << n) - 1)).astype(fmt.dtype)
