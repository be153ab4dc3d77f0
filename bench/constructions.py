"""Benchmark: C3 threshold blocks — construction and golden check time and network size against
the domain size, for e2m3fn → e3m4 → bf16 (and e4m3 as a format where every constant exists).

For each format: every positive threshold z (bf16: ``--sample`` of them, evenly spaced) is built
as a threshold block (:func:`ulpflow.nets.c3.threshold_network`, 3 layers, 4 neurons) when its
constants are values of the format (the others are counted, with the first failure message), and
each built block is checked in golden against 1[x ≥ z] on every finite input of the format.
Also printed: the size the universal network (all 2P thresholds, one-hot output) would have,
from :func:`ulpflow.nets.c3.c3_size`.

Run: ``nice -n 10 .venv/bin/python bench/constructions.py [--sample 64]``. Numbers only.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main():
    from ulpflow.golden import parse_format
    from ulpflow.nets.c3 import c3_size, threshold_network
    from ulpflow.nets.common import ConstructionError, domain_codes, value_of

    ap = argparse.ArgumentParser()
    ap.add_argument("--sample", type=int, default=64, help="thresholds per format above 4096 (default 64)")
    ap.add_argument("--formats", default="e2m3fn,e3m4,e4m3,bf16")
    args = ap.parse_args()
    print(f"{'format':8} {'domain':>7} {'P':>6} {'built':>6} {'refused':>7} {'build s':>8} {'check s':>8} "
          f"{'check/block ms':>14}  universal network (layers, neurons, dense params)")
    for name in args.formats.split(","):
        fmt = parse_format(name)
        xs = domain_codes(fmt)
        xv = fmt.decode(xs)
        pos = xs[xv > 0]
        P = pos.size
        pick = pos if P <= 4096 else pos[np.linspace(0, P - 1, args.sample).astype(int)]
        built, refused, first_err = [], 0, None
        t0 = time.perf_counter()
        for z in pick:
            try:
                built.append((value_of(fmt, z), threshold_network(fmt, value_of(fmt, z), allow_violations=True).network))
            except ConstructionError as e:
                refused += 1
                first_err = first_err or str(e)
        t_build = time.perf_counter() - t0
        t0 = time.perf_counter()
        bad = 0
        for z, net in built:
            y = fmt.decode(net(xs[:, None])[:, 0])
            bad += int((y != (xv >= float(z))).sum())
        t_check = time.perf_counter() - t0
        s = c3_size(P)
        per = 1000 * t_check / max(len(built), 1)
        print(f"{name:8} {xs.size:7} {P:6} {len(built):6} {refused:7} {t_build:8.2f} {t_check:8.2f} {per:14.2f}  "
              f"{s['layers']}, {s['neurons']}, {s['parameters']:,}   mismatches {bad}"
              + (f" (of {len(pick)} sampled thresholds)" if len(pick) < P else ""))
        if first_err:
            print(f"         first refusal: {first_err}")


if __name__ == "__main__":
    main()
