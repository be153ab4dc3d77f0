"""Targets (CSV rules, python callables) and the theorem checks."""

from __future__ import annotations

from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

from ulpflow.golden import parse_format
from ulpflow.nets.common import domain_codes
from ulpflow.nets.targets import Domain, TargetError, parse_target, python_target, table_target
from ulpflow.nets.theorems import (absorption, ad_decoupling, distinguishability, exact_zeros, never_injective,
                                   swap_first_two, transformer_thresholds)


def _write(tmp_path, rows, header="x,y"):
    p = tmp_path / "t.csv"
    p.write_text("\n".join([header] + rows) + "\n")
    return p


def _full_rows(fmt):
    vals = fmt.decode(domain_codes(fmt))
    return [f"{'0' if v == 0 else repr(float(v))},{fmt.hex(fmt.one_code)}" for v in vals]


def test_table_whole_domain_ok_and_errors(tmp_path):
    fmt = parse_format("q2.2s")
    rows = _full_rows(fmt)
    t = table_target(_write(tmp_path, rows), Domain(fmt), fmt)
    assert len(t) == 15 and (fmt.decode(t.values) == 1).all()
    with pytest.raises(TargetError, match=r"row 2, column x: 0\.3 is not exactly representable"):
        table_target(_write(tmp_path, ["0.3,1"] + rows[1:]), Domain(fmt), fmt)
    with pytest.raises(TargetError, match=r"row 17: point .* repeats row"):
        table_target(_write(tmp_path, rows + [rows[3]]), Domain(fmt), fmt)
    with pytest.raises(TargetError, match="1 domain point.s. missing, the first is"):
        table_target(_write(tmp_path, rows[1:]), Domain(fmt), fmt)
    with pytest.raises(TargetError, match="row 1: header must be 'x,y'"):
        table_target(_write(tmp_path, rows, header="a,b"), Domain(fmt), fmt)
    with pytest.raises(TargetError, match="repeats row"):  # -0 and 0 are one point
        table_target(_write(tmp_path, rows + ["-0,1"]), Domain(fmt), fmt)


def test_table_codes_and_dataset(tmp_path):
    fmt = parse_format("e4m3")
    t = table_target(_write(tmp_path, ["0x38,0x40", "-0.5,2"]), None, fmt)
    assert fmt.decode(t.points[:, 0]).tolist() == [1.0, -0.5] and fmt.decode(t.values).tolist() == [2.0, 2.0]
    with pytest.raises(TargetError, match="exactly 2 hex digits"):
        table_target(_write(tmp_path, ["0x038,1"]), None, fmt)
    t2 = table_target(_write(tmp_path, ["1,0.5,3"], header="x0,x1,y"), None, fmt, d=2)
    assert t2.d == 2


def test_python_target_counts_inexact_points():
    fmt = parse_format("e4m3")
    t = python_target(lambda x: x / 3, Domain(fmt, 1, Fraction(-1), Fraction(1)))
    xs = fmt.decode(t.points[:, 0])
    assert t.inexact == int(sum(1 for x in xs if Fraction(x) / 3 != Fraction(float(fmt.decode(fmt.encode(Fraction(x) / 3)))) ))
    assert t.inexact > 0
    with pytest.raises(TargetError, match="must be finite"):
        python_target(lambda x: float("inf"), Domain(fmt))
    with pytest.raises(TargetError, match="overflows"):
        python_target(lambda x: x * 1000, Domain(fmt))


def test_parse_target_specs():
    fmt = parse_format("q2.2s")
    assert len(parse_target("random:3", Domain(fmt))) == 15
    assert len(parse_target("random:3", Domain(parse_format("e4m3")), dataset=True, dataset_size=16)) == 16
    for bad in ("random:x", "nope:1", "python:nomodule_here_xyz:f", "plain"):
        with pytest.raises(TargetError):
            parse_target(bad, Domain(fmt))


# ---------------------------------------------------------------------- theorems
def test_relu_pm1_twos_complement_pair():
    r = distinguishability("q4.4", "relu", weights="pm1")
    assert r.pair_values() == [(-8.0, -7.9375)]
    assert distinguishability("q4.4s", "relu", weights="pm1").ok


@pytest.mark.parametrize("act", ["relu", "sigmoid", "tanh", "gelu", "sin", "cos"])
def test_distinguishability_e4m3_all_weights(act):
    r = distinguishability("e4m3", act)
    assert r.inputs == 239 and r.neurons == 239 * 239
    assert r.ok, r


@pytest.mark.slow
@pytest.mark.parametrize("act", ["relu", "sigmoid", "tanh", "gelu", "sin", "cos"])
def test_distinguishability_e5m2_all_weights(act):
    r = distinguishability("e5m2", act)
    assert r.inputs == 247 and r.neurons == 247 * 247   # 2·(2^7 − 4) − 1 finite values
    assert r.ok, r


def test_distinguishability_pairs_are_real_and_separated_pairs_are_separated():
    """ReLU on two's-complement q4.4 with ±1 weights: the pair found is checked one neuron at a
    time with plain float arithmetic and saturation (an independent evaluation), and pairs not
    reported are separated by some neuron."""
    fmt = parse_format("q4.4")
    r = distinguishability(fmt, "relu", weights="pm1")
    assert not r.ok
    xs = fmt.decode(domain_codes(fmt))

    def outs(x):
        res = []
        for w in (1.0, -1.0):
            for b in xs:
                wx = max(min(w * x, 7.9375), -8.0)               # saturated product
                res.append(max(max(min(wx + b, 7.9375), -8.0), 0.0))  # saturated sum, ReLU
        return res
    for a, b in r.pair_values()[:5]:
        assert outs(a) == outs(b)
    paired = {v for pr in r.pair_values() for v in pr}
    free = [x for x in xs if x not in paired]
    for u, v in zip(free[:40], free[1:41]):
        assert outs(u) != outs(v)


def test_exact_zeros_depend_on_rounding():
    z = exact_zeros("q4.4", "sigmoid")
    assert len(z["RUP"]) == 0 and len(z["RTZ"]) > len(z["RNE"]) > 0
    sig = np.array([1 / (1 + np.exp(-x)) for x in parse_format("q4.4").decode(z["RNE"])])
    assert (sig <= 2 ** -5).all()


def test_sum_identities():
    fmt = parse_format("e3m2")  # p = 2
    p = fmt.man_bits
    codes = domain_codes(fmt)
    pos = codes[(fmt.decode(codes) > 0) & (fmt.decode(codes) <= 1)]
    a, b = np.meshgrid(pos, pos)
    s1, s2 = absorption(fmt, a.ravel(), b.ravel(), 3 * 2 ** p, 3 * 2 ** p + 6 * 2 ** p)
    assert (fmt.decode(s1) == fmt.decode(s2)).all()
    for z in codes[fmt.decode(codes) != 0]:
        assert never_injective(fmt, int(z)) is not None
    rng = np.random.default_rng(0)
    assert swap_first_two(fmt, rng.choice(codes, size=(500, 7)))


@pytest.mark.parametrize("name,tokens", [("e4m1", 3), ("e4m2", 2), ("e5m2", 2), ("e4m3", 2)])
def test_transformer_thresholds_hold_and_break_exactly_where_predicted(name, tokens):
    """p = 1, 2, 3: copies of one value stall after 3·2^p − 1 additions; one-hot sums separate
    every two sequences of different multisets up to n = 6·2^p − 2 and no further; at n = 9·2^p
    the absorption pair collides for every value pair, and one copy of a fewer breaks it."""
    fmt = parse_format(name)
    p = fmt.man_bits
    r = transformer_thresholds(fmt, tokens=tokens)
    assert r.ok, r
    K = 3 * 2 ** p - 1
    assert (r.stall, r.separated_up_to, r.upper_n) == (K, 6 * 2 ** p - 2, 9 * 2 ** p)
    ka, kb = r.break_witness
    assert sum(ka) == sum(kb) == 2 * K + 1 and ka != kb and sorted(ka) == sorted(kb) and max(ka) == K + 1
    n_values = domain_codes(fmt).size
    assert r.upper_pairs == n_values ** 2 and r.upper_failures == 0
    assert r.b_run <= 6 * 2 ** p and r.alpha_tight is not None


def test_transformer_thresholds_fail_where_the_exponent_range_is_too_small():
    """F(3, 2) has e_max = 1: the slowest run of copies overflows before 3·2^p − 1 additions, so
    the predicted thresholds do not hold and the check says so."""
    r = transformer_thresholds("e2m3")
    assert not r.ok and r.stall < 3 * 2 ** 3 - 1 and r.separated_up_to == 2 * r.stall
    with pytest.raises(ValueError, match="bf16 has 16 bits"):
        transformer_thresholds("bf16")


@pytest.mark.parametrize("name,dtype", [("e4m3", ml_dtypes.float8_e4m3), ("e5m2", ml_dtypes.float8_e5m2)])
def test_transformer_thresholds_against_ml_dtypes(name, dtype):
    """Independent oracle: each addition exact in float64, then one RNE rounding by ml_dtypes."""
    fmt = parse_format(name)
    p = fmt.man_bits
    r = transformer_thresholds(fmt)

    def add(x, y):
        return float(np.array([x + y]).astype(dtype)[0])

    def left_sum(terms):
        s = 0.0
        for t in terms:
            s = add(s, t)
        return s

    def stall(c):
        s, k = 0.0, 0
        while add(s, c) != s:
            s, k = add(s, c), k + 1
        return k

    values = np.arange(256, dtype=np.uint8).view(dtype).astype(np.float64)
    finite = sorted({float(v) for v in values[np.isfinite(values)]})
    stalls = {c: stall(c) for c in finite if c > 0}
    assert max(stalls.values()) == r.stall == 3 * 2 ** p - 1
    assert stalls[float(fmt.decode(np.array([r.slowest], dtype=fmt.dtype))[0])] == r.stall
    val = lambda code: float(fmt.decode(np.array([code], dtype=fmt.dtype))[0])   # noqa: E731
    al, n = 3 * 2 ** p, 9 * 2 ** p
    a, b, s = r.upper_witness
    assert left_sum([val(a)] * al + [val(b)] * (n - al)) == left_sum([val(a)] * (al - 1) + [val(b)] * (n - al + 1)) \
        == val(s)
    a, b = map(val, r.alpha_tight)
    assert left_sum([a] * (al - 1) + [b] * (n - al + 1)) != left_sum([a] * (al - 2) + [b] * (n - al + 2))
    rng = np.random.default_rng(1)
    for a, b in rng.choice(finite, size=(150, 2)):
        assert left_sum([a] * al + [b] * (n - al)) == left_sum([a] * (al - 1) + [b] * (n - al + 1))


def test_ad_value_gradient_decoupling():
    r = ad_decoupling()
    assert r["value"] == 0 and r["grad_x"] == 1
    r2 = ad_decoupling(w1=Fraction(1, 2 ** 10))  # no underflow: value and gradient agree in kind
    assert r2["value"] != 0
