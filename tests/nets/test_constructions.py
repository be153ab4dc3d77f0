"""The constructions of ulpflow.nets, checked exhaustively in golden, with their negative controls.

Predictions are stated from the theory, independently of the construction code: C1 in two's
complement confuses exactly min and min + 2^−F; C2 under flush-to-zero gives a point the label of
the last data point closer than the smallest normal; C3 under flush-to-zero can only differ where
the same network with gradual underflow produces a subnormal intermediate value; C4's layer-cake
sum in another order fails exactly at the inputs (and boxes) whose level gaps, added in that order
with one rounding each, do not add up to the target value (an absorbed small gap)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from ulpflow.golden import ZERO_LEAF, Layer, Network, get_activation, parse_format
from ulpflow.nets import ConstructionError, c1, c2, c3, c4
from ulpflow.nets.c3 import threshold_constants, threshold_network
from ulpflow.nets.c4 import box_net, threshold_net
from ulpflow.nets.common import domain_codes, value_of
from ulpflow.nets.targets import Domain, Target, python_target, random_dataset, random_target
from ulpflow.nets.verify import boxes_1d, check_intervals, check_pointwise


# ---------------------------------------------------------------------- C1
@pytest.mark.parametrize("name,d", [("q3.3s", 1), ("q2.1s", 2)])
def test_c1_random_targets_exact(name, d):
    fmt = parse_format(name)
    t = random_target(5, Domain(fmt, d))
    c = c1(t, tree="random:2")
    assert check_pointwise(c.network, t).mismatches == 0
    assert c.size.layers == c.formula["layers"] == fmt.int_bits + fmt.frac_bits + 3
    assert c.size.neurons == c.formula["neurons"] and c.size.parameters == c.formula["parameters"]
    w = np.concatenate([l.weights.ravel() for l in c.network.layers])
    assert set(np.unique(fmt.decode(w))) <= {-1.0, 0.0, 1.0}


def _c1_twos_complement(name):
    fmt = parse_format(name)
    t = random_target(7, Domain(fmt))
    with pytest.raises(ConstructionError, match="two's complement"):
        c1(t)
    c = c1(t, allow_violations=True)
    r = check_pointwise(c.network, t)
    return fmt, t, c, r


def test_c1_twos_complement_fails_exactly_at_min_and_next():
    fmt, t, c, r = _c1_twos_complement("q3.3")
    assert set(fmt.decode(t.points[r.failing, 0]).tolist()) == _c1_predicted(fmt, t, -4.0)
    assert any("two's complement" in v for v in c.violations)


def _c1_predicted(fmt, t, lo):
    """min and min + 2^-F are confused; a value f(a) = min needs v⁻ = −min, which does not exist."""
    x, y = fmt.decode(t.points[:, 0]), fmt.decode(t.values)
    step = 2.0 ** -fmt.frac_bits
    pred = {float(a) for a, v in zip(x, y) if v == lo}
    pred |= {lo, lo + step} if y[x == lo][0] != 0 and y[x == lo + step][0] != 0 else set()
    return pred


def test_c1_wraparound_fails():
    fmt = parse_format("q3.3_wrap")
    t = random_target(7, Domain(fmt))
    r = check_pointwise(c1(t, allow_violations=True).network, t)
    assert r.mismatches > 0


def test_c1_detects_an_injected_fault():
    fmt = parse_format("q3.3s")
    t = random_target(5, Domain(fmt))
    c = c1(t)
    wrong = t.values.copy()
    wrong[10] = fmt.encode(value_of(fmt, wrong[10]) + Fraction(1, 8) if value_of(fmt, wrong[10]) < 3 else 0)
    r = check_pointwise(c.network, Target(fmt, fmt, t.points, wrong, "faulty", True))
    assert r.mismatches == 1 and r.failing.tolist() == [10]


@pytest.mark.slow
@pytest.mark.parametrize("name,d", [("q4.4s", 1), ("q2.2s", 2)])
def test_c1_full(name, d):
    fmt = parse_format(name)
    for seed in (1, 2):
        t = random_target(seed, Domain(fmt, d))
        assert check_pointwise(c1(t).network, t).mismatches == 0


@pytest.mark.slow
def test_c1_q44_controls():
    fmt, t, c, r = _c1_twos_complement("q4.4")
    assert set(fmt.decode(t.points[r.failing, 0]).tolist()) == _c1_predicted(fmt, t, -8.0)
    fmt = parse_format("q4.4_wrap")
    t = random_target(7, Domain(fmt))
    assert check_pointwise(c1(t, allow_violations=True).network, t).mismatches > 0


# ---------------------------------------------------------------------- C2
def _step_function(data, xs_codes, fmt):
    """The predicted output on every x: the label of the largest data point <= x (0 below)."""
    px = sorted((value_of(fmt, p), value_of(fmt, y)) for p, y in zip(data.points[:, 0], data.values))
    out = []
    for c in xs_codes:
        x = value_of(fmt, c)
        below = [y for p, y in px if p <= x]
        out.append(below[-1] if below else Fraction(0))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_c2_memorises_30_points_and_is_the_step_function_everywhere(seed):
    fmt = parse_format("e4m3")
    data = random_dataset(seed, fmt, 30)
    c = c2(data, tree=["sequential", "pairwise", "random:9"][seed])
    assert check_pointwise(c.network, data).mismatches == 0
    dom = domain_codes(fmt)
    want = fmt.encode(np.array(_step_function(data, dom, fmt), dtype=object))
    t = Target(fmt, fmt, dom[:, None], want, "step", True)
    assert check_pointwise(c.network, t).mismatches == 0
    assert c.size.parameters == c.formula["parameters"]


def test_c2_two_dimensional():
    fmt = parse_format("e4m3")
    data = random_dataset(4, fmt, 30, d=2)
    c = c2(data, tree="random:1")
    assert c.network.n_in == 2 and check_pointwise(c.network, data).mismatches == 0


def test_c2_flush_to_zero_fails_where_predicted():
    fmt = parse_format("e4m3_ftz")
    data = random_dataset(3, fmt, 30, lo=-0.1, hi=0.1)
    with pytest.raises(ConstructionError, match="flushes subnormals"):
        c2(data)
    r = check_pointwise(c2(data, allow_violations=True).network, data)
    # prediction: x_j takes the label of the last x_k with x_k - x_j < min normal
    px = sorted(zip((value_of(fmt, p) for p in data.points[:, 0]), (value_of(fmt, y) for y in data.values)))
    mn = Fraction(2) ** fmt.emin
    predicted = set()
    for j, (x, y) in enumerate(px):
        k = max(i for i, (xi, _) in enumerate(px) if xi - x < mn)
        if px[k][1] != y:
            predicted.add(x)
    got = {value_of(fmt, data.points[i, 0]) for i in r.failing}
    assert got == predicted and len(got) > 0


# ---------------------------------------------------------------------- C3
@pytest.mark.parametrize("tree", ["sequential", "pairwise", "reversed", "random:1", "random:2"])
def test_c3_universal_e4m2_every_tree(tree):
    fmt = parse_format("e4m2")
    t = random_target(3, Domain(fmt))
    c = c3(t, tree=tree)
    assert check_pointwise(c.network, t).mismatches == 0
    assert c.size.parameters == c.formula["parameters"] and c.size.layers == 6


def test_c3_universal_e4m3():
    fmt = parse_format("e4m3")
    t = random_target(11, Domain(fmt))
    assert check_pointwise(c3(t, tree="random:5").network, t).mismatches == 0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["e4m3", "e5m2"])
@pytest.mark.parametrize("tree", ["sequential", "pairwise", "reversed", "random:1", "random:2", "random:3"])
def test_c3_universal_full(name, tree):
    fmt = parse_format(name)
    t = random_target(1, Domain(fmt))
    assert check_pointwise(c3(t, tree=tree).network, t).mismatches == 0


def test_c3_threshold_blocks_every_threshold_e4m2():
    fmt = parse_format("e4m2")
    xs = domain_codes(fmt)
    xv = [value_of(fmt, c) for c in xs]
    for z in xv:
        if z == 0:
            continue
        net = threshold_network(fmt, z).network
        y = fmt.decode(net(xs[:, None])[:, 0])
        want = [1.0 if (x >= z if z > 0 else x <= z) else 0.0 for x in xv]
        assert y.tolist() == want, z


def test_c3_unrepresentable_constant_names_threshold_and_constant():
    with pytest.raises(ConstructionError, match=r"threshold z = 0\.015625: constant A = 16 is not representable in e3m4"):
        threshold_constants(parse_format("e3m4"), Fraction(1, 64))
    t = random_target(0, Domain(parse_format("e3m4")))
    with pytest.raises(ConstructionError, match="q = 3 exponent bits"):
        c3(t)
    with pytest.raises(ConstructionError, match="constant A = 16 is not representable"):
        c3(t, allow_violations=True)


def test_c3_q3_block_is_wrong_although_its_constants_exist():
    fmt = parse_format("e3m4")
    net = threshold_network(fmt, Fraction(1, 2), allow_violations=True).network
    xs = domain_codes(fmt)
    y = fmt.decode(net(xs[:, None])[:, 0])
    assert int((y != (fmt.decode(xs) >= 0.5)).sum()) == 72


def test_c3_refuses_infinite_targets():
    fmt = parse_format("e4m2")
    t = random_target(3, Domain(fmt))
    t.values[5] = fmt.encode(np.array([np.inf]))[0]
    with pytest.raises(ConstructionError, match="must be finite"):
        c3(t)


def _gradual_twin(net, fmt):
    layers = [Layer(l.weights, l.bias, weight_format=fmt, acc_format=fmt, rounding=l.rounding, tree=l.tree,
                    activation=get_activation(l.activation.name, fmt), name=l.name) for l in net.layers]
    return Network(fmt, layers)


@pytest.mark.parametrize("name", ["e4m2", "e4m3"])
def test_c3_flush_to_zero_fails_only_where_a_subnormal_arises(name):
    ftz, fmt = parse_format(name + "_ftz"), parse_format(name)
    t = random_target(1, Domain(ftz))
    with pytest.raises(ConstructionError, match="flushes subnormals"):
        c3(t)
    net = c3(t, allow_violations=True).network
    r = check_pointwise(net, t)
    tr = _gradual_twin(net, fmt).trace(t.points)
    risky = np.zeros(t.points.shape[0], bool)
    for lt in tr.layers:
        for arr in [lt.products.reshape(lt.products.shape[0], -1), lt.sums] + \
                [n.reshape(n.shape[0], -1) for n in lt.nodes]:
            sub = fmt.classify(arr) == 1  # CLASS_SUBNORMAL
            risky |= sub.any(axis=1)
    assert r.mismatches > 0
    assert set(r.failing.tolist()) <= set(np.flatnonzero(risky).tolist())


# ---------------------------------------------------------------------- C4
def _indicator_target(fmt, dom, pred):
    pts = dom.points()
    vals = np.array([fmt.one_code if pred(value_of(fmt, c)) else fmt.zero_code for c in pts[:, 0]], dtype=fmt.dtype)
    return Target(fmt, fmt, pts, vals, "indicator", True, dom)


def test_c4_thresholds_pointwise_and_intervals_e4m3_sample():
    fmt = parse_format("e4m3")
    dom = Domain(fmt, 1, Fraction(-1), Fraction(1))
    for z in [Fraction(-1), Fraction(-1, 2), Fraction(0), Fraction(1, 512), Fraction(-1, 32), Fraction(13, 16)]:
        for kind, pred in ((">", lambda x: x > z), ("<=", lambda x: x <= z), (">=", lambda x: x >= z)):
            t = _indicator_target(fmt, dom, pred)
            net = threshold_net(fmt, z, kind).network
            assert check_pointwise(net, t).mismatches == 0
            assert check_intervals(net, t).mismatches == 0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["e4m3"])
def test_c4_every_threshold_every_box(name):
    fmt = parse_format(name)
    dom = Domain(fmt, 1, Fraction(-1), Fraction(1))
    for c in dom.axis():
        z = value_of(fmt, c)
        for kind, pred in ((">", lambda x: x > z), ("<=", lambda x: x <= z), (">=", lambda x: x >= z)):
            t = _indicator_target(fmt, dom, pred)
            net = threshold_net(fmt, z, kind).network
            assert check_pointwise(net, t).mismatches == 0
            assert check_intervals(net, t).mismatches == 0


def test_c4_box_1d_and_2d():
    fmt = parse_format("e4m3")
    dom = Domain(fmt, 1, Fraction(-1), Fraction(1))
    a, b = Fraction(-3, 8), Fraction(5, 16)
    t = _indicator_target(fmt, dom, lambda x: a <= x <= b)
    net = box_net(fmt, ((a,), (b,))).network
    assert check_pointwise(net, t).mismatches == 0 and check_intervals(net, t).mismatches == 0
    dom2 = Domain(parse_format("e4m3"), 2, Fraction(-1), Fraction(1))
    f2 = dom2.fmt
    pts = dom2.points()
    box = ((Fraction(-1, 4), Fraction(0)), (Fraction(1, 2), Fraction(3, 4)))
    inside = [(box[0][0] <= value_of(f2, p[0]) <= box[1][0]) and (box[0][1] <= value_of(f2, p[1]) <= box[1][1])
              for p in pts]
    t2 = Target(f2, f2, pts, np.where(inside, f2.one_code, f2.zero_code).astype(f2.dtype), "box", True, dom2)
    assert check_pointwise(box_net(f2, box).network, t2).mismatches == 0


def _square(name):
    fmt = parse_format(name)
    dom = Domain(fmt, 1, Fraction(-1), Fraction(1))
    return python_target(lambda x: x * x, dom)


def _rne(r: Fraction, fmt) -> Fraction:
    """Round a rational to nearest-even in F(p, q) with subnormals (independent of the golden
    kernel; no overflow: the layer-cake partial sums stay within [−1, 1])."""
    if r == 0:
        return Fraction(0)
    a = abs(r)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if a < Fraction(2) ** e:
        e -= 1                                   # 2^e <= a < 2^(e+1)
    step = Fraction(2) ** (max(e, fmt.emin) - fmt.man_bits)
    q = a / step
    n, rem = divmod(q.numerator, q.denominator)
    if 2 * rem > q.denominator or (2 * rem == q.denominator and n % 2):
        n += 1
    return (1 if r > 0 else -1) * n * step


def _layer_cake_levels(fmt, target):
    """IUA's levels: (+1, v, v − pred v) for every positive float v <= max f, then (−1, v, …) for
    every v <= max(−f), each sign in increasing order (the output layer's columns)."""
    fv = [value_of(fmt, c) for c in target.values]
    pos = sorted(v for v in (value_of(fmt, c) for c in domain_codes(fmt)) if v > 0)
    levels = []
    for sign in (1, -1):
        top, prev = max([sign * f for f in fv] + [0]), Fraction(0)
        for v in pos:
            if v > top:
                break
            levels.append((sign, v, v - prev))
            prev = v
    return levels


def _layer_cake_sum(fmt, y, levels, order):
    """What the output neuron computes for an input whose (or a box endpoint whose) target value is
    y, given exact {0, 1} level indicators: the gaps of the levels up to |y|, with y's sign, added
    in ``order`` with one rounding per addition (zero terms change nothing)."""
    s = Fraction(0)
    for i in order:
        sign, v, a = levels[i]
        if sign * y >= v:
            s = _rne(s + sign * a, fmt)
    return s


def _predicted_layer_cake_failures(fmt, target, c, boxes=False):
    """Indices of the inputs (or of the boxes ``boxes_1d``, in sorted order) where the layer-cake
    network ``c`` must fail: its level order is the output layer's recorded Tree."""
    levels = _layer_cake_levels(fmt, target)
    V = len(levels)
    order = [i for i in c.network.layers[-1].tree.chain_order() if i is not ZERO_LEAF and i < V]
    assert sorted(order) == list(range(V))
    memo = {}

    def wrong(y):
        if y not in memo:
            memo[y] = _layer_cake_sum(fmt, y, levels, order) != y
        return memo[y]
    ys = [value_of(fmt, v) for v in target.values]
    if not boxes:
        return order, {k for k, y in enumerate(ys) if wrong(y)}
    srt = np.argsort(fmt.decode(target.points[:, 0]), kind="stable")
    fs = [ys[k] for k in srt]
    i, j = boxes_1d(srt)
    return order, {k for k, (a, b) in enumerate(zip(i, j)) if wrong(min(fs[a:b + 1])) or wrong(max(fs[a:b + 1]))}


def _identity(name):
    fmt = parse_format(name)
    return python_target(lambda x: x, Domain(fmt, 1, Fraction(-1), Fraction(1)))


# pointwise failures of the layer-cake sum per order (quoted in docs/constructions.md)
LAYER_CAKE_FAILURES = {
    ("e4m2", "x²"): {"increasing": 0, "decreasing": 20, "random:1": 16, "random:2": 16, "random:3": 20},
    ("e4m2", "x"): {"increasing": 0, "decreasing": 40, "random:1": 33, "random:2": 36, "random:3": 39},
    ("e4m3", "x²"): {"increasing": 0, "decreasing": 42, "random:1": 42, "random:2": 40, "random:3": 42},
}


@pytest.mark.parametrize("name,fn", list(LAYER_CAKE_FAILURES))
def test_c4_layer_cake_orders_fail_exactly_where_absorption_predicts(name, fn):
    """The increasing order is exact; decreasing and random orders fail on exactly the inputs
    whose level gaps, summed in that order, lose a small gap to absorption."""
    fmt = parse_format(name)
    t = _square(name) if fn == "x²" else _identity(name)
    counts = {}
    for order in LAYER_CAKE_FAILURES[name, fn]:
        c = c4(t, order=order, allow_violations=order != "increasing")
        seq, predicted = _predicted_layer_cake_failures(fmt, t, c)
        V = len(seq)
        npos = sum(1 for s, *_ in _layer_cake_levels(fmt, t) if s > 0)
        if order == "increasing":
            assert seq == list(range(V)) and not predicted
        elif order == "decreasing":
            assert seq == list(range(npos - 1, -1, -1)) + list(range(V - 1, npos - 1, -1))
            # closed form: exact only while every gap is ω (|f| <= 2^(e_min+1)); above, gaps shrink
            # along the sum and the last ones are absorbed (f = 1 comes out as 1/2)
            lim = Fraction(2) ** (fmt.emin + 1)
            assert predicted == {k for k, v in enumerate(t.values) if abs(value_of(fmt, v)) > lim}
        r = check_pointwise(c.network, t)
        assert set(r.failing.tolist()) == predicted, order
        counts[order] = r.mismatches
    assert counts == LAYER_CAKE_FAILURES[name, fn]


def test_c4_layer_cake_e4m2_every_box_and_order_controls():
    t = _square("e4m2")
    fmt = t.in_format
    c = c4(t)
    assert c.size.layers == c.formula["layers"] and c.size.neurons == c.formula["neurons"]
    assert check_pointwise(c.network, t).mismatches == 0
    assert check_intervals(c.network, t).mismatches == 0
    for order, count in (("decreasing", 950), ("random:1", 792)):
        with pytest.raises(ConstructionError, match="increasing"):
            c4(t, order=order)
        bad = c4(t, order=order, allow_violations=True)
        _, predicted = _predicted_layer_cake_failures(fmt, t, bad, boxes=True)
        r = check_intervals(bad.network, t)
        assert set(r.failing.tolist()) == predicted and r.mismatches == count


@pytest.mark.slow
def test_c4_layer_cake_e4m3_full():
    t = _square("e4m3")
    fmt = t.in_format
    c = c4(t)
    assert c.size.nonzero_weights == 6888
    assert check_pointwise(c.network, t).mismatches == 0
    assert check_intervals(c.network, t).mismatches == 0
    for order in ("decreasing", "random:1"):
        bad = c4(t, order=order, allow_violations=True)
        _, predicted = _predicted_layer_cake_failures(fmt, t, bad, boxes=True)
        r = check_intervals(bad.network, t)
        assert set(r.failing.tolist()) == predicted and r.mismatches > 0
