"""The ``ulpflow`` command line.

Every sub-command is a thin layer over the public API; the functions that build each table are
importable too, so the CLI never knows more than the library.

Text that comes from the library (format names, error messages such as ``qI.F[s][_wrap]``) is
shown literally: it goes through :func:`rich.markup.escape` (or a :class:`rich.text.Text`), never
through Rich's markup parser, which would take ``[s]`` for a strike-through tag and drop it.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

import ulpflow


def _fmt_value(v: float) -> str:
    return f"{v:.6g}"


def formats_table(names=None) -> Table:
    """A rich table describing formats (default: every preset and two fixed-point examples)."""
    from ulpflow.golden import PRESETS, parse_format

    names = list(PRESETS) + ["q4.4", "q4.4s", "uq3.5"] if not names else names
    t = Table(title="ulpflow formats")
    for col in ("name", "kind", "bits", "E / I", "M / F", "bias", "specials", "min subnormal",
                "min normal", "max finite"):
        t.add_column(col, justify="right" if col not in ("name", "kind", "specials") else "left")
    for name in names:
        f = parse_format(name)
        if f.kind == "float":
            specials = f.specials + ("" if f.subnormals else ", ftz") + (", sat" if f.saturate else "")
            row = (str(f), "float", str(f.bits), str(f.exp_bits), str(f.man_bits), str(f.bias),
                   specials, _fmt_value(f.min_subnormal), _fmt_value(f.min_normal),
                   _fmt_value(f.max_finite))
        else:
            desc = ("signed" if f.signed else "unsigned") + (", symmetric" if f.symmetric else "")
            row = (str(f), "fixed", str(f.bits), str(f.int_bits), str(f.frac_bits), "-",
                   f"{desc}, {f.overflow}", _fmt_value(f.min_subnormal), "-",
                   _fmt_value(f.max_finite))
        t.add_row(*map(Text, row))
    return t


def _cmd_formats(args, console):
    console.print(formats_table(args.names))
    return 0


def _cmd_activations(args, console):
    from ulpflow.golden import activations, parse_format

    fmt = parse_format(args.format)
    # a cold catalogue of a 16-bit format builds ~40 correctly rounded tables (about a minute)
    shown = escape(str(fmt))
    with console.status(f"building activation tables over {shown} (cached after the first run)") as st:
        rows = activations.catalogue(
            fmt, progress=lambda name, method: st.update(escape(f"{name} ({method}) over {fmt}")))
    t = Table(title=Text(f"activation implementations over {fmt}"))
    cols = ["name", "method", "in", "out", "worst ulp error", "worst input"]
    for c in cols:
        t.add_column(c)
    for r in rows:
        t.add_row(*(Text(str(r.get(k, ""))) for k in
                    ("name", "method", "in_format", "out_format", "max_ulp_error", "worst_input")))
    console.print(t)
    return 0


# Sub-commands that live in their own module: each ``ulpflow.cli_<name>`` defines
# ``add_parser(sub)``, which adds its parser(s) to ``sub`` and sets ``func(args, console) -> int``.
# Those modules import their library code inside ``func``, so ``ulpflow --help`` stays quick.
COMMAND_MODULES: tuple[str, ...] = ("mma", "nets", "run", "simulate", "synth", "prove", "sweep")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ulpflow",
        description="Bit-exact neural-network arithmetic from golden model to FPGA.")
    p.add_argument("--version", action="version", version=f"%(prog)s {ulpflow.__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    f = sub.add_parser("formats", help="print the preset number formats (or the named ones)")
    f.add_argument("names", nargs="*", help="format names, e.g. e4m3 bf16 q4.4s e5m3_fnuz")
    f.set_defaults(func=_cmd_formats)
    a = sub.add_parser("activations", help="catalogue of activation implementations with their "
                       "measured worst ulp error")
    a.add_argument("--format", default="bf16", help="input/output format (default bf16)")
    a.set_defaults(func=_cmd_activations)
    for name in COMMAND_MODULES:
        importlib.import_module(f"ulpflow.cli_{name}").add_parser(sub)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    console = Console()
    if not console.is_terminal:  # pipes and CI logs: do not squeeze tables into 80 columns
        console = Console(width=160)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args, console)
    except (ValueError, TypeError) as exc:
        # one line on stderr, the message exactly as the library wrote it
        err = Console(stderr=True, soft_wrap=True, highlight=False)
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
