# amaranth: UnusedElaboratable=no
"""The bulk cocotb engine (driver -> DUT -> monitor -> scoreboard) and the scoreboard itself.

Golden codes are the expected values of the hardware tests; the golden model itself is tested
against independent oracles elsewhere. The integer units come from ``test_runner`` and are
checked against NumPy.
"""

import re

import numpy as np
import pytest

from ulpflow.golden import add, mul, parse_format
from ulpflow.sim import (
    RTLMismatch,
    SimulationError,
    UnitSimulator,
    assert_matches,
    compare_codes,
    format_mismatch,
    simulate,
)
from ulpflow import sim as S
from ulpflow.sim import vectors as V
from ulpflow.sim.compare import codes_equal, compare_outputs, show_code

from test_runner import WidePorts, WrapAdd8, all_pairs, wrapped_sum  # tests/sim is on sys.path

E4M3 = parse_format("e4m3")


def _adder(**kwargs):
    from ulpflow.hdl import FloatAdder

    return FloatAdder(E4M3, **kwargs)


@pytest.fixture(scope="module")
def e4m3_pairs():
    a, b = V.exhaustive(E4M3)
    return a, b, add(a, b, E4M3)


# -- golden against RTL through the cocotb bench ---------------------------------------------


@pytest.mark.parametrize("latency", [0, 2])
def test_e4m3_adder_exhaustive_passes(e4m3_pairs, latency):
    a, b, expected = e4m3_pairs
    sim = UnitSimulator(_adder(latency=latency))
    out = sim.run({"a": a, "b": b}, expected={"result": expected}, formats=E4M3)
    # the scoreboard ran in the simulator; the returned codes agree with it (NaN by class)
    assert codes_equal(out["result"], expected, E4M3).all()
    cov = V.coverage(a, b, E4M3, "add")
    print(f"\nlatency {latency}: {V.format_coverage(cov)}; run {sim.timings['run']:.2f} s")
    assert all(cov[c] > 0 for c in V.classes(E4M3, "add"))


def test_broken_expected_fails_the_cocotb_test_with_the_decoded_vector(e4m3_pairs):
    a, b, expected = e4m3_pairs
    # break the golden codes of two vectors: a finite sum, and a later one
    i = int(np.flatnonzero((a == 0x38) & (b == 0x30))[0])  # 1.0 + 0.5 = 1.5 (0x3c)
    assert expected[i] == 0x3C
    broken = expected.copy()
    broken[i] = 0x3D
    j = int(np.flatnonzero((a == 0x40) & (b == 0x40))[0])  # 2 + 2 = 4, after i
    broken[j] ^= 1
    with pytest.raises(SimulationError) as info:
        simulate(_adder(), {"a": a, "b": b}, expected={"result": broken}, formats=E4M3)
    err = info.value
    assert [f.kind for f in err.failures] == ["RTLMismatch"]
    message = err.failures[0].message
    assert f"2 of 65536 vectors mismatch; first at index {i}:" in message
    assert "a=0x38 (1.0), b=0x30 (0.5) -> result expected 0x3d (1.625), got 0x3c (1.5)" in message
    assert message in str(err)


def test_mutated_unit_is_caught_on_a_tie(e4m3_pairs):
    """A unit rounding ties away from zero differs from golden RNE; the report's vector is a tie."""
    a, b, expected = e4m3_pairs
    with pytest.raises(AssertionError) as info:
        assert_matches(_adder(_mutate="ties_away"), {"a": a, "b": b}, {"result": expected}, E4M3)
    assert isinstance(info.value, RTLMismatch)
    message = str(info.value)
    first = re.search(r"first at index (\d+):", message)
    assert first, message
    k = int(first.group(1))
    cov = V.coverage(a[k : k + 1], b[k : k + 1], E4M3, "add")
    assert cov["tie-even"] == 1, f"first mismatch {message!r} is not an RNE tie: {cov}"
    count = int(re.search(r"(\d+) of 65536 vectors mismatch", message).group(1))
    # every tie-even rounds differently under ties-away, and nothing else does, except beyond
    # the overflow threshold where both roundings give infinity
    finite = E4M3.is_finite(expected)
    assert count == V.coverage(a[finite], b[finite], E4M3, "add")["tie-even"]


def test_nan_matches_any_nan_but_not_a_number(e4m3_pairs):
    a, b, expected = e4m3_pairs
    nan = E4M3.is_nan(expected)
    assert nan.any()
    other_nan = np.where(nan, np.uint8(0xFF), expected)  # golden's canonical NaN is 0x7c
    assert (other_nan != expected).any()
    simulate(_adder(), {"a": a, "b": b}, expected={"result": other_nan}, formats="e4m3")  # by name
    # without a format the codes must match exactly, so the same run fails
    with pytest.raises(SimulationError, match="RTLMismatch"):
        simulate(_adder(), {"a": a, "b": b}, expected={"result": other_nan})


def test_multiplier_sweep_reports_coverage(capsys):
    from ulpflow.hdl import FloatMultiplier

    a, b = V.level1(E4M3, "mul")
    cov = S.run_sweep(FloatMultiplier(E4M3), a, b)
    assert cov["vectors"] == len(a) and cov["tie-odd"] > 0
    assert "mul e4m3: 0 mismatches; vectors=" in capsys.readouterr().out


# -- engines agree and keep the protocol ------------------------------------------------------


@pytest.mark.parametrize("lanes", [1, 3])
def test_wide_signed_ports_all_engines_agree(lanes):
    rng = np.random.default_rng(7)
    n = 5001  # not a multiple of the lanes
    a = rng.integers(0, 2**64, n, dtype=np.uint64, endpoint=False)
    b = rng.integers(0, 2**33, n, dtype=np.uint64)
    c = rng.integers(-(2**11), 2**11, n, dtype=np.int64)
    inputs = {"a": a, "b": b, "c": c}
    out = simulate(WidePorts(), inputs, lanes=lanes)
    with np.errstate(over="ignore"):
        assert np.array_equal(out["total"], a + b)
    assert np.array_equal(out["widened"], (c & (2**20 - 1)).astype(np.uint32))
    cpp = simulate(WidePorts(), inputs, engine="verilator")
    assert all(np.array_equal(out[k], cpp[k]) for k in out)


@pytest.mark.parametrize(("latency", "lanes"), [(0, 4), (2, 4), (2, 1)])
def test_lanes_keep_vector_order_and_valid_checks(latency, lanes):
    a, b = all_pairs()
    n = 65536 - 3
    out = simulate(WrapAdd8(latency=latency), {"a": a[:n], "b": b[:n]}, lanes=lanes)
    assert np.array_equal(out["result"], wrapped_sum(a[:n], b[:n]))
    if latency:
        # valid_out arrives one cycle later than the claimed latency: the monitor must object
        with pytest.raises(SimulationError, match="valid_out is 0 in cycle 1"):
            simulate(WrapAdd8(latency=2), {"a": a[:50], "b": b[:50]}, latency=1, lanes=lanes)


def test_cocotb_clock_source_gives_the_same_results():
    a, b = all_pairs()
    out = simulate(WrapAdd8(latency=2), {"a": a, "b": b}, bench_clock="cocotb")
    assert np.array_equal(out["result"], wrapped_sum(a, b))


def test_percycle_engine_runs_the_same_scoreboard():
    a, b = all_pairs()
    a, b = a[:300], b[:300]
    expected = wrapped_sum(a, b)
    simulate(WrapAdd8(latency=1), {"a": a, "b": b}, engine="cocotb-cycle", expected={"result": expected})
    broken = expected.copy()
    broken[17] += 1
    for engine in ("cocotb-cycle", "verilator"):
        with pytest.raises(SimulationError) as info:
            simulate(WrapAdd8(latency=1), {"a": a, "b": b}, engine=engine, expected={"result": broken})
        assert info.value.failures[0].kind == "RTLMismatch"
        assert "1 of 300 vectors mismatch; first at index 17: a=0x00 (0), b=0x11 (17) -> result expected " \
               "0x12 (18), got 0x11 (17)" in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"expected": {"total": [1]}}, ValueError, "not an output of WrapAdd8"),
        ({"expected": {"result": [1, 2]}}, ValueError, r"expected\['result'\] has shape \(2,\); expected 1 codes"),
        ({"expected": {"result": [256]}}, ValueError, "expected 'result': value 256 .* 8-bit port"),
        ({"expected": {"result": [1]}, "formats": {"c": E4M3}}, ValueError, r"formats given for \['c'\]"),
        ({"expected": {"result": [1]}, "formats": {"a": parse_format("fp16")}}, ValueError, "16 bits"),
        ({"lanes": 0}, ValueError, "lanes must be an int from 1"),
        ({"lanes": 2, "engine": "verilator"}, ValueError, "lanes=2 needs engine='cocotb'"),
        ({"bench_clock": "python"}, ValueError, "bench clock 'python'"),
        ({"expected": {"result": [1]}, "formats": 8}, TypeError, "formats must be a golden format"),
    ],
)
def test_bad_scoreboard_arguments_are_rejected(kwargs, error, message):
    with pytest.raises(error, match=message):
        simulate(WrapAdd8(), {"a": [1], "b": [2]}, **kwargs)


# -- the comparison module on its own -------------------------------------------------------


def test_compare_codes_nan_by_class_and_report():
    fp16 = parse_format("fp16")
    got = np.array([0x3C00, 0x7E00, 0x7C00, 0xFE01, 0x0000], np.uint16)
    exp = np.array([0x3C00, 0x7C01, 0x7C00, 0x7E00, 0x8000], np.uint16)
    rep = compare_codes(got, exp, fp16)
    assert (rep.count, rep.first, list(rep.bad)) == (1, 4, [4])  # +0 vs -0 is a real difference
    assert compare_codes(got, exp).count == 3  # raw codes: the NaNs differ too
    line = format_mismatch(
        4, {"a": np.array([0, 0, 0, 0, 0x8000], np.uint16)}, {"result": exp}, {"result": got},
        {"a": fp16, "result": fp16}, count=1, total=5, name="unit",
    )  # fmt: skip
    assert line == ("unit: 1 of 5 vectors mismatch; first at index 4: a=0x8000 (-0.0) -> "
                    "result expected 0x8000 (-0.0), got 0x0000 (0.0)")


def test_compare_outputs_first_index_over_several_ports_and_fixed_point():
    q = parse_format("q4.4")
    inputs = {"x": np.array([0x10, 0xF0, 0x08], np.uint8)}
    got = {"y": np.array([1, 2, 3], np.uint8), "z": np.array([0x10, 0x80, 0x08], np.uint8)}
    exp = {"y": np.array([1, 2, 4], np.uint8), "z": np.array([0x10, 0x7F, 0x08], np.uint8)}
    msg = compare_outputs(inputs, got, exp, {"x": q, "z": q}, name="u", widths={"y": (8, False)})
    assert msg == ("u: 2 of 3 vectors mismatch (y: 1, z: 1); first at index 1: x=0xf0 (-1.0) -> "
                   "y expected 0x02 (2), got 0x02 (2); z expected 0x7f (7.9375), got 0x80 (-8.0)")
    assert compare_outputs(inputs, got, {"y": got["y"]}) is None
    assert show_code(0xFFF, width=12, signed=True) == "0xfff (-1)"


def test_mul_golden_vectors_are_what_the_bench_expects():
    """The mismatch message decodes with the formats it is given, not with the unit's."""
    fp16 = parse_format("fp16")
    a = np.array([0x3C00], np.uint16)
    msg = compare_outputs({"a": a, "b": a}, {"result": np.array([0x3C01], np.uint16)},
                          {"result": mul(a, a, fp16)}, fp16)
    assert msg.endswith("a=0x3c00 (1.0), b=0x3c00 (1.0) -> result expected 0x3c00 (1.0), got 0x3c01 (1.0009765625)")
