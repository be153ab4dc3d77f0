"""Throughput of golden add/mul next to ml_dtypes, apytypes and NumPy, measured in one run.

Usage::

    python bench/golden_arith.py            # 10**6 elements, best of 5
    python bench/golden_arith.py --n 200000 --repeat 3

Every library works on its own native representation, built before timing (golden: code
arrays; ml_dtypes/NumPy: arrays of their dtype; apytypes: APyFloatArray / APyFixedArray),
and every timed operation rounds RNE into the same format (q4.4: round, then saturate).
Ratios are golden ops/s divided by the other library's ops/s (> 1: golden is faster).
Goals (issue 2): 8-bit formats at least as fast as ml_dtypes, every format at least as
fast as apytypes.  The "check" column compares golden's result with the baselines'
results (NaN by class) so that the bench also fails loudly on a wrong answer.
"""

from __future__ import annotations

import argparse
import sys
import time

import apytypes as apy
import ml_dtypes
import numpy as np

import ulpflow.golden as g

FORMATS = {
    # name: (E, M, ml_dtypes/NumPy dtype or None, NumPy-native?)
    "e4m3": (4, 3, ml_dtypes.float8_e4m3, False),
    "e5m2": (5, 2, ml_dtypes.float8_e5m2, False),
    "e3m2": (3, 2, None, False),
    "bf16": (8, 7, ml_dtypes.bfloat16, False),
    "fp16": (5, 10, np.float16, True),
    "fp32": (8, 23, np.float32, True),
    "q4.4": None,
}
RNE = apy.QuantizationMode.TIES_EVEN


def best_time(fn, repeat):
    fn()  # warm up (tables, caches, thread pools)
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def storage(bits):
    return {8: np.uint8, 6: np.uint8, 16: np.uint16, 32: np.uint32}[bits]


def float_nan(codes, E, M):
    c = codes.astype(np.int64)
    return (((c >> M) & ((1 << E) - 1)) == (1 << E) - 1) & ((c & ((1 << M) - 1)) != 0)


def bench_float(name, op, n, repeat, rng):
    E, M, dt, native = FORMATS[name]
    bits = 1 + E + M
    fmt = g.parse_format(name)
    a = rng.integers(0, 1 << bits, n).astype(fmt.dtype)
    b = rng.integers(0, 1 << bits, n).astype(fmt.dtype)
    fn = getattr(g, op)
    res = {"golden": best_time(lambda: fn(a, b, fmt), repeat)}
    got = fn(a, b, fmt).astype(np.int64)
    checks = []
    if dt is not None:
        x = a.astype(storage(bits)).view(dt)
        y = b.astype(storage(bits)).view(dt)
        npop = np.add if op == "add" else np.multiply
        with np.errstate(all="ignore"):
            res["numpy" if native else "ml_dtypes"] = best_time(lambda: npop(x, y), repeat)
            ref = npop(x, y).view(storage(bits)).astype(np.int64)
        checks.append(ref)
    A = apy.APyFloatArray.from_bits(a.astype(np.uint64), E, M)
    B = apy.APyFloatArray.from_bits(b.astype(np.uint64), E, M)
    apop = A.__add__ if op == "add" else A.__mul__
    with apy.APyFloatQuantizationContext(RNE):
        res["apytypes"] = best_time(lambda: apop(B), repeat)
        checks.append(apop(B).to_bits(numpy=True).astype(np.int64))
    bad = 0
    for ref in checks:
        both_nan = float_nan(got, E, M) & float_nan(ref, E, M)
        bad += int(((got != ref) & ~both_nan).sum())
    return res, bad


def bench_fixed(op, n, repeat, rng):
    fmt = g.parse_format("q4.4")
    a = rng.integers(0, 256, n).astype(np.uint8)
    b = rng.integers(0, 256, n).astype(np.uint8)
    fn = getattr(g, op)
    res = {"golden": best_time(lambda: fn(a, b, fmt), repeat)}
    got = fn(a, b, fmt).astype(np.int64)
    signed = lambda c: np.where(c >= 128, c.astype(np.int64) - 256, c.astype(np.int64))
    # apytypes reads NumPy unsigned arrays as magnitudes: hand it sign-extended integers
    A = apy.APyFixedArray(signed(a), int_bits=4, frac_bits=4)
    B = apy.APyFixedArray(signed(b), int_bits=4, frac_bits=4)
    apop = A.__add__ if op == "add" else A.__mul__

    def apy_run():
        return apop(B).cast(int_bits=4, frac_bits=4, quantization=RNE,
                            overflow=apy.OverflowMode.SAT)

    res["apytypes"] = best_time(apy_run, repeat)
    ref = apy_run().to_bits(numpy=True).astype(np.int64)
    return res, int((got != ref).sum())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10**6, help="elements per array (default 10**6)")
    ap.add_argument("--repeat", type=int, default=5, help="timing repeats, best taken")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from rich.console import Console
    from rich.table import Table

    rng = np.random.default_rng(args.seed)
    table = Table(title=f"golden add/mul, M ops/s, {args.n:,} elements, best of {args.repeat} "
                        f"(apytypes threads: {apy.n_threads()})")
    for col in ("format", "op", "golden", "ml_dtypes", "g/ml", "numpy", "g/np",
                "apytypes", "g/apy", "goals", "check"):
        table.add_column(col, justify="right" if col not in ("format", "op", "goals") else "left")
    failures = 0
    for name in FORMATS:
        for op in ("add", "mul"):
            if name == "q4.4":
                res, bad = bench_fixed(op, args.n, args.repeat, rng)
            else:
                res, bad = bench_float(name, op, args.n, args.repeat, rng)
            mops = {k: args.n / v / 1e6 for k, v in res.items()}
            cell = lambda k: f"{mops[k]:.1f}" if k in mops else "-"
            ratio = lambda k: f"{mops['golden'] / mops[k]:.2f}x" if k in mops else "-"
            goals = []
            if name in ("e4m3", "e5m2", "e3m2") and "ml_dtypes" in mops:
                goals.append("ml" + ("✓" if mops["golden"] >= mops["ml_dtypes"] else "✗"))
            goals.append("apy" + ("✓" if mops["golden"] >= mops["apytypes"] else "✗"))
            failures += bad
            table.add_row(name, op, cell("golden"), cell("ml_dtypes"), ratio("ml_dtypes"),
                          cell("numpy"), ratio("numpy"), cell("apytypes"), ratio("apytypes"),
                          " ".join(goals), "ok" if not bad else f"{bad} differ")
    Console(width=120).print(table)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
