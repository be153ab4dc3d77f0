"""Benchmark: golden evaluation of a bf16 network over every bf16 input.

Network: 1 -> 64 -> 64 -> 1 (input dimension 1, so that "all 65,536 bf16 inputs" is the whole
input space), bf16 weights, products and accumulators, sequential trees (the default), correctly
rounded GELU after the two hidden layers and identity at the output. Per input that is
64 + 64·64 + 64 = 4,224 multiply-adds (each neuron of n inputs: n rounded products and n rounded
additions, the bias included).

Reported, all measured in this run:
- network seconds and MAC/s over all 65,536 inputs;
- the golden element-wise rate of ``mul`` then ``add`` on 2**20 bf16 codes, and the network's
  time divided by the cost of its arithmetic at that rate (goal: <= 3), from wall times and
  from CPU times (golden is single-threaded, so its CPU time is its work: on a shared, loaded
  machine the CPU-time ratio is the one that compares like with like, a long network run
  and short element-wise runs seeing different loads);
- time to build the correctly rounded bf16 GELU table cold (empty temporary cache folder) and
  from the on-disk cache.

Run: ``.venv/bin/python bench/golden_network.py [--inputs N]``. No assertions: numbers only.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np


def timed(fn, repeat=1, cpu=None):
    """Best wall time of ``repeat`` runs and the last result; with a dict ``cpu``, its key
    "t" gets the best CPU time of this process."""
    best = best_cpu = None
    out = None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        dt, dc = time.perf_counter() - t, time.process_time() - c
        best = dt if best is None else min(best, dt)
        best_cpu = dc if best_cpu is None else min(best_cpu, dc)
    if cpu is not None:
        cpu["t"] = best_cpu
    return best, out


def random_weights(fmt, shape, rng):
    """bf16 codes of magnitude 2**-4 .. 2 with random signs (keeps the sums finite)."""
    exp = rng.integers(-4, 2, shape)
    frac = rng.integers(0, 1 << fmt.man_bits, shape)
    sign = rng.integers(0, 2, shape)
    field = exp + fmt.bias
    codes = (sign << (fmt.bits - 1)) | (field << fmt.man_bits) | frac
    return codes.astype(fmt.dtype)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=1 << 16, help="number of bf16 inputs (default: all)")
    ap.add_argument("--width", type=int, default=64)
    args = ap.parse_args()

    from ulpflow.golden import add, mul, parse_format
    from ulpflow.golden import activations as A
    from ulpflow.golden.network import Layer, Network

    bf16 = parse_format("bf16")

    # -- GELU table: cold (temporary cache folder) and from the disk cache -------------------
    old = os.environ.get("ULPFLOW_CACHE_DIR")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ULPFLOW_CACHE_DIR"] = tmp
        try:
            A.clear_memory_cache()
            t_cold, _ = timed(lambda: A.get_activation("gelu", bf16).table())
            A.clear_memory_cache()
            t_cached, _ = timed(lambda: A.get_activation("gelu", bf16).table())
            gelu = A.get_activation("gelu", bf16)
            gelu.table()
        finally:
            if old is None:
                os.environ.pop("ULPFLOW_CACHE_DIR", None)
            else:
                os.environ["ULPFLOW_CACHE_DIR"] = old

    # -- the network --------------------------------------------------------------------------
    rng = np.random.default_rng(2024)
    w = args.width
    ident = A.get_activation("identity", bf16)
    layers = [
        Layer(random_weights(bf16, (w, 1), rng), random_weights(bf16, (w,), rng), weight_format=bf16,
              acc_format=bf16, activation=gelu),
        Layer(random_weights(bf16, (w, w), rng), random_weights(bf16, (w,), rng), weight_format=bf16,
              acc_format=bf16, activation=gelu),
        Layer(random_weights(bf16, (1, w), rng), random_weights(bf16, (1,), rng), weight_format=bf16,
              acc_format=bf16, activation=ident),
    ]
    net = Network(bf16, layers)
    x = bf16.all_codes()[: args.inputs, None]
    macs_per_input = sum(l.n_in * l.n_out for l in layers)
    n = x.shape[0]
    net_cpu, mul_cpu, add_cpu = {}, {}, {}
    t_net, y = timed(lambda: net(x), cpu=net_cpu)
    n_nan = int(bf16.is_nan(y).sum())

    # -- element-wise golden mul + add rate (same run) -----------------------------------------
    m = 1 << 20
    a = random_weights(bf16, (m,), rng)
    b = random_weights(bf16, (m,), rng)
    c = random_weights(bf16, (m,), rng)
    t_mul, p = timed(lambda: mul(a, b, bf16), repeat=3, cpu=mul_cpu)
    t_add, _ = timed(lambda: add(p, c, bf16), repeat=3, cpu=add_cpu)
    pair = (t_mul + t_add) / m
    arith = macs_per_input * n * pair
    arith_cpu = macs_per_input * n * (mul_cpu["t"] + add_cpu["t"]) / m

    rows = [
        ("network", f"1 -> {w} -> {w} -> 1, bf16, GELU (cr), sequential trees"),
        ("inputs", f"{n:,} bf16 codes (NaN outputs: {n_nan})"),
        ("MACs per input", f"{macs_per_input:,}"),
        ("network time", f"{t_net:.2f} s"),
        ("network MAC/s", f"{macs_per_input * n / t_net:,.0f}"),
        ("golden mul", f"{m / t_mul:,.0f} /s"),
        ("golden add", f"{m / t_add:,.0f} /s"),
        ("golden mul+add", f"{1 / pair:,.0f} MAC/s"),
        ("arithmetic cost", f"{arith:.2f} s (network MACs at the element-wise rate)"),
        ("network / arithmetic", f"{t_net / arith:.2f}x (goal <= 3x; wall times)"),
        ("network CPU time", f"{net_cpu['t']:.2f} s"),
        ("arithmetic CPU time", f"{arith_cpu:.2f} s"),
        ("network / arithmetic, CPU", f"{net_cpu['t'] / arith_cpu:.2f}x (goal <= 3x)"),
        ("GELU bf16 table, cold", f"{t_cold:.2f} s"),
        ("GELU bf16 table, cached", f"{t_cached * 1e3:.1f} ms"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()
