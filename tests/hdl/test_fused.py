"""FusedDotProduct in Verilator (``engine="verilator"``) against its golden twin ``mma.dot``.

Zero mismatches allowed, compared code for code (the NaN code included). The golden twin is
itself checked against an exact Fraction reference (tests/golden/test_mma_reference.py) and
MMA-Sim (test_mma_gpu.py). The default suite runs 2·10^4 blocks per model; the ``slow`` tests
10^6 each. Every comparison can fail: deliberately broken units (``_mutate``) in the same build
must show mismatches.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "golden"))
from test_mma_reference import TABLE, blocks, ref_dot  # noqa: E402

from ulpflow.golden import mma  # noqa: E402
from ulpflow.hdl import FusedDotProduct  # noqa: E402
from ulpflow.sim import Bundle, UnitSimulator  # noqa: E402

KINDS = ("random", "mixed", "corner", "specials")


def _inputs(a, b, c):
    K = a.shape[1]
    return {**{f"a__{k}": a[:, k] for k in range(K)}, **{f"b__{k}": b[:, k] for k in range(K)}, "c": c}


def _units(model):
    L = mma.MODELS[model].L
    units = {"unit": FusedDotProduct(model, L)}
    if model == "ampere.mma.f16.f32":  # block chaining, pipelining and the faults: one build
        units["chained"] = FusedDotProduct(model, 2 * L + L // 2, latency=2)
        units["mut_c_not_in_emax"] = FusedDotProduct(model, L, _mutate="c_not_in_emax")
        units["mut_extra_bit"] = FusedDotProduct(model, L, _mutate="extra_bit")
    return units


_SIMS = {}


def _sim(model):
    if model not in _SIMS:
        units = _units(model)
        _SIMS[model] = (units, UnitSimulator(Bundle(units), engine="verilator"))
    return _SIMS[model]


def _run(model, n, seed, chunk=50_000):
    """Simulate n blocks of every kind; returns {label: mismatches} (each unit vs its emulate)."""
    units, sim = _sim(model)
    K = max(u.K for u in units.values())
    bad = {label: 0 for label in units}
    for kind in KINDS:
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            a, b, c = blocks(model, m, K, kind, seed=seed + start + 7919 * KINDS.index(kind))
            inputs = _inputs(a, b, c)
            out = sim.run(inputs)
            for label, u in units.items():
                assert (out[f"{label}_valid"] == 1).all()
                mine = {k: inputs[k] for k in u.signature.input_names()}
                want = u.emulate(**mine)["d"].astype(np.int64)
                bad[label] += int((out[label].astype(np.int64) != want).sum())
    return bad


@pytest.mark.parametrize("model", ["ampere.mma.f16.f32", "hopper.wgmma.e4m3.f32"])
def test_fused_dot_product_matches_golden(model):
    bad = _run(model, 5_000, seed=1)
    for label in bad:
        if label.startswith("mut_"):
            continue
        assert bad[label] == 0, f"{model} {label}: {bad[label]} of 20000 blocks differ from mma.dot"


def test_injected_faults_are_caught():
    bad = _run("ampere.mma.f16.f32", 5_000, seed=2)
    assert bad["unit"] == 0
    for label in ("mut_c_not_in_emax", "mut_extra_bit"):
        assert bad[label] > 0, f"{label}: the bench did not notice the injected fault"


def test_golden_twin_is_the_reference_on_a_few_blocks():
    """emulate() is mma.dot, and mma.dot is the Fraction reference (a direct check here)."""
    u = FusedDotProduct("hopper.wgmma.e4m3.f32", 32)
    u._MustUse__silence = True  # emulated, never elaborated
    a, b, c = blocks("hopper.wgmma.e4m3.f32", 50, 32, "corner", seed=3)
    d = u.emulate(**_inputs(a, b, c))["d"]
    assert [int(x) for x in d] == [ref_dot(a[i], b[i], c[i], "hopper.wgmma.e4m3.f32") for i in range(50)]


def test_constructor_errors():
    with pytest.raises(ValueError, match=r"unknown MMA model 'hopper'; known models: "):
        FusedDotProduct("hopper", 8)
    with pytest.raises(ValueError, match=r"K must be a positive number of products, not 0"):
        FusedDotProduct("ampere.mma.f16.f32", 0)
    spec = mma.MODELS["ampere.mma.f16.f32"].spec
    with pytest.raises(ValueError, match=r"needs a_format and b_format"):
        FusedDotProduct(spec, 8)
    u = FusedDotProduct(spec, 8, a_format="bf16", b_format="bf16", block=4)
    u._MustUse__silence = True  # built for its attributes only
    assert (u.L, u.n_blocks, u.out_format) == (4, 2, spec.container)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["ampere.mma.f16.f32", "hopper.wgmma.e4m3.f32"])
def test_fused_dot_product_million_blocks(model, record_property):
    """>= 10^6 blocks per model (4 kinds × 250,000: random, mixed magnitudes, corner cases,
    specials), all units of the build; the deliberately broken units of the ampere build must
    differ from golden in the same run."""
    t0 = time.perf_counter()
    bad = _run(model, 250_000, seed=11)
    wall = time.perf_counter() - t0
    record_property("tally", f"FusedDotProduct {model} in Verilator: 1000000 blocks per unit in "
                             f"{wall:.0f} s (build cached), mismatches vs golden {bad}")
    for label in bad:
        if label.startswith("mut_"):
            assert bad[label] > 0, f"{label}: the bench did not notice the injected fault"
        else:
            assert bad[label] == 0, f"{model} {label}: {bad[label]} of 1000000 blocks differ from mma.dot"


@pytest.mark.slow
@pytest.mark.parametrize("mutation", ["c_not_in_emax", "extra_bit"])
def test_hopper_faults_are_caught(mutation, record_property):
    """The e4m3 → e8m13 path too: a broken hopper unit differs from golden on the blocks of the
    million-block run's kinds (its own build, so the default suite does not pay for it)."""
    model = "hopper.wgmma.e4m3.f32"
    unit = FusedDotProduct(model, 32, _mutate=mutation)
    sim = UnitSimulator(unit, engine="verilator")
    caught = 0
    for i, kind in enumerate(KINDS):
        a, b, c = blocks(model, 5_000, 32, kind, seed=11 + 7919 * i)
        inputs = _inputs(a, b, c)
        got = sim.run(inputs)["d"].astype(np.int64)
        caught += int((got != unit.emulate(**inputs)["d"].astype(np.int64)).sum())
    record_property("tally", f"FusedDotProduct {model} with fault {mutation}: {caught} of 20000 blocks differ from golden")
    assert caught > 0, f"{mutation}: the bench did not notice the injected fault"
