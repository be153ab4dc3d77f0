"""Verilator sweeps on Dask (``ulpflow.sweep``): pairs/s of a 16-bit unit, and the speed-up of
N worker processes over one, in the same run.

Usage::

    python bench/rtl_sweep.py                              # fp16 add RNE, first 4 chunks, 1 vs 2 workers
    python bench/rtl_sweep.py --op mul --format bf16 --mode RDN --chunks 16 --workers 2
    python bench/rtl_sweep.py --full --format fp16 --mode RDN   # all 2^32 pairs (resumes)
    python bench/rtl_sweep.py --mutate                     # must report mismatches (exit 1)

A chunk is 2^22 operand pairs (64 rows of ``a`` against all 65536 ``b``): one golden call and
one run of the Verilator C++ harness. The partial runs sweep the same first chunks twice, on a
local cluster of one worker and of ``--workers`` workers, every chunk recomputed (``resume=False``);
they print wall time and pairs/s of each and last the line ``speed-up (N workers / 1): X``. The
first build of a unit's model (seconds) falls into the first run. ``--full`` sweeps all 2^32
pairs once on ``--workers`` workers, taking chunks already on disk from an earlier run, and prints
the summary (0 mismatches expected). Exits 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import sys
import time

from ulpflow.sweep import UnitSweep, run_sweep


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--op", default="add", choices=("add", "mul"))
    p.add_argument("--format", default="fp16", help="a 16-bit format (default fp16)")
    p.add_argument("--mode", default="RNE", help="rounding mode (default RNE)")
    p.add_argument("--chunks", type=int, default=4, help="chunks of the partial runs (default 4)")
    p.add_argument("--workers", type=int, default=2, help="workers of the second run (default 2)")
    p.add_argument("--full", action="store_true", help="all 2^32 pairs instead")
    p.add_argument("--mutate", action="store_true", help="inject the ties_away fault")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    job = UnitSweep(args.op, args.format, rounding=args.mode,
                    mutate="ties_away" if args.mutate else None)
    print(f"# {job.describe()}", flush=True)
    if args.full:
        r = run_sweep(job, exhaustive=True, workers=args.workers)
        print("\n".join(r.summary()))
        return 0 if r.ok else 1
    rates = {}
    ok = True
    for workers in (1, args.workers):
        t0 = time.perf_counter()
        r = run_sweep(job, exhaustive=True, workers=workers, resume=False, max_chunks=args.chunks)
        wall = time.perf_counter() - t0
        rates[workers] = r.vectors / wall
        ok &= r.ok
        print(f"{workers} worker(s): {r.chunks} chunks, {r.vectors} pairs, {r.mismatches} "
              f"mismatches, {wall:.1f} s wall (cluster start included), {rates[workers]:,.0f} "
              f"pairs/s", flush=True)
    print(f"speed-up ({args.workers} workers / 1): {rates[args.workers] / rates[1]:.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
