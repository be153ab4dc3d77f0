"""ulpflow.sim.vectors: generators and functional coverage.

Coverage counts are checked against an independent classifier: operands decoded by NumPy
(float16) or ml_dtypes (float8_e4m3), exact results in float64 (exact for these formats: sums
need at most 41 bits, products 22), ties, carries and thresholds found with float64 scaling by
powers of two. Nothing there uses the golden model.
"""

import ml_dtypes
import numpy as np
import pytest

from ulpflow.golden import parse_format
from ulpflow.sim import coverage as C
from ulpflow.sim import vectors as V

# Format constants written out from the standards (not read from golden).
SPECS = {
    "fp16": dict(view=np.float16, p=11, emin=-14, max=65504.0),
    "e4m3": dict(view=ml_dtypes.float8_e4m3, p=4, emin=-6, max=240.0),
}


def _lead(x):
    """floor(log2 |x|) of nonzero float64 values (exact: frexp)."""
    _, e = np.frexp(np.abs(x))
    return e.astype(np.int64) - 1


def independent_coverage(a, b, name, op):
    spec = SPECS[name]
    p, emin, mx = spec["p"], spec["emin"], spec["max"]
    emax = int(_lead(np.array([mx]))[0])
    min_normal = 2.0 ** emin
    x_a = a.view(spec["view"]).astype(np.float64)
    x_b = b.view(spec["view"]).astype(np.float64)
    with np.errstate(all="ignore"):
        x = x_a + x_b if op == "add" else x_a * x_b
        finite = np.isfinite(x_a) & np.isfinite(x_b)
        nz = finite & (x != 0)
        safe = np.where(nz, x, 1.0)
        lead = _lead(safe)
        unit = np.ldexp(1.0, np.maximum(lead, emin) - (p - 1))  # weight of the last kept bit
        s = np.abs(safe) / unit  # exact: division by a power of two
        trunc = np.floor(s)
        tie = nz & (s - trunc == 0.5)
        rounded = np.rint(s) * unit  # half-to-even, unbounded exponent
        r_lead = _lead(np.where(rounded == 0, 1.0, rounded))
        r_inf = nz & (rounded > mx)
        tiny = nz & (np.abs(safe) < min_normal)
    sub_op = lambda v: np.isfinite(v) & (v != 0) & (np.abs(v) < min_normal)  # noqa: E731
    cov = {
        "zero": (x_a == 0) | (x_b == 0) | (finite & (x == 0)),
        "subnormal": sub_op(x_a) | sub_op(x_b) | (nz & (rounded > 0) & (rounded < min_normal)),
        "tie-even": tie & (trunc % 2 == 0),
        "tie-odd": tie & (trunc % 2 == 1),
        "carry-out": nz & (rounded > 0) & (r_lead > lead) & (rounded >= min_normal),
        "underflow": tiny,
        "overflow-threshold": nz & (np.abs(safe) > mx) & (np.abs(safe) < mx + 2.0 ** (emax - p + 1)),
        "inf": np.isinf(x_a) | np.isinf(x_b) | r_inf | (np.isinf(x) & ~np.isnan(x)),
        "nan": np.isnan(x_a) | np.isnan(x_b) | np.isnan(x),
        "overflow-tie": nz & (np.abs(safe) == mx + 2.0 ** (emax - p)),
        "underflow-to-zero": tiny & (rounded == 0),
        "round-to-min-normal": tiny & (rounded == min_normal),
        "overflow": r_inf,
        "cancellation": np.zeros(len(a), bool),
    }
    if op == "add":
        la = _lead(np.where(x_a == 0, 1.0, x_a))
        lb = _lead(np.where(x_b == 0, 1.0, x_b))
        both = finite & (x_a != 0) & (x_b != 0) & (np.signbit(x_a) != np.signbit(x_b))
        cov["cancellation"] = both & ((x == 0) | (np.maximum(la, lb) - lead >= 2))
    return {k: int(v.sum()) for k, v in cov.items()}


@pytest.mark.parametrize("name", ["fp16", "bf16", "fp32", "e4m3"])
@pytest.mark.parametrize("op", ["add", "mul"])
def test_level1_hits_every_class_of_the_format(name, op):
    fmt = parse_format(name)
    a, b = V.level1(fmt, op)
    cov = V.coverage(a, b, fmt, op)
    print(f"\n{name} {op}: {V.format_coverage(cov)}")
    expected = {"zero", "subnormal", "tie-even", "tie-odd", "carry-out", "underflow", "overflow-threshold",
                "inf", "nan"} | ({"cancellation"} if op == "add" else set())
    assert set(V.classes(fmt, op)) == expected
    missing = [c for c in expected if cov[c] == 0]
    assert not missing, f"level 1 of {name} {op} misses {missing}: {cov}"
    assert cov["cancellation"] == 0 or op == "add"
    # the threshold detail: max + half an ulp exactly (mul needs 2^(p+1) - 1 to factor; for
    # e4m3 31 is prime)
    assert (cov["overflow-tie"] > 0) == (name != "e4m3" or op == "add")


@pytest.mark.parametrize("op", ["add", "mul"])
def test_coverage_matches_independent_classifier_fp16(op):
    fmt = parse_format("fp16")
    a1, b1 = V.level1(fmt, op)
    a2, b2 = V.random(fmt, 100_000, 11)
    a, b = np.concatenate([a1, a2]), np.concatenate([b1, b2])
    got = V.coverage(a, b, fmt, op)
    want = independent_coverage(a, b, "fp16", op)
    assert {k: got[k] for k in want} == want


@pytest.mark.parametrize("op", ["add", "mul"])
def test_coverage_matches_independent_classifier_e4m3_exhaustive(op):
    fmt = parse_format("e4m3")
    a, b = V.exhaustive(fmt)
    got = V.coverage(a, b, fmt, op)
    want = independent_coverage(a, b, "e4m3", op)
    assert {k: got[k] for k in want} == want


def test_exhaustive_pairs_and_fixed_point_codes():
    e4m3 = parse_format("e4m3")
    a, b = V.exhaustive(e4m3)
    assert a.dtype == np.uint8 and len(a) == 65536
    assert len(np.unique(a.astype(np.uint32) << 8 | b)) == 65536
    assert (a[:3].tolist(), b[:3].tolist()) == ([0, 0, 0], [0, 1, 2])
    q = parse_format("q4.4s")
    a, b = V.exhaustive(q, parse_format("uq3.5"))
    assert len(a) == 255 * 256 and 0x80 not in a  # the symmetric format has no -8.0
    with pytest.raises(ValueError, match="2\\^48 vectors"):
        V.exhaustive(parse_format("fp32"), parse_format("fp16"))


def test_random_is_seeded_and_valid():
    fp32 = parse_format("fp32")
    a1, b1 = V.random(fp32, 4000, 3)
    a2, b2 = V.random(fp32, 4000, 3)
    a3, _ = V.random(fp32, 4000, 4)
    assert np.array_equal(a1, a2) and np.array_equal(b1, b2) and not np.array_equal(a1, a3)
    assert a1.dtype == np.uint32
    cov = V.coverage(a1, b1, fp32, "add")
    # close exponents make rounding happen; uniform codes alone would almost never tie
    assert cov["tie-even"] + cov["tie-odd"] > 20 and cov["cancellation"] > 20
    q = parse_format("q4.4s")
    qa, qb = V.random(q, 5000, 1)
    assert not np.isin([0x80], np.concatenate([qa, qb])).any()


def test_level2_extends_level1_and_depends_on_the_seed():
    bf16 = parse_format("bf16")
    l1 = set(zip(*map(list, V.level1(bf16, "add"))))
    a, b = V.level2(bf16, "add", 5)
    l2 = set(zip(a.tolist(), b.tolist()))
    assert l1 <= l2 and len(l2) == len(a) > 3 * len(l1)
    a_again, _ = V.level2(bf16, "add", 5)
    a_other, _ = V.level2(bf16, "add", 6)
    assert np.array_equal(a, a_again) and not np.array_equal(a, a_other)
    cov = V.coverage(a, b, bf16, "add")
    assert all(cov[c] > 0 for c in V.classes(bf16, "add"))


@pytest.mark.parametrize("name", ["e4m3fn", "e4m3fnuz", "e5m2_ftz", "e2m3fn", "e8m7_b100"])
def test_other_float_styles(name):
    fmt = parse_format(name)
    for op in ("add", "sub", "mul"):
        a, b = V.level1(fmt, op)
        assert len(fmt.check_codes(a)) == len(b) > 100
        cov = V.coverage(a, b, fmt, op)
        missing = [c for c in V.classes(fmt, op) if cov[c] == 0]
        assert not missing, f"{name} {op}: {missing}"
        assert cov["inf"] == 0 or fmt.inf_code is not None
        assert cov["subnormal"] == 0 or fmt.subnormals


def test_fixed_point_mul_coverage_against_integers():
    q = parse_format("q4.4")
    a, b = V.level1(q, "mul")
    cov = V.coverage(a, b, q, "mul")
    ka = a.astype(np.int64)
    ka = np.where(ka >= 128, ka - 256, ka)
    kb = b.astype(np.int64)
    kb = np.where(kb >= 128, kb - 256, kb)
    prod = np.abs(ka * kb)  # in units of 2^-8; the result keeps units of 2^-4
    tie = (prod % 16) == 8
    assert cov["tie-even"] == int((tie & ((prod // 16) % 2 == 0)).sum()) > 0
    assert cov["tie-odd"] == int((tie & ((prod // 16) % 2 == 1)).sum()) > 0
    assert cov["underflow"] == int(((prod > 0) & (prod < 16)).sum()) > 0
    exact = ka * kb
    assert cov["overflow"] == int(((exact > 127 * 16) | (exact < -128 * 16)).sum())
    assert cov["overflow-threshold"] > 0
    add_cov = V.coverage(*V.level1(q, "add"), q, "add")
    assert add_cov["overflow-threshold"] > 0 and add_cov["tie-even"] == 0


def test_bad_arguments():
    fp16 = parse_format("fp16")
    with pytest.raises(ValueError, match="op must be one of"):
        V.level1(fp16, "div")
    with pytest.raises(TypeError, match="golden FloatFormat or FixedFormat"):
        V.level1(16, "add")
    with pytest.raises(ValueError, match="1-D arrays of one length"):
        V.coverage(np.zeros(3, np.uint16), np.zeros(4, np.uint16), fp16, "add")
    with pytest.raises(ValueError, match="out of range for fp16"):
        V.coverage(np.array([1 << 16]), np.array([0]), fp16, "add")


@pytest.mark.parametrize("name", ["fp16", "e4m3fn"])
def test_fraction_fallback_agrees_with_the_fine_format_path(name, monkeypatch):
    """Formats too wide for a one-bit-finer golden format are classified with Fractions."""
    fmt = parse_format(name)
    for op in ("add", "mul"):
        a, b = V.level1(fmt, op)
        fast = V.coverage(a, b, fmt, op)
        wide = C._wide_formats
        monkeypatch.setattr(C, "_wide_formats", lambda f: (None, wide(f)[1]))
        assert V.coverage(a, b, fmt, op) == fast
        monkeypatch.setattr(C, "_wide_formats", wide)
