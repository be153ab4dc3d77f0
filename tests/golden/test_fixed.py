"""Fixed point: every code pair of q4.4, q4.4s and uq3.5 for add/sub/mul in every rounding
mode and both overflow modes against apytypes, plus float <-> fixed conversions.

apytypes (APyFixedArray with QuantizationMode / OverflowMode) computes the exact result and
quantizes it.  It has signed two's-complement formats only, so ``oracles.py`` maps the two
other kinds by hand (documented there): unsigned formats run as signed with one more
integer bit, and the symmetric SAT bound is +-(2**(n-1) - 1).
"""

import numpy as np
import pytest

import ulpflow.golden as g
from oracles import (FIXED_PRESETS, FLOAT_PRESETS, ROUNDING_MODES, FixedSpec, apy_fixed_from_values,
                     apy_fixed_op, assert_codes_equal, gmpy2_round_values, third_party_decode)

OPS = ("add", "sub", "mul")
CASES = [(n, ov) for n in FIXED_PRESETS for ov in ("SAT", "WRAP")
         if not (FIXED_PRESETS[n].symmetric and ov == "WRAP")]


def valid_pairs(fx):
    c = fx.valid_codes()
    a, b = np.meshgrid(c, c, indexing="ij")
    return a, b


@pytest.mark.parametrize("mode", ROUNDING_MODES)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("name,overflow", CASES)
def test_fixed_vs_apytypes(name, overflow, op, mode):
    fx = FIXED_PRESETS[name]
    a, b = valid_pairs(fx)
    got = getattr(g, op)(a, b, g.parse_format(name), rounding=mode, overflow=overflow)
    assert got.dtype == fx.dtype
    assert_codes_equal(got, apy_fixed_op(op, a, b, fx, mode, overflow), fx,
                       what=f"{op} {name} {mode} {overflow} vs apytypes", inputs=(a, b))


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("name", ["q4.4", "uq3.5"])
def test_format_overflow_is_the_default(name, op):
    """overflow=None takes the out format's policy: ``_wrap`` names wrap, plain ones saturate."""
    fx = FIXED_PRESETS[name]
    a, b = valid_pairs(fx)
    for fmt_name, ov in ((name, "SAT"), (name + "_wrap", "WRAP")):
        got = getattr(g, op)(a, b, g.parse_format(fmt_name))
        assert_codes_equal(got, apy_fixed_op(op, a, b, fx, "RNE", ov), fx,
                           what=f"{op} {fmt_name} default rounding/overflow vs apytypes",
                           inputs=(a, b))


def test_q44s_saturates_symmetrically():
    f = g.parse_format("q4.4s")
    big, one, nbig = 0x7F, 0x10, 0x81          # 7.9375, 1, -7.9375
    assert g.add(np.array([big]), np.array([one]), f)[0] == 0x7F
    assert g.sub(np.array([nbig]), np.array([one]), f)[0] == 0x81   # not 0x80 (-8)
    assert g.mul(np.array([nbig]), np.array([0x20]), f)[0] == 0x81  # -7.9375 * 2


def test_symmetric_wrap_is_rejected():
    with pytest.raises(ValueError, match="WRAP") as e1:
        g.FixedFormat(4, 4, symmetric=True, overflow="WRAP")
    with pytest.raises(ValueError, match="WRAP"):
        g.parse_format("q4.4s_wrap")
    with pytest.raises(ValueError, match="WRAP"):
        g.add(np.array([1]), np.array([2]), g.parse_format("q4.4s"), overflow="WRAP")
    assert "symmetric" in str(e1.value)
    assert "\n" not in str(e1.value)


@pytest.mark.parametrize("fn", ["add", "decode"])
def test_symmetric_most_negative_code_is_out_of_range(fn):
    f = g.parse_format("q4.4s")
    with pytest.raises(ValueError, match=r"128|0x80"):
        if fn == "add":
            g.add(np.array([0x80]), np.array([0x00]), f)
        else:
            f.decode(np.array([0x80]))


def test_bad_overflow_mode_is_named():
    with pytest.raises(ValueError, match="CLAMP"):
        g.add(np.array([1]), np.array([2]), g.parse_format("q4.4"), overflow="CLAMP")


# ---------------------------------------------------------------------------- conversions

FLOAT_SRC = ("e4m3", "e5m2", "e4m3fn", "e2m1fn", "fp16", "bf16")
FIXED_DST = [FIXED_PRESETS["q4.4"], FIXED_PRESETS["q4.4s"], FIXED_PRESETS["uq3.5"],
             FixedSpec("q8.8", 8, 8), FixedSpec("q2.6", 2, 6), FixedSpec("uq0.8", 0, 8, signed=False)]
FIXED_DST_CASES = [(fx, ov) for fx in FIXED_DST for ov in ("SAT", "WRAP")
                   if not (fx.symmetric and ov == "WRAP")]


def _fixed_name(fx, ov):
    return fx.name + ("_wrap" if ov == "WRAP" else "")


@pytest.mark.parametrize("mode", ROUNDING_MODES)
@pytest.mark.parametrize("src", FLOAT_SRC)
def test_float_to_fixed_vs_apytypes(src, mode):
    s = FLOAT_PRESETS[src]
    c = s.all_codes()
    v = third_party_decode(c, s)
    c, v = c[np.isfinite(v)], v[np.isfinite(v)]   # inf/NaN -> fixed is not specified
    for fx, ov in FIXED_DST_CASES:
        name = _fixed_name(fx, ov)
        got = g.convert(c, g.parse_format(src), g.parse_format(name), rounding=mode)
        assert_codes_equal(got, apy_fixed_from_values(v, fx, mode, ov), fx,
                           what=f"convert {src} -> {name} {mode} vs apytypes", inputs=(c,),
                           in_specs=[s])


@pytest.mark.parametrize("mode", ROUNDING_MODES)
@pytest.mark.parametrize("fx,overflow", FIXED_DST_CASES, ids=lambda x: getattr(x, "name", x))
def test_fixed_encode_ties_vs_apytypes(fx, overflow, mode):
    """encode(float64) at every fixed-point midpoint, its float64 neighbours and the codes
    themselves, a little beyond both ends of the range."""
    k = np.arange(fx.kmin - 4, fx.kmax + 5, dtype=np.int64)
    v = np.ldexp(k.astype(np.float64), -fx.F)
    mids = v + np.ldexp(0.5, -fx.F)
    pts = np.concatenate([v, mids, np.nextafter(mids, np.inf), np.nextafter(mids, -np.inf),
                          [0.0, -0.0, 1e6, -1e6]])
    f = g.parse_format(_fixed_name(fx, overflow))
    assert_codes_equal(f.encode(pts, rounding=mode), apy_fixed_from_values(pts, fx, mode, overflow),
                       fx, what=f"encode {f} {mode} vs apytypes")


FLOAT_DST = ("e4m3", "e5m2", "e4m3fn", "e4m3fnuz", "e2m1fn", "e3m2", "fp16", "bf16")


@pytest.mark.parametrize("mode", ROUNDING_MODES)
@pytest.mark.parametrize("fx", FIXED_DST, ids=lambda f: f.name)
def test_fixed_to_float_vs_gmpy2(fx, mode):
    c = fx.valid_codes()
    v = fx.decode(c)                               # k * 2**-F, exact in float64
    for dst in FLOAT_DST:
        d = FLOAT_PRESETS[dst]
        got = g.convert(c, g.parse_format(fx.name), g.parse_format(dst), rounding=mode)
        assert_codes_equal(got, gmpy2_round_values(v, d, mode), d,
                           what=f"convert {fx.name} -> {dst} {mode} vs gmpy2", inputs=(c,),
                           in_specs=[fx])


@pytest.mark.parametrize("mode", ROUNDING_MODES)
def test_fixed_to_fixed_vs_apytypes(mode):
    for src in FIXED_DST:
        c = src.valid_codes()
        v = src.decode(c)
        for fx, ov in FIXED_DST_CASES:
            name = _fixed_name(fx, ov)
            got = g.convert(c, g.parse_format(src.name), g.parse_format(name), rounding=mode)
            assert_codes_equal(got, apy_fixed_from_values(v, fx, mode, ov), fx,
                               what=f"convert {src.name} -> {name} {mode} vs apytypes",
                               inputs=(c,), in_specs=[src])


# ---------------------------------------------------------------------------- oracle & mutation


def test_apytypes_mapping_matches_integer_arithmetic():
    """The hand mapping in oracles.py (unsigned, symmetric) against plain integer math for
    add/sub, where no rounding is involved."""
    for name in FIXED_PRESETS:
        fx = FIXED_PRESETS[name]
        a, b = valid_pairs(fx)
        for op, f in (("add", np.add), ("sub", np.subtract)):
            k = f(fx.to_int(a), fx.to_int(b))
            sat = fx.from_int(np.clip(k, fx.kmin, fx.kmax))
            assert np.array_equal(apy_fixed_op(op, a, b, fx, "RNE", "SAT"), sat)
            if not fx.symmetric:
                assert np.array_equal(apy_fixed_op(op, a, b, fx, "RNE", "WRAP"), fx.from_int(k))


@pytest.mark.parametrize("wrong", [("RTZ", "SAT"), ("RNE", "WRAP")])
def test_comparison_catches_wrong_mode(wrong):
    fx = FIXED_PRESETS["q4.4"]
    a, b = valid_pairs(fx)
    got = g.mul(a, b, g.parse_format("q4.4"), rounding=wrong[0], overflow=wrong[1])
    with pytest.raises(AssertionError, match="differ"):
        assert_codes_equal(got, apy_fixed_op("mul", a, b, fx, "RNE", "SAT"), fx,
                           what="wrong mode", inputs=(a, b))
