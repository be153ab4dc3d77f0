"""``ulpflow construct``, ``ulpflow check``, ``ulpflow distinguish`` and ``ulpflow sum-thresholds``:
the constructions and theorem checks of :mod:`ulpflow.nets` from the command line
(docs/constructions.md)."""

from __future__ import annotations

import json
from pathlib import Path

from rich.markup import escape


def _meta_path(net_path: Path) -> Path:
    return net_path.with_name(net_path.name + ".construction.json")


def options_from_args(args, **hardware):
    """The driver's RunOptions from the parsed construction arguments (``hardware``: the
    options only ``ulpflow run`` has)."""
    from ulpflow.nets.driver import RunOptions

    return RunOptions(args.construction, args.format, args.target, activation=args.activation, tree=args.tree,
                      rounding=args.rounding, subnormals=args.subnormals, overflow=args.overflow, dims=args.dims,
                      points=args.points, order=args.order, negative_control=args.negative_control, **hardware)


def _cmd_construct(args, console):
    from ulpflow.nets.driver import construct

    c, target, dom = construct(options_from_args(args))
    fmt = target.in_format
    out = Path(args.output)
    out.write_text(c.network.dumps())
    meta = dict(construction=c.name, format=str(fmt), target=args.target, tree=args.tree, order=args.order,
                dims=args.dims, points=args.points, domain=str(dom), violations=list(c.violations),
                size=c.size.to_json())
    _meta_path(out).write_text(json.dumps(meta, indent=1))
    console.print(escape(c.theorem))
    console.print(escape(f"target: {target.description} ({len(target)} points"
                         + (f", {target.inexact} rounded into {target.out_format}" if target.inexact else "") + ")"))
    console.print(escape(f"size: {c.size}"))
    for v in c.violations:
        console.print(escape(f"NEGATIVE CONTROL: {v}"))
    console.print(escape(f"wrote {out} (and {_meta_path(out).name})"))
    return 0


def _cmd_check(args, console):
    from ulpflow.golden import Network
    from ulpflow.nets.driver import MAX_INTERVAL_BITS, domain_for
    from ulpflow.nets.targets import parse_target
    from ulpflow.nets.verify import check_intervals, check_pointwise

    path = Path(args.network)
    try:
        net = Network.loads(path.read_text())
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror}") from None
    meta = {}
    if _meta_path(path).exists():
        meta = json.loads(_meta_path(path).read_text())
    construction = meta.get("construction")
    dims = net.n_in
    dom = domain_for(construction, net.in_format, dims)
    is_c2 = construction == "c2"
    spec = args.target or meta.get("target")
    if spec is None:
        raise ValueError("no --target given and no construction record beside the network")
    target = parse_target(spec, dom, net.out_format, dataset=is_c2, dataset_size=meta.get("points", 30))
    r = check_pointwise(net, target)
    console.print(escape(f"golden, {'data set' if is_c2 else dom}: {r}"))
    bad = r.mismatches
    if construction == "c4" and net.in_format.bits <= MAX_INTERVAL_BITS and not args.no_intervals:
        ri = check_intervals(net, target)
        console.print(escape(f"interval semantics: {ri}"))
        bad += ri.mismatches
    for v in meta.get("violations", []):
        console.print(escape(f"negative control: {v}"))
    return 1 if bad else 0


def _cmd_distinguish(args, console):
    from ulpflow.nets.theorems import distinguishability

    r = distinguishability(args.format, args.activation, weights=args.weights, rounding=args.rounding)
    console.print(escape(str(r).split(" e.g.")[0]))
    for a, b in r.pairs[:args.show]:
        console.print(escape(f"  {r.fmt.show(a)}  ~  {r.fmt.show(b)}"))
    if len(r.pairs) > args.show:
        console.print(f"  … {len(r.pairs) - args.show} more")
    return 0


def _cmd_sum_thresholds(args, console):
    from ulpflow.nets.theorems import transformer_thresholds

    r = transformer_thresholds(args.format, tokens=args.tokens)
    for line in r.lines():
        console.print(escape(line))
    console.print("as predicted" if r.ok else "[red]NOT as predicted[/red]")
    return 0 if r.ok else 1


def add_construction_arguments(c):
    """The options of ``construct`` that ``run`` shares."""
    c.add_argument("construction", choices=["c1", "c2", "c3", "c4"])
    c.add_argument("--format", required=True, help="number format, e.g. q4.4s, e4m3")
    c.add_argument("--activation", help="relu (c1, c3, c4) or step (c2); the default")
    c.add_argument("--tree", default="sequential", help="sequential, pairwise, reversed or random:SEED")
    c.add_argument("--target", required=True, help="random:SEED, table:FILE.csv or python:MODULE:FUNCTION")
    c.add_argument("--rounding", default="RNE", help="rounding mode of every operation (default RNE)")
    c.add_argument("--subnormals", choices=["on", "off"], default="on", help="off: flush to zero (negative control)")
    c.add_argument("--overflow", choices=["sat", "wrap"], default="sat", help="fixed point: wrap = wrap-around")
    c.add_argument("--dims", type=int, default=1, help="input dimension d (c1, c2)")
    c.add_argument("--points", type=int, default=30, help="c2: size of a random data set (default 30)")
    c.add_argument("--order", default="increasing", help="c4: layer-cake order (increasing; decreasing or "
                   "random:SEED are negative controls)")
    c.add_argument("--negative-control", action="store_true",
                   help="build even when an assumption is broken, listing the broken assumptions")


def add_parser(sub):
    c = sub.add_parser("construct", help="build a construction (c1–c4) for a target and save the network JSON")
    add_construction_arguments(c)
    c.add_argument("-o", "--output", required=True, help="network JSON to write")
    c.set_defaults(func=_cmd_construct)

    k = sub.add_parser("check", help="check in golden that a network represents a target on every input")
    k.add_argument("network", help="network JSON (written by ulpflow construct)")
    k.add_argument("--target", help="target spec (default: the one it was constructed for)")
    k.add_argument("--no-intervals", action="store_true", help="c4: skip the interval check of every box")
    k.set_defaults(func=_cmd_check)

    d = sub.add_parser("distinguish", help="first-layer distinguishability, exhaustively (formats of <= 8 bits)")
    d.add_argument("--format", required=True)
    d.add_argument("--activation", default="relu")
    d.add_argument("--weights", choices=["pm1", "all"], default="all")
    d.add_argument("--rounding", default="RNE")
    d.add_argument("--show", type=int, default=20, help="pairs to print (default 20)")
    d.set_defaults(func=_cmd_distinguish)

    t = sub.add_parser("sum-thresholds", help="the transformer sequence-length thresholds 6·2^p − 2 and 9·2^p of "
                       "left-to-right float sums, exhaustively (float formats of <= 9 bits)")
    t.add_argument("--format", required=True)
    t.add_argument("--tokens", type=int, default=2, help="token kinds in the lower-side check (default 2)")
    t.set_defaults(func=_cmd_sum_thresholds)
