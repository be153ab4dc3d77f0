"""Run arrays of input codes through an Amaranth component in Verilator.

Three engines share one port model. The first two wrap the unit in a small generated Verilog
harness whose ports are one packed input word and one packed output word.

``engine="cocotb"`` (default, the bulk cocotb testbench)
    A cocotb test drives the simulation: the generated bench module (see
    :mod:`ulpflow.sim.cocotb_bulk`) feeds vectors from a memory-mapped file into the harness
    (driver) and stores results (monitor); the cocotb test starts it, awaits its end and, when
    ``expected`` codes are given, compares them (scoreboard), failing the cocotb test on a
    mismatch. No Python runs per cycle: ~0.35 s of start-up, then 1-2 M vectors/s
    (several times more with ``lanes``).
``engine="verilator"`` (the fastest path, no cocotb)
    The harness is linked with a generated C++ ``main`` that streams vectors from a binary file
    through the model, one per clock cycle, and streams results back to a file (~10 M
    vectors/s, no start-up). The comparison with ``expected`` runs in Python afterwards.
``engine="cocotb-cycle"`` (per-cycle path)
    The unit itself is the cocotb top level; a cocotb coroutine drives every input and samples
    every output from Python each cycle (~40k vectors/s). It exercises the unit's own ports the
    way a protocol test does.

All apply the same cycle protocol, so they return identical results:

* a unit without a clock port is combinational: one evaluation per vector;
* otherwise reset (if the unit has one) is held for two rising edges, then vector ``k`` is
  presented during cycle ``k`` with ``valid_in`` high (if the unit has it; low afterwards);
* outputs are sampled just before each rising edge: in cycle ``k + latency`` for a unit without
  ``valid_out``; whenever ``valid_out`` is high otherwise. When both ``valid_out`` and a latency
  are known, ``valid_out`` must be high exactly in cycles ``latency .. latency + n - 1``;
  anything else is a :class:`~ulpflow.sim.runner.SimulationError`.

With ``expected=`` every engine compares the outputs with those codes (NaN matches NaN for float
formats) and raises :class:`~ulpflow.sim.runner.SimulationError` whose message names the first
failing vector decoded with ``formats=`` (see :mod:`ulpflow.sim.compare`);
:func:`assert_matches` turns that into an ``AssertionError``.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import cocotb_bulk
from .compare import RTLMismatch, compare_outputs
from .runner import Build, SimulationError, TestFailure, VerilatorRunner

__all__ = ["ENGINES", "Port", "UnitSimulator", "assert_matches", "simulate"]

#: Engine names; the first is the default.
ENGINES = ("cocotb", "verilator", "cocotb-cycle")
DEFAULT_ENGINE = ENGINES[0]
MAX_PORT_BITS = 64
DUT_MODULE = "ulp_dut"
HARNESS_MODULE = "ulpflow_harness"
_VALID_IN = "valid_in"
_VALID_OUT = "valid_out"


@dataclass(frozen=True)
class Port:
    """One data port of the unit as the simulator sees it.

    ``offset`` is the index of the port's first 32-bit word in the packed vector; a port takes
    one word up to 32 bits and two up to 64.
    """

    name: str
    width: int
    signed: bool
    offset: int

    @property
    def words(self) -> int:
        return (self.width + 31) // 32

    @property
    def dtype(self) -> np.dtype:
        """Smallest unsigned dtype holding the port's codes."""
        for dt in (np.uint8, np.uint16, np.uint32, np.uint64):
            if self.width <= np.dtype(dt).itemsize * 8:
                return np.dtype(dt)
        raise AssertionError("ports are at most 64 bits")


def _unit_ports(unit) -> tuple[list[tuple[str, int, bool]], list[tuple[str, int, bool]], bool, bool]:
    """Data inputs, data outputs and the presence of valid_in/valid_out, from the signature."""
    from amaranth.hdl import Shape
    from amaranth.lib import wiring

    if not isinstance(unit, wiring.Component):
        raise TypeError(
            f"simulate() needs an amaranth.lib.wiring.Component (ports from its signature), "
            f"got {type(unit).__name__}"
        )
    ins: list[tuple[str, int, bool]] = []
    outs: list[tuple[str, int, bool]] = []
    has_vin = has_vout = False
    for path, member, _value in unit.signature.flatten(unit):
        name = "__".join(map(str, path))
        shape = Shape.cast(member.shape)
        if name == _VALID_IN and member.flow == wiring.In and shape.width == 1:
            has_vin = True
            continue
        if name == _VALID_OUT and member.flow == wiring.Out and shape.width == 1:
            has_vout = True
            continue
        if shape.width > MAX_PORT_BITS:
            raise ValueError(
                f"port {name!r} of {type(unit).__name__} is {shape.width} bits wide; "
                f"simulate() handles ports of at most {MAX_PORT_BITS} bits"
            )
        if shape.width == 0:
            continue  # a zero-width port carries nothing and does not exist in the Verilog
        (ins if member.flow == wiring.In else outs).append((name, shape.width, shape.signed))
    if not ins:
        raise ValueError(f"{type(unit).__name__} has no data input port; simulate() needs one")
    if not outs:
        raise ValueError(f"{type(unit).__name__} has no data output port; simulate() needs one")
    return ins, outs, has_vin, has_vout


def _layout(ports: list[tuple[str, int, bool]]) -> tuple[tuple[Port, ...], int]:
    result, offset = [], 0
    for name, width, signed in ports:
        port = Port(name, width, signed, offset)
        result.append(port)
        offset += port.words
    return tuple(result), offset


def _verilog_ports(verilog: str, module: str) -> dict[str, str]:
    """Direction of each port of ``module`` in Yosys-written Verilog."""
    start = verilog.find(f"module {module}(")
    if start < 0:
        raise RuntimeError(f"module {module} not found in the generated Verilog")
    end = verilog.find("endmodule", start)
    body = verilog[start:end]
    found = {}
    declaration = r"^\s*(input|output|inout)\s+(?:signed\s+)?(?:\[[^\]]*\]\s*)?(\S+)\s*;"
    for direction, name in re.findall(declaration, body, flags=re.M):
        found[name.lstrip("\\")] = direction
    return found


class UnitSimulator:
    """An Amaranth component converted to Verilog and built in Verilator once, run many times.

    Parameters
    ----------
    unit : amaranth.lib.wiring.Component
        The unit. ``In`` members of its signature are inputs, ``Out`` members outputs; 1-bit
        members named ``valid_in`` / ``valid_out`` are the handshake and are driven/read by the
        simulator, not by the caller. Nested interfaces are flattened with ``__``
        (``a.payload`` -> ``"a__payload"``), as Amaranth names the Verilog ports.
    clock, reset : str
        Names of the clock and reset ports in the generated Verilog (``clk``/``rst`` for
        Amaranth's ``sync`` domain). A unit without the clock port is treated as combinational.
    latency : int, optional
        Pipeline depth in cycles. Default: the unit's ``latency`` attribute; 0 for a unit
        without clock. Needed unless the unit has ``valid_out``.
    engine : {"cocotb", "verilator", "cocotb-cycle"}
        Bulk cocotb testbench (default), bulk C++ harness, or per-cycle cocotb driving (see the
        module docstring).
    runner : VerilatorRunner, optional
        Build cache and tool settings to use.
    bench_clock : {"verilog", "cocotb"}, optional
        Engine ``"cocotb"`` only: whether the bench toggles its clock itself (a ``--timing``
        build; the default) or cocotb's ``Clock`` drives it (see :mod:`ulpflow.sim.cocotb_bulk`).
    lanes : int
        Engine ``"cocotb"`` only: copies of the unit the bench feeds side by side, vector ``i``
        going to copy ``i % lanes``; each copy sees the usual protocol with every ``lanes``-th
        vector. Several times faster per vector for units whose outputs depend only on the
        current vector (every arithmetic unit), but WRONG for units with state across vectors
        (an accumulator): keep the default 1 for those.

    Attributes
    ----------
    inputs, outputs : tuple of Port
        The data ports (without valid_in/valid_out), in signature order.
    timings : dict
        Seconds spent in the last steps: ``"convert"``, ``"build"``, ``"run"`` and whether the
        build came from the cache (``"build_cached"``).
    """

    def __init__(
        self,
        unit,
        *,
        clock: str = "clk",
        reset: str = "rst",
        latency: int | None = None,
        engine: str = DEFAULT_ENGINE,
        runner: VerilatorRunner | None = None,
        bench_clock: str | None = None,
        lanes: int = 1,
    ):
        if engine not in ENGINES:
            raise ValueError(f"engine {engine!r} is not one of {ENGINES}")
        if bench_clock is None:
            bench_clock = cocotb_bulk.CLOCK_SOURCES[0]
        cocotb_bulk.bench_build_args(bench_clock)  # rejects an unknown clock source now
        self.bench_clock = bench_clock
        self.lanes = cocotb_bulk.check_lanes(lanes)
        if self.lanes > 1 and engine != "cocotb":
            raise ValueError(f"lanes={lanes} needs engine='cocotb', not {engine!r}")
        ins, outs, self.has_valid_in, self.has_valid_out = _unit_ports(unit)
        self.unit = unit
        self.name = type(unit).__name__
        self.inputs, self.in_words = _layout(ins)
        self.outputs, self.out_words = _layout(outs)
        self.clock, self.reset, self.engine = clock, reset, engine
        if latency is None:
            latency = getattr(unit, "latency", None)
        if latency is not None and (not isinstance(latency, (int, np.integer)) or latency < 0):
            raise ValueError(f"latency must be a non-negative int, got {latency!r}")
        self._latency = None if latency is None else int(latency)
        self._runner = runner
        self._verilog: str | None = None
        self._build: Build | None = None
        self.timings: dict[str, float | bool] = {}

    # -- elaboration and build ------------------------------------------------------------

    @property
    def verilog(self) -> str:
        """The unit's Verilog (module ``ulp_dut``), generated on first use."""
        if self._verilog is None:
            from amaranth.back import verilog

            start = time.perf_counter()
            text = verilog.convert(self.unit, name=DUT_MODULE, emit_src=False, strip_internal_attrs=True)
            self.timings["convert"] = time.perf_counter() - start
            ports = _verilog_ports(text, DUT_MODULE)
            expected = {p.name for p in self.inputs + self.outputs}
            expected |= {n for n, f in ((_VALID_IN, self.has_valid_in), (_VALID_OUT, self.has_valid_out)) if f}
            missing = expected - ports.keys()
            if missing:
                raise RuntimeError(f"ports {sorted(missing)} of {self.name} are missing from its Verilog")
            extra = sorted(set(ports) - expected - {self.clock, self.reset})
            if extra:
                raise ValueError(
                    f"{self.name} has ports {extra} besides its signature, clock {self.clock!r} and "
                    f"reset {self.reset!r}; pass clock=/reset= if its domain is not 'sync'"
                )
            self._has_clock = self.clock in ports
            self._has_reset = self.reset in ports
            self._verilog = text
        return self._verilog

    @property
    def has_clock(self) -> bool:
        self.verilog  # noqa: B018 - the clock is known once the Verilog exists
        return self._has_clock

    @property
    def latency(self) -> int | None:
        """Cycles from a vector's input to its result; None when only valid_out tells."""
        if not self.has_clock:
            if self._latency not in (None, 0):
                raise ValueError(f"{self.name} has no clock port {self.clock!r} but latency={self._latency}")
            return 0
        if self._latency is None and not self.has_valid_out:
            raise ValueError(
                f"{self.name} has a clock but neither a latency attribute nor valid_out; "
                "pass latency= (0 for combinational)"
            )
        return self._latency

    @property
    def runner(self) -> VerilatorRunner:
        if self._runner is None:
            self._runner = VerilatorRunner()
        return self._runner

    def build(self) -> Build:
        """Build the model for this engine (or find it in the cache)."""
        if self._build is None:
            self.latency  # noqa: B018 - fail on a missing latency before spending a build
            if self.engine == "verilator":
                sources = {"ulp_dut.v": self.verilog, "ulpflow_harness.v": self._harness_verilog()}
                build = self.runner.build(
                    sources,
                    HARNESS_MODULE,
                    kind="exe",
                    cpp_sources={"ulpflow_harness.cpp": self._harness_cpp()},
                )
            elif self.engine == "cocotb":
                words = {"in_words": self.in_words, "out_words": self.out_words, "lanes": self.lanes}
                bench = cocotb_bulk.bench_verilog(
                    **words, has_valid_out=self.has_valid_out, clock=self.bench_clock, harness=HARNESS_MODULE
                )
                sources = {
                    "ulp_dut.v": self.verilog,
                    "ulpflow_harness.v": self._harness_verilog(),
                    "ulpflow_bench.sv": bench,
                }
                build = self.runner.build(
                    sources,
                    cocotb_bulk.BENCH_MODULE,
                    kind="cocotb",
                    cpp_sources={"ulpflow_bench_dpi.cpp": cocotb_bulk.bench_cpp(**words)},
                    build_args=cocotb_bulk.bench_build_args(self.bench_clock),
                    public=False,
                )
            else:
                build = self.runner.build({"ulp_dut.v": self.verilog}, DUT_MODULE, kind="cocotb")
            self.timings["build"] = build.seconds
            self.timings["build_cached"] = build.cached
            self._build = build
        return self._build

    def _harness_verilog(self) -> str:
        iw, ow = 32 * self.in_words, 32 * self.out_words
        conns = []
        if self.has_clock:
            conns.append(f".{self.clock}(clk)")
        if self._has_reset:
            conns.append(f".{self.reset}(rst)")
        if self.has_valid_in:
            conns.append(f".{_VALID_IN}(valid_in)")
        lines = [
            "// Generated by ulpflow.sim.simulate: packs the unit's ports into one word each way.",
            f"module {HARNESS_MODULE}(input clk, input rst, input valid_in, input [{iw - 1}:0] vin,",
            f"    output valid_out, output [{ow - 1}:0] vout);",
        ]
        for p in self.inputs:
            conns.append(f".{p.name}(vin[{32 * p.offset} +: {p.width}])")
        fields = []
        for p in self.outputs:
            lines.append(f"  wire [{p.width - 1}:0] o_{p.name};")
            conns.append(f".{p.name}(o_{p.name})")
            pad = 32 * p.words - p.width
            fields.append(f"{pad}'d0, o_{p.name}" if pad else f"o_{p.name}")
        if self.has_valid_out:
            lines.append("  wire unit_valid_out;")
            conns.append(f".{_VALID_OUT}(unit_valid_out)")
            lines.append("  assign valid_out = unit_valid_out;")
        else:
            lines.append("  assign valid_out = 1'b0;")
        lines.append(f"  assign vout = {{{', '.join(reversed(fields))}}};")
        lines.append(f"  {DUT_MODULE} dut({', '.join(conns)});")
        lines.append("endmodule")
        return "\n".join(lines) + "\n"

    def _harness_cpp(self) -> str:
        def setter(words: int) -> str:
            if words == 1:
                return "top->vin = p[0];"
            if words == 2:
                return "top->vin = (QData)p[0] | ((QData)p[1] << 32);"
            return f"for (int k = 0; k < {words}; ++k) top->vin[k] = p[k];"

        def getter(words: int) -> str:
            if words == 1:
                return "p[0] = top->vout;"
            if words == 2:
                return "p[0] = (uint32_t)top->vout; p[1] = (uint32_t)(top->vout >> 32);"
            return f"for (int k = 0; k < {words}; ++k) p[k] = top->vout[k];"

        return _HARNESS_CPP.format(
            in_words=self.in_words,
            out_words=self.out_words,
            has_clock=int(self.has_clock),
            has_reset=int(self._has_reset),
            has_valid_out=int(self.has_valid_out),
            set_in=setter(self.in_words),
            get_out=getter(self.out_words),
        )

    # -- running --------------------------------------------------------------------------

    def check_inputs(self, inputs: Mapping[str, object]) -> tuple[int, dict[str, np.ndarray]]:
        """Validate ``inputs`` and return the vector count and each port's codes as uint64.

        Raises
        ------
        ValueError, TypeError
            A port is missing or unknown, arrays differ in length, or a code does not fit.
        """
        if not isinstance(inputs, Mapping):
            raise TypeError(f"inputs must be a dict port name -> array of codes, got {type(inputs).__name__}")
        names = [p.name for p in self.inputs]
        for key in inputs:
            if key not in names:
                hint = " (the simulator drives valid_in itself)" if key == _VALID_IN else ""
                raise ValueError(f"{self.name} has no input port {key!r}{hint}; its inputs are {names}")
        missing = [n for n in names if n not in inputs]
        if missing:
            raise ValueError(f"inputs for ports {missing} of {self.name} are missing")
        arrays = {}
        n = None
        for p in self.inputs:
            arr = np.asarray(inputs[p.name])
            if arr.dtype == np.bool_:
                arr = arr.astype(np.uint8)
            if arr.dtype.kind not in "iu":
                raise TypeError(f"input {p.name!r} must hold integer codes, got dtype {arr.dtype}")
            if arr.ndim > 1:
                raise ValueError(f"input {p.name!r} must be 1-D (one code per vector), got shape {arr.shape}")
            if arr.ndim == 1:
                if n is None:
                    n, first = len(arr), p.name
                elif len(arr) != n:
                    raise ValueError(f"input {p.name!r} has {len(arr)} vectors but {first!r} has {n}")
            arrays[p.name] = _to_bits(p, arr)
        if n is None:  # every input a scalar: one vector
            n = 1
        return n, {k: np.broadcast_to(v, (n,)) for k, v in arrays.items()}

    def check_expected(self, expected, formats, n: int):
        """Validate ``expected`` / ``formats`` for ``n`` vectors; return them normalised.

        Returns ``(expected, formats)``: expected codes as uint64 arrays per output port (a
        scalar is broadcast), formats as a dict per port (a single format applies to every port
        of its width). Either may be None.
        """
        by_name = {p.name: p for p in self.inputs + self.outputs}
        fmts = None
        if formats is not None:
            from ulpflow.golden import parse_format  # names such as "e4m3" are accepted too

            def fmt_of(f):
                return parse_format(f) if isinstance(f, str) else f

            formats = {k: fmt_of(f) for k, f in formats.items()} if isinstance(formats, Mapping) else fmt_of(formats)
            if isinstance(formats, Mapping):
                unknown = [k for k in formats if k not in by_name]
                if unknown:
                    raise ValueError(f"formats given for {unknown}, which are not data ports of {self.name}; "
                                     f"its ports are {list(by_name)}")
                fmts = dict(formats)
            else:
                if getattr(formats, "bits", None) is None:
                    raise TypeError(f"formats must be a golden format, a format name or a dict of them, "
                                    f"not {formats!r}")
                fmts = {k: formats for k, p in by_name.items() if p.width == formats.bits}
            for k, f in fmts.items():
                bits = getattr(f, "bits", None)
                if not hasattr(f, "decode") or bits is None:
                    raise TypeError(f"formats[{k!r}] must be a golden format, not {f!r}")
                if bits != by_name[k].width:
                    raise ValueError(f"formats[{k!r}] is {f} ({bits} bits) but port {k!r} of {self.name} "
                                     f"is {by_name[k].width} bits wide")
        if expected is None:
            return None, fmts
        if not isinstance(expected, Mapping) or not expected:
            raise TypeError(f"expected must be a non-empty dict output port -> codes, got {expected!r}")
        outs = {p.name: p for p in self.outputs}
        exp = {}
        for key, value in expected.items():
            if key not in outs:
                raise ValueError(f"expected codes for {key!r}, which is not an output of {self.name}; "
                                 f"its outputs are {list(outs)}")
            arr = np.asarray(value)
            if arr.dtype.kind not in "iu":
                raise TypeError(f"expected[{key!r}] must hold integer codes, got dtype {arr.dtype}")
            if arr.ndim > 1 or (arr.ndim == 1 and len(arr) != n):
                raise ValueError(f"expected[{key!r}] has shape {arr.shape}; expected {n} codes, one per vector")
            exp[key] = np.broadcast_to(_to_bits(outs[key], arr, "expected"), (n,))
        return exp, fmts

    def run(
        self,
        inputs: Mapping[str, object],
        *,
        timeout_cycles: int | None = None,
        expected: Mapping[str, object] | None = None,
        formats=None,
    ) -> dict[str, np.ndarray]:
        """Run the vectors through the unit; return each output port's codes, in order.

        Parameters
        ----------
        inputs : dict of str to array of int
            One 1-D array of codes per data input port (all of one length) or a scalar that
            holds for every vector. Codes are bit patterns ``0 <= c < 2**width``; negative
            values are accepted for signed ports and taken as two's complement.
        timeout_cycles : int, optional
            Give up after this many cycles (default: enough for the latency, plus 1000 cycles
            of slack when only valid_out marks the results).
        expected : dict of str to array of int, optional
            Expected codes for some or all output ports (typically from ``ulpflow.golden``).
            The cocotb engines compare inside the cocotb test (scoreboard), the C++ engine
            afterwards; either way a mismatch raises :class:`SimulationError` whose message
            names the first failing vector decoded (``failures[0].kind == "RTLMismatch"``).
        formats : dict of str to format, or one format, optional
            Golden formats of the ports (objects or names), used to decode values in that
            message and to compare float outputs NaN-by-class. A single format applies to every
            port of its width.

        Returns
        -------
        dict of str to numpy.ndarray
            One array per data output port, in the unit's signature order, dtype the smallest
            unsigned type holding the port's width.
        """
        n, bits = self.check_inputs(inputs)
        expected, formats = self.check_expected(expected, formats, n)
        self.build()
        latency = self.latency
        if timeout_cycles is None:
            timeout_cycles = n + (latency or 0) + (1000 if latency is None else 1)
        if n == 0:
            return {p.name: np.zeros(0, p.dtype) for p in self.outputs}
        start = time.perf_counter()
        if self.engine == "verilator":
            result = self._run_bulk(n, bits, latency, timeout_cycles)
            if expected is not None:
                message = compare_outputs(bits, result, expected, formats, name=self.description,
                                          widths=self._widths())
                if message is not None:
                    raise SimulationError(message, [TestFailure(self.name, RTLMismatch.__name__, message)])
        elif self.engine == "cocotb":
            result = self._run_cocotb_bulk(n, bits, latency, timeout_cycles, expected, formats)
        else:
            result = self._run_percycle(n, bits, latency, timeout_cycles, expected, formats)
        self.timings["run"] = time.perf_counter() - start
        return result

    @property
    def description(self) -> str:
        """The unit's repr when it has a useful one, else its class name (for messages)."""
        text = repr(self.unit)
        return self.name if text.startswith("<") else text

    def _widths(self) -> dict[str, tuple[int, bool]]:
        return {p.name: (p.width, p.signed) for p in self.inputs + self.outputs}

    def _job_common(self, folder: Path, n, latency, timeout_cycles, expected, formats) -> dict:
        job = {
            "n": n,
            "latency": latency,
            "timeout": timeout_cycles,
            "name": self.description,
            "has_clock": self.has_clock,
            "in_ports": cocotb_bulk.port_table(self.inputs),
            "out_ports": cocotb_bulk.port_table(self.outputs),
            "in_words": self.in_words,
            "out_words": self.out_words,
        }
        if expected is not None:
            job.update(cocotb_bulk.save_expected(folder, expected, formats))
        return job

    def _run_cocotb_bulk(self, n, bits, latency, timeout_cycles, expected, formats):
        build = self.build()
        with self.runner.run_dir() as folder:
            vin, vout = folder / "in.bin", folder / "out.bin"
            try:
                cocotb_bulk.write_vectors(vin, self.inputs, self.in_words, bits, n)
                job = self._job_common(folder, n, latency, timeout_cycles, expected, formats)
                job.update(clock=self.bench_clock, lanes=self.lanes, in_file=str(vin), out_file=str(vout))
                (folder / "job.json").write_text(json.dumps(job))
                plusargs = [f"+ulp_n={n}", f"+ulp_timeout={timeout_cycles}", f"+ulp_in={vin}", f"+ulp_out={vout}"]
                if latency is not None:
                    plusargs.append(f"+ulp_latency={latency}")
                self.runner.test(
                    build,
                    cocotb_bulk.__name__,
                    testcase="ulpflow_bulk",
                    plusargs=plusargs,
                    extra_env={cocotb_bulk._JOB_ENV: str(folder / "job.json"), **cocotb_bulk.FAST_START_ENV},
                    test_dir=folder,
                )
                return cocotb_bulk.read_results(vout, self.outputs, self.out_words, n)
            except BaseException:
                # the folder is kept for its log; the vector files are only bulk
                for path in (vin, vout, folder / "expected.npz"):
                    path.unlink(missing_ok=True)
                raise

    def _run_bulk(self, n, bits, latency, timeout_cycles):
        build = self.build()
        with self.runner.run_dir(keep_on_error=False) as folder:
            vin, vout = folder / "in.bin", folder / "out.bin"
            cocotb_bulk.write_vectors(vin, self.inputs, self.in_words, bits, n)
            lat = -1 if latency is None else latency
            self.runner.run_exe(build, [vin, vout, n, lat, timeout_cycles], cwd=folder)
            return cocotb_bulk.read_results(vout, self.outputs, self.out_words, n)

    def _run_percycle(self, n, bits, latency, timeout_cycles, expected=None, formats=None):
        build = self.build()
        with self.runner.run_dir() as folder:
            job = self._job_common(folder, n, latency, timeout_cycles, expected, formats)
            job |= {
                "clock": self.clock if self.has_clock else None,
                "reset": self.reset if self._has_reset else None,
                "valid_in": self.has_valid_in,
                "valid_out": self.has_valid_out,
                "inputs": [p.name for p in self.inputs],
                "outputs": [p.name for p in self.outputs],
                "in_file": str(folder / "in.npz"),
                "out_file": str(folder / "out.npz"),
            }
            np.savez(folder / "in.npz", **{k: np.ascontiguousarray(v) for k, v in bits.items()})
            (folder / "job.json").write_text(json.dumps(job))
            self.runner.test(
                build,
                __name__,
                testcase="ulpflow_percycle",
                extra_env={"ULPFLOW_PERCYCLE_JOB": str(folder / "job.json"), **cocotb_bulk.FAST_START_ENV},
                test_dir=folder,
            )
            with np.load(folder / "out.npz") as data:
                return {p.name: data[p.name].astype(p.dtype) for p in self.outputs}


def _to_bits(port: Port, arr: np.ndarray, what: str = "input") -> np.ndarray:
    """Codes as uint64 bit patterns, checked against the port width."""
    if arr.size == 0:
        return arr.astype(np.uint64)
    w = port.width
    if arr.dtype.kind == "u":
        top = int(arr.max())
        if top >= 1 << w:
            i = int(np.argmax(arr >= np.uint64(1 << w) if w < 64 else False))
            raise ValueError(
                f"{what} {port.name!r}: code {top} (at index {i}) does not fit {w} bits; "
                f"expected 0 <= code < {1 << w}"
            )
        return arr.astype(np.uint64)
    a = arr.astype(np.int64)
    low = -(1 << (w - 1)) if port.signed else 0
    high = (1 << w) - 1
    bad = (a < low) | (a > high) if w < 64 else (a < low)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"{what} {port.name!r}: value {int(a[i])} (at index {i}) does not fit the "
            f"{'signed' if port.signed else 'unsigned'} {w}-bit port; expected {low} <= value <= {high}"
        )
    return a.view(np.uint64) & np.uint64((1 << w) - 1 if w < 64 else 0xFFFFFFFFFFFFFFFF)


def simulate(
    unit,
    inputs: Mapping[str, object],
    *,
    clock: str = "clk",
    reset: str = "rst",
    latency: int | None = None,
    engine: str = DEFAULT_ENGINE,
    runner: VerilatorRunner | None = None,
    timeout_cycles: int | None = None,
    expected: Mapping[str, object] | None = None,
    formats=None,
    bench_clock: str | None = None,
    lanes: int = 1,
) -> dict[str, np.ndarray]:
    """Run arrays of input codes through an Amaranth unit in Verilator; return its output codes.

    The unit is converted to Verilog, built (or found in the build cache, keyed by the Verilog),
    and fed one vector per cycle. For many calls on one unit keep a :class:`UnitSimulator`,
    which converts the unit only once.

    Parameters
    ----------
    unit : amaranth.lib.wiring.Component
        See :class:`UnitSimulator`.
    inputs : dict of str to array of int
        Codes per data input port; see :meth:`UnitSimulator.run`.
    clock, reset, latency, engine, runner, bench_clock, lanes
        See :class:`UnitSimulator`.
    timeout_cycles, expected, formats : optional
        See :meth:`UnitSimulator.run`. With ``expected`` the run is also a test: any mismatch
        raises :class:`SimulationError` naming the first failing vector.

    Returns
    -------
    dict of str to numpy.ndarray
        Output codes per data output port, vector ``i`` of every array belonging to input ``i``.

    Examples
    --------
    >>> out = simulate(adder, {"a": a_codes, "b": b_codes})          # doctest: +SKIP
    >>> out["result"]                                                # doctest: +SKIP
    >>> golden_sum = ulpflow.golden.add(a_codes, b_codes, e4m3)      # doctest: +SKIP
    >>> simulate(adder, {"a": a_codes, "b": b_codes},                # doctest: +SKIP
    ...          expected={"result": golden_sum}, formats=e4m3)
    """
    sim = UnitSimulator(
        unit,
        clock=clock,
        reset=reset,
        latency=latency,
        engine=engine,
        runner=runner,
        bench_clock=bench_clock,
        lanes=lanes,
    )
    # checks inputs before any build
    return sim.run(inputs, timeout_cycles=timeout_cycles, expected=expected, formats=formats)


def assert_matches(unit, inputs: Mapping[str, object], expected: Mapping[str, object], formats=None, **kwargs):
    """Simulate ``unit`` and assert its outputs equal ``expected``; return the outputs.

    Same arguments as :func:`simulate` (``unit`` may also be a :class:`UnitSimulator`, which
    keeps its build). A mismatch raises ``AssertionError`` (:class:`~ulpflow.sim.compare.RTLMismatch`)
    with the scoreboard's one-line report: the first failing vector's index, every input and
    the expected and received outputs, each in hex and decoded with ``formats``, and the
    number of mismatching vectors. Other simulation failures stay :class:`SimulationError`.

    Examples
    --------
    >>> a, b = vectors.exhaustive(e4m3, e4m3)                          # doctest: +SKIP
    >>> assert_matches(FloatAdder(e4m3), {"a": a, "b": b},             # doctest: +SKIP
    ...                {"result": golden.add(a, b, e4m3)}, e4m3)
    """
    if expected is None:
        raise TypeError("assert_matches needs expected codes (a dict output port -> codes)")
    try:
        if isinstance(unit, UnitSimulator):
            return unit.run(inputs, expected=expected, formats=formats, **kwargs)
        return simulate(unit, inputs, expected=expected, formats=formats, **kwargs)
    except SimulationError as exc:
        mismatch = [f for f in exc.failures if f.kind == RTLMismatch.__name__]
        if mismatch:
            raise RTLMismatch(mismatch[0].message) from None
        raise


# The C++ main of the bulk path. Reads n packed vectors (little-endian 32-bit words) from a file,
# clocks them through the harness and writes the packed outputs; both files are streamed in
# blocks so memory stays flat however many vectors there are.
_HARNESS_CPP = r"""// Generated by ulpflow.sim.simulate (bulk path).
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>
#include "Vtop.h"
#include "verilated.h"

static const int IN_WORDS = {in_words}, OUT_WORDS = {out_words};
static const bool HAS_CLOCK = {has_clock}, HAS_RESET = {has_reset}, HAS_VALID_OUT = {has_valid_out};
static const unsigned long long BLOCK = 1 << 16;

[[noreturn]] static void fail(const char* what, ...) {{
    va_list args;
    va_start(args, what);
    std::fprintf(stderr, "ULPFLOW-ERROR: ");
    std::vfprintf(stderr, what, args);
    std::fprintf(stderr, "\n");
    va_end(args);
    std::exit(3);
}}

static inline void set_in(Vtop* top, const uint32_t* p) {{ {set_in} }}
static inline void get_out(Vtop* top, uint32_t* p) {{ {get_out} }}

int main(int argc, char** argv) {{
    if (argc != 6) fail("usage: IN_FILE OUT_FILE N LATENCY MAX_CYCLES");
    const unsigned long long n = std::strtoull(argv[3], nullptr, 10);
    const long long latency = std::strtoll(argv[4], nullptr, 10);  // -1: valid_out decides
    const unsigned long long max_cycles = std::strtoull(argv[5], nullptr, 10);
    FILE* fin = std::fopen(argv[1], "rb");
    FILE* fout = std::fopen(argv[2], "wb");
    if (!fin || !fout) fail("cannot open the vector files");

    auto ctx = std::make_unique<VerilatedContext>();
    auto top = std::make_unique<Vtop>(ctx.get());
    std::vector<uint32_t> ibuf(BLOCK * IN_WORDS), obuf(BLOCK * OUT_WORDS);
    unsigned long long i_in = 0, i_out = 0, base = 0, avail = 0, opos = 0, cyc = 0;

    auto fetch = [&]() -> const uint32_t* {{
        if (i_in >= base + avail) {{
            base = i_in;
            unsigned long long want = n - i_in < BLOCK ? n - i_in : BLOCK;
            avail = std::fread(ibuf.data(), sizeof(uint32_t) * IN_WORDS, want, fin);
            if (avail != want) fail("input file ends at vector %llu of %llu", base + avail, n);
        }}
        return &ibuf[(i_in - base) * IN_WORDS];
    }};
    auto emit = [&]() {{
        get_out(top.get(), &obuf[opos * OUT_WORDS]);
        if (++opos == BLOCK) {{
            std::fwrite(obuf.data(), sizeof(uint32_t) * OUT_WORDS, opos, fout);
            opos = 0;
        }}
        ++i_out;
    }};

    top->valid_in = 0;
    top->rst = HAS_RESET;
    top->clk = 0;
    top->eval();
    if (HAS_CLOCK && HAS_RESET) {{
        for (int k = 0; k < 2; ++k) {{
            top->clk = 1; top->eval();
            top->clk = 0; top->eval();
        }}
        top->rst = 0;
    }}
    if (!HAS_CLOCK) {{
        for (; i_in < n; ++i_in) {{
            set_in(top.get(), fetch());
            top->valid_in = 1;
            top->eval();
            if (HAS_VALID_OUT && !top->valid_out)
                fail("valid_out is low for vector %llu of a combinational unit", i_in);
            emit();
        }}
    }} else {{
        while (i_out < n) {{
            if (i_in < n) {{
                set_in(top.get(), fetch());
                top->valid_in = 1;
            }} else {{
                top->valid_in = 0;
            }}
            top->clk = 0;
            top->eval();
            bool take;
            if (HAS_VALID_OUT) {{
                take = top->valid_out;
                if (latency >= 0) {{
                    bool expect = cyc >= (unsigned long long)latency && cyc < (unsigned long long)latency + n;
                    if (take != expect)
                        fail("valid_out is %llu in cycle %llu; with latency %lld and %llu vectors it must be "
                             "high exactly in cycles latency..latency+n-1", (unsigned long long)take, cyc, latency, n);
                }}
            }} else {{
                take = cyc >= (unsigned long long)latency;
            }}
            if (take) emit();
            top->clk = 1;
            top->eval();
            if (i_in < n) ++i_in;
            if (++cyc > max_cycles && i_out < n)
                fail("only %llu of %llu results after %llu cycles (timeout; does valid_out ever rise?)",
                     i_out, n, cyc);
        }}
    }}
    if (opos) std::fwrite(obuf.data(), sizeof(uint32_t) * OUT_WORDS, opos, fout);
    if (std::fclose(fout) != 0) fail("cannot write the output file");
    std::fclose(fin);
    top->final();
    return 0;
}}
"""


# ------------------------------------------------------------------------------------------
# Per-cycle engine: this coroutine runs inside the simulator (cocotb imports this module there).

try:
    import cocotb as _cocotb
except ImportError:  # pragma: no cover - cocotb is a hard dependency; keep import errors local
    _cocotb = None

if _cocotb is not None:

    @_cocotb.test()
    async def ulpflow_percycle(dut):  # noqa: D103 - driven by UnitSimulator(engine="cocotb-cycle")
        from cocotb.clock import Clock
        from cocotb.triggers import FallingEdge, RisingEdge, Timer

        job = json.loads(Path(os.environ["ULPFLOW_PERCYCLE_JOB"]).read_text())
        n, latency = job["n"], job["latency"]
        with np.load(job["in_file"]) as data:
            vectors = {name: data[name].tolist() for name in job["inputs"]}
        drive = [(getattr(dut, name), vectors[name]) for name in job["inputs"]]
        sample = [getattr(dut, name) for name in job["outputs"]]
        results: list[list[int]] = [[] for _ in sample]
        valid_in = getattr(dut, "valid_in") if job["valid_in"] else None
        valid_out = getattr(dut, "valid_out") if job["valid_out"] else None

        def take_outputs():
            for handle, column in zip(sample, results):
                column.append(int(handle.value))

        if job["clock"] is None:
            for i in range(n):
                for handle, values in drive:
                    handle.value = values[i]
                if valid_in is not None:
                    valid_in.value = 1
                await Timer(1, "ns")
                assert valid_out is None or int(valid_out.value) == 1, (
                    f"valid_out is low for vector {i} of a combinational unit"
                )
                take_outputs()
        else:
            clk = getattr(dut, job["clock"])
            Clock(clk, 10, unit="ns").start()
            if valid_in is not None:
                valid_in.value = 0
            if job["reset"] is not None:
                rst = getattr(dut, job["reset"])
                rst.value = 1
                await RisingEdge(clk)
                await RisingEdge(clk)
                rst.value = 0
            else:
                await RisingEdge(clk)
            cyc = i_in = 0
            while len(results[0]) < n:
                if i_in < n:
                    for handle, values in drive:
                        handle.value = values[i_in]
                    if valid_in is not None:
                        valid_in.value = 1
                elif valid_in is not None:
                    valid_in.value = 0
                await FallingEdge(clk)  # mid-cycle: combinational outputs have settled
                if valid_out is not None:
                    take = bool(int(valid_out.value))
                    if latency is not None:
                        expect = latency <= cyc < latency + n
                        assert take == expect, (
                            f"valid_out is {int(take)} in cycle {cyc}; with latency {latency} and {n} "
                            "vectors it must be high exactly in cycles latency..latency+n-1"
                        )
                else:
                    take = cyc >= latency
                if take:
                    take_outputs()
                await RisingEdge(clk)
                if i_in < n:
                    i_in += 1
                cyc += 1
                assert cyc <= job["timeout"] or len(results[0]) >= n, (
                    f"only {len(results[0])} of {n} results after {cyc} cycles "
                    "(timeout; does valid_out ever rise?)"
                )
        got = {name: np.array(column, dtype=np.uint64) for name, column in zip(job["outputs"], results)}
        np.savez(job["out_file"], **got)
        # scoreboard, shared with the bulk engine
        cocotb_bulk.scoreboard(job, {k: np.asarray(v, dtype=np.uint64) for k, v in vectors.items()}, got)
