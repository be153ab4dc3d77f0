"""Interval (abstract) semantics of networks.

A value of the abstract domain is either ⊤ ("anything, NaN included") or a box ``[lo, hi]`` of
codes standing for every code whose value lies between ``lo`` and ``hi``. Every operation returns
the hull of the exact image of its input boxes, computed as follows:

* ``[a, b] ⊕ [c, d] = [a ⊕ c, b ⊕ d]`` — rounded addition is monotone in each argument;
* ``[a, b] ⊗ [c, d] = [min, max]`` of the four corner products (with a point weight ``[w, w]``
  this is ``[w⊗a, w⊗b]``, swapped for negative ``w``);
* a monotone activation (``Activation.monotone``) is evaluated at the endpoints; any other
  activation takes the min and max over **every** input code in the box (inputs of at most 16
  bits; wider non-monotone activations are refused);
* ⊤ wherever the image can contain NaN: an input endpoint is NaN, an endpoint result is NaN,
  ``+inf`` meets ``-inf`` in an addition (``b = +inf`` and ``c = -inf``, or ``a = -inf`` and
  ``d = +inf``), a box containing 0 is multiplied by one containing ±inf, or the activation maps
  some code of the box to NaN. ⊤ propagates through every later operation.
* Fixed-point formats with WRAP overflow are not monotone: a result whose corner computation
  wraps (differs from the saturating result) is ⊤ as well.
* An exact accumulation (a layer with ``accumulate="exact"``) is monotone in every term: the
  exact sums of the lower and of the upper endpoints, each rounded once; ⊤ where some term can
  be ``+inf`` while another can be ``-inf``, where an endpoint sum is NaN, or where a WRAP
  result wraps.

Representation
--------------
:class:`Box` ``(lo, hi, top)``: code arrays ``lo`` and ``hi`` and a boolean array ``top``.
Where ``top`` is set, ``lo`` and ``hi`` are both the format's NaN code when it has one; for formats
without NaN (fixed point, ``finite`` floats) they are the most negative and the most positive
code, which is then also a correct (if useless) hull.

Order and zeros
---------------
Comparisons use the golden comparison operations (IEEE order: −0 == +0). Minimum and maximum
break the tie between the two zeros like IEEE 754-2019 ``minimum``/``maximum``: −0 < +0. The set
a box stands for is defined by values, so ``[+0, x]`` and ``[−0, x]`` contain both zeros; a
monotone activation therefore looks at both zero codes when an endpoint is zero, and at every
code of the same value when an endpoint is a subnormal read as zero by a flush-to-zero format.

The interval result always contains the pointwise hull (soundness). It equals the hull when the
output depends on the input box through a single chain of monotone maps (a non-monotone
activation keeps this only where every code of its input box is attained, e.g. applied to the
input box itself). Otherwise it may be wider: dependency loss (``x ⊕ (−1)⊗x``
gives ``[lo ⊖ hi, hi ⊖ lo]``, not ``[0, 0]``), or a non-monotone activation seeing codes that the
previous map skips. tests/golden/test_interval.py shows all three cases by brute force.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import arith
from .evaluate import chunk_rows, walk_network
from .kulisch import exact_accumulate

__all__ = ["Box", "Intervals", "imin", "imax", "iadd", "imul", "iexact", "iactivation", "network_interval",
           "top_fill"]


# Boxes are evaluated in row chunks of about this many products (memory and cache locality).
_MAX_CHUNK_PRODUCTS = 1 << 20


class Box(NamedTuple):
    """Interval codes: ``lo``, ``hi`` (codes of one format) and the ⊤ flags ``top``."""

    lo: np.ndarray
    hi: np.ndarray
    top: np.ndarray


# ---------------------------------------------------------------------- order helpers
def _is_negative_zeroish(c, fmt):
    """Codes whose value is zero and whose sign bit is set (−0, or a negative FTZ subnormal)."""
    if fmt.kind == "fixed":
        return np.zeros(np.shape(c), dtype=bool)
    return fmt.is_zero(c) & fmt.sign(c)


def _zero_tie(a, b, fmt):
    """Where ``b`` is a negative zero (or negative FTZ subnormal) and ``a`` a positive zero."""
    if fmt.kind == "fixed":
        return np.zeros(np.broadcast(a, b).shape, dtype=bool)
    nb = _is_negative_zeroish(b, fmt)
    if not nb.any():
        return nb
    return nb & fmt.is_zero(a) & ~fmt.sign(a)


def imin(a, b, fmt):
    """Element-wise minimum by value (golden ``lt``), −0 below +0; not for NaN."""
    a = fmt.check_codes(a)
    b = fmt.check_codes(b)
    take_b = arith.lt(b, a, fmt) | _zero_tie(a, b, fmt)
    return np.where(take_b, b, a).astype(fmt.dtype)


def imax(a, b, fmt):
    """Element-wise maximum by value (golden ``lt``), +0 above −0; not for NaN."""
    a = fmt.check_codes(a)
    b = fmt.check_codes(b)
    take_b = arith.lt(a, b, fmt) | _zero_tie(b, a, fmt)
    return np.where(take_b, b, a).astype(fmt.dtype)


def _minmax(a, b, fmt):
    """``(imin(a, b), imax(a, b))`` with two comparisons."""
    a, b = np.broadcast_arrays(fmt.check_codes(a), fmt.check_codes(b))
    b_below = arith.lt(b, a, fmt) | _zero_tie(a, b, fmt)
    a_below = arith.lt(a, b, fmt) | _zero_tie(b, a, fmt)
    lo = np.where(b_below, b, a).astype(fmt.dtype)
    hi = np.where(a_below, b, a).astype(fmt.dtype)
    return lo, hi


def _pos_inf(c, fmt):
    if fmt.kind == "fixed" or fmt.inf_code is None:
        return np.zeros(np.shape(c), dtype=bool)
    return fmt.is_inf(c) & ~fmt.sign(c)


def _neg_inf(c, fmt):
    if fmt.kind == "fixed" or fmt.inf_code is None:
        return np.zeros(np.shape(c), dtype=bool)
    return fmt.is_inf(c) & fmt.sign(c)


def _contains_zero(box, fmt):
    z = np.zeros((), dtype=fmt.dtype)
    return arith.le(box.lo, z, fmt) & arith.ge(box.hi, z, fmt)


def _is_nan(c, fmt):
    if fmt.kind == "fixed" or fmt.nan_code is None:
        return np.zeros(np.shape(c), dtype=bool)
    return fmt.is_nan(c)


def _nan_operand(x: Box, fx, y: Box, fy):
    """Lanes where an endpoint of either operand is NaN."""
    return _is_nan(x.lo, fx) | _is_nan(x.hi, fx) | _is_nan(y.lo, fy) | _is_nan(y.hi, fy)


def top_fill(box: Box, fmt) -> Box:
    """Write the documented ⊤ representation into ``lo``/``hi`` where ``top`` is set."""
    top = np.asarray(box.top, dtype=bool)
    if not top.any():
        return Box(box.lo, box.hi, top)
    if fmt.kind == "float" and fmt.nan_code is not None:
        lo_c = hi_c = fmt.nan_code
    else:
        hi_c = fmt.max_finite_code
        if fmt.kind == "fixed":
            lo_c = int(fmt.from_int(np.array([fmt.kmin]))[0])
        else:
            lo_c = fmt.max_finite_code | (1 << (fmt.bits - 1))
    lo = np.where(top, lo_c, box.lo).astype(fmt.dtype)
    hi = np.where(top, hi_c, box.hi).astype(fmt.dtype)
    return Box(lo, hi, top)


def _wraps(result, a, b, op, fa, fb, out, rounding):
    """For WRAP fixed-point outputs: where the computation overflowed (SAT would differ)."""
    if out.kind != "fixed" or out.overflow != "WRAP":
        return None
    sat = op(a, b, (fa, fb), rounding=rounding, out=out, overflow="SAT")
    return sat != result


# ---------------------------------------------------------------------- operations
def iadd(x: Box, y: Box, fx, fy, out, rounding=None) -> Box:
    """``x ⊕♯ y``: endpoint sums rounded once to ``out``, ⊤ where NaN is possible.

    Every source of a NaN (a NaN endpoint, ∞ − ∞) is detected from the operands, so a format
    without NaN gets ⊤ there too (its endpoint sums use the per-lane substitute, ``strict=False``).
    """
    lo = arith.add(x.lo, y.lo, (fx, fy), rounding=rounding, out=out, strict=False)
    hi = arith.add(x.hi, y.hi, (fx, fy), rounding=rounding, out=out, strict=False)
    top = np.asarray(x.top, dtype=bool) | np.asarray(y.top, dtype=bool) | _nan_operand(x, fx, y, fy)
    top = top | _is_nan(lo, out) | _is_nan(hi, out)
    top = top | (_pos_inf(x.hi, fx) & _neg_inf(y.lo, fy)) | (_neg_inf(x.lo, fx) & _pos_inf(y.hi, fy))
    for r, a, b in ((lo, x.lo, y.lo), (hi, x.hi, y.hi)):
        w = _wraps(r, a, b, arith.add, fx, fy, out, rounding)
        if w is not None:
            top = top | w
    return top_fill(Box(lo, hi, top), out)


def imul(x: Box, y: Box, fx, fy, out, rounding=None) -> Box:
    """``x ⊗♯ y``: min and max of the four rounded corner products, ⊤ where NaN is possible.

    When ``x`` is a point (``x.lo is x.hi``, as for the weights of a network) the four corners
    are two products.
    """
    top = np.asarray(x.top, dtype=bool) | np.asarray(y.top, dtype=bool) | _nan_operand(x, fx, y, fy)
    pairs = [(x.lo, y.lo), (x.lo, y.hi)]
    if x.lo is not x.hi:
        pairs += [(x.hi, y.lo), (x.hi, y.hi)]
    corners = []
    for a, b in pairs:
        c = arith.mul(a, b, (fx, fy), rounding=rounding, out=out, strict=False)
        top = top | _is_nan(c, out)
        w = _wraps(c, a, b, arith.mul, fx, fy, out, rounding)
        if w is not None:
            top = top | w
        corners.append(c)
    top = top | (_contains_zero(x, fx) & (_pos_inf(y.hi, fy) | _neg_inf(y.lo, fy)))
    top = top | (_contains_zero(y, fy) & (_pos_inf(x.hi, fx) | _neg_inf(x.lo, fx)))
    if out.kind == "float" and top.any():
        # NaN corners (or their substitutes) are masked by ⊤; keep min/max away from them.
        corners = [np.where(top, out.zero_code, c).astype(out.dtype) for c in corners]
    lo, hi = _minmax(corners[0], corners[1], out)
    if len(corners) == 4:
        lo2, hi2 = _minmax(corners[2], corners[3], out)
        lo, hi = imin(lo, lo2, out), imax(hi, hi2, out)
    return top_fill(Box(lo, hi, top), out)


# ---------------------------------------------------------------------- activations
class _RangeTable:
    """Range queries over the input codes of one activation, in value order.

    Input codes (NaN excluded) are sorted by value; codes of equal value (±0, FTZ subnormals)
    form one group. Sparse tables give, for any range of positions, the position of the
    minimum and maximum output (−0 < +0) and whether some output is NaN.
    """

    def __init__(self, act):
        fin, fout = act.in_format, act.out_format
        codes = fin.all_codes()
        codes = codes[~_is_nan(codes, fin)]
        vkey = _value_key(codes, fin)
        order = np.lexsort((~_sign_bits(codes, fin), vkey))  # by value, then sign set first
        codes, vkey = codes[order], vkey[order]
        y = np.asarray(act(codes)).astype(fout.dtype).reshape(codes.shape)
        n = codes.size
        self.fin, self.fout = fin, fout
        # first/last position of each code's value group, indexed by code
        starts = np.flatnonzero(np.concatenate(([True], vkey[1:] != vkey[:-1])))
        ends = np.concatenate((starts[1:], [n])) - 1
        group = np.searchsorted(starts, np.arange(n), side="right") - 1
        self.first = np.zeros(1 << fin.bits, dtype=np.int64)
        self.last = np.zeros(1 << fin.bits, dtype=np.int64)
        self.first[codes.astype(np.int64)] = starts[group]
        self.last[codes.astype(np.int64)] = ends[group]
        self.y = y
        nan = _is_nan(y, fout)
        tk = _total_key(y, fout)
        big = np.iinfo(np.int64).max
        tk_min = np.where(nan, big, tk)
        tk_max = np.where(nan, -big, tk)
        self.levels_min = [np.arange(n)]
        self.levels_max = [np.arange(n)]
        self.levels_nan = [nan]
        k = 1
        while (1 << k) <= n:
            h = 1 << (k - 1)
            pm, px, pn = self.levels_min[-1], self.levels_max[-1], self.levels_nan[-1]
            a, b = pm[:-h], pm[h:]
            self.levels_min.append(np.where(tk_min[b] < tk_min[a], b, a))
            a, b = px[:-h], px[h:]
            self.levels_max.append(np.where(tk_max[b] > tk_max[a], b, a))
            self.levels_nan.append(pn[:-h] | pn[h:])
            k += 1
        self.tk_min, self.tk_max = tk_min, tk_max

    def query(self, l, r):
        """(min code, max code, any NaN) of outputs over positions l..r (inclusive)."""
        length = r - l + 1
        k = np.zeros(length.shape, dtype=np.int64)
        while True:  # floor(log2(length)) without float arithmetic
            more = (np.int64(1) << (k + 1)) <= length
            if not more.any():
                break
            k = k + more
        r2 = r - (np.int64(1) << k) + 1
        mins = np.empty(l.shape, dtype=np.int64)
        maxs = np.empty(l.shape, dtype=np.int64)
        nans = np.empty(l.shape, dtype=bool)
        for lev in np.unique(k):
            m = k == lev
            lm, rm = l[m], r2[m]
            a, b = self.levels_min[lev][lm], self.levels_min[lev][rm]
            mins[m] = np.where(self.tk_min[b] < self.tk_min[a], b, a)
            a, b = self.levels_max[lev][lm], self.levels_max[lev][rm]
            maxs[m] = np.where(self.tk_max[b] > self.tk_max[a], b, a)
            nans[m] = self.levels_nan[lev][lm] | self.levels_nan[lev][rm]
        return self.y[mins], self.y[maxs], nans


def _sign_bits(codes, fmt):
    if fmt.kind == "fixed":
        return fmt.to_int(codes) < 0
    return fmt.sign(codes)


def _value_key(codes, fmt):
    """Integer key ordered like the values (equal values, e.g. ±0, get equal keys); no NaN."""
    if fmt.kind == "fixed":
        return fmt.to_int(codes).astype(np.int64)
    mag = codes.astype(np.int64) & ((1 << (fmt.bits - 1)) - 1)
    mag = np.where(fmt.is_zero(codes), 0, mag)  # FTZ subnormals read as zero
    return np.where(fmt.sign(codes), -mag, mag)


def _total_key(codes, fmt):
    """Like :func:`_value_key` but −0 < +0 (keys doubled to make room)."""
    v = _value_key(codes, fmt) * 2
    if fmt.kind == "float":
        v = v - (fmt.is_zero(codes) & fmt.sign(codes))
    return v


def _range_table(act, cache):
    key = id(act)
    if cache is not None and key in cache:
        return cache[key][1]
    table = _RangeTable(act)
    if cache is not None:
        cache[key] = (act, table)  # keep act alive so its id is not reused
    return table


def iactivation(act, x: Box, *, _cache=None) -> Box:
    """``σ̂♯(x)``: endpoints for monotone σ̂, min/max over every code of the box otherwise."""
    fin, fout = act.in_format, act.out_format
    top = np.asarray(x.top, dtype=bool)
    lo_in = np.where(top, fin.zero_code, x.lo).astype(fin.dtype)
    hi_in = np.where(top, fin.zero_code, x.hi).astype(fin.dtype)
    monotone = bool(getattr(act, "monotone", False))
    if fin.bits <= 16:
        t = _range_table(act, _cache)
        lo_pos = t.first[lo_in.astype(np.int64)]
        hi_pos = t.last[hi_in.astype(np.int64)]
        if monotone:
            # the value group of each endpoint (both zeros, FTZ subnormals)
            lo_min, _, lo_nan = t.query(lo_pos, t.last[lo_in.astype(np.int64)])
            _, hi_max, hi_nan = t.query(t.first[hi_in.astype(np.int64)], hi_pos)
            _, _, any_nan = t.query(lo_pos, hi_pos)
            lo, hi, nan = lo_min, hi_max, lo_nan | hi_nan | any_nan
        else:
            lo, hi, nan = t.query(lo_pos, hi_pos)
    else:
        if not monotone:
            raise NotImplementedError(f"interval semantics of the non-monotone activation "
                                      f"{getattr(act, 'name', act)!r} over {fin} (more than 16 bits) "
                                      "would need every code of each box")
        shape = lo_in.shape
        ylo = np.asarray(act(lo_in)).astype(fout.dtype).reshape(shape)
        yhi = np.asarray(act(hi_in)).astype(fout.dtype).reshape(shape)
        if fin.kind == "float":
            # a zero endpoint stands for both zeros
            pz = np.full(shape, fin.zero_code, dtype=fin.dtype)
            nz = np.full(shape, 1 << (fin.bits - 1), dtype=fin.dtype)
            ypz = np.asarray(act(pz)).astype(fout.dtype).reshape(shape)
            ynz = ypz if fin.specials == "fnuz" else np.asarray(act(nz)).astype(fout.dtype).reshape(shape)
            zmin, zmax = imin(ypz, ynz, fout), imax(ypz, ynz, fout)
            ylo = np.where(fin.is_zero(lo_in), zmin, ylo).astype(fout.dtype)
            yhi = np.where(fin.is_zero(hi_in), zmax, yhi).astype(fout.dtype)
        lo, hi = ylo, yhi
        nan = _is_nan(lo, fout) | _is_nan(hi, fout)
    return top_fill(Box(np.asarray(lo, dtype=fout.dtype), np.asarray(hi, dtype=fout.dtype), top | nan), fout)


# ---------------------------------------------------------------------- exact accumulation
def iexact(columns, formats, out, rounding=None) -> Box:
    """The exact sum of boxes, rounded once (monotone): ``[Σ lo, Σ hi]``, ⊤ where NaN is possible.

    NaN is possible where an input is ⊤, an endpoint sum is NaN, or one term can be ``+inf``
    while another can be ``-inf``; a WRAP fixed-point result that wraps is ⊤ too.
    """
    lo = exact_accumulate([c.lo for c in columns], formats, out, rounding)
    hi = exact_accumulate([c.hi for c in columns], formats, out, rounding)
    top = np.zeros(np.shape(lo), dtype=bool)
    n_pos = np.zeros(np.shape(lo), dtype=np.int64)   # terms that can be +inf
    n_neg = np.zeros(np.shape(lo), dtype=np.int64)   # terms that can be -inf
    n_both = np.zeros(np.shape(lo), dtype=np.int64)  # terms that can be either
    for c, f in zip(columns, formats):
        top = top | np.asarray(c.top, dtype=bool)
        p, q = _pos_inf(c.hi, f), _neg_inf(c.lo, f)
        n_pos, n_neg, n_both = n_pos + p, n_neg + q, n_both + (p & q)
    # +inf and -inf from two different terms: not when the only candidate is one term for both
    mixed = (n_pos > 0) & (n_neg > 0) & ~((n_pos == 1) & (n_neg == 1) & (n_both == 1))
    top = top | mixed | _is_nan(lo, out) | _is_nan(hi, out)
    if out.kind == "fixed" and out.overflow == "WRAP":
        for r, side in ((lo, "lo"), (hi, "hi")):
            sat = exact_accumulate([getattr(c, side) for c in columns], formats, out, rounding, overflow="SAT")
            top = top | (sat != r)
    return top_fill(Box(lo, hi, top), out)


# ---------------------------------------------------------------------- the network semantics
class Intervals:
    """Interval semantics for the network walk of :mod:`ulpflow.golden.evaluate`: every value is
    a :class:`Box`. Activation range tables are cached per semantics object (one network run)."""

    keep_nodes = False

    def __init__(self):
        self.cache = {}

    # -- node operations
    @staticmethod
    def add(a, fa, b, fb, out, rounding):
        return iadd(a, b, fa, fb, out, rounding)

    @staticmethod
    def zero(like, fmt):
        z = np.full(np.shape(like.lo), fmt.zero_code, dtype=fmt.dtype)
        return Box(z, z, np.zeros(z.shape, dtype=bool))

    @staticmethod
    def single(a, fa, out, rounding):
        if fa == out:
            return a
        lo = arith.convert(a.lo, fa, out, rounding=rounding)
        hi = arith.convert(a.hi, fa, out, rounding=rounding)
        return top_fill(Box(lo, hi, a.top | _is_nan(lo, out) | _is_nan(hi, out)), out)

    @staticmethod
    def exact(columns, formats, out, rounding):
        return iexact(columns, formats, out, rounding)

    # -- layer operations
    @staticmethod
    def rows(x):
        return x.lo.shape[0]

    @staticmethod
    def products(layer, x, in_fmt):
        W = layer.weights.T[:, None, :]  # (n_in, 1, n_out)
        wbox = Box(W, W, np.zeros(W.shape, dtype=bool))  # a point: imul needs two corners
        xb = Box(np.ascontiguousarray(x.lo.T)[:, :, None], np.ascontiguousarray(x.hi.T)[:, :, None],
                 np.ascontiguousarray(x.top.T)[:, :, None])
        return imul(wbox, xb, layer.weight_format, in_fmt, layer.product_format, layer.rounding)

    @staticmethod
    def columns(layer, prod, idx):
        rows = prod.lo.shape[1]
        if idx is None:
            bias = np.broadcast_to(layer.bias, (rows, layer.n_out))
            return ([Box(prod.lo[j], prod.hi[j], prod.top[j]) for j in range(layer.n_in)]
                    + [Box(bias, bias, np.zeros(bias.shape, dtype=bool))])
        bias = np.broadcast_to(layer.bias[idx], (rows, idx.size))
        return ([Box(prod.lo[j][:, idx], prod.hi[j][:, idx], prod.top[j][:, idx]) for j in range(layer.n_in)]
                + [Box(bias, bias, np.zeros(bias.shape, dtype=bool))])

    @staticmethod
    def sums(layer, rows):
        acc = layer.acc_format
        return Box(np.empty((rows, layer.n_out), dtype=acc.dtype), np.empty((rows, layer.n_out), dtype=acc.dtype),
                   np.empty((rows, layer.n_out), dtype=bool))

    @staticmethod
    def put(sums, idx, root):
        sel = slice(None) if idx is None else (slice(None), idx)
        sums.lo[sel], sums.hi[sel], sums.top[sel] = root.lo, root.hi, root.top

    def activation(self, act, sums):
        return iactivation(act, sums, _cache=self.cache)

    def layer_done(self, layer, x, prod, groups, sums, out):
        pass


def _check_box(net, lo, hi):
    fmt = net.input_format
    lo = net.check_inputs(lo, "lo")
    hi = net.check_inputs(hi, "hi")
    if lo.shape != hi.shape:
        raise ValueError(f"lo and hi must have the same shape, got {lo.shape} and {hi.shape}")
    top = _is_nan(lo, fmt) | _is_nan(hi, fmt)
    bad = arith.gt(lo, hi, fmt) & ~top
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(f"box row {r}, input {c}: lo {fmt.show(lo[r, c])} is above hi "
                         f"{fmt.show(hi[r, c])}; expected lo <= hi")
    return top_fill(Box(lo, hi, top), fmt)


def network_interval(net, lo, hi, *, return_layers: bool = False):
    """Interval evaluation of ``net`` over boxes ``[lo, hi]`` (codes, shape (batch, n_in)).

    Returns the output :class:`Box`; with ``return_layers`` a list with one Box per layer
    (activation outputs).
    """
    x = _check_box(net, lo, hi)
    sem = Intervals()
    B = x.lo.shape[0]
    most = max(l.n_out * l.n_in for l in net.layers)
    chunk = max(1, min(B, _MAX_CHUNK_PRODUCTS // most))
    if B <= chunk:
        per_layer = walk_network(net, x, sem)
    else:
        parts = [walk_network(net, Box(x.lo[s:e], x.hi[s:e], x.top[s:e]), sem) for s, e in chunk_rows(B, chunk)]
        per_layer = [Box(*(np.concatenate([p[i][f] for p in parts]) for f in range(3)))
                     for i in range(len(net.layers))]
    return per_layer if return_layers else per_layer[-1]
