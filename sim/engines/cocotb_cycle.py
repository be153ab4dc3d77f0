"""The per-cycle cocotb engine (``engine="cocotb-cycle"``): Python drives the unit every cycle.

The unit itself is the cocotb top level; the coroutine :func:`ulpflow_percycle` drives every
input port and samples every output port from Python each cycle (~40k vectors/s). It exercises
the unit's own ports the way a protocol test does. A stream payload is driven and read as the
one Verilog port it is (``i__payload``), its fields packed at their bit offsets. The scoreboard
is the bulk engine's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..packing import job_table
from .cocotb_bulk import FAST_START_ENV, scoreboard
from .harness import DUT_MODULE, Design

__all__ = ["CocotbCycleEngine", "JOB_ENV", "ulpflow_percycle"]

#: Environment variable naming the job file of a run.
JOB_ENV = "ULPFLOW_PERCYCLE_JOB"


def _carriers(table) -> dict[str, list[list]]:
    return {verilog: [[p.name, p.bit] for p in carried] for verilog, (_w, carried) in table.items()}


class CocotbCycleEngine:
    """Builds the unit alone as a cocotb top level and drives it cycle by cycle."""

    name = "cocotb-cycle"

    def __init__(self, design: Design):
        self.design = design

    def build(self, runner):
        return runner.build({"ulp_dut.v": self.design.verilog}, DUT_MODULE, kind="cocotb")

    def run(self, runner, build, *, n, bits, latency, timeout, expected=None, formats=None, exact=False):
        d, ports = self.design, self.design.ports
        with runner.run_dir() as folder:
            job = job_table(ports, folder, n=n, latency=latency, timeout=timeout, name=d.name,
                            has_clock=d.has_clock, expected=expected, formats=formats, exact=exact)
            job |= {
                "ready_in": ports.ready_in,
                "ready_out": ports.ready_out,
                "clock": d.clock if d.has_clock else None,
                "reset": d.reset if d.has_reset else None,
                "valid_in": list(ports.valid_in),
                "valid_out": ports.valid_out,
                "drive": _carriers(ports.verilog_in),
                "sample": _carriers(ports.verilog_out),
                "inputs": [p.name for p in ports.inputs],
                "outputs": [p.name for p in ports.outputs],
                "in_file": str(folder / "in.npz"),
                "out_file": str(folder / "out.npz"),
            }
            np.savez(folder / "in.npz", **{k: np.ascontiguousarray(v) for k, v in bits.items()})
            (folder / "job.json").write_text(json.dumps(job))
            runner.test(
                build,
                __name__,
                testcase="ulpflow_percycle",
                extra_env={JOB_ENV: str(folder / "job.json"), **FAST_START_ENV},
                test_dir=folder,
            )
            with np.load(folder / "out.npz") as data:
                return {p.name: data[p.name].astype(p.dtype) for p in ports.outputs}


def _pack(vectors, fields, n) -> list[int]:
    """Per vector, the value of one Verilog port carrying ``fields`` (Python ints: any width)."""
    words = [0] * n
    for name, bit in fields:
        for i, v in enumerate(vectors[name]):
            words[i] |= v << bit
    return words


# ------------------------------------------------------------------------------------------
# The coroutine runs inside the simulator (cocotb imports this module there).

try:
    import cocotb as _cocotb
except ImportError:  # pragma: no cover - cocotb is a hard dependency; keep import errors local
    _cocotb = None

if _cocotb is not None:

    @_cocotb.test()
    async def ulpflow_percycle(dut):  # noqa: D103 - driven by UnitSimulator(engine="cocotb-cycle")
        from cocotb.clock import Clock
        from cocotb.triggers import FallingEdge, RisingEdge, Timer

        job = json.loads(Path(os.environ[JOB_ENV]).read_text())
        n, latency = job["n"], job["latency"]
        widths = {d["name"]: d["width"] for d in job["out_ports"]}
        with np.load(job["in_file"]) as data:
            vectors = {name: data[name].tolist() for name in job["inputs"]}
        drive = [(getattr(dut, port), _pack(vectors, fields, n)) for port, fields in job["drive"].items()]
        sample = [(getattr(dut, port), fields) for port, fields in job["sample"].items()]
        results: dict[str, list[int]] = {name: [] for name in job["outputs"]}
        count = [0]
        valid_in = [getattr(dut, name) for name in job["valid_in"]]
        valid_out = getattr(dut, job["valid_out"]) if job["valid_out"] else None
        ready_in = getattr(dut, job["ready_in"]) if job.get("ready_in") else None
        if job.get("ready_out"):
            getattr(dut, job["ready_out"]).value = 1  # the sink always takes

        def set_valid(value):
            for handle in valid_in:
                handle.value = value

        def take_outputs():
            for handle, fields in sample:
                word = int(handle.value)
                for name, bit in fields:
                    results[name].append((word >> bit) & ((1 << widths[name]) - 1))
            count[0] += 1

        if job["clock"] is None:
            for i in range(n):
                for handle, values in drive:
                    handle.value = values[i]
                set_valid(1)
                await Timer(1, "ns")
                assert valid_out is None or int(valid_out.value) == 1, (
                    f"valid_out is low for vector {i} of a combinational unit"
                )
                take_outputs()
        else:
            clk = getattr(dut, job["clock"])
            Clock(clk, 10, unit="ns").start()
            set_valid(0)
            if job["reset"] is not None:
                rst = getattr(dut, job["reset"])
                rst.value = 1
                await RisingEdge(clk)
                await RisingEdge(clk)
                rst.value = 0
            else:
                await RisingEdge(clk)
            cyc = i_in = 0
            while count[0] < n:
                if i_in < n:
                    for handle, values in drive:
                        handle.value = values[i_in]
                    set_valid(1)
                else:
                    set_valid(0)
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
                accepted = i_in < n and (ready_in is None or bool(int(ready_in.value)))
                await RisingEdge(clk)
                if accepted:
                    i_in += 1
                cyc += 1
                assert cyc <= job["timeout"] or count[0] >= n, (
                    f"only {count[0]} of {n} results after {cyc} cycles "
                    "(timeout; does valid_out ever rise?)"
                )
        got = {name: np.array(column, dtype=np.uint64) for name, column in results.items()}
        np.savez(job["out_file"], **got)
        # scoreboard, shared with the bulk engine
        scoreboard(job, {k: np.asarray(v, dtype=np.uint64) for k, v in vectors.items()}, got)
