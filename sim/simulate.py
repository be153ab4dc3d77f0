"""Run arrays of input codes through an Amaranth component in Verilator.

Three engines (:mod:`ulpflow.sim.engines`) share one port model (:mod:`ulpflow.sim.packing`):

``engine="cocotb"`` (default, the bulk cocotb testbench)
    A cocotb test drives the simulation: a generated bench module feeds vectors from a
    memory-mapped file into the unit (driver) and stores results (monitor); the cocotb test
    starts it, awaits its end and, when ``expected`` codes are given, compares them
    (scoreboard), failing the cocotb test on a mismatch. No Python runs per cycle: ~0.35 s of
    start-up, then 1-2 M vectors/s (several times more with ``lanes``).
``engine="verilator"`` (the fastest path, no cocotb)
    The unit is linked with a generated C++ ``main`` that streams vectors from a binary file
    through the model, one per clock cycle, and streams results back to a file (~10 M
    vectors/s, no start-up). The comparison with ``expected`` runs in Python afterwards.
``engine="cocotb-cycle"`` (per-cycle path)
    The unit itself is the cocotb top level; a cocotb coroutine drives every input and samples
    every output from Python each cycle (~40k vectors/s). It exercises the unit's own ports the
    way a protocol test does.

Data ports are the payload fields of the unit's streams (``a``, ``b`` -> ``result``) and any
plain members; the streams' ``valid`` signals are the handshake, driven and read by the
simulator. All engines apply the same cycle protocol, so they return identical results:

* a unit without a clock port is combinational: one evaluation per vector;
* otherwise reset (if the unit has one) is held for two rising edges, then vector ``k`` is
  presented during cycle ``k`` with the input valid high (if the unit has one; low afterwards);
* outputs are sampled just before each rising edge: in cycle ``k + latency`` for a unit without
  an output valid; whenever it is high otherwise. When both the output valid and a latency are
  known, the valid must be high exactly in cycles ``latency .. latency + n - 1``; anything else
  is a :class:`~ulpflow.sim.errors.SimulationError`.

With ``expected=`` every engine compares the outputs with those codes (NaN matches NaN for float
formats) and raises :class:`~ulpflow.sim.errors.SimulationError` whose message names the first
failing vector decoded with ``formats=`` (by default with the formats the unit's signature
records, comparing codes exactly; see :mod:`ulpflow.sim.compare`); :func:`assert_matches` turns
that into an ``AssertionError``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np

from .compare import RTLMismatch
from .engines import ENGINES, CocotbBulkEngine, CocotbCycleEngine, CppEngine
from .engines.cocotb_bulk import CLOCK_SOURCES, bench_build_args, check_lanes
from .engines.harness import DUT_MODULE, Design
from .errors import SimulationError
from .packing import Port, check_latency, convert_ports, to_bits, unit_ports, verilog_ports
from .runner import Build, VerilatorRunner
from ulpflow.hdl.library import library_verilog

__all__ = ["ENGINES", "Port", "UnitSimulator", "assert_matches", "simulate"]

DEFAULT_ENGINE = ENGINES[0]


class UnitSimulator:
    """An Amaranth component converted to Verilog and built in Verilator once, run many times.

    Parameters
    ----------
    unit : amaranth.lib.wiring.Component
        The unit. Members whose signature is an ``amaranth.lib.stream.Signature`` are streams:
        their payload fields are the data ports (``i.payload.a`` -> ``"a"``), their ``valid`` the
        handshake the simulator drives (input streams) or reads (the output stream); streams
        must be ``always_ready``. Other ``In`` members are data inputs, other ``Out`` members
        data outputs, nested interfaces flattened with ``__`` as Amaranth names the Verilog ports.
    clock, reset : str
        Names of the clock and reset ports in the generated Verilog (``clk``/``rst`` for
        Amaranth's ``sync`` domain). A unit without the clock port is treated as combinational.
    latency : int, optional
        Pipeline depth in cycles (a Python int, as the units take it). Default: the unit's
        ``latency`` attribute; 0 for a unit without clock. Needed unless the unit has an output
        valid.
    engine : {"cocotb", "verilator", "cocotb-cycle"}
        Bulk cocotb testbench (default), bulk C++ harness, or per-cycle cocotb driving (see the
        module docstring).
    runner : VerilatorRunner, optional
        Build cache and tool settings to use.
    bench_clock : {"verilog", "cocotb"}, optional
        Engine ``"cocotb"`` only: whether the bench toggles its clock itself (a ``--timing``
        build; the default) or cocotb's ``Clock`` drives it (see
        :mod:`ulpflow.sim.engines.cocotb_bulk`).
    lanes : int
        Engine ``"cocotb"`` only: copies of the unit the bench feeds side by side, vector ``i``
        going to copy ``i % lanes``; each copy sees the usual protocol with every ``lanes``-th
        vector. Several times faster per vector for units whose outputs depend only on the
        current vector (every arithmetic unit), but WRONG for units with state across vectors
        (an accumulator): keep the default 1 for those.

    Attributes
    ----------
    inputs, outputs : tuple of Port
        The data ports (without the handshakes), in signature order.
    formats : dict
        Golden format per data port, as the unit's signature records them.
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
            bench_clock = CLOCK_SOURCES[0]
        bench_build_args(bench_clock)  # rejects an unknown clock source now
        self.bench_clock = bench_clock
        self.lanes = check_lanes(lanes)
        if self.lanes > 1 and engine != "cocotb":
            raise ValueError(f"lanes={lanes} needs engine='cocotb', not {engine!r}")
        self.ports = unit_ports(unit)
        self.unit = unit
        self.name = type(unit).__name__
        self.inputs, self.in_words = self.ports.inputs, self.ports.in_words
        self.outputs, self.out_words = self.ports.outputs, self.ports.out_words
        self.has_valid_in = bool(self.ports.valid_in)
        self.has_valid_out = self.ports.valid_out is not None
        self.formats = self.ports.formats
        self.clock, self.reset, self.engine = clock, reset, engine
        if latency is None:
            latency = getattr(unit, "latency", None)
        self._latency = check_latency(latency)
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
            text = verilog.convert(self.unit, name=DUT_MODULE, ports=convert_ports(self.unit),
                                   emit_src=False, strip_internal_attrs=True)
            text += library_verilog(self.unit)  # the cells a network top instantiates
            self.timings["convert"] = time.perf_counter() - start
            ports = verilog_ports(text, DUT_MODULE)
            expected = self.ports.expected_verilog
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
        """Cycles from a vector's input to its result; None when only the output valid tells."""
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

    @property
    def design(self) -> Design:
        """The unit as the engines take it (Verilog, port model, clock and reset)."""
        return Design(self.ports, self.verilog, self.description, self.clock, self.reset,
                      self.has_clock, self._has_reset)

    def _engine(self):
        if self.engine == "verilator":
            return CppEngine(self.design)
        if self.engine == "cocotb":
            return CocotbBulkEngine(self.design, clock=self.bench_clock, lanes=self.lanes)
        return CocotbCycleEngine(self.design)

    def build(self) -> Build:
        """Build the model for this engine (or find it in the cache)."""
        if self._build is None:
            self.latency  # noqa: B018 - fail on a missing latency before spending a build
            build = self._engine().build(self.runner)
            self.timings["build"] = build.seconds
            self.timings["build_cached"] = build.cached
            self._build = build
        return self._build

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
                hint = " (the simulator drives the valid handshake itself)" if "valid" in key else ""
                raise ValueError(f"{self.name} has no input port {key!r}{hint}; its inputs are {names}")
        missing = [n for n in names if n not in inputs]
        if missing:
            hint = ""
            if any(n.endswith("valid") or n.endswith("valid_in") for n in missing):
                hint = ("; a handshake is recognised only as a stream member (amaranth.lib.stream, "
                        "e.g. ulpflow.hdl.signature.UnitSignature): plain members are data ports")
            raise ValueError(f"inputs for ports {missing} of {self.name} are missing{hint}")
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
            arrays[p.name] = to_bits(p, arr)
        if n is None:  # every input a scalar: one vector
            n = 1
        return n, {k: np.broadcast_to(v, (n,)) for k, v in arrays.items()}

    def check_expected(self, expected, formats, n: int):
        """Validate ``expected`` / ``formats`` for ``n`` vectors; return them normalised.

        Returns ``(expected, formats)``: expected codes as uint64 arrays per output port (a
        scalar is broadcast), formats as a dict per port (a single format applies to every port
        of its width; without ``formats``, those of the unit's signature). Either may be None.
        """
        by_name = {p.name: p for p in self.inputs + self.outputs}
        fmts = None
        if formats is None and self.formats:
            fmts = dict(self.formats)  # what the unit's signature records
        elif formats is not None:
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
            exp[key] = np.broadcast_to(to_bits(outs[key], arr, "expected"), (n,))
        return exp, fmts

    def run(
        self,
        inputs: Mapping[str, object],
        *,
        timeout_cycles: int | None = None,
        expected: Mapping[str, object] | None = None,
        formats=None,
        stall: tuple[int, int] | None = None,
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
            port of its width. Without ``formats`` the codes must match exactly, and the
            formats the unit's signature records (if any) decode the message.
        stall : (per_mille, seed), optional
            Engine ``"verilator"`` only: the source withholds ``valid`` and the sink withholds
            ``ready`` on pseudo-random cycles (each with probability ``per_mille / 1000``), to
            check that back-pressure leaves the results unchanged. Needs a unit that follows
            its valid signals (the latency is then not checked).

        Returns
        -------
        dict of str to numpy.ndarray
            One array per data output port, in the unit's signature order, dtype the smallest
            unsigned type holding the port's width.
        """
        n, bits = self.check_inputs(inputs)
        exact = formats is None  # the signature's formats then only decode a mismatch
        expected, formats = self.check_expected(expected, formats, n)
        self.build()
        latency = self.latency
        if timeout_cycles is None:
            timeout_cycles = n + (latency or 0) + (1000 if latency is None else 1)
        if n == 0:
            return {p.name: np.zeros(0, p.dtype) for p in self.outputs}
        extra = {}
        if stall is not None:
            if self.engine != "verilator":
                raise ValueError(f"stall= needs engine='verilator', not {self.engine!r}")
            per_mille, seed = stall
            if not 0 <= int(per_mille) < 1000:
                raise ValueError(f"stall probability must be 0 .. 999 per mille, not {per_mille!r}")
            if not self.has_valid_out:
                raise ValueError(f"stall= needs a unit with an output valid; {self.name} has none")
            extra = {"stall": int(per_mille), "seed": int(seed)}
            if per_mille:
                timeout_cycles = max(timeout_cycles, 4 * timeout_cycles * 1000 // (1000 - int(per_mille)))
        start = time.perf_counter()
        result = self._engine().run(self.runner, self._build, n=n, bits=bits, latency=latency,
                                    timeout=timeout_cycles, expected=expected, formats=formats, exact=exact,
                                    **extra)
        self.timings["run"] = time.perf_counter() - start
        return result

    @property
    def description(self) -> str:
        """The unit's repr when it has a useful one, else its class name (for messages)."""
        text = repr(self.unit)
        return self.name if text.startswith("<") else text


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
