"""``ulpflow synth`` and ``ulpflow qor``: synthesis reports and the QoR table on the command line.

``ulpflow synth UNIT --format F --target T`` builds one unit (:func:`ulpflow.boards.qor.build_unit`)
and prints its :class:`~ulpflow.boards.SynthReport`; ``ulpflow qor`` prints the table of
:mod:`ulpflow.boards.qor` (the one ``bench/qor.py`` writes). Library code is imported inside the
commands, so ``ulpflow --help`` stays quick.
"""

from __future__ import annotations

import json

from rich.markup import escape
from rich.table import Table
from rich.text import Text

_FIRST_USE = "a first YoWASP use compiles the tools for ~80 s; later runs take seconds"


def add_parser(sub):
    s = sub.add_parser(
        "synth", help="synthesise, place and route one unit (YoWASP Yosys + nextpnr) and print "
        "its report",
        description="Synthesise one unit behind the 3-pin serial wrapper, place and route it, "
        "pack its bitstream and print the report (cached by design hash).")
    s.add_argument("unit", metavar="UNIT",
                   help="add or mul (float or fixed-point unit, by the format's kind), or "
                   "convert (needs --to)")
    s.add_argument("--format", required=True, help="operand format, e.g. fp32, e4m3, q4.4 "
                   "(source format of a convert)")
    s.add_argument("--to", help="destination format of convert")
    s.add_argument("--latency", default="0",
                   help="pipeline latency in cycles, or 'full' (a register at every cut point "
                   "of the unit); default 0")
    s.add_argument("--target", required=True,
                   help="ice40-up5k, ecp5-25f, ecp5-85f (bare devices) or icebreaker, "
                   "ulx3s-25f, ulx3s-85f (boards)")
    s.add_argument("--freq", type=float, default=None,
                   help="clock constraint in MHz (default 50 on a bare device, the board "
                   "oscillator on a board)")
    s.add_argument("--seed", type=int, default=1, help="nextpnr seed (default 1)")
    s.add_argument("--rounding", default="RNE", help="RNE (default), RNA, RTZ, RUP or RDN")
    s.add_argument("--no-cache", action="store_true", help="run again even if cached")
    s.set_defaults(func=_cmd_synth)

    q = sub.add_parser(
        "qor", help="the quality-of-results table (area, Fmax over seeds, HardFloat ratios)",
        description="Synthesise every arithmetic unit on ECP5-85F and iCE40 UP5K (cached per "
        "design) and print area, post-route Fmax (min / median / max over seeds 1, 2, 3) and "
        "the ratios to Berkeley HardFloat where there is a reference.")
    q.add_argument("--only", help="formats, comma-separated (e.g. fp32,fp16; default all)")
    q.add_argument("--units", help="unit kinds, comma-separated (add,mul,convert; default all)")
    q.add_argument("--devices", help="ecp5-85f and/or ice40-up5k (default both)")
    q.add_argument("--quick", action="store_true", help="seed 1 and latency 0 only")
    q.add_argument("--json", action="store_true", help="print the rows as JSON instead")
    q.add_argument("--workers", type=int, help="run the syntheses on a local Dask cluster of N "
                   "worker processes, one synthesis per task")
    q.add_argument("--scheduler", metavar="ADDR", help="run them on an existing Dask cluster "
                   "(tcp://HOST:PORT of its scheduler)")
    q.set_defaults(func=_cmd_qor)


def _parse_latency(text):
    if text == "full":
        return "full"
    try:
        n = int(text)
    except ValueError:
        raise ValueError(f"--latency must be a number of cycles or 'full', not {text!r}") from None
    if n < 0:
        raise ValueError(f"--latency must be >= 0, not {n}")
    return n


def report_table(r) -> Table:
    """A Rich table of one :class:`~ulpflow.boards.SynthReport`."""
    t = Table(title=Text(f"{r.design} on {r.target}"), show_header=False)
    t.add_column("field", style="bold")
    t.add_column("value")
    fits = "yes" if r.fits else "NO, over by " + (", ".join(
        f"{k} +{v}" for k, v in r.overshoot.items()) or "? (see error)")
    fmax = ", ".join(f"{k} {v:.2f} MHz" for k, v in r.fmax_mhz.items()) or "-"
    util = ", ".join(f"{k} {u}/{a} ({100 * u / a:.1f} %)" for k, (u, a) in r.utilisation.items()
                     if u and a)
    rows = [
        ("latency", "-" if r.latency is None else f"{r.latency} cycles"),
        ("LUT4", r.luts), ("carry cells", r.carries), ("flip-flops", r.ffs), ("DSP", r.dsps),
        ("block RAM", r.brams), ("I/O", r.ios), ("packed cells", r.packed),
        ("utilisation", util or "-"),
        ("Fmax (post-route)", fmax),
        ("constraint", f"{r.freq_mhz:g} MHz: " + ("met" if r.meets_freq else "NOT met")),
        ("fits", fits),
        ("error", r.error or "-"),
        ("seed", r.seed),
        ("tools", ", ".join(f"{k} {v}" for k, v in r.tools.items())),
        ("elapsed", f"{r.elapsed_s:.1f} s" + (" (cached report)" if r.cached else "")),
        ("bitstream", r.bitstream or "-"),
        ("logs", ", ".join(f"{k}: {v}" for k, v in r.logs.items())),
    ]
    for k, v in rows:
        t.add_row(Text(k), Text(str(v)))
    return t


def _cmd_synth(args, console):
    from ulpflow.boards import get_target, synthesize
    from ulpflow.boards.qor import build_unit

    target = get_target(args.target)
    latency = _parse_latency(args.latency)
    if args.freq is not None and not 0 < args.freq <= 1000:
        raise ValueError(f"--freq must be a number of MHz in (0, 1000], not {args.freq:g}")
    unit = build_unit(args.unit, args.format, rounding=args.rounding, to=args.to)
    shown = escape(f"{unit!r} on {target.name}")
    with console.status(f"synthesising {shown} ({_FIRST_USE})"):
        r = synthesize(unit, target, freq_mhz=args.freq, seed=args.seed,
                       pipeline=None if latency == 0 else latency, cache=not args.no_cache)
    console.print(report_table(r))
    return 0


def _table(title, columns, body):
    t = Table(title=Text(title))
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i < 2 else "right")
    for row in body:
        t.add_row(*map(Text, row))
    return t


def _cmd_qor(args, console):
    from ulpflow.boards import qor

    specs = qor.qor_specs(only=args.only, units=args.units, devices=args.devices,
                          quick=args.quick)
    seeds = (1,) if args.quick else qor.SEEDS
    n = len(specs) * len(seeds)
    with console.status(f"{n} synthesis runs ({_FIRST_USE}; cached runs are instant)") as st:
        runs = None
        if args.workers is not None or args.scheduler is not None:
            from ulpflow.sweep import dask_runs

            runs = dask_runs(args.scheduler, args.workers,
                             progress=lambda msg: st.update(escape(msg)))
        rows = qor.run_qor(specs, seeds=seeds, progress=lambda msg: st.update(escape(msg)),
                           runs=runs)
    if args.json:
        console.print_json(json.dumps(qor.rows_to_json(rows)))
        return 0
    console.print(_table("ulpflow QoR (Fmax MHz: " + ("seed 1" if args.quick else
                                                       "min / median / max of seeds 1, 2, 3")
                         + ")", qor.COLUMNS, qor.table_rows(rows)))
    ratios = qor.ratio_table_rows(rows)
    if ratios:
        console.print(_table("against Berkeley HardFloat (latency 0; LUT ratio < 1 and Fmax "
                             "ratio > 1 favour ulpflow)", qor.RATIO_COLUMNS, ratios))
    return 0
