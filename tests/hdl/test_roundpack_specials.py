"""The specials policy of the hardware rounding module against golden ``round_pack``.

``RoundPack``'s ``nan`` and ``inf`` inputs are driven (not tied to 0) and every result is
compared, code for code, with ``golden.rounding.round_pack(..., nan=, inf=)``: both read the one
policy of the format (``nan_result_code``, ``inf_result_code``, ``overflow_code``). NaN into a
format without NaN (``finite`` floats, fixed point) gives +0 lane by lane in both; the converter
agrees with ``golden.convert(..., strict=False)``. Runs in amaranth.sim (no tools needed).
"""

from __future__ import annotations

import numpy as np
import pytest

from hdl_testing import run_amaranth
from ulpflow.golden import convert, parse_format
from ulpflow.golden.rounding import round_pack
from ulpflow.hdl.convert import FloatConverter
from ulpflow.hdl.rounding import RoundPack

FORMATS = ("e4m3", "e4m3fn", "e4m3fnuz", "e2m3fn", "e5m2_sat", "e4m3_fn_sat", "q4.4",
           "uq3.5_wrap", "q4.4s")
MODES = ("RNE", "RTZ", "RUP", "RDN")
W, LO, HI = 8, -14, 12


def _vectors(n, seed):
    rng = np.random.default_rng(seed)
    sig = rng.integers(0, 1 << W, n)
    exp = rng.integers(LO, HI + 1, n)
    sign = rng.integers(0, 2, n)
    sticky = rng.integers(0, 2, n) * (sig != 0)
    flag = rng.integers(0, 4, n)   # 0: plain, 1: nan, 2: inf, 3: both (nan wins)
    return {"sign": sign, "sig": sig, "exp": exp, "sticky": sticky,
            "nan": (flag & 1), "inf": (flag >> 1)}


def _assert_same(what, fmt, got, want, inputs):
    bad = np.flatnonzero(np.asarray(got).astype(np.int64) != np.asarray(want).astype(np.int64))
    if bad.size:
        i = bad[0]
        vec = ", ".join(f"{k}={int(v[i])}" for k, v in inputs.items())
        raise AssertionError(f"{what}: {bad.size} of {len(got)} differ; first ({vec}): hardware "
                             f"{fmt.show(got[i])}, golden {fmt.show(want[i])}")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", FORMATS)
def test_roundpack_nan_inf_overflow_vs_golden(name, mode):
    fmt = parse_format(name)
    # exponents up to 12 put values far above every format's range: overflow meets each mode
    inputs = _vectors(160, seed=FORMATS.index(name) * 8 + MODES.index(mode))
    unit = RoundPack(fmt, sig_width=W, exp_range=(LO, HI), rounding=mode)
    got = run_amaranth(unit, inputs)["result"]
    want = round_pack(inputs["sign"].astype(bool), inputs["sig"], inputs["exp"], fmt, mode,
                      sticky=inputs["sticky"].astype(bool), nan=inputs["nan"].astype(bool),
                      inf=inputs["inf"].astype(bool))
    _assert_same(f"RoundPack({name}, {mode})", fmt, got, want, inputs)
    _assert_same(f"RoundPack({name}, {mode}).emulate", fmt, unit.emulate(**inputs)["result"],
                 want, inputs)


def test_policy_codes_by_hand():
    """The policy itself, on formats whose answers are easy to read."""
    e4m3, fn, fnuz, fin, sat = (parse_format(n) for n in ("e4m3", "e4m3fn", "e4m3fnuz",
                                                          "e2m3fn", "e5m2_sat"))
    assert (e4m3.inf_result_code(False), e4m3.inf_result_code(True)) == (0x78, 0xF8)
    assert fn.inf_result_code(True) == fn.nan_code == 0x7F
    assert fnuz.inf_result_code(False) == 0x80
    assert fin.inf_result_code(True) == 0x1F | 0x20 and fin.nan_result_code == 0
    assert sat.inf_result_code(False) == 0x7C            # an exact inf stays inf
    assert sat.overflow_code(False, "RNE") == 0x7B       # an overflow saturates
    assert e4m3.overflow_code(True, "RUP") == 0xF7 and e4m3.overflow_code(True, "RDN") == 0xF8
    q = parse_format("q4.4")
    assert (q.inf_result_code(True), q.inf_result_code(False), q.nan_result_code) == (0x80, 0x7F, 0)
    assert parse_format("q4.4_wrap").overflow_code(False) is None
    with pytest.raises(ValueError, match="symmetric"):
        parse_format("q4.4s").check_overflow_mode("WRAP")
    with pytest.raises(ValueError, match="applies to fixed-point"):
        e4m3.check_overflow_mode("SAT")


@pytest.mark.parametrize("src,dst", [("e4m3", "e2m3fn"), ("e5m2", "e2m1fn"), ("e4m3fn", "q4.4"),
                                     ("e4m3fnuz", "e3m2fn")])
def test_converter_nan_into_format_without_nan(src, dst):
    """Every code, NaN lanes included: hardware = golden convert(strict=False), and the NaN
    lanes are +0 (the documented per-lane substitute)."""
    fs, fd = parse_format(src), parse_format(dst)
    codes = fs.all_codes()
    unit = FloatConverter(fs, fd, rounding="RNE")
    got = run_amaranth(unit, {"a": codes})["result"]
    want = convert(codes, fs, fd, strict=False)
    _assert_same(f"FloatConverter({src}, {dst})", fd, got, want, {"a": codes})
    _assert_same(f"FloatConverter({src}, {dst}).emulate", fd, unit.emulate(a=codes)["result"],
                 want, {"a": codes})
    assert (want[fs.is_nan(codes)] == fd.nan_result_code).all()
    assert fd.nan_result_code == 0


@pytest.mark.parametrize("src,dst", [("e30m3", "e4m3"), ("e4m3", "e30m3_b-1073741824"),
                                     ("e30m3_b1073741824", "e8m7"), ("e5m2", "e30m3")])
def test_converter_at_the_format_bounds(src, dst):
    """Formats at MAX_EXP_BITS / MAX_BIAS elaborate and agree with golden (the hardware widths
    come from the same format objects, so the golden bound is the hardware's too)."""
    fs, fd = parse_format(src), parse_format(dst)
    rng = np.random.default_rng(3)
    codes = np.unique(np.concatenate([
        rng.integers(0, 1 << fs.bits, 300, dtype=np.uint64).astype(fs.dtype),
        np.array([0, 1, fs.max_finite_code, fs.min_normal_code, fs.nan_code], dtype=fs.dtype)]))
    unit = FloatConverter(fs, fd, rounding="RNE")
    got = run_amaranth(unit, {"a": codes})["result"]
    _assert_same(f"FloatConverter({src}, {dst})", fd, got, convert(codes, fs, fd, strict=False),
                 {"a": codes})
