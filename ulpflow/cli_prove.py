"""``ulpflow prove``: formal equivalence of a float unit with Yosys's symfpu (:mod:`ulpflow.prove`).

``ulpflow prove add --format bf16 --rounding RDN [--latency 2]`` prints one line per proof step
(PROVED / FAILED / TIMED OUT, with the solver time) and, when a step fails, the counterexample
decoded; the exit status is 0 only when every step was proved (1 otherwise).
"""

from __future__ import annotations

import argparse

from rich.markup import escape


def add_parser(sub):
    p = sub.add_parser(
        "prove", help="prove a float add/mul unit equal to Yosys's symfpu IEEE reference (SAT)",
        description="Build a miter of the generated unit against Yosys's built-in symfpu "
        "generator (NaN results compared as both NaN) and prove it with Yosys `sat -prove`; a "
        "pipelined unit is also proved equal to its latency-0 twin from any register state. "
        "IEEE-style formats only (fn/fnuz/finite, FTZ, saturation and custom biases are outside "
        "the reference). Exit status 0 when proved, 1 when a step failed or timed out.")
    p.add_argument("unit", metavar="UNIT", help="add or mul")
    p.add_argument("--format", required=True, help="IEEE-style float format, e.g. fp16, bf16, "
                   "fp32, e4m3, e3m4 (at least 3 fraction bits)")
    p.add_argument("--rounding", default="RNE", help="RNE (default), RNA, RTZ, RUP or RDN")
    p.add_argument("--latency", type=int, default=0, help="pipeline latency in cycles (default 0)")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds each SAT run may take (default: no limit)")
    # a fault in the generated unit, for the mutation test that shows a proof can fail
    p.add_argument("--mutate", default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_prove)


def _cmd_prove(args, console):
    from ulpflow.prove import prove

    what = escape(f"{args.unit} {args.format} {args.rounding} latency {args.latency}")
    with console.status(f"proving {what} against symfpu (a 16-bit adder takes ~10-20 s, "
                        "multipliers much longer)"):
        report = prove(args.unit, args.format, rounding=args.rounding, latency=args.latency,
                       timeout=args.timeout, _mutate=args.mutate)
    console.print(escape(report.unit), highlight=False)
    for line in report.lines():
        console.print(escape(line), highlight=False)
    return 0 if report.proved else 1
