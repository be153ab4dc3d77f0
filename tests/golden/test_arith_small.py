"""Exhaustive add/sub/mul of every format of at most 8 bits against independent oracles.

Every test runs all pairs of codes (2**16 for 8-bit formats, 2**12 / 2**8 for the 6-/4-bit
ones), so ``make test`` covers the whole 8-bit set in every rounding mode.

Oracles
-------
- RNE: ml_dtypes on bit views (see ``oracles.py`` for why its float32-then-round arithmetic
  is one correct rounding for these formats); e3m2 has no ml_dtypes type and uses gmpy2.
- RTZ/RUP/RDN: gmpy2 (MPFR with precision M+1, the format's exponent range and
  subnormalize=True; non-IEEE overflow mapped by hand).
- RNA: apytypes (TIES_AWAY) for the IEEE-style formats; for fn/fnuz/finite formats, which
  apytypes cannot express, gmpy2 with exact tie detection.
"""

import numpy as np
import pytest

import ulpflow.golden as g
from oracles import (DIRECTED, FLOAT_PRESETS, ROUNDING_MODES, SMALL_PRESETS, FloatSpec,
                     apy_float_op, apy_supports, assert_codes_equal, gmpy2_op, ml_binop,
                     mismatch_mask)

OPS = ("add", "sub", "mul")
ML_FORMATS = ("e4m3", "e5m2", "e4m3fn", "e4m3fnuz", "e5m2fnuz", "e3m4",
              "e2m3fn", "e3m2fn", "e2m1fn")

# Variants reachable by name: flush-to-zero, saturation, a custom bias, fnuz/fn/finite on
# other shapes.  gmpy2 is the oracle for all of them.
VARIANTS = [
    FloatSpec("e4m3_ftz", 4, 3, 7, subnormals=False),
    FloatSpec("e5m2_ftz", 5, 2, 15, subnormals=False),
    FloatSpec("e4m3_sat", 4, 3, 7, saturate=True),
    FloatSpec("e4m3_fn_sat", 4, 3, 7, specials="fn", saturate=True),
    FloatSpec("e4m3_fnuz_sat", 4, 3, 8, specials="fnuz", saturate=True),
    FloatSpec("e5m2_b10", 5, 2, 10),
    FloatSpec("e3m3_fn", 3, 3, 3, specials="fn"),
    FloatSpec("e3m4_fnuz", 3, 4, 4, specials="fnuz"),
    FloatSpec("e3m3_finite", 3, 3, 3, specials="finite"),
    FloatSpec("e4m3_fn_ftz", 4, 3, 7, specials="fn", subnormals=False),
]


SPECS = {**FLOAT_PRESETS, **{v.name: v for v in VARIANTS}}


def all_pairs(spec):
    """Every (a, b) code pair as two 2-D arrays (shape is checked to survive)."""
    c = spec.all_codes()
    a, b = np.meshgrid(c, c, indexing="ij")
    return a, b


def golden(op, a, b, spec, mode):
    return getattr(g, op)(a, b, g.parse_format(spec.name), rounding=mode)


# ---------------------------------------------------------------------------- RNE


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("name", ML_FORMATS)
def test_rne_vs_ml_dtypes(name, op):
    spec = FLOAT_PRESETS[name]
    a, b = all_pairs(spec)
    expected = ml_binop(op, a, b, spec)
    for mode in ("RNE", None):  # rounding=None means RNE
        got = golden(op, a, b, spec, mode)
        assert got.dtype == spec.dtype
        assert_codes_equal(got, expected, spec, what=f"{op} {name} {mode} vs ml_dtypes",
                           inputs=(a, b))


@pytest.mark.parametrize("op", OPS)
def test_e3m2_rne_vs_gmpy2(op):
    spec = FLOAT_PRESETS["e3m2"]
    a, b = all_pairs(spec)
    assert_codes_equal(golden(op, a, b, spec, "RNE"), gmpy2_op(op, [a, b], spec, "RNE"), spec,
                       what=f"{op} e3m2 RNE vs gmpy2", inputs=(a, b))


# ---------------------------------------------------------------------------- other modes


@pytest.mark.parametrize("mode", DIRECTED)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("name", SMALL_PRESETS)
def test_directed_vs_gmpy2(name, op, mode):
    spec = FLOAT_PRESETS[name]
    a, b = all_pairs(spec)
    assert_codes_equal(golden(op, a, b, spec, mode), gmpy2_op(op, [a, b], spec, mode), spec,
                       what=f"{op} {name} {mode} vs gmpy2", inputs=(a, b))


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("name", SMALL_PRESETS)
def test_rna(name, op):
    spec = FLOAT_PRESETS[name]
    a, b = all_pairs(spec)
    if apy_supports(spec):
        expected, oracle = apy_float_op(op, a, b, spec, "RNA"), "apytypes"
    else:
        expected, oracle = gmpy2_op(op, [a, b], spec, "RNA"), "gmpy2 tie detection"
    assert_codes_equal(golden(op, a, b, spec, "RNA"), expected, spec,
                       what=f"{op} {name} RNA vs {oracle}", inputs=(a, b))


@pytest.mark.parametrize("mode", ROUNDING_MODES)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("spec", VARIANTS, ids=lambda s: s.name)
def test_variants_vs_gmpy2(spec, op, mode):
    a, b = all_pairs(spec)
    if spec.saturate and spec.has_inf:
        # operands that are infinite are covered by test_saturate_keeps_infinite_operands
        keep = ~(spec.is_inf(a) | spec.is_inf(b))
        a, b = a[keep], b[keep]
    assert_codes_equal(golden(op, a, b, spec, mode), gmpy2_op(op, [a, b], spec, mode), spec,
                       what=f"{op} {spec.name} {mode} vs gmpy2", inputs=(a, b))


@pytest.mark.parametrize("op", OPS)
def test_saturate_keeps_infinite_operands(op):
    """docs/semantics.md §1.1 (overflow): with saturate=True an infinity from overflow becomes max; an
    infinite operand is not an overflow, so IEEE's exact inf result (inf + 1 = inf,
    inf * 2 = inf) should stay inf."""
    spec = SPECS["e4m3_sat"]
    a, b = all_pairs(spec)
    keep = spec.is_inf(a) | spec.is_inf(b)
    a, b = a[keep], b[keep]
    for mode in ROUNDING_MODES:
        assert_codes_equal(golden(op, a, b, spec, mode), gmpy2_op(op, [a, b], spec, mode), spec,
                           what=f"{op} e4m3_sat {mode} (infinite operands) vs gmpy2",
                           inputs=(a, b))


# ---------------------------------------------------------------------------- fma

FMA_EXHAUSTIVE = ("e2m1fn", "e3m2")          # 2**12 and 2**18 triples
FMA_SAMPLED = ("e4m3", "e5m2", "e4m3fn", "e4m3fnuz", "e3m4", "e2m3fn")


def fma_triples(spec):
    if spec.name in FMA_EXHAUSTIVE:
        c = spec.all_codes()
        return [x.reshape(-1) for x in np.meshgrid(c, c, c, indexing="ij")]
    rng = np.random.default_rng(spec.bits * 1000 + spec.E)
    return [rng.integers(0, 1 << spec.bits, 100_000).astype(spec.dtype) for _ in range(3)]


@pytest.mark.parametrize("mode", ROUNDING_MODES)
@pytest.mark.parametrize("name", FMA_EXHAUSTIVE + FMA_SAMPLED)
def test_fma_vs_gmpy2(name, mode):
    spec = FLOAT_PRESETS[name]
    a, b, c = fma_triples(spec)
    got = g.fma(a, b, c, g.parse_format(name), rounding=mode)
    assert_codes_equal(got, gmpy2_op("fma", [a, b, c], spec, mode), spec,
                       what=f"fma {name} {mode} vs gmpy2", inputs=(a, b, c))


# ---------------------------------------------------------------------------- mixed formats

MIXED = [("e4m3", "e5m2", "bf16"), ("e4m3", "e5m2", "e4m3"), ("e2m1fn", "e4m3fn", "e4m3fn"),
         ("e5m2", "e3m2", "fp16"), ("e4m3fnuz", "e4m3", "e5m2fnuz"), ("e5m2", "e4m3", "e3m2fn"),
         ("e5m2", "e4m3", "e4m3_fn_sat")]


@pytest.mark.parametrize("mode", ROUNDING_MODES)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("fa,fb,fo", MIXED, ids=lambda x: x)
def test_mixed_operands_vs_gmpy2(fa, fb, fo, op, mode):
    sa, sb, so = SPECS[fa], SPECS[fb], SPECS[fo]
    a, b = np.meshgrid(sa.all_codes(), sb.all_codes(), indexing="ij")
    ga, gb, go = g.parse_format(fa), g.parse_format(fb), g.parse_format(fo)
    if not so.has_nan:
        # NaN results have no code in a "finite" format: golden must refuse them loudly
        with np.errstate(all="ignore"):
            exact = {"add": np.add, "sub": np.subtract, "mul": np.multiply}[op](
                sa.decode(a), sb.decode(b))
        nan = np.isnan(exact)
        with pytest.raises(ValueError, match=fo):
            getattr(g, op)(a[nan][:1], b[nan][:1], (ga, gb), rounding=mode, out=go)
        a, b = a[~nan], b[~nan]
    got = getattr(g, op)(a, b, (ga, gb), rounding=mode, out=go)
    expected = gmpy2_op(op, [a, b], so, mode, in_specs=[sa, sb])
    assert_codes_equal(got, expected, so, what=f"{op} {fa} x {fb} -> {fo} {mode} vs gmpy2",
                       inputs=(a, b), in_specs=[sa, sb])


# ---------------------------------------------------------------------------- API details


def test_any_integer_dtype_in():
    spec = FLOAT_PRESETS["e4m3"]
    a, b = all_pairs(spec)
    expected = ml_binop("add", a, b, spec)
    for dt in (np.int64, np.int32, np.uint16, np.int16):
        got = g.add(a.astype(dt), b.astype(dt), g.parse_format("e4m3"))
        assert got.dtype == np.uint8
        assert_codes_equal(got, expected, spec, what=f"add e4m3 from {np.dtype(dt)}", inputs=(a, b))


def test_semantics_specials_by_hand():
    """docs/semantics.md §1.1 and §2 rules spelled out on e4m3 (values, not codes, chosen by hand)."""
    f = g.parse_format("e4m3")
    spec = FLOAT_PRESETS["e4m3"]
    P0, N0, INF, NINF, ONE = 0x00, 0x80, 0x78, 0xF8, 0x38
    nan = lambda c: bool(spec.is_nan(np.array(c)))
    assert nan(g.mul(np.array([P0]), np.array([INF]), f)[0])            # 0 * inf
    assert nan(g.add(np.array([INF]), np.array([NINF]), f)[0])          # inf - inf
    assert nan(g.add(np.array([0x7C]), np.array([ONE]), f)[0])          # NaN propagates
    for mode in ROUNDING_MODES:
        want = N0 if mode == "RDN" else P0
        assert g.add(np.array([P0]), np.array([N0]), f, rounding=mode)[0] == want
        assert g.sub(np.array([ONE]), np.array([ONE]), f, rounding=mode)[0] == want
    fnuz = g.parse_format("e4m3fnuz")
    r = g.sub(np.array([0x38]), np.array([0x38]), fnuz, rounding="RDN")
    assert r[0] == 0x00                                                 # fnuz never -0


# ---------------------------------------------------------------------------- the oracles themselves


@pytest.mark.parametrize("name", ML_FORMATS)
def test_oracles_agree_ml_dtypes_vs_gmpy2(name):
    """ml_dtypes (float32 then round) and MPFR agree exhaustively: both are trustworthy."""
    spec = FLOAT_PRESETS[name]
    a, b = all_pairs(spec)
    for op in OPS:
        assert_codes_equal(ml_binop(op, a, b, spec), gmpy2_op(op, [a, b], spec, "RNE"), spec,
                           what=f"oracles: {op} {name} ml_dtypes vs gmpy2", inputs=(a, b))


@pytest.mark.parametrize("name", ["e4m3", "e3m2", "e5m2"])
def test_oracles_agree_apytypes_vs_gmpy2(name):
    spec = FLOAT_PRESETS[name]
    a, b = all_pairs(spec)
    for op in OPS:
        for mode in ROUNDING_MODES:
            assert_codes_equal(apy_float_op(op, a, b, spec, mode),
                               gmpy2_op(op, [a, b], spec, mode), spec,
                               what=f"oracles: {op} {name} {mode} apytypes vs gmpy2",
                               inputs=(a, b))


# ---------------------------------------------------------------------------- mutation checks


def test_comparison_catches_one_flipped_bit():
    spec = FLOAT_PRESETS["e4m3"]
    a, b = all_pairs(spec)
    got = golden("add", a, b, spec, "RNE").copy()
    got[17, 99] ^= 1
    with pytest.raises(AssertionError, match=r"1 of 65536 differ") as err:
        assert_codes_equal(got, ml_binop("add", a, b, spec), spec, what="mutant", inputs=(a, b))
    assert "0x11" in str(err.value) and "0x63" in str(err.value)  # operands decoded


@pytest.mark.parametrize("mode", ["RTZ", "RNA"])
def test_comparison_catches_wrong_mode(mode):
    spec = FLOAT_PRESETS["e4m3"]
    a, b = all_pairs(spec)
    with pytest.raises(AssertionError, match="differ"):
        assert_codes_equal(golden("mul", a, b, spec, mode), ml_binop("mul", a, b, spec), spec,
                           what="wrong mode", inputs=(a, b))


def test_comparison_nan_by_class_and_signed_zero():
    spec = FLOAT_PRESETS["e4m3"]
    assert not mismatch_mask(np.array([0x7C]), np.array([0xFF]), spec).any()  # two NaNs
    assert mismatch_mask(np.array([0x00]), np.array([0x80]), spec).all()      # +0 vs -0
    assert mismatch_mask(np.array([0x78]), np.array([0x7C]), spec).all()      # inf vs NaN
    fn = FLOAT_PRESETS["e4m3fn"]
    assert mismatch_mask(np.array([0x7E]), np.array([0x7F]), fn).all()       # 448 vs NaN
