"""Operand vectors for binary units (pure NumPy and golden: no simulator here).

Generators (every one returns a pair ``(a, b)`` of code arrays, dtype ``fmt.dtype``):

* :func:`exhaustive` - every pair of valid codes (:func:`exhaustive_chunks`: the same, a block
  at a time, for sweeps too large to hold);
* :func:`level1` - the level-1 corner cases for one operation: a cross product of
  special operands (±0, smallest/largest subnormal and normal, ±max, ±inf, NaN, one ulp around
  1 and around powers of two) plus operand pairs engineered, with integer reasoning on codes,
  to produce ties at the rounding position (even and odd), carries out of the significand,
  massive cancellation, results rounding into and out of the subnormal range, overflow exactly
  at the threshold (max + half an ulp), and underflow to zero;
* :func:`level2` - the cross product of the level-1 operand classes plus seeded random pairs;
* :func:`random` - seeded random pairs (uniform codes mixed with close exponents and specials).

Construction only proposes candidates; what a set of vectors actually exercises is measured by
:mod:`ulpflow.sim.coverage` (whose names are also reachable here: ``vectors.coverage``,
``vectors.classes``, ``vectors.CLASSES``, ...). Running vectors through a unit against its golden
twin is :func:`ulpflow.sim.run_sweep`.

Examples
--------
>>> from ulpflow.golden import parse_format
>>> fp16 = parse_format("fp16")
>>> a, b = level1(fp16, "add")
>>> len(a) == len(b) > 0
True
"""

from __future__ import annotations

import numpy as np

import ulpflow.golden as golden

from .codes import OPS, check_format, check_op, code_triple
from .coverage import CLASSES, DETAILS, classes, coverage, format_coverage

__all__ = [
    "CLASSES",
    "DETAILS",
    "OPS",
    "classes",
    "coverage",
    "exhaustive",
    "MAX_PAIRS",
    "exhaustive_chunks",
    "format_coverage",
    "level1",
    "level2",
    "random",
]

# Seed of the randomised parts of level 1 (level 1 is a fixed set; level 2 takes a seed).
_LEVEL1_SEED = 0x5EED1
# Engineered candidates per class and binade sample in level 1.
_PER_CLASS = 48



# ----------------------------------------------------------------------------------------------
# Exhaustive and random


#: Most pairs :func:`exhaustive` returns in one call (2^26: 256 MiB of 16-bit codes); larger
#: sweeps go through :func:`exhaustive_chunks`, a block at a time.
MAX_PAIRS = 1 << 26
#: Most pairs an exhaustive sweep may have at all (16-bit operands each).
_MAX_SWEEP_BITS = 32


def _exhaustive_formats(fmt_a, fmt_b):
    fa = check_format(fmt_a, "fmt_a")
    fb = fa if fmt_b is None else check_format(fmt_b, "fmt_b")
    if fa.bits + fb.bits > _MAX_SWEEP_BITS:
        raise ValueError(f"exhaustive pairs of {fa} and {fb} would be 2^{fa.bits + fb.bits} vectors; "
                         "use level1/level2/random for formats this wide")
    return fa, fb


def exhaustive(fmt_a, fmt_b=None) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of valid codes, ``a`` major: ``a[i * nb + j], b[i * nb + j]``.

    Parameters
    ----------
    fmt_a : format
        Format of ``a``.
    fmt_b : format, optional
        Format of ``b`` (default ``fmt_a``). Both must be small enough to enumerate (16 bits
        each at most, 2^32 pairs), and the pairs must fit :data:`MAX_PAIRS` (2^26): a sweep of
        two 16-bit formats (16 GiB of codes) is refused here; iterate over
        :func:`exhaustive_chunks` instead.
    """
    fa, fb = _exhaustive_formats(fmt_a, fmt_b)
    ca, cb = fa.all_codes(), fb.all_codes()
    pairs = len(ca) * len(cb)
    if pairs > MAX_PAIRS:
        size = pairs * (fa.dtype.itemsize + fb.dtype.itemsize)
        raise ValueError(
            f"exhaustive pairs of {fa} and {fb} are {pairs} vectors ({size / 2**30:.0f} GiB of codes); "
            f"exhaustive() returns at most {MAX_PAIRS} (2^26) at once: iterate over "
            f"exhaustive_chunks({fa}, {fb}) instead"
        )
    return np.repeat(ca, len(cb)), np.tile(cb, len(ca))


def exhaustive_chunks(fmt_a, fmt_b=None, *, chunk: int = 1 << 22):
    """Every pair of valid codes, in the order of :func:`exhaustive`, as blocks of at most
    ``chunk`` pairs (whole rows of ``a``, at least one): yields ``(a, b)`` arrays, so a sweep of
    two 16-bit formats needs memory for one block only."""
    fa, fb = _exhaustive_formats(fmt_a, fmt_b)
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ValueError(f"chunk must be a positive int, got {chunk!r}")
    ca, cb = fa.all_codes(), fb.all_codes()
    rows = max(1, int(chunk) // len(cb))
    for lo in range(0, len(ca), rows):
        block = ca[lo:lo + rows]
        yield np.repeat(block, len(cb)), np.tile(cb, len(block))


def _uniform_codes(fmt, n: int, rng) -> np.ndarray:
    """n uniformly random valid codes."""
    if fmt.bits <= 16:
        codes = fmt.all_codes()
        return codes[rng.integers(0, len(codes), n)]
    raw = rng.integers(0, 1 << fmt.bits, n, dtype=np.uint64) if fmt.bits < 64 else rng.integers(
        0, np.iinfo(np.uint64).max, n, dtype=np.uint64, endpoint=True)
    if fmt.kind == "fixed" and fmt.symmetric:
        bad = raw == np.uint64(1 << (fmt.bits - 1))
        raw[bad] = 0  # the excluded most negative code
    return raw.astype(fmt.dtype)


def random(fmt, n: int, seed: int, *, fmt_b=None) -> tuple[np.ndarray, np.ndarray]:
    """``n`` seeded random operand pairs.

    Half are independent uniform codes; for float formats a quarter pairs ``a`` with a ``b``
    whose exponent is within ``p + 2`` binades of ``a`` (so the significands overlap and
    rounding, carries and cancellation happen often, which uniform codes of wide formats rarely
    give), and a quarter draws operands from the level-1 special values. The same seed gives
    the same vectors.
    """
    fa = check_format(fmt)
    fb = fa if fmt_b is None else check_format(fmt_b, "fmt_b")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    rng = np.random.default_rng(seed)
    a = _uniform_codes(fa, n, rng)
    b = _uniform_codes(fb, n, rng)
    if fa.kind != "float" or fb.kind != "float" or n < 4:
        return a, b
    q = n // 4
    # close exponents: b built from a's binade +- a few
    close = slice(n // 2, n // 2 + q)
    _, ea, _ = code_triple(fa, a[close])
    d = rng.integers(-(fb.man_bits + 3), fb.man_bits + 4, q)
    sig = rng.integers(1 << fb.man_bits, 1 << (fb.man_bits + 1), q, dtype=np.int64)
    sign = rng.integers(0, 2, q).astype(bool)
    codes, ok = _encode(fb, sign, ea + d, sig)
    b[close] = np.where(ok, codes, b[close])
    # specials
    sp = slice(n // 2 + q, n)
    pool_a, pool_b = _special_values(fa), _special_values(fb)
    m = n - (n // 2 + q)
    a[sp] = np.where(rng.integers(0, 2, m).astype(bool), pool_a[rng.integers(0, len(pool_a), m)], a[sp])
    b[sp] = pool_b[rng.integers(0, len(pool_b), m)]
    return a, b


# ----------------------------------------------------------------------------------------------
# Codes from integers (floats): value = (-1)^sign * sig * 2^(e - M), the scaling of a normal
# significand sig in [2^M, 2^(M+1)) at unbiased exponent e.


def _encode(fmt, sign, e, sig):
    """Codes for exact values (-1)^sign * sig * 2^(e - M); ``ok`` marks the representable ones.

    ``sig`` may be any positive integer: it is normalised when that loses no bits. Values
    below the normal range are encoded as subnormals when they lie on the subnormal grid.
    """
    M = fmt.man_bits
    sign = np.broadcast_to(np.asarray(sign, dtype=bool), np.broadcast(sign, e, sig).shape).copy()
    e = np.broadcast_to(np.asarray(e, dtype=np.int64), sign.shape).copy()
    sig = np.broadcast_to(np.asarray(sig, dtype=np.int64), sign.shape).copy()
    ok = sig > 0
    # normalise to exactly p bits where exact
    for _ in range(64):
        big = ok & (sig >= (1 << (M + 1)))
        if not big.any():
            break
        exact = (sig & 1) == 0
        ok &= ~big | exact
        sig = np.where(big & exact, sig >> 1, sig)
        e = np.where(big & exact, e + 1, e)
    small = ok & (sig < (1 << M))
    while small.any():
        sig = np.where(small, sig << 1, sig)
        e = np.where(small, e - 1, e)
        small = ok & (sig < (1 << M))
    ok &= e <= fmt.emax
    sub = ok & (e < fmt.emin)
    shift = np.where(sub, fmt.emin - e, 0)
    lost = np.where(sub & (shift < 63), sig & ((np.int64(1) << np.minimum(shift, 62)) - 1), 0)
    ok &= ~sub | ((shift <= M) & (lost == 0))
    if not fmt.subnormals:
        ok &= ~sub
    field = np.where(sub, 0, e + fmt.bias)
    frac = np.where(sub, sig >> np.minimum(shift, 62), sig - (1 << M))
    mag = (field.astype(np.uint64) << np.uint64(M)) | np.where(ok, frac, 0).astype(np.uint64)
    ok &= mag <= np.uint64(fmt.max_finite_code)
    codes = np.where(sign & (mag != 0), mag | np.uint64(1 << (fmt.bits - 1)), mag)
    if fmt.specials == "fnuz":
        codes = np.where(mag == 0, np.uint64(0), codes)
    return np.where(ok, codes, 0).astype(fmt.dtype), ok


def _neg(fmt, codes):
    """Codes with the sign flipped (no -0 and no negative NaN flip in fnuz; fixed: arithmetic)."""
    codes = np.asarray(codes).astype(fmt.dtype)
    return golden.neg(codes, fmt)


def _special_values(fmt) -> np.ndarray:
    """The level-1 operand values of a format (both signs where they exist), distinct."""
    vals: list[int] = [fmt.zero_code]
    if fmt.kind == "float":
        M = fmt.man_bits
        vals += [fmt.min_subnormal_code, fmt.max_finite_code, fmt.min_normal_code]
        if fmt.subnormals and M > 0:
            vals.append(fmt.min_normal_code - 1)  # largest subnormal
        # one ulp around 1 and around powers of two (a few binades across the range)
        for e in sorted({fmt.emin, fmt.emin + 1, -1, 0, 1, 2, fmt.emax - 1, fmt.emax}):
            c, ok = _encode(fmt, False, e, 1 << M)
            if ok:
                c = int(c)
                vals += [c, int(fmt.next_up(np.array([c], fmt.dtype))[0]),
                         int(fmt.next_down(np.array([c], fmt.dtype))[0])]
        vals.append(int(fmt.next_down(np.array([fmt.max_finite_code], fmt.dtype))[0]))
        vals.append(fmt.min_normal_code + 1)
        if fmt.inf_code is not None:
            vals.append(fmt.inf_code)
        if fmt.nan_code is not None:
            vals.append(fmt.nan_code)
            if fmt.specials == "ieee" and M >= 2:
                vals.append(fmt.nan_code | 1)  # a NaN with another payload
    else:
        one = fmt.one_code
        k = [1, 2, fmt.to_int(fmt.max_finite_code), fmt.to_int(fmt.max_finite_code) - 1]
        if one is not None:
            f1 = 1 << fmt.frac_bits
            k += [f1, f1 - 1, f1 + 1, f1 // 2, 2 * f1]
        k = [v for v in k if 0 < v <= int(fmt.to_int(fmt.max_finite_code))]
        vals += [int(c) for c in fmt.from_int(np.array(k, dtype=np.int64))]
    codes = np.unique(np.array(vals, dtype=np.uint64)).astype(fmt.dtype)
    both = np.concatenate([codes, _neg(fmt, codes)])
    if fmt.kind == "fixed":
        kmin = int(round(fmt.min_value * (1 << fmt.frac_bits)))
        both = np.concatenate([both, fmt.from_int(np.array([kmin, kmin + 1], dtype=np.int64))])
    return np.unique(both.astype(np.uint64)).astype(fmt.dtype)


# ----------------------------------------------------------------------------------------------
# Engineered pairs (floats)


def _binades(fmt, rng, extra: int = 4) -> np.ndarray:
    """Exponents to build pairs in: both ends of the range, around 1, and a few random ones."""
    fixed = [fmt.emin, fmt.emin + 1, -1, 0, 1, fmt.emax - 1, fmt.emax]
    rand = rng.integers(fmt.emin, fmt.emax + 1, extra)
    return np.unique(np.clip(np.array(fixed + list(rand)), fmt.emin, fmt.emax))


def _rand_sig(fmt, rng, n):
    return rng.integers(1 << fmt.man_bits, 1 << (fmt.man_bits + 1), n, dtype=np.int64)


def _pairs_add(fmt, rng) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Candidate pairs per class for a + b (b's sign decides effective addition/subtraction)."""
    M, p = fmt.man_bits, fmt.man_bits + 1
    k = _PER_CLASS
    out = {}

    def enc(sign, e, sig):
        return _encode(fmt, sign, e, sig)

    def keep(ca, oka, cb, okb):
        ok = oka & okb
        return ca[ok], cb[ok]

    bins = _binades(fmt, rng)
    # -- ties: b sits d binades below a with sig_b = j * 2^d + 2^(d-1): the bits of b below
    # a's LSB are exactly 100..0 (when the sum stays in a's binade). Both parities come from
    # flipping a's last bit.
    A, B = [], []
    for e in bins:
        for d in sorted({1, 2, 3, max(1, M // 2), M, p}):
            if d > p:
                continue
            sa = _rand_sig(fmt, rng, k)
            j = rng.integers(1 << max(M - d, 0), 1 << max(p - d, 1), k) if d <= M else np.zeros(k, np.int64)
            sb = (j << d) + (1 << (d - 1)) if d <= M else np.full(k, 1 << M, np.int64)
            sb = np.clip(sb, 1 << M, (1 << p) - 1)
            flip = np.arange(k) % 2 == 1
            sa = np.where(flip, sa ^ 1, sa)
            sign_b = rng.integers(0, 2, k).astype(bool)
            ca, oka = enc(False, e, sa)
            cb, okb = enc(sign_b, e - d, sb)
            a_, b_ = keep(ca, oka, cb, okb)
            A.append(a_)
            B.append(b_)
    out["ties"] = (np.concatenate(A), np.concatenate(B))
    # -- rounding carry: a has an all-ones significand, b is at least half an ulp of a
    A, B = [], []
    for e in bins:
        sa = np.full(k, (1 << p) - 1, np.int64)
        d = rng.integers(M + 1, M + 3, k)  # b within [ulp/4, ulp) of a, half ulp exactly too
        sb = np.where(np.arange(k) % 3 == 0, 1 << M, _rand_sig(fmt, rng, k))
        ca, oka = enc(False, e, sa)
        cb, okb = enc(False, e - d, sb)
        a_, b_ = keep(ca, oka, cb, okb)
        A.append(a_)
        B.append(b_)
        # same binade, same sign: the significand adder carries
        ca, oka = enc(False, e, _rand_sig(fmt, rng, k))
        cb, okb = enc(False, e, _rand_sig(fmt, rng, k))
        a_, b_ = keep(ca, oka, cb, okb)
        A.append(a_)
        B.append(b_)
    out["carry"] = (np.concatenate(A), np.concatenate(B))
    # -- massive cancellation: b = -(a +- a few ulps), also across a binade boundary
    A, B = [], []
    for e in bins:
        sa = _rand_sig(fmt, rng, k)
        delta = rng.integers(-4, 5, k)
        sb = np.clip(sa + delta, 1 << M, (1 << p) - 1)
        ca, oka = enc(False, e, sa)
        cb, okb = enc(True, e, sb)
        a_, b_ = keep(ca, oka, cb, okb)
        A.append(a_)
        B.append(b_)
        # 2^e - (2^e - small): leading bits cancel across the binade
        ca, oka = enc(False, e, np.full(k, 1 << M, np.int64))
        cb, okb = enc(True, e - 1, (1 << p) - rng.integers(1, 8, k))
        a_, b_ = keep(ca, oka, cb, okb)
        A.append(a_)
        B.append(b_)
    out["cancellation"] = (np.concatenate(A), np.concatenate(B))
    # -- into/out of the subnormal range: operands near the smallest normal
    A, B = [], []
    lo = [fmt.emin, fmt.emin + 1]
    for e in lo:
        sa = _rand_sig(fmt, rng, k)
        sb = _rand_sig(fmt, rng, k)
        ca, oka = enc(False, e, sa)
        cb, okb = enc(True, fmt.emin, sb)
        a_, b_ = keep(ca, oka, cb, okb)
        A.append(a_)
        B.append(b_)
    if fmt.subnormals and M > 0:
        # subnormal + subnormal, some reaching the normal range
        s1 = rng.integers(1, 1 << M, k)
        s2 = (1 << M) - s1 + rng.integers(-2, 3, k)
        s2 = np.clip(s2, 1, (1 << M) - 1)
        A.append(s1.astype(fmt.dtype))
        B.append(s2.astype(fmt.dtype))
    out["subnormal"] = (np.concatenate(A), np.concatenate(B))
    # -- overflow at the threshold: max + half an ulp, and its neighbours
    A, B = [], []
    mx = fmt.max_finite_code
    half, okh = enc(False, fmt.emax - p, 1 << M)  # half an ulp of max
    if okh:
        h = np.array([int(half)], fmt.dtype)
        bs = np.concatenate([h, fmt.next_up(h), fmt.next_down(h)])
        A.append(np.full(len(bs), mx, fmt.dtype))
        B.append(bs)
        A.append(_neg(fmt, np.full(len(bs), mx, fmt.dtype)))
        B.append(_neg(fmt, bs))
    for e in range(max(fmt.emin, fmt.emax - p - 2), fmt.emax + 1):
        ca, oka = enc(False, fmt.emax, (1 << p) - rng.integers(1, 4, k))
        cb, okb = enc(False, e, _rand_sig(fmt, rng, k))
        a_, b_ = keep(ca, oka, cb, okb)
        A.append(a_)
        B.append(b_)
    out["overflow"] = (np.concatenate(A), np.concatenate(B)) if A else _empty(fmt)
    return out


def _empty(fmt):
    return np.zeros(0, fmt.dtype), np.zeros(0, fmt.dtype)


def _odd_part_with(rng, n, M, t):
    """Significands in [2^M, 2^(M+1)) with exactly t trailing zeros (t <= M)."""
    t = np.asarray(t, dtype=np.int64)
    hi = (np.int64(1) << (M + 1 - t))
    lo = (np.int64(1) << np.maximum(M - t, 0))
    u = rng.integers(0, 1 << 62, n) % np.maximum(hi - lo, 1) + lo
    u = u | 1
    sig = u << t
    return np.clip(sig, 1 << M, (1 << (M + 1)) - 1)


def _partners(sa: np.ndarray, target: int, top: int, M: int):
    """For each significand sa the smallest sb with sa * sb >= target, kept where sb is a
    significand and the product stays below 2^top. Python integers: products of wide
    significands do not fit int64."""
    keep_a, keep_b = [], []
    for x in sa.tolist():
        y = -(-target // x)
        if (1 << M) <= y < (1 << (M + 1)) and x * y < (1 << top):
            keep_a.append(x)
            keep_b.append(y)
    return np.array(keep_a, dtype=np.int64), np.array(keep_b, dtype=np.int64)


def _pairs_mul(fmt, rng) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Candidate pairs per class for a * b.

    The product of significands P = sig_a * sig_b lies in [2^(2M), 2^(2M+2)); a normal result
    keeps its top p bits, so the rounding position is bit M (P < 2^(2M+1)) or M + 1. P is an
    exact tie exactly when its lowest set bit sits one below that position, i.e. when
    v2(sig_a) + v2(sig_b) = position - 1: ties are built by choosing trailing-zero counts.
    """
    M, p = fmt.man_bits, fmt.man_bits + 1
    k = _PER_CLASS
    out = {}

    def pair(sign_a, ea, sa, sign_b, eb, sb):
        ca, oka = _encode(fmt, sign_a, ea, sa)
        cb, okb = _encode(fmt, sign_b, eb, sb)
        ok = oka & okb
        return ca[ok], cb[ok]

    def split_exp(total, n):
        """Exponent pairs (ea, eb) in range with ea + eb = total."""
        ea = rng.integers(fmt.emin, fmt.emax + 1, n)
        eb = total - ea
        ok = (eb >= fmt.emin) & (eb <= fmt.emax)
        ea = np.where(ok, ea, np.clip(total // 2, fmt.emin, fmt.emax))
        return ea, total - ea

    A, B = [], []
    bins = _binades(fmt, rng)
    # -- ties in the normal range: v2(sig_a) + v2(sig_b) = M - 1 (or M when P >= 2^(2M+1))
    for e in bins:
        for pos in (M, M + 1):
            if pos - 1 > 2 * M:
                continue
            ta = rng.integers(max(0, pos - 1 - M), min(M, pos - 1) + 1, k)
            tb = pos - 1 - ta
            sa = _odd_part_with(rng, k, M, ta)
            sb = _odd_part_with(rng, k, M, tb)
            ea, eb = split_exp(np.full(k, e), k)
            sgn = rng.integers(0, 2, (2, k)).astype(bool)
            a_, b_ = pair(sgn[0], ea, sa, sgn[1], eb, sb)
            A.append(a_)
            B.append(b_)
    out["ties"] = (np.concatenate(A), np.concatenate(B))
    # -- rounding carry: P just below 2^(2M+1) (or 2^(2M+2)) by less than half an ulp
    A, B = [], []
    for e in bins:
        sa = _rand_sig(fmt, rng, 4 * k)
        for top in (2 * M + 1, 2 * M + 2):
            pos = top - p  # rounding position for products in the binade below 2^top
            target = (1 << top) - (1 << (pos - 1))  # all ones then exactly half an ulp
            sa_ok, sb_ok = _partners(sa, target, top, M)
            ea, eb = split_exp(np.full(len(sa_ok), e), len(sa_ok))
            a_, b_ = pair(False, ea, sa_ok, False, eb, sb_ok)
            A.append(a_[:k])
            B.append(b_[:k])
    out["carry"] = (np.concatenate(A), np.concatenate(B))
    # -- overflow threshold: products in the top binade near max + half an ulp
    A, B = [], []
    sa = _rand_sig(fmt, rng, 8 * k)
    for top, lead in ((2 * M + 1, 0), (2 * M + 2, 1)):
        pos = top - p
        for target in ((1 << top) - (1 << (pos - 1)), (1 << top) - (1 << pos), (1 << top) - (1 << (pos - 2)) if pos >= 2 else None):
            if target is None:
                continue
            sa_ok, sb_ok = _partners(sa, target, top, M)
            n_ok = len(sa_ok)
            # value = P * 2^(ea + eb - 2M); the product's binade is ea + eb + lead = emax
            ea, eb = split_exp(np.full(n_ok, fmt.emax - lead), n_ok)
            a_, b_ = pair(False, ea, sa_ok, rng.integers(0, 2, n_ok).astype(bool), eb, sb_ok)
            A.append(a_[:k])
            B.append(b_[:k])
    # exactly max + half an ulp = (2^(p+1) - 1) * 2^(emax - p): needs a factorisation of
    # 2^(p+1) - 1 into two odd factors below 2^p (fp16: 63 * 65; none for e4m3, 31 is prime)
    t = (1 << (p + 1)) - 1
    for u in range(3, int(t ** 0.5) + 1, 2):
        if t % u == 0 and t // u < (1 << p):
            v = t // u
            # a = u * 2^xa, b = v * 2^xb with xa + xb = emax - p; a placed mid-range.
            # _encode takes value = sig * 2^(e - M), so e = x + M.
            xa = fmt.emax // 2 - (u.bit_length() - 1)
            xb = fmt.emax - p - xa
            for sa_, sb_ in ((False, False), (True, False)):
                a_, b_ = pair(sa_, np.array([xa + M]), np.array([u]), sb_, np.array([xb + M]), np.array([v]))
                A.append(a_)
                B.append(b_)
            break
    out["overflow"] = (np.concatenate(A), np.concatenate(B))
    # -- subnormal results, underflow to zero, rounding to the smallest normal
    A, B = [], []
    sub_lsb = fmt.emin - M  # exponent of the smallest subnormal
    for drop in range(0, p + 3):
        # product magnitude around 2^(emin - drop): ties on the subnormal grid when the lowest
        # set bit of P * 2^(ea + eb - 2M) sits at sub_lsb - 1
        n = k
        sa = _rand_sig(fmt, rng, n)
        sb = _rand_sig(fmt, rng, n)
        lead = fmt.emin - drop
        ea, eb = split_exp(np.full(n, lead), n)
        A_, B_ = pair(rng.integers(0, 2, n).astype(bool), ea, sa, False, eb, sb)
        A.append(A_)
        B.append(B_)
        # exact ties on the subnormal grid: the lowest set bit of the value must sit at
        # sub_lsb - 1 and the value must have few enough bits to be tiny, which needs
        # v2(sig_a) + v2(sig_b) >= M (for instance a power of two times anything)
        ta = rng.integers(0, M + 1, n)
        tb = rng.integers(0, M + 1, n)
        tb = np.maximum(tb, M - ta)
        sa = _odd_part_with(rng, n, M, ta)
        sb = _odd_part_with(rng, n, M, tb)
        # value = sa * sb * 2^(ea + eb - 2M); its lowest set bit is ta + tb + ea + eb - 2M
        ea, eb = split_exp(sub_lsb - 1 - (ta + tb) + 2 * M, n)
        A_, B_ = pair(rng.integers(0, 2, n).astype(bool), ea, sa, False, eb, sb)
        A.append(A_)
        B.append(B_)
    # the smallest normal times (1 - 2^-p), exactly halfway to the largest subnormal: RNE rounds
    # out of the subnormal range; and half the smallest subnormal: underflow to zero
    one_minus, ok1 = _encode(fmt, False, -1, (1 << p) - 1)
    half, okh = _encode(fmt, False, -1, 1 << M)
    if ok1:
        A.append(np.array([fmt.min_normal_code, fmt.min_normal_code | 1], fmt.dtype))
        B.append(np.array([one_minus, one_minus], fmt.dtype))
    if okh:
        A.append(np.array([fmt.min_subnormal_code] * 3, fmt.dtype))
        B.append(np.array([half, int(fmt.next_up(np.array([half], fmt.dtype))[0]),
                           int(fmt.next_down(np.array([half], fmt.dtype))[0])], fmt.dtype))
    out["subnormal"] = (np.concatenate(A), np.concatenate(B))
    return out


def _pairs_fixed(fmt, op, rng) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Candidate pairs for fixed point: overflow by one ulp, product ties and underflow."""
    F = fmt.frac_bits
    kmax = int(fmt.to_int(fmt.max_finite_code))
    kmin = int(round(fmt.min_value * (1 << F)))
    k = _PER_CLASS
    ks = lambda lo, hi, n: rng.integers(lo, hi + 1, n)  # noqa: E731
    out = {}
    if op in ("add", "sub"):
        x = ks(max(kmin, -kmax), kmax, k)
        sgn = -1 if op == "sub" else 1
        y = np.clip(sgn * (kmax + 1 - x), kmin, kmax)  # x + y = max + 1
        y2 = np.clip(sgn * (kmin - 1 - x), kmin, kmax)  # x + y = min - 1
        a = np.concatenate([x, x, x])
        b = np.concatenate([y, y2, np.clip(y - sgn, kmin, kmax)])
        out["overflow"] = (fmt.from_int(a), fmt.from_int(b))
    else:
        # |a * b| = m * 2^(2F); tie when the lowest set bit of |ka * kb| is bit F - 1
        A, B = [], []
        if F >= 1:
            for _ in range(4):
                ta = rng.integers(0, F, k)
                tb = F - 1 - ta
                ua = ks(1, max(1, kmax >> 4), k) | 1
                ub = ks(1, max(1, kmax >> 4), k) | 1
                xa = np.minimum(ua << ta, kmax)
                xb = np.minimum(ub << tb, kmax)
                s = rng.integers(0, 2, (2, k)) * 2 - 1
                if fmt.signed:
                    xa, xb = xa * s[0], xb * s[1]
                A.append(xa)
                B.append(xb)
            # underflow: tiny products
            A.append(ks(1, max(1, 1 << (F // 2)), k))
            B.append(ks(1, max(1, 1 << (F // 2)), k))
        # products within one ulp above max (or below min): the smallest kb with
        # ka * kb > max * 2^F, kept when the excess is at most 2^F (Python integers)
        hits_a, hits_b = [], []
        for xa in ks(max(1, 1 << F), kmax, 64 * k).tolist():
            xb = (kmax << F) // xa + 1
            if xb <= kmax and xa * xb - (kmax << F) <= (1 << F):
                hits_a.append(xa)
                hits_b.append(xb)
                if len(hits_a) >= k:
                    break
        if fmt.signed:  # the negative side, near min
            hits_a += hits_a
            hits_b += [-y for y in hits_b]
        A.append(np.array(hits_a, dtype=np.int64))
        B.append(np.array(hits_b, dtype=np.int64))
        a = np.clip(np.concatenate(A), kmin, kmax)
        b = np.clip(np.concatenate(B), kmin, kmax)
        out["ties"] = (fmt.from_int(a), fmt.from_int(b))
    return out


def _engineered(fmt, op, rng) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    if fmt.kind == "fixed":
        return _pairs_fixed(fmt, op, rng)
    if op == "mul":
        return _pairs_mul(fmt, rng)
    groups = _pairs_add(fmt, rng)
    if op == "sub":  # a - b covers what a + (-b) covers
        groups = {name: (a, _neg(fmt, b)) for name, (a, b) in groups.items()}
    return groups


# ----------------------------------------------------------------------------------------------
# Levels


def _cross(x: np.ndarray, y: np.ndarray):
    return np.repeat(x, len(y)), np.tile(y, len(x))


def _dedupe(a, b, fmt):
    key = a.astype(np.uint64) << np.uint64(32) | b.astype(np.uint64) if fmt.bits <= 32 else None
    if key is None:
        pairs = np.unique(np.stack([a.astype(np.uint64), b.astype(np.uint64)], axis=1), axis=0)
        return pairs[:, 0].astype(fmt.dtype), pairs[:, 1].astype(fmt.dtype)
    _, idx = np.unique(key, return_index=True)
    idx.sort()
    return a[idx], b[idx]


def _level1_groups(fmt, op):
    rng = np.random.default_rng(_LEVEL1_SEED)
    specials = _special_values(fmt)
    groups = {"specials": _cross(specials, specials)}
    groups.update(_engineered(fmt, op, rng))
    return groups


def level1(fmt, op: str) -> tuple[np.ndarray, np.ndarray]:
    """Level-1 corner cases for ``op`` in ``fmt`` (a fixed, deterministic set).

    Every special operand value against every other, plus engineered pairs for ties (even
    and odd), carries out of the significand, massive cancellation (add/sub), results into and
    out of the subnormal range, overflow at the threshold and underflow to zero. Duplicates are
    removed; the order is stable. Use :func:`coverage` to see what the pairs really hit.
    """
    fmt = check_format(fmt)
    op = check_op(op)
    a, b = zip(*_level1_groups(fmt, op).values())
    return _dedupe(np.concatenate(a).astype(fmt.dtype), np.concatenate(b).astype(fmt.dtype), fmt)


def level2(fmt, op: str, seed: int, *, per_class: int = 24, n_random: int = 1 << 14) -> tuple[np.ndarray, np.ndarray]:
    """Level-2 vectors: level 1, the cross product of its classes, and seeded random pairs.

    From every level-1 group (specials, ties, carries, cancellation, subnormal, overflow) up
    to ``per_class`` ``a`` operands and ``per_class`` ``b`` operands are drawn (seeded), and
    every drawn ``a`` meets every drawn ``b`` of every group: pairs such as a tie operand
    against an overflow operand that no single class would build. ``n_random`` pairs from
    :func:`random` with the same seed complete the set.
    """
    fmt = check_format(fmt)
    op = check_op(op)
    rng = np.random.default_rng(seed)
    groups = _level1_groups(fmt, op)
    pool_a, pool_b = [], []
    for a, b in groups.values():
        for src, pool in ((a, pool_a), (b, pool_b)):
            u = np.unique(src)
            pool.append(u if len(u) <= per_class else rng.choice(u, per_class, replace=False))
    xa, xb = _cross(np.unique(np.concatenate(pool_a)), np.unique(np.concatenate(pool_b)))
    la, lb = level1(fmt, op)
    ra, rb = random(fmt, n_random, seed)
    a = np.concatenate([la, xa.astype(fmt.dtype), ra])
    b = np.concatenate([lb, xb.astype(fmt.dtype), rb])
    return _dedupe(a, b, fmt)


def __getattr__(name):
    if name == "run_sweep":
        raise AttributeError("vectors.run_sweep moved to ulpflow.sim.run_sweep (vectors runs no simulator)")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
