"""fp16, bf16 and fp32 add/sub/mul/fma against independent oracles on corner-case-rich pairs.

Counts (default run): N_PAIRS = 10**6 pairs per (format, operation, mode) for add, sub and
mul in all five modes, and N_FMA = 10**5 triples per (format, mode) for fma.

Oracles
-------
- RNE: numpy.float16 / ml_dtypes.bfloat16 / numpy.float32 on bit views (float16 and bfloat16
  arithmetic is float32 then one rounding, innocuous since 24 >= 2p + 2).
- RTZ/RUP/RDN: gmpy2 (MPFR, precision M+1, subnormalize=True).
- RNA: apytypes (TIES_AWAY); it is vectorised C++, fast enough for 10**6 pairs.  A sample
  is cross-checked against gmpy2 with exact tie detection, so the RNA oracle is not
  apytypes alone.
- fma (all modes): gmpy2 ``fma`` (one rounding); RNA by exact tie detection.

Each test prints how many pairs of each corner-case class it ran (``pytest -s``).
"""

import functools

import numpy as np
import pytest

import ulpflow.golden as g
from oracles import (DIRECTED, FLOAT_PRESETS, ROUNDING_MODES, apy_float_op, assert_codes_equal,
                     corner_pairs, corner_triples, coverage, gmpy2_op, ml_binop)

N_PAIRS = 10**6
N_FMA = 10**5
WIDE = ("fp16", "bf16", "fp32")
OPS = ("add", "sub", "mul")
SEED = {"fp16": 16, "bf16": 7, "fp32": 32}


@functools.lru_cache(maxsize=2)
def pairs(name, op):
    spec = FLOAT_PRESETS[name]
    rng = np.random.default_rng([SEED[name], OPS.index(op)])
    a, b, labels, names = corner_pairs(spec, N_PAIRS, rng, op)
    return a, b, coverage(labels, names)


def run(name, op, mode, oracle):
    spec = FLOAT_PRESETS[name]
    a, b, cov = pairs(name, op)
    assert a.size >= N_PAIRS
    got = getattr(g, op)(a, b, g.parse_format(name), rounding=mode)
    assert got.dtype == spec.dtype
    assert_codes_equal(got, oracle(a, b, spec), spec,
                       what=f"{op} {name} {mode} vs {oracle.__name__}", inputs=(a, b))
    print(f"\n{op} {name} {mode}: {a.size} pairs, coverage {cov}")


def numpy_ml_dtypes(op):
    def oracle(a, b, spec):
        return ml_binop(op, a, b, spec)
    oracle.__name__ = "numpy/ml_dtypes"
    return oracle


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("name", WIDE)
def test_rne_vs_numpy_ml_dtypes(name, op):
    run(name, op, "RNE", numpy_ml_dtypes(op))


@pytest.mark.parametrize("mode", DIRECTED)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("name", WIDE)
def test_directed_vs_gmpy2(name, op, mode):
    def gmpy2(a, b, spec):
        return gmpy2_op(op, [a, b], spec, mode)
    run(name, op, mode, gmpy2)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("name", WIDE)
def test_rna_vs_apytypes(name, op):
    def apytypes(a, b, spec):
        return apy_float_op(op, a, b, spec, "RNA")
    run(name, op, "RNA", apytypes)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("name", WIDE)
def test_rna_oracles_agree(name, op):
    """apytypes TIES_AWAY and MPFR with exact tie detection agree on a 5*10**4 sample."""
    spec = FLOAT_PRESETS[name]
    a, b, _ = pairs(name, op)
    idx = np.random.default_rng(1).choice(a.size, 50_000, replace=False)
    a, b = a[idx], b[idx]
    assert_codes_equal(apy_float_op(op, a, b, spec, "RNA"), gmpy2_op(op, [a, b], spec, "RNA"),
                       spec, what=f"oracles: {op} {name} RNA apytypes vs gmpy2", inputs=(a, b))


@functools.lru_cache(maxsize=1)
def triples(name):
    spec = FLOAT_PRESETS[name]
    return corner_triples(spec, N_FMA, np.random.default_rng([SEED[name], 99]))


@pytest.mark.parametrize("mode", ROUNDING_MODES)
@pytest.mark.parametrize("name", WIDE)
def test_fma_vs_gmpy2(name, mode):
    spec = FLOAT_PRESETS[name]
    a, b, c = triples(name)
    assert a.size >= N_FMA
    got = g.fma(a, b, c, g.parse_format(name), rounding=mode)
    assert_codes_equal(got, gmpy2_op("fma", [a, b, c], spec, mode), spec,
                       what=f"fma {name} {mode} vs gmpy2", inputs=(a, b, c))
    print(f"\nfma {name} {mode}: {a.size} triples")


def test_fma_is_not_mul_then_add():
    """A case where one rounding differs from two: the comparison sees the difference."""
    spec = FLOAT_PRESETS["fp16"]
    a, b, c = triples("fp16")
    fmt = g.parse_format("fp16")
    two_roundings = g.add(g.mul(a, b, fmt), c, fmt)
    with pytest.raises(AssertionError, match="differ"):
        assert_codes_equal(two_roundings, gmpy2_op("fma", [a, b, c], spec, "RNE"), spec,
                           what="mul-then-add posing as fma", inputs=(a, b, c))


@pytest.mark.slow
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("name", WIDE)
def test_rne_large_slow(name, op):
    """2*10**7 more corner-rich pairs per operation in RNE (fast oracles only)."""
    spec = FLOAT_PRESETS[name]
    for part in range(10):
        rng = np.random.default_rng([SEED[name], OPS.index(op), 1000 + part])
        a, b, _, _ = corner_pairs(spec, 2 * 10**6, rng, op)
        got = getattr(g, op)(a, b, g.parse_format(name))
        assert_codes_equal(got, ml_binop(op, a, b, spec), spec,
                           what=f"{op} {name} RNE vs numpy/ml_dtypes (slow part {part})",
                           inputs=(a, b))


# ---------------------------------------------------------------------------- mutation checks


@pytest.mark.parametrize("name", WIDE)
def test_comparison_catches_wrong_mode(name):
    spec = FLOAT_PRESETS[name]
    a, b, _ = pairs(name, "add")
    a, b = a[:200_000], b[:200_000]
    wrong = g.add(a, b, g.parse_format(name), rounding="RTZ")
    with pytest.raises(AssertionError, match="differ"):
        assert_codes_equal(wrong, ml_binop("add", a, b, spec), spec, what="RTZ posing as RNE",
                           inputs=(a, b))


@pytest.mark.parametrize("op", ["add", "mul"])
@pytest.mark.parametrize("name", WIDE)
def test_generator_ties_are_ties(name, op):
    """The "tie" class really sits on rounding midpoints: by the oracle, RNE and RNA
    (which differ only on exact ties) disagree on a good share of it."""
    spec = FLOAT_PRESETS[name]
    a, b, labels, names = corner_pairs(spec, 100_000, np.random.default_rng(5), op)
    tie = labels == names.index("tie")
    a, b = a[tie], b[tie]
    rne = apy_float_op(op, a, b, spec, "RNE")
    rna = apy_float_op(op, a, b, spec, "RNA")
    assert (rne != rna).mean() > 0.2
