"""Throughput of golden add/mul/convert next to ml_dtypes, apytypes and NumPy, in one run.

Usage::

    python bench/golden_arith.py            # 10**6 elements, best of 7, every rounding mode
    python bench/golden_arith.py --n 200000 --repeat 3 --modes RNE
    python bench/golden_arith.py --json     # also a JSON list of rows (after the table)

Every library works on its own native representation, built before timing (golden: code
arrays; ml_dtypes/NumPy: arrays of their dtype; apytypes: APyFloatArray / APyFixedArray),
and every timed operation rounds into the same format in the row's mode (fixed point,
q4.4, q8.8, q16.15: round, then saturate). The conversion rows (fp32 -> bf16 / fp16, golden
convert, apytypes cast, ml_dtypes/NumPy astype) come after the formats they involve. The
libraries take turns within each row (best of ``--repeat`` wall times each), so that a
load that comes and goes falls on all of them alike. ml_dtypes and NumPy only round to
nearest even: their cells are empty (JSON null) in the other modes. Ratios are golden
ops/s divided by the other library's ops/s (> 1: golden is faster). Goals: 8-bit formats
at least as fast as ml_dtypes, every row at least as fast as apytypes, bf16/fp16 add and
mul at least a third of the fastest peer of the row, fp32 at least twice apytypes. The
"check" column compares golden's result with the baselines' results (NaN by class), so that
the bench also fails loudly on a wrong answer: with apytypes in every row and mode (its
float arithmetic agrees with MPFR on every operand pair of the 8-bit formats in all five
modes, tests/golden/test_arith_small.py), and with ml_dtypes/NumPy where they have a cell.
``--fault`` flips one result bit per row: every row must then report it.
"""

from __future__ import annotations

import argparse
import json
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
    "q8.8": None,
    "q16.15": None,
}
RNE = apy.QuantizationMode.TIES_EVEN
MODES = ("RNE", "RNA", "RTZ", "RUP", "RDN")
APY_MODE = {"RNE": apy.QuantizationMode.TIES_EVEN, "RNA": apy.QuantizationMode.TIES_AWAY,
            "RTZ": apy.QuantizationMode.TO_ZERO, "RUP": apy.QuantizationMode.TO_POS,
            "RDN": apy.QuantizationMode.TO_NEG}


def best_times(fns, repeat):
    """Best wall time of each function of ``fns`` (name -> callable) over ``repeat`` runs, the
    libraries taking turns after one warm-up run each (tables, caches, thread pools), so that
    a load that comes and goes on a shared machine falls on all of them alike."""
    for fn in fns.values():
        fn()
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t)
    return best


def storage(bits):
    return {8: np.uint8, 6: np.uint8, 16: np.uint16, 32: np.uint32}[bits]


def float_nan(codes, E, M):
    c = codes.astype(np.int64)
    return (((c >> M) & ((1 << E) - 1)) == (1 << E) - 1) & ((c & ((1 << M) - 1)) != 0)


def flip_one(got, E=None, M=None):
    """The ``--fault`` self-test: flip the last bit of one result, at the first lane from the
    middle on that is not a NaN (a NaN's flipped payload bit may leave a NaN, which the checks
    rightly compare by class), in place."""
    i = got.size // 2
    if E is not None:
        i += int(np.argmax(~float_nan(got[i:], E, M)))
    got[i] ^= 1


def bench_float(name, op, n, repeat, rng, mode="RNE", fault=False):
    E, M, dt, native = FORMATS[name]
    bits = 1 + E + M
    fmt = g.parse_format(name)
    a = rng.integers(0, 1 << bits, n).astype(fmt.dtype)
    b = rng.integers(0, 1 << bits, n).astype(fmt.dtype)
    fn = getattr(g, op)
    fns = {"golden": lambda: fn(a, b, fmt, rounding=mode)}
    peer = None
    if dt is not None and mode == "RNE":
        x = a.astype(storage(bits)).view(dt)
        y = b.astype(storage(bits)).view(dt)
        npop = np.add if op == "add" else np.multiply

        def peer():
            with np.errstate(all="ignore"):
                return npop(x, y)

        fns["numpy" if native else "ml_dtypes"] = peer
    A = apy.APyFloatArray.from_bits(a.astype(np.uint64), E, M)
    B = apy.APyFloatArray.from_bits(b.astype(np.uint64), E, M)
    apop = A.__add__ if op == "add" else A.__mul__

    def apy_run():
        with apy.APyFloatQuantizationContext(APY_MODE[mode]):
            return apop(B)

    fns["apytypes"] = apy_run
    res = best_times(fns, repeat)
    got = fns["golden"]().astype(np.int64)
    if fault:  # self-test of the check column: one flipped result bit must be reported
        flip_one(got, E, M)
    checks = []
    if peer is not None:
        checks.append(peer().view(storage(bits)).astype(np.int64))
    checks.append(apy_run().to_bits(numpy=True).astype(np.int64))
    bad = 0
    for ref in checks:
        both_nan = float_nan(got, E, M) & float_nan(ref, E, M)
        bad += int(((got != ref) & ~both_nan).sum())
    return res, bad


def bench_fixed(name, op, n, repeat, rng, mode="RNE", fault=False):
    fmt = g.parse_format(name)
    I, F, bits = fmt.int_bits, fmt.frac_bits, fmt.bits
    a = rng.integers(0, 1 << bits, n).astype(fmt.dtype)
    b = rng.integers(0, 1 << bits, n).astype(fmt.dtype)
    fn = getattr(g, op)
    half = 1 << (bits - 1)
    signed = lambda c: np.where(c >= half, c.astype(np.int64) - (1 << bits), c.astype(np.int64))
    # apytypes reads NumPy unsigned arrays as magnitudes: hand it sign-extended integers
    A = apy.APyFixedArray(signed(a), int_bits=I, frac_bits=F)
    B = apy.APyFixedArray(signed(b), int_bits=I, frac_bits=F)
    apop = A.__add__ if op == "add" else A.__mul__

    def apy_run():
        return apop(B).cast(int_bits=I, frac_bits=F, quantization=APY_MODE[mode],
                            overflow=apy.OverflowMode.SAT)

    res = best_times({"golden": lambda: fn(a, b, fmt, rounding=mode), "apytypes": apy_run},
                     repeat)
    got = fn(a, b, fmt, rounding=mode).astype(np.int64)
    if fault:
        flip_one(got)
    ref = apy_run().to_bits(numpy=True).astype(np.int64)
    return res, int((got != ref).sum())


#: conversions: (source, destination) -> the ml_dtypes / NumPy dtype of the destination
CONVERSIONS = {("fp32", "bf16"): (ml_dtypes.bfloat16, False), ("fp32", "fp16"): (np.float16, True)}


def bench_convert(src, dst, n, repeat, rng, mode="RNE", fault=False):
    fs, fd = g.parse_format(src), g.parse_format(dst)
    dt, native = CONVERSIONS[(src, dst)]
    a = rng.integers(0, 1 << fs.bits, n).astype(fs.dtype)
    fns = {"golden": lambda: g.convert(a, fs, fd, rounding=mode)}
    x = a.view(np.float32)

    def peer():
        with np.errstate(all="ignore"):
            return x.astype(dt)

    if mode == "RNE":  # float32 -> bfloat16 / float16 casts round to nearest even
        fns["numpy" if native else "ml_dtypes"] = peer
    A = apy.APyFloatArray.from_bits(a.astype(np.uint64), fs.exp_bits, fs.man_bits)

    def apy_run():
        return A.cast(fd.exp_bits, fd.man_bits, quantization=APY_MODE[mode])

    fns["apytypes"] = apy_run
    res = best_times(fns, repeat)
    got = fns["golden"]().astype(np.int64)
    if fault:
        flip_one(got, fd.exp_bits, fd.man_bits)
    checks = []
    if mode == "RNE":
        checks.append(peer().view(storage(fd.bits)).astype(np.int64))
    checks.append(apy_run().to_bits(numpy=True).astype(np.int64))
    bad = 0
    for ref in checks:
        E, M = fd.exp_bits, fd.man_bits
        both_nan = float_nan(got, E, M) & float_nan(ref, E, M)
        bad += int(((got != ref) & ~both_nan).sum())
    return res, bad


def goals_of(name, op, mops):
    """The goals of one row: [(label, met)]."""
    goals = []
    if name in ("e4m3", "e5m2", "e3m2") and mops.get("ml_dtypes") is not None:
        goals.append(("ml", mops["golden"] >= mops["ml_dtypes"]))
    goals.append(("apy", mops["golden"] >= mops["apytypes"]))
    if name in ("bf16", "fp16"):
        fastest = max(v for k, v in mops.items() if k != "golden" and v is not None)
        goals.append(("⅓peer", mops["golden"] >= fastest / 3))
    if name == "fp32":
        goals.append(("2apy", mops["golden"] >= 2 * mops["apytypes"]))
    return goals


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10**6, help="elements per array (default 10**6)")
    ap.add_argument("--repeat", type=int, default=7,
                    help="timing repeats, best taken (the libraries take turns)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--modes", default=",".join(MODES),
                    help="comma-separated rounding modes (default: all five)")
    ap.add_argument("--formats", default=",".join(FORMATS), help="comma-separated formats")
    ap.add_argument("--no-convert", action="store_true",
                    help="leave out the conversion rows (fp32 -> bf16, fp32 -> fp16)")
    ap.add_argument("--json", action="store_true",
                    help="after the table, print the rows as a JSON list of {format, op, "
                         "rounding, golden, apytypes, ml_dtypes, numpy} (M op/s, null where a "
                         "peer has no such format or mode)")
    ap.add_argument("--fault", action="store_true",
                    help="self-test: flip one golden result bit per row; every row's check "
                         "column must report it (exit status 0 if every row did, else 1 and "
                         "the rows that missed it)")
    args = ap.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for m in modes:
        if m not in MODES:
            ap.error(f"unknown rounding mode {m!r}; expected some of {', '.join(MODES)}")
    names = [f.strip() for f in args.formats.split(",") if f.strip()]
    for f in names:
        if f not in FORMATS:
            ap.error(f"unknown format {f!r}; expected some of {', '.join(FORMATS)}")

    from rich.console import Console
    from rich.table import Table

    rng = np.random.default_rng(args.seed)
    table = Table(title=f"golden add/mul, M ops/s, {args.n:,} elements, best of {args.repeat} "
                        f"(apytypes threads: {apy.n_threads()})")
    for col in ("format", "op", "mode", "golden", "ml_dtypes", "g/ml", "numpy", "g/np",
                "apytypes", "g/apy", "goals", "check"):
        table.add_column(col, justify="left" if col in ("format", "op", "mode", "goals") else "right")
    failures = 0
    missed = []  # under --fault: the rows whose check did not report the flipped bit
    rows = []
    for name in names:
        for op in ("add", "mul"):
            for mode in modes:
                if FORMATS[name] is None:
                    res, bad = bench_fixed(name, op, args.n, args.repeat, rng, mode, args.fault)
                else:
                    res, bad = bench_float(name, op, args.n, args.repeat, rng, mode, args.fault)
                mops = {k: args.n / res[k] / 1e6 if k in res else None
                        for k in ("golden", "apytypes", "ml_dtypes", "numpy")}
                cell = lambda k: f"{mops[k]:.1f}" if mops[k] is not None else "-"
                ratio = lambda k: f"{mops['golden'] / mops[k]:.2f}x" if mops[k] is not None else "-"
                goals = goals_of(name, op, mops)
                failures += bad
                if not bad:
                    missed.append(f"{name} {op} {mode}")
                rows.append({"format": name, "op": op, "rounding": mode,
                             **{k: None if v is None else round(v, 2) for k, v in mops.items()}})
                table.add_row(name, op, mode, cell("golden"), cell("ml_dtypes"), ratio("ml_dtypes"),
                              cell("numpy"), ratio("numpy"), cell("apytypes"), ratio("apytypes"),
                              " ".join(k + ("✓" if ok else "✗") for k, ok in goals),
                              "ok" if not bad else f"{bad} differ")
    conversions = [] if args.no_convert else [
        (src, dst) for src, dst in CONVERSIONS if src in names or dst in names]
    for src, dst in conversions:
        for mode in modes:
            res, bad = bench_convert(src, dst, args.n, args.repeat, rng, mode, args.fault)
            mops = {k: args.n / res[k] / 1e6 if k in res else None
                    for k in ("golden", "apytypes", "ml_dtypes", "numpy")}
            cell = lambda k: f"{mops[k]:.1f}" if mops[k] is not None else "-"
            ratio = lambda k: f"{mops['golden'] / mops[k]:.2f}x" if mops[k] is not None else "-"
            goals = [("apy", mops["golden"] >= mops["apytypes"])]
            failures += bad
            if not bad:
                missed.append(f"{src}->{dst} convert {mode}")
            name = f"{src}->{dst}"
            rows.append({"format": name, "op": "convert", "rounding": mode,
                         **{k: None if v is None else round(v, 2) for k, v in mops.items()}})
            table.add_row(name, "convert", mode, cell("golden"), cell("ml_dtypes"),
                          ratio("ml_dtypes"), cell("numpy"), ratio("numpy"), cell("apytypes"),
                          ratio("apytypes"),
                          " ".join(k + ("✓" if ok else "✗") for k, ok in goals),
                          "ok" if not bad else f"{bad} differ")
    Console(width=140).print(table)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    if args.fault:
        if missed:
            print(f"fault self-test FAILED: {len(missed)} of {len(rows)} rows missed the flipped "
                  f"bit: {', '.join(missed)}")
            return 1
        print(f"fault self-test passed: all {len(rows)} rows reported the flipped bit")
        return 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
