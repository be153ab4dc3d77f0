"""Correctly rounded activation values through MPFR interval evaluation.

Helper module of :mod:`ulpflow.golden.activations`; nothing here is public API.

How one value is computed
-------------------------
For an input x (an exact dyadic rational) the function value v = σ(x) is enclosed in an interval
[lo, hi] at working precision P: every MPFR operation is done twice, once rounded toward −∞ and
once toward +∞, and each formula is written so that the lower end only ever uses lower ends of
increasing sub-results (and upper ends of decreasing ones). Both ends are converted exactly to
``Fraction`` and rounded by the golden encoder of the output format. Rounding is monotone, so if
both ends give the same code every point of [lo, hi] — v included — gives that code. Otherwise
P is doubled and the input is tried again, up to :data:`PRECISION_CAP` bits.

This only terminates when v is not itself a rounding boundary (a representable value under a
directed mode, or a midpoint under a nearest mode). For the transcendental parts that happens
only at x = 0, so every exact case is answered before MPFR is involved: zeros, infinities,
NaN, and the linear branches of ELU/SELU (computed as exact rationals).

Ends that MPFR under- or overflows are clamped into magnitudes that round exactly like the true
value: anything in (0, TINY] rounds like TINY when TINY is below a quarter of the output's
smallest positive step, and anything beyond HUGE rounds like HUGE when HUGE is past the
overflow threshold in every rounding mode. A zero end is replaced by ±TINY on the side of the
other end (the true value is known to be non-zero there).
"""

from __future__ import annotations

import functools
from fractions import Fraction

import gmpy2
import numpy as np

from .formats import CLASS_INF, CLASS_NAN, CLASS_ZERO

#: Constants of SELU as printed (32 significant digits) in Klambauer et al., "Self-Normalizing
#: Neural Networks" (2017), taken as exact decimal rationals: SELU here is *defined* with these
#: two rationals, so its correctly rounded values are well defined.
SELU_LAMBDA = Fraction("1.0507009873554804934193349852946")
SELU_ALPHA = Fraction("1.6732632423543772848170429916717")

#: Functions computed here (the exact ones, identity/relu/step, live in activations.py).
CR_FUNCTIONS = ("sigmoid", "tanh", "gelu", "silu", "elu", "selu", "softplus", "mish",
                "sin", "cos", "exp")

#: Working precision is doubled from the start value up to this many bits; beyond it the
#: evaluation stops with a ValueError naming the input.
PRECISION_CAP = 1 << 14

_EMAX = gmpy2.get_emax_max()
_EMIN = gmpy2.get_emin_min()


@functools.lru_cache(maxsize=None)
def _contexts(prec: int):
    down = gmpy2.context(precision=prec, round=gmpy2.RoundDown, emax=_EMAX, emin=_EMIN)
    up = gmpy2.context(precision=prec, round=gmpy2.RoundUp, emax=_EMAX, emin=_EMIN)
    return down, up


@functools.lru_cache(maxsize=None)
def _const(value: Fraction, prec: int):
    """Enclosure [lo, hi] of a rational constant at ``prec`` bits (a point if representable)."""
    q = gmpy2.mpq(value.numerator, value.denominator)
    down, up = _contexts(prec)
    return gmpy2.mpfr(q, prec, down), gmpy2.mpfr(q, prec, up)


@functools.lru_cache(maxsize=None)
def _sqrt2(prec: int):
    down, up = _contexts(prec)
    return down.sqrt(2), up.sqrt(2)


def exact_mpfr(v: Fraction):
    """``v`` (a dyadic rational) as an MPFR number, without rounding."""
    n, d = v.numerator, v.denominator
    if d & (d - 1):
        raise ValueError(f"input {v} is not a dyadic rational")
    prec = max(abs(n).bit_length(), 2)
    ctx = gmpy2.context(precision=prec, emax=_EMAX, emin=_EMIN)
    return ctx.div_2exp(gmpy2.mpfr(n, prec), d.bit_length() - 1)


# --------------------------------------------------------------------------------------------
# Interval building blocks. An interval is a pair (lo, hi) of mpfr numbers.
# --------------------------------------------------------------------------------------------

def _times_point(x, lo, hi, down, up):
    """x · [lo, hi] for a point x."""
    if x >= 0:
        return down.mul(x, lo), up.mul(x, hi)
    return down.mul(x, hi), up.mul(x, lo)


def _pos_times_neg(alo, ahi, mlo, mhi, down, up):
    """[alo, ahi] · [mlo, mhi] with 0 < alo and mhi <= 0."""
    return down.mul(ahi, mlo), up.mul(alo, mhi)


def _sigmoid_iv(x, down, up):
    # 1 / (1 + e^-x) is increasing in x; the lower end divides by the largest denominator.
    nx = down.minus(x)  # exact: P is at least the input precision
    return down.div(1, up.add(1, up.exp(nx))), up.div(1, down.add(1, down.exp(nx)))


def _softplus_iv(x, down, up):
    if x > 0:
        # x + log1p(e^-x): no overflow of e^x for huge x
        nx = down.minus(x)
        return down.add(x, down.log1p(down.exp(nx))), up.add(x, up.log1p(up.exp(nx)))
    return down.log1p(down.exp(x)), up.log1p(up.exp(x))


def _enc_sigmoid(x, down, up, prec, params):
    return _sigmoid_iv(x, down, up)


def _enc_tanh(x, down, up, prec, params):
    return down.tanh(x), up.tanh(x)


def _enc_sin(x, down, up, prec, params):
    return down.sin(x), up.sin(x)


def _enc_cos(x, down, up, prec, params):
    return down.cos(x), up.cos(x)


def _enc_exp(x, down, up, prec, params):
    return down.exp(x), up.exp(x)


def _enc_gelu(x, down, up, prec, params):
    # x · Φ(x) with Φ(x) = erfc(-x / √2) / 2; erfc keeps full relative accuracy for x << 0.
    s_lo, s_hi = _sqrt2(prec)
    a = abs(x)
    m_lo, m_hi = down.div(a, s_hi), up.div(a, s_lo)  # |x| / √2
    y_lo, y_hi = (down.minus(m_hi), up.minus(m_lo)) if x >= 0 else (m_lo, m_hi)
    e_lo, e_hi = down.erfc(y_hi), up.erfc(y_lo)  # erfc is decreasing
    return _times_point(x, down.div_2exp(e_lo, 1), up.div_2exp(e_hi, 1), down, up)


def _enc_silu(x, down, up, prec, params):
    lo, hi = _sigmoid_iv(x, down, up)
    return _times_point(x, lo, hi, down, up)


def _enc_softplus(x, down, up, prec, params):
    return _softplus_iv(x, down, up)


def _enc_mish(x, down, up, prec, params):
    s_lo, s_hi = _softplus_iv(x, down, up)
    return _times_point(x, down.tanh(s_lo), up.tanh(s_hi), down, up)


def _enc_elu(x, down, up, prec, params):
    # only x < 0 reaches MPFR: alpha · expm1(x), alpha > 0, expm1(x) < 0
    a_lo, a_hi = _const(params["alpha"], prec)
    return _pos_times_neg(a_lo, a_hi, down.expm1(x), up.expm1(x), down, up)


def _enc_selu(x, down, up, prec, params):
    c_lo, c_hi = _const(SELU_LAMBDA * SELU_ALPHA, prec)
    return _pos_times_neg(c_lo, c_hi, down.expm1(x), up.expm1(x), down, up)


_ENCLOSURES = {
    "sigmoid": _enc_sigmoid, "tanh": _enc_tanh, "gelu": _enc_gelu, "silu": _enc_silu,
    "elu": _enc_elu, "selu": _enc_selu, "softplus": _enc_softplus, "mish": _enc_mish,
    "sin": _enc_sin, "cos": _enc_cos, "exp": _enc_exp,
}

_INF = float("inf")
_NAN = float("nan")


def special_value(name: str, cls: int, negative: bool, value, params):
    """The exactly known result for an input, or None when MPFR must evaluate it.

    Returns a float (nan, ±inf, ±0.0: the sign of a zero result is the sign IEEE arithmetic on
    the defining formula would give, e.g. tanh(-0) = -0, gelu(-0) = -0·½ = -0) or a Fraction.
    Limits at ±inf: sigmoid(-inf) = +0, tanh(±inf) = ±1, gelu/silu/mish(-inf) = -0 (approached
    from below), elu(-inf) = -alpha, selu(-inf) = -λα, softplus(-inf) = exp(-inf) = +0, sin and
    cos of ±inf are NaN.
    """
    if cls == CLASS_NAN:
        return _NAN
    if cls == CLASS_INF:
        if not negative:
            return {"sigmoid": Fraction(1), "tanh": Fraction(1), "sin": _NAN,
                    "cos": _NAN}.get(name, _INF)
        return {"sigmoid": 0.0, "tanh": Fraction(-1), "gelu": -0.0, "silu": -0.0, "mish": -0.0,
                "elu": -params.get("alpha", 1), "selu": -SELU_LAMBDA * SELU_ALPHA,
                "softplus": 0.0, "sin": _NAN, "cos": _NAN, "exp": 0.0}[name]
    if cls == CLASS_ZERO:
        if name == "sigmoid":
            return Fraction(1, 2)
        if name in ("cos", "exp"):
            return Fraction(1)
        if name == "softplus":
            return None  # log 2
        return -0.0 if negative else 0.0
    if value > 0 and name == "elu":
        return value
    if value > 0 and name == "selu":
        return SELU_LAMBDA * value
    return None


def _floor_log2(v: Fraction) -> int:
    n, d = v.numerator, v.denominator
    e = n.bit_length() - d.bit_length()
    if (n << max(-e, 0)) < (d << max(e, 0)):
        e -= 1
    return e


class _Bounds:
    """Turns MPFR interval ends into exact Fractions that round like the true value.

    Clamping (see the module docstring) and *breakpoint nudging*: the rounding function of a
    format is constant between consecutive breakpoints (representable values under a directed
    mode, midpoints under a nearest mode). A value computed here is never itself a breakpoint
    (it is transcendental: Lindemann–Weierstrass for everything built from exp/sin/cos/log;
    for the erf in GELU this is assumed, as for every correctly rounded erf), so when an end
    lands exactly on one — e.g. gelu(151) < 151 but its upper end rounds to 151 at any sane
    precision — the true value lies strictly inside, and the end is moved inward by δ, a
    quarter of the smallest breakpoint spacing around it. Without this, directed modes near
    exact limits (and nearest modes at cross-format midpoints) would never settle.
    """

    def __init__(self, fmt, mode, wrap: bool):
        self.nearest = mode in ("RNE", "RNA")
        self.fixed = fmt.kind == "fixed"
        if not self.fixed:
            self.tiny = gmpy2.mpfr(2) ** (fmt.emin - fmt.man_bits - 2)
            self.huge = gmpy2.mpfr(2) ** (fmt.emax + 2)
            self.step = None
            self.emin, self.man_bits = fmt.emin, fmt.man_bits
        else:
            self.tiny = gmpy2.mpfr(2) ** -(fmt.frac_bits + 2)
            self.huge = None if wrap else gmpy2.mpfr(2) ** (fmt.int_bits + 1)
            # WRAP is not monotone: also require the enclosure to be narrower than one step
            self.step = gmpy2.mpfr(2) ** -fmt.frac_bits if wrap else None
            self.frac_bits = fmt.frac_bits

    def _spacing_exp(self, a: Fraction) -> int:
        """Exponent q of the grid spacing 2**q at |a| > 0 (unbounded exponent range)."""
        if self.fixed:
            return -self.frac_bits
        return max(_floor_log2(a), self.emin) - self.man_bits

    def _nudge(self, v: Fraction, inward: int) -> Fraction:
        if v == 0:
            return v
        q = self._spacing_exp(abs(v))
        s = abs(v) / (Fraction(2) ** q)
        on_grid = s.denominator == 1
        if self.nearest:
            hit = not on_grid and (2 * s).denominator == 1
        else:
            hit = on_grid
        if not hit:
            return v
        # below a power of two the spacing halves: a quarter of half the spacing is safe
        return v + inward * Fraction(2) ** (q - 3)

    def fraction(self, b, other, inward):
        """Exact Fraction standing in for the end ``b`` (``other`` is the opposite end, and
        ``inward`` is +1 for a lower end, -1 for an upper end), or None if undecidable."""
        if gmpy2.is_nan(b):
            return None
        if b == 0:
            if other == 0 or gmpy2.is_nan(other):
                return None
            b = self.tiny if other > 0 else -self.tiny
        elif gmpy2.is_infinite(b) or (self.huge is not None and abs(b) > self.huge):
            if self.huge is None:
                return None
            b = self.huge if b > 0 else -self.huge
        elif abs(b) < self.tiny:
            b = self.tiny if b > 0 else -self.tiny
        n, d = b.as_integer_ratio()
        return self._nudge(Fraction(int(n), int(d)), inward)


def start_precision(in_fmt, out_fmt) -> int:
    p_out = out_fmt.man_bits + 1 if out_fmt.kind == "float" else out_fmt.bits
    p_in = in_fmt.man_bits + 1 if in_fmt.kind == "float" else in_fmt.bits
    return max(64, p_out + 40, p_in + 8)


def round_mpfr(name, xs, out_fmt, mode, params, start_prec):
    """Correctly rounded codes of σ(x) for exact MPFR inputs ``xs`` (finite, non-special).

    Returns an array of ``out_fmt`` codes. Raises ValueError if an input stays undecided at
    :data:`PRECISION_CAP` bits.
    """
    enclose = _ENCLOSURES[name]
    n = len(xs)
    out = np.zeros(n, dtype=out_fmt.dtype)
    wrap = out_fmt.kind == "fixed" and out_fmt.overflow == "WRAP"
    bounds = _Bounds(out_fmt, mode, wrap)
    pending = np.arange(n)
    prec = start_prec
    while pending.size:
        if prec > PRECISION_CAP:
            x = xs[int(pending[0])]
            raise ValueError(f"{name}({x}) rounded to {out_fmt} in {mode} is still undecided at "
                             f"{PRECISION_CAP} bits of precision")
        down, up = _contexts(prec)
        lo_f = np.empty(pending.size, dtype=object)
        hi_f = np.empty(pending.size, dtype=object)
        decided = np.ones(pending.size, dtype=bool)
        for j, i in enumerate(pending.tolist()):
            lo, hi = enclose(xs[i], down, up, prec, params)
            a, b = bounds.fraction(lo, hi, 1), bounds.fraction(hi, lo, -1)
            too_wide = bounds.step is not None and up.sub(hi, lo) >= bounds.step
            if a is None or b is None or too_wide:
                decided[j] = False
                a = b = Fraction(0)
            lo_f[j], hi_f[j] = a, b
        c_lo = out_fmt.encode(lo_f, mode)
        c_hi = out_fmt.encode(hi_f, mode)
        ok = decided & (c_lo == c_hi)
        out[pending[ok]] = c_lo[ok]
        pending = pending[~ok]
        prec *= 2
    return out
