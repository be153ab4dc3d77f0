"""``ulpflow sweep``: a unit (or network) against golden on every input, on Dask (:mod:`ulpflow.sweep`).

``ulpflow sweep add --format fp16 --rounding RDN --exhaustive`` runs all 2^32 operand pairs
through the Verilator model in chunks on a local Dask cluster (``--workers N``) or an existing one
(``--scheduler tcp://HOST:PORT``), shows a progress bar (chunks, vectors/s, ETA), then a summary;
the exit status is 1 when any vector mismatched. ``ulpflow sweep NET.json --inputs all`` sweeps
every input of a network. Chunk results are kept on disk, so an interrupted sweep resumes.
"""

from __future__ import annotations

import argparse

from rich.markup import escape


def add_parser(sub):
    s = sub.add_parser(
        "sweep", help="every (or N random) input of a unit or network through Verilator against "
        "golden, in chunks on Dask",
        description="Sweep a unit (add, mul, convert) or a network (NET.json) against its golden "
        "twin: deterministic chunks, each a vectorised golden call and one compiled Verilator run, "
        "on a local Dask cluster (one worker process per core) or an existing one (--scheduler). "
        "Chunk results are cached on disk: an interrupted sweep resumes. Exit status 1 on any "
        "mismatch.")
    s.add_argument("unit", metavar="UNIT", help="add, mul or convert (float or fixed point by the "
                   "format's kind), or a network file NET.json")
    s.add_argument("--format", help="operand format, e.g. fp16, bf16, e4m3, q4.4 (units)")
    s.add_argument("--to", help="destination format of convert")
    s.add_argument("--rounding", help="RNE (default), RNA, RTZ, RUP or RDN (units)")
    s.add_argument("--latency", type=int, help="pipeline latency in cycles (units; default 0)")
    what = s.add_mutually_exclusive_group()
    what.add_argument("--exhaustive", action="store_true", help="every input (at most 2^32)")
    what.add_argument("--random", type=int, metavar="N", help="N seeded random vectors")
    s.add_argument("--inputs", choices=("all",), help="networks: 'all' sweeps every input vector")
    s.add_argument("--form", default="spatial", help="networks: hardware form (default spatial)")
    s.add_argument("--seed", type=int, default=1, help="seed of --random (default 1)")
    s.add_argument("--chunk", type=int, default=None,
                   help="vectors per chunk (default 2^22; an exhaustive chunk is whole rows of a)")
    s.add_argument("--scheduler", metavar="ADDR",
                   help="tcp://HOST:PORT of a running `dask scheduler` (default: a local cluster)")
    s.add_argument("--workers", type=int, help="local cluster size (default: one per core)")
    s.add_argument("--coverage", action="store_true",
                   help="also count the numeric classes exercised (several times slower)")
    s.add_argument("--results", metavar="DIR",
                   help="folder of the chunk results (default: sweeps/ in the ulpflow cache)")
    s.add_argument("--no-resume", action="store_true",
                   help="run every chunk again, ignoring results on disk")
    # a fault in the generated unit, for the tests that show a sweep can fail
    s.add_argument("--mutate", default=None, help=argparse.SUPPRESS)
    s.set_defaults(func=_cmd_sweep)


def make_job(args):
    """The sweep job and plan arguments the command line describes."""
    from ulpflow.sweep import DEFAULT_CHUNK, UnitSweep

    chunk = DEFAULT_CHUNK if args.chunk is None else args.chunk
    if args.unit.endswith(".json"):
        from ulpflow.sweep import NetworkSweep

        if args.inputs != "all" and args.random is None:
            raise ValueError("a network sweep needs --inputs all or --random N")
        given = [f"--{k}" for k in ("format", "to", "rounding", "latency", "mutate")
                 if getattr(args, k) is not None]
        if given:
            raise ValueError(f"{'/'.join(given)}: for unit sweeps; a network file has its "
                             "formats, rounding and pipeline")
        job = NetworkSweep.from_file(args.unit, form=args.form)
        return job, dict(exhaustive=args.random is None, random=args.random, seed=args.seed,
                         chunk=chunk)
    if args.inputs is not None:
        raise ValueError(f"--inputs is for network files (NET.json), not unit {args.unit!r}")
    if not args.format:
        raise ValueError(f"unit {args.unit!r} needs --format F")
    if not args.exhaustive and args.random is None:
        raise ValueError("say what to sweep: --exhaustive or --random N")
    job = UnitSweep(args.unit, args.format, rounding=args.rounding or "RNE",
                    latency=args.latency or 0, to=args.to, mutate=args.mutate)
    job.describe()  # a bad unit, format, mode or latency fails here, before a cluster starts
    return job, dict(exhaustive=args.exhaustive, random=args.random, seed=args.seed, chunk=chunk)


def _rate(vectors, seconds, done, total, resumed):
    """``(vectors/s, ETA seconds or None)`` of the chunks run in this invocation."""
    if seconds <= 0 or done <= resumed:
        return 0.0, None
    rate = vectors / seconds
    return rate, seconds / (done - resumed) * (total - done)


def _cmd_sweep(args, console):
    import time

    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    from ulpflow.sweep import run_sweep

    job, plan = make_job(args)
    console.print(escape(f"sweeping {job.describe()}"), highlight=False)
    state = {}

    def line_progress(done, total, vectors, seconds):
        # logs and pipes: a line at most every 15 s (and the last one)
        base = state.setdefault("base", (vectors, done))
        now = time.monotonic()
        if done < total and now - state.get("said", 0.0) < 15:
            return
        state["said"] = now
        rate, eta = _rate(vectors - base[0], seconds, done, total, base[1])
        console.print(f"chunks {done}/{total}, {rate:,.0f} vectors/s, ETA "
                      + ("-" if eta is None else f"{eta:,.0f} s"), highlight=False)

    if not console.is_terminal:
        result = run_sweep(job, **plan, scheduler=args.scheduler, workers=args.workers,
                           coverage=args.coverage, resume=not args.no_resume,
                           results=args.results, progress=line_progress)
    else:
        columns = (TextColumn("chunks"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[rate]}"), TextColumn("ETA"), TimeRemainingColumn(),
                   TextColumn("elapsed"), TimeElapsedColumn())
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("sweep", total=None, rate="starting workers")

            def progress(done, total, vectors, seconds):
                base = state.setdefault("base", (vectors, done))
                rate, _ = _rate(vectors - base[0], seconds, done, total, base[1])
                bar.update(task, completed=done, total=total,
                           rate=f"{rate:,.0f} vectors/s" if rate else "starting workers")

            result = run_sweep(job, **plan, scheduler=args.scheduler, workers=args.workers,
                               coverage=args.coverage, resume=not args.no_resume,
                               results=args.results, progress=progress)
    for line in result.summary():
        console.print(escape(line), highlight=False)
    console.print("[green]0 mismatches[/green]" if result.ok else
                  f"[red]{result.mismatches} mismatches[/red]")
    return 0 if result.ok else 1
