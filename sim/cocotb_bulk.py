"""The bulk cocotb engine: a cocotb testbench whose driver and monitor run in the simulator.

Shape (cocotb's driver → DUT → monitor → scoreboard):

* **driver** (SystemVerilog, the generated bench module ``ulpflow_bench``): after two reset
  edges presents one packed input vector per clock cycle, with ``valid_in``, to the unit
  through the packed-port wrapper ``ulpflow_harness`` (shared with the C++ engine);
* **DUT**: the unit's Verilog (module ``ulp_dut``), ``lanes`` copies side by side if asked;
* **monitor** (same module): samples the outputs just before each rising edge and checks
  ``valid_out`` against the latency;
* vector transport: three small DPI-C functions (:func:`bench_cpp`) copy rows of vectors out
  of the memory-mapped input file and results into the memory-mapped output file (the C++
  engine's file format), so nothing is parsed or formatted per cycle;
* **cocotb test** :func:`ulpflow_bulk` (Python, in the simulator): starts the clock (unless the
  bench makes its own), raises ``start``, awaits ``done``, turns a protocol error of the monitor
  into a test failure, and runs the **scoreboard**: with expected codes,
  :func:`ulpflow.sim.compare.compare_outputs` against them, failing the test with
  :class:`~ulpflow.sim.compare.RTLMismatch` naming the first failing vector decoded.

No Python runs per cycle, and the model is built without ``--public-flat-rw`` (only the bench's
ports are visible to cocotb), so the unit's logic is evaluated once per cycle instead of at
every VPI time step. The cocotb test is an ordinary one: results.xml records pass/fail, and the
runner raises :class:`~ulpflow.sim.runner.SimulationError` with the failure's message.

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

__all__ = [
    "BENCH_MODULE",
    "CLOCK_SOURCES",
    "FAST_START_ENV",
    "MAX_LANES",
    "bench_build_args",
    "bench_cpp",
    "bench_verilog",
    "check_lanes",
    "read_results",
    "read_vectors",
    "scoreboard",
    "ulpflow_bulk",
    "write_vectors",
]

BENCH_MODULE = "ulpflow_bench"
CLOCK_SOURCES = ("verilog", "cocotb")
_JOB_ENV = "ULPFLOW_BULK_JOB"
#: Environment for a quick start of the simulator's Python: cocotb otherwise installs pytest's
#: assertion rewriting for every module imported after it (NumPy included), which costs a large
#: part of a second; the bench's failures carry explicit messages and need no rewriting.
FAST_START_ENV = {"COCOTB_REWRITE_ASSERTION_FILES": ""}
_HALF_PERIOD = 5  # in the bench's time unit (ns); only the ratio to cocotb's clock matters

# Status codes the bench reports on its ``status`` port.
_OK, _BAD_VALID, _TIMEOUT, _BAD_COUNT, _NO_FILE, _NO_PLUSARGS = range(6)
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
    return _BENCH_TEMPLATE.format(
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
    return _DPI_TEMPLATE.format(in_words=in_words, out_words=out_words, lanes=check_lanes(lanes))


def check_lanes(lanes) -> int:
    if isinstance(lanes, bool) or not isinstance(lanes, (int, np.integer)) or not 1 <= lanes <= MAX_LANES:
        raise ValueError(f"lanes must be an int from 1 to {MAX_LANES}, got {lanes!r}")
    return int(lanes)


_STATUS_NAMES = {
    "ok": _OK,
    "bad_valid": _BAD_VALID,
    "timeout": _TIMEOUT,
    "bad_count": _BAD_COUNT,
    "no_file": _NO_FILE,
    "no_plusargs": _NO_PLUSARGS,
}

# Lane k of the bench receives vectors k, k + K, k + 2K, ... (K = LANES), one per cycle; the DPI
# side stores each lane's results at those indices, so the output file is in vector order
# whatever the lanes do. Everything the units see changes with non-blocking assignments, so their
# own registers sample the values from before the edge; the monitor's bookkeeping is blocking
# because it reads its own updates within the cycle.
_BENCH_TEMPLATE = """// Generated by ulpflow.sim.cocotb_bulk: driver and monitor of a cocotb bulk test.
// Only the ports are visible to cocotb (the model is built without --public-flat-rw).
module {module}(
  {clk_port}
  input start /*verilator public_flat_rw*/,
  output reg done /*verilator public_flat_rd*/,
  output reg [2:0] status /*verilator public_flat_rd*/,
  output reg [63:0] err_cycle /*verilator public_flat_rd*/,
  output reg [31:0] err_lane /*verilator public_flat_rd*/,
  output reg err_take /*verilator public_flat_rd*/,
  output reg [63:0] n_out /*verilator public_flat_rd*/
);
  localparam int IW = {iw}, OW = {ow}, K = {lanes}, HAS_VOUT = {has_vout};

  // vector transport (ulpflow_bench_dpi.cpp): memory-mapped input and output files
  import "DPI-C" function int ulp_open(input string in_path, input string out_path, input longint n);
  import "DPI-C" function void ulp_row(input longint row, output bit [K*IW-1:0] vectors);
  import "DPI-C" function void ulp_put(input int lane, input bit [OW-1:0] result);
  import "DPI-C" function int ulp_close();
{clk_gen}
  reg [63:0] n, max_cycles, cyc, row, lat;
  reg has_lat, running;
  reg [1:0] reset_edges;
  reg [K*IW-1:0] vec, nxt;
  string in_name, out_name;
  wire [K-1:0] valid_in, valid_out;
  wire [OW-1:0] vout [K];

  genvar j;
  generate
    for (j = 0; j < K; j = j + 1) begin : lane
      assign valid_in[j] = running && (row * K + j < n);
      {harness} h(.clk(clk), .rst(!running), .valid_in(valid_in[j]), .vin(vec[j*IW +: IW]),
                  .valid_out(valid_out[j]), .vout(vout[j]));
    end
  endgenerate

  initial begin
    done = 1'b0; status = {ok}; err_cycle = 64'd0; err_lane = 32'd0; err_take = 1'b0; n_out = 64'd0;
    running = 1'b0; reset_edges = 2'd0; cyc = 64'd0; row = 64'd0; vec = '0;
    lat = 64'd0; n = 64'd0; max_cycles = 64'd0;
    has_lat = $value$plusargs("ulp_latency=%d", lat) != 0;
    if ($value$plusargs("ulp_n=%d", n) == 0 || $value$plusargs("ulp_timeout=%d", max_cycles) == 0
        || $value$plusargs("ulp_in=%s", in_name) == 0 || $value$plusargs("ulp_out=%s", out_name) == 0)
      status = {no_plusargs};
  end

  always @(posedge clk) begin : bench
    int k;
    reg take, want, bad, bad_take;
    int bad_lane;
    if (!running) begin
      if (start && !done) begin
        if (status != {ok}) begin
          done <= 1'b1;
        end else if (reset_edges == 2'd1) begin
          // the units have now seen two rising edges in reset: fetch the first row of vectors
          if (ulp_open(in_name, out_name, n) != 0) begin
            status <= {no_file}; done <= 1'b1;
          end else begin
            ulp_row(64'd0, nxt);
            vec <= nxt; running <= 1'b1;
          end
        end
        reset_edges <= 2'd1;
      end
    end else begin
      // monitor: what it reads here is what the units showed just before this edge
      bad = 1'b0; bad_take = 1'b0; bad_lane = 0;
      for (k = 0; k < K; k = k + 1) begin
        want = cyc >= lat && (cyc - lat) * K + k < n;
        take = HAS_VOUT ? valid_out[k] : want;
        if (HAS_VOUT && has_lat && take != want && !bad) begin
          bad = 1'b1; bad_take = take; bad_lane = k;
        end
        if (take && !bad) begin
          ulp_put(k, vout[k]);
          n_out = n_out + 64'd1;
        end
      end
      if (bad) begin
        status <= {bad_valid}; err_cycle <= cyc; err_lane <= bad_lane; err_take <= bad_take;
        void'(ulp_close()); running <= 1'b0; done <= 1'b1;
      end else if (n_out >= n) begin
        if (ulp_close() != 0) status <= {bad_count};
        running <= 1'b0; done <= 1'b1;
      end else if (cyc + 64'd1 > max_cycles) begin
        status <= {timeout}; err_cycle <= cyc + 64'd1;
        void'(ulp_close()); running <= 1'b0; done <= 1'b1;
      end else begin
        // driver: the next row of vectors
        if (row * K < n) begin
          row <= row + 64'd1;
          if ((row + 64'd1) * K < n) begin
            ulp_row(row + 64'd1, nxt);
            vec <= nxt;
          end
        end
        cyc <= cyc + 64'd1;
      end
    end
  end
endmodule
"""

# The input file holds n vectors of IN_WORDS little-endian 32-bit words (the C++ engine's
# format), the output file n results of OUT_WORDS words. Both are memory-mapped: a row is one
# memcpy, and nothing is formatted per cycle.
_DPI_TEMPLATE = r"""// Generated by ulpflow.sim.cocotb_bulk: vector transport of the bulk bench (DPI-C).
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "svdpi.h"
#include "Vtop__Dpi.h"

static const long long IN_WORDS = {in_words}, OUT_WORDS = {out_words}, LANES = {lanes};
static const uint32_t* g_in = nullptr;
static uint32_t* g_out = nullptr;
static size_t g_in_bytes = 0, g_out_bytes = 0;
static long long g_n = 0, g_extra = 0;
static long long g_count[LANES];

static void* map_file(const char* path, size_t bytes, bool write) {{
    int fd = write ? open(path, O_RDWR | O_CREAT | O_TRUNC, 0644) : open(path, O_RDONLY);
    if (fd < 0) return nullptr;
    struct stat st;
    if (write ? ftruncate(fd, (off_t)bytes) != 0 : (fstat(fd, &st) != 0 || (size_t)st.st_size != bytes)) {{
        close(fd);
        return nullptr;
    }}
    void* p = mmap(nullptr, bytes, write ? PROT_READ | PROT_WRITE : PROT_READ, write ? MAP_SHARED : MAP_PRIVATE, fd, 0);
    close(fd);
    return p == MAP_FAILED ? nullptr : p;
}}

int ulp_open(const char* in_path, const char* out_path, long long n) {{
    g_n = n;
    g_extra = 0;
    for (long long k = 0; k < LANES; ++k) g_count[k] = 0;
    g_in_bytes = (size_t)n * IN_WORDS * 4;
    g_out_bytes = (size_t)n * OUT_WORDS * 4;
    g_in = static_cast<const uint32_t*>(map_file(in_path, g_in_bytes, false));
    g_out = static_cast<uint32_t*>(map_file(out_path, g_out_bytes, true));
    if (g_in) madvise(const_cast<uint32_t*>(g_in), g_in_bytes, MADV_SEQUENTIAL);
    return g_in && g_out ? 0 : 1;
}}

void ulp_row(long long row, svBitVecVal* vectors) {{
    for (long long k = 0; k < LANES; ++k) {{
        long long i = row * LANES + k;
        if (i < g_n) std::memcpy(vectors + k * IN_WORDS, g_in + i * IN_WORDS, IN_WORDS * 4);
        else std::memset(vectors + k * IN_WORDS, 0, IN_WORDS * 4);
    }}
}}

void ulp_put(int lane, const svBitVecVal* result) {{
    long long i = g_count[lane]++ * LANES + lane;
    if (i < g_n) std::memcpy(g_out + i * OUT_WORDS, result, OUT_WORDS * 4);
    else ++g_extra;
}}

int ulp_close() {{
    if (g_in) munmap(const_cast<uint32_t*>(g_in), g_in_bytes);
    if (g_out) munmap(g_out, g_out_bytes);
    g_in = nullptr;
    g_out = nullptr;
    long long missing = 0;
    for (long long k = 0; k < LANES; ++k) {{
        long long due = g_n > k ? (g_n - k + LANES - 1) / LANES : 0;
        if (g_count[k] < due) missing += due - g_count[k];
    }}
    return g_extra || missing ? 1 : 0;
}}
"""


# ----------------------------------------------------------------------------------------------
# Host side: files of one run (the format of the C++ engine)


def write_vectors(path: Path, ports, in_words: int, bits: dict[str, np.ndarray], n: int, block: int = 1 << 20) -> None:
    """Write ``n`` packed input vectors: ``in_words`` little-endian 32-bit words each, a port
    of up to 32 bits in word ``offset``, a wider one in words ``offset`` (low) and ``offset + 1``."""
    with open(path, "wb") as handle:
        for lo in range(0, n, block):
            hi = min(n, lo + block)
            words = np.zeros((hi - lo, in_words), dtype="<u4")
            for p in ports:
                v = bits[p.name][lo:hi]
                words[:, p.offset] = (v & np.uint64(0xFFFFFFFF)).astype(np.uint32)
                if p.words == 2:
                    words[:, p.offset + 1] = (v >> np.uint64(32)).astype(np.uint32)
            words.tofile(handle)


def _unpack(words: np.ndarray, ports, dtype: bool) -> dict[str, np.ndarray]:
    out = {}
    for p in ports:
        v = words[:, p.offset].astype(np.uint64)
        if p.words == 2:
            v |= words[:, p.offset + 1].astype(np.uint64) << np.uint64(32)
        v &= np.uint64((1 << p.width) - 1)
        out[p.name] = v.astype(p.dtype) if dtype else v
    return out


def read_vectors(path: Path, ports, in_words: int) -> dict[str, np.ndarray]:
    """Inverse of :func:`write_vectors`: each port's codes as uint64."""
    return _unpack(np.fromfile(path, dtype="<u4").reshape(-1, in_words), ports, False)


def read_results(path: Path, ports, out_words: int, n: int | None = None) -> dict[str, np.ndarray]:
    """Output codes per port (smallest unsigned dtype) from a results file of the same layout."""
    words = np.fromfile(path, dtype="<u4")
    if n is not None and words.size != n * out_words:
        from .runner import SimulationError

        raise SimulationError(f"the results file holds {words.size // max(out_words, 1)} results, expected {n}")
    return _unpack(words.reshape(-1, out_words), ports, True)


def port_table(ports) -> list[dict]:
    """JSON form of a port list (for the job file)."""
    return [{"name": p.name, "width": p.width, "signed": p.signed, "offset": p.offset} for p in ports]


def ports_from_table(table):
    from .simulate import Port

    return [Port(d["name"], d["width"], d["signed"], d["offset"]) for d in table]


def save_expected(folder: Path, expected, formats) -> dict:
    """Write expected codes (npz) and format names for the scoreboard; return the job entries."""
    np.savez(folder / "expected.npz", **{k: np.ascontiguousarray(v) for k, v in expected.items()})
    names = None if formats is None else {k: str(f) for k, f in formats.items()}
    return {"expected_file": str(folder / "expected.npz"), "formats": names}


def load_expected(job):
    """The scoreboard's expected codes and formats, or ``(None, None)``."""
    if not job.get("expected_file"):
        return None, None
    from ulpflow.golden import parse_format

    with np.load(job["expected_file"]) as data:
        expected = {k: data[k] for k in data.files}
    names = job.get("formats")
    formats = None if names is None else {k: parse_format(v) for k, v in names.items()}
    return expected, formats


def scoreboard(job, inputs, got) -> None:
    """Compare the monitor's results with the expected codes; raise RTLMismatch if any differ."""
    expected, formats = load_expected(job)
    if expected is None:
        return
    from .compare import assert_outputs_match

    widths = {d["name"]: (d["width"], d["signed"]) for d in job["in_ports"] + job["out_ports"]}
    assert_outputs_match(inputs, got, expected, formats, name=job["name"], widths=widths)


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

        job = json.loads(Path(os.environ[_JOB_ENV]).read_text())
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
