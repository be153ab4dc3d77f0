"""Piecewise-linear activation approximations in integer arithmetic (method ``"pwl"``).

Helper module of :mod:`ulpflow.golden.activations`. A :class:`PWL` object is the complete,
bit-exact specification a hardware unit has to match; every step is integer arithmetic except
the two conversions, which are the golden model's own single-rounding operations.

The computation, for an input code x of ``in_format``
-------------------------------------------------------
Let G = Q(I, F) be the grid format (``grid_format``, signed, saturating), n = I + F, R = 2^(I-1)
(the grid covers [-R, R)), S = 2^s segments (``segments``), h = n - s (``offset_bits``).

1. NaN → NaN of ``out_format`` (its zero code if it has none).
2. Left tail: value(x) < -R → the constant code ``left_code``.
3. Right tail: value(x) >= R → the constant code ``right_code`` (``right == "const"``) or
   ``convert(x, in_format, out_format, rounding)`` (``right == "identity"``).
4. Grid: k = to_int(convert(x, in_format, G, rounding=grid_rounding)), an integer in
   [-2^(n-1), 2^(n-1) - 1] (the conversion saturates at the top end).
5. Segment and offset: u = k + 2^(n-1) (the sign bit of k flipped, an unsigned n-bit number);
   seg = u >> h (the top s bits); t = u & (2^h - 1) (the low h bits, unsigned).
6. acc = slopes[seg] · t + intercepts[seg] — an exact signed integer (``acc_bits`` wide).
   ``slopes[seg]`` is an integer code of ``slope_format`` = Q(Is, Fs) read at scale 2^-(Fs+F)
   per step of t, ``intercepts[seg]`` a code of ``intercept_format`` = Q(Ic, Fs + F).
7. y = acc · 2^-(Fs + F) rounded once to ``out_format`` in mode ``rounding``
   (:func:`ulpflow.golden.round_pack` with sign = acc < 0, sig = |acc|, exp = -(Fs + F)).

Steps 5 and 6 are :meth:`PWL.evaluate_int`. The coefficients are a per-segment fit: slope =
chord slope of σ over the segment's grid points, rounded to the slope format; intercept =
midpoint of the largest and smallest residual (equalising the error at the ends), rounded. The
fit uses MPFR at 96 bits, so it is identical on every machine.
"""

from __future__ import annotations

from fractions import Fraction

import gmpy2
import numpy as np

from .arith import convert
from .formats import CLASS_NAN, FixedFormat
from .rounding import check_rounding, round_pack

# Tails: left constant = the limit at -inf; right = 1 (bounded functions) or the input itself.
_TAILS = {
    "sigmoid": (Fraction(0), "const", Fraction(1)),
    "tanh": (Fraction(-1), "const", Fraction(1)),
    "gelu": (-0.0, "identity", None),
    "silu": (-0.0, "identity", None),
    "mish": (-0.0, "identity", None),
    "softplus": (Fraction(0), "identity", None),
    "elu": (None, "identity", None),  # left: -alpha
}


def _int(name, value, lo, hi):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in {lo} .. {hi}, got {value!r}")
    return int(value)


def pwl_params(name, params: dict) -> dict:
    """Pop and check the PWL settings from ``params`` (defaults filled in).

    grid_int_bits (I, default 4: domain [-8, 8)), grid_frac_bits (F, default 8),
    segments (power of two, default 64), slope_frac_bits (Fs, default 14),
    grid_rounding (rounding of the input onto the grid, default RNE).
    """
    out = {}
    out["grid_int_bits"] = _int("grid_int_bits", params.pop("grid_int_bits", 4), 1, 16)
    out["grid_frac_bits"] = _int("grid_frac_bits", params.pop("grid_frac_bits", 8), 0, 20)
    n = out["grid_int_bits"] + out["grid_frac_bits"]
    if n > 20:
        raise ValueError(f"the PWL grid has {n} bits; at most 20 are supported")
    seg = _int("segments", params.pop("segments", 64), 1, 1 << n)
    if seg & (seg - 1):
        raise ValueError(f"segments must be a power of two, got {seg}")
    out["segments"] = seg
    out["slope_frac_bits"] = _int("slope_frac_bits", params.pop("slope_frac_bits", 14), 0, 30)
    out["grid_rounding"] = check_rounding(params.pop("grid_rounding", "RNE"))
    return out


def _signed_width(values) -> int:
    """Bits of a two's complement integer holding every value (at least 1)."""
    lo, hi = int(min(values)), int(max(values))
    w = 1
    while not (-(1 << (w - 1)) <= lo and hi <= (1 << (w - 1)) - 1):
        w += 1
    return w


def _mpfr_function(name, alpha):
    """σ at 96 bits, round-to-nearest (coefficient fitting only)."""
    ctx = gmpy2.context(precision=96)
    a = gmpy2.mpfr(gmpy2.mpq(alpha.numerator, alpha.denominator), 96) if alpha is not None else None
    sqrt2 = ctx.sqrt(2)

    def f(x):
        if name == "sigmoid":
            return ctx.div(1, ctx.add(1, ctx.exp(ctx.minus(x))))
        if name == "tanh":
            return ctx.tanh(x)
        if name == "gelu":
            return ctx.mul(x, ctx.div_2exp(ctx.erfc(ctx.div(ctx.minus(x), sqrt2)), 1))
        if name == "silu":
            return ctx.div(x, ctx.add(1, ctx.exp(ctx.minus(x))))
        sp = ctx.log1p(ctx.exp(x)) if x <= 0 else ctx.add(x, ctx.log1p(ctx.exp(ctx.minus(x))))
        if name == "softplus":
            return sp
        if name == "mish":
            return ctx.mul(x, ctx.tanh(sp))
        if name == "elu":
            return x if x > 0 else ctx.mul(a, ctx.expm1(x))
        raise ValueError(name)
    return f


class PWL:
    """Piecewise-linear approximation of σ over a fixed-point grid (see the module docstring
    for the exact computation).

    Members
    -------
    name, in_format, out_format, rounding
    grid_format : FixedFormat Q(I, F), signed, saturating
    grid_rounding : rounding of the input onto the grid
    segments, offset_bits : S = 2^s segments, h = n - s low bits of the offset t
    slope_format, intercept_format : FixedFormats of the coefficient codes
    slopes, intercepts : int64 arrays (the integers; ``slope_codes`` / ``intercept_codes`` are
        the same as codes of their formats)
    acc_bits : width of the signed accumulator ``slope·t + intercept``
    left_bound, right_bound : Fractions -R and R; left_code, right_code, right ("const" or
        "identity")
    """

    def __init__(self, name, in_format, out_format, rounding, params):
        if name not in _TAILS:
            raise ValueError(f"no piecewise-linear implementation of {name}")
        self.name = name
        self.in_format, self.out_format = in_format, out_format
        self.rounding = check_rounding(rounding)
        I, F = params["grid_int_bits"], params["grid_frac_bits"]
        self.grid_format = FixedFormat(I, F)
        self.grid_rounding = params["grid_rounding"]
        n = I + F
        self.segments = params["segments"]
        self.offset_bits = n - (self.segments.bit_length() - 1)
        self.slope_frac_bits = Fs = params["slope_frac_bits"]
        self.acc_frac_bits = Fs + F
        self.left_bound = Fraction(-(1 << (I - 1)))
        self.right_bound = Fraction(1 << (I - 1))
        self.alpha = params.get("alpha")
        left, self.right, right = _TAILS[name]
        if name == "elu":
            left = -self.alpha
        self.left_value, self.right_value = left, right
        self.left_code = int(self._encode_const(left))
        self.right_code = None if right is None else int(self._encode_const(right))
        self._fit()

    def _encode_const(self, v):
        out = self.out_format
        if isinstance(v, float):  # ±0.0
            if out.kind == "fixed":
                return out.zero_code
            return out.encode(np.array([v]), self.rounding)[0]
        arr = np.empty(1, dtype=object)
        arr[0] = v
        return out.encode(arr, self.rounding)[0]

    # -- fitting -----------------------------------------------------------------------------
    def _fit(self):
        n = self.grid_format.bits
        F = self.grid_format.frac_bits
        h = self.offset_bits
        scale = gmpy2.mpfr(2) ** self.acc_frac_bits  # value -> acc units
        f = _mpfr_function(self.name, self.alpha)
        ctx = gmpy2.context(precision=96)
        slopes, intercepts = [], []
        npts = 1 << h
        for seg in range(self.segments):
            k0 = -(1 << (n - 1)) + (seg << h)
            ys = [ctx.mul(f(ctx.div_2exp(gmpy2.mpfr(k0 + t, 64), F)), scale) for t in range(npts)]
            if npts > 1:
                slope = int(gmpy2.rint(ctx.div(ctx.sub(ys[-1], ys[0]), npts - 1)))
            else:
                slope = 0
            res = [ctx.sub(y, slope * t) for t, y in enumerate(ys)]
            icpt = int(gmpy2.rint(ctx.div_2exp(ctx.add(max(res), min(res)), 1)))
            slopes.append(slope)
            intercepts.append(icpt)
        self.slopes = np.array(slopes, dtype=np.int64)
        self.intercepts = np.array(intercepts, dtype=np.int64)
        ws = _signed_width(slopes)
        wi = _signed_width(intercepts)
        Fs = self.slope_frac_bits
        # slope codes are read at 2^-(Fs+F) per step of t, i.e. 2^-Fs per unit of x
        self.slope_format = FixedFormat(max(ws - Fs, 1), Fs)
        self.intercept_format = FixedFormat(max(wi - self.acc_frac_bits, 1), self.acc_frac_bits)
        self.slope_bits = self.slope_format.bits
        self.intercept_bits = self.intercept_format.bits
        tmax = (1 << h) - 1
        ext = [s * t + c for s, c in zip(slopes, intercepts) for t in (0, tmax)]
        self.acc_bits = max(_signed_width(ext), wi, 1)

    @property
    def slope_codes(self):
        return self.slope_format.from_int(self.slopes)

    @property
    def intercept_codes(self):
        return self.intercept_format.from_int(self.intercepts)

    # -- evaluation --------------------------------------------------------------------------
    def evaluate_int(self, k):
        """Steps 5–6: grid integers k (int array) -> accumulator integers (int64).

        u = k + 2^(n-1); seg = u >> h; t = u & (2^h - 1); acc = slopes[seg]·t + intercepts[seg].
        The value of acc is acc · 2^-(Fs+F).
        """
        k = np.asarray(k, dtype=np.int64)
        n = self.grid_format.bits
        if k.size and (k.min() < -(1 << (n - 1)) or k.max() >= (1 << (n - 1))):
            bad = k.min() if k.min() < -(1 << (n - 1)) else k.max()
            raise ValueError(f"grid integer {int(bad)} is outside {self.grid_format}")
        u = k + (1 << (n - 1))
        seg = u >> self.offset_bits
        t = u & ((1 << self.offset_bits) - 1)
        return self.slopes[seg] * t + self.intercepts[seg]

    def round_acc(self, acc):
        """Step 7: accumulator integers -> codes of ``out_format`` (one rounding)."""
        acc = np.asarray(acc, dtype=np.int64)
        return round_pack(acc < 0, np.abs(acc), np.full(acc.shape, -self.acc_frac_bits),
                          self.out_format, self.rounding)

    def _values(self, codes):
        fmt = self.in_format
        if fmt.kind == "fixed" and fmt.bits <= 53 or fmt.kind == "float" and fmt.man_bits <= 52:
            return fmt.decode(codes), float(self.left_bound), float(self.right_bound)
        return fmt.decode_fraction(codes), self.left_bound, self.right_bound

    def __call__(self, codes):
        """Steps 1–7 for input codes of ``in_format`` (1-D array)."""
        fmt, out = self.in_format, self.out_format
        codes = fmt.check_codes(codes)
        nan = fmt.classify(codes) == CLASS_NAN
        vals, lo, hi = self._values(codes)
        with np.errstate(invalid="ignore"):
            left = ~nan & (vals < lo)
            right = ~nan & (vals >= hi)
        mid = ~(nan | left | right)
        y = np.zeros(codes.shape, dtype=out.dtype)
        if mid.any():
            g = convert(codes[mid], fmt, self.grid_format, rounding=self.grid_rounding)
            y[mid] = self.round_acc(self.evaluate_int(self.grid_format.to_int(g)))
        y[left] = self.left_code
        if right.any():
            if self.right == "identity":
                y[right] = convert(codes[right], fmt, out, rounding=self.rounding)
            else:
                y[right] = self.right_code
        nan_code = out.nan_code if getattr(out, "nan_code", None) is not None else out.zero_code
        y[nan] = nan_code
        return y

    def monotone_on_grid(self) -> bool:
        """The accumulator never decreases over the whole grid (hardware part only)."""
        n = self.grid_format.bits
        acc = self.evaluate_int(np.arange(-(1 << (n - 1)), 1 << (n - 1)))
        return bool(np.all(np.diff(acc) >= 0))

    def describe(self) -> dict:
        """Plain data for hardware generation and reports (all integers, formats by name)."""
        return {
            "function": self.name, "in_format": str(self.in_format),
            "out_format": str(self.out_format), "rounding": self.rounding,
            "grid_format": str(self.grid_format), "grid_rounding": self.grid_rounding,
            "left_bound": str(self.left_bound), "right_bound": str(self.right_bound),
            "segments": self.segments, "offset_bits": self.offset_bits,
            "slope_format": str(self.slope_format), "slope_bits": self.slope_bits,
            "intercept_format": str(self.intercept_format),
            "intercept_bits": self.intercept_bits, "acc_bits": self.acc_bits,
            "acc_frac_bits": self.acc_frac_bits,
            "slopes": [int(v) for v in self.slopes],
            "intercepts": [int(v) for v in self.intercepts],
            "left_code": self.left_code, "right": self.right, "right_code": self.right_code,
        }

    def __repr__(self):
        return (f"PWL({self.name}, {self.in_format}->{self.out_format}, grid {self.grid_format}, "
                f"{self.segments} segments, slope {self.slope_format}, "
                f"intercept {self.intercept_format})")
