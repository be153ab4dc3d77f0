"""The float fast path of golden arithmetic: exact results as float heads and tails.

For formats whose values float64 (or float32) holds exactly, the exact result of an add, a
mul, an fma or a conversion is a pair of machine floats: a plain product of two significands
of at most 26 bits each is exact, and Knuth's TwoSum gives the rounding error of a sum
exactly (``head + tail`` equals the exact sum, ``|tail|`` at most half a spacing of
``head``). The pair goes to :func:`ulpflow.golden.kernel.round_pack_binary`, the kernel's
fast entry, which rounds it once (the head's bit pattern gives sign, exponent and
significand; the tail's sign says on which side of the head the exact value lies). Nothing
here rounds a result: the float operations are error-free transforms, and the rounding is
the kernel's.

Sums of formats that lie on the destination's grid, narrow enough next to the head's dtype,
skip TwoSum: their tail can only matter where the head equals the larger operand
(:func:`_tail_at_larger`). Fixed-point sums and products are exact int64 integers, rounded
once by the kernel's fixed-point entry :func:`ulpflow.golden.kernel.round_pack_int`.

Which operations take this path is decided per (operation, formats) by :func:`plan` (and
:func:`_fixed_shift` for fixed point); everything else (and everything while
:func:`integer_path` is active) stays on the integer path of :mod:`ulpflow.golden.arith`.
docs/semantics.md §7 lists the conditions.
"""

from __future__ import annotations

import contextlib
from functools import lru_cache

import numpy as np

from .kernel import (OperandTail, binary_covers, binary_scale, exact_scalable,
                     round_pack_binary, round_pack_exact, round_pack_int)

__all__ = ["chunk_size", "enabled", "integer_path", "plan", "quiet"]

_STATE = {"enabled": True}


def enabled() -> bool:
    """Whether golden arithmetic may take the fast path (see :func:`integer_path`)."""
    return _STATE["enabled"]


@contextlib.contextmanager
def integer_path():
    """Within this context every operation takes the integer path (tests compare the two)."""
    old = _STATE["enabled"]
    _STATE["enabled"] = False
    try:
        yield
    finally:
        _STATE["enabled"] = old


def quiet():
    """The float warnings the fast path's error-free transforms raise by design (a float32 head
    beyond float32's range, NaN operands widened or added, products below float32's normal
    range), silenced: the operations of this module run inside it, entered once per
    operation by the caller (:mod:`ulpflow.golden.arith`), not once per block."""
    return np.errstate(over="ignore", invalid="ignore", under="ignore")


# -- exact decoding --------------------------------------------------------------------------
def _holds(fmt, dtype) -> bool:
    """Every finite value of ``fmt`` is a normal-or-subnormal value of ``dtype``."""
    info = np.finfo(dtype)
    Md, emin_d = info.nmant, info.minexp  # float64: 52, -1022
    return (fmt.kind == "float" and fmt.p <= Md + 1 and fmt.emax <= info.maxexp - 1
            and fmt.emin - fmt.man_bits >= emin_d - Md)


def _layout(fmt, E, M, bias):
    return (fmt.kind == "float" and fmt.exp_bits == E and fmt.bias == bias
            and fmt.specials == "ieee" and fmt.subnormals and fmt.man_bits <= M)


def _decoder(fmt, dtype):
    """A function codes -> exact values of ``dtype`` (float32/float64), or None."""
    if not _holds(fmt, dtype):
        return None
    if _layout(fmt, 8, 23, 127):  # bf16, fp32 and their kin: the float32 pattern, shifted
        sh = np.uint32(23 - fmt.man_bits)
        if fmt.bits == 32:  # the codes are the float32 patterns (a view: heads are read only)
            f32 = (lambda c: c.astype(np.uint32, copy=False).view(np.float32))
        else:
            f32 = (lambda c: (c.astype(np.uint32) << sh).view(np.float32))
        return f32 if dtype == np.float32 else (lambda c: f32(c).astype(np.float64))
    if _layout(fmt, 11, 52, 1023):
        sh = np.uint64(52 - fmt.man_bits)
        f64 = (lambda c: (c.astype(np.uint64) << sh).view(np.float64))
        return f64 if dtype == np.float64 else None
    if fmt.bits <= 16:
        # fp16 too: a gather from the table beats NumPy's float16 widening more than 2x
        table = fmt.decode_table.astype(dtype)  # exact: _holds
        return table.take
    if dtype != np.float64:
        return None
    return fmt.decode


def _scaled_decoder(fmt, dtype, k):
    """A function codes -> exact values of ``dtype`` times ``2**k``, or None where some
    scaled value is not a dtype value or a sum of two could reach the dtype's top binade."""
    info = np.finfo(dtype)
    if (fmt.kind != "float" or fmt.p > info.nmant + 1 or fmt.emax + 2 + k >= info.maxexp - 1
            or fmt.emin - fmt.man_bits + k < info.minexp - info.nmant):
        return None
    if fmt.bits <= 16:
        return (fmt.decode_table * 2.0 ** k).astype(dtype).take  # exact: checked above
    base = _decoder(fmt, dtype)
    if base is None:
        return None
    scale = np.dtype(dtype).type(2.0 ** k)  # a power of two, no underflow: exact

    def scaled(c):
        v = base(c)
        if not _private(v, c):
            return v * scale
        v *= scale  # the decoder's own array: scaled in place
        return v
    return scaled


def _sum_is_exact(fa, fb, dtype) -> bool:
    """Every sum of two finite values fits the dtype's significand (no tail needed)."""
    q = min(fa.emin - fa.man_bits, fb.emin - fb.man_bits)
    top = max(fa.emax, fb.emax) + 2
    return top - q <= np.finfo(dtype).nmant + 1


def _on_grid(f, out) -> bool:
    """Every finite value of ``f`` is a point of ``out``'s grid (its rounding targets, the
    subnormal grid included even where ``out`` flushes to zero)."""
    return (f.man_bits <= out.man_bits and f.emin - f.man_bits >= out.emin - out.man_bits
            and f.emax <= out.emax)


def _tail_at_larger(fa, fb, out, dtype) -> bool:
    """Whether a sum's tail can only matter where the head equals the larger operand.

    With ``x`` the larger operand in magnitude and both formats on ``out``'s grid, a sum that
    is inexact in the dtype (P significant bits) has ``|y| < 2**(e_x + 1 - P + p)`` (``p`` the
    larger operand precision; ``2**e_x <= |x|``), so its head lies within that distance of
    ``x``, a grid point of ``out``. With ``p + p_out + 2 <= P`` that is less than half a
    spacing of ``out`` next to ``x`` (``2**(e_x - p_out - 1)``, below a power of two): the head
    is then no midpoint of ``out``, and a grid point only if it is ``x`` itself, where the tail
    is ``y``. So round-to-nearest needs no tail, and the directed modes need only the sign of
    ``y`` where the head equals ``x``."""
    P = np.finfo(dtype).nmant + 1
    return (_on_grid(fa, out) and _on_grid(fb, out)
            and max(fa.p, fb.p) + out.p + 2 <= P)


def _two_sum_fits(top, dtype) -> bool:
    """Whether TwoSum on addends below ``2**top`` keeps every intermediate finite in ``dtype``:
    its sums and differences stay below four times the larger addend. A head near the dtype's
    largest binade (fp32 operands in float32) can leave ``h - x`` beyond range and the tail
    NaN; such sums take the next dtype."""
    return top + 2 <= np.finfo(dtype).maxexp - 1


def _product_is_exact(fa, fb) -> bool:
    if fa.p + fb.p > 53:
        return False
    q = fa.emin - fa.man_bits + fb.emin - fb.man_bits
    return q >= -1074 and fa.emax + fb.emax + 2 <= 1023


_BINARY_E = {np.dtype(np.float32): 8, np.dtype(np.float64): 11}


@lru_cache(maxsize=512)
def plan(op, formats, out):
    """How ``op`` ("add", "mul", "fma", "convert") on operands of ``formats`` into ``out``
    runs on the fast path: ``(dtype, decoders, extra)``, or None for the integer path;
    ``extra`` says how sums find their tail (None: every sum is exact; ``"larger"``: see
    :func:`_tail_at_larger`; ``"twosum"``: TwoSum), and for products and conversions whether
    their exact values round as scaled heads (``"scaled"``: ``kernel.round_pack_exact``; else
    a false value). Sums have a fourth element:
    whether their decoders scale the values (``kernel.binary_scale``) so that ``out``'s
    binades have the dtype's exponent fields."""
    if any(f.kind != "float" for f in formats) or out.kind != "float":
        return None
    for dtype in (np.float32, np.float64):
        if not binary_covers(out, dtype):
            continue
        decs = tuple(_decoder(f, dtype) for f in formats)
        if any(d is None for d in decs):
            continue
        if op == "convert":
            (src,) = formats
            if (dtype == np.float32 and not (out.exp_bits == 8 and out.bias == 127)
                    and src.emin < out.emin - out.man_bits
                    and exact_scalable(out, np.float64, src.emin - src.man_bits)
                    and (d64 := _decoder(src, np.float64))):
                # into another exponent field, from a source reaching below out's smallest
                # subnormal (fp32 or bf16 into fp16, fp16 into e4m3, ...): float64 values
                # rounded as scaled heads (see mul), one shift for every lane, where float32
                # heads would round their lanes below out's normal range one by one
                return np.float64, (d64,), "scaled"
            return dtype, decs, False
        if op == "add":
            # float32 sums may overflow float32: only where ``out`` shares float32's exponent
            # field does an overflowing head round as the overflow it is
            if (dtype == np.float32 and not (out.exp_bits == 8 and out.bias == 127)
                    and max(f.emax for f in formats) + 2 > 128):
                continue
            if dtype == np.float64 and max(f.emax for f in formats) + 2 > 1024:
                continue  # a float64 sum could overflow
            tail = None if _sum_is_exact(*formats, dtype) else (
                "larger" if _tail_at_larger(*formats, out, dtype) else "twosum")
            if tail == "twosum" and not _two_sum_fits(max(f.emax for f in formats) + 1, dtype):
                continue
            E = _BINARY_E[np.dtype(dtype)]
            if (not (out.exp_bits == E and out.bias == (1 << (E - 1)) - 1)
                    and binary_covers(out, dtype, scaled=True)):
                # scaled so that out's range starts at the dtype's smallest normal, the
                # operands' sums round with one shift in every lane (kernel.round_pack_binary)
                k = binary_scale(out, dtype)
                sdecs = tuple(_scaled_decoder(f, dtype, k) for f in formats)
                if all(d is not None for d in sdecs):
                    return dtype, sdecs, tail, True
            return dtype, decs, tail, False
        if op == "mul" and dtype == np.float32 and formats[0].p + formats[1].p <= 24:
            fa, fb = formats
            q = fa.emin - fa.man_bits + fb.emin - fb.man_bits
            if q >= -149 and fa.emax + fb.emax + 2 <= 128:  # every product exact in float32
                if (not (out.exp_bits == 8 and out.bias == 127)
                        and exact_scalable(out, dtype, q)):
                    # and normal: rounded as scaled heads like float64 products (below)
                    return dtype, decs, "scaled"
                return dtype, decs, None
        if dtype != np.float64:
            continue
        if op == "mul" and _product_is_exact(*formats):
            fa, fb = formats
            if (not (out.exp_bits == 11 and out.bias == 1023)
                    and exact_scalable(out, dtype, fa.emin - fa.man_bits + fb.emin - fb.man_bits)):
                # every non-zero product is a normal float64: its bit pattern, scaled by
                # 2**k (see add) in integers, rounds with one shift (kernel.round_pack_exact)
                return dtype, decs, "scaled"
            return dtype, decs, False
        if (op == "fma" and _product_is_exact(formats[0], formats[1])
                and _two_sum_fits(max(formats[0].emax + formats[1].emax + 2,
                                      formats[2].emax + 1), dtype)):
            return dtype, decs, True
    return None


@lru_cache(maxsize=512)
def _fixed_shift(op, formats, out):
    """For fixed-point ``op`` ("add", "mul" or "convert"): the bits the exact int64 result
    has below ``out``'s LSB (negative: it is shifted left), or None where int64 could
    overflow (the integer path then gives its error or result)."""
    if op not in ("add", "mul", "convert") or any(f.kind != "fixed" for f in (*formats, out)):
        return None
    if op == "convert":
        (f,) = formats
        shift = f.frac_bits - out.frac_bits
        width = f.bits - 1 if f.signed else f.bits
        return shift if width + max(0, -shift) <= 61 and shift <= 61 else None
    fa, fb = formats
    # |k| <= 2**mag for every code (signed: n - 1 bits and the most negative code)
    ma, mb = (f.bits - 1 if f.signed else f.bits for f in formats)
    if op == "add":
        F = max(fa.frac_bits, fb.frac_bits)
        shift = F - out.frac_bits
        width = max(ma - fa.frac_bits, mb - fb.frac_bits) + F + 1
    else:
        shift = fa.frac_bits + fb.frac_bits - out.frac_bits
        width = ma + mb
    # the exact value, shifted left or plus a rounding increment (< 2**shift), stays in int64
    return shift if width + max(0, -shift) <= 61 and shift <= 61 else None


@lru_cache(maxsize=64)
def _fixed_decoder(f):
    """codes -> int64 ``k`` (value ``k * 2**-F``): two's complement through a signed view."""
    n, db = f.bits, f.dtype.itemsize * 8
    if not f.signed:
        return lambda c: c.astype(np.int64)
    st = np.dtype(f"int{db}")
    if n == db:
        return lambda c: c.view(st).astype(np.int64)
    up, down = f.dtype.type(db - n), st.type(db - n)
    return lambda c: ((c << up).view(st) >> down).astype(np.int64)


def chunk_size(op, formats, out):
    """Elements per block for ``op`` (None: the caller's default): 32768 for float64 and
    int64 work, 65536 for float32 work (256 KiB per temporary: the blocks stay in the L2
    cache, and the per-block cost of the Python calls stays small next to the work)."""
    if not _STATE["enabled"]:
        return None
    if _fixed_shift(op, tuple(formats), out) is not None:
        return 1 << 15
    if any(f.kind != "float" for f in formats) or out.kind != "float":
        return None
    p = plan(op, tuple(formats), out)
    if p is None:
        return None
    return 1 << 15 if p[0] == np.float64 else 1 << 16


# -- the operations (one chunk of flat code arrays each) ---------------------------------------
def _private(x, codes):
    """Whether the decoded array ``x`` is the decoder's own buffer (not the codes or a view of
    them), which the operation may then overwrite."""
    return x.base is None and x is not codes


def _two_sum(x, y):
    """Knuth's TwoSum: ``(h, t)`` with ``h = fl(x + y)`` and ``h + t == x + y`` exactly."""
    h = x + y
    yv = h - x
    t = (x - (h - yv)) + (y - yv)
    return h, t


def _lazy_tail(x, y, h):
    """TwoSum's tail of ``h = fl(x + y)`` at the lanes the kernel asks for (all for None)."""
    def tail(idx):
        if idx is None:
            return _two_sum(x, y)[1]
        return _two_sum(x[idx], y[idx])[1]
    return tail


def _specials(h, operands, may_overflow):
    """``(idx, is_nan)`` for the kernel from a head's non-finite lanes: NaN heads are NaN
    results (IEEE invalid or a NaN operand); an infinite head is an exact infinity when an
    operand is infinite, otherwise an overflow of the head's dtype (left to the kernel)."""
    fin = np.isfinite(h)
    if fin.all():
        return None
    idx = np.flatnonzero(~fin)
    is_nan = np.isnan(h[idx])
    if may_overflow:
        exact = is_nan.copy()
        for x in operands:
            exact |= np.isinf(x[idx])
        idx, is_nan = idx[exact], is_nan[exact]
    return idx, is_nan


def _rdn_zeros(h, x, y):
    """An exact zero sum is -0 under RDN unless both addends are +0 (float addition gives the
    other modes' rule, +0 unless both are -0): ``-((-x) + (-y))`` on those lanes."""
    z = h == 0
    if z.any():
        idx = np.flatnonzero(z)
        h = h.copy()
        h[idx] = -((-x[idx]) + (-y[idx]))
    return h


def _sum_round(x, y, out, mode, dtype, tail_kind, scaled=False):
    h = x + y
    if mode == "RDN":
        h = _rdn_zeros(h, x, y)
    tail = None
    if tail_kind == "twosum":
        tail = _lazy_tail(x, y, h)
    elif tail_kind == "larger" and mode not in ("RNE", "RNA"):
        tail = OperandTail(x, y, h)  # the tail can only matter at an operand (plan)
    # h is this function's own: the kernel may round in its buffer (read by the tail before)
    return round_pack_binary(h, out, mode, tail=tail, scaled=scaled,
                             special=_specials(h, (x, y), dtype == np.float32), overwrite=True)


def add(a, b, fa, fb, out, mode, negate_b):
    """``a ± b`` rounded once to ``out`` (codes of one chunk), or None off the fast path."""
    if not _STATE["enabled"]:
        return None
    p = plan("add", (fa, fb), out)
    if p is None:
        return None
    dtype, (da, db), tail_kind, scaled = p
    x, y = da(a), db(b)
    if negate_b:
        y = -y
    return _sum_round(x, y, out, mode, dtype, tail_kind, scaled)


def mul(a, b, fa, fb, out, mode):
    """``a * b`` rounded once to ``out``, or None off the fast path."""
    if not _STATE["enabled"]:
        return None
    p = plan("mul", (fa, fb), out)
    if p is None:
        return None
    _, (da, db), scaled = p
    x, y = da(a), db(b)
    if scaled:
        # exact in the plan's dtype, and normal or zero where the operands are finite; the
        # product and the scaled head in the operands' buffers where they are the decoders'
        # own (fewer fresh temporaries keep the block in the cache)
        h = x if _private(x, a) else x.copy()
        np.multiply(h, y, out=h)
        return round_pack_exact(h, out, mode, workspace=y if _private(y, b) else None)
    h = x * y  # exact in the plan's dtype
    return round_pack_binary(h, out, mode, special=_specials(h, (x, y), False))


def fma(a, b, c, fa, fb, fc, out, mode):
    """``a * b + c`` rounded once to ``out``, or None off the fast path."""
    if not _STATE["enabled"]:
        return None
    p = plan("fma", (fa, fb, fc), out)
    if p is None:
        return None
    _, (da, db, dc), _ = p
    x, y, z = da(a), db(b), dc(c)
    prod = x * y  # exact: plan
    h = prod + z
    if mode == "RDN":
        h = _rdn_zeros(h, prod, z)
    return round_pack_binary(h, out, mode, tail=_lazy_tail(prod, z, h),
                             special=_specials(h, (x, y, z), False))


def convert(a, src, dst, mode):
    """Codes of ``src`` rounded once to ``dst``, or None off the fast path."""
    if not _STATE["enabled"]:
        return None
    p = plan("convert", (src,), dst)
    if p is None:
        return None
    _, (da,), scaled = p
    h = da(a)
    if scaled:
        return round_pack_exact(h, dst, mode)
    return round_pack_binary(h, dst, mode, special=_specials(h, (h,), False))


def fixed_add(a, b, fa, fb, out, mode, negate_b, overflow):
    """Fixed-point ``a ± b`` rounded once to ``out`` (exact int64 sum, the kernel's
    fixed-point entry), or None off the fast path."""
    if not _STATE["enabled"]:
        return None
    shift = _fixed_shift("add", (fa, fb), out)
    if shift is None:
        return None
    F = max(fa.frac_bits, fb.frac_bits)
    k = _fixed_decoder(fa)(a)
    kb = _fixed_decoder(fb)(b)
    if F != fa.frac_bits:
        k <<= np.int64(F - fa.frac_bits)
    if F != fb.frac_bits:
        kb <<= np.int64(F - fb.frac_bits)
    if negate_b:
        k -= kb
    else:
        k += kb
    if shift < 0:
        k <<= np.int64(-shift)
    return round_pack_int(k, max(shift, 0), out, mode, overflow=overflow)


def fixed_mul(a, b, fa, fb, out, mode, overflow):
    """Fixed-point ``a * b`` rounded once to ``out``, or None off the fast path."""
    if not _STATE["enabled"]:
        return None
    shift = _fixed_shift("mul", (fa, fb), out)
    if shift is None:
        return None
    k = _fixed_decoder(fa)(a)
    k *= _fixed_decoder(fb)(b)
    if shift < 0:
        k <<= np.int64(-shift)
    return round_pack_int(k, max(shift, 0), out, mode, overflow=overflow)


def fixed_convert(a, src, dst, mode, overflow):
    """Fixed-point codes of ``src`` rounded once to the fixed-point ``dst``, or None off the
    fast path."""
    if not _STATE["enabled"]:
        return None
    shift = _fixed_shift("convert", (src,), dst)
    if shift is None:
        return None
    k = _fixed_decoder(src)(a)
    if shift < 0:
        k <<= np.int64(-shift)
    return round_pack_int(k, max(shift, 0), dst, mode, overflow=overflow)
