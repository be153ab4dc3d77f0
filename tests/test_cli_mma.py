"""``ulpflow mma`` in a subprocess: the table of one dot product under every model, checked
against the exact Fraction reference of the fused semantics (tests/golden/test_mma_reference.py),
and one clear error per kind of bad input."""

from __future__ import annotations

import re
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from test_cli import run

sys.path.insert(0, str(Path(__file__).parent / "golden"))
from test_mma_reference import TABLE, decode, ref_dot  # noqa: E402


def _value(code, name):
    kind, sign, e, s = decode(code, name)
    return (-1) ** sign * s * Fraction(2) ** (e or 0)


def test_one_dot_product_under_every_model_is_bit_exact():
    rng = np.random.default_rng(5)
    K = 64
    field = rng.integers(1, 14, size=(2, K))
    codes = (rng.integers(0, 2, size=(2, K)) << 7) | (field << 3) | rng.integers(0, 8, size=(2, K))
    a, b = codes
    r = run("mma", "--model", "hopper.wgmma.e4m3.f32", "--k", str(K),
            "--a", ",".join(hex(x) for x in a), "--b", ",".join(hex(x) for x in b))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    rows = dict(re.findall(r"│ (\S+) \(L=\d+, F=\d+\)\s+│ (0x[0-9a-f]+) ", out))
    for model in ("hopper.wgmma.e4m3.f32", "blackwell.tcgen05.e4m3.f32"):  # e4m3fn inputs as given
        assert int(rows[model], 16) == ref_dot(a, b, 0, model), model
    assert len(rows) == 9  # e5m2 cannot hold every e4m3fn value: listed as skipped
    assert "not representable in the inputs of: hopper.wgmma.e5m2.f32" in out
    exact = sum(_value(int(x), "e4m3fn") * _value(int(y), "e4m3fn") for x, y in zip(a, b))
    assert f"exact (Fraction)" in out and f"{float(exact):.17g}" in out
    m = re.search(r"(\d+) different answers among (\d+) evaluations", out)
    assert m and int(m[1]) >= 3 and int(m[2]) == 11
    # the one-hot sum picks an input that every model's input format holds (e5m2 included) and
    # gives its value exactly under every model
    j = int(re.search(r"one-hot\s+picks\s+b\[(\d+)\]", out)[1])
    one_hot = re.findall(r"│ (\S+)\s+│ (0x[0-9a-f]+) \([^)]*\)\s+│ (yes|NO)", out)
    assert sorted(name for name, _, _ in one_hot) == sorted(TABLE)
    for name, code, verdict in one_hot:
        assert _value(int(code, 16), TABLE[name][1]) == _value(int(b[j]), "e4m3fn") and verdict == "yes", name


def test_random_bf16_dot_product_runs():
    r = run("mma", "--model", "ampere.mma.bf16.f32", "--k", "32", "--seed", "3")
    assert r.returncode == 0, r.stderr
    assert "32-term dot product of bf16 codes (seed 3)" in r.stdout and "NO" not in r.stdout


@pytest.mark.parametrize("args,message", [
    (["--model", "ampere", "--k", "8"], r"unknown MMA model 'ampere'; known models: volta\.mma\.f16\.f32, ampere\.mma\.f16\.f32, "),
    (["--model", "ampere.mma.f16.f32", "--k", "0"], r"--k must be a positive number of products, not 0"),
    (["--model", "ampere.mma.f16.f32", "--k", "3", "--a", "0x3c00,0x3c00", "--b", "0x3c00,0x3c00,0x3c00"],
     r"--a and --b must have --k = 3 codes each, got 2 and 3"),
    (["--model", "ampere.mma.f16.f32", "--k", "1", "--a", "0x10000", "--b", "0x3c00"],
     r"--a: code 0x10000 is out of range for fp16 \(0x0 … 0xffff\)"),
    (["--model", "ampere.mma.f16.f32", "--k", "2", "--product-format", "fp16"],
     r"--product-format: product format fp16 cannot hold every exact product fp16 × fp16 of a fused tree"),
])
def test_bad_input_gives_one_clear_error(args, message):
    r = run("mma", *args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(message, lines[0]), r.stderr
