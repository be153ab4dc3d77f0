"""The float fast path (golden/fastpath.py, kernel.round_pack_binary) against the integer path.

Both paths of golden compute the same function; this file keeps both checked, bit for bit, on
mixed random and corner-case operands (the generator of oracles.py: uniform codes, specials,
exact ties, carries, cancellation, overflow and underflow thresholds) per format and mode:
bf16, fp16, fp32, a custom e6m9 and the flush-to-zero e8m7_ftz / e5m10_ftz, for add, sub and
mul, plus fma and convert on a smaller set. Default run: N_DEFAULT pairs per (format, op,
mode); the slow run (``-m slow``) uses N_FULL = 10**6.
"""

import numpy as np
import pytest

import ulpflow.golden as g
from ulpflow.golden import fastpath
from oracles import FLOAT_PRESETS, ROUNDING_MODES, FloatSpec, corner_pairs

N_DEFAULT = 20_000
N_FULL = 10**6

SPECS = {
    "bf16": FLOAT_PRESETS["bf16"],
    "fp16": FLOAT_PRESETS["fp16"],
    "fp32": FLOAT_PRESETS["fp32"],
    "e6m9": FloatSpec("e6m9", 6, 9, 31),
    "e8m7_ftz": FloatSpec("e8m7_ftz", 8, 7, 127, subnormals=False),
    "e5m10_ftz": FloatSpec("e5m10_ftz", 5, 10, 15, subnormals=False),
}
OPS = ("add", "sub", "mul")


def operands(name, op, n, seed=0):
    spec = SPECS[name]
    rng = np.random.default_rng([seed, sorted(SPECS).index(name), OPS.index(op)])
    a, b, _, _ = corner_pairs(spec, n, rng, op)
    return a.astype(spec.dtype), b.astype(spec.dtype)


def both_paths(fn):
    fast = fn()
    with fastpath.integer_path():
        slow = fn()
    return fast, slow


def assert_same(fast, slow, what, *inputs):
    assert fast.dtype == slow.dtype
    bad = np.flatnonzero(fast != slow)
    if bad.size:
        i = bad[0]
        ops = ", ".join(hex(int(x[i])) for x in inputs)
        raise AssertionError(f"{what}: {bad.size} of {fast.size} differ; first: operands {ops}: "
                             f"fast {int(fast[i]):#x}, integer {int(slow[i]):#x}")


def check(name, op, mode, n):
    fmt = g.parse_format(name)
    a, b = operands(name, op, n)
    assert a.size >= n
    fn = getattr(g, op)
    fast, slow = both_paths(lambda: fn(a, b, fmt, rounding=mode, strict=False))
    assert_same(fast, slow, f"{op} {name} {mode}", a, b)
    return a.size


def test_formats_take_the_fast_path():
    # the comparison below is only worth something if these really run on the fast path
    for name in SPECS:
        f = g.parse_format(name)
        for op in ("add", "mul", "convert"):
            fs = (f,) if op == "convert" else (f, f)
            assert fastpath.plan(op, fs, f) is not None, (op, name)
    assert fastpath.plan("fma", (g.parse_format("bf16"),) * 3, g.parse_format("bf16"))
    # formats float64 cannot cover stay on the integer path
    wide = g.parse_format("e8m30")
    assert fastpath.plan("mul", (wide, wide), wide) is None
    far = g.parse_format("e11m10")  # exponent range beyond float64's
    assert fastpath.plan("add", (far, far), far) is None


@pytest.mark.parametrize("mode", ROUNDING_MODES)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("name", sorted(SPECS))
def test_fast_equals_integer(name, op, mode):
    check(name, op, mode, N_DEFAULT)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ROUNDING_MODES)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("name", sorted(SPECS))
def test_fast_equals_integer_full(name, op, mode):
    assert check(name, op, mode, N_FULL) >= N_FULL


@pytest.mark.parametrize("mode", ROUNDING_MODES)
@pytest.mark.parametrize("name", ["bf16", "fp16", "fp32", "e6m9", "e8m7_ftz"])
def test_fma_fast_equals_integer(name, mode):
    fmt = g.parse_format(name)
    a, b = operands(name, "mul", 5000, seed=1)
    c, _ = operands(name, "add", a.size, seed=2)
    c = c[: a.size] if c.size >= a.size else np.resize(c, a.size)
    fast, slow = both_paths(lambda: g.fma(a, b, c, fmt, rounding=mode, strict=False))
    assert_same(fast, slow, f"fma {name} {mode}", a, b, c)


@pytest.mark.parametrize("mode", ROUNDING_MODES)
@pytest.mark.parametrize("src,dst", [("fp32", "bf16"), ("fp32", "fp16"), ("fp16", "bf16"),
                                     ("bf16", "fp16"), ("fp32", "e6m9"), ("e6m9", "e8m7_ftz"),
                                     ("fp32", "e5m10_ftz"), ("fp16", "fp32")])
def test_convert_fast_equals_integer(src, dst, mode):
    fs, fd = g.parse_format(src), g.parse_format(dst)
    a, b = operands(src, "add", 20_000, seed=3)
    x = np.concatenate([a, b])
    fast, slow = both_paths(lambda: g.convert(x, fs, fd, rounding=mode, strict=False))
    assert_same(fast, slow, f"convert {src}->{dst} {mode}", x)


def test_mixed_operand_formats():
    bf16, fp16, fp32 = (g.parse_format(n) for n in ("bf16", "fp16", "fp32"))
    a, _ = operands("bf16", "mul", 20_000)
    b, _ = operands("fp16", "mul", a.size)
    b = np.resize(b, a.size)
    for mode in ROUNDING_MODES:
        for op in ("add", "mul"):
            fn = getattr(g, op)
            fast, slow = both_paths(lambda: fn(a, b, (bf16, fp16), out=fp32, rounding=mode))
            assert_same(fast, slow, f"{op} bf16,fp16->fp32 {mode}", a, b)
            fast, slow = both_paths(lambda: fn(a, b, (bf16, fp16), out=bf16, rounding=mode))
            assert_same(fast, slow, f"{op} bf16,fp16->bf16 {mode}", a, b)


def test_comparison_catches_a_fault(monkeypatch):
    # a fault injected into the fast entry (heads on a boundary moved half a unit up) must be
    # reported
    from ulpflow.golden import kernel

    real = kernel._nudge

    def faulty(u, tail, s, mode, t, exp_all, top):
        return real(u, tail, s, mode, t, exp_all, top) + t(1 << (s - 1))

    monkeypatch.setattr(kernel, "_nudge", faulty)
    with pytest.raises(AssertionError, match="differ"):
        check("bf16", "add", "RTZ", 2000)


@pytest.mark.parametrize("name", ["bf16", "fp16"])
def test_comparison_catches_a_wrong_tail(monkeypatch, name):
    # the directed modes read the sign of the smaller operand where the head equals the
    # larger one (fastpath._larger_tail): a flipped sign there must be reported
    real = fastpath._larger_tail

    def flipped(x, y, h):
        tail = real(x, y, h)
        return lambda idx: -tail(idx)

    monkeypatch.setattr(fastpath, "_larger_tail", flipped)
    with pytest.raises(AssertionError, match="differ"):
        check(name, "add", "RUP", 2000)


@pytest.mark.parametrize("name", ["bf16", "fp16", "fp32", "e6m9"])
def test_sums_read_the_tail_at_the_larger_operand_only(name):
    # the plan skips TwoSum for these formats (docs/semantics.md §7); the comparisons above
    # check that this is exact
    f = g.parse_format(name)
    assert fastpath.plan("add", (f, f), f)[2] == "larger"
