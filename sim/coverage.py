"""Functional coverage: how many operand pairs hit each numeric class, measured with golden.

Vector construction (:mod:`ulpflow.sim.vectors`) only proposes candidates. What a vector
actually exercises is measured by :func:`coverage`, which classifies each pair with golden arithmetic: the exact result is
rounded into a format one bit finer (same smallest exponent, wider exponent range) in both
directed modes; equal results mean the exact value is known, and its last bit says whether the
rounding position holds an exact tie. The counts are therefore true, not assumed.

Coverage classes (a vector may be in several):

=====================  =========================================================================
``zero``               an operand is zero, or the exact result is zero
``subnormal``          an operand or the rounded result is subnormal
``tie-even``           the exact result lies halfway between two neighbours, the lower-magnitude
                       one even (RNE keeps it)
``tie-odd``            same, lower-magnitude neighbour odd (RNE rounds away from zero)
``carry-out``          rounding carries out of the significand: the rounded result is the next
                       power of two above the exact result's binade (and is normal)
``cancellation``       effective subtraction of nonzero operands whose exact result lost at least
                       two leading bits against the larger operand (exact zero included)
``underflow``          the exact result is nonzero and below the smallest normal (fixed point:
                       below one ulp)
``overflow-threshold`` the exact magnitude lies above max and below max + 1 ulp: rounding alone
                       decides between max and overflow (fixed point: out of range by at most one
                       ulp)
``inf``                an operand or the result is infinite
``nan``                an operand or the result is NaN
=====================  =========================================================================

Details reported as well: ``overflow-tie`` (exactly max + half an ulp), ``underflow-to-zero``
(a nonzero exact result rounded to zero), ``round-to-min-normal`` (a subnormal exact result
rounded up to the smallest normal) and ``overflow`` (the rounded result exceeds max).

Only the golden format API and golden operations are used, so every format works: floats of
any exponent/fraction width, bias, specials style and subnormal mode, and fixed point.

Examples
--------
>>> from ulpflow.golden import parse_format
>>> from ulpflow.sim import vectors
>>> fp16 = parse_format("fp16")
>>> a, b = vectors.level1(fp16, "add")
>>> cov = coverage(a, b, fp16, "add")
>>> cov["tie-even"] > 0 and cov["cancellation"] > 0
True
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

import ulpflow.golden as golden

from .codes import check_format, check_op, code_triple, golden_op

__all__ = ["CLASSES", "DETAILS", "classes", "coverage", "format_coverage"]

#: Coverage classes, in report order.
CLASSES = (
    "zero",
    "subnormal",
    "tie-even",
    "tie-odd",
    "carry-out",
    "cancellation",
    "underflow",
    "overflow-threshold",
    "inf",
    "nan",
)
#: Finer counts reported after the classes.
DETAILS = ("overflow-tie", "underflow-to-zero", "round-to-min-normal", "overflow")

# ----------------------------------------------------------------------------------------------
# Coverage


def classes(fmt, op: str) -> tuple[str, ...]:
    """The coverage classes that exist for ``op`` in ``fmt`` (a subset of CLASSES).

    Decided by the format's features (subnormals, inf, NaN) and the operation (cancellation
    needs add/sub; fixed point has neither carries nor subnormals). A very small format may
    still be unable to reach one: e2m1fn products never land between max and max + 1 ulp.
    """
    fmt = check_format(fmt)
    op = check_op(op)
    if fmt.kind == "fixed":
        found = ["zero", "overflow-threshold"]
        if op == "mul" and fmt.frac_bits >= 1:
            found += ["tie-even", "tie-odd", "underflow"]
        return tuple(c for c in CLASSES if c in found)
    found = set(CLASSES)
    if not (fmt.subnormals and fmt.man_bits > 0):
        found.discard("subnormal")
    if op == "mul":
        found.discard("cancellation")
    if fmt.inf_code is None:
        found.discard("inf")
    if fmt.nan_code is None:
        found.discard("nan")
    return tuple(c for c in CLASSES if c in found)


def _wide_formats(fmt):
    """``(fine, same)``: formats one bit finer than ``fmt`` and of the same precision, both with
    the same smallest exponent and a wider exponent range (so nothing overflows); None for a
    format that would exceed 64 bits."""
    FloatFormat = golden.FloatFormat
    fine = FloatFormat(fmt.exp_bits + 1, fmt.man_bits + 1, bias=fmt.bias) if fmt.bits + 2 <= 64 else None
    same = (FloatFormat(fmt.exp_bits + 1, fmt.man_bits, bias=fmt.bias, subnormals=fmt.subnormals)
            if fmt.bits + 1 <= 64 else None)
    return fine, same


def coverage(a, b, fmt, op: str, *, rounding=None) -> dict[str, int]:
    """How many vectors hit each numeric class, measured with golden arithmetic.

    Parameters
    ----------
    a, b : code arrays of one length
    fmt : golden format of both operands and the result
    op : {"add", "sub", "mul"}
    rounding : str, optional
        Rounding mode of the operation (RNE by default); it matters for the classes about the
        rounded result (carry-out, overflow, underflow to zero, subnormal results).

    Returns
    -------
    dict of str to int
        One count per entry of :data:`CLASSES` then :data:`DETAILS`, plus ``"vectors"``.
    """
    fmt = check_format(fmt)
    op = check_op(op)
    a = fmt.check_codes(a)
    b = fmt.check_codes(b)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a and b must be 1-D arrays of one length, got shapes {a.shape} and {b.shape}")
    counts = dict.fromkeys(CLASSES + DETAILS, 0)
    if fmt.kind == "fixed":
        masks = _coverage_fixed(a, b, fmt, op, rounding)
    else:
        masks = _coverage_float(a, b, fmt, op, rounding)
    for name, mask in masks.items():
        counts[name] = int(np.count_nonzero(mask))
    counts["vectors"] = int(a.size)
    return counts


def _coverage_float(a, b, fmt, op, rounding):
    g = golden
    fn = golden_op(op)
    M = fmt.man_bits
    ca, cb = fmt.classify(a), fmt.classify(b)
    finite_ops = (ca <= g.CLASS_NORMAL) & (cb <= g.CLASS_NORMAL)
    result = fn(a, b, fmt, rounding=rounding)
    cr = fmt.classify(result)
    m = {}
    m["nan"] = (ca == g.CLASS_NAN) | (cb == g.CLASS_NAN) | (cr == g.CLASS_NAN)
    m["inf"] = (ca == g.CLASS_INF) | (cb == g.CLASS_INF) | (cr == g.CLASS_INF)
    m["subnormal"] = (ca == g.CLASS_SUBNORMAL) | (cb == g.CLASS_SUBNORMAL) | (cr == g.CLASS_SUBNORMAL)

    fine, same = _wide_formats(fmt)
    # the rounding without overflow: carry-out and overflow
    try:
        unbounded = fn(a, b, fmt, rounding=rounding, out=same) if same is not None else None
    except ValueError:
        unbounded = None
    try:
        if fine is None:
            raise ValueError(f"no format one bit finer than {fmt}")
        up = fn(a, b, fmt, rounding="RUP", out=fine)
        dn = fn(a, b, fmt, rounding="RDN", out=fine)
    except ValueError:
        # the finer format is beyond what golden arithmetic handles: exact Fractions instead
        exact = _exact_fractions(a, b, fmt, op, finite_ops)
        rounded = result if unbounded is None else unbounded
        return m | _classify_fractions(exact, a, b, fmt, op, result, fmt if unbounded is None else same, rounded)
    sign_bit = np.uint64(1 << (fine.bits - 1))
    mu = up.astype(np.uint64) & ~sign_bit
    md = dn.astype(np.uint64) & ~sign_bit
    lo, hi = np.minimum(mu, md), np.maximum(mu, md)  # |x| lies in [lo, hi] (magnitude codes)
    is_exact = mu == md
    zero_x = finite_ops & (hi == 0)
    nonzero = finite_ops & (hi != 0)
    # leading-bit exponent of x (from the magnitude rounded toward zero); -inf when it is below
    # even the fine format's smallest subnormal
    _, lead_x, _ = code_triple(fine, np.where(lo == 0, 0, lo).astype(fine.dtype))
    lead_x = np.where(lo == 0, np.iinfo(np.int64).min // 2, lead_x)

    tie = nonzero & is_exact & ((mu & np.uint64(1)) == 1)
    odd = ((mu >> np.uint64(1)) & np.uint64(1)) == 1
    m["tie-even"] = tie & ~odd
    m["tie-odd"] = tie & odd
    m["zero"] = (ca == g.CLASS_ZERO) | (cb == g.CLASS_ZERO) | zero_x

    # thresholds as fine-format magnitude codes
    def fine_code(value: Fraction) -> np.uint64:
        return np.uint64(int(np.asarray(fine.encode([value])).ravel()[0]))

    max_v = Fraction(fmt.decode_fraction(np.array([fmt.max_finite_code], fmt.dtype))[0])
    ulp_max = Fraction(2) ** (fmt.emax - M)
    t_max, t_top, t_tie = fine_code(max_v), fine_code(max_v + ulp_max), fine_code(max_v + ulp_max / 2)
    above_max = (lo > t_max) | ((lo == t_max) & ~is_exact)
    below_top = (hi < t_top) | ((hi == t_top) & ~is_exact)
    m["overflow-threshold"] = nonzero & above_max & below_top
    m["overflow-tie"] = nonzero & is_exact & (mu == t_tie)

    tiny = nonzero & (lead_x < fmt.emin)
    m["underflow"] = tiny
    m["underflow-to-zero"] = tiny & (cr == g.CLASS_ZERO)
    res_mag = result.astype(np.uint64) & np.uint64((1 << (fmt.bits - 1)) - 1)
    m["round-to-min-normal"] = tiny & (res_mag == np.uint64(fmt.min_normal_code))

    r = unbounded
    _, _, re, rcls = same.unpack(r)
    lead_r = re.astype(np.int64) + M
    r_nonzero = (rcls == g.CLASS_NORMAL) | (rcls == g.CLASS_SUBNORMAL)
    m["carry-out"] = nonzero & r_nonzero & (lead_r > lead_x) & (lead_r >= fmt.emin)
    same_max = np.uint64(int(np.asarray(same.encode([max_v])).ravel()[0]))
    r_mag = r.astype(np.uint64) & np.uint64((1 << (same.bits - 1)) - 1)
    m["overflow"] = nonzero & r_nonzero & (r_mag > same_max)

    if op in ("add", "sub"):
        sa, la, _ = code_triple(fmt, a)
        sb, lb, _ = code_triple(fmt, b)
        nz_ops = ((ca == g.CLASS_NORMAL) | (ca == g.CLASS_SUBNORMAL)) & (
            (cb == g.CLASS_NORMAL) | (cb == g.CLASS_SUBNORMAL))
        effective_sub = (sa != sb) if op == "add" else (sa == sb)
        lost = np.maximum(la, lb) - lead_x
        m["cancellation"] = nz_ops & effective_sub & (zero_x | (lost >= 2))
    return m


def _exact_fractions(a, b, fmt, op, finite_ops):
    """Exact results as Fractions (None where an operand is not finite), for formats whose
    one-bit-finer twin golden arithmetic cannot compute in (the slower path)."""
    fa = fmt.decode_fraction(a)
    fb = fmt.decode_fraction(b)
    out = np.empty(a.shape, dtype=object)
    for i in range(a.size):
        if not finite_ops[i]:
            out[i] = None
        elif op == "add":
            out[i] = fa[i] + fb[i]
        elif op == "sub":
            out[i] = fa[i] - fb[i]
        else:
            out[i] = fa[i] * fb[i]
    return out


def _classify_fractions(exact, a, b, fmt, op, result, r_fmt, rounded):
    """Classes from exact Fractions; ``rounded`` (codes of ``r_fmt``) is the rounding of each
    exact result with as wide an exponent range as available (for carry-out and overflow)."""
    g = golden
    M = fmt.man_bits
    ca, cb = fmt.classify(a), fmt.classify(b)
    max_v = Fraction(fmt.decode_fraction(np.array([fmt.max_finite_code], fmt.dtype))[0])
    ulp_max = Fraction(2) ** (fmt.emax - M)
    n = a.size
    keys = ("tie-even", "tie-odd", "zero", "overflow-threshold", "overflow-tie", "underflow",
            "carry-out", "overflow", "cancellation")
    m = {k: np.zeros(n, bool) for k in keys}
    cr = fmt.classify(result)
    rv = r_fmt.decode_fraction(rounded)
    la = lb = None
    if op in ("add", "sub"):
        _, la, _ = code_triple(fmt, a)
        _, lb, _ = code_triple(fmt, b)
    for i in range(n):
        x = exact[i]
        if x is None:
            continue
        if x == 0:
            m["zero"][i] = True
            if op != "mul" and ca[i] != g.CLASS_ZERO and cb[i] != g.CLASS_ZERO:
                sa, sb = fmt.sign(a[i:i + 1])[0], fmt.sign(b[i:i + 1])[0]
                m["cancellation"][i] = (sa != sb) if op == "add" else (sa == sb)
            continue
        ax = abs(x)
        lead = ax.numerator.bit_length() - ax.denominator.bit_length()
        if Fraction(2) ** lead > ax:
            lead -= 1
        q = max(lead, fmt.emin) - M  # exponent of the rounding position's unit
        scaled = ax / Fraction(2) ** q
        frac = scaled - (scaled.numerator // scaled.denominator)
        if frac == Fraction(1, 2):
            trunc = scaled.numerator // scaled.denominator
            m["tie-odd" if trunc & 1 else "tie-even"][i] = True
        m["overflow-threshold"][i] = max_v < ax < max_v + ulp_max
        m["overflow-tie"][i] = ax == max_v + ulp_max / 2
        m["underflow"][i] = lead < fmt.emin
        r = rv[i]
        if isinstance(r, Fraction) and r != 0:
            ar = abs(r)
            lr = ar.numerator.bit_length() - ar.denominator.bit_length()
            if Fraction(2) ** lr > ar:
                lr -= 1
            m["carry-out"][i] = lr > lead and lr >= fmt.emin
        if r_fmt is fmt:
            # no wider format (64-bit formats): the RNE threshold, exact but mode-blind
            m["overflow"][i] = ax >= max_v + ulp_max / 2
        else:
            m["overflow"][i] = isinstance(r, Fraction) and abs(r) > max_v
        if op in ("add", "sub") and ca[i] != g.CLASS_ZERO and cb[i] != g.CLASS_ZERO:
            sa, sb = fmt.sign(a[i:i + 1])[0], fmt.sign(b[i:i + 1])[0]
            eff = (sa != sb) if op == "add" else (sa == sb)
            m["cancellation"][i] = eff and max(la[i], lb[i]) - lead >= 2
    m["underflow-to-zero"] = m["underflow"] & (cr == g.CLASS_ZERO)
    res_mag = result.astype(np.uint64) & np.uint64((1 << (fmt.bits - 1)) - 1)
    m["round-to-min-normal"] = m["underflow"] & (res_mag == np.uint64(fmt.min_normal_code))
    m["zero"] |= (ca == g.CLASS_ZERO) | (cb == g.CLASS_ZERO)
    return m


def _coverage_fixed(a, b, fmt, op, rounding):
    F = fmt.frac_bits
    ka = fmt.to_int(a).astype(object)
    kb = fmt.to_int(b).astype(object)
    kmax = int(fmt.to_int(fmt.max_finite_code))
    kmin = int(round(fmt.min_value * (1 << F)))
    result = golden_op(op)(a, b, fmt, rounding=rounding)
    kr = fmt.to_int(result)
    n = a.size
    m = {k: np.zeros(n, bool) for k in ("zero", "tie-even", "tie-odd", "underflow", "overflow-threshold",
                                         "overflow", "underflow-to-zero")}
    # exact results in units of 2^-F (add/sub) or 2^-2F (mul), with Python integers
    if op == "mul":
        prod = ka * kb
        scale = 1 << F
    else:
        prod = ka + kb if op == "add" else ka - kb
        scale = 1
    for i in range(n):
        x = int(prod[i])
        m["zero"][i] = x == 0 or ka[i] == 0 or kb[i] == 0
        ax = abs(x)
        if scale > 1 and x != 0:
            q, r = divmod(ax, scale)
            if 2 * r == scale:
                m["tie-odd" if q & 1 else "tie-even"][i] = True
            m["underflow"][i] = ax < scale
            m["underflow-to-zero"][i] = ax < scale and kr[i] == 0
        # exact value in ulps (real number x / scale); out of range by at most one ulp?
        hi_lim, lo_lim = kmax * scale, kmin * scale
        m["overflow"][i] = x > hi_lim or x < lo_lim
        m["overflow-threshold"][i] = (hi_lim < x <= hi_lim + scale) or (lo_lim - scale <= x < lo_lim)
    return m


def format_coverage(counts: dict[str, int]) -> str:
    """One line: ``vectors=65536 zero=1020 subnormal=... nan=...`` (classes, then details)."""
    keys = ["vectors", *CLASSES, *DETAILS]
    return " ".join(f"{k}={counts[k]}" for k in keys if k in counts)
