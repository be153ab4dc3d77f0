"""The QoR table: area and post-route Fmax of every arithmetic unit, and the HardFloat ratios.

Usage::

    python bench/qor.py                          # the full table (many runs; cached per design)
    python bench/qor.py --quick                  # seed 1, latency 0
    python bench/qor.py --quick --only fp32,fp16,bf16 --units add,mul   # the HardFloat units
    python bench/qor.py --json qor.json          # also write the rows as JSON
    python bench/qor.py --quick --only fp32,fp16,bf16 --units add,mul --update-doc docs/qor.md

Every unit (float add, mul, convert; fixed add, mul) of e4m3, e5m2, bf16, fp16, fp32, q4.4 and
q8.8, at latency 0 and each pipelined variant it supports (a register at 1 .. all of its cut
points), on ECP5-85F and iCE40 UP5K (bare devices, 3-pin serial wrapper), nextpnr seeds 1, 2, 3
(Fmax min / median / max). The table-building code is ``ulpflow.boards.qor`` (``ulpflow qor``
prints the same table). Runs are niced by the caller: ``nice -n 10 python bench/qor.py ...``.
``--workers N`` runs the syntheses on a local Dask cluster (one synthesis per task),
``--scheduler tcp://HOST:PORT`` on an existing one (``ulpflow.sweep.dask_runs``).

``--update-doc FILE`` replaces the text between the markers ``<!-- qor-table:begin -->`` and
``<!-- qor-table:end -->`` in FILE with the tables and the command that produced them.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from ulpflow.boards import qor

BEGIN, END = "<!-- qor-table:begin -->", "<!-- qor-table:end -->"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", help=f"formats, comma-separated (default: {','.join(qor.FORMATS)})")
    p.add_argument("--units", help=f"unit kinds, comma-separated (default: {','.join(qor.OPS)})")
    p.add_argument("--devices", help=f"devices (default: {','.join(qor.DEVICES)})")
    p.add_argument("--latencies", help="latencies, comma-separated (default: 0 and every "
                   "pipelined variant of each unit)")
    p.add_argument("--seeds", default=",".join(map(str, qor.SEEDS)),
                   help="nextpnr seeds (default 1,2,3; --quick: 1)")
    p.add_argument("--quick", action="store_true", help="seed 1 and latency 0 only")
    p.add_argument("--json", metavar="FILE", help="write the rows as JSON to FILE ('-': stdout)")
    p.add_argument("--markdown", metavar="FILE", help="write the Markdown tables to FILE")
    p.add_argument("--update-doc", metavar="FILE",
                   help="replace the table between the qor-table markers in FILE")
    p.add_argument("--workers", type=int, help="run the syntheses on a local Dask cluster of N "
                   "worker processes, one synthesis per task (default: one after the other)")
    p.add_argument("--scheduler", metavar="ADDR", help="run them on an existing Dask cluster "
                   "(tcp://HOST:PORT of its scheduler)")
    return p.parse_args(argv)


def command_line(argv):
    return "python bench/qor.py " + " ".join(argv)


def markdown(rows, argv):
    parts = [f"Produced by `{command_line(argv)}`.", "", qor.markdown_table(rows)]
    ratios = qor.ratios_markdown(rows)
    if ratios:
        parts += ["", "Against Berkeley HardFloat (latency 0; LUT ratio < 1 and Fmax ratio > 1 "
                  "favour ulpflow):", "", ratios]
    return "\n".join(parts) + "\n"


def update_doc(path, text):
    path = Path(path)
    doc = path.read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(doc):
        raise SystemExit(f"{path}: no {BEGIN} ... {END} markers to replace")
    path.write_text(pattern.sub(lambda _: f"{BEGIN}\n{text}{END}", doc))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    seeds = (1,) if args.quick else tuple(int(s) for s in args.seeds.split(","))
    specs = qor.qor_specs(only=args.only, units=args.units, devices=args.devices,
                          latencies=args.latencies, quick=args.quick)
    print(f"# {len(specs)} designs x {len(seeds)} seeds = {len(specs) * len(seeds)} runs "
          f"(cached ones are instant; a first YoWASP use compiles the tools for ~80 s)",
          file=sys.stderr)
    runs = None
    if args.workers is not None or args.scheduler is not None:
        from ulpflow.sweep import dask_runs

        runs = dask_runs(args.scheduler, args.workers,
                         progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    rows = qor.run_qor(specs, seeds=seeds, runs=runs)
    text = markdown(rows, argv)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)
    if args.update_doc:
        update_doc(args.update_doc, text)
    if args.json:
        data = json.dumps(qor.rows_to_json(rows), indent=1)
        if args.json == "-":
            print(data)
        else:
            Path(args.json).write_text(data + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
