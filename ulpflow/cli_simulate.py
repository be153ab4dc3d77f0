"""``ulpflow simulate NET.json``: a saved network through its hardware in Verilator, against golden.

The network (docs/network-format.md) becomes a :class:`~ulpflow.hdl.network.NetworkTop` in the
chosen form, is built once (cached) and run on the input vectors in chunks (a progress bar for
long runs); every output is compared with the golden network. The summary gives the vector count,
mismatches, build and run time and vectors/s; on a mismatch the first-divergence report
(:func:`ulpflow.sim.network.locate_divergence`) follows and the exit status is 1.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.markup import escape
from rich.text import Text

#: Largest input set ``--inputs all`` enumerates (beyond: random:N, or ulpflow sweep).
MAX_ALL = 1 << 26
CHUNK = 1 << 18


def add_parser(sub):
    s = sub.add_parser(
        "simulate", help="run a saved network through its hardware in Verilator and compare "
        "every output with the golden model",
        description="Build the hardware of a network (JSON, docs/network-format.md) in the "
        "spatial or folded form, run input vectors through it in Verilator and compare with the "
        "golden network. Exit status 0: every output matches; 1: a mismatch (the first "
        "divergence is reported); 2: bad input.")
    s.add_argument("network", metavar="NET.json", help="the network (as `ulpflow construct -o` "
                   "or Network.dumps() writes it)")
    s.add_argument("--inputs", default="all",
                   help="all (every input vector of the input format's codes; default), "
                   "FILE.npy (an integer array of shape (n, n_in)) or random:N (N random codes "
                   "per input, see --seed)")
    s.add_argument("--form", default="spatial", choices=("spatial", "folded"),
                   help="spatial (unrolled, one vector per cycle; default) or folded (one "
                   "multiplier and a tree engine per layer)")
    s.add_argument("--engine", default="verilator", choices=("verilator", "cocotb", "cocotb-cycle"),
                   help="verilator (C++ bulk path; default), cocotb (bulk cocotb bench) or "
                   "cocotb-cycle (Python drives every cycle: slow)")
    s.add_argument("--seed", type=int, default=0, help="seed of random:N (default 0)")
    s.add_argument("--fault", action="append", default=[], metavar="SPEC",
                   help="build the hardware with a deliberate fault, to see the comparison catch "
                   "it: weight:LAYER:NEURON:INPUT:CODE, swap:LAYER:NEURON:LEAF:LEAF (two leaves "
                   "of the neuron's tree exchanged) or table:LAYER:CODE:VALUE (one activation "
                   "table entry); repeatable")
    s.set_defaults(func=_cmd_simulate)


def parse_fault(spec):
    """A :class:`~ulpflow.hdl.network.Fault` from ``kind:layer:...`` (see ``--fault``)."""
    from ulpflow.hdl.network import Fault

    arity = {"weight": 4, "swap": 4, "table": 3}
    kind, _, rest = spec.partition(":")
    parts = rest.split(":") if rest else []
    if kind not in arity or len(parts) != arity[kind]:
        raise ValueError(f"--fault {spec!r}: expected weight:L:K:J:CODE, swap:L:K:A:B or table:L:CODE:VALUE")
    try:
        values = [int(p, 0) for p in parts]
    except ValueError:
        raise ValueError(f"--fault {spec!r}: every field after the kind must be an integer") from None
    return getattr(Fault, kind)(*values)


def read_network(path):
    """The golden network saved at ``path``, or a ValueError naming the file and the problem."""
    from ulpflow.golden.network import Network

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{path}: no such network file")
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read it ({exc})") from None
    try:
        return Network.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def input_vectors(net, spec, seed=0):
    """The input vectors ``spec`` names: ``all``, ``random:N`` or a ``.npy`` file."""
    import numpy as np

    from ulpflow.sim.network import check_network_inputs, every_input

    fmt = net.in_format
    if spec == "all":
        count = len(fmt.all_codes()) ** net.n_in
        if count > MAX_ALL:
            raise ValueError(f"--inputs all would be {count} vectors ({net.n_in} inputs of {fmt.bits}-bit "
                             f"{fmt}); the limit is {MAX_ALL}: use random:N (or ulpflow sweep)")
        return every_input(net)
    if spec.startswith("random:"):
        try:
            n = int(spec.split(":", 1)[1])
        except ValueError:
            n = -1
        if n < 1:
            raise ValueError(f"--inputs {spec!r}: expected random:N with N a positive integer")
        rng = np.random.default_rng(seed)
        return rng.choice(np.asarray(fmt.all_codes()), size=(n, net.n_in)).astype(fmt.dtype)
    if spec.endswith(".npy"):
        try:
            arr = np.load(spec, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ValueError(f"--inputs {spec}: cannot load it ({exc})") from None
        return check_network_inputs(net, arr, what=f"--inputs {spec}")
    raise ValueError(f"--inputs {spec!r}: expected all, random:N or a FILE.npy")


def _cmd_simulate(args, console):
    import numpy as np
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from ulpflow.sim.network import NetworkSimulator, locate_divergence

    net = read_network(args.network)
    x = input_vectors(net, args.inputs, args.seed)
    faults = [parse_fault(f) for f in args.fault]
    sim = NetworkSimulator(net, form=args.form, engine=args.engine, _faults=faults)
    console.print(Text(f"{net!r}: {len(net.layers)} layers, "
                       f"{sum(l.n_out for l in net.layers)} neurons; {args.form} form, "
                       f"engine {args.engine}"))
    start = time.perf_counter()
    with console.status(escape(f"building the {args.form} hardware in Verilator (cached after "
                               "the first build)")):
        sim.build()
    build = time.perf_counter() - start
    n = x.shape[0]
    y = np.empty((n, net.n_out), dtype=net.out_format.dtype)
    start = time.perf_counter()
    with Progress(TextColumn("simulating"), BarColumn(), TextColumn("{task.completed}/{task.total} vectors"),
                  TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=console,
                  transient=True, disable=n <= CHUNK) as bar:
        task = bar.add_task("sim", total=n, rate="")
        for lo in range(0, n, CHUNK):
            hi = min(n, lo + CHUNK)
            y[lo:hi] = sim.run(x[lo:hi])
            rate = hi / max(time.perf_counter() - start, 1e-9)
            bar.update(task, completed=hi, rate=f"{rate:,.0f} vectors/s")
    run = time.perf_counter() - start
    gold = net(x, strict=False)
    bad = int((y != gold).any(axis=1).sum())
    cached = " (cached)" if sim.timings.get("build_cached") else ""
    console.print(Text(f"{n} inputs, {bad} mismatches"))
    console.print(Text(f"build {build:.1f} s{cached}, run {run:.2f} s, {n / max(run, 1e-9):,.0f} vectors/s"))
    if not bad:
        return 0
    with console.status("locating the first divergence (simulating the layers and the neuron alone)"):
        report = locate_divergence(net, x, y, form=args.form, engine=args.engine, _faults=faults)
    console.print(Text(str(report)))
    return 1
