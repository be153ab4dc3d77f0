"""Interval semantics (the rules in golden/interval.py's module docstring) checked three ways,
none of them golden vs golden.

1. Soundness by brute force: every code of a box is evaluated pointwise with ``net()`` and the
   hull of the outputs must lie inside the interval result (and a possible NaN must give ⊤).
   Run over *every* box of a 1-D e4m3 input and over random 2-D boxes.
2. Exactness where the theory says so: when each neuron sees a single interval input through
   monotone maps (one non-zero weight per neuron, any activation), the interval result *equals*
   the brute-force hull on every box (monotone maps send the ends of a box to the ends of its
   image). A deliberately dependent network (x ⊕ (−1)⊗x) shows the other direction: the
   result is the documented, wider box.
3. The documented rules themselves: an independent, differently organised implementation of
   the rules in this file (MPFR arithmetic on endpoints via ``oracles.gmpy2_op``, min/max by decoded
   value with −0 < +0, activation ranges by enumerating codes, NaN rules by hand) must give the
   same codes and ⊤ flags on random boxes of a multi-input network, where the result is in
   general wider than the hull, so soundness alone would not pin it down.
"""

import numpy as np
import pytest

import ulpflow.golden as g
from ulpflow.golden.activations import get_activation
from ulpflow.golden.interval import Box, imax, imin, network_interval
from ulpflow.golden.network import Layer, Network
from ulpflow.golden.tree import Tree
from oracles import FLOAT_PRESETS, FixedSpec, gmpy2_op

E4 = FLOAT_PRESETS["e4m3"]
e4m3 = g.parse_format("e4m3")


# ---------------------------------------------------------------------------- helpers

def value_sorted_codes(spec):
    """Non-NaN codes sorted by value (ties: sign bit set first) and their float64 values."""
    codes = spec.all_codes() if isinstance(spec, type(E4)) else spec.valid_codes()
    vals = spec.decode(codes)
    keep = ~np.isnan(vals)
    codes, vals = codes[keep], vals[keep]
    order = np.lexsort((~np.signbit(vals), vals))
    return codes[order], vals[order]


def points_in(lo_v, hi_v, codes, vals):
    return codes[(vals >= lo_v) & (vals <= hi_v)]


def box_points(lo_row, hi_row, spec=E4):
    """Every input vector of one box: the codes of each input's interval, crossed."""
    codes, vals = value_sorted_codes(spec)
    axes = [points_in(spec.decode(lo), spec.decode(hi), codes, vals) for lo, hi in zip(lo_row, hi_row)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(axes))


def hull(outputs, spec):
    """(min value, max value, any NaN) of a set of output codes."""
    v = spec.decode(outputs)
    nan = np.isnan(v)
    if nan.all():
        return None, None, True
    return v[~nan].min(), v[~nan].max(), bool(nan.any())


def exact_1d_net():
    """1 -> 3 -> 3 -> 1 where the output depends on x through a single chain of neurons:
    gelu(1⊗x ⊕ 0) (a non-monotone activation applied to the whole input box), then monotone
    maps only (affine with one non-zero weight, cr sigmoid, cr tanh). The other neurons (with a
    kulp activation) reach the output only through zero weights."""
    l1 = Layer.from_values([[1.0], [-2.0], [0.5]], [0.0, 1.0, -0.5], weight_format=e4m3,
                           acc_format=e4m3, activation=get_activation("gelu", e4m3))
    l2 = Layer.from_values([[1.5, 0, 0], [0, -1.0, 0], [0, 0, 4.0]], [0.0, 0.5, -1.0],
                           weight_format=e4m3, acc_format=e4m3,
                           activation=get_activation("sigmoid", e4m3),
                           tree=[Tree.pairwise(4), Tree.random(4, 2), Tree.sequential(4, from_zero=True)])
    l3 = Layer.from_values([[3.0, 0, 0]], [-0.125], weight_format=e4m3, acc_format=e4m3,
                           activation=get_activation("tanh", e4m3), tree=Tree.random(4, 9))
    return Network(e4m3, [l1, l2, l3])


def test_non_monotone_activation_after_a_gap_is_wider_than_the_hull():
    """A non-monotone activation takes min/max over *every* code of its input box, including
    codes the previous map never produces: then the result is sound but wider than the hull
    (documented in golden/interval.py)."""
    l1 = Layer.from_values([[0.5]], [0.25], weight_format=e4m3, acc_format=e4m3,
                           activation=get_activation("identity", e4m3))
    l2 = Layer.from_values([[1.0]], [0.0], weight_format=e4m3, acc_format=e4m3,
                           activation=get_activation("sigmoid", e4m3, method="kulp", k=2, seed=5))
    net = Network(e4m3, [l1, l2])
    assert not net.layers[1].activation.monotone
    box_lo, box_hi, i, j = all_boxes_1d(E4)
    res = net.interval(box_lo[:, None], box_hi[:, None])
    lo_h, hi_h, nan_h = brute_force_hulls_1d(net, E4)
    lo_h, hi_h = lo_h[i, j], hi_h[i, j]
    ok = ~res.top[:, 0]
    got_lo, got_hi = E4.decode(res.lo[:, 0]), E4.decode(res.hi[:, 0])
    assert np.all((got_lo[ok] <= lo_h[ok]) & (hi_h[ok] <= got_hi[ok]))
    assert np.any((got_lo[ok] < lo_h[ok]) | (hi_h[ok] < got_hi[ok]))


def all_boxes_1d(spec):
    """Every box [a, b] with a <= b over the non-NaN codes of a 1-D input (both zero codes as
    endpoints too), as code arrays."""
    codes, vals = value_sorted_codes(spec)
    i, j = np.triu_indices(codes.size)
    keep = vals[i] <= vals[j]
    return codes[i[keep]], codes[j[keep]], i[keep], j[keep]


def brute_force_hulls_1d(net, spec_out):
    """Pointwise outputs of every code, then min/max/NaN over every value range [i, j]."""
    codes, vals = value_sorted_codes(E4)
    y = net(codes[:, None])[:, 0]
    yv = spec_out.decode(y)
    nan = np.isnan(yv)
    n = codes.size
    lo = np.full((n, n), np.inf)
    hi = np.full((n, n), -np.inf)
    anynan = np.zeros((n, n), dtype=bool)
    # a box [a, b] holds every code whose value lies in [val a, val b]: extend the sorted
    # index range to whole groups of equal value (both zeros)
    first = np.searchsorted(vals, vals, side="left")
    last = np.searchsorted(vals, vals, side="right") - 1
    for a in range(n):
        s = first[a]
        run_lo, run_hi, run_nan = np.inf, -np.inf, False
        k = s
        for b in range(s, n):
            while k <= last[b]:
                if nan[k]:
                    run_nan = True
                else:
                    run_lo, run_hi = min(run_lo, yv[k]), max(run_hi, yv[k])
                k += 1
            lo[a, b], hi[a, b], anynan[a, b] = run_lo, run_hi, run_nan
    return lo, hi, anynan


# ---------------------------------------------------------------------------- 1. + 2. (1-D, every box)

def test_every_1d_box_interval_equals_the_hull():
    net = exact_1d_net()
    box_lo, box_hi, i, j = all_boxes_1d(E4)
    res = net.interval(box_lo[:, None], box_hi[:, None])
    lo_h, hi_h, nan_h = brute_force_hulls_1d(net, E4)
    lo_h, hi_h, nan_h = lo_h[i, j], hi_h[i, j], nan_h[i, j]
    top = res.top[:, 0]
    # soundness: a possible NaN gives ⊤
    assert np.all(top[nan_h]), "a box whose image contains NaN must be ⊤"
    # exactness: everywhere else the interval is exactly the hull (by value)
    ok = ~top
    assert ok.sum() > 0.9 * ok.size
    got_lo, got_hi = E4.decode(res.lo[:, 0]), E4.decode(res.hi[:, 0])
    bad = ok & ((got_lo != lo_h) | (got_hi != hi_h))
    assert not bad.any(), (f"{bad.sum()} boxes differ from the hull, first "
                           f"[{E4.fmt_code(box_lo[bad][0])}, {E4.fmt_code(box_hi[bad][0])}]: "
                           f"got [{got_lo[bad][0]}, {got_hi[bad][0]}], hull [{lo_h[bad][0]}, {hi_h[bad][0]}]")
    # ⊤ only where NaN is possible (NaN inputs are not in these boxes; here NaN arises only
    # through ±inf inputs, whose hull contains NaN)
    assert np.array_equal(top, nan_h)
    assert res.lo.dtype == np.uint8 and res.top.dtype == bool


def test_dependency_loss_gives_the_documented_wider_box():
    """x ⊕ (−1)⊗x is 0 at every finite point, but the interval rules see two independent
    inputs: the result is [lo ⊖ hi, hi ⊖ lo], computed here by MPFR."""
    ident = get_activation("identity", e4m3)
    l1 = Layer.from_values([[1.0], [1.0]], [0.0, 0.0], weight_format=e4m3, acc_format=e4m3, activation=ident)
    l2 = Layer.from_values([[1.0, -1.0]], [0.0], weight_format=e4m3, acc_format=e4m3, activation=ident)
    net = Network(e4m3, [l1, l2])
    lo = E4.encode_exact(np.array([[-1.0], [0.5], [2.0], [-240.0]]))
    hi = E4.encode_exact(np.array([[1.0], [0.75], [2.0], [240.0]]))
    res = net.interval(lo, hi)
    neg_hi = hi ^ np.uint8(0x80)
    neg_lo = lo ^ np.uint8(0x80)
    exp_lo = gmpy2_op("add", [lo[:, 0], neg_hi[:, 0]], E4, "RNE")
    exp_hi = gmpy2_op("add", [hi[:, 0], neg_lo[:, 0]], E4, "RNE")
    # by value: a zero endpoint stands for both zeros, and identity's image of {±0} is [−0, +0]
    assert np.array_equal(E4.decode(res.lo[:, 0]), E4.decode(exp_lo))
    assert np.array_equal(E4.decode(res.hi[:, 0]), E4.decode(exp_hi))
    assert res.lo[2, 0] == 0x80 and res.hi[2, 0] == 0x00
    assert E4.decode(res.lo[:, 0]).tolist() == [-2.0, -0.25, 0.0, -np.inf]
    # pointwise the hull is {0}
    for a, b in zip(lo[:, 0], hi[:, 0]):
        codes, vals = value_sorted_codes(E4)
        pts = points_in(E4.decode(a), E4.decode(b), codes, vals)
        assert set(E4.decode(net(pts[:, None])[:, 0]).tolist()) == {0.0}


# ---------------------------------------------------------------------------- 1. (2-D soundness)

def general_net():
    l1 = Layer.from_values([[1.0, -0.5], [0.75, 2.0], [-1.5, 0.125]], [0.5, -0.25, 0.0],
                           weight_format=e4m3, acc_format=e4m3, activation=get_activation("gelu", e4m3),
                           tree=Tree.pairwise(3))
    l2 = Layer.from_values([[1.0, 2.0, -1.0], [0.5, -0.25, 3.0]], [0.0, 1.0], weight_format=e4m3,
                           acc_format=e4m3,
                           activation=get_activation("tanh", e4m3, method="kulp", k=3, seed=1),
                           tree=[Tree.random(4, 3), Tree.reversed(4)])
    l3 = Layer.from_values([[1.0, -1.0]], [0.25], weight_format=e4m3, acc_format=e4m3,
                           activation=get_activation("relu", e4m3))
    return Network(e4m3, [l1, l2, l3])


def random_boxes(spec, n_in, rows, width, seed):
    rng = np.random.default_rng(seed)
    codes, vals = value_sorted_codes(spec)
    a = rng.integers(0, codes.size, (rows, n_in))
    b = np.minimum(a + rng.integers(0, width, (rows, n_in)), codes.size - 1)
    return codes[a], codes[b]


def test_random_2d_boxes_contain_the_hull():
    net = general_net()
    lo, hi = random_boxes(E4, 2, 150, 12, 1)
    res = net.interval(lo, hi)
    tight = 0
    for r in range(lo.shape[0]):
        pts = box_points(lo[r], hi[r])
        h_lo, h_hi, h_nan = hull(net(pts)[:, 0], E4)
        if h_nan:
            assert res.top[r, 0], f"box {r}: image contains NaN but the result is not ⊤"
            continue
        if res.top[r, 0]:
            continue
        g_lo, g_hi = E4.decode(res.lo[r, 0]), E4.decode(res.hi[r, 0])
        assert g_lo <= h_lo and h_hi <= g_hi, f"box {r}: [{g_lo}, {g_hi}] misses hull [{h_lo}, {h_hi}]"
        tight += (g_lo == h_lo) and (g_hi == h_hi)
    assert (~res.top).sum() > 100
    assert tight > 10  # not trivially wide


def test_fixed_point_boxes_contain_the_hull_and_wrap_is_top():
    q = g.parse_format("q4.4")
    spec = FixedSpec("q4.4", 4, 4)
    relu = get_activation("relu", q)
    l1 = Layer.from_values([[1.0, -0.5], [2.0, 1.5]], [0.5, -0.25], weight_format=q, acc_format=q,
                           activation=relu)
    l2 = Layer.from_values([[1.0, 1.0]], [3.0], weight_format=q, acc_format="q4.4_wrap",
                           product_format="q4.4", activation=get_activation("identity", "q4.4_wrap"))
    net = Network(q, [l1, l2])
    rng = np.random.default_rng(3)
    k0 = rng.integers(-128, 128, (200, 2))
    k1 = np.minimum(k0 + rng.integers(0, 10, (200, 2)), 127)
    lo, hi = spec.from_int(k0), spec.from_int(k1)
    res = net.interval(lo, hi)
    wrapped = 0
    for r in range(200):
        ks = [np.arange(k0[r, c], k1[r, c] + 1) for c in range(2)]
        pts = spec.from_int(np.stack(np.meshgrid(*ks, indexing="ij"), -1).reshape(-1, 2))
        out = spec.to_int(net(pts)[:, 0])
        if res.top[r, 0]:
            wrapped += 1
            # ⊤ in a format without NaN is the whole range
            assert spec.to_int(res.lo[r, 0]) == -128 and spec.to_int(res.hi[r, 0]) == 127
            continue
        assert spec.to_int(res.lo[r, 0]) <= out.min() and out.max() <= spec.to_int(res.hi[r, 0])
    assert 0 < wrapped < 200


# ---------------------------------------------------------------------------- 3. the rules themselves

def _vmin(a, b, spec):
    va, vb = spec.decode(a), spec.decode(b)
    take_b = (vb < va) | ((vb == va) & np.signbit(vb) & ~np.signbit(va))
    return np.where(take_b, b, a)


def _vmax(a, b, spec):
    va, vb = spec.decode(a), spec.decode(b)
    take_b = (vb > va) | ((vb == va) & np.signbit(va) & ~np.signbit(vb))
    return np.where(take_b, b, a)


def reference_interval(net, lo, hi):
    """The interval rules written out independently: MPFR endpoints, value comparisons, enumerated codes."""
    spec = E4
    B = lo.shape[0]
    xl, xh = lo.astype(np.uint8), hi.astype(np.uint8)
    top = np.isnan(spec.decode(xl)) | np.isnan(spec.decode(xh))
    all_codes = spec.all_codes()
    all_vals = spec.decode(all_codes)
    for layer in net.layers:
        mode = layer.rounding
        n_out, n_in = layer.weights.shape
        new_l = np.zeros((B, n_out), np.uint8)
        new_h = np.zeros((B, n_out), np.uint8)
        new_t = np.zeros((B, n_out), bool)
        for k in range(n_out):
            terms = []
            for j in range(n_in):
                w = np.full(B, layer.weights[k, j], np.uint8)
                c = [gmpy2_op("mul", [w, e], spec, mode) for e in (xl[:, j], xh[:, j])]
                t = top[:, j] | np.isnan(spec.decode(c[0])) | np.isnan(spec.decode(c[1]))
                wv = spec.decode(w)
                zero_in = (spec.decode(xl[:, j]) <= 0) & (spec.decode(xh[:, j]) >= 0)
                inf_in = np.isinf(spec.decode(xl[:, j])) | np.isinf(spec.decode(xh[:, j]))
                t |= (np.isinf(wv) & zero_in) | ((wv == 0) & inf_in)
                terms.append((_vmin(c[0], c[1], spec), _vmax(c[0], c[1], spec), t))
            b = np.full(B, layer.bias[k], np.uint8)
            terms.append((b, b, np.zeros(B, bool)))
            vals = []

            def operand(ref):
                kind, i = ref
                if kind == "leaf":
                    return terms[i]
                if kind == "node":
                    return vals[i]
                z = np.zeros(B, np.uint8)
                return z, z, np.zeros(B, bool)

            for _, left, right in layer.trees[k].internal_nodes():
                (al, ah, at), (bl, bh, bt) = operand(left), operand(right)
                sl = gmpy2_op("add", [al, bl], spec, mode)
                sh = gmpy2_op("add", [ah, bh], spec, mode)
                t = at | bt | np.isnan(spec.decode(sl)) | np.isnan(spec.decode(sh))
                t |= (spec.decode(ah) == np.inf) & (spec.decode(bl) == -np.inf)
                t |= (spec.decode(al) == -np.inf) & (spec.decode(bh) == np.inf)
                vals.append((sl, sh, t))
            sl, sh, st = vals[-1]
            table = np.asarray(layer.activation.table())
            for r in range(B):
                if st[r]:
                    new_t[r, k] = True
                    continue
                lv, hv = spec.decode(sl[r]), spec.decode(sh[r])
                inside = ~np.isnan(all_vals) & (all_vals >= lv) & (all_vals <= hv)
                outs = table[all_codes[inside]]
                ov = spec.decode(outs)
                if np.isnan(ov).any():
                    new_t[r, k] = True
                    continue
                if layer.activation.monotone:  # endpoint groups only
                    outs_lo = table[all_codes[all_vals == lv]]
                    outs_hi = table[all_codes[all_vals == hv]]
                else:
                    outs_lo = outs_hi = outs
                m, M = outs_lo[0], outs_hi[0]
                for o in outs_lo[1:]:
                    m = _vmin(np.array([m]), np.array([o]), spec)[0]
                for o in outs_hi[1:]:
                    M = _vmax(np.array([M]), np.array([o]), spec)[0]
                new_l[r, k], new_h[r, k] = m, M
        xl, xh, top = new_l, new_h, new_t
    nan = spec.canonical_nan
    return np.where(top, nan, xl), np.where(top, nan, xh), top


@pytest.mark.parametrize("rounding", ["RNE", "RDN"])
def test_interval_equals_an_independent_implementation_of_the_rules(rounding):
    net = general_net()
    if rounding != "RNE":
        layers = [Layer(l.weights, l.bias, weight_format=l.weight_format, acc_format=l.acc_format,
                        activation=l.activation, tree=list(l.trees), rounding=rounding) for l in net.layers]
        net = Network(e4m3, layers)
    lo, hi = random_boxes(E4, 2, 120, 30, 7)
    # some boxes with infinities and NaN endpoints
    lo[:6, 0] = 0xF8   # -inf
    hi[3:9, 1] = 0x78  # +inf
    lo[10, 1] = hi[10, 1] = 0x7F  # NaN
    hi[10, 1] = 0x7F
    res = net.interval(lo, hi)
    exp_lo, exp_hi, exp_top = reference_interval(net, lo, hi)
    assert np.array_equal(res.top[:, 0], exp_top[:, 0])
    assert np.array_equal(res.lo, exp_lo) and np.array_equal(res.hi, exp_hi)
    assert res.top[10, 0] and 0 < res.top.sum() < 60


# ---------------------------------------------------------------------------- details

def test_min_max_order_negative_zero_first():
    z, nz = np.array([0x00], np.uint8), np.array([0x80], np.uint8)
    assert imin(z, nz, e4m3)[0] == 0x80 and imin(nz, z, e4m3)[0] == 0x80
    assert imax(z, nz, e4m3)[0] == 0x00 and imax(nz, z, e4m3)[0] == 0x00
    one, m1 = E4.encode_exact(np.array([1.0, -1.0]))
    assert imin(np.array([one]), np.array([m1]), e4m3)[0] == m1
    # a point weight times a box of zeros: corners +0 and −0 in either order give [−0, +0]
    from ulpflow.golden.interval import imul

    for w in (one, m1):
        wb = np.array([w], np.uint8)
        r = imul(Box(wb, wb, np.zeros(1, bool)), Box(nz, z, np.zeros(1, bool)), e4m3, e4m3, e4m3)
        assert (r.lo[0], r.hi[0]) == (0x80, 0x00)


def test_top_rules_for_infinities():
    ident = get_activation("identity", e4m3)
    inf, ninf = 0x78, 0xF8
    # weight +inf times a box containing 0 -> ⊤; the same box without 0 -> [inf, inf]
    l = Layer(np.array([[inf]], np.uint8), np.array([0], np.uint8), weight_format=e4m3,
              acc_format=e4m3, activation=ident)
    net = Network(e4m3, [l])
    lo = E4.encode_exact(np.array([[-1.0], [0.5], [0.0]]))
    hi = E4.encode_exact(np.array([[1.0], [2.0], [0.0]]))
    res = net.interval(lo, hi)
    assert res.top[:, 0].tolist() == [True, False, True]
    assert res.lo[1, 0] == inf and res.hi[1, 0] == inf
    assert res.lo[0, 0] == E4.canonical_nan  # documented ⊤ representation
    # +inf meets -inf in a sum -> ⊤
    l2 = Layer(np.array([[0x38, 0x38]], np.uint8), np.array([0], np.uint8), weight_format=e4m3,
               acc_format=e4m3, activation=ident)
    net2 = Network(e4m3, [l2])
    res = net2.interval(np.array([[0x38, ninf], [0x38, 0x38]], np.uint8),
                        np.array([[inf, 0x38], [inf, 0x40]], np.uint8))
    assert res.top[:, 0].tolist() == [True, False]
    assert res.hi[1, 0] == inf
    # general boxes (the network only multiplies by point weights): [-1, 1] ⊗ [1, inf] holds
    # 0 ⊗ inf although no corner is NaN; [0.5, 1] ⊗ [1, inf] = [0.5, inf]
    from ulpflow.golden.interval import imul

    one, mone, half = E4.encode_exact(np.array([1.0, -1.0, 0.5]))
    f = np.zeros(2, bool)
    for x, y in ((0, 1), (1, 0)):
        a = Box(np.array([mone, half], np.uint8), np.array([one, one], np.uint8), f)
        b = Box(np.array([one, one], np.uint8), np.array([inf, inf], np.uint8), f)
        r = imul(*((a, b) if x == 0 else (b, a)), e4m3, e4m3, e4m3)
        assert r.top.tolist() == [True, False] and (r.lo[1], r.hi[1]) == (half, inf)


def test_chunked_interval_equals_unchunked(monkeypatch):
    import ulpflow.golden.interval as iv

    net = general_net()
    lo, hi = random_boxes(E4, 2, 300, 20, 4)
    whole = net.interval(lo, hi)
    monkeypatch.setattr(iv, "_MAX_CHUNK_PRODUCTS", 40)
    parts = net.interval(lo, hi)
    for a, b in zip(whole, parts):
        assert np.array_equal(a, b)


def test_box_validation():
    net = exact_1d_net()
    with pytest.raises(ValueError, match=r"box row 1, input 0: lo 0x40 \(2.0\) is above hi 0x38 \(1.0\)"):
        net.interval(np.array([[0x38], [0x40]], np.uint8), np.array([[0x40], [0x38]], np.uint8))
    res = network_interval(net, np.array([[0x80]], np.uint8), np.array([[0x00]], np.uint8),
                           return_layers=True)
    assert len(res) == 3 and all(isinstance(b, Box) for b in res)


# ---------------------------------------------------------------------------- exact accumulation

def _as_exact(net, which):
    layers = [Layer(l.weights, l.bias, weight_format=l.weight_format, acc_format=l.acc_format,
                    product_format=l.product_format, activation=l.activation, rounding=l.rounding,
                    **({"accumulate": "exact"} if i in which else {"tree": list(l.trees)}))
              for i, l in enumerate(net.layers)]
    return Network(net.input_format, layers)


def test_exact_layers_every_1d_box_equals_the_hull():
    """The exact sum rounded once is monotone in every term: with accumulate="exact" layers the
    single-chain network of test_every_1d_box_interval_equals_the_hull is still exact."""
    net = _as_exact(exact_1d_net(), {0, 1, 2})
    box_lo, box_hi, i, j = all_boxes_1d(E4)
    res = net.interval(box_lo[:, None], box_hi[:, None])
    lo_h, hi_h, nan_h = brute_force_hulls_1d(net, E4)
    lo_h, hi_h, nan_h = lo_h[i, j], hi_h[i, j], nan_h[i, j]
    top = res.top[:, 0]
    assert np.all(top[nan_h])
    ok = ~top
    assert ok.sum() > 0.9 * ok.size
    got_lo, got_hi = E4.decode(res.lo[:, 0]), E4.decode(res.hi[:, 0])
    assert not (ok & ((got_lo != lo_h) | (got_hi != hi_h))).any()


def test_exact_layer_random_2d_boxes_contain_the_hull():
    net = _as_exact(general_net(), {1})
    lo, hi = random_boxes(E4, 2, 120, 12, 5)
    lo[:4, 0] = 0xF8  # -inf
    hi[2:6, 1] = 0x78  # +inf
    res = net.interval(lo, hi)
    for r in range(lo.shape[0]):
        pts = box_points(lo[r], hi[r])
        h_lo, h_hi, h_nan = hull(net(pts)[:, 0], E4)
        if h_nan:
            assert res.top[r, 0], f"box {r}: image contains NaN but the result is not ⊤"
        elif not res.top[r, 0]:
            g_lo, g_hi = E4.decode(res.lo[r, 0]), E4.decode(res.hi[r, 0])
            assert g_lo <= h_lo and h_hi <= g_hi, f"box {r}: [{g_lo}, {g_hi}] misses hull [{h_lo}, {h_hi}]"
    assert (~res.top).sum() > 60


def test_exact_inf_rule_and_wrap():
    from ulpflow.golden.interval import iexact

    inf, ninf, one = 0x78, 0xF8, 0x38
    f = np.zeros(3, bool)
    pt = lambda c: Box(np.array(c, np.uint8), np.array(c, np.uint8), f)
    # term 0 is [-inf, +inf] alone: no NaN; with another term that can be -inf: ⊤
    a = Box(np.array([ninf, ninf, one], np.uint8), np.array([inf, inf, inf], np.uint8), f)
    b = Box(np.array([one, ninf, ninf], np.uint8), np.array([one, one, one], np.uint8), f)
    r = iexact([a, b, pt([one] * 3)], [e4m3] * 3, e4m3)
    assert r.top.tolist() == [False, True, True]
    assert (r.lo[0], r.hi[0]) == (ninf, inf)
    # WRAP: a sum that wraps is ⊤ (the whole range); one that does not is exact
    qw = g.parse_format("q4.4_wrap")
    k = lambda v: qw.from_int(np.array(v))
    x = Box(k([16 * 6, 16 * 1]), k([16 * 7, 16 * 2]), np.zeros(2, bool))
    r = iexact([x, x], [qw, qw], qw)
    assert r.top.tolist() == [True, False] and qw.to_int(r.lo[1]) == 32 and qw.to_int(r.hi[1]) == 64


def test_finite_accumulator_gets_top_where_nan_is_possible():
    """A NaN endpoint, or +inf with -inf, feeding an accumulator without NaN gives ⊤ (not an
    error); elsewhere the box holds every concrete output of net(x, strict=False)."""
    fin = g.parse_format("e3m4_finite")
    fspec = FLOAT_PRESETS["e3m4"]  # same finite values as e3m4_finite (no inf/NaN codes used)
    layer = Layer.from_values([[1.0, -1.0]], [0.0], weight_format=e4m3, product_format=e4m3,
                              acc_format=fin, activation=get_activation("identity", fin))
    net = Network(e4m3, [layer])
    nan, inf, one = 0x7E, 0x78, 0x38
    lo = np.array([[one, one], [one, inf], [0x30, 0x28]], np.uint8)
    hi = np.array([[nan, one], [inf, inf], [0x40, 0x38]], np.uint8)
    res = net.interval(lo, hi)
    assert list(res.top.ravel()) == [True, True, False]  # NaN endpoint; inf − inf
    pts = box_points(lo[2], hi[2])
    h_lo, h_hi, h_nan = hull(net(pts, strict=False)[:, 0], fspec)
    assert not h_nan
    assert fin.decode(res.lo[2])[0] == h_lo and fin.decode(res.hi[2])[0] == h_hi
