"""Rounded arithmetic on arrays of codes: add, sub, mul, fma, convert, neg, abs, comparisons.

Each operation computes the exact result as an integer triple (sign, significand, exponent) and
rounds it once with :func:`ulpflow.golden.rounding.round_pack`. Nothing here uses float arithmetic
on decoded values, and nothing reorders: one call is one rounded operation per element.

For formats of at most 8 bits the result of a binary operation is memoised as a full 2-D table
(built by the same integer code over every operand pair), so bulk evaluation is one gather.

Examples
--------
>>> from ulpflow.golden import parse_format, add
>>> e4m3 = parse_format("e4m3")
>>> one, sixteen = e4m3.encode([1.0, 16.0])
>>> e4m3.decode(add(sixteen, one, e4m3))   # 17 is a tie between 16 and 18: ties to even
array(16.)
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from . import fastpath
from .formats import CLASS_INF, CLASS_NAN, CLASS_ZERO, as_format, ordinal
from .rounding import GUARD_BITS, ZERO_EXP, bit_length, check_rounding, round_pack

# Significands of the float adder's operands are normalised to W bits; the aligned sum keeps
# GUARD_BITS guard bits plus one jammed sticky bit (see _float_add). W + G + 2 must stay below 62.
_MAX_ARITH_MAN_BITS = 27
_TABLE_BITS = 8


def _formats(fmt, n):
    """Operand formats from ``fmt`` (one format for all operands, or a tuple of n formats)."""
    if isinstance(fmt, (tuple, list)):
        if len(fmt) != n:
            raise ValueError(f"expected {n} operand formats, got {len(fmt)}: {fmt!r}")
        fs = tuple(as_format(f) for f in fmt)
    else:
        fs = (as_format(fmt),) * n
    for f in fs:
        if f.kind == "float" and f.man_bits > _MAX_ARITH_MAN_BITS:
            raise ValueError(f"arithmetic supports float formats with at most {_MAX_ARITH_MAN_BITS} "
                             f"fraction bits, got {f}")
    return fs


def nan_is_refused(strict, out):
    """Whether NaN results into ``out`` raise under ``strict`` (see :func:`add`): never where
    ``out`` has a NaN; by default (``None``) for float destinations without one."""
    if out.has_nan:
        return False
    return out.kind == "float" if strict is None else bool(strict)


def refuse_nan_lanes(op, invalid, out):
    """Raise for the lanes of ``invalid`` (NaN results into a format without NaN), naming them."""
    bad = np.flatnonzero(np.asarray(invalid).ravel())
    if not bad.size:
        return
    shape = np.shape(invalid)
    lanes = [int(i) if len(shape) <= 1 else tuple(int(x) for x in np.unravel_index(i, shape))
             for i in bad[:3]]
    more = ", ..." if bad.size > 3 else ""
    raise ValueError(f"{op}: {bad.size} lane(s) give NaN but {out} has no NaN encoding (lanes "
                     f"{', '.join(map(str, lanes))}{more}); strict=False gives "
                     f"{out.show(out.nan_result_code)} there (docs/semantics.md, NaN into a "
                     "format without NaN)")


def _nan_lanes(idx, nan_sub, shape):
    """Full-size ``nan`` mask for round_pack from the special lanes ``idx``. The callers pass
    every special lane (an inf or NaN operand) as ``inf``: round_pack gives NaN priority, so
    the lanes that are not NaN are exactly the infinite results."""
    nan = np.zeros(shape, dtype=bool)
    nan.ravel()[idx] = nan_sub
    return nan


def _sum_specials(ca, cb, sa, sb, sign):
    """IEEE rules for inf/NaN operands of a sum (effective signs ``sa``, ``sb``): returns
    ``(nan, inf, sign)`` for round_pack, ``sign`` carrying the infinities' signs."""
    special = np.maximum(ca, cb) >= CLASS_INF
    idx = np.flatnonzero(special)
    if not idx.size:
        return None, None, sign
    a, b = ca.ravel()[idx], cb.ravel()[idx]
    ea, eb = sa.ravel()[idx], sb.ravel()[idx]
    nan = _nan_lanes(idx, _invalid_sum(a, b, ea, eb), ca.shape)
    sign = np.array(sign, dtype=bool)
    sign.ravel()[idx] = np.where(a == CLASS_INF, ea, eb)
    return nan, special, sign


# -- the float adder core ----------------------------------------------------------------------
def _normalise(sig, exp, width):
    """Shift non-zero significands left so their MSB sits at bit width-1 (zeros untouched)."""
    nb = bit_length(sig)
    sh = np.where(sig != 0, width - nb, 0)
    return sig << sh, np.where(sig != 0, exp - sh, ZERO_EXP)


def _exact_add(sa, ma, ea, sb, mb, eb, width, guard, mode):
    """Add two values whose significands are normalised to ``width`` bits (or zero).

    Returns ``(sign, sig, exp)`` of a value that rounds exactly like the true sum, as long as
    the destination's ulp is at least 4 units of the result's LSB whenever bits were dropped
    (guaranteed by ``guard``, see callers). Bits of the smaller operand that fall below the
    guard bits are OR-ed into one jammed LSB.
    """
    swap = (eb > ea) | ((eb == ea) & (mb > ma))
    sa, sb = np.where(swap, sb, sa), np.where(swap, sa, sb)
    ma, mb = np.where(swap, mb, ma), np.where(swap, ma, mb)
    ea, eb = np.where(swap, eb, ea), np.where(swap, ea, eb)
    d = np.minimum(ea - eb, 62)
    x = ma << (guard + 1)
    yfull = mb << (guard + 1)
    y = yfull >> d
    lost = (yfull - (y << d)) != 0
    y = y | lost
    diff_sign = sa != sb
    s = np.where(diff_sign, x - y, x + y)
    # exact zero: +0, or -0 under RDN, unless both operands had the same sign
    zero_sign = np.where(diff_sign, mode == "RDN", sa)
    sign = np.where(s == 0, zero_sign, sa)
    return sign, s, ea - (guard + 1)


@lru_cache(maxsize=64)
def _fixed_embedding(fmt):
    """For narrow float formats whose whole range fits in 61-bit integers: every code's exact
    value as a signed multiple of 2**qmin (table), so a sum is one exact integer addition."""
    if fmt.kind != "float" or fmt.bits > 16:
        return None
    qmin = fmt.emin - fmt.man_bits
    if fmt.emax + 2 - qmin > 61:
        return None
    sign, sig, exp, cls = fmt.unpack(np.arange(1 << fmt.bits).astype(fmt.dtype), raw=True)
    k = np.where(cls <= 2, sig << np.where(cls <= 2, exp - qmin, 0), 0)
    k = np.where(sign, -k, k).astype(np.int64)
    k.setflags(write=False)
    return k, qmin


def _float_add(a, b, fa, fb, out, mode, negate_b):
    fast = fastpath.add(a, b, fa, fb, out, mode, negate_b)
    if fast is not None:
        return fast
    ta, tb = _fixed_embedding(fa), _fixed_embedding(fb)
    if (ta is not None and tb is not None and out.kind == "float"
            # the pair's combined range must fit as well, not only each format's own
            and max(fa.emax, fb.emax) + 2 - min(ta[1], tb[1]) <= 61):
        return _float_add_embedded(a, b, fa, fb, ta, tb, out, mode, negate_b)
    sa, ma, ea, ca = fa.unpack(a)
    sb, mb, eb, cb = fb.unpack(b)
    if negate_b:
        sb = ~sb
    width = max(fa.p, fb.p)
    # unpack already normalises to the format's own precision
    if fa.p != width:
        ma, ea = _normalise(ma, ea, width)
    if fb.p != width:
        mb, eb = _normalise(mb, eb, width)
    if out.kind == "float":
        guard = max(GUARD_BITS, out.p - width + 2)
    else:
        raise TypeError(f"float add into the fixed-point format {out}: convert the operands or "
                        "the result explicitly")
    if width + guard + 2 > 62:
        raise ValueError(f"float add from {fa}/{fb} into {out} needs more than 62-bit integers")
    sign, s, e = _exact_add(sa, ma, ea, sb, mb, eb, width, guard, mode)
    nan, inf, sign = _sum_specials(ca, cb, sa, sb, sign)
    return round_pack(sign, s, e, out, mode, nan=nan, inf=inf)


def _float_add_embedded(a, b, fa, fb, ta, tb, out, mode, negate_b):
    (ka_t, qa), (kb_t, qb) = ta, tb
    q = min(qa, qb)
    ka = ka_t[a] << (qa - q)
    kb = kb_t[b] << (qb - q)
    k = ka - kb if negate_b else ka + kb
    sa, sb = fa.sign(a), fb.sign(b) ^ negate_b
    # exact zero: +0 (or -0 under RDN) unless both operands are zeros of one sign
    zero_sign = np.where(sa == sb, sa, mode == "RDN")
    sign = np.where(k == 0, zero_sign, k < 0)
    nan, inf, sign = _sum_specials(fa.classify(a), fb.classify(b), sa, sb, sign)
    return round_pack(sign, np.abs(k), np.full(k.shape, q, dtype=np.int64), out, mode, nan=nan,
                      inf=inf)


def _fixed_add(a, b, fa, fb, out, mode, negate_b, overflow):
    if out.kind == "fixed":
        fast = fastpath.fixed_add(a, b, fa, fb, out, mode, negate_b, overflow)
        if fast is not None:
            return fast
    ka, kb = fa.to_int(a), fb.to_int(b)
    F = max(fa.frac_bits, fb.frac_bits)
    if max(fa.bits - fa.frac_bits, fb.bits - fb.frac_bits) + F + 1 > 62:
        raise ValueError(f"fixed-point add of {fa} and {fb} needs more than 62-bit integers")
    ka = ka << (F - fa.frac_bits)
    kb = kb << (F - fb.frac_bits)
    k = ka - kb if negate_b else ka + kb
    return round_pack(k < 0, np.abs(k), np.full(k.shape, -F, dtype=np.int64), out, mode,
                      overflow=overflow)


def _binary(op, a, b, fmt, rounding, out, overflow, strict):
    fa, fb = _formats(fmt, 2)
    out = fa if out is None else as_format(out, "out")
    mode = check_rounding(rounding)
    if overflow is not None:
        out.check_overflow_mode(overflow)  # "applies to fixed point only", unknown modes
    a = fa.check_codes(a)
    b = fb.check_codes(b)
    a, b = np.broadcast_arrays(a, b)
    refuse = nan_is_refused(strict, out) and fa.kind == "float" and fb.kind == "float"
    if fa.bits <= _TABLE_BITS and fb.bits <= _TABLE_BITS and a.size > 1024:
        table, invalid = _pair_table(op, fa, fb, out, mode, overflow, fastpath.enabled())
        idx = (a.astype(np.intp) << fb.bits) | b.astype(np.intp)
        if refuse and invalid is not None:
            refuse_nan_lanes(op, invalid[idx], out)
        return table[idx]
    if refuse:
        refuse_nan_lanes(op, _nan_pairs(op, a, b, fa, fb), out)
    return _chunked(_OPS[op], (a, b), (fa, fb, out, mode, overflow), out.dtype,
                    fastpath.chunk_size("mul" if op == "mul" else "add", (fa, fb), out))


# Element-wise work runs in blocks that stay in cache: about 3x faster than whole-array passes.
_CHUNK = 1 << 14


def _chunked(fn, arrays, args, dtype, chunk=None):
    """Apply ``fn`` to flat 1-D blocks of the (broadcast) operands; return the operands' shape.
    The float fast path's expected float warnings are silenced once, around all blocks."""
    chunk = chunk or _CHUNK
    n = arrays[0].size
    flat = [np.ascontiguousarray(x).ravel() for x in arrays]
    with fastpath.quiet():
        if n <= chunk:
            return np.asarray(fn(*flat, *args)).astype(dtype, copy=False).reshape(arrays[0].shape)
        res = np.empty(n, dtype=dtype)
        for i in range(0, n, chunk):
            res[i:i + chunk] = fn(*(x[i:i + chunk] for x in flat), *args)
    return res.reshape(arrays[0].shape)


@lru_cache(maxsize=256)
def _pair_table(op, fa, fb, out, mode, overflow, fast):
    """Every pair's result (and which pairs are invalid), built once per operation, formats,
    mode and path: ``fast`` (whether the fast path may be taken) is part of the key, so that
    a table built under :func:`fastpath.integer_path` holds the integer path's results and
    a comparison of the two paths through the public functions compares two tables."""
    a = np.repeat(np.arange(1 << fa.bits), 1 << fb.bits)
    b = np.tile(np.arange(1 << fb.bits), 1 << fa.bits)
    va, vb = _valid(fa, a), _valid(fb, b)
    ok = va & vb
    t = np.zeros(a.shape, dtype=out.dtype)
    ak, bk = a[ok].astype(fa.dtype), b[ok].astype(fb.dtype)
    with fastpath.quiet():
        t[ok] = _OPS[op](ak, bk, fa, fb, out, mode, overflow)
    t.setflags(write=False)
    invalid = None
    if not out.has_nan and fa.kind == "float" and fb.kind == "float":
        # which pairs give NaN (their entries hold the substitute): strict lookups refuse them
        invalid = np.zeros(a.shape, dtype=bool)
        invalid[ok] = _nan_pairs(op, ak, bk, fa, fb)
        invalid.setflags(write=False)
    return t, invalid


def _nan_pairs(op, a, b, fa, fb):
    """Which operand pairs give an invalid (NaN) result."""
    ca, cb = fa.classify(a), fb.classify(b)
    if op == "mul":
        return _invalid_product(ca, cb)
    return _invalid_sum(ca, cb, fa.sign(a), fb.sign(b) ^ (op == "sub"))


def _invalid_sum(ca, cb, sa, sb):
    """IEEE invalid operation for a sum (operand classes and effective signs): NaN in, inf - inf."""
    return (ca == CLASS_NAN) | (cb == CLASS_NAN) | ((ca == CLASS_INF) & (cb == CLASS_INF) & (sa != sb))


def _invalid_product(ca, cb):
    """IEEE invalid operation for a product: NaN in, 0 * inf."""
    inf = (ca == CLASS_INF) | (cb == CLASS_INF)
    return (ca == CLASS_NAN) | (cb == CLASS_NAN) | (inf & ((ca == CLASS_ZERO) | (cb == CLASS_ZERO)))


def _valid(f, codes):
    return f.is_code(np.asarray(codes).astype(np.uint64))


def _add_impl(a, b, fa, fb, out, mode, overflow, negate=False):
    if fa.kind != fb.kind:
        raise TypeError(f"cannot add {fa} and {fb}: convert one operand first")
    if fa.kind == "float":
        return _float_add(a, b, fa, fb, out, mode, negate)
    return _fixed_add(a, b, fa, fb, out, mode, negate, overflow)


def _sub_impl(a, b, fa, fb, out, mode, overflow):
    return _add_impl(a, b, fa, fb, out, mode, overflow, negate=True)


def _mul_impl(a, b, fa, fb, out, mode, overflow):
    if fa.kind == "fixed" and fb.kind == "fixed" and fa.bits + fb.bits > 62:
        raise ValueError(f"fixed-point product of {fa} and {fb} needs more than 62-bit integers")
    if fa.kind == "float" and fb.kind == "float":
        fast = fastpath.mul(a, b, fa, fb, out, mode)
        if fast is not None:
            return fast
    elif fa.kind == "fixed" and fb.kind == "fixed" and out.kind == "fixed":
        fast = fastpath.fixed_mul(a, b, fa, fb, out, mode, overflow)
        if fast is not None:
            return fast
    sa, ma, ea, ca = fa.unpack(a)
    sb, mb, eb, cb = fb.unpack(b)
    if fa.kind == "float" or fb.kind == "float":
        if fa.kind == "fixed" or fb.kind == "fixed":
            raise TypeError(f"cannot multiply {fa} by {fb}: convert one operand first")
    sign = sa ^ sb
    zero = (ca == CLASS_ZERO) | (cb == CLASS_ZERO)
    sig = np.where(zero, 0, ma * mb)
    exp = np.where(zero, 0, ea + eb)
    nan = inf = None
    if fa.kind == "float":
        special = np.maximum(ca, cb) >= CLASS_INF
        idx = np.flatnonzero(special)
        if idx.size:
            nan = _nan_lanes(idx, _invalid_product(ca.ravel()[idx], cb.ravel()[idx]), ca.shape)
            inf = special  # NaN has priority in round_pack: the rest are infinite results
    return round_pack(sign, sig, exp, out, mode, overflow=overflow, nan=nan, inf=inf)


_OPS = {"add": _add_impl, "sub": _sub_impl, "mul": _mul_impl}


# -- public operations ------------------------------------------------------------------------
def add(a, b, fmt, *, rounding=None, out=None, overflow=None, strict=None):
    """``a + b`` rounded once to ``out`` (default: the format of ``a``).

    Parameters
    ----------
    a, b : array_like of int
        Codes of ``fmt`` (broadcast against each other).
    fmt : format, name, or pair of formats
        Operand format(s): one for both, or ``(fmt_a, fmt_b)``; both float or both fixed.
    rounding : {"RNE", "RNA", "RTZ", "RUP", "RDN"}, optional
        Default RNE.
    out : format, optional
        Destination format.
    overflow : {"SAT", "WRAP"}, optional
        Fixed-point destinations only; default the destination's own policy.
    strict : bool, optional
        What a NaN result (NaN operand, inf - inf, 0 * inf) becomes in a destination without
        NaN (``finite`` floats, fixed point): with ``strict`` a ValueError naming the lanes,
        otherwise, lane by lane, ``out.nan_result_code`` (+0), as the hardware units give.
        Default: strict for float destinations, not for fixed point (docs/semantics.md).
    """
    return _binary("add", a, b, fmt, rounding, out, overflow, strict)


def sub(a, b, fmt, *, rounding=None, out=None, overflow=None, strict=None):
    """``a - b`` rounded once (see :func:`add`)."""
    return _binary("sub", a, b, fmt, rounding, out, overflow, strict)


def mul(a, b, fmt, *, rounding=None, out=None, overflow=None, strict=None):
    """``a * b`` rounded once (see :func:`add`; operands may have different formats)."""
    return _binary("mul", a, b, fmt, rounding, out, overflow, strict)


def fma(a, b, c, fmt, *, rounding=None, out=None, strict=None):
    """``a * b + c`` with a single rounding (floats; never used implicitly by ulpflow).
    ``strict``: see :func:`add`."""
    fa, fb, fc = _formats(fmt, 3)
    out = fa if out is None else as_format(out, "out")
    mode = check_rounding(rounding)
    if not all(f.kind == "float" for f in (fa, fb, fc, out)):
        raise TypeError("fma is defined for float formats only")
    a, b, c = np.broadcast_arrays(fa.check_codes(a), fb.check_codes(b), fc.check_codes(c))
    if nan_is_refused(strict, out):
        refuse_nan_lanes("fma", _chunked(_fma_nan, (a, b, c), (fa, fb, fc), bool), out)
    return _chunked(_fma_impl, (a, b, c), (fa, fb, fc, out, mode), out.dtype,
                    fastpath.chunk_size("fma", (fa, fb, fc), out))


def _fma_classes(a, b, c, fa, fb, fc):
    """``(nan, inf, inf_sign)`` of a * b + c from the operand classes (IEEE invalid cases)."""
    ca, cb, cc = fa.classify(a), fb.classify(b), fc.classify(c)
    sp, sc = fa.sign(a) ^ fb.sign(b), fc.sign(c)
    zero_p = (ca == CLASS_ZERO) | (cb == CLASS_ZERO)
    inf_p = (ca == CLASS_INF) | (cb == CLASS_INF)
    nan = ((ca == CLASS_NAN) | (cb == CLASS_NAN) | (cc == CLASS_NAN) | (inf_p & zero_p)
           | (inf_p & (cc == CLASS_INF) & (sp != sc)))
    inf = (inf_p | (cc == CLASS_INF)) & ~nan
    return nan, inf, np.where(inf_p, sp, sc)


def _fma_nan(a, b, c, fa, fb, fc):
    return _fma_classes(a, b, c, fa, fb, fc)[0]


def _fma_impl(a, b, c, fa, fb, fc, out, mode):
    fast = fastpath.fma(a, b, c, fa, fb, fc, out, mode)
    if fast is not None:
        return fast
    sa, ma, ea, ca = fa.unpack(a)
    sb, mb, eb, cb = fb.unpack(b)
    sc, mc, ec, cc = fc.unpack(c)
    # the addend may be wider than the exact product (bf16*bf16 + fp32): normalise both to the wider
    width = max(fa.p + fb.p, fc.p)
    zero_p = (ca == CLASS_ZERO) | (cb == CLASS_ZERO)
    sp = sa ^ sb
    mp, ep = _normalise(np.where(zero_p, 0, ma * mb), np.where(zero_p, 0, ea + eb), width)
    mc, ec = _normalise(mc, ec, width)
    guard = max(GUARD_BITS, out.p - width + 2)
    if width + guard + 2 > 62:
        raise ValueError(f"fma of {fa}, {fb}, {fc} into {out} needs more than 62-bit integers")
    sign, s, e = _exact_add(sp, mp, ep, sc, mc, ec, width, guard, mode)
    nan, inf, inf_sign = _fma_classes(a, b, c, fa, fb, fc)
    return round_pack(np.where(inf, inf_sign, sign), s, e, out, mode, nan=nan, inf=inf)


def convert(a, src, dst, *, rounding=None, overflow=None, strict=None):
    """Codes of ``src`` rounded once to ``dst`` (any float/fixed pair).

    Float to fixed: NaN becomes 0 and ±inf saturates to the fixed range, whatever the overflow
    policy (fixed point cannot represent either). ``strict``: see :func:`add` (NaN into a
    ``finite`` float raises by default; ``strict=True`` also refuses NaN into fixed point).
    """
    src, dst = as_format(src, "src"), as_format(dst, "dst")
    mode = check_rounding(rounding)
    a = src.check_codes(a)
    dst.check_overflow_mode(overflow)
    if src.kind == "float" and nan_is_refused(strict, dst):
        refuse_nan_lanes("convert", src.is_nan(a), dst)
    return _chunked(_convert_impl, (a,), (src, dst, mode, overflow), dst.dtype,
                    fastpath.chunk_size("convert", (src,), dst))


def _convert_impl(a, src, dst, mode, overflow):
    if src.kind == "fixed" and dst.kind == "fixed":
        fast = fastpath.fixed_convert(a, src, dst, mode, overflow)
    else:
        fast = fastpath.convert(a, src, dst, mode)
    if fast is not None:
        return fast
    sign, sig, exp, cls = src.unpack(a, raw=True)
    nan = inf = None
    if src.kind == "float" and (src.has_nan or src.has_inf):
        nan, inf = cls == CLASS_NAN, cls == CLASS_INF
    return round_pack(sign, sig, exp, dst, mode, overflow=overflow, nan=nan, inf=inf)


def neg(a, fmt, *, overflow=None):
    """``-a`` (exact for floats; fixed point applies the overflow policy to ``-min``)."""
    f = as_format(fmt)
    a = f.check_codes(a)
    if f.kind == "float":
        flipped = a ^ f.dtype.type(1 << (f.bits - 1))
        keep = f.is_nan(a)
        if f.specials == "fnuz":
            keep |= a == 0
        return np.where(keep, a, flipped).astype(f.dtype)
    k = -f.to_int(a)
    return round_pack(k < 0, np.abs(k), np.full(k.shape, -f.frac_bits), f, "RNE",
                      overflow=overflow)


def abs(a, fmt, *, overflow=None):  # noqa: A001 - mirrors the operation's name
    """``|a|`` (floats clear the sign bit except on NaN; fixed point may overflow on ``min``)."""
    f = as_format(fmt)
    a = f.check_codes(a)
    if f.kind == "float":
        cleared = a & f.dtype.type((1 << (f.bits - 1)) - 1)
        return np.where(f.is_nan(a), a, cleared).astype(f.dtype)
    k = np.abs(f.to_int(a))
    return round_pack(np.zeros(k.shape, bool), k, np.full(k.shape, -f.frac_bits), f, "RNE",
                      overflow=overflow)


def _keys(a, b, fmt):
    fa, fb = _formats(fmt, 2)
    a, b = fa.check_codes(a), fb.check_codes(b)
    if fa != fb:
        raise ValueError(f"comparisons need one format, got {fa} and {fb}")
    if fa.kind == "fixed":
        z = np.zeros(np.broadcast(a, b).shape, dtype=bool)
        return fa.to_int(a), fa.to_int(b), z
    (ka, na), (kb, nb) = ordinal(fa, a), ordinal(fa, b)  # +0 == -0; FTZ subnormals are zeros
    return ka, kb, na | nb


def eq(a, b, fmt):
    """IEEE equality: NaN is unequal to everything, +0 == -0."""
    ka, kb, u = _keys(a, b, fmt)
    return (ka == kb) & ~u


def ne(a, b, fmt):
    return ~eq(a, b, fmt)


def lt(a, b, fmt):
    ka, kb, u = _keys(a, b, fmt)
    return (ka < kb) & ~u


def le(a, b, fmt):
    ka, kb, u = _keys(a, b, fmt)
    return (ka <= kb) & ~u


def gt(a, b, fmt):
    return lt(b, a, fmt)


def ge(a, b, fmt):
    return le(b, a, fmt)
