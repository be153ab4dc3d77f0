"""Activation implementations: exact functions, fixed point in every rounding mode, faithful,
k-ulp and piecewise-linear methods, the checkers, JSON, the table cache and the catalogue.

Expected values come from the independent oracle of ``test_activation_tables`` (mpmath + MPFR /
exact integer rounding) or are written out by hand; no expected value is produced by
``ulpflow.golden.activations`` itself.
"""

from __future__ import annotations

import json
import math
import os
from fractions import Fraction

import mpmath
import numpy as np
import pytest

from oracles import (FLOAT_PRESETS, FixedSpec, FloatSpec, assert_codes_equal,
                     gmpy2_round_fractions)
from test_activation_tables import (FUNCS, MODES, SMALL, input_values, oracle_table,
                                    round_fixed, spec_of, valid_codes)
from ulpflow.golden import activations as A
from ulpflow.golden import parse_format
from ulpflow.golden.activations import (check_activation, check_allowed, get_activation,
                                        activation_from_json)
from ulpflow.golden.formats import ulp_distance


@pytest.fixture(autouse=True, scope="module")
def _fresh_cache(tmp_path_factory):
    old = os.environ.get("ULPFLOW_CACHE_DIR")
    os.environ["ULPFLOW_CACHE_DIR"] = str(tmp_path_factory.mktemp("act_cache"))
    A.clear_memory_cache()
    yield
    A.clear_memory_cache()
    if old is None:
        os.environ.pop("ULPFLOW_CACHE_DIR", None)
    else:
        os.environ["ULPFLOW_CACHE_DIR"] = old


def ordinal(spec, codes):
    """Position on the number line, written independently of golden (±0 -> 0; NaN -> None)."""
    c = np.asarray(codes).astype(np.int64)
    if isinstance(spec, FixedSpec):
        return spec.to_int(c), np.zeros(c.shape, bool)
    mag = c & (spec.sign_bit - 1)
    return np.where(c & spec.sign_bit, -mag, mag), spec.is_nan(c)


def distance(spec, a, b):
    oa, na = ordinal(spec, a)
    ob, nb = ordinal(spec, b)
    d = np.abs(oa - ob).astype(float)
    d = np.where(na | nb, np.inf, d)
    return np.where(na & nb, 0.0, d)


def round_to(spec, fracs, mode):
    if isinstance(spec, FixedSpec):
        return np.asarray(round_fixed(fracs, spec, mode)).astype(np.int64)
    return np.asarray(gmpy2_round_fractions(fracs, spec, mode)).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Exact functions
# ---------------------------------------------------------------------------------------------

def exact_oracle(name, in_spec, out_spec, mode, codes):
    """identity / relu / step by hand, one rounding by MPFR or integer arithmetic."""
    x = input_values(in_spec, codes)
    out = np.zeros(len(x), dtype=np.int64)
    fr_idx, frs = [], []
    nan_code = 0 if isinstance(out_spec, FixedSpec) or not out_spec.has_nan else out_spec.canonical_nan
    for i, v in enumerate(x.tolist()):
        if math.isnan(v):
            out[i] = nan_code
            continue
        if name == "step":
            v = 1.0 if v >= 0 else 0.0     # -0 >= 0: step(-0) = 1
        elif name == "relu":
            v = v if v > 0 else 0.0        # +0 for -0 and negatives
        if math.isinf(v):
            if isinstance(out_spec, FixedSpec):
                out[i] = int(out_spec.from_int(np.array([out_spec.kmax if v > 0 else out_spec.kmin]))[0])
            elif out_spec.has_inf:
                out[i] = out_spec.inf_code | (out_spec.sign_bit if v < 0 else 0)
            else:
                out[i] = out_spec.canonical_nan
            continue
        if v == 0:
            neg = math.copysign(1, v) < 0 and not isinstance(out_spec, FixedSpec) and out_spec.has_neg_zero
            out[i] = out_spec.sign_bit if neg else 0
            continue
        fr_idx.append(i)
        frs.append(Fraction(v))
    if frs:
        out[fr_idx] = round_to(out_spec, frs, mode)
    return out.astype(out_spec.dtype)


@pytest.mark.parametrize("fmt", SMALL + ["q4.4", "q4.4s", "uq3.5", "bf16"])
@pytest.mark.parametrize("name", ["identity", "relu", "step"])
def test_exact_same_format(name, fmt):
    spec = spec_of(fmt)
    codes = valid_codes(spec)
    got = get_activation(name, fmt)(codes.astype(spec.dtype))
    assert_codes_equal(got, exact_oracle(name, spec, spec, "RNE", codes), spec,
                       what=f"{name} {fmt}", inputs=[codes], in_specs=[spec])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("pair", [("fp16", "e4m3"), ("bf16", "e5m2fnuz"), ("e4m3", "fp16"),
                                  ("q8.8", "q4.4"), ("bf16", "q4.4"), ("e5m2", "uq3.5"),
                                  ("q4.4", "e3m2"), ("fp16", "e4m3fn")])
def test_exact_cross_format(pair, mode):
    si, so = spec_of(pair[0]), spec_of(pair[1])
    codes = valid_codes(si)
    for name in ("identity", "relu", "step"):
        if name == "step" and isinstance(so, FixedSpec) and so.kmax < (1 << so.F):
            continue
        got = get_activation(name, pair[0], pair[1], rounding=mode)(codes.astype(si.dtype))
        assert_codes_equal(got, exact_oracle(name, si, so, mode, codes), so,
                           what=f"{name} {pair[0]}->{pair[1]} {mode}", inputs=[codes], in_specs=[si])


def test_conventions_by_hand():
    """docs/semantics.md §5 conventions, spelled out on bf16 codes (fed as the fp32 codes of the same
    values, so that only these inputs are evaluated, not whole tables)."""
    NAN, PINF, NINF, PZ, NZ, ONE = 0x7FC0, 0x7F80, 0xFF80, 0x0000, 0x8000, 0x3F80

    def f(name, code, out="bf16", **kw):
        x = np.array([code << 16], dtype=np.uint32)
        return int(get_activation(name, "fp32", out, **kw)(x)[0])

    assert f("relu", NZ) == PZ and f("relu", 0xBF80) == PZ and f("relu", PINF) == PINF
    assert f("step", NZ) == ONE and f("step", PZ) == ONE and f("step", 0x8001) == PZ
    assert f("step", NINF) == PZ and f("step", PINF) == ONE
    for name in ("relu", "step", "identity", "tanh", "gelu", "exp"):
        assert FLOAT_PRESETS["bf16"].is_nan(np.array([f(name, NAN)]))[0]
    assert f("tanh", NZ) == NZ and f("tanh", PZ) == PZ
    assert f("gelu", NZ) == NZ and f("silu", NZ) == NZ and f("mish", NZ) == NZ
    assert f("sin", NZ) == NZ and f("elu", NZ) == NZ and f("selu", NZ) == NZ
    assert f("cos", NZ) == ONE and f("exp", NZ) == ONE and f("sigmoid", NZ) == 0x3F00
    assert f("sigmoid", PINF) == ONE and f("sigmoid", NINF) == PZ
    assert f("tanh", NINF) == 0xBF80 and f("gelu", NINF) == NZ and f("gelu", PINF) == PINF
    assert f("softplus", NINF) == PZ and f("exp", NINF) == PZ and f("elu", NINF) == 0xBF80
    assert FLOAT_PRESETS["bf16"].is_nan(np.array([f("sin", PINF), f("cos", NINF)])).all()
    # a negative value that rounds to zero keeps its sign; fnuz has no -0
    assert f("gelu", 0xC2C8) == NZ                           # gelu(-100) ~ -1e-2174
    assert f("gelu", 0xC2C8, "e4m3fnuz") == 0x00
    # infinities and NaN into formats without them
    assert f("gelu", PINF, "e4m3fn") == 0x7F                 # NaN (fn has no inf)
    assert f("exp", 0x42C8, "e4m3") == 0x78                  # exp(100): +inf in e4m3
    assert f("exp", 0x42C8, "e2m3fn") == 0x1F                # saturates in a finite format
    assert f("relu", NAN, "q4.4") == 0x00 and f("tanh", NAN, "e2m3fn") == 0x00
    assert f("relu", PINF, "q4.4") == 0x7F and f("identity", NINF, "q4.4") == 0x80


def test_step_needs_one():
    with pytest.raises(ValueError, match="uq0.8 cannot represent"):
        get_activation("step", "e4m3", "uq0.8")


# ---------------------------------------------------------------------------------------------
# Fixed point: every rounding mode, exact zeros
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", FUNCS)
def test_fixed_cr_q44_every_mode(name, mode):
    spec = spec_of("q4.4")
    codes = valid_codes(spec)
    got = get_activation(name, "q4.4", rounding=mode)(codes.astype(spec.dtype))
    assert_codes_equal(got, oracle_table(name, spec, spec, mode), spec,
                       what=f"{name} q4.4 {mode}", inputs=[codes], in_specs=[spec])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fmt", ["q6.6", "q3.9", "uq4.4", "q4.4s", "q4.4_wrap", "q5.7"])
def test_fixed_sigmoid_softplus_exact_zero(fmt, mode):
    """sigmoid and softplus are positive, yet reach exactly 0 in fixed point: below half a step
    under RNE/RNA, below one step under RTZ/RDN; never under RUP. q3.9 (range [-4, 4)) is the
    negative control: sigmoid(-4) is far above its step, so no zero appears."""
    spec = spec_of(fmt)
    codes = valid_codes(spec)
    step = Fraction(1, 1 << spec.F)
    for name in ("sigmoid", "softplus"):
        expected = oracle_table(name, spec, spec, mode)
        got = get_activation(name, fmt, rounding=mode)(codes.astype(spec.dtype))
        assert_codes_equal(got, expected, spec, what=f"{name} {fmt} {mode}",
                           inputs=[codes], in_specs=[spec])
        zeros = spec.to_int(got) == 0
        x = spec.decode(codes)
        if mode == "RUP":
            assert not zeros.any()
            continue
        if not spec.signed:
            assert not zeros.any()  # inputs >= 0: sigmoid >= 1/2, softplus >= log 2
            continue
        # σ(x) < step (directed) or < step/2 (nearest) must give 0, and nothing else may
        thr = step / 2 if mode in ("RNE", "RNA") else step
        with mpmath.workprec(100):
            sig = (lambda t: 1 / (1 + mpmath.exp(-t))) if name == "sigmoid" else \
                (lambda t: mpmath.log1p(mpmath.exp(t)))
            below = np.array([sig(mpmath.mpf(float(v))) < mpmath.mpf(thr.numerator) / thr.denominator
                              for v in x])
        assert np.array_equal(zeros, below)
        assert zeros.any() == (fmt != "q3.9"), f"{name} {fmt} {mode}: zeros {zeros.sum()}"


def test_fixed_q88_sample_every_mode():
    """q8.8 outputs in every mode on a sample (both ends of the range and around 0). The
    inputs are given as q16.16 codes of the same values, so only the sample is evaluated."""
    spec = spec_of("q8.8")
    wide = FixedSpec("q16.16", 16, 16)
    k = np.concatenate([np.arange(-32768, -32468), np.arange(32600, 32768), np.arange(-150, 150)])
    codes = wide.from_int(k << 8)
    for mode in MODES:
        for name in ("sigmoid", "softplus", "tanh", "gelu", "exp", "elu"):
            got = get_activation(name, "q16.16", "q8.8", rounding=mode)(codes)
            assert_codes_equal(got, oracle_table(name, wide, spec, mode, codes), spec,
                               what=f"{name} q8.8 {mode}", inputs=[codes], in_specs=[wide])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("pair", [("e4m3", "q4.4"), ("q4.4", "e4m3"), ("e5m2", "uq2.6"),
                                  ("q4.4", "q2.6_wrap")])
def test_fixed_float_mixed(pair, mode):
    si, so = spec_of(pair[0]), spec_of(pair[1])
    codes = valid_codes(si)
    for name in ("sigmoid", "tanh", "gelu", "softplus", "exp", "sin"):
        got = get_activation(name, pair[0], pair[1], rounding=mode)(codes.astype(si.dtype))
        assert_codes_equal(got, oracle_table(name, si, so, mode), so,
                           what=f"{name} {pair[0]}->{pair[1]} {mode}", inputs=[codes], in_specs=[si])


# ---------------------------------------------------------------------------------------------
# Faithful and k-ulp implementations (set checker)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["e4m3", "e5m2", "e3m2", "e4m3fnuz", "q4.4"])
@pytest.mark.parametrize("name", ["gelu", "sigmoid", "exp", "sin", "relu"])
def test_faithful_is_rd_or_ru(name, fmt):
    spec = spec_of(fmt)
    codes = valid_codes(spec)
    if name == "relu":
        rd = exact_oracle("relu", spec, spec, "RDN", codes)
        ru = exact_oracle("relu", spec, spec, "RUP", codes)
        act = get_activation("relu", fmt, method="faithful", seed=3)
    else:
        rd = oracle_table(name, spec, spec, "RDN")
        ru = oracle_table(name, spec, spec, "RUP")
        act = get_activation(name, fmt, method="faithful", seed=3)
    rd_t = np.zeros(1 << spec.bits, dtype=spec.dtype)
    ru_t = np.zeros(1 << spec.bits, dtype=spec.dtype)
    rd_t[codes.astype(np.int64)] = rd
    ru_t[codes.astype(np.int64)] = ru
    rep = check_allowed(act, [rd_t, ru_t])
    assert rep.ok, str(rep)
    got = np.asarray(act(codes.astype(spec.dtype))).astype(np.int64)
    differ = rd != ru
    if name != "relu":
        # both choices are really used
        assert (got[differ] == rd[differ]).any() and (got[differ] == ru[differ]).any()
    # never more than one step from the round-down value (RU overflowing to NaN in fn/fnuz
    # formats is never chosen: the implementation takes RD there)
    assert distance(spec, got, rd).max() <= 1


def test_faithful_seeds():
    a = get_activation("tanh", "e5m2", method="faithful", seed=1).table()
    b = get_activation("tanh", "e5m2", method="faithful", seed=1).table()
    c = get_activation("tanh", "e5m2", method="faithful", seed=2).table()
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("k", [0, 1, 3])
@pytest.mark.parametrize("fmt", ["e4m3", "e5m2", "e4m3fn", "e2m1fn", "q4.4", "uq3.5"])
@pytest.mark.parametrize("name", ["tanh", "gelu", "exp"])
def test_kulp_within_k(name, fmt, k):
    spec = spec_of(fmt)
    codes = valid_codes(spec)
    cr = oracle_table(name, spec, spec, "RNE")
    act = get_activation(name, fmt, method="kulp", k=k, seed=5)
    got = np.asarray(act(codes.astype(spec.dtype)))
    d = distance(spec, got, cr)
    assert d.max() <= k
    if k and spec.bits >= 6:
        assert d.max() == k  # the perturbation really reaches k somewhere
    if k == 0:
        assert np.array_equal(got, cr)
    cr_t = np.zeros(1 << spec.bits, dtype=spec.dtype)
    cr_t[codes.astype(np.int64)] = cr
    assert check_activation(act, cr_t, k).ok
    assert k == 0 or not check_activation(act, cr_t, k - 1).ok
    if isinstance(spec, FloatSpec):
        # never onto NaN/inf, never past ±max, except where the reference itself is special
        special = spec.is_nan(cr) | spec.is_inf(cr)
        assert not (spec.is_nan(got) | spec.is_inf(got))[~special].any()
        assert np.array_equal(got[special], cr[special])
        mag = np.asarray(got).astype(np.int64) & (spec.sign_bit - 1)
        assert (mag[~special] <= spec.max_finite_code).all()


def test_kulp_fp32_on_demand():
    spec = FLOAT_PRESETS["fp32"]
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 1 << 32, 300).astype(np.uint32)
    cr = oracle_table("sigmoid", spec, spec, "RNE", codes)
    act = get_activation("sigmoid", "fp32", method="kulp", k=2, seed=9)
    got = act(codes)
    assert distance(spec, got, cr).max() <= 2
    # per-code determinism: the same code gives the same output in any batch
    assert np.array_equal(act(codes[::-1])[::-1], got)
    rd = oracle_table("sigmoid", spec, spec, "RDN", codes)
    ru = oracle_table("sigmoid", spec, spec, "RUP", codes)
    fa = get_activation("sigmoid", "fp32", method="faithful", seed=1)(codes)
    ok = (fa == rd) | (fa == ru)
    assert ok.all()
    with pytest.raises(ValueError, match="at most 16 bits"):
        act.table()
    d = act.describe()
    assert not d["exhaustive"] and d["measured_over"] > 4000 and d["max_ulp_error"] <= 2


# ---------------------------------------------------------------------------------------------
# check / check_allowed / ulp_distance, and a mutation test
# ---------------------------------------------------------------------------------------------

def test_ulp_distance_definition():
    e4 = parse_format("e4m3")
    c = lambda *v: np.array(v, dtype=np.uint8)
    assert ulp_distance(c(0x00), c(0x80), e4).tolist() == [0]       # +0 and -0: one point
    assert ulp_distance(c(0x01), c(0x81), e4).tolist() == [2]       # across zero
    assert ulp_distance(c(0x77), c(0x78), e4).tolist() == [1]       # max to +inf
    assert ulp_distance(c(0x79), c(0x7A), e4).tolist() == [0]       # NaN vs NaN
    assert ulp_distance(c(0x79), c(0x38), e4).tolist() == [np.inf]  # NaN vs number
    ftz = parse_format("e4m3_ftz")
    assert ulp_distance(c(0x08), c(0x00), ftz).tolist() == [1]      # min normal next to zero
    q = parse_format("q4.4")
    assert ulp_distance(c(0x7F), c(0x80), q).tolist() == [255]


def test_mutation_caught_by_check():
    cr = get_activation("gelu", "e5m2")
    d = cr.to_json()
    for i, bump in ((0x45, 1), (0xC3, -2)):
        mutant = dict(d)
        tab = list(d["table"])
        v = int(tab[i], 16)
        tab[i] = f"0x{(v + bump) & 0xFF:02x}"
        mutant["table"] = tab
        m = activation_from_json(mutant)
        rep = check_activation(m, cr, 0)
        assert rep.count_over == 1 and rep.worst_input_code == i and rep.worst_ulps == abs(bump)
        assert check_activation(m, cr, abs(bump)).ok
        with pytest.raises(ValueError, match=f"0x{i:02x}"):
            activation_from_json(mutant, verify=True)
        rd, ru = A.rounding_bounds(cr)
        assert not check_allowed(m, [rd, ru]).ok
    # NaN instead of a number: infinitely wrong
    mutant = dict(d)
    mutant["table"] = list(d["table"])
    mutant["table"][0x30] = "0x7f"
    rep = check_activation(activation_from_json(mutant), cr)
    assert rep.worst_ulps == math.inf and rep.worst_input_code == 0x30
    # and the unmutated table passes
    assert check_activation(activation_from_json(d), cr).ok


def test_check_report_fields():
    act = get_activation("sin", "e4m3", method="kulp", k=2, seed=0)
    rep = check_activation(act, None, 1)
    assert rep.n_checked == 256 and rep.worst_ulps == 2 and rep.count_over > 0
    assert rep.worst_input.startswith("0x") and "ulp" in str(rep)
    with pytest.raises(TypeError, match="in_fmt and out_fmt"):
        check_activation(np.zeros(256, np.uint8), np.zeros(256, np.uint8))


# ---------------------------------------------------------------------------------------------
# Piecewise linear
# ---------------------------------------------------------------------------------------------

def pwl_by_hand(pwl, in_spec, out_spec, codes):
    """The documented integer recipe, re-implemented from the PWL's plain parameters."""
    d = pwl.describe()
    I, F = map(int, d["grid_format"][1:].split("."))
    n = I + F
    R = Fraction(d["right_bound"])
    L = Fraction(d["left_bound"])
    grid = FixedSpec("grid", I, F)
    slopes, icpts = d["slopes"], d["intercepts"]
    h = d["offset_bits"]
    x = input_values(in_spec, codes)
    ident = exact_oracle("identity", in_spec, out_spec, d["rounding"], codes)
    out = np.zeros(len(x), dtype=np.int64)
    mid_idx, accs = [], []
    for i, v in enumerate(x.tolist()):
        if math.isnan(v):
            out[i] = out_spec.canonical_nan
        elif v < L:
            out[i] = d["left_code"]
        elif v >= R:
            out[i] = ident[i] if d["right"] == "identity" else d["right_code"]
        else:
            k = int(grid.to_int(round_fixed([Fraction(v)], grid, d["grid_rounding"]))[0])
            u = k + (1 << (n - 1))
            seg, t = u >> h, u & ((1 << h) - 1)
            mid_idx.append(i)
            accs.append(Fraction(slopes[seg] * t + icpts[seg], 1 << d["acc_frac_bits"]))
    if accs:
        out[mid_idx] = round_to(out_spec, accs, d["rounding"])
    return out


@pytest.mark.parametrize("fmt", ["e4m3", "e5m2", "bf16", "fp16"])
@pytest.mark.parametrize("name", ["sigmoid", "tanh", "gelu"])
def test_pwl_matches_recipe_and_error_is_measured(name, fmt):
    spec = spec_of(fmt)
    codes = valid_codes(spec)
    act = get_activation(name, fmt, method="pwl")
    pwl = act.pwl
    got = np.asarray(act(codes))
    assert_codes_equal(got, pwl_by_hand(pwl, spec, spec, codes), spec,
                       what=f"pwl {name} {fmt} vs recipe", inputs=[codes], in_specs=[spec])
    # worst error recomputed here against the correctly rounded table
    ref = oracle_table(name, spec, spec) if spec.bits <= 8 else \
        np.asarray(get_activation(name, fmt)(codes))
    err = distance(spec, got, ref)
    desc = act.describe()
    assert desc["max_ulp_error"] == err.max()
    assert desc["worst_input"].startswith(f"0x{int(codes[np.argmax(err)]):0{(spec.bits + 3) // 4}x}")
    assert desc["exhaustive"] and desc["measured_over"] == codes.size
    # hardware widths: every coefficient fits its stated format, every accumulator acc_bits
    pwl.slope_format.from_int(pwl.slopes)
    pwl.intercept_format.from_int(pwl.intercepts)
    k = np.arange(-(1 << (pwl.grid_format.bits - 1)), 1 << (pwl.grid_format.bits - 1))
    acc = pwl.evaluate_int(k)
    assert np.abs(acc).max() < 1 << (pwl.acc_bits - 1)


def test_pwl_fixed_output_is_accurate():
    """Into a fixed-point output format the PWL is within a couple of steps everywhere."""
    si, so = spec_of("e4m3"), spec_of("uq1.8")
    act = get_activation("sigmoid", "e4m3", "uq1.8", method="pwl")
    codes = valid_codes(si)
    ref = oracle_table("sigmoid", si, so)
    got = np.asarray(act(codes))
    assert distance(so, got, ref).max() <= 2
    assert act.describe()["max_ulp_error"] == distance(so, got, ref).max()


def test_pwl_parameters_and_errors():
    act = get_activation("tanh", "bf16", method="pwl", segments=16, grid_frac_bits=6)
    p = act.pwl
    assert p.segments == 16 and p.grid_format == parse_format("q4.6")
    assert len(p.slopes) == 16 and p.offset_bits == 10 - 4
    with pytest.raises(ValueError, match="power of two"):
        get_activation("tanh", "bf16", method="pwl", segments=12)
    with pytest.raises(ValueError, match="no piecewise-linear"):
        get_activation("sin", "bf16", method="pwl")
    with pytest.raises(AttributeError):
        get_activation("tanh", "bf16").pwl


# ---------------------------------------------------------------------------------------------
# Monotonicity
# ---------------------------------------------------------------------------------------------

def brute_monotone(spec, table):
    codes = valid_codes(spec)
    o, nan = ordinal(spec, codes)
    codes, o = codes[~nan], o[~nan]
    oo, on = ordinal(spec, table[codes.astype(np.int64)])
    pairs_bad = 0
    for i in range(len(codes)):
        for j in range(len(codes)):
            if o[i] < o[j] and not (on[i] or on[j]) and oo[i] > oo[j]:
                pairs_bad += 1
    return pairs_bad == 0


@pytest.mark.parametrize("name,method,expected", [
    ("sigmoid", "cr", True), ("tanh", "cr", True), ("exp", "cr", True), ("relu", "exact", True),
    ("step", "exact", True), ("gelu", "cr", False), ("sin", "cr", False), ("mish", "cr", False),
    ("softplus", "cr", True), ("elu", "cr", True)])
def test_monotone_flag(name, method, expected):
    act = get_activation(name, "e4m3", method=method)
    assert act.monotone is expected
    assert brute_monotone(spec_of("e4m3"), np.asarray(act.table())) is expected


def test_monotone_of_perturbed_tables():
    act = get_activation("sigmoid", "e3m2", method="kulp", k=1, seed=2)
    assert act.monotone == brute_monotone(spec_of("e3m2"), np.asarray(act.table()))


# ---------------------------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["e4m3", "q4.4", "fp32"])
@pytest.mark.parametrize("kind", [("relu", "exact", {}), ("gelu", "cr", {}),
                                  ("elu", "cr", {"alpha": "3/2"}),
                                  ("tanh", "faithful", {"seed": 4}),
                                  ("sin", "kulp", {"k": 2, "seed": 1}),
                                  ("sigmoid", "pwl", {"segments": 32})])
def test_json_round_trip(kind, fmt):
    name, method, params = kind
    act = get_activation(name, fmt, method=method, **params)
    d = json.loads(json.dumps(act.to_json()))
    assert d["name"] == name and d["method"] == method and d["in_format"] == fmt
    back = activation_from_json(d)
    assert back.name == name and back.method == method and dict(back.params) == dict(act.params)
    assert back == act or "table" in d
    if method == "exact" or fmt == "fp32":
        assert "table" not in d
        if fmt == "fp32":
            c = np.array([0, 0x3F800000, 0xC0000000, 0x7FC00000], dtype=np.uint32)
            assert np.array_equal(back(c), act(c))
    else:
        bits = parse_format(fmt).bits
        assert len(d["table"]) == 1 << bits and d["table"][0].startswith("0x")
        assert np.array_equal(back.table(), act.table())
        assert activation_from_json(d, verify=True).table().tolist() == act.table().tolist()


@pytest.mark.parametrize("mutate,msg", [
    (lambda d: d.pop("name"), "string 'name'"),
    (lambda d: d.update(method="magic"), "unknown method"),
    (lambda d: d.update(in_format="e9m99x"), "unknown format name"),
    (lambda d: d.update(table=d["table"][:-1]), "list of 256 hex strings"),
    (lambda d: d["table"].__setitem__(3, "zz"), "entry 3 is 'zz'"),
    (lambda d: d["table"].__setitem__(3, "0x100"), "out of range"),
    (lambda d: d.pop("table"), "must carry its 'table'"),
    (lambda d: d.update(kind="ulpflow.network"), "not an activation"),
    (lambda d: d.update(params={"k": "two"}), "k must be an integer"),
])
def test_json_errors(mutate, msg):
    d = get_activation("tanh", "e4m3", method="kulp", k=1).to_json()
    d["table"] = list(d["table"])
    mutate(d)
    with pytest.raises((ValueError, TypeError), match=msg):
        activation_from_json(d)
    with pytest.raises(ValueError, match="must be an object"):
        activation_from_json([1, 2])


# ---------------------------------------------------------------------------------------------
# Cache, construction errors, describe, catalogue
# ---------------------------------------------------------------------------------------------

def test_table_cache_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("ULPFLOW_CACHE_DIR", str(tmp_path))
    A.clear_memory_cache()
    t1 = get_activation("silu", "e5m2", rounding="RTZ").table()
    files = list((tmp_path / "activations").glob("silu_e5m2_e5m2_RTZ_*.npy"))
    assert len(files) == 1 and not list((tmp_path / "activations").glob(".tmp-*"))
    assert np.array_equal(np.load(files[0]), t1)
    mtime = files[0].stat().st_mtime_ns
    A.clear_memory_cache()
    t2 = get_activation("silu", "e5m2", rounding="RTZ").table()
    assert np.array_equal(t1, t2) and files[0].stat().st_mtime_ns == mtime  # read, not rebuilt
    assert not t2.flags.writeable
    # a damaged file is rebuilt and replaced
    files[0].write_bytes(b"garbage")
    A.clear_memory_cache()
    assert np.array_equal(get_activation("silu", "e5m2", rounding="RTZ").table(), t1)
    assert np.array_equal(np.load(files[0]), t1)
    # keys differ by mode and parameters
    get_activation("elu", "e5m2", alpha=2).table()
    get_activation("elu", "e5m2", alpha=3).table()
    assert len(list((tmp_path / "activations").glob("elu_*.npy"))) == 2
    A.clear_memory_cache()


@pytest.mark.parametrize("call,exc,msg", [
    (lambda: get_activation("swish", "bf16"), ValueError, "unknown activation 'swish'"),
    (lambda: get_activation("tanh", "bf16", method="exact"), ValueError, "no exact"),
    (lambda: get_activation("relu", "bf16", method="cr"), ValueError, "relu is exact"),
    (lambda: get_activation("tanh", "bf16", method="pwlx"), ValueError, "unknown method"),
    (lambda: get_activation("tanh", "bf16", rounding="RNZ"), ValueError, "unknown rounding"),
    (lambda: get_activation("tanh", "bf16", alpha=2), TypeError, "unexpected parameter"),
    (lambda: get_activation("elu", "bf16", alpha=-1), ValueError, "alpha must be positive"),
    (lambda: get_activation("elu", "bf16", alpha=[1]), TypeError, "alpha must be a rational"),
    (lambda: get_activation("tanh", "bf16", method="kulp", k=-1), ValueError, "k must be"),
    (lambda: get_activation("tanh", "bf16", method="kulp", k=1.5), TypeError, "k must be"),
    (lambda: get_activation("tanh", 16), TypeError, "in_fmt must be"),
])
def test_construction_errors(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()


def test_immutable_and_describe():
    act = get_activation("softplus", "e4m3", method="kulp", k=1, seed=0)
    with pytest.raises(AttributeError, match="immutable"):
        act.name = "x"
    with pytest.raises(TypeError):
        act.params["k"] = 5
    d = act.describe()
    for key in ("function", "method", "in_format", "out_format", "max_ulp_error", "worst_input",
                "monotone", "measured_over", "summary"):
        assert key in d
    assert d["max_ulp_error"] == 1 and d["function"] == "softplus"
    assert "get_activation('softplus'" in repr(act)
    assert get_activation("relu", "e4m3") == get_activation("relu", "e4m3")
    assert hash(get_activation("relu", "e4m3")) == hash(get_activation("relu", "e4m3"))


def test_selu_constants_are_the_paper_decimals():
    assert A.SELU_LAMBDA == Fraction("1.0507009873554804934193349852946")
    assert A.SELU_ALPHA == Fraction("1.6732632423543772848170429916717")


def test_catalogue_small_format():
    rows = A.catalogue("e4m3")
    by = {(r["name"], r["method"]): r for r in rows}
    assert {("relu", "exact"), ("gelu", "cr"), ("tanh", "faithful"), ("exp", "kulp"),
            ("sigmoid", "pwl")} <= set(by)
    for r in rows:
        assert r["in_format"] == r["out_format"] == "e4m3"
        if r["method"] in ("exact", "cr"):
            assert r["max_ulp_error"] == 0
        elif r["method"] in ("faithful", "kulp"):
            assert r["max_ulp_error"] <= 1
    pwl = by[("gelu", "pwl")]
    assert pwl["max_ulp_error"] == get_activation("gelu", "e4m3", method="pwl").describe()["max_ulp_error"]
