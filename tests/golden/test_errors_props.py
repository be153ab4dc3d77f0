"""Property tests (hypothesis): encode/decode round trips, format-name round trips, and bad
input that must fail with one clear line naming the bad value.

Expected values here are built from first principles (code fields -> Fraction), not taken
from golden.
"""

import os
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import ulpflow.golden as g
from oracles import FLOAT_PRESETS, ROUNDING_MODES

# ULPFLOW_HYPOTHESIS_EXAMPLES=5000 pytest ... for a deeper search
SETTINGS = settings(max_examples=int(os.environ.get("ULPFLOW_HYPOTHESIS_EXAMPLES", "150")),
                    deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
SPECIALS = ("ieee", "fn", "fnuz", "finite")


# ---------------------------------------------------------------------------- strategies


@st.composite
def float_params(draw, max_bits=64, max_E=11):
    E = draw(st.integers(2, max_E))
    M = draw(st.integers(1, min(52, max_bits - 1 - E)))
    specials = draw(st.sampled_from(SPECIALS))
    bias = draw(st.one_of(st.none(), st.integers(0, 1 << E)))
    return dict(exp_bits=E, man_bits=M, bias=bias, specials=specials,
                subnormals=draw(st.booleans()), saturate=draw(st.booleans()))


@st.composite
def fixed_params(draw):
    signed = draw(st.booleans())
    I = draw(st.integers(1 if signed else 0, 24))
    F = draw(st.integers(0 if I else 1, 24))
    symmetric = signed and draw(st.booleans())
    overflow = "SAT" if symmetric else draw(st.sampled_from(["SAT", "WRAP"]))
    return dict(int_bits=I, frac_bits=F, signed=signed, symmetric=symmetric, overflow=overflow)


def default_bias(E, specials):
    return (1 << (E - 1)) - (0 if specials == "fnuz" else 1)


def value_of(p, s, e, f):
    """Exact value of the code fields (docs/semantics.md §1.1) as a Fraction."""
    bias = default_bias(p["exp_bits"], p["specials"]) if p["bias"] is None else p["bias"]
    M = p["man_bits"]
    if e == 0:
        v = Fraction(f) * Fraction(2) ** (1 - bias - M)
    else:
        v = Fraction((1 << M) + f) * Fraction(2) ** (e - bias - M)
    return -v if s else v


@st.composite
def representable(draw):
    """(format parameters, code, exact value) for a finite, representable code."""
    p = draw(float_params(max_bits=32, max_E=10))   # values stay inside float64
    E, M, sp = p["exp_bits"], p["man_bits"], p["specials"]
    top = (1 << E) - (2 if sp == "ieee" else 1)
    e = draw(st.integers(0, top))
    f_max = (1 << M) - 1 - (1 if sp == "fn" and e == top else 0)
    f = draw(st.integers(0, f_max))
    s = draw(st.integers(0, 1))
    assume(not (e == 0 and f != 0 and not p["subnormals"]))      # FTZ: no subnormal codes
    assume(not (sp == "fnuz" and s == 1 and e == 0 and f == 0))   # that code is NaN
    code = (s << (E + M)) | (e << M) | f
    return p, code, value_of(p, s, e, f)


# ---------------------------------------------------------------------------- round trips


@SETTINGS
@given(representable(), st.sampled_from(ROUNDING_MODES))
def test_encode_decode_round_trip(case, mode):
    p, code, v = case
    f = g.FloatFormat(**p)
    x = float(v)
    assert Fraction(x) == v
    if code >> (f.bits - 1) and v == 0:
        x = -0.0
    got = f.encode(np.array([x]), rounding=mode)
    assert int(got[0]) == code, f"{f}: encode({x!r}, {mode}) = {int(got[0]):#x}, want {code:#x}"
    back = f.decode(got)[0]
    assert back == x and np.signbit(back) == np.signbit(x)
    got_q = np.asarray(f.encode([v], rounding=mode)).reshape(-1)
    if v != 0:                                   # a Fraction has no negative zero
        assert int(got_q[0]) == code
    assert f.decode_fraction(got)[0] == v


@SETTINGS
@given(fixed_params(), st.data(), st.sampled_from(ROUNDING_MODES))
def test_fixed_encode_decode_round_trip(p, data, mode):
    f = g.FixedFormat(**p)
    n = p["int_bits"] + p["frac_bits"]
    lo = -(1 << (n - 1)) + (1 if p["symmetric"] else 0) if p["signed"] else 0
    hi = (1 << (n - 1)) - 1 if p["signed"] else (1 << n) - 1
    k = data.draw(st.integers(lo, hi))
    x = float(Fraction(k, 1 << p["frac_bits"]))
    code = k & ((1 << n) - 1)
    got = f.encode(np.array([x]), rounding=mode)
    assert int(got[0]) == code
    assert f.decode(got)[0] == x
    assert int(f.to_int(got)[0]) == k and int(f.from_int(np.array([k]))[0]) == code


@SETTINGS
@given(float_params())
def test_float_name_round_trip(p):
    f = g.FloatFormat(**p)
    name = str(f)
    f2 = g.parse_format(name)
    assert f2 == f and hash(f2) == hash(f) and str(f2) == name
    assert (f2.exp_bits, f2.man_bits, f2.specials, f2.subnormals, f2.saturate) == \
        (p["exp_bits"], p["man_bits"], p["specials"], p["subnormals"], p["saturate"])
    want_bias = default_bias(p["exp_bits"], p["specials"]) if p["bias"] is None else p["bias"]
    assert f2.bias == want_bias


@SETTINGS
@given(fixed_params())
def test_fixed_name_round_trip(p):
    f = g.FixedFormat(**p)
    f2 = g.parse_format(str(f))
    assert f2 == f and hash(f2) == hash(f) and str(f2) == str(f)
    assert (f2.int_bits, f2.frac_bits, f2.signed, f2.symmetric, f2.overflow) == \
        (p["int_bits"], p["frac_bits"], p["signed"], p["symmetric"], p["overflow"])


@SETTINGS
@given(float_params())
def test_float_name_tokens(p):
    """Names written from the grammar (canonical token order) mean what they say."""
    E, M, sp = p["exp_bits"], p["man_bits"], p["specials"]
    name = f"e{E}m{M}"
    if sp != "ieee":
        name += f"_{sp}"
    if p["bias"] is not None:
        name += f"_b{p['bias']}"
    if not p["subnormals"]:
        name += "_ftz"
    if p["saturate"]:
        name += "_sat"
    f = g.parse_format(name)
    assert f == g.FloatFormat(**p)
    assert g.parse_format(str(f)) == f


@SETTINGS
@given(fixed_params())
def test_fixed_name_tokens(p):
    name = f"{'' if p['signed'] else 'u'}q{p['int_bits']}.{p['frac_bits']}"
    name += "s" if p["symmetric"] else ""
    name += "_wrap" if p["overflow"] == "WRAP" else ""
    assert g.parse_format(name) == g.FixedFormat(**p)


# ---------------------------------------------------------------------------- bad input


def assert_names(exc_info, *values):
    msg = str(exc_info.value)
    assert "\n" not in msg, f"error spans several lines: {msg!r}"
    for v in values:
        assert str(v) in msg or repr(v) in msg, f"{msg!r} does not name {v!r}"


NEAR_MISSES = ["fp17", "fp8", "bf32", "e4m", "m3", "e4m3_xyz", "e4m3_b", "q4", "q4.",
               "uq4.4s", "e4m3fnx", "e4m3__fn", "float8", "q4.4s_x", "e4m3_bx"]


@SETTINGS
@given(st.one_of(st.sampled_from(NEAR_MISSES),
                 st.text("abcdefghijklmnopqrstuvwxyz0123456789._", max_size=12).map(lambda t: "x" + t)))
def test_unknown_format_name(name):
    with pytest.raises(ValueError) as e:
        g.parse_format(name)
    assert_names(e, name)


@SETTINGS
@given(st.integers(max_value=-1), st.integers(1, 10), st.sampled_from(["E", "M", "I", "F"]))
def test_negative_width(bad, good, which):
    with pytest.raises(ValueError) as e:
        if which == "E":
            g.FloatFormat(bad, good)
        elif which == "M":
            g.FloatFormat(good + 1, bad)
        elif which == "I":
            g.FixedFormat(bad, good)
        else:
            g.FixedFormat(good, bad)
    assert_names(e, bad)


@SETTINGS
@given(st.sampled_from(list(FLOAT_PRESETS) + ["q4.4", "uq3.5", "q8.8"]), st.data(),
       st.sampled_from(["decode", "add", "mul", "convert", "next_up", "classify"]))
def test_code_out_of_range(name, data, where):
    f = g.parse_format(name)
    n = f.bits
    bad = data.draw(st.one_of(st.integers(1 << n, 1 << (n + 2)), st.integers(-(1 << 31), -1)))
    arr = np.array([0, bad], dtype=np.int64)
    with pytest.raises(ValueError) as e:
        if where == "decode":
            f.decode(arr)
        elif where in ("add", "mul"):
            getattr(g, where)(arr, np.zeros(2, dtype=np.int64), f)
        elif where == "convert":
            g.convert(arr, f, g.parse_format("fp32"))
        else:
            getattr(f, where)(arr)
    assert_names(e, bad)


@SETTINGS
@given(st.text(max_size=8).filter(lambda s: s.strip().upper() not in ROUNDING_MODES),
       st.sampled_from(["add", "fma", "encode", "convert"]))
def test_unknown_rounding_mode(mode, where):
    f = g.parse_format("e4m3")
    one = np.array([0x38])
    with pytest.raises(ValueError) as e:
        if where == "add":
            g.add(one, one, f, rounding=mode)
        elif where == "fma":
            g.fma(one, one, one, f, rounding=mode)
        elif where == "encode":
            f.encode(np.array([1.0]), rounding=mode)
        else:
            g.convert(one, f, g.parse_format("fp16"), rounding=mode)
    assert_names(e, mode)


@pytest.mark.parametrize("bad", ["ieee754", "FN", "nan", ""])
def test_unknown_specials_style(bad):
    with pytest.raises(ValueError) as e:
        g.FloatFormat(4, 3, specials=bad)
    assert_names(e, bad)


def test_error_checks_can_fail():
    """The helper really rejects a message that does not name the value."""
    with pytest.raises(AssertionError):
        with pytest.raises(ValueError) as e:
            raise ValueError("something went wrong")
        assert_names(e, "fp17")
