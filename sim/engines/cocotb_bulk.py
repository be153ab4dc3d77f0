"""The bulk cocotb engine (``engine="cocotb"``, the default): driver and monitor in the simulator.

Shape (cocotb's driver → DUT → monitor → scoreboard):

* **driver** (SystemVerilog, the generated bench module ``ulpflow_bench``, template
  ``sim/templates/bench.sv``): after two reset edges presents one packed input vector per clock
  cycle, with ``valid_in``, to the unit through the packed-port wrapper ``ulpflow_harness``
  (shared with the C++ engine, :mod:`.harness`);
* **DUT**: the unit's Verilog (module ``ulp_dut``), ``lanes`` copies side by side if asked;
* **monitor** (same module): samples the outputs just before each rising edge and checks
  ``valid_out`` against the latency;
* vector transport: three small DPI-C functions (template ``sim/templates/bench_dpi.cpp``) copy
  rows of vectors out of the memory-mapped input file and results into the memory-mapped output
  file (the layout of :mod:`ulpflow.sim.packing`), so nothing is parsed or formatted per cycle;
* **cocotb test** :func:`ulpflow_bulk` (Python, in the simulator): starts the clock (unless the
  bench makes its own), raises ``start``, awaits ``done``, turns a protocol error of the monitor
  into a test failure, and runs the **scoreboard**: with expected codes,
  :func:`ulpflow.sim.compare.compare_outputs` against them, failing the test with
  :class:`~ulpflow.sim.compare.RTLMismatch` naming the first failing vector decoded.

No Python runs per cycle, and the model is built without ``--public-flat-rw`` (only the bench's
ports are visible to cocotb), so the unit's logic is evaluated once per cycle instead of at
every VPI time step. The cocotb test is an ordinary one: results.xml records pass/fail, and the
runner raises :class:`~ulpflow.sim.errors.SimulationError` with the failure's message.

Clock sources (``clock=``), measured on an 8-bit adder, 2·10^6 vectors:

``"verilog"`` (default)
    The bench toggles its clock itself (``#5`` delays; Verilator ``--timing``, C++20):
    ~2.1 M vectors/s after start-up.
``"cocotb"``
    ``cocotb.clock.Clock`` (its C++ ``gpi`` implementation) drives the bench's ``clk`` port:
    one VPI callback per edge, no ``--timing`` build, ~1.0 M vectors/s.

Each run costs ~0.35 s of simulator start-up (Python and cocotb inside the simulator; pytest's
assertion rewriting is switched off for it, see :data:`FAST_START_ENV`).

The cycle protocol is the one of :mod:`ulpflow.sim.simulate` (reset for two rising edges, vector
``k`` in cycle ``k``, outputs sampled before the rising edge, ``valid_out`` checked against the
latency), so every engine returns identical results. With ``lanes = K`` copy ``j`` of the unit
receives vectors ``j, j + K, j + 2K, ...`` under that same protocol.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..compare import assert_outputs_match
from ..packing import job_table, load_expected, ports_from_table, read_results, read_vectors, write_vectors
from .harness import HARNESS_MODULE, Design, harness_verilog
from .template import render

__all__ = [
    "BENCH_MODULE",
    "CLOCK_SOURCES",
    "FAST_START_ENV",
    "JOB_ENV",
    "MAX_LANES",
    "CocotbBulkEngine",
    "bench_build_args",
    "bench_cpp",
    "bench_verilog",
    "check_lanes",
    "scoreboard",
    "status_message",
    "ulpflow_bulk",
]

BENCH_MODULE = "ulpflow_bench"
CLOCK_SOURCES = ("verilog", "cocotb")
#: Environment variable naming the job file of a run.
JOB_ENV = "ULPFLOW_BULK_JOB"
#: Environment for a quick start of the simulator's Python: cocotb otherwise installs pytest's
#: assertion rewriting for every module imported after it (NumPy included), which costs a large
#: part of a second; the bench's failures carry explicit messages and need no rewriting.
FAST_START_ENV = {"COCOTB_REWRITE_ASSERTION_FILES": ""}
_HALF_PERIOD = 5  # in the bench's time unit (ns); only the ratio to cocotb's clock matters

# Status codes the bench reports on its ``status`` port.
_OK, _BAD_VALID, _TIMEOUT, _BAD_COUNT, _NO_FILE, _NO_PLUSARGS = range(6)
_STATUS_NAMES = {
    "ok": _OK,
    "bad_valid": _BAD_VALID,
    "timeout": _TIMEOUT,
    "bad_count": _BAD_COUNT,
    "no_file": _NO_FILE,
    "no_plusargs": _NO_PLUSARGS,
}
#: Most copies of a unit one bench feeds side by side.
MAX_LANES = 64


def bench_build_args(clock: str) -> list[str]:
    """Extra Verilator arguments the bench needs for a clock source."""
    if clock not in CLOCK_SOURCES:
        raise ValueError(f"bench clock {clock!r} is not one of {CLOCK_SOURCES}")
    if clock == "verilog":
        # Delays in the bench need the timing scheduler, whose coroutines need C++20.
        return ["--timing", "-CFLAGS", "-std=c++20"]
    return []


def check_lanes(lanes) -> int:
    if isinstance(lanes, bool) or not isinstance(lanes, (int, np.integer)) or not 1 <= lanes <= MAX_LANES:
        raise ValueError(f"lanes must be an int from 1 to {MAX_LANES}, got {lanes!r}")
    return int(lanes)


def bench_verilog(
    *, in_words: int, out_words: int, has_valid_out: bool, clock: str, harness: str, lanes: int = 1
) -> str:
    """Verilog of the bench module around ``lanes`` instances of the packed-port wrapper.

    Parameters
    ----------
    in_words, out_words : int
        Width of the packed input/output words in 32-bit words.
    has_valid_out : bool
        Whether the unit drives ``valid_out`` (otherwise the latency alone marks results).
    clock : {"verilog", "cocotb"}
        Who toggles ``clk``; see the module docstring.
    harness : str
        Module name of the packed-port wrapper.
    lanes : int
        Copies of the unit fed side by side (see :class:`~ulpflow.sim.simulate.UnitSimulator`).
    """
    bench_build_args(clock)  # validates
    lanes = check_lanes(lanes)
    if clock == "cocotb":
        clk_port, clk_gen = "input clk /*verilator public_flat_rw*/,", ""
    else:
        clk_port = ""
        clk_gen = (
            "  reg clk = 1'b0;\n"
            "  // The bench makes its own clock; it stops once the run is over, so nothing is left\n"
            "  // scheduled and the simulator can end when cocotb's test finishes.\n"
            f"  initial while (!done) #{_HALF_PERIOD} clk = ~clk;\n"
        )
    return render(
        "bench.sv",
        module=BENCH_MODULE,
        harness=harness,
        clk_port=clk_port,
        clk_gen=clk_gen,
        iw=32 * in_words,
        ow=32 * out_words,
        lanes=lanes,
        has_vout=int(bool(has_valid_out)),
        **_STATUS_NAMES,
    )


def bench_cpp(*, in_words: int, out_words: int, lanes: int = 1) -> str:
    """C++ of the bench's DPI functions (vector transport between files and the bench)."""
    return render("bench_dpi.cpp", in_words=in_words, out_words=out_words, lanes=check_lanes(lanes))


class CocotbBulkEngine:
    """Builds a design into the bulk bench and runs it as one cocotb test."""

    name = "cocotb"

    def __init__(self, design: Design, *, clock: str = CLOCK_SOURCES[0], lanes: int = 1):
        bench_build_args(clock)  # rejects an unknown clock source now
        self.design, self.clock, self.lanes = design, clock, check_lanes(lanes)
        if self.lanes > 1 and design.ports.ready_in:
            raise ValueError(f"lanes={lanes} needs a unit whose input stream is always ready; "
                             f"{design.name} has back-pressure")

    def build(self, runner):
        ports = self.design.ports
        words = {"in_words": ports.in_words, "out_words": ports.out_words, "lanes": self.lanes}
        bench = bench_verilog(**words, has_valid_out=ports.valid_out is not None, clock=self.clock,
                              harness=HARNESS_MODULE)
        sources = {
            "ulp_dut.v": self.design.verilog,
            "ulpflow_harness.v": harness_verilog(self.design),
            "ulpflow_bench.sv": bench,
        }
        return runner.build(
            sources,
            BENCH_MODULE,
            kind="cocotb",
            cpp_sources={"ulpflow_bench_dpi.cpp": bench_cpp(**words)},
            build_args=bench_build_args(self.clock),
            public=False,
        )

    def run(self, runner, build, *, n, bits, latency, timeout, expected=None, formats=None, exact=False):
        ports = self.design.ports
        with runner.run_dir() as folder:
            vin, vout = folder / "in.bin", folder / "out.bin"
            try:
                write_vectors(vin, ports.inputs, ports.in_words, bits, n)
                job = job_table(ports, folder, n=n, latency=latency, timeout=timeout, name=self.design.name,
                                has_clock=self.design.has_clock, expected=expected, formats=formats,
                                exact=exact)
                job.update(clock=self.clock, lanes=self.lanes, in_file=str(vin), out_file=str(vout))
                (folder / "job.json").write_text(json.dumps(job))
                plusargs = [f"+ulp_n={n}", f"+ulp_timeout={timeout}", f"+ulp_in={vin}", f"+ulp_out={vout}"]
                if latency is not None:
                    plusargs.append(f"+ulp_latency={latency}")
                runner.test(
                    build,
                    __name__,
                    testcase="ulpflow_bulk",
                    plusargs=plusargs,
                    extra_env={JOB_ENV: str(folder / "job.json"), **FAST_START_ENV},
                    test_dir=folder,
                )
                return read_results(vout, ports.outputs, ports.out_words, n)
            except BaseException:
                # the folder is kept for its log; the vector files are only bulk
                for path in (vin, vout, folder / "expected.npz"):
                    path.unlink(missing_ok=True)
                raise


def scoreboard(job, inputs, got) -> None:
    """Compare the monitor's results with the expected codes; raise RTLMismatch if any differ."""
    expected, formats = load_expected(job)
    if expected is None:
        return
    widths = {d["name"]: (d["width"], d["signed"]) for d in job["in_ports"] + job["out_ports"]}
    assert_outputs_match(inputs, got, expected, formats, name=job["name"], widths=widths,
                         exact=job.get("exact", False))


def status_message(job, status: int, cycle: int, lane: int, take: int, n_out: int) -> str:
    """Words for a protocol error the bench reported (the C++ engine says the same)."""
    n, lat, lanes = job["n"], job["latency"], job.get("lanes", 1)
    if status == _BAD_VALID:
        if not job["has_clock"]:
            return f"valid_out is low for vector {cycle * lanes + lane} of a combinational unit"
        where = f" (lane {lane} of {lanes}, which gets {len(range(lane, n, lanes))} vectors)" if lanes > 1 else ""
        return (
            f"valid_out is {take} in cycle {cycle}{where}; with latency {lat} and {n} vectors it must be "
            "high exactly in cycles latency..latency+n-1"
        )
    if status == _TIMEOUT:
        return f"only {n_out} of {n} results after {cycle} cycles (timeout; does valid_out ever rise?)"
    if status == _BAD_COUNT:
        return f"the units delivered {n_out} results for {n} vectors, but not one per vector and lane"
    if status == _NO_FILE:
        return f"the bench cannot map its vector files {job['in_file']!r} / {job['out_file']!r}"
    if status == _NO_PLUSARGS:
        return "the bench was started without its +ulp_* plusargs"
    return f"the bench reported unknown status {status}"


# ----------------------------------------------------------------------------------------------
# The cocotb test (cocotb imports this module inside the simulator).

try:
    import cocotb as _cocotb
except ImportError:  # pragma: no cover - cocotb is a hard dependency; keep import errors local
    _cocotb = None

if _cocotb is not None:

    @_cocotb.test()
    async def ulpflow_bulk(dut):  # noqa: D103 - started by UnitSimulator(engine="cocotb")
        from cocotb.clock import Clock
        from cocotb.triggers import RisingEdge

        job = json.loads(Path(os.environ[JOB_ENV]).read_text())
        if job["clock"] == "cocotb":
            Clock(dut.clk, 2 * _HALF_PERIOD, unit="ns", impl="gpi").start(start_high=False)
        dut.start.value = 1
        await RisingEdge(dut.done)
        status = int(dut.status.value)
        if status != _OK:
            raise AssertionError(
                status_message(
                    job,
                    status,
                    int(dut.err_cycle.value),
                    int(dut.err_lane.value),
                    int(dut.err_take.value),
                    int(dut.n_out.value),
                )
            )
        if job.get("expected_file"):
            in_ports = ports_from_table(job["in_ports"])
            out_ports = ports_from_table(job["out_ports"])
            inputs = read_vectors(Path(job["in_file"]), in_ports, job["in_words"])
            got = read_results(Path(job["out_file"]), out_ports, job["out_words"], job["n"])
            scoreboard(job, inputs, got)
