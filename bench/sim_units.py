"""Simulation cost of a float adder in every engine of ulpflow.sim, measured in one run (issue 4).

Usage::

    python bench/sim_units.py                    # e4m3 exhaustive + fp32 10**6 random
    python bench/sim_units.py --fp32-n 200000 --percycle-n 4000 --skip-cold

For ``ulpflow.hdl.FloatAdder`` in e4m3 (all 65,536 operand pairs) and fp32 (seeded random
pairs from ``ulpflow.sim.vectors.random``), and for each engine:

* Verilog generation time (Amaranth -> Verilog, once per unit);
* Verilator build time, cold (a fresh temporary build cache, so Verilator's run-time objects
  are compiled too) and cached (the same design again: a lookup);
* the run: wall time of one ``UnitSimulator.run`` call with the golden twin's codes
  (``FloatAdder.emulate``) as ``expected``
  (simulator start-up and the scoreboard included; best of ``--repeat``), and vectors/s from
  it; the same call with one vector gives the start-up, and the rate after start-up.

The per-cycle cocotb engine is the baseline of the ratio column; it runs fewer vectors (the
first ``--percycle-n`` of the same sweep) because at ~50k vectors/s the full sweeps would take
minutes. Every run is also a test: the scoreboard compares with the golden model, and the
"check" column compares the hardware's codes with an independent oracle (NumPy float32 add for
fp32, ml_dtypes float8_e4m3 add for e4m3; NaN by class), so a wrong unit fails the bench.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

import ml_dtypes
import numpy as np
from rich.console import Console
from rich.table import Table

from ulpflow.golden import parse_format
from ulpflow.hdl import FloatAdder
from ulpflow.sim import UnitSimulator, VerilatorRunner, compare_codes
from ulpflow.sim import coverage as C
from ulpflow.sim import vectors as V

# label, UnitSimulator keywords
ENGINES = [
    ("cocotb bulk", {"engine": "cocotb"}),
    ("cocotb bulk, 8 lanes", {"engine": "cocotb", "lanes": 8}),
    ("cocotb bulk, cocotb Clock", {"engine": "cocotb", "bench_clock": "cocotb"}),
    ("C++ (engine=verilator)", {"engine": "verilator"}),
    ("cocotb per-cycle", {"engine": "cocotb-cycle"}),
]
BASELINE = "cocotb per-cycle"


def oracle(name, a, b):
    """Independent sums (codes) for the check column."""
    if name == "fp32":
        with np.errstate(all="ignore"):
            return (a.view(np.float32) + b.view(np.float32)).view(np.uint32)
    e4m3 = ml_dtypes.float8_e4m3
    # ml_dtypes adds through float32 and rounds once into float8 (exact for e4m3 sums: no double rounding)
    return (a.view(e4m3).astype(np.float32) + b.view(e4m3).astype(np.float32)).astype(e4m3).view(np.uint8)


def measure(name, a, b, args, console):
    fmt = parse_format(name)
    twin = FloatAdder(fmt)
    expected = twin.emulate(a=a, b=b)["result"]  # the unit's golden twin
    reference = oracle(name, a, b)
    rows = []
    for k, (label, kwargs) in enumerate(ENGINES):
        # a fresh cache per engine: every cold build pays for Verilator's run-time objects
        with tempfile.TemporaryDirectory(prefix="ulpflow-bench-") as tmp:
            runner = VerilatorRunner(cache=tmp) if not args.skip_cold else VerilatorRunner()
            n = min(args.percycle_n, len(a)) if label == BASELINE else len(a)
            sim = UnitSimulator(twin if k == 0 else FloatAdder(fmt), runner=runner, **kwargs)
            sim.verilog  # noqa: B018 - times the conversion on its own
            convert = sim.timings["convert"]
            cold = sim.build()
            again = UnitSimulator(FloatAdder(fmt), runner=runner, **kwargs).build()
            assert again.cached, f"{label}: the second build of the same design was not a cache hit"
            run = startup = float("inf")
            for _ in range(args.repeat):
                start = time.perf_counter()
                out = sim.run({"a": a[:n], "b": b[:n]}, expected={"result": expected[:n]})
                run = min(run, time.perf_counter() - start)
                start = time.perf_counter()
                sim.run({"a": a[:1], "b": b[:1]}, expected={"result": expected[:1]})
                startup = min(startup, time.perf_counter() - start)
            check = compare_codes(out["result"], reference[:n], fmt)
            rows.append({
                "unit": f"FloatAdder({name})",
                "engine": label,
                "n": n,
                "convert": convert,
                "cold": None if args.skip_cold else cold.seconds,
                "cached": again.seconds,
                "run": run,
                "startup": startup,
                "rate": n / run,
                # too close to the start-up to say anything: left out
                "marginal": n / (run - startup) if run > 1.5 * startup else None,
                "check": "ok" if check.ok else f"{check.count} differ",
            })
            console.print(f"  {name} {label}: {n} vectors in {run:.2f} s", highlight=False)
    cov = C.coverage(a, b, fmt, "add")
    console.print(f"  coverage {name}: {C.format_coverage(cov)}", highlight=False)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fp32-n", type=int, default=1_000_000, help="random fp32 vectors (default 10**6)")
    parser.add_argument("--percycle-n", type=int, default=16_384, help="vectors for the per-cycle baseline")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--repeat", type=int, default=3, help="runs per engine; the fastest counts")
    parser.add_argument("--skip-cold", action="store_true", help="use the normal build cache (no cold builds)")
    parser.add_argument("--skip-fp32", action="store_true")
    args = parser.parse_args(argv)
    console = Console(width=max(200, Console().width))

    rows = []
    e4m3 = parse_format("e4m3")
    console.print("measuring e4m3 (exhaustive) ...")
    rows += measure("e4m3", *V.exhaustive(e4m3), args, console)
    if not args.skip_fp32:
        console.print(f"measuring fp32 ({args.fp32_n} random) ...")
        rows += measure("fp32", *V.random(parse_format("fp32"), args.fp32_n, args.seed), args, console)

    table = Table(title="ulpflow.sim engines on FloatAdder (one run, one machine)")
    for col in ("unit", "engine", "vectors", "Verilog gen s", "build cold s", "build cached s",
                "run s", "vectors/s", f"x {BASELINE}", "1-vector run s", "vectors/s after start-up", "check"):
        table.add_column(col, justify="left" if col in ("unit", "engine", "check") else "right",
                         no_wrap=col in ("unit", "engine"))
    for unit in dict.fromkeys(r["unit"] for r in rows):
        group = [r for r in rows if r["unit"] == unit]
        base = next(r["rate"] for r in group if r["engine"] == BASELINE)
        for r in group:
            table.add_row(
                r["unit"], r["engine"], f"{r['n']:,}", f"{r['convert']:.2f}",
                "-" if r["cold"] is None else f"{r['cold']:.1f}", f"{r['cached'] * 1e3:.1f} ms",
                f"{r['run']:.2f}", f"{r['rate']:,.0f}", f"{r['rate'] / base:.1f}",
                f"{r['startup']:.2f}", "-" if r["marginal"] is None else f"{r['marginal']:,.0f}", r["check"],
            )  # fmt: skip
    console.print(table)
    console.print(
        f"run = one UnitSimulator.run call with golden expected codes (start-up and scoreboard included), "
        f"best of {args.repeat}; '1-vector run' is the same call with one vector (start-up); "
        f"'after start-up' = vectors / (run - 1-vector run), shown when the run is 1.5x the start-up or "
        f"longer. {BASELINE} runs only the first "
        f"{args.percycle_n:,} vectors of each sweep. Cold builds use a fresh cache per engine, so they "
        "include compiling Verilator's run-time objects.",
        highlight=False,
    )
    failed = [r for r in rows if r["check"] != "ok"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
