"""Exact (Kulisch) accumulation: the exact sum of many terms, rounded once.

Every term is unpacked to an exact integer significand and exponent in its own format, the terms
are aligned to the lowest exponent and added with exact integer arithmetic (int64 while the
aligned width fits, Python integers otherwise), and the single rounding is the golden kernel
:func:`~ulpflow.golden.rounding.round_pack`. This is the arithmetic of a Kulisch accumulator: an
order-independent sum with one rounding at the end.

:func:`exact_accumulate` is used by :func:`ulpflow.golden.exact_sum` (all terms of one format)
and by network layers built with ``accumulate="exact"`` (products in the product format, the
bias in the accumulator format, the result rounded once to the accumulator format).

Specials follow IEEE 754: any NaN, or +inf together with −inf, gives NaN; otherwise an infinity
gives that infinity. Both are encoded into the destination format by the golden core's own
policy (:func:`~ulpflow.golden.convert` of the special from the format it came in), so a
destination without infinities or without NaN behaves exactly as a rounded addition would. An
exact zero sum is −0 when every term is −0, or when the rounding is RDN and some term is −0 or
the terms cancel; otherwise +0 (fnuz formats have no −0). A non-zero sum that rounds to zero
keeps its sign. These are the results of a sequential IEEE sum over the same zeros and
infinities. Fixed-point sums are exact up to the destination's overflow policy, applied once.
"""

from __future__ import annotations

import numpy as np

from . import arith
from .formats import CLASS_INF, CLASS_NAN
from .rounding import bit_length, check_rounding, round_pack

__all__ = ["exact_accumulate", "fused_accumulate"]


def _unpack(codes, fmt):
    """Exact ``(neg, sig, exp, nan, inf)`` of codes: value = (-1)^neg * sig * 2^exp.

    Uses the format's own unpacking: flush-to-zero formats read subnormals as signed zero, and
    the fnuz NaN code is a NaN, not −0. Zeros, infinities and NaNs get ``sig = 0``.
    """
    neg, sig, exp, cls = fmt.unpack(codes, raw=True)
    return (np.asarray(neg, dtype=bool), np.asarray(sig, dtype=np.int64), np.asarray(exp, dtype=np.int64),
            cls == CLASS_NAN, cls == CLASS_INF)


def exact_accumulate(columns, formats, out, rounding="RNE", *, overflow=None, strict=None):
    """The exact sum of ``columns[0] + columns[1] + …`` rounded once to ``out``.

    Parameters
    ----------
    columns : sequence of code arrays, all of one shape
        Column ``k`` holds codes of ``formats[k]`` (already checked by the caller).
    formats : sequence of formats, one per column
    out : FloatFormat or FixedFormat
        Destination format of the single rounding.
    rounding : str
    overflow : str, optional
        Fixed-point destinations: ``"SAT"`` or ``"WRAP"`` instead of the format's own policy.
    strict : bool, optional
        NaN sums into a format without NaN, as for :func:`~ulpflow.golden.arith.add`: raise
        naming the lanes, or (``False``) the format's substitute lane by lane.

    Returns
    -------
    codes of ``out``, of the columns' shape.
    """
    mode = check_rounding(rounding)
    if len(columns) != len(formats) or not columns:
        raise ValueError(f"exact_accumulate needs one format per column and at least one column, got "
                         f"{len(columns)} columns and {len(formats)} formats")
    out_shape = np.shape(columns[0])
    parts = [_unpack(np.asarray(c).reshape(-1), f) for c, f in zip(columns, formats)]
    neg, sig, exp, nan, inf = (np.stack([p[i] for p in parts], axis=1) for i in range(5))
    n = len(columns)

    # Align every term to the lowest exponent of a non-zero term; bits needed above it:
    nonzero = sig != 0
    lo_exp = int(exp[nonzero].min()) if nonzero.any() else 0
    hi_exp = int(exp[nonzero].max()) if nonzero.any() else 0
    exp = np.where(nonzero, exp, lo_exp)
    sig_bits = int(sig.max()).bit_length() if sig.size else 0
    width = (hi_exp - lo_exp) + sig_bits + max(n, 1).bit_length() + 1
    if width <= 62:
        aligned = sig << (exp - lo_exp)
        signed = np.where(neg, -aligned, aligned)
        total = signed[:, 0].copy()
        for k in range(1, n):
            total = total + signed[:, k]
        s_neg = total < 0
        mag = np.abs(total)
        sticky = None
        e = np.full(mag.shape, lo_exp, dtype=np.int64)
    else:
        shifts = (exp - lo_exp).astype(object)
        big = sig.astype(object) << shifts  # exact Python integers
        signed = np.where(neg, -big, big)
        total = signed[:, 0].copy()
        for k in range(1, n):
            total = total + signed[:, k]
        s_neg = np.array([t < 0 for t in total], dtype=bool)
        mags = [abs(int(t)) for t in total]
        # Keep at most 60 significant bits; the rest goes into the sticky bit (>= 2 guard bits
        # remain below any format's rounding position, as round_pack requires).
        keep = 60
        m_out, e_out, st_out = [], [], []
        for m in mags:
            drop = max(m.bit_length() - keep, 0)
            m_out.append(m >> drop)
            e_out.append(lo_exp + drop)
            st_out.append(drop > 0 and (m & ((1 << drop) - 1)) != 0)
        mag = np.array(m_out, dtype=np.int64).reshape(total.shape)
        e = np.array(e_out, dtype=np.int64).reshape(total.shape)
        sticky = np.array(st_out, dtype=bool).reshape(total.shape)

    zero_sum = mag == 0
    if zero_sum.any():
        is_zero_term = sig == 0
        all_neg_zero = np.all(is_zero_term & neg, axis=1)  # np.all is a boolean test, not a sum
        any_neg_zero = np.any(is_zero_term & neg, axis=1)
        all_zero_terms = np.all(is_zero_term, axis=1)
        if mode == "RDN":
            zsign = (~all_zero_terms) | any_neg_zero
        else:
            zsign = all_neg_zero
        s_neg = np.where(zero_sum, zsign, s_neg)
    pos_inf = np.any(inf & ~neg, axis=1)
    neg_inf = np.any(inf & neg, axis=1)
    result_nan = np.any(nan, axis=1) | (pos_inf & neg_inf)
    result_inf = (pos_inf | neg_inf) & ~result_nan
    if arith.nan_is_refused(strict, out):
        arith.refuse_nan_lanes("exact sum", result_nan.reshape(out_shape), out)
    # the specials go to the kernel as masks: the format's policy decides what they become
    s_neg = np.where(result_inf, neg_inf, s_neg)
    codes = round_pack(s_neg, mag, e, out, mode, sticky=sticky, overflow=overflow,
                       nan=result_nan, inf=result_inf)
    return np.asarray(codes).astype(out.dtype).reshape(out_shape)


# ---------------------------------------------------------------------- fused (truncated) sums
def _fused_term(term, spec):
    """``(neg, sig, exp, e, nan, inf)`` of one term of a fused node, flattened.

    ``term`` is ``(codes, fmt)`` (a code) or ``(a, fa, b, fb)`` (an exact product). The value is
    ``(-1)^neg · sig · 2^exp``; ``e`` is the term's exponent label of :class:`FusedSpec`
    (``e_zero`` for zeros).
    """
    if len(term) == 2:
        parts = [term]
    elif len(term) == 4:
        parts = [term[:2], term[2:]]
    else:
        raise ValueError(f"a fused term is (codes, format) or (a, fa, b, fb), not {len(term)} items")
    unpacked = []
    for codes, fmt in parts:
        if getattr(fmt, "kind", None) != "float":
            raise TypeError(f"fused sums take float codes, not codes of {fmt}")
        neg, sig, exp, cls = fmt.unpack(np.asarray(codes).reshape(-1), raw=True)
        sig = np.asarray(sig, dtype=np.int64)
        # raw unpacking: a normal's LSB is 2^(e - M) and a subnormal's 2^(emin - M), so the
        # exponent label is exp + M in both cases
        unpacked.append((np.asarray(neg, dtype=bool), sig, np.asarray(exp, dtype=np.int64),
                         np.asarray(exp, dtype=np.int64) + fmt.man_bits, cls == CLASS_NAN, cls == CLASS_INF))
    if len(unpacked) == 1:
        neg, sig, exp, e, nan, inf = unpacked[0]
    else:
        (na, sa, xa, ea, nana, infa), (nb, sb, xb, eb, nanb, infb) = unpacked
        if parts[0][1].p + parts[1][1].p > 60:
            raise ValueError(f"fused products of {parts[0][1]} × {parts[1][1]} are wider than 60 bits")
        za = (sa == 0) & ~nana & ~infa
        zb = (sb == 0) & ~nanb & ~infb
        neg, sig, exp, e = na ^ nb, sa * sb, xa + xb, ea + eb
        nan = nana | nanb | (infa & zb) | (za & infb)
        inf = (infa | infb) & ~nan
    e = np.where(sig == 0, spec.e_zero, e)
    return neg, sig, exp, e, nan, inf


def fused_accumulate(terms, spec, *, shape=None):
    """One fused node: the truncated fused sum of ``terms``, rounded once (:class:`FusedSpec`).

    Parameters
    ----------
    terms : sequence of tuples
        Each ``(codes, fmt)`` (a term given as a code of a float format) or ``(a, fa, b, fb)``
        (the exact product of codes ``a`` of ``fa`` and ``b`` of ``fb``); the code arrays of all
        terms have one shape (already checked by the caller).
    spec : FusedSpec
    shape : tuple, optional
        The shape of the result (default: that of the first term's codes).

    Returns
    -------
    codes of ``spec.container``.

    Notes
    -----
    Integer arithmetic only: every truncated term is an integer multiple of ``2^(e_max − F)``
    below ``2^(F+2)`` in magnitude, so the sum is exact in int64 up to ``2^60`` (Python integers
    beyond); the one rounding is :func:`~ulpflow.golden.rounding.round_pack`.
    """
    if not terms:
        raise ValueError("a fused sum needs at least one term")
    out_shape = np.shape(terms[0][0]) if shape is None else tuple(shape)
    parts = [_fused_term(t, spec) for t in terms]
    size = parts[0][0].size
    for p in parts:
        if p[0].size != size:
            raise ValueError(f"the terms of a fused sum must all have one shape; got {size} and {p[0].size} lanes")
    neg, sig, exp, e, nan, inf = (np.stack([p[i] for p in parts], axis=1) for i in range(6))
    n = len(parts)
    F = spec.F
    e_max = e[:, 0].copy()
    for k in range(1, n):
        e_max = np.maximum(e_max, e[:, k])
    shift = exp - e_max[:, None] + F
    left = np.clip(shift, 0, 62)
    right = np.clip(-shift, 0, 63)
    # |term| < 4·2^e ≤ 4·2^e_max, so a left shift stays below 2^(F+2); a right shift truncates
    # the magnitude (toward zero)
    mag = np.where(shift >= 0, sig << left, sig >> right)
    signed = np.where(neg, -mag, mag)
    if F + 2 + n.bit_length() <= 62:
        total = signed[:, 0].copy()
        for k in range(1, n):
            total = total + signed[:, k]
        s_neg = total < 0
        s_mag = np.abs(total)
        lsb = e_max - F
        sticky = None
    else:  # exact Python integers, then at most 60 significant bits + sticky for the kernel
        big = signed.astype(object)
        total = big[:, 0].copy()
        for k in range(1, n):
            total = total + big[:, k]
        s_neg = np.array([t < 0 for t in total], dtype=bool)
        m_out, e_out, st_out = [], [], []
        for t, lo in zip(total, (e_max - F).tolist()):
            m = abs(int(t))
            drop = max(m.bit_length() - 60, 0)
            m_out.append(m >> drop)
            e_out.append(lo + drop)
            st_out.append(drop > 0 and (m & ((1 << drop) - 1)) != 0)
        s_mag = np.array(m_out, dtype=np.int64)
        lsb = np.array(e_out, dtype=np.int64)
        sticky = np.array(st_out, dtype=bool)
    out = spec.out_format
    pos_inf = np.any(inf & ~neg, axis=1)
    neg_inf = np.any(inf & neg, axis=1)
    result_nan = np.any(nan, axis=1) | (pos_inf & neg_inf)
    result_inf = (pos_inf | neg_inf) & ~result_nan
    # a finite sum at or beyond 2^(emax+1) overflows to ±inf, whatever the rounding direction
    overflow = ~result_nan & ~result_inf & (bit_length(s_mag) - 1 + lsb >= out.emax + 1) & (s_mag != 0)
    s_neg = np.where(result_inf, neg_inf, s_neg & (s_mag != 0))
    codes = round_pack(s_neg, s_mag, lsb, out, spec.rounding, sticky=sticky,
                       nan=result_nan, inf=result_inf | overflow)
    codes = np.asarray(codes).astype(out.dtype)
    # a zero result is +0, also when a non-zero sum rounds to zero
    neg_zero = np.uint64(1) << np.uint64(out.bits - 1)
    codes = np.where(codes.astype(np.uint64) == neg_zero, out.zero_code, codes).astype(out.dtype)
    box = spec.container
    if box != out:
        codes = arith.convert(codes, out, box, strict=False)
    codes = np.where(result_nan, spec.nan_code, codes).astype(box.dtype)
    return codes.reshape(out_shape)
