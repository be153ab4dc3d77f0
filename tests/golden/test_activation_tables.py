"""Correctly rounded activation tables against a second, independent evaluation.

The oracle here shares no code with ``ulpflow.golden.activations``: input codes are decoded by
``oracles.FloatSpec`` / ``FixedSpec`` (themselves checked against ml_dtypes), function values come
from mpmath at >= 200 bits, and the rounding to the output format is MPFR's (a gmpy2 context with
precision M+1, the format's exponent range and subnormalize; overflow mapped by hand for
fn/fnuz in ``oracles._finish``) or, for fixed point, exact integer rounding written out below.

How the oracle is sure of its own rounding
------------------------------------------
- Generic inputs: v is computed at precision P and accepted only if v·(1 - 2^-(P-16)) and
  v·(1 + 2^-(P-16)) round to the same code; otherwise P doubles (up to 3200 bits).
- Inputs where σ(x) is astronomically close to an exact number L (sigmoid/tanh → ±1,
  gelu/silu/mish/softplus → x, elu/selu → their negative limits) use a textbook bound
  instead: σ(x) = L ∓ δ with 0 < δ < B (e.g. 1 - tanh x < 2e^(-2x), erfc(y) <= e^(-y²)), and
  when B is far below the format's spacing at L every value of (L - B, L) rounds alike, so
  L ∓ (a quarter of that spacing) is rounded instead. mpmath alone could not settle these
  (gelu(151) differs from 151 by ~10^-4950) for directed modes or cross-format midpoints.

Default suite: every function on every <= 8-bit preset (RNE, plus four other modes on four
presets), cross-format and fixed-point tables, an fp32 sample, bf16 GELU and fp16 tanh
exhaustive. Marked slow (``pytest -m slow``): bf16 and fp16 exhaustive for all functions and
directed modes.
"""

from __future__ import annotations

import math
import os
import re
from fractions import Fraction

import ml_dtypes
import mpmath
import numpy as np
import pytest

from oracles import (FLOAT_PRESETS, FixedSpec, assert_codes_equal, gmpy2_round_fractions,
                     special_codes)
from ulpflow.golden import activations as act_mod
from ulpflow.golden.activations import get_activation

FUNCS = ("sigmoid", "tanh", "gelu", "silu", "elu", "selu", "softplus", "mish", "sin", "cos", "exp")
SMALL = [n for n, s in FLOAT_PRESETS.items() if s.bits <= 8]
MODES = ("RNE", "RNA", "RTZ", "RUP", "RDN")

# SELU constants as printed in Klambauer et al. (2017), restated here on purpose.
SELU_L = Fraction("1.0507009873554804934193349852946")
SELU_A = Fraction("1.6732632423543772848170429916717")


@pytest.fixture(autouse=True, scope="module")
def _fresh_cache(tmp_path_factory):
    """Build every table in this module from scratch (no stale disk cache)."""
    old = os.environ.get("ULPFLOW_CACHE_DIR")
    os.environ["ULPFLOW_CACHE_DIR"] = str(tmp_path_factory.mktemp("act_cache"))
    act_mod.clear_memory_cache()
    yield
    act_mod.clear_memory_cache()
    if old is None:
        os.environ.pop("ULPFLOW_CACHE_DIR", None)
    else:
        os.environ["ULPFLOW_CACHE_DIR"] = old


# ---------------------------------------------------------------------------------------------
# Independent oracle
# ---------------------------------------------------------------------------------------------

def spec_of(name):
    if name in FLOAT_PRESETS:
        return FLOAT_PRESETS[name]
    m = re.fullmatch(r"(u?)q(\d+)\.(\d+)(s?)(_wrap)?", name)
    assert m, name
    return FixedSpec(name, int(m[2]), int(m[3]), signed=not m[1], symmetric=bool(m[4]),
                     overflow="WRAP" if m[5] else "SAT")


def valid_codes(spec):
    return spec.valid_codes() if isinstance(spec, FixedSpec) else spec.all_codes()


def mp_sigma(name, x, alpha):
    """σ(x) in mpmath at the current working precision."""
    if name == "sigmoid":
        return 1 / (1 + mpmath.exp(-x))
    if name == "tanh":
        return mpmath.tanh(x)
    if name == "gelu":
        return x * mpmath.erfc(-x / mpmath.sqrt(2)) / 2
    if name == "silu":
        return x / (1 + mpmath.exp(-x))
    if name == "elu":
        return x if x > 0 else mpmath.mpf(alpha.numerator) / alpha.denominator * mpmath.expm1(x)
    if name == "selu":
        lam = mpmath.mpf(SELU_L.numerator) / SELU_L.denominator
        a = mpmath.mpf(SELU_A.numerator) / SELU_A.denominator
        return lam * x if x > 0 else lam * a * mpmath.expm1(x)
    if name == "softplus":
        return mpmath.log1p(mpmath.exp(x))
    if name == "mish":
        return x * mpmath.tanh(mpmath.log1p(mpmath.exp(x)))
    return {"sin": mpmath.sin, "cos": mpmath.cos, "exp": mpmath.exp}[name](x)


def special_result(name, x: float, alpha):
    """The conventions of docs/semantics.md §5 / the activations docstring, written out by hand.
    Returns a float (nan, ±inf, ±0.0) or a Fraction, or None for the generic path."""
    if math.isnan(x):
        return math.nan
    if math.isinf(x):
        if x > 0:
            return {"sigmoid": Fraction(1), "tanh": Fraction(1), "sin": math.nan,
                    "cos": math.nan}.get(name, math.inf)
        return {"sigmoid": 0.0, "tanh": Fraction(-1), "gelu": -0.0, "silu": -0.0, "mish": -0.0,
                "elu": -alpha, "selu": -SELU_L * SELU_A, "softplus": 0.0, "sin": math.nan,
                "cos": math.nan, "exp": 0.0}[name]
    if x == 0:
        if name == "sigmoid":
            return Fraction(1, 2)
        if name in ("cos", "exp"):
            return Fraction(1)
        if name == "softplus":
            return None
        return math.copysign(0.0, x)
    if x > 0 and name == "elu":
        return Fraction(x)
    if x > 0 and name == "selu":
        return SELU_L * Fraction(x)
    return None


def tail_bound(name, x: float, alpha):
    """(L, direction, log2 B) with σ(x) = L + direction·δ, 0 < δ < B, or None."""
    ln2 = math.log(2)
    if x > 0:
        if name == "sigmoid":          # 1 - s = e^-x / (1 + e^-x) < e^-x
            return Fraction(1), -1, -x / ln2
        if name == "tanh":             # 1 - tanh x = 2 / (e^2x + 1) < 2 e^-2x
            return Fraction(1), -1, 1 - 2 * x / ln2
        if name == "gelu":             # x - gelu = x erfc(x/√2)/2 <= x e^(-x²/2) / 2
            return Fraction(x), -1, math.log2(x) - x * x / (2 * ln2) - 1
        if name == "silu":             # x - silu = x e^-x / (1 + e^-x) < x e^-x
            return Fraction(x), -1, math.log2(x) - x / ln2
        if name == "softplus":         # softplus - x = log1p(e^-x) < e^-x
            return Fraction(x), +1, -x / ln2
        if name == "mish":             # x - mish = x (1 - tanh sp) < 2x e^(-2 sp) < 2x e^-2x
            return Fraction(x), -1, 1 + math.log2(x) - 2 * x / ln2
    if x < 0:
        if name == "tanh":
            return Fraction(-1), +1, 1 + 2 * x / ln2
        if name == "elu":              # elu + alpha = alpha e^x
            return -alpha, +1, math.log2(alpha) + x / ln2
        if name == "selu":
            return -SELU_L * SELU_A, +1, math.log2(SELU_L * SELU_A) + x / ln2
    return None


def clear_exp(spec, L: Fraction) -> int:
    """An exponent t such that no rounding breakpoint of ``spec`` other than L itself lies
    within 2^t of L (any mode, any side).

    Every breakpoint (representable values, midpoints, the overflow threshold on the unbounded
    exponent grid) lies on the half-spacing grid 2^(s-1) around L, s the spacing exponent of
    L's binade (one less just below a power of two: we take s - 1 anyway). A dyadic L with
    lowest set bit 2^j is either on that grid or at least 2^j away from it; a non-dyadic L
    (-λα of SELU) is at least min(1, 2^(s-2)) / denominator(L) away.
    """
    if isinstance(spec, FixedSpec):
        s = -spec.F
    else:
        a = abs(L)
        e = a.numerator.bit_length() - a.denominator.bit_length()
        if Fraction(2) ** e > a:
            e -= 1
        s = max(e, spec.emin) - spec.M - 1
    d = L.denominator
    if d & (d - 1) == 0:
        n = abs(L.numerator)
        j = (n & -n).bit_length() - 1 - (d.bit_length() - 1)
        return min(s - 2, j - 1)
    return min(0, s - 2) - d.bit_length() - 1


def round_fixed(values, spec, mode):
    """Exact rounding of Fractions to fixed-point codes (mode, then SAT or WRAP)."""
    out = []
    for v in values:
        s = v * (1 << spec.F)
        fl = s.numerator // s.denominator
        frac = s - fl
        if frac == 0:
            k = fl
        elif mode == "RDN":
            k = fl
        elif mode == "RUP":
            k = fl + 1
        elif mode == "RTZ":
            k = fl if s > 0 else fl + 1
        elif frac != Fraction(1, 2):
            k = fl + (frac > Fraction(1, 2))
        elif mode == "RNE":
            k = fl + (fl & 1)
        else:  # RNA: away from zero
            k = fl + 1 if s > 0 else fl
        if spec.overflow == "WRAP":
            k &= (1 << spec.bits) - 1
            if spec.signed and k >= 1 << (spec.bits - 1):
                k -= 1 << spec.bits
        else:
            k = min(max(k, spec.kmin), spec.kmax)
        out.append(k)
    return spec.from_int(np.array(out, dtype=np.int64))


def clamp_fraction(v: Fraction, spec) -> Fraction:
    """Keep Fractions small: magnitudes beyond overflow / below a quarter step round alike."""
    if isinstance(spec, FixedSpec):
        hi, lo = Fraction(2) ** (spec.I + 2), Fraction(1, 1 << (spec.F + 3))
    else:
        hi, lo = Fraction(2) ** (spec.emax + 3), Fraction(2) ** (spec.emin - spec.M - 3)
    if abs(v) > hi:
        return hi if v > 0 else -hi
    if 0 < abs(v) < lo:
        return lo if v > 0 else -lo
    return v


def mpf_fraction(v, spec) -> Fraction:
    if not mpmath.isfinite(v):
        big = Fraction(2) ** 4000
        return big if v > 0 else -big
    # clamp by exponent before building a huge rational
    m, e = mpmath.frexp(v)
    if isinstance(spec, FixedSpec):
        # WRAP needs the value itself (modulo 2^I); SAT saturates anything this large
        top, bottom = (4000 if spec.overflow == "WRAP" else spec.I + 3), -spec.F - 4
    else:
        top, bottom = spec.emax + 4, spec.emin - spec.M - 4
    if m == 0:
        return Fraction(0)
    if e > top:
        return Fraction(2) ** top * (1 if m > 0 else -1)
    if e < bottom:
        return Fraction(2) ** (bottom - 1) * (1 if m > 0 else -1)
    sign, man, exp, _ = mpmath.mpf(v)._mpf_
    return (-1) ** sign * Fraction(int(man)) * Fraction(2) ** int(exp)


def round_values(fracs, spec, mode):
    if isinstance(spec, FixedSpec):
        return round_fixed(fracs, spec, mode)
    return gmpy2_round_fractions([clamp_fraction(f, spec) for f in fracs], spec, mode)


def input_values(spec, codes):
    if isinstance(spec, FixedSpec):
        return spec.decode(codes)
    v = spec.input_value(codes)
    return np.where(spec.is_nan(codes), np.nan, v)


def encode_special(spec, r, mode):
    """Oracle code for a special (float) result."""
    if isinstance(spec, FixedSpec):
        if math.isnan(r) or r == 0:
            return 0
        return int(spec.from_int(np.array([spec.kmax if r > 0 else spec.kmin]))[0])
    if math.isnan(r):
        return spec.canonical_nan if spec.has_nan else 0
    if math.isinf(r):
        if spec.has_inf and not spec.saturate:
            return spec.inf_code | (spec.sign_bit if r < 0 else 0)
        if spec.has_nan and not spec.saturate:
            return spec.canonical_nan
        return spec.max_finite_code | (spec.sign_bit if r < 0 else 0)
    return int(spec.encode_exact(np.array([r]))[0])


def oracle_table(name, in_spec, out_spec, mode="RNE", codes=None, alpha=Fraction(1)):
    """Expected output codes of σ for ``codes`` (default: every code of ``in_spec``)."""
    codes = valid_codes(in_spec) if codes is None else np.asarray(codes)
    xs = input_values(in_spec, codes).tolist()
    out = np.zeros(len(xs), dtype=np.int64)
    exact_idx, exact_vals, generic = [], [], []
    for i, x in enumerate(xs):
        r = special_result(name, x, alpha)
        if isinstance(r, float):
            out[i] = encode_special(out_spec, r, mode)
            continue
        if r is None:
            t = tail_bound(name, x, alpha)
            if t is not None:
                L, direction, log2b = t
                c = clear_exp(out_spec, L)
                if log2b + 1 < c - 1:
                    # σ(x) and L + direction·2^(c-1) lie in the same breakpoint-free gap
                    r = L + direction * Fraction(2) ** (c - 1)
        if r is not None:
            exact_idx.append(i)
            exact_vals.append(r)
        else:
            generic.append(i)
    if exact_idx:
        out[exact_idx] = round_values(exact_vals, out_spec, mode)
    prec = 200
    while generic:
        if prec > 3200:
            raise AssertionError(f"oracle undecided for {name}({xs[generic[0]]!r}) in {mode}")
        lo, hi = [], []
        with mpmath.workprec(prec):
            eps = mpmath.mpf(2) ** -(prec - 16)
            for i in generic:
                v = mp_sigma(name, mpmath.mpf(xs[i]), alpha)
                a, b = v * (1 - eps), v * (1 + eps)
                lo.append(mpf_fraction(min(a, b), out_spec))
                hi.append(mpf_fraction(max(a, b), out_spec))
        c_lo = np.asarray(round_values(lo, out_spec, mode)).astype(np.int64)
        c_hi = np.asarray(round_values(hi, out_spec, mode)).astype(np.int64)
        same = c_lo == c_hi
        idx = np.array(generic)
        out[idx[same]] = c_lo[same]
        generic = idx[~same].tolist()
        prec *= 2
    return out.astype(out_spec.dtype)


def golden_outputs(name, in_name, out_name, mode, codes, **params):
    act = get_activation(name, in_name, out_name, rounding=mode, **params)
    return np.asarray(act(codes))


def assert_table(name, in_name, out_name, mode="RNE", codes=None, **params):
    in_spec, out_spec = spec_of(in_name), spec_of(out_name)
    codes = valid_codes(in_spec) if codes is None else np.asarray(codes)
    alpha = Fraction(params.get("alpha", 1))
    expected = oracle_table(name, in_spec, out_spec, mode, codes, alpha)
    got = golden_outputs(name, in_name, out_name, mode, codes.astype(in_spec.dtype), **params)
    assert_codes_equal(got, expected, out_spec, what=f"{name} {in_name}->{out_name} {mode}",
                       inputs=[codes], in_specs=[in_spec])


# ---------------------------------------------------------------------------------------------
# The oracle's own sanity (it must be able to fail, and agree with known values)
# ---------------------------------------------------------------------------------------------

def test_oracle_known_values():
    bf = FLOAT_PRESETS["bf16"]
    codes = np.array([0x3F80, 0xBF80, 0x0000, 0x8000], dtype=np.uint16)  # 1, -1, 0, -0
    t = oracle_table("tanh", bf, bf, "RNE", codes)
    # tanh(1) = 0.76159415... -> bf16 0x3F43 (0.76171875); tanh(-0) = -0
    assert t.tolist() == [0x3F43, 0xBF43, 0x0000, 0x8000]
    g = oracle_table("gelu", bf, bf, "RDN", np.array([0x4317], dtype=np.uint16))  # 151
    assert g.tolist() == [0x4316]  # just below 151: 150
    g = oracle_table("gelu", bf, bf, "RUP", np.array([0x4317], dtype=np.uint16))
    assert g.tolist() == [0x4317]


# ---------------------------------------------------------------------------------------------
# Exhaustive tables, small formats
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", SMALL)
@pytest.mark.parametrize("name", FUNCS)
def test_cr_small_preset_rne(name, fmt):
    assert_table(name, fmt, fmt, "RNE")


@pytest.mark.parametrize("fmt", ["e4m3", "e5m2", "e4m3fnuz", "e2m1fn"])
@pytest.mark.parametrize("mode", ["RNA", "RTZ", "RUP", "RDN"])
@pytest.mark.parametrize("name", FUNCS)
def test_cr_small_preset_other_modes(name, mode, fmt):
    assert_table(name, fmt, fmt, mode)


def test_elu_alpha_param():
    assert_table("elu", "e4m3", "e4m3", "RNE", alpha=Fraction(3, 2))
    assert_table("elu", "e5m2", "e5m2", "RDN", alpha="0.1")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("pair", [("e3m4", "e4m3"), ("e4m3", "e5m2"), ("e5m2", "e4m3fn"),
                                  ("e3m4", "e2m1fn")])
def test_cr_cross_format(pair, mode):
    # e3m4 -> e4m3 hits exact midpoints of e4m3 near limits (gelu(9) just below 9)
    for name in ("gelu", "silu", "tanh", "sigmoid", "softplus", "exp"):
        assert_table(name, pair[0], pair[1], mode)


# ---------------------------------------------------------------------------------------------
# 16-bit formats
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,fmt", [("gelu", "bf16"), ("tanh", "fp16")])
def test_cr_16bit_exhaustive_default(name, fmt):
    assert_table(name, fmt, fmt, "RNE")


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["bf16", "fp16"])
@pytest.mark.parametrize("name", FUNCS)
def test_cr_16bit_exhaustive_all(name, fmt):
    assert_table(name, fmt, fmt, "RNE")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["RDN", "RUP", "RNA"])
@pytest.mark.parametrize("name,fmt", [("gelu", "bf16"), ("sigmoid", "fp16"), ("mish", "bf16")])
def test_cr_16bit_exhaustive_other_modes(name, fmt, mode):
    assert_table(name, fmt, fmt, mode)


@pytest.mark.slow
@pytest.mark.parametrize("pair", [("bf16", "e4m3"), ("fp16", "e4m3fn"), ("fp16", "bf16")])
def test_cr_16bit_cross_format(pair):
    for mode in ("RNE", "RNA"):
        assert_table("gelu", pair[0], pair[1], mode)


def test_cr_16bit_corners_all_functions():
    """Every function and mode on the level-1 corner codes of bf16 and fp16. The corner values
    are fed as fp32 codes (exact widening), so only these inputs are evaluated (on demand)
    instead of 110 full tables."""
    fp32 = FLOAT_PRESETS["fp32"]
    for fmt in ("bf16", "fp16"):
        c16 = special_codes(FLOAT_PRESETS[fmt]).astype(np.uint16)
        if fmt == "bf16":
            c32 = c16.astype(np.uint32) << 16
        else:
            c32 = c16.view(np.float16).astype(np.float32).view(np.uint32)
        for name in FUNCS:
            for mode in MODES:
                assert_table(name, "fp32", fmt, mode, codes=c32)


def test_cr_fp32_sample():
    """fp32 is evaluated on demand: corner codes plus a seeded random sample."""
    spec = FLOAT_PRESETS["fp32"]
    rng = np.random.default_rng(11)
    codes = np.concatenate([special_codes(spec), rng.integers(0, 1 << 32, 150)])
    codes = np.unique(codes).astype(np.uint32)
    for name in FUNCS:
        assert_table(name, "fp32", "fp32", "RNE", codes=codes)
    for mode in ("RDN", "RUP"):
        for name in ("gelu", "tanh", "exp"):
            assert_table(name, "fp32", "fp32", mode, codes=codes)


def test_fp32_to_bf16_sample():
    spec = FLOAT_PRESETS["fp32"]
    rng = np.random.default_rng(12)
    codes = np.unique(np.concatenate([special_codes(spec), rng.integers(0, 1 << 32, 200)]))
    for name in ("gelu", "sigmoid", "softplus"):
        assert_table(name, "fp32", "bf16", "RNE", codes=codes.astype(np.uint32))


# ---------------------------------------------------------------------------------------------
# The reference is not a float formula in disguise
# ---------------------------------------------------------------------------------------------

def _bf16_ordinal(codes):
    c = np.asarray(codes).astype(np.int64)
    mag = c & 0x7FFF
    return np.where(c & 0x8000, -mag, mag)


def test_naive_float32_gelu_is_far_from_reference():
    """GELU evaluated in float32 (0.5·x·(1 + erf(x/√2)), each step rounded to float32) and
    cast to bf16 loses the tiny negative values entirely: thousands of ulps off."""
    bf = FLOAT_PRESETS["bf16"]
    codes = bf.all_codes()
    finite = ~(bf.is_nan(codes) | bf.is_inf(codes))
    codes = codes[finite]
    x = codes.view(ml_dtypes.bfloat16).astype(np.float32)
    f32 = np.float32
    with np.errstate(all="ignore"):
        t = (x * f32(0.70710677)).astype(np.float32)
        erf = np.array([math.erf(float(v)) for v in t], dtype=np.float32)
        naive = (f32(0.5) * x * (f32(1) + erf)).astype(np.float32)
    naive_bf16 = naive.astype(ml_dtypes.bfloat16).view(np.uint16)
    ref = np.asarray(get_activation("gelu", "bf16")(codes))
    d = np.abs(_bf16_ordinal(naive_bf16) - _bf16_ordinal(ref))
    # for -13 < x < -6 float32 has 1 + erf(x/√2) = 0 while GELU is a normal bf16 number
    neg = (x < -6) & (x > -13)
    assert d.max() > 10_000, d.max()
    assert np.median(d[neg]) > 1000, np.median(d[neg])
    # and the reference really is close to the float32 formula where float32 is accurate
    mid = (np.abs(x) > 0.5) & (np.abs(x) < 4)
    assert d[mid].max() <= 1


# ---------------------------------------------------------------------------------------------
# Mutations of the golden evaluation must be caught by these tests
# ---------------------------------------------------------------------------------------------

def test_mutation_float_formula_is_caught(monkeypatch, tmp_path):
    """Replace the GELU enclosure by a 24-bit round-to-nearest 0.5·x·(1 + erf(x/√2)) (a float
    formula in disguise, zero-width interval): the oracle comparison must fail."""
    import gmpy2
    from ulpflow.golden import activations_cr

    ctx = gmpy2.context(precision=24)

    def fake(x, down, up, prec, params):
        v = ctx.mul(ctx.mul(x, 0.5), ctx.add(1, ctx.erf(ctx.div(x, ctx.sqrt(2)))))
        if v == 0:  # cancelled to zero: keep the sign so the table still builds
            v = gmpy2.mpfr(-(2.0 ** -300))
        return v, v

    monkeypatch.setitem(activations_cr._ENCLOSURES, "gelu", fake)
    monkeypatch.setenv("ULPFLOW_CACHE_DIR", str(tmp_path))
    act_mod.clear_memory_cache()
    # gelu at -7, -8, -10, -12 is a normal bf16 number; 1 + erf cancels in 24 bits
    codes = np.array([0xC0E00000, 0xC1000000, 0xC1200000, 0xC1400000, 0x3F800000], np.uint32)
    try:
        with pytest.raises(AssertionError, match="4 of 5 differ"):
            assert_table("gelu", "fp32", "bf16", "RNE", codes=codes)
    finally:
        act_mod.clear_memory_cache()


def test_mutation_without_breakpoint_nudge_never_settles(monkeypatch, tmp_path):
    """gelu(108) is just below 108 (by ~10^-2530), a midpoint of e4m3 that RNE sends up to 112:
    without moving interval ends that sit exactly on a breakpoint inward, the retries cannot
    decide (and must say so rather than loop)."""
    from ulpflow.golden import activations_cr

    x108 = np.array([0x42D80000], np.uint32)
    assert get_activation("gelu", "fp32", "e4m3")(x108)[0] == 0x6D  # 104, with the nudge
    monkeypatch.setattr(activations_cr._Bounds, "_nudge", lambda self, v, inward: v)
    monkeypatch.setattr(activations_cr, "PRECISION_CAP", 512)
    monkeypatch.setenv("ULPFLOW_CACHE_DIR", str(tmp_path))
    act_mod.clear_memory_cache()
    try:
        with pytest.raises(ValueError, match=r"gelu\(108.0\) rounded to e4m3 in RNE is still un"):
            get_activation("gelu", "fp32", "e4m3")(x108)
    finally:
        act_mod.clear_memory_cache()
