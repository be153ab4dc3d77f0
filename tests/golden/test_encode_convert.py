"""``encode`` at and around every rounding midpoint, encode from Fractions, and ``convert``
between every pair of float presets, all against gmpy2 / ml_dtypes / apytypes.

Encode points (per format): every finite value, every midpoint between neighbouring values
(including the midpoint between max and the next grid point, the overflow threshold), the
float64 next_up/next_down of each midpoint, plus +-0, +-inf, NaN and far-out values.
RNE/RTZ/RUP/RDN come from MPFR; RNA from apytypes (cast from an exact binary64, IEEE-style
formats) and, for the other styles, from MPFR with exact tie detection; the two RNA
oracles are checked against each other.
"""

import functools
from fractions import Fraction

import numpy as np
import pytest

import ulpflow.golden as g
from oracles import (FLOAT_PRESETS, ROUNDING_MODES, apy_float_cast, apy_supports,
                     assert_codes_equal, corner_pairs, gmpy2_round_fractions, gmpy2_round_values,
                     ml_from_float32, mpfr_values, np_dtype, third_party_decode)

ENCODE_FORMATS = ("e4m3", "e5m2", "bf16", "fp16", "e4m3fn", "e4m3fnuz", "e2m1fn", "e3m2")


@functools.lru_cache(maxsize=None)
def tie_points(name):
    """float64 test points of the format (values from the third-party decoder)."""
    spec = FLOAT_PRESETS[name]
    codes = spec.all_codes()
    v = third_party_decode(codes, spec)
    v = np.unique(v[np.isfinite(v)])          # sorted, -0 and +0 collapse to one 0
    mids = (v[:-1] + v[1:]) / 2               # exact: one more bit than the format
    top_ulp = np.ldexp(1.0, spec.emax - spec.M)
    thr = spec.max_finite + top_ulp / 2       # overflow threshold, itself a midpoint
    mids = np.concatenate([mids, [thr, -thr]])
    assert np.all((mids > v.min() - top_ulp) & (mids < v.max() + top_ulp))
    extra = [0.0, -0.0, np.inf, -np.inf, 2 * spec.max_finite, -2 * spec.max_finite,
             1e300, -1e300, 5e-324, -5e-324, spec.min_subnormal / 4, -spec.min_subnormal / 4]
    if spec.has_nan:
        extra.append(np.nan)
    pts = np.concatenate([v, mids, np.nextafter(mids, np.inf), np.nextafter(mids, -np.inf), extra])
    return pts, np.isin(pts, mids)


@functools.lru_cache(maxsize=8)
def expected_encode(name, mode):
    spec = FLOAT_PRESETS[name]
    pts, _ = tie_points(name)
    if mode == "RNA" and apy_supports(spec):
        return apy_float_cast(pts, spec, "RNA"), "apytypes"
    return gmpy2_round_values(pts, spec, mode), "gmpy2"


@pytest.mark.parametrize("mode", ROUNDING_MODES)
@pytest.mark.parametrize("name", ENCODE_FORMATS)
def test_encode_ties_and_neighbours(name, mode):
    spec = FLOAT_PRESETS[name]
    pts, is_mid = tie_points(name)
    expected, oracle = expected_encode(name, mode)
    got = g.parse_format(name).encode(pts, rounding=mode)
    assert got.dtype == spec.dtype
    bad = np.flatnonzero((got.astype(np.int64) != expected) & ~(spec.is_nan(got) & spec.is_nan(expected)))
    if bad.size:
        i = bad[0]
        raise AssertionError(
            f"encode {name} {mode} vs {oracle}: {bad.size} of {pts.size} differ; first: "
            f"x={pts[i]!r} ({float(pts[i]).hex()}, midpoint={bool(is_mid[i])}): expected "
            f"{spec.fmt_code(expected[i])}, got {spec.fmt_code(got[i])}")
    print(f"\nencode {name} {mode}: {pts.size} points, {int(is_mid.sum())} midpoints")


@pytest.mark.parametrize("name", ENCODE_FORMATS)
def test_encode_default_is_rne(name):
    pts, _ = tie_points(name)
    spec = FLOAT_PRESETS[name]
    expected, _ = expected_encode(name, "RNE")
    f = g.parse_format(name)
    for got in (f.encode(pts), f.encode(pts, rounding=None)):
        assert_codes_equal(got, expected, spec, what=f"encode {name} default rounding")


@pytest.mark.parametrize("name", ["e4m3", "e5m2", "fp16", "e3m2"])
def test_rna_oracles_agree(name):
    spec = FLOAT_PRESETS[name]
    pts, _ = tie_points(name)
    assert_codes_equal(apy_float_cast(pts, spec, "RNA"), gmpy2_round_values(pts, spec, "RNA"),
                       spec, what=f"oracles: encode {name} RNA apytypes vs gmpy2")


@pytest.mark.parametrize("name", ["e4m3", "bf16"])
def test_rne_oracles_agree(name):
    """MPFR and ml_dtypes (from float32: every test point is a float32) agree."""
    spec = FLOAT_PRESETS[name]
    pts, _ = tie_points(name)
    with np.errstate(over="ignore"):
        pts = pts[pts.astype(np.float32).astype(np.float64) == pts]  # NaN drops out too
    assert_codes_equal(ml_from_float32(pts, spec), gmpy2_round_values(pts, spec, "RNE"), spec,
                       what=f"oracles: encode {name} RNE ml_dtypes vs gmpy2")


# ---------------------------------------------------------------------------- Fractions


def fraction_sample(name, n=1500, seed=3):
    spec = FLOAT_PRESETS[name]
    rng = np.random.default_rng(seed)
    out = [Fraction(0), Fraction(1, 3), Fraction(-2, 3), Fraction(10**40), Fraction(1, 10**40)]
    for _ in range(n):
        num = int(rng.integers(1, 1 << 40)) * (1 if rng.random() < 0.5 else -1)
        den = int(rng.integers(1, 1 << 30))
        k = int(rng.integers(spec.emin - spec.M - 3, spec.emax + 3))
        q = Fraction(num, den)
        q *= Fraction(2) ** (k - (q.numerator.bit_length() - q.denominator.bit_length()))
        out.append(q)
    pts, is_mid = tie_points(name)
    mids = pts[is_mid]
    for x in rng.choice(mids, min(300, mids.size), replace=False):
        out.append(Fraction(float(x)))                       # exact ties as Fractions
        out.append(Fraction(float(x)) + Fraction(1, 3 * 2**(-spec.emin + spec.M + 40)))
    return out


@pytest.mark.parametrize("mode", ROUNDING_MODES)
@pytest.mark.parametrize("name", ["e4m3", "e5m2", "bf16", "fp16", "e4m3fn", "e2m1fn"])
def test_encode_fractions_vs_gmpy2(name, mode):
    spec = FLOAT_PRESETS[name]
    fr = fraction_sample(name)
    expected = gmpy2_round_fractions(fr, spec, mode)
    f = g.parse_format(name)
    for label, arg in (("list", fr), ("object array", np.array(fr, dtype=object))):
        got = np.asarray(f.encode(arg, rounding=mode)).reshape(-1)
        bad = np.flatnonzero(got.astype(np.int64) != expected.astype(np.int64))
        if bad.size:
            i = bad[0]
            raise AssertionError(f"encode({label} of Fraction) {name} {mode}: {bad.size} differ; "
                                 f"first x={fr[i]}: expected {spec.fmt_code(expected[i])}, "
                                 f"got {spec.fmt_code(got[i])}")


@pytest.mark.parametrize("name", ["e2m1fn", "e2m3fn", "e3m2fn"])
def test_encode_nan_into_finite_format_is_refused(name):
    with pytest.raises(ValueError, match=name):
        g.parse_format(name).encode(np.array([1.0, np.nan]))


def test_encode_single_fraction():
    f = g.parse_format("e4m3")
    assert int(np.asarray(f.encode(Fraction(3, 2))).reshape(-1)[0]) == 0x3C  # 1.5 exactly


# ---------------------------------------------------------------------------- conversions


@functools.lru_cache(maxsize=None)
def source_codes(name):
    spec = FLOAT_PRESETS[name]
    if spec.bits <= 16:
        return spec.all_codes()
    # fp32: corner-rich sample plus every midpoint of every narrower preset and its
    # float32 neighbours (those are the points where conversions go wrong)
    rng = np.random.default_rng(32)
    a, b, _, _ = corner_pairs(spec, 60_000, rng, "add")
    pts = [a, b]
    for other in FLOAT_PRESETS.values():
        if other.bits < 32:
            v = third_party_decode(other.all_codes(), other)
            v = np.unique(v[np.isfinite(v)])
            m = ((v[:-1] + v[1:]) / 2).astype(np.float32)
            if m.size > 20_000:
                m = rng.choice(m, 20_000, replace=False)
            for x in (m, np.nextafter(m, np.float32(np.inf)), np.nextafter(m, np.float32(-np.inf))):
                pts.append(x.view(np.uint32))
    return np.unique(np.concatenate(pts).astype(np.uint32))


@functools.lru_cache(maxsize=2)
def source_mpfr(name, drop_nan):
    s = FLOAT_PRESETS[name]
    c = source_codes(name)
    if drop_nan:
        c = c[~s.is_nan(c)]
    return mpfr_values(c, s)


def convert_oracle(src, dst, codes, mode, drop_nan=False):
    s, d = FLOAT_PRESETS[src], FLOAT_PRESETS[dst]
    if mode == "RNE" and np_dtype(d) is not None:
        # every preset widens exactly to float32; ml_dtypes/NumPy round float32 once
        return ml_from_float32(third_party_decode(codes, s), d), "ml_dtypes/numpy"
    if codes is source_codes(src) or drop_nan:
        vals = source_mpfr(src, drop_nan)     # the same list for all 13 destinations
    else:
        vals = mpfr_values(codes, s)
    return gmpy2_round_values(vals, d, mode), "gmpy2"


@pytest.mark.parametrize("mode", ROUNDING_MODES)
@pytest.mark.parametrize("src", list(FLOAT_PRESETS))
def test_convert_all_preset_pairs(src, mode):
    s = FLOAT_PRESETS[src]
    codes = source_codes(src)
    fs = g.parse_format(src)
    for dst, d in FLOAT_PRESETS.items():
        c = codes
        drop_nan = not d.has_nan and s.has_nan
        if drop_nan:
            nan = s.is_nan(c)
            # no code for NaN in a finite format: golden must refuse with a clear error
            with pytest.raises(ValueError, match=dst):
                g.convert(c[nan][:1], fs, g.parse_format(dst), rounding=mode)
            c = c[~nan]
        expected, oracle = convert_oracle(src, dst, c, mode, drop_nan)
        got = g.convert(c, fs, g.parse_format(dst), rounding=mode)
        assert got.dtype == d.dtype
        assert_codes_equal(got, expected, d, what=f"convert {src} -> {dst} {mode} vs {oracle}",
                           inputs=(c,), in_specs=[s])


@pytest.mark.parametrize("mode", ROUNDING_MODES)
def test_convert_default_rounding_is_rne(mode):
    s, d = FLOAT_PRESETS["fp16"], FLOAT_PRESETS["e4m3"]
    c = s.all_codes()
    got = g.convert(c, g.parse_format("fp16"), g.parse_format("e4m3"))
    expected, _ = convert_oracle("fp16", "e4m3", c, "RNE")
    assert_codes_equal(got, expected, d, what="convert fp16 -> e4m3 default", inputs=(c,),
                       in_specs=[s])


def test_convert_is_not_through_float32_double_rounding():
    """fp32 -> e4m3 is one rounding; going through fp16 rounds twice and differs just
    above e4m3 midpoints (the comparison must see that)."""
    s, d = FLOAT_PRESETS["fp32"], FLOAT_PRESETS["e4m3"]
    c = source_codes("fp32")
    expected, _ = convert_oracle("fp32", "e4m3", c, "RNE")
    via_fp16 = g.convert(g.convert(c, g.parse_format("fp32"), g.parse_format("fp16")),
                         g.parse_format("fp16"), g.parse_format("e4m3"))
    with pytest.raises(AssertionError, match="differ"):
        assert_codes_equal(via_fp16, expected, d, what="double rounding posing as convert",
                           inputs=(c,), in_specs=[s])


# ---------------------------------------------------------------------------- mutation check


def test_comparison_catches_wrong_mode_encode():
    spec = FLOAT_PRESETS["fp16"]
    pts, _ = tie_points("fp16")
    expected, _ = expected_encode("fp16", "RNE")
    with pytest.raises(AssertionError, match="differ"):
        assert_codes_equal(g.parse_format("fp16").encode(pts, rounding="RNA"), expected, spec,
                           what="RNA posing as RNE")


# ---------------------------------------------------------------------------- NaN without NaN

@pytest.mark.parametrize("n", [7, 5000])          # the direct path and the pair-table path
@pytest.mark.parametrize("op", ["add", "sub", "mul"])
def test_nan_into_a_format_without_nan_is_per_lane(op, n):
    """strict=False: NaN lanes give +0, every other lane is what the strict call gives."""
    f, out = g.parse_format("e4m3"), g.parse_format("e2m1fn")
    rng = np.random.default_rng(n)
    a = rng.integers(0, 256, n).astype(np.uint8)
    b = rng.integers(0, 256, n).astype(np.uint8)
    a[:3] = [0x7F, 0x78, 0x00]                      # NaN, +inf, 0
    b[:3] = [0x38, 0xF8, 0x78]                      # 1, -inf, +inf: NaN, NaN (add), NaN (mul)
    got = getattr(g, op)(a, b, f, out=out, strict=False)
    va, vb = f.decode(a), f.decode(b)
    with np.errstate(all="ignore"):
        nan = np.isnan({"add": va + vb, "sub": va - vb, "mul": va * vb}[op])
    assert nan.any() and (got[nan] == 0).all() and out.nan_result_code == 0
    ok = ~nan
    assert (got[ok] == getattr(g, op)(a[ok], b[ok], f, out=out)).all()
    with pytest.raises(ValueError, match="e2m1fn") as e:
        getattr(g, op)(a, b, f, out=out)           # strict by default for a finite float
    first = np.flatnonzero(nan)[:3]
    assert f"lanes {', '.join(map(str, first))}" in str(e.value)
    assert f"{nan.sum()} lane(s)" in str(e.value)


def test_nan_lanes_are_named_in_2d_and_for_convert_and_fma():
    f, out = g.parse_format("fp16"), g.parse_format("e3m2fn")
    a = np.array([[0x3C00, 0x7E00], [0x7E00, 0x3C00]], dtype=np.uint16)
    with pytest.raises(ValueError, match=r"convert: 2 lane\(s\).*lanes \(0, 1\), \(1, 0\)"):
        g.convert(a, f, out)
    got = g.convert(a, f, out, strict=False)
    assert got[0, 1] == got[1, 0] == 0 and got[0, 0] == out.encode(1.0)
    with pytest.raises(ValueError, match=r"fma: 1 lane"):
        g.fma(a[0], a[0], a[0], f, out=out)
    assert g.fma(a[0], a[0], a[0], f, out=out, strict=False)[1] == 0


def test_nan_into_fixed_point_default_and_strict():
    f, q = g.parse_format("e4m3"), g.parse_format("q4.4")
    codes = np.array([0x7F, 0x78, 0xF8, 0x38], dtype=np.uint8)   # NaN, +inf, -inf, 1
    assert list(g.convert(codes, f, q)) == [0, 0x7F, 0x80, 0x10]  # documented default
    with pytest.raises(ValueError, match=r"q4.4.*lanes 0"):
        g.convert(codes, f, q, strict=True)


def test_encode_strict_false_applies_the_policy():
    fin, q = g.parse_format("e2m1fn"), g.parse_format("q4.4")
    x = np.array([1.0, np.nan, np.inf, -np.inf])
    assert list(fin.encode(x, strict=False)) == [0x2, 0x0, 0x7, 0xF]
    assert list(q.encode(x, strict=False)) == [0x10, 0x00, 0x7F, 0x80]
    with pytest.raises(ValueError, match=r"element 1"):
        fin.encode(x)
    with pytest.raises(ValueError, match=r"\+inf \(element 2\)"):
        q.encode(x[[0, 0, 2]])
    with pytest.raises(ValueError, match="applies to fixed-point"):
        g.parse_format("e4m3").encode(x[:1], overflow="SAT")


def test_activation_nan_agrees_with_convert():
    """Activations give the same per-lane substitute as arithmetic (and the hardware)."""
    from ulpflow.golden.activations import get_activation
    f, out = g.parse_format("e4m3"), g.parse_format("e2m3fn")
    codes = f.all_codes()
    ident = get_activation("identity", f, out)
    assert (ident(codes) == g.convert(codes, f, out, strict=False)).all()
    tanh = get_activation("tanh", f, out)
    assert (tanh(codes[f.is_nan(codes)]) == out.nan_result_code).all()


def test_round_pack_accepts_names():
    from ulpflow.golden.rounding import round_pack
    rng = np.random.default_rng(7)
    sign = rng.integers(0, 2, 200).astype(bool)
    sig = rng.integers(0, 1 << 20, 200)
    exp = rng.integers(-40, 10, 200)
    sticky = rng.integers(0, 2, 200).astype(bool)
    for name in ("e4m3", "q4.4", "bf16"):
        for mode in ("RNE", "RDN"):
            by_name = round_pack(sign, sig, exp, name, mode, sticky=sticky)
            by_object = round_pack(sign, sig, exp, g.parse_format(name), mode, sticky=sticky)
            assert by_name.dtype == by_object.dtype and (by_name == by_object).all()
    with pytest.raises(ValueError, match="unknown format name 'e4m3x'") as bad:
        round_pack(sign, sig, exp, "e4m3x")
    assert "\n" not in str(bad.value)
    with pytest.raises(TypeError, match="fmt must be a FloatFormat, FixedFormat or format name, "
                                        "not 8") as bad:
        round_pack(sign, sig, exp, 8)
    assert "\n" not in str(bad.value)


def test_round_pack_masks():
    from ulpflow.golden.rounding import round_pack
    z = np.zeros(4, dtype=np.int64)
    sign = np.array([0, 1, 0, 1], bool)
    nan = np.array([1, 0, 0, 1], bool)
    inf = np.array([0, 1, 1, 1], bool)
    for name, want in [("e4m3", [0x7C, 0xF8, 0x78, 0x7C]), ("e4m3fn", [0x7F] * 4),
                       ("e4m3_fn_sat", [0x7F, 0xFE, 0x7E, 0x7F]), ("e2m3fn", [0, 0x3F, 0x1F, 0]),
                       ("q4.4", [0, 0x80, 0x7F, 0])]:
        f = g.parse_format(name)
        got = round_pack(sign, z, z, f, "RNE", nan=nan, inf=inf)
        assert list(got) == want, name
