"""Golden fp16 add over all 2**32 operand pairs, checked element by element against
numpy.float16 (IEEE binary16, RNE) in the same chunks.

Usage::

    python bench/fp16_exhaustive.py                 # all 2**32 pairs, 2 worker processes
    python bench/fp16_exhaustive.py --limit 1e8     # quick partial run (first rows of a)
    python bench/fp16_exhaustive.py --workers 1 --rows 16
    python bench/fp16_exhaustive.py --limit 1e7 --mutate   # must report mismatches

Work is split by rows: a chunk is ``rows`` values of ``a`` times all 65536 values of ``b``.
Memory per worker is a few arrays of ``rows * 65536`` elements (default 4 Mi pairs).
NaNs are compared by class (bit test on the exponent/fraction fields, independent of
golden), every other result bit for bit, including the sign of zero.
Prints mismatches (must be 0), wall time, pairs/s and peak RSS, and last the line
``golden/numpy time ratio: X``: the time golden's adds took over the time numpy.float16 took
for the very same sums (both timed per chunk in the workers, same run); exits 1 on any
mismatch.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time

import numpy as np

N_CODES = 1 << 16


def _is_nan16(c):
    return ((c & 0x7C00) == 0x7C00) & ((c & 0x03FF) != 0)


def check_rows(args):
    """Compare golden and numpy on rows [r0, r1) of the 65536 x 65536 pair grid."""
    r0, r1, keep, mutate = args
    import ulpflow.golden as g  # imported in the worker: keeps the parent light

    fmt = g.parse_format("fp16")
    b = np.arange(N_CODES, dtype=np.uint16)
    a = np.repeat(np.arange(r0, r1, dtype=np.uint16), N_CODES)
    b = np.tile(b, r1 - r0)
    t0 = time.perf_counter()
    got = g.add(a, b, fmt)
    t_golden = time.perf_counter() - t0
    if mutate:  # self-test: one flipped result bit per chunk must be reported
        got[12345 % got.size] ^= 1
    x, y = a.view(np.float16), b.view(np.float16)
    with np.errstate(all="ignore"):
        t0 = time.perf_counter()
        ref = x + y
        t_numpy = time.perf_counter() - t0
    ref = ref.view(np.uint16)
    bad = (got != ref) & ~(_is_nan16(got) & _is_nan16(ref))
    idx = np.flatnonzero(bad)[:keep]
    examples = [(int(a[i]), int(b[i]), int(ref[i]), int(got[i])) for i in idx]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r1 - r0, int(bad.sum()), examples, peak, t_golden, t_numpy


def _fmt(c):
    v = np.array([c], dtype=np.uint16).view(np.float16)[0]
    return f"0x{c:04x} ({float(v)!r})"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=float, default=None,
                    help="stop after about this many pairs (rounded up to whole rows)")
    ap.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    ap.add_argument("--rows", type=int, default=64,
                    help="rows of a per chunk; a chunk is rows*65536 pairs (default 64)")
    ap.add_argument("--start", type=int, default=0, help="first row of a (default 0)")
    ap.add_argument("--mutate", action="store_true",
                    help="self-test: flip one golden result bit per chunk; must report mismatches")
    args = ap.parse_args(argv)

    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    console = Console()
    last = N_CODES
    if args.limit is not None:
        last = min(N_CODES, args.start + max(1, -(-int(args.limit) // N_CODES)))
    chunks = [(r, min(r + args.rows, last), 10, args.mutate)
              for r in range(args.start, last, args.rows)]
    total_pairs = (last - args.start) * N_CODES

    mismatches, examples, peak_child = 0, [], 0
    t_golden = t_numpy = 0.0
    t0 = time.perf_counter()
    columns = (TextColumn("fp16 add"), BarColumn(), MofNCompleteColumn(),
               TextColumn("rows"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("rows", total=last - args.start)
        if args.workers > 1:
            with mp.get_context("fork").Pool(args.workers) as pool:
                for n_rows, bad, ex, peak, tg, tn in pool.imap_unordered(check_rows, chunks):
                    mismatches += bad
                    t_golden += tg
                    t_numpy += tn
                    examples.extend(ex)
                    peak_child = max(peak_child, peak)
                    progress.advance(task, n_rows)
        else:
            for ch in chunks:
                n_rows, bad, ex, peak, tg, tn = check_rows(ch)
                mismatches += bad
                t_golden += tg
                t_numpy += tn
                examples.extend(ex)
                progress.advance(task, n_rows)
    wall = time.perf_counter() - t0
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    console.print(f"pairs checked : {total_pairs:,} "
                  f"({'all 2**32' if total_pairs == N_CODES * N_CODES else 'partial'})")
    console.print(f"mismatches    : {mismatches}")
    for a, b, r, gval in examples[:10]:
        console.print(f"  {_fmt(a)} + {_fmt(b)}: numpy {_fmt(r)}, golden {_fmt(gval)}")
    console.print(f"wall time     : {wall:.1f} s with {args.workers} worker(s)")
    console.print(f"throughput    : {total_pairs / wall / 1e6:.1f} M pairs/s")
    console.print(f"peak RSS      : parent {peak_self / 1024:.0f} MB, "
                  f"largest worker {max(peak_child, peak_self) / 1024:.0f} MB")
    console.print(f"golden adds   : {t_golden:.1f} s, numpy.float16 adds: {t_numpy:.1f} s "
                  "(summed over the workers' chunks)")
    console.print(f"golden/numpy time ratio: {t_golden / t_numpy:.2f}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
