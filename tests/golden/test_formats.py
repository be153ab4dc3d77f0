"""Format descriptors, decoding, classification, neighbours and ulps against third-party
decoders (ml_dtypes, NumPy, apytypes) and the docs/semantics.md §1.1 table in ``oracles.py``
(which is itself checked here against ml_dtypes/apytypes)."""

from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

import apytypes as apy
import ulpflow.golden as g
from ulpflow.golden.formats import from_ordinal
from oracles import (FIXED_PRESETS, FLOAT_PRESETS, FixedSpec, FloatSpec, assert_codes_equal,
                     _fs, np_dtype, third_party_decode)

ALL_FLOAT = list(FLOAT_PRESETS)


def codes_for(spec):
    """All codes up to 16 bits; for fp32 a random sample plus the special codes."""
    if spec.bits <= 16:
        return spec.all_codes()
    rng = np.random.default_rng(0)
    c = rng.integers(0, 1 << 32, 300_000, dtype=np.uint64)
    edge = [0, 1, 2, 0x7FFFFF, 0x800000, 0x7F7FFFFF, 0x7F800000, 0x7F800001, 0x7FC00000,
            0x3F800000, 0x3F7FFFFF, 0x3F800001]
    edge += [e | 0x80000000 for e in edge]
    return np.concatenate([c, edge]).astype(np.uint32)


def same_values(a, b):
    """float64 arrays equal, NaN = NaN, and zeros with their sign."""
    a, b = np.asarray(a), np.asarray(b)
    return bool(np.all((a == b) & (np.signbit(a) == np.signbit(b)) | (np.isnan(a) & np.isnan(b))))


# ---------------------------------------------------------------------------- the table


@pytest.mark.parametrize("name", ALL_FLOAT)
def test_spec_table_vs_ml_dtypes_finfo(name):
    """The oracle's own table (from docs/semantics.md §1.1) agrees with ml_dtypes where it can."""
    spec = FLOAT_PRESETS[name]
    dt = np_dtype(spec)
    if dt is None:
        pytest.skip("no ml_dtypes type")
    fi = ml_dtypes.finfo(dt)
    assert float(fi.max) == spec.max_finite
    assert float(fi.smallest_normal) == spec.min_normal
    assert float(fi.smallest_subnormal) == spec.min_subnormal
    assert fi.nmant == spec.M


@pytest.mark.parametrize("name", ALL_FLOAT)
def test_preset_parameters(name):
    spec = FLOAT_PRESETS[name]
    f = g.parse_format(name)
    assert (f.exp_bits, f.man_bits, f.bias, f.specials, f.subnormals, f.saturate) == \
        (spec.E, spec.M, spec.bias, spec.specials, True, False)
    assert (f.bits, f.kind, f.emin, f.emax) == (spec.bits, "float", spec.emin, spec.emax)
    assert f.dtype == spec.dtype
    assert (f.max_finite, f.min_subnormal, f.min_normal) == \
        (spec.max_finite, spec.min_subnormal, spec.min_normal)
    dec = lambda c: float(third_party_decode(np.array([c]), spec)[0])
    assert dec(f.max_finite_code) == spec.max_finite
    assert dec(f.min_subnormal_code) == spec.min_subnormal
    assert dec(f.zero_code) == 0.0 and not np.signbit(dec(f.zero_code))
    assert dec(f.one_code) == 1.0
    if spec.has_nan:
        assert np.isnan(dec(f.nan_code))
        assert f.nan_code == spec.canonical_nan
    else:
        assert f.nan_code is None
    assert str(f) == name
    assert g.parse_format(str(f)) == f and hash(g.parse_format(str(f))) == hash(f)


def test_constructor_spelling_equals_preset():
    F = g.FloatFormat
    assert F(8, 23) == g.parse_format("fp32")
    assert F(4, 3) == g.parse_format("e4m3")
    assert F(4, 3, specials="fn") == g.parse_format("e4m3fn") == g.parse_format("e4m3_fn")
    assert F(5, 2, specials="fnuz") == g.parse_format("e5m2fnuz") == g.parse_format("e5m2_fnuz")
    assert F(5, 2, specials="fnuz").bias == 16
    assert F(2, 1, specials="finite") == g.parse_format("e2m1fn")
    assert F(3, 2, specials="finite") == g.parse_format("e3m2_finite")
    assert F(3, 2) == g.parse_format("e3m2") != g.parse_format("e3m2fn")
    assert g.FixedFormat(4, 4, symmetric=True) == g.parse_format("q4.4s")
    assert g.FixedFormat(3, 5, signed=False) == g.parse_format("uq3.5")
    assert g.FixedFormat(4, 4, overflow="WRAP") == g.parse_format("q4.4_wrap") != g.parse_format("q4.4")


@pytest.mark.parametrize("name", ALL_FLOAT)
def test_all_codes(name):
    spec = FLOAT_PRESETS[name]
    f = g.parse_format(name)
    if spec.bits > 16:
        pytest.skip("2**32 codes")
    c = f.all_codes()
    assert c.dtype == spec.dtype
    assert np.array_equal(c, spec.all_codes())


# ---------------------------------------------------------------------------- decoding


@pytest.mark.parametrize("name", ALL_FLOAT)
def test_oracle_decoder_vs_third_party(name):
    spec = FLOAT_PRESETS[name]
    c = codes_for(spec)
    assert same_values(spec.decode(c), third_party_decode(c, spec))


@pytest.mark.parametrize("name", ALL_FLOAT)
def test_decode_vs_third_party(name):
    spec = FLOAT_PRESETS[name]
    c = codes_for(spec)
    got = g.parse_format(name).decode(c)
    exp = third_party_decode(c, spec)
    assert got.dtype == np.float64
    bad = np.flatnonzero(~((got == exp) & (np.signbit(got) == np.signbit(exp))
                           | (np.isnan(got) & np.isnan(exp))))
    assert bad.size == 0, f"decode {name}: code {spec.fmt_code(c[bad[0]])} gave {got[bad[0]]!r}"


@pytest.mark.parametrize("name", ["e3m3", "e5m3", "e6m1", "e2m2", "e5m2_b10", "e4m3_b3", "e7m8"])
def test_decode_generic_ieee_vs_apytypes(name):
    f = g.parse_format(name)
    spec = FloatSpec(name, f.exp_bits, f.man_bits, f.bias)
    c = spec.all_codes()
    exp = np.asarray(apy.APyFloatArray.from_bits(c.astype(np.uint64), spec.E, spec.M,
                                                 spec.bias).to_numpy(), dtype=np.float64)
    assert same_values(f.decode(c), exp)
    assert f.max_finite == spec.max_finite


@pytest.mark.parametrize("name", [n for n in ALL_FLOAT if FLOAT_PRESETS[n].bits <= 16])
def test_decode_fraction(name):
    spec = FLOAT_PRESETS[name]
    c = spec.all_codes()
    got = g.parse_format(name).decode_fraction(c)
    exp = third_party_decode(c, spec)
    for gv, ev, code in zip(got.tolist(), exp.tolist(), c.tolist()):
        if np.isnan(ev):
            assert isinstance(gv, float) and np.isnan(gv), hex(code)
        elif np.isinf(ev):
            assert gv == ev, hex(code)
        else:
            assert isinstance(gv, Fraction) and gv == Fraction(ev), hex(code)


# ---------------------------------------------------------------------------- classification


@pytest.mark.parametrize("name", ALL_FLOAT)
def test_classify_and_predicates(name):
    spec = FLOAT_PRESETS[name]
    f = g.parse_format(name)
    c = codes_for(spec)
    v = third_party_decode(c, spec)
    a = np.abs(v)
    with np.errstate(invalid="ignore"):
        exp = np.select([np.isnan(v), np.isinf(v), v == 0, a < spec.min_normal],
                        [g.CLASS_NAN, g.CLASS_INF, g.CLASS_ZERO, g.CLASS_SUBNORMAL], g.CLASS_NORMAL)
    got = f.classify(c)
    assert got.dtype == np.uint8
    bad = np.flatnonzero(got != exp)
    assert bad.size == 0, f"classify {name}: {spec.fmt_code(c[bad[0]])} -> {got[bad[0]]}, expected {exp[bad[0]]}"
    assert np.array_equal(f.is_nan(c), np.isnan(v))
    assert np.array_equal(f.is_inf(c), np.isinf(v))
    assert np.array_equal(f.is_zero(c), v == 0)
    assert np.array_equal(f.is_finite(c), np.isfinite(v))
    nn = ~np.isnan(v)
    assert np.array_equal(np.asarray(f.sign(c))[nn].astype(bool), np.signbit(v)[nn])


# ---------------------------------------------------------------------------- neighbours, ulp


def neighbour_oracle(spec, c, direction):
    """next_up/next_down from the sorted third-party values (IEEE nextUp/nextDown).

    Returns expected codes and a mask of the codes it defines (the top of a format
    without infinities has no IEEE answer and is left out)."""
    v = third_party_decode(c, spec)
    allv = third_party_decode(spec.all_codes(), spec) if spec.bits <= 16 else None
    if spec.name in ("fp16", "fp32"):
        dt = np.float16 if spec.name == "fp16" else np.float32
        x = v.astype(dt)
        with np.errstate(all="ignore"):
            y = np.nextafter(x, dt(np.inf * direction))
        return spec.encode_exact(y.astype(np.float64)), np.ones(c.shape, dtype=bool)
    grid = np.unique(allv[np.isfinite(allv)])
    if spec.has_inf:
        grid = np.concatenate([[-np.inf], grid, [np.inf]])
    pos = np.searchsorted(grid, v)           # v == grid[pos] for non-NaN codes
    nxt = pos + direction
    ok = ~np.isnan(v) & (nxt >= 0) & (nxt < grid.size)
    if spec.has_inf:
        ok |= np.isinf(v) & (np.sign(v) == direction)
    res = np.where(ok, grid[np.clip(nxt, 0, grid.size - 1)], np.nan)
    res = np.where(np.isinf(v) & (np.sign(v) == direction), v, res)
    # leaving zero towards the other side keeps the sign of the side it came from
    res = np.where(res == 0, -0.0 if direction > 0 else 0.0, res)
    res = np.where(np.isnan(v), np.nan, res)
    ok |= np.isnan(v)
    return spec.encode_exact(np.where(ok, res, 0.0)), ok


@pytest.mark.parametrize("direction", [1, -1], ids=["next_up", "next_down"])
@pytest.mark.parametrize("name", ALL_FLOAT)
def test_next_up_down(name, direction):
    spec = FLOAT_PRESETS[name]
    f = g.parse_format(name)
    c = codes_for(spec)
    exp, ok = neighbour_oracle(spec, c, direction)
    # the step from the smallest subnormal to zero has its own test below
    ok &= (c.astype(np.int64) & (spec.sign_bit - 1)) != 1
    got = (f.next_up if direction > 0 else f.next_down)(c)
    assert got.dtype == spec.dtype
    assert_codes_equal(got[ok], exp[ok], spec, what=f"{name} {'next_up' if direction > 0 else 'next_down'}",
                       inputs=(c[ok],))


@pytest.mark.parametrize("name", ALL_FLOAT)
def test_step_from_min_subnormal_to_zero_keeps_sign(name):
    """IEEE 754 §5.3.1: nextUp(-min_subnormal) = -0 and nextDown(+min_subnormal) = +0
    (numpy.nextafter agrees); fnuz formats have only +0."""
    spec = FLOAT_PRESETS[name]
    f = g.parse_format(name)
    neg_min = np.array([spec.sign_bit | 1], dtype=spec.dtype)
    want = spec.sign_bit if spec.has_neg_zero else 0
    assert_codes_equal(f.next_up(neg_min), np.array([want]), spec, what=f"{name} next_up",
                       inputs=(neg_min,))
    pos_min = np.array([1], dtype=spec.dtype)
    assert_codes_equal(f.next_down(pos_min), np.array([0]), spec, what=f"{name} next_down",
                       inputs=(pos_min,))


@pytest.mark.parametrize("name", ALL_FLOAT)
def test_ulp(name):
    spec = FLOAT_PRESETS[name]
    c = codes_for(spec)
    v = third_party_decode(c, spec)
    fin = np.isfinite(v)
    c, v = c[fin], v[fin]
    _, e = np.frexp(np.abs(v))
    binade = np.where(v == 0, spec.emin, np.maximum(e.astype(np.int64) - 1, spec.emin))
    exp = np.ldexp(1.0, binade - spec.M)
    got = g.parse_format(name).ulp(c)
    bad = np.flatnonzero(got != exp)
    assert bad.size == 0, f"ulp {name} {spec.fmt_code(c[bad[0]])}: {got[bad[0]]!r} != {exp[bad[0]]!r}"
    if name in ("fp16", "fp32"):
        dt = np.float16 if name == "fp16" else np.float32
        inner = (v > 0) & (c != spec.max_finite_code)
        assert np.array_equal(np.spacing(v[inner].astype(dt)).astype(np.float64), exp[inner])


# ---------------------------------------------------------------------------- fixed point

FIXED = [FIXED_PRESETS["q4.4"], FIXED_PRESETS["q4.4s"], FIXED_PRESETS["uq3.5"],
         FixedSpec("q8.8", 8, 8), FixedSpec("uq0.8", 0, 8, signed=False), FixedSpec("q1.15", 1, 15)]


@pytest.mark.parametrize("fx", FIXED, ids=lambda s: s.name)
def test_fixed_format(fx):
    f = g.parse_format(fx.name)
    assert (f.int_bits, f.frac_bits, f.signed, f.symmetric, f.bits, f.kind) == \
        (fx.I, fx.F, fx.signed, fx.symmetric, fx.bits, "fixed")
    assert f.dtype == fx.dtype and str(f) == fx.name
    c = fx.valid_codes()
    k = fx.to_int(c)
    ib = fx.I if fx.signed else fx.I + 1
    exp = np.asarray(apy.APyFixedArray(k, int_bits=ib, frac_bits=fx.F).to_numpy(), dtype=np.float64)
    assert np.array_equal(f.decode(c), exp)
    assert np.array_equal(f.to_int(c), k)
    assert np.array_equal(f.from_int(k), c)
    assert f.max_finite == fx.kmax * 2.0**-fx.F
    assert f.min_subnormal == 2.0**-fx.F
    allc = f.all_codes()
    assert allc.dtype == fx.dtype
    assert np.array_equal(np.sort(allc), np.sort(c)) or (fx.symmetric and allc.size == c.size + 1)


# ---------------------------------------------------------------------------- bounds and helpers

@pytest.mark.parametrize("name,what", [("e31m3", "exp_bits"), ("e33m3", "exp_bits"),
                                       ("e42m3", "exp_bits"), ("e4m3_b4611686018427387904", "bias"),
                                       ("e8m7_b-1073741825", "bias"), ("e2m58", "man_bits"),
                                       ("e2m61", "man_bits")])
def test_formats_beyond_the_bounds_are_refused(name, what):
    """Formats golden cannot compute exactly are refused when built, naming the value."""
    with pytest.raises(ValueError, match=what) as e:
        g.parse_format(name)
    assert name in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ValueError, match=r"100000000000000000000"):
        g.FloatFormat(8, 7, bias=10 ** 20)
    from ulpflow.golden.formats import MAX_BIAS, MAX_EXP_BITS, MAX_MAN_BITS
    assert (MAX_EXP_BITS, MAX_BIAS, MAX_MAN_BITS) == (30, 1 << 30, 57)


@pytest.mark.parametrize("name", ["e30m3", "e30m33", "e20m43", "e4m3_b1073741824",
                                  "e8m7_b-1073741824"])
def test_formats_at_the_bounds_compute_exactly(name):
    """At the bounds: max_finite, tiny sums and huge encodes are exact (Fraction reference)."""
    f = g.parse_format(name)
    top = (f.max_finite_code >> f.man_bits) - f.bias
    want_max = (2 - Fraction(1, 1 << f.man_bits)) * Fraction(2) ** top
    assert f.decode_fraction(np.array([f.max_finite_code]))[0] == want_max
    tiny = np.array([f.min_subnormal_code], dtype=np.uint64).astype(f.dtype)
    zero = np.zeros(1, dtype=f.dtype)
    if f.man_bits <= 27:
        assert g.add(tiny, zero, f)[0] == tiny[0]          # ZERO_EXP stays below every operand
    big = f.encode([want_max * 4, -want_max * 4, want_max])
    # ieee style: RNE overflow is +-inf (all-ones exponent field, zero fraction), max just below
    inf = ((1 << f.exp_bits) - 1) << f.man_bits
    assert list(big) == [inf, inf | (1 << (f.bits - 1)), inf - 1]


def test_64_bit_format_matches_float64():
    f = g.parse_format("e11m52")
    rng = np.random.default_rng(5)
    x = rng.standard_normal(4000) * 10.0 ** rng.integers(-300, 300, 4000)
    x = np.concatenate([x, [np.inf, -np.inf, 0.0, -0.0, 5e-324, -1.7976931348623157e308]])
    assert (f.encode(x) == x.view(np.uint64)).all()
    assert (f.decode(x.view(np.uint64)) == x).all()
    assert f.encode([Fraction(2) ** 1024])[0] == f.inf_code
    # the number line of a 64-bit format: next_up/next_down and ulp distances vs NumPy
    finite = x[np.isfinite(x)]
    codes = finite.view(np.uint64)
    with np.errstate(over="ignore"):  # nextafter(max, inf) is inf, as next_up(max) must be
        up, down = np.nextafter(finite, np.inf), np.nextafter(finite, -np.inf)
    assert (f.next_up(codes).view(np.float64) == up).all()
    assert (f.next_down(codes).view(np.float64) == down).all()
    one, minus_one = np.array([1.0]).view(np.uint64), np.array([-1.0]).view(np.uint64)
    assert g.ulp_distance(minus_one, one, f)[0] == 2 * 0x3FF0000000000000
    ords, _ = g.ordinal(f, codes)
    assert (np.sign(ords) == np.sign(finite)).all()
    back = from_ordinal(f, ords, negative_zero=np.signbit(finite))
    assert (back == codes).all()


def test_show_hex_and_fixed_range():
    e4m3, q = g.parse_format("e4m3"), g.parse_format("q4.4s")
    assert e4m3.show(0x38) == "0x38 (1.0)" and e4m3.hex(5) == "0x05"
    assert g.parse_format("fp16").show(0x7C00) == "0x7c00 (inf)"
    assert q.show(0x80) == "0x80 (not a q4.4s code)" and q.show(0x90) == "0x90 (-7.0)"
    assert e4m3.show(0x100) == "0x100 (not a e4m3 code)"
    assert (q.kmin, q.kmax) == (-127, 127)
    assert (g.parse_format("uq3.5").kmin, g.parse_format("uq3.5").kmax) == (0, 255)
    assert list(q.is_code(np.array([0, 0x80, 0xFF, 0x100]))) == [True, False, True, False]


@pytest.mark.parametrize("name", list(FLOAT_PRESETS) + ["e5m2_ftz", "e4m3_fn_sat", "e3m0_fn"])
def test_special_flags_and_lsb_exp_range(name):
    """The shared NaN/inf rule agrees with the oracle's own table of the styles (written from
    the docs, not from golden), and lsb_exp_range with unpack."""
    f = g.parse_format(name)
    codes = f.all_codes() if f.bits <= 16 else np.array([0, 1, 0x7F800000, 0x7FC00000, 0xFF800000,
                                                          0x3F800000], dtype=np.uint32)
    c = codes.astype(np.int64)
    field = (c >> f.man_bits) & ((1 << f.exp_bits) - 1)
    frac = c & ((1 << f.man_bits) - 1)
    nan, inf = f.special_flags(c, field, frac)
    spec = FLOAT_PRESETS.get(name) or _fs(name, f.exp_bits, f.man_bits, specials=f.specials)
    assert (np.broadcast_to(nan, c.shape) == spec.is_nan(codes)).all()
    assert (np.broadcast_to(inf, c.shape) == spec.is_inf(codes)).all()
    _, _, exp, cls = f.unpack(codes, raw=True)
    finite = (cls == g.CLASS_NORMAL) | (cls == g.CLASS_SUBNORMAL)
    lo, hi = f.lsb_exp_range
    if f.bits <= 16:
        assert exp[finite].min() == lo and exp[finite].max() == hi


def test_ordinal_helpers_are_public_in_formats():
    from ulpflow.golden import activations, formats
    assert activations.ordinal is formats.ordinal and activations.ulp_distance is formats.ulp_distance
    f = g.parse_format("e4m3")
    assert formats.ulp_distance(np.array([0x38]), np.array([0x3A]), "e4m3")[0] == 2
    assert (formats.from_ordinal(f, formats.ordinal(f, f.all_codes()[:100])[0])
            == f.all_codes()[:100]).all()
