"""Network simulation cost: the bulk path against the per-cycle path, and builds against size.

Usage::

    python bench/sim_networks.py                 # throughput + builds of 10 and 100 neurons
    python bench/sim_networks.py --sizes 10,100,1000 --json
    python bench/sim_networks.py --fault         # self-test: a faulty network must be caught

Part 1, throughput (one pipelined spatial e4m3 network, 2 -> 8 -> 8 -> 2, ReLU, pairwise and
random trees, the same run): vectors/s of the per-cycle cocotb path (``engine="cocotb-cycle"``,
Python drives every cycle; the baseline) and of the bulk paths (``engine="verilator"``, the C++
harness, and ``engine="cocotb"``, the bulk cocotb bench), each over seeded random input vectors
(the per-cycle path over the first ``--percycle-n`` of them). Every run is also a test: the
outputs are compared with the golden network (``net(x)``), and the bench stops on a mismatch.
The line ``bulk path: N vectors/s`` gives the C++ rate; the ratio column is each rate over the
per-cycle rate.

Part 2, size: networks of about 10, 100 and 1,000 neurons (e4m3, ReLU, pairwise trees; layers
of width 5, 10 and 25 with fan-in equal to the width) in both forms: Verilog lines, the
Verilator build time (a fresh build cache per design) and the run rate over 10^4 vectors.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from ulpflow.golden import Layer, Network, Tree, parse_format
from ulpflow.golden.activations import get_activation
from ulpflow.hdl.network import Fault
from ulpflow.sim import VerilatorRunner
from ulpflow.sim.network import SPLIT_ARGS, NetworkSimulator

E4M3 = parse_format("e4m3")


def make_network(widths, seed=0, *, trees="pairwise"):
    """An e4m3 network with layer widths ``widths`` (inputs first), weights in [-1, 1]."""
    rng = np.random.default_rng(seed)
    relu = get_activation("relu", E4M3)
    layers = []
    for k, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        if trees == "pairwise":
            tree = Tree.pairwise(n_in + 1)
        else:
            tree = [Tree.random(n_in + 1, 100 * k + j) for j in range(n_out)]
        layers.append(Layer(E4M3.encode(rng.uniform(-1, 1, size=(n_out, n_in))),
                            E4M3.encode(rng.uniform(-1, 1, size=n_out)), weight_format=E4M3,
                            acc_format=E4M3, activation=relu, tree=tree))
    return Network(E4M3, layers)


def timed_run(sim, x, faults_expected=False):
    start = time.perf_counter()
    y = sim.run(x)
    seconds = time.perf_counter() - start
    ok = bool((y == sim.net(x, strict=False)).all())
    if ok == faults_expected:
        raise SystemExit(f"{sim.top!r} on {sim.engine}: outputs {'match' if ok else 'differ from'} golden"
                         + (" although a fault was injected" if faults_expected else ""))
    return seconds


def throughput(args, console, rows):
    net = make_network([2, 8, 8, 2], seed=1, trees="random")
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, size=(args.n, 2)).astype(np.uint8)
    faults = [Fault.weight(1, 3, 2, int(net.layers[1].weights[3, 2]) ^ 0x10)] if args.fault else []
    result = {}
    for label, engine, n in (("per-cycle (cocotb-cycle)", "cocotb-cycle", args.percycle_n),
                             ("bulk (cocotb bench)", "cocotb", args.n),
                             ("bulk (C++, engine=verilator)", "verilator", args.n)):
        sim = NetworkSimulator(net, form="spatial", engine=engine, _faults=faults)
        sim.build()
        sim.run(x[:16])  # start-up once, outside the timing
        best = min(timed_run(sim, x[:n], bool(faults)) for _ in range(args.repeat))
        result[engine] = n / best
        rows.append({"part": "throughput", "path": label, "engine": engine, "vectors": n,
                     "seconds": round(best, 4), "vectors_per_s": round(n / best)})
    base = result["cocotb-cycle"]
    t = Table(title=f"{net!r}, spatial, pipelined: simulation throughput")
    for c in ("path", "vectors", "seconds", "vectors/s", "x per-cycle"):
        t.add_column(c, justify="left" if c == "path" else "right")
    for r in rows:
        t.add_row(r["path"], f"{r['vectors']:,}", f"{r['seconds']:.3f}", f"{r['vectors_per_s']:,}",
                  f"{r['vectors_per_s'] / base:.1f}")
        r["ratio_to_per_cycle"] = round(r["vectors_per_s"] / base, 2)
    if not args.json:
        console.print(t)
    print(f"bulk path: {result['verilator']:,.0f} vectors/s")


SIZES = {10: [5, 5, 5], 100: [10] * 11, 1000: [25] * 41}


def sizes(args, console, rows):
    t = Table(title="build cost against network size (e4m3, ReLU, pairwise trees)")
    for c in ("neurons", "layers", "form", "Verilog lines", "build s", "run vectors/s"):
        t.add_column(c, justify="right")
    for size in args.sizes:
        widths = SIZES[size]
        net = make_network(widths, seed=size)
        neurons = sum(widths[1:])
        x = np.random.default_rng(3).integers(0, 256, size=(10_000, widths[0])).astype(np.uint8)
        for form in ("spatial", "folded"):
            with tempfile.TemporaryDirectory() as cache:
                sim = NetworkSimulator(net, form=form, runner=VerilatorRunner(cache=cache, build_args=SPLIT_ARGS))
                lines = sim.verilog.count("\n")
                start = time.perf_counter()
                sim.build()
                build = time.perf_counter() - start
                seconds = timed_run(sim, x)
            row = {"part": "size", "neurons": neurons, "layers": len(widths) - 1, "form": form,
                   "verilog_lines": lines, "build_s": round(build, 1),
                   "vectors_per_s": round(len(x) / seconds)}
            rows.append(row)
            t.add_row(str(neurons), str(row["layers"]), form, f"{lines:,}", f"{build:.1f}",
                      f"{row['vectors_per_s']:,}")
            if not args.json:
                console.print(f"  {neurons} neurons, {form}: {lines:,} lines, build {build:.1f} s")
    if not args.json:
        console.print(t)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=2_000_000, help="vectors of the bulk runs")
    p.add_argument("--percycle-n", type=int, default=20_000, help="vectors of the per-cycle run")
    p.add_argument("--repeat", type=int, default=2, help="best of this many runs")
    p.add_argument("--sizes", default="10,100", help="network sizes of part 2 (10, 100, 1000)")
    p.add_argument("--skip-sizes", action="store_true", help="part 1 only")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.add_argument("--fault", action="store_true",
                   help="self-test: inject a wrong weight; the bench must report the mismatch")
    args = p.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    unknown = [s for s in args.sizes if s not in SIZES]
    if unknown:
        p.error(f"--sizes: {unknown} not among {sorted(SIZES)}")
    console = Console(width=140)
    rows = []
    if args.fault:
        args.n, args.percycle_n, args.repeat = 20_000, 2_000, 1
        throughput(args, console, rows)
        print("fault self-test: every path reported the injected weight fault")
        return 0
    throughput(args, console, rows)
    if not args.skip_sizes:
        sizes(args, console, rows)
    if args.json:
        print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
