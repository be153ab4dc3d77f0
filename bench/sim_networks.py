"""Network simulation cost: the bulk path against the per-cycle path, and builds against size.

Usage::

    python bench/sim_networks.py                 # throughput + builds of 10 and 100 neurons
    python bench/sim_networks.py --sizes 10,100,1000 --json
    python bench/sim_networks.py --fault         # self-test: a faulty network must be caught

Part 1, throughput (pipelined spatial e4m3 networks, ReLU, random trees, one run): vectors/s of
the per-cycle cocotb path (``engine="cocotb-cycle"``, Python drives every cycle; the baseline)
and of the bulk paths (``engine="verilator"``, the C++ harness, and ``engine="cocotb"``, the
bulk cocotb bench) on the same network, over seeded random input vectors (the per-cycle path
over the first ``--percycle-n`` of them), for networks of growing size (``--throughput-nets``,
default 2-4-1 and 2-8-8-2). Every run is also a test: the outputs are compared with the golden
network (``net(x)``), and the bench stops on a mismatch. A line ``bulk path: N vectors/s`` per
network gives the C++ rate; the ratio column is each rate over the per-cycle rate. A bulk rate
falls with the network's size (Verilator evaluates every unit every cycle); the per-cycle rate
hardly does (Python's cost per cycle dominates).

Part 2, size: dense networks of about 10, 100 and 1,000 neurons (e4m3, ReLU, pairwise trees;
layers of width 5, 10 and 25 with fan-in equal to the width) in both forms, and the constructed
C1 network on q3.3s (1,009 neurons, 1,890 nonzero weights of 112,000) in both forms: Verilog
lines, cells (distinct units of the spatial form), Verilog conversion and Verilator build times
(a fresh build cache per design; ``--cxx-opt`` sets the model's C++ optimisation level) and the
run rate over 10^4 vectors (fewer for a folded network: about 2·10^7 cycles). The dense
1,000-neuron network is 25,000 multipliers unrolled; its spatial form is built only with
``--dense-spatial-1000``.
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
from ulpflow.sim.runner import CXX_OPT_LEVELS
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
    t = Table(title="spatial, pipelined: simulation throughput (same network per group of rows)")
    for c in ("network", "units", "path", "vectors", "seconds", "vectors/s", "x per-cycle"):
        t.add_column(c, justify="left" if c in ("network", "path") else "right")
    bulk_lines = []
    for widths in args.throughput_nets:
        net = make_network(widths, seed=1, trees="random")
        units = sum(l.n_out * l.n_in + sum(tr.n_nodes for tr in l.trees) + l.n_out for l in net.layers)
        rng = np.random.default_rng(2)
        x = rng.integers(0, 256, size=(args.n, widths[0])).astype(np.uint8)
        faults = [Fault.weight(1, 0, 0, int(net.layers[1].weights[0, 0]) ^ 0x10)] if args.fault else []
        result, group = {}, []
        for label, engine, n in (("per-cycle (cocotb-cycle)", "cocotb-cycle", args.percycle_n),
                                 ("bulk (cocotb bench)", "cocotb", args.n),
                                 ("bulk (C++, engine=verilator)", "verilator", args.n)):
            sim = NetworkSimulator(net, form="spatial", engine=engine, _faults=faults)
            sim.build()
            sim.run(x[:16])  # start-up once, outside the timing
            best = min(timed_run(sim, x[:n], bool(faults)) for _ in range(args.repeat))
            result[engine] = n / best
            group.append({"part": "throughput", "network": "-".join(map(str, widths)), "units": units,
                          "path": label, "engine": engine, "vectors": n, "seconds": round(best, 4),
                          "vectors_per_s": round(n / best)})
        base = result["cocotb-cycle"]
        for r in group:
            r["ratio_to_per_cycle"] = round(r["vectors_per_s"] / base, 2)
            t.add_row(r["network"], str(units), r["path"], f"{r['vectors']:,}", f"{r['seconds']:.3f}",
                      f"{r['vectors_per_s']:,}", f"{r['ratio_to_per_cycle']:.1f}")
        rows.extend(group)
        bulk_lines.append(f"bulk path: {result['verilator']:,.0f} vectors/s "
                          f"({net!r}, {units} units; {result['verilator'] / base:.1f}x the per-cycle path)")
    if not args.json:
        console.print(t)
    for line in bulk_lines:
        print(line)


SIZES = {10: [5, 5, 5], 100: [10] * 11, 1000: [25] * 41}


def _c1_network():
    """The constructed C1 network on q3.3s for the random target 1 (1,009 neurons)."""
    from ulpflow.nets.driver import RunOptions, construct

    construction, _target, _domain = construct(RunOptions("c1", "q3.3s", "random:1"))
    return construction.network


def _size_cases(args):
    """``(label, net, forms, input codes)`` of part 2."""
    for size in args.sizes:
        if size == "c1":
            net = _c1_network()
            codes = net.in_format.all_codes()
            codes = codes[net.in_format.is_finite(codes)]
            x = np.random.default_rng(3).choice(codes, size=(10_000, 1))
            yield "C1 q3.3s", net, args.forms, x
            continue
        widths = SIZES[size]
        net = make_network(widths, seed=size)
        forms = [f for f in args.forms if not (size == 1000 and f == "spatial" and not args.dense_spatial_1000)]
        x = np.random.default_rng(3).integers(0, 256, size=(10_000, widths[0])).astype(np.uint8)
        yield f"dense e4m3 {'-'.join(map(str, widths[:2]))}x{len(widths) - 1}", net, forms, x


def sizes(args, console, rows):
    t = Table(title="build cost against network size (fresh build cache per design)")
    for c in ("network", "neurons", "nonzero weights", "form", "Verilog lines", "cells", "convert s",
              "build s", "run vectors/s"):
        t.add_column(c, justify="left" if c in ("network", "form") else "right")
    for label, net, forms, x in _size_cases(args):
        neurons = sum(layer.n_out for layer in net.layers)
        nonzero = sum(int((~np.asarray(layer.weight_format.is_zero(layer.weights))).sum()) for layer in net.layers)
        for form in forms:
            with tempfile.TemporaryDirectory() as cache:
                runner = VerilatorRunner(cache=cache, build_args=SPLIT_ARGS, cxx_opt=args.cxx_opt)
                sim = NetworkSimulator(net, form=form, runner=runner)
                start = time.perf_counter()
                lines = sim.verilog.count("\n")
                convert = time.perf_counter() - start
                start = time.perf_counter()
                sim.build()
                build = time.perf_counter() - start
                # a folded layer takes a cycle per tree step: keep a run to ~2e7 cycles
                n = max(100, min(len(x), 20_000_000 // sim.top.cycles_per_vector))
                seconds = timed_run(sim, x[:n])
            cells = len(sim.top.cell_library) if sim.top.cell_library is not None else None
            row = {"part": "size", "network": label, "neurons": neurons, "nonzero_weights": nonzero,
                   "layers": len(net.layers), "form": form, "verilog_lines": lines, "cells": cells,
                   "convert_s": round(convert, 1), "build_s": round(build, 1), "cxx_opt": args.cxx_opt,
                   "vectors": n, "vectors_per_s": round(n / seconds)}
            rows.append(row)
            t.add_row(label, str(neurons), f"{nonzero:,}", form, f"{lines:,}", "-" if cells is None else str(cells),
                      f"{convert:.1f}", f"{build:.1f}", f"{row['vectors_per_s']:,}")
            if not args.json:
                console.print(f"  {label} ({neurons} neurons), {form}: {lines:,} lines, convert {convert:.1f} s, "
                              f"build {build:.1f} s")
    if not args.json:
        console.print(t)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=2_000_000, help="vectors of the bulk runs")
    p.add_argument("--percycle-n", type=int, default=20_000, help="vectors of the per-cycle run")
    p.add_argument("--repeat", type=int, default=2, help="best of this many runs")
    p.add_argument("--throughput-nets", default="2-4-1,2-8-8-2",
                   help="layer widths of the part-1 networks, e.g. 2-4-1,2-8-8-2")
    p.add_argument("--sizes", default="10,100,1000,c1",
                   help="networks of part 2: dense 10, 100, 1000 neurons and/or c1 (the constructed C1)")
    p.add_argument("--forms", default="spatial,folded", help="forms of part 2 (default both)")
    p.add_argument("--dense-spatial-1000", action="store_true",
                   help="also build the dense 1,000-neuron network spatially (25,000 multipliers)")
    p.add_argument("--cxx-opt", choices=[o.lstrip("-") for o in CXX_OPT_LEVELS], default=None,
                   help="C++ optimisation level of the part-2 models, e.g. O0 (default: Verilator's Os)")
    p.add_argument("--skip-sizes", action="store_true", help="part 1 only")
    p.add_argument("--skip-throughput", action="store_true", help="part 2 only")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.add_argument("--fault", action="store_true",
                   help="self-test: inject a wrong weight; the bench must report the mismatch")
    args = p.parse_args(argv)
    args.cxx_opt = None if args.cxx_opt is None else "-" + args.cxx_opt
    args.sizes = [s if s == "c1" else int(s) if s.isdigit() else s for s in args.sizes.split(",") if s]
    try:
        args.throughput_nets = [[int(w) for w in spec.split("-")] for spec in args.throughput_nets.split(",") if spec]
    except ValueError:
        p.error(f"--throughput-nets: expected layer widths such as 2-4-1,2-8-8-2, not {args.throughput_nets!r}")
    if any(len(w) < 2 or min(w) < 1 for w in args.throughput_nets):
        p.error(f"--throughput-nets: every network needs at least 2 positive widths, not {args.throughput_nets}")
    args.forms = [f for f in args.forms.split(",") if f]
    if any(f not in ("spatial", "folded") for f in args.forms):
        p.error(f"--forms: expected spatial and/or folded, not {args.forms}")
    unknown = [s for s in args.sizes if s not in SIZES and s != "c1"]
    if unknown:
        p.error(f"--sizes: {unknown} not among {sorted(SIZES)} or c1")
    console = Console(width=140)
    rows = []
    if args.fault:
        args.n, args.percycle_n, args.repeat = 20_000, 2_000, 1
        args.throughput_nets = args.throughput_nets[:1]
        throughput(args, console, rows)
        print("fault self-test: every path reported the injected weight fault")
        return 0
    if not args.skip_throughput:
        throughput(args, console, rows)
    if not args.skip_sizes:
        sizes(args, console, rows)
    if args.json:
        print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
