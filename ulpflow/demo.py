"""The flagship demo (``make demo`` / ``python -m ulpflow.demo``).

Two universal networks for random targets, each taken through the whole chain of
``ulpflow run`` (:mod:`ulpflow.nets.driver`): C3 on e4m2 (every finite float input) and C1 on
q3.3s (every fixed-point input) — construct, check in golden on every input, generate the
hardware (folded form), run it in Verilator on every input and compare, and synthesise it for
the ECP5-25F (Yosys, nextpnr's default timing-driven flow, ecppack) — one screen each. The two
networks are placed and routed side by side, one nextpnr process each, so on 2 cores the demo
takes about as long as the larger network's place and route (about 6 minutes in all from a cold
cache). ``--effort fast`` places without timing and routes with router2: 2 to 3x quicker, for
an Fmax some 15-20% lower. ``--board none`` leaves synthesis out; ``--golden-only`` stops after
the golden checks.

``--tour`` adds the arithmetic tour: steps 1-5 show rounded arithmetic in the golden model
(step 5: GPU matrix units, ``ulpflow.golden.mma``), steps 6-8 the same arithmetic as RTL in
Verilator through cocotb. Every step checks what it
prints, so the demo is also a smoke test of the installed toolchain.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from ulpflow import golden as g


def _row_values(fmt, codes):
    return ", ".join(f"{v:g}" for v in fmt.decode(np.atleast_1d(codes)))


def golden_showcase(console: Console) -> bool:
    """Small facts about rounded arithmetic that the golden model makes explicit."""
    ok = True
    e4m3 = g.parse_format("e4m3")
    console.rule("[bold]1. Reduction order is part of the semantics")
    terms = e4m3.encode(np.array([[1.0, 16.0, 1.0, 1.0]]))
    t = Table("tree", "expression", "e4m3 result")
    results = {}
    for name, tree in (("sequential", g.Tree.sequential(4)), ("pairwise", g.Tree.pairwise(4)),
                       ("reversed", g.Tree.reversed(4))):
        r = g.reduce(terms, tree, e4m3)
        results[name] = float(e4m3.decode(r)[0])
        t.add_row(name, str(tree), f"{results[name]:g}")
    exact = g.exact_sum(terms, e4m3)
    t.add_row("exact_sum", "round(t0+t1+t2+t3)", _row_values(e4m3, exact))
    console.print(t)
    # independent check: the exact sum is 19; e4m3 has spacing 2 in [16, 32)
    ok &= results["sequential"] == 16.0 and results["pairwise"] == 18.0
    console.print("  1+16 = 17 is a tie between 16 and 18 (ties to even → 16), so left to right "
                  "never grows; pairwise adds 1+16 → 16 and 1+1 = 2 → 18.")

    console.rule("[bold]2. One tie, five rounding modes")
    bf16 = g.parse_format("bf16")
    one, tiny = bf16.encode(np.array([1.0, 2.0 ** -8]))
    t = Table("mode", "1 + 2^-8 in bf16", "-1 - 2^-8 in bf16")
    for mode in g.ROUNDING_MODES:
        pos = g.add(one, tiny, bf16, rounding=mode)
        neg = g.sub(g.neg(one, bf16), tiny, bf16, rounding=mode)
        t.add_row(mode, _row_values(bf16, pos), _row_values(bf16, neg))
    console.print(t)

    console.rule("[bold]3. Overflow styles of 8-bit formats")
    t = Table("format", "specials", "encode(300)", "encode(1e6)", "max finite")
    for name in ("e4m3", "e4m3fn", "e4m3fnuz", "e4m3_fn_sat"):
        f = g.parse_format(name)
        t.add_row(str(f), f.specials + (" + saturate" if f.saturate else ""),
                  _row_values(f, f.encode(300.0)), _row_values(f, f.encode(1e6)),
                  f"{f.max_finite:g}")
    console.print(t)

    console.rule("[bold]4. fma rounds once; mul then add rounds twice")
    a, b, c = bf16.encode(np.array([1.0 + 2 ** -7, 1.0 - 2 ** -7, -1.0]))
    fused = g.fma(a, b, c, bf16)
    split = g.add(g.mul(a, b, bf16), c, bf16)
    console.print(f"  (1+2^-7)(1-2^-7) - 1 in bf16: fma → {_row_values(bf16, fused)}, "
                  f"mul+add → {_row_values(bf16, split)} (exact: {-(2.0 ** -14):g})")
    ok &= float(bf16.decode(fused)) == -(2.0 ** -14) and float(bf16.decode(split)) == 0.0
    ok &= mma_showcase(console)
    return bool(ok)


def _mma_operands():
    """The dot product of steps 5 and 8: a model and 64 finite e4m3fn codes ``a``, ``b`` of
    mixed magnitudes (2^-8 … 2^8, both signs)."""
    e4m3fn = g.parse_format("e4m3fn")
    rng = np.random.default_rng(8)
    a, b = (e4m3fn.encode(rng.choice([-1.0, 1.0], 64) * 2.0 ** rng.uniform(-8, 8, 64)) for _ in range(2))
    return "hopper.wgmma.e4m3.f32", a, b


def mma_showcase(console: Console) -> bool:
    """One fp8 dot product exactly, left to right, pairwise and under every GPU matrix-unit model
    (the table of ``ulpflow mma``), and a one-hot sum that every model gets exactly."""
    from fractions import Fraction

    from ulpflow.cli_mma import mma_report, print_mma_report

    console.rule("[bold]5. GPU matrix units add in truncated fused blocks")
    model, a, b = _mma_operands()
    K = a.size
    e4m3fn = g.parse_format("e4m3fn")
    title, rows, one_hot = mma_report(model, K, a=a.astype(np.int64), b=b.astype(np.int64))
    distinct = print_mma_report(console, title, rows, one_hot)
    console.print("  Each model aligns the products of a block of L terms to the block's largest "
                  "exponent, truncates them to F bits below it, adds them exactly and rounds once; "
                  "blocks chain through the addend (golden.mma.dot, checked against MMA-Sim by "
                  f"`make test-gpu-models`). `ulpflow mma --model {model} --k {K}` prints such "
                  "a table for any operands.")
    # checks independent of golden.mma: the exact row is the Fraction sum of the operands, and
    # every one-hot result is the selected input's value
    va, vb = e4m3fn.decode_fraction(a), e4m3fn.decode_fraction(b)
    exact = sum((x * y for x, y in zip(va, vb)), Fraction(0))
    ok = rows[0][1] == f"{float(exact):.17g}" and distinct >= 3
    j = int(title.split("one-hot picks b[", 1)[1].split("]", 1)[0])
    ok &= len(one_hot) == len(g.mma.MODELS)
    for name, shown, verdict in one_hot:
        fmt = g.mma.MODELS[name].c_format
        value = fmt.decode_fraction(np.array([int(shown.split()[0], 16)], dtype=fmt.dtype))[0]
        ok &= verdict == "yes" and value == e4m3fn.decode_fraction(b[j:j + 1])[0]
    return bool(ok)


def hardware_showcase(console: Console) -> bool:
    """The same facts in generated RTL, simulated in Verilator through cocotb against golden."""
    from ulpflow.hdl import FloatAdder, FusedDotProduct, ReductionTree
    from ulpflow.sim import assert_matches, simulate, vectors

    e4m3 = g.parse_format("e4m3")
    console.rule("[bold]6. The e4m3 adder in RTL, every operand pair, against golden")
    a, b = vectors.exhaustive(e4m3, e4m3)
    t0 = time.perf_counter()
    for mode in ("RNE", "RDN"):
        unit = FloatAdder(e4m3, rounding=mode, latency=2)
        assert_matches(unit, {"a": a, "b": b}, {"result": g.add(a, b, e4m3, rounding=mode)}, e4m3)
        console.print(f"  FloatAdder(e4m3, rounding={mode!r}, latency=2): {a.size} pairs, "
                      "0 mismatches (cocotb scoreboard)")
    console.print(f"  ({time.perf_counter() - t0:.1f} s including Verilator builds, cached after)")

    console.rule("[bold]7. Reduction trees in RTL keep the declared order")
    terms = e4m3.encode(np.array([1.0, 16.0, 1.0, 1.0]))
    ok = True
    for name, tree in (("sequential", g.Tree.sequential(4)), ("pairwise", g.Tree.pairwise(4))):
        out = simulate(ReductionTree(tree, e4m3), {f"terms__{i}": terms[i:i + 1] for i in range(4)})
        rtl = float(e4m3.decode(out["result"])[0])
        gold = float(e4m3.decode(g.reduce(terms[None, :], tree, e4m3))[0])
        console.print(f"  {name:10s} {str(tree):24s} RTL {rtl:g}   golden {gold:g}")
        ok &= rtl == gold

    console.rule("[bold]8. A matrix unit in RTL truncates as the GPU does")
    model, a, b = _mma_operands()
    K = a.size
    unit = FusedDotProduct(model, K, latency=1)
    fp32 = g.mma.MODELS[model].c_format
    c = np.array([fp32.zero_code], dtype=fp32.dtype)
    inputs = {"c": c, **{f"a__{k}": a[k:k + 1] for k in range(K)},
              **{f"b__{k}": b[k:k + 1] for k in range(K)}}
    rtl = int(simulate(unit, inputs)["d"][0])
    gold = int(g.mma.dot(a[None, :], b[None, :], c, model)[0])
    console.print(f"  {unit!r}: {K // unit.L} blocks of {unit.L} products, exact multipliers, "
                  f"max-exponent tree, truncating shifters, exact adder tree, one rounding each")
    console.print(f"  step 5's dot product: RTL {fp32.show(rtl)}   golden.mma.dot {fp32.show(gold)}")
    ok &= rtl == gold
    return bool(ok)


#: The flagship runs: (construction, format, target).
FLAGSHIP = (("c3", "e4m2", "random:1"), ("c1", "q3.3s", "random:1"))


def flagship(console: Console, *, hardware=True, board=None, form="folded", out=None,
             effort="full") -> bool:
    """The flagship runs of :data:`FLAGSHIP` through :func:`ulpflow.nets.driver.run`, one screen
    each; True when every one passes.

    With a ``board`` the networks are placed and routed side by side: each network's synthesis
    starts as soon as its Verilator comparison is done (Yosys and nextpnr are processes of their
    own, one per network, so two cores run two of them); after the last network's comparison
    the screens follow in order, each as soon as its synthesis is done. If a run raises (or the
    user interrupts), the syntheses not yet started are cancelled and the error propagates."""
    from concurrent.futures import ThreadPoolExecutor

    from ulpflow.cli_run import print_summary
    from ulpflow.nets.driver import RunOptions, run
    from ulpflow.nets.driver.report import write

    board = board if hardware else None
    runs = []
    pool = ThreadPoolExecutor(max_workers=len(FLAGSHIP))
    try:
        for i, (name, fmt, target) in enumerate(FLAGSHIP, start=1):
            opts = RunOptions(name, fmt, target, form=form, board=board, hardware=hardware,
                              effort=effort if board is not None else "full")
            console.rule(f"[bold]{i}. {name} on {fmt}: a universal network for a random target")
            with console.status("starting") as status:
                def progress(stage, text):
                    status.update(f"[{stage}] {text}")
                    if not console.is_terminal:
                        console.print(f"  ... {stage}: {text}", style="dim", markup=False)
                res = run(opts, progress=progress, defer_synthesis=True)

            def side_progress(stage, text, label=f"{name} on {fmt}"):
                console.print(f"  ... {stage} ({label}): {text}", style="dim", markup=False)
            job = pool.submit(res.finish, side_progress) if res.pending is not None else None
            runs.append((i, name, fmt, res, job))
            if job is None:
                print_summary(res, console, write(res, f"{out}/{name}-{fmt}") if out else None)
        if any(job is not None for *_, job in runs):
            console.print(f"  ... synthesis for {board}: the networks are placed and routed side by "
                          "side; each screen follows when its synthesis is done", style="dim",
                          markup=False)
        for i, name, fmt, res, job in runs:
            if job is not None:
                job.result()
                console.rule(f"[bold]{i}. {name} on {fmt}, with synthesis")
                print_summary(res, console, write(res, f"{out}/{name}-{fmt}") if out else None)
    except BaseException:
        # a failed or interrupted run: cancel what has not started (a running Yosys or nextpnr
        # gets the interrupt itself); results already finished are lost with the exception
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return all(res.ok for _, _, _, res, _ in runs)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ulpflow.demo",
        description="ulpflow's flagship demo: universal networks for random targets (C3 on e4m2, "
                    "C1 on q3.3s), each constructed, checked in golden on every input, run in "
                    "Verilator on every input against golden (and with --board synthesised), "
                    "with one screen each. The exit status is 0 when every check passes.")
    p.add_argument("--golden-only", action="store_true",
                   help="construct and check in golden only (no Amaranth, Verilator or synthesis)")
    p.add_argument("--board", default="ecp5-25f",
                   help="synthesise both networks for this target (default ecp5-25f; none: no "
                        "synthesis). Both are placed and routed at once, one process each")
    p.add_argument("--effort", choices=["full", "fast"], default="full",
                   help="place-and-route effort (default full: nextpnr's timing-driven default, the "
                        "figures to compare with published ones; fast: no timing-driven placement, "
                        "2 to 3x quicker, lower Fmax)")
    p.add_argument("--form", choices=["spatial", "folded"], default="folded",
                   help="network hardware form (default folded: one multiplier per layer)")
    p.add_argument("-o", "--output", metavar="DIR", help="write each run's report (HTML, Markdown, JSON) here")
    p.add_argument("--tour", action="store_true",
                   help="also run the arithmetic tour: rounded arithmetic in golden (steps 1-5) and "
                        "in RTL through cocotb (steps 6-8, not with --golden-only)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    if not console.is_terminal:
        console = Console(width=120)
    t0 = time.perf_counter()
    board = None if args.board == "none" else args.board
    ok = flagship(console, hardware=not args.golden_only, board=board, form=args.form, out=args.output,
                  effort=args.effort)
    if args.tour:
        ok &= golden_showcase(console)
        if not args.golden_only:
            console.print("[dim]steps 6-8 build each unit with Verilator: about two minutes on a "
                          "first run, then from the build cache[/dim]")
            ok &= hardware_showcase(console)
    console.rule()
    console.print(f"demo {'passed' if ok else '[red]FAILED[/red]'} in {time.perf_counter() - t0:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
