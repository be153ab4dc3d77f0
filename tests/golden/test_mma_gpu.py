"""ulpflow.golden.mma against MMA-Sim (the ``mmasim`` package, an oracle written elsewhere).

Marked ``gpu_models``: deselected by ``make test`` (MMA-Sim pulls in PyTorch); run with
``make test-gpu-models``, which installs the ``gpu`` extra and prints the mismatch count of
every comparison at the end (the ``tallies`` section, tests/conftest.py). Every model is compared on
>= 10^5 random blocks of mixed magnitudes and >= 10^4 blocks with subnormals, zeros and
exact cancellations (plus NaN/inf blocks), each dot product two blocks and a half long so
that blocks chain through c. ULPFLOW_GPU_MODELS_SCALE (default 1) scales the counts.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from test_mma_reference import TABLE, blocks

pytestmark = pytest.mark.gpu_models

from ulpflow.golden import mma  # noqa: E402

# the MMA-Sim instruction of each model (its public classes pick F, L and e_zero themselves)
SIM = {
    "volta.mma.f16.f32": ("MMA", "Volta", "m8n8k4.f32.f16.f16.f32"),
    "ampere.mma.f16.f32": ("MMA", "Ampere", "m16n8k16.f32.f16.f16.f32"),
    "ampere.mma.bf16.f32": ("MMA", "Ampere", "m16n8k16.f32.bf16.bf16.f32"),
    "ampere.mma.f16.f16": ("MMA", "Ampere", "m16n8k16.f16.f16.f16.f16"),
    "hopper.wgmma.f16.f32": ("WGMMA", "Hopper", "m64n8k16.f32.f16.f16"),
    "hopper.wgmma.bf16.f32": ("WGMMA", "Hopper", "m64n8k16.f32.bf16.bf16"),
    "hopper.wgmma.f16.f16": ("WGMMA", "Hopper", "m64n8k16.f16.f16.f16"),
    "hopper.wgmma.e4m3.f32": ("WGMMA", "Hopper", "m64n8k32.f32.e4m3.e4m3"),
    "hopper.wgmma.e5m2.f32": ("WGMMA", "Hopper", "m64n8k32.f32.e5m2.e5m2"),
    "blackwell.tcgen05.e4m3.f32": ("TCGen05MMA", "Blackwell", "m64n8k32.kind::f8f6f4.f32.e4m3.e4m3"),
}
# format -> (bits, name of the torch dtype); the codes travel as signed integers of that width
_TORCH = {"fp16": (16, "float16"), "bf16": (16, "bfloat16"), "fp32": (32, "float32"),
          "e4m3fn": (8, "float8_e4m3fn"), "e5m2": (8, "float8_e5m2")}
_NP_SIGNED = {8: np.uint8, 16: np.int16, 32: np.int32}
SCALE = float(os.environ.get("ULPFLOW_GPU_MODELS_SCALE", "1"))


def _oracle():
    """(torch, mmasim.nv_ptx), imported when a test runs (not at collection: ``make test``
    collects this file and deselects it, and importing PyTorch costs seconds per worker)."""
    return pytest.importorskip("torch"), pytest.importorskip("mmasim.nv_ptx")


def _tensor(codes, name):
    torch, _ = _oracle()
    bits, dtype = _TORCH[name]
    return torch.from_numpy(np.ascontiguousarray(codes).view(_NP_SIGNED[bits])).view(getattr(torch, dtype))


def mmasim_dot(model, a, b, c):
    torch, nv = _oracle()
    cls, arch, instr = SIM[model]
    op = getattr(nv, cls)(arch, instr)
    ab, cd = TABLE[model][:2]
    d = op.dpa(_tensor(a, ab), _tensor(b, ab), _tensor(c, cd))
    bits = _TORCH[cd][0]
    out = d.view({16: torch.int16, 32: torch.int32}[bits]).numpy()
    return out.view(np.uint32 if cd == "fp32" else np.uint16)


def _mismatches(model, kind, n, seed):
    L = TABLE[model][3]
    K = 2 * L + max(L // 2, 1)
    bad = 0
    first = None
    for start in range(0, n, 20000):
        m = min(20000, n - start)
        a, b, c = blocks(model, m, K, kind, seed=seed + start)
        got = mma.dot(a, b, c, model)
        want = mmasim_dot(model, a, b, c)
        diff = got != want
        bad += int(diff.sum())
        if first is None and diff.any():
            i = int(np.flatnonzero(diff)[0])
            first = (a[i].tolist(), b[i].tolist(), int(c[i]), hex(int(got[i])), hex(int(want[i])))
    return bad, first, f"{model} {kind}: {n} dot products of K={K} ({-(-K // L)} blocks each), {bad} mismatches vs MMA-Sim"


@pytest.mark.parametrize("model", list(SIM))
@pytest.mark.parametrize("kind,count", [("mixed", 100_000), ("random", 20_000), ("corner", 20_000),
                                        ("specials", 10_000)])
def test_dot_matches_mmasim(model, kind, count, record_property):
    n = max(int(count * SCALE), 100)
    bad, first, line = _mismatches(model, kind, n, seed=sum(map(ord, model + kind)))
    record_property("tally", line)
    assert bad == 0, f"{model} {kind}: {bad} of {n} blocks differ from MMA-Sim; first a, b, c, ours, MMA-Sim: {first}"


def test_mmasim_comparison_catches_an_injected_fault(record_property):
    """A model whose e_zero is off (−20 instead of −132) gives results that MMA-Sim refutes:
    with products near 2^−28 and one zero term, e_max becomes −20 and bits below 2^−44 are cut,
    which an fp32 result near 2^−28 shows."""
    import dataclasses
    model = "ampere.mma.f16.f32"
    m = mma.MODELS[model]
    faulty = dataclasses.replace(m, spec=dataclasses.replace(m.spec, e_zero=-20))
    rng = np.random.default_rng(1)
    n = 2000
    code = lambda: ((rng.integers(0, 2, (n, 8)) << 15) | (1 << 10) | rng.integers(0, 1 << 10, (n, 8))).astype(np.uint16)
    a, b = code(), code()
    a[:, 0] = 0  # one zero product per block: its exponent is e_zero
    c = np.zeros(n, np.uint32)
    ref = mmasim_dot(model, a, b, c)
    assert (mma.dot(a, b, c, m) == ref).all()
    caught = int((mma.dot(a, b, c, faulty) != ref).sum())
    record_property("tally", f"injected fault ({model} with e_zero = -20): {caught} of {n} dot products "
                             "differ from MMA-Sim")
    assert caught > n // 10
