"""``ulpflow run``: a construction from its target to hardware in one command
(:mod:`ulpflow.nets.driver`): construct, golden check on every input, network hardware,
Verilator on every input, comparison, synthesis with ``--board``, and a report (Markdown, JSON,
HTML with plots) in ``-o DIR``."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .cli_nets import add_construction_arguments, options_from_args


def print_summary(res, console, paths=None):
    """The one-screen summary of a run (and where its report went)."""
    from ulpflow.nets.driver.report import summary_lines

    t = Table(show_header=False, box=None, padding=(0, 1))
    t.add_column(style="bold", no_wrap=True)
    t.add_column()
    for label, text in summary_lines(res):
        style = ""
        if label == "result":
            style = "bold green" if res.ok else ("bold yellow" if res.negative_control else "bold red")
        elif label == "BROKEN":
            style = "yellow"
        t.add_row(Text(label), Text(text, style=style))
    if paths:
        t.add_row(Text("report"), Text(f"{paths['html']} (also {paths['markdown'].name}, {paths['json'].name})"))
    console.print(t)


def _cmd_run(args, console):
    from ulpflow.nets.driver import run
    from ulpflow.nets.driver.report import write

    from .cli_simulate import parse_fault

    opts = options_from_args(args, form=args.form, engine=args.engine, board=args.board,
                             effort=args.effort, hardware=not args.golden_only, faults=tuple(parse_fault(f) for f in args.fault))
    with console.status("starting") as status:
        def progress(stage, text):
            status.update(escape(f"[{stage}] {text}"))
            if not console.is_terminal:
                console.print(escape(f"... {stage}: {text}"), style="dim")
        res = run(opts, progress=progress)
        paths = None
        if args.output:
            status.update(escape(f"[report] writing {args.output}"))
            paths = write(res, args.output)
    print_summary(res, console, paths)
    return 0 if res.ok else 1


def add_parser(sub):
    r = sub.add_parser("run", help="construct, check in golden, run the hardware in Verilator on every input, "
                       "synthesise (--board) and report")
    add_construction_arguments(r)
    r.add_argument("--form", choices=["spatial", "folded"], default="spatial",
                   help="network hardware: spatial (one multiplier per weight) or folded (one MAC per layer)")
    r.add_argument("--engine", choices=["verilator", "cocotb", "cocotb-cycle"],
                   help="simulation engine (default verilator, the C++ bulk path)")
    r.add_argument("--board", help="synthesise for this target too, e.g. ecp5-25f, ice40-up5k, ulx3s-85f")
    r.add_argument("--effort", choices=["full", "fast"], default="full",
                   help="place-and-route effort with --board: full (nextpnr's timing-driven default; "
                   "the figures to compare) or fast (no timing-driven placement, router2: 2 to 3x "
                   "quicker, lower Fmax)")
    r.add_argument("--fault", action="append", default=[], metavar="SPEC",
                   help="build the hardware with a deliberate fault (as ulpflow simulate --fault: "
                   "weight:LAYER:NEURON:INPUT:CODE, swap:LAYER:NEURON:LEAF:LEAF, table:LAYER:CODE:VALUE)")
    r.add_argument("--golden-only", action="store_true", help="stop after the golden check")
    r.add_argument("-o", "--output", metavar="DIR", help="write report.html, report.md and report.json here")
    r.set_defaults(func=_cmd_run)
