"""Reduction trees: structure, JSON, and golden ``reduce`` / ``exact_sum`` against oracles.

Oracles (never the golden model itself):
- float formats: every tree node is evaluated by MPFR (``oracles.gmpy2_op``: exact sum of two
  exactly-read operands, rounded once with precision M+1, the format's exponent range,
  subnormalize=True, non-IEEE overflow mapped by hand, RNA by exact tie detection);
- exact sums: an exact MPFR sum at 4000 bits in the same rounding direction (IEEE signs of
  zero), rounded once to the format by MPFR;
- fixed point: exact Python integer arithmetic with saturation / wrap-around written here.
"""

import json
from fractions import Fraction

import gmpy2
import numpy as np
import pytest

import ulpflow.golden as g
from ulpflow.golden import Tree, exact_sum, reduce
from ulpflow.golden.tree import ZERO_LEAF as ZERO
from oracles import (FLOAT_PRESETS, ROUNDING_MODES, FixedSpec, FloatSpec, assert_codes_equal,
                     gmpy2_op, gmpy2_round_values, mismatch_mask)

VARIANTS = [
    FloatSpec("e5m2_ftz", 5, 2, 15, subnormals=False),
    FloatSpec("e4m3_fn_ftz", 4, 3, 7, specials="fn", subnormals=False),
    FloatSpec("e5m2_b10", 5, 2, 10),
]
FLOAT_SPECS = {**FLOAT_PRESETS, **{v.name: v for v in VARIANTS}}
FIXED_SPECS = [FixedSpec("q4.4", 4, 4), FixedSpec("q4.4s", 4, 4, symmetric=True),
               FixedSpec("uq3.5", 3, 5, signed=False), FixedSpec("q4.4_wrap", 4, 4, overflow="WRAP"),
               FixedSpec("q8.8", 8, 8), FixedSpec("q3.9_wrap", 3, 9, overflow="WRAP")]


# ---------------------------------------------------------------------------- structure

def test_constructors_print_as_documented():
    assert str(Tree.sequential(4)) == "((t0 + t1) + t2) + t3"
    assert str(Tree.sequential(3, from_zero=True)) == "((0 + t0) + t1) + t2"
    assert str(Tree.reversed(3)) == "(t2 + t1) + t0"
    assert str(Tree.pairwise(4)) == "(t0 + t1) + (t2 + t3)"
    assert str(Tree.pairwise(5)) == "((t0 + t1) + t2) + (t3 + t4)"
    assert str(Tree.from_order([2, 0, 1])) == "(t2 + t0) + t1"
    assert str(Tree.sequential(1)) == "t0"
    assert str(Tree.from_nested(((0, 1), (2, (3, 4))))) == "(t0 + t1) + (t2 + (t3 + t4))"


def test_equality_hash_and_nested_round_trip():
    assert Tree.from_nested(((0, 1), 2)) == Tree.sequential(3)
    assert Tree.from_nested([[0, 1], 2]) == Tree.sequential(3)
    assert Tree.from_nested(((1, 0), 2)) != Tree.sequential(3)  # left/right order is structure
    assert Tree.sequential(3) != Tree.sequential(3, from_zero=True)
    assert len({Tree.sequential(5), Tree.from_order(range(5)), Tree.pairwise(5)}) == 2
    for seed in range(20):
        t = Tree.random(1 + seed % 9, seed)
        assert Tree.from_nested(t.to_nested()) == t
        assert hash(Tree.from_nested(t.to_nested())) == hash(t)
    assert Tree.sequential(3, from_zero=True).to_nested() == (((ZERO, 0), 1), 2)


def check_node_list(t):
    """internal_nodes: children before parents, every leaf and node used exactly once."""
    used_leaves, used_nodes = [], []
    for j, left, right in t.internal_nodes():
        for kind, i in (left, right):
            assert kind in ("leaf", "node", "zero")
            if kind == "node":
                assert i < j
                used_nodes.append(i)
            elif kind == "leaf":
                used_leaves.append(i)
    if t.n_nodes == 0:  # a one-leaf tree: the root is the leaf
        assert t.root == ("leaf", 0)
        return
    assert sorted(used_leaves) == list(range(t.n_terms))
    assert sorted(used_nodes) == list(range(t.n_nodes - 1))
    assert t.root == ("node", t.n_nodes - 1)
    # levels: 1 + the larger child level, leaves 0
    lv = t.levels
    for j, left, right in t.internal_nodes():
        kids = [lv[i] if k == "node" else 0 for k, i in (left, right)]
        assert lv[j] == 1 + max(kids)
    assert t.depth == (max(lv) if lv else 0)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 16, 65])
def test_internal_nodes_and_depth(n):
    trees = [Tree.sequential(n), Tree.sequential(n, True), Tree.reversed(n), Tree.pairwise(n),
             Tree.random(n, n)]
    for t in trees:
        check_node_list(t)
        assert t.n_nodes == n - 1 + t.has_zero
    assert Tree.sequential(n).depth == n - 1
    assert Tree.pairwise(n).depth == (n - 1).bit_length()
    # sequential order evaluates node j = (previous partial sum) + t_{j+1}
    if n > 1:
        assert Tree.sequential(n).internal_nodes()[0] == (0, ("leaf", 0), ("leaf", 1))
        assert Tree.sequential(n, True).internal_nodes()[0] == (0, ("zero", None), ("leaf", 0))


def test_json_forms_round_trip_through_text():
    cases = [Tree.sequential(6), Tree.sequential(6, True), Tree.reversed(4), Tree.pairwise(9),
             Tree.random(12, 3), Tree.sequential(1), Tree.from_nested((ZERO, ((0, 1), 2)))]
    # deep trees: a 3000-term chain and a 600-deep right comb use the compact forms
    comb = 599
    for i in range(598, -1, -1):
        comb = (i, comb)
    cases += [Tree.sequential(3000), Tree.from_nested(comb)]
    for t in cases:
        text = json.dumps(t.to_json())
        back = Tree.from_json(json.loads(text))
        assert back == t and hash(back) == hash(t)
    assert Tree.sequential(3).to_json() == {"sequence": [0, 1, 2]}
    assert Tree.pairwise(4).to_json() == [[0, 1], [2, 3]]
    assert set(Tree.from_nested(comb).to_json()) == {"nodes"}
    # the flat form is readable on its own
    flat = {"nodes": [[2, 3], [0, 1], ["n1", "n0"]]}
    assert Tree.from_json(flat) == Tree.from_nested(((0, 1), (2, 3)))


@pytest.mark.parametrize("bad, message", [
    (((0, 1), (1, 2)), "leaf 1 appears 2 times"),
    (((0, 2), 3), "leaf 1 is missing"),
    (((0, 1, 2), 3), "exactly 2 children"),
    (((0, -1), 1), "leaf -1 is negative"),
    (((0, 1.0), 2), "must be a non-negative term index"),
    (((ZERO, 0), (ZERO, 1)), "zero leaf appears 2 times"),
])
def test_bad_trees_are_rejected_naming_the_leaf(bad, message):
    with pytest.raises(ValueError, match=message):
        Tree.from_nested(bad)


def test_missing_last_leaf_needs_n_terms():
    with pytest.raises(ValueError, match="leaf 3 is missing"):
        Tree.from_nested(((0, 1), 2), n_terms=4)
    with pytest.raises(ValueError, match="leaf 4 is out of range for n_terms=4"):
        Tree.from_nested(((0, 1), (2, 4)), n_terms=4)
    with pytest.raises(ValueError, match="leaf 2 appears 2 times"):
        Tree.from_order([0, 1, 2, 2])


@pytest.mark.parametrize("bad, message", [
    ({"sequence": [0, 0, 1]}, "leaf 0 appears 2 times"),
    ({"sequence": []}, "non-empty list"),
    ({"nodes": [[0, 1], ["n0", "n0"]]}, "n0 is used twice"),
    ({"nodes": [[0, "n1"], [1, 2]]}, "not an earlier node"),
    ({"nodes": [[0, 1], [2, 3], [4, "n1"]]}, "n0 is never used"),
    ({"order": [0, 1]}, "exactly one key 'sequence' or 'nodes'"),
    ("t0 + t1", "expected a nested list"),
    ([[0, 1], [3, 4]], "leaf 2 is missing"),
])
def test_bad_tree_json(bad, message):
    with pytest.raises(ValueError, match=message):
        Tree.from_json(bad)


# ---------------------------------------------------------------------------- data

def term_batch(spec, n_terms, rng, rows=48):
    """Rows of codes: uniform codes (specials included), values of similar magnitude with
    random signs (rounding and cancellation), and zero-sign rows."""
    bits = spec.bits
    out = [rng.integers(0, 1 << bits, (rows // 3, n_terms))]
    if isinstance(spec, FloatSpec):
        top_field = spec.max_finite_code >> spec.M
        centre = rng.integers(0, top_field + 1, (rows // 3, 1))
        field = np.clip(centre + rng.integers(-2, 3, (rows // 3, n_terms)), 0, top_field)
        code = (field << spec.M) | rng.integers(0, 1 << spec.M, field.shape)
        code = np.minimum(code, spec.max_finite_code)
        sign = rng.integers(0, 2, code.shape)
        if not spec.has_neg_zero:
            sign = np.where(code == 0, 0, sign)
        out.append(code | (sign << (bits - 1)))
        z = rng.integers(0, 2, (rows - 2 * (rows // 3), n_terms)) << (bits - 1)
        if not spec.has_neg_zero:
            z[:] = 0
        out.append(z)
        codes = np.concatenate(out)
    else:
        out.append(rng.integers(0, 1 << bits, (rows - rows // 3, n_terms)))
        codes = np.concatenate(out)
        valid = spec.valid_codes()
        codes = valid[np.searchsorted(valid, codes).clip(0, valid.size - 1)]
    return codes.astype(spec.dtype)


def random_trees(n_terms, rng, k=3):
    trees = [Tree.sequential(n_terms), Tree.pairwise(n_terms), Tree.sequential(n_terms, True)]
    trees += [Tree.random(n_terms, int(rng.integers(1 << 30))) for _ in range(k)]
    return trees


# ---------------------------------------------------------------------------- oracles

def mpfr_reduce(terms, tree, spec, mode):
    """Node-by-node MPFR evaluation of the tree: (root codes, [node codes])."""
    zero = np.zeros(terms.shape[0], dtype=spec.dtype)
    nodes = []

    def val(ref):
        kind, i = ref
        return terms[:, i] if kind == "leaf" else nodes[i] if kind == "node" else zero

    for j, left, right in tree.internal_nodes():
        nodes.append(gmpy2_op("add", [val(left), val(right)], spec, mode))
    return (nodes[-1] if nodes else terms[:, 0]), nodes


def fixed_add(ka, kb, spec):
    k = ka + kb
    if spec.overflow == "WRAP":
        k = k & ((1 << spec.bits) - 1)
        return np.where(spec.signed & (k >= (1 << (spec.bits - 1))), k - (1 << spec.bits), k)
    return np.clip(k, spec.kmin, spec.kmax)


def int_reduce(terms, tree, spec):
    k = spec.to_int(terms)
    nodes = []

    def val(ref):
        kind, i = ref
        return k[:, i] if kind == "leaf" else nodes[i] if kind == "node" else np.zeros(k.shape[0], np.int64)

    for j, left, right in tree.internal_nodes():
        nodes.append(fixed_add(val(left), val(right), spec))
    return spec.from_int(nodes[-1] if nodes else k[:, 0]), [spec.from_int(n) for n in nodes]


def _wide(mode):
    r = {"RNE": gmpy2.RoundToNearest, "RNA": gmpy2.RoundToNearest, "RTZ": gmpy2.RoundToZero,
         "RUP": gmpy2.RoundUp, "RDN": gmpy2.RoundDown}[mode]
    return gmpy2.context(precision=4000, emin=-(1 << 30), emax=1 << 30, round=r)


def mpfr_exact_sum(terms, spec, mode):
    """Exact sum by MPFR at 4000 bits (IEEE zero signs of the rounding direction), then one
    MPFR rounding to the format."""
    from oracles import mpfr_values

    ctx = _wide(mode)
    cols = [mpfr_values(terms[:, i], spec) for i in range(terms.shape[1])]
    sums = []
    for r in range(terms.shape[0]):
        s = cols[0][r]
        for c in cols[1:]:
            s = ctx.add(s, c[r])
        sums.append(s)
    return gmpy2_round_values(sums, spec, mode)


# ---------------------------------------------------------------------------- reduce

@pytest.mark.parametrize("name", sorted(FLOAT_SPECS))
def test_reduce_float_vs_mpfr(name):
    spec = FLOAT_SPECS[name]
    fmt = g.parse_format(name)
    rng = np.random.default_rng(abs(hash(name)) % (1 << 32))
    for n_terms in (1, 2, 5, 9):
        terms = term_batch(spec, n_terms, rng, rows=24 if spec.bits > 16 else 36)
        for tree in random_trees(n_terms, rng, k=1 if spec.bits > 8 else 2):
            for mode in ROUNDING_MODES:
                got, got_nodes = reduce(terms, tree, fmt, rounding=mode, return_nodes=True)
                exp_root, exp_nodes = mpfr_reduce(terms, tree, spec, mode)
                what = f"reduce {name} {mode} {tree}"
                assert got.dtype == spec.dtype and got.shape == (terms.shape[0],)
                assert_codes_equal(got, exp_root, spec, what=what)
                assert got_nodes.shape == (terms.shape[0], tree.n_nodes)
                for j, e in enumerate(exp_nodes):
                    assert_codes_equal(got_nodes[:, j], e, spec, what=f"{what} node {j}")


@pytest.mark.parametrize("spec", FIXED_SPECS, ids=lambda s: s.name)
def test_reduce_fixed_vs_integers(spec):
    fmt = g.parse_format(spec.name)
    rng = np.random.default_rng(7)
    for n_terms in (1, 3, 8, 17):
        terms = term_batch(spec, n_terms, rng, rows=60)
        for tree in random_trees(n_terms, rng):
            got, nodes = reduce(terms, tree, fmt, return_nodes=True)
            exp, exp_nodes = int_reduce(terms, tree, spec)
            assert_codes_equal(got, exp, spec, what=f"reduce {spec.name} {tree}")
            for j, e in enumerate(exp_nodes):
                assert_codes_equal(nodes[:, j], e, spec, what=f"reduce {spec.name} node {j}")


def test_reduce_accepts_leading_axes_and_checks_shape():
    fmt = g.parse_format("e4m3")
    t = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    flat = reduce(t.reshape(6, 4), Tree.pairwise(4), fmt)
    assert np.array_equal(reduce(t, Tree.pairwise(4), fmt), flat.reshape(2, 3))
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 5\)"):
        reduce(t, Tree.pairwise(5), fmt)
    with pytest.raises(TypeError, match="integer array"):
        reduce(np.zeros((2, 4)), Tree.pairwise(4), fmt)


# ---------------------------------------------------------------------------- order matters

def test_e4m3_sequential_and_pairwise_differ():
    """1 + 16 + 1 + 1 in e4m3 (3 fraction bits: spacing 2 in [16, 32)).

    Left to right, 16 + 1 = 17 is a tie between 16 and 18 and goes to the even 16, three
    times over: 16. Pairwise, (1 + 16) = 16 and (1 + 1) = 2, then 16 + 2 = 18. The exact
    sum 19 is a tie between 18 and 20 and rounds to 20.
    """
    spec = FLOAT_PRESETS["e4m3"]
    fmt = g.parse_format("e4m3")
    values = [1.0, 16.0, 1.0, 1.0]
    terms = spec.encode_exact(np.array([values]))
    seq = reduce(terms, Tree.sequential(4), fmt)
    pw = reduce(terms, Tree.pairwise(4), fmt)
    ex = exact_sum(terms, fmt)
    assert spec.decode(seq).tolist() == [16.0]
    assert spec.decode(pw).tolist() == [18.0]
    assert spec.decode(ex).tolist() == [20.0]
    # and the oracle agrees on each
    assert_codes_equal(seq, mpfr_reduce(terms, Tree.sequential(4), spec, "RNE")[0], spec, what="seq")
    assert_codes_equal(pw, mpfr_reduce(terms, Tree.pairwise(4), spec, "RNE")[0], spec, what="pw")
    assert_codes_equal(ex, mpfr_exact_sum(terms, spec, "RNE"), spec, what="exact")


def test_order_changes_results_on_random_data():
    """Different trees over the same data give different sums on some rows (so a reduce that
    ignored the tree could not pass the oracle tests above), and the oracle agrees."""
    spec = FLOAT_PRESETS["bf16"]
    fmt = g.parse_format("bf16")
    rng = np.random.default_rng(3)
    terms = term_batch(spec, 17, rng, rows=90)
    seq = reduce(terms, Tree.sequential(17), fmt)
    pw = reduce(terms, Tree.pairwise(17), fmt)
    differ = mismatch_mask(seq, pw, spec)
    assert differ.sum() >= 3
    assert_codes_equal(pw, mpfr_reduce(terms, Tree.pairwise(17), spec, "RNE")[0], spec, what="pw")


@pytest.mark.parametrize("name", ["e4m3", "e5m2fnuz", "bf16", "fp16", "e2m1fn"])
def test_one_nonzero_term_gives_the_same_result_for_every_tree(name):
    """With a single non-zero term x (all others ±0), every order returns x exactly."""
    spec = FLOAT_PRESETS[name]
    fmt = g.parse_format(name)
    rng = np.random.default_rng(11)
    n = 9
    rows = 200
    x = rng.integers(0, 1 << spec.bits, rows)
    x = x[(spec.decode(x) != 0) & ~spec.is_nan(x)]
    terms = np.zeros((x.size, n), dtype=np.int64)
    if spec.has_neg_zero:
        terms |= rng.integers(0, 2, terms.shape) << (spec.bits - 1)
    pos = rng.integers(0, n, x.size)
    terms[np.arange(x.size), pos] = x
    terms = terms.astype(spec.dtype)
    expected = x.astype(spec.dtype)
    for tree in random_trees(n, rng, k=5) + [Tree.reversed(n)]:
        for mode in ROUNDING_MODES:
            assert_codes_equal(reduce(terms, tree, fmt, rounding=mode), expected, spec,
                               what=f"single term {name} {mode} {tree}")


def test_from_zero_changes_only_the_sign_of_zero():
    fmt = g.parse_format("fp16")
    neg0 = np.full((1, 4), 0x8000, dtype=np.uint16)
    assert reduce(neg0, Tree.sequential(4), fmt)[0] == 0x8000
    assert reduce(neg0, Tree.sequential(4, from_zero=True), fmt)[0] == 0x0000
    assert reduce(neg0, Tree.sequential(4, from_zero=True), fmt, rounding="RDN")[0] == 0x8000


# ---------------------------------------------------------------------------- exact sums

@pytest.mark.parametrize("name", sorted(FLOAT_SPECS))
def test_exact_sum_vs_mpfr(name):
    spec = FLOAT_SPECS[name]
    fmt = g.parse_format(name)
    rng = np.random.default_rng(5)
    for n_terms in (1, 2, 7, 33):
        terms = term_batch(spec, n_terms, rng, rows=30)
        # exact cancellation rows: x, -x, y, -y, ... (then the zero sign is the rule's)
        half = terms[:6, : n_terms // 2]
        flipped = half ^ np.array(1 << (spec.bits - 1), dtype=spec.dtype)
        if n_terms >= 2:
            canc = np.concatenate([half, flipped], axis=1)
            canc = np.concatenate([canc, terms[:6, canc.shape[1]:] & 0], axis=1)
            if not spec.has_neg_zero:
                canc = np.where((canc & ((1 << (spec.bits - 1)) - 1)) == 0, 0, canc).astype(spec.dtype)
            terms = np.concatenate([terms, canc.astype(spec.dtype)])
        for mode in ROUNDING_MODES:
            got = exact_sum(terms, fmt, rounding=mode)
            assert_codes_equal(got, mpfr_exact_sum(terms, spec, mode), spec,
                               what=f"exact_sum {name} {mode} n={n_terms}")


@pytest.mark.parametrize("spec", FIXED_SPECS, ids=lambda s: s.name)
def test_exact_sum_fixed(spec):
    fmt = g.parse_format(spec.name)
    rng = np.random.default_rng(9)
    terms = term_batch(spec, 12, rng, rows=90)
    k = spec.to_int(terms)
    total = k[:, 0].copy()
    for i in range(1, k.shape[1]):
        total = total + k[:, i]
    if spec.overflow == "WRAP":
        w = total & ((1 << spec.bits) - 1)
        total = np.where(spec.signed & (w >= (1 << (spec.bits - 1))), w - (1 << spec.bits), w)
    else:
        total = np.clip(total, spec.kmin, spec.kmax)
    assert_codes_equal(exact_sum(terms, fmt), spec.from_int(total), spec, what=f"exact_sum {spec.name}")


def test_exact_sum_big_cancellation_fp32():
    """Terms 2**127, 1, -2**127 (beyond int64 alignment) sum exactly to 1."""
    spec = FLOAT_PRESETS["fp32"]
    fmt = g.parse_format("fp32")
    big = 2.0 ** 127
    tiny = 2.0 ** -149
    rows = np.array([[big, 1.0, -big], [big, tiny, -big], [tiny, -big, big], [big, big, -big]])
    terms = spec.encode_exact(rows)
    got = exact_sum(terms, fmt)
    assert spec.decode(got).tolist() == [1.0, tiny, tiny, big]
    # the sequential tree loses the small term: the exact reduction is a different semantics
    assert spec.decode(reduce(terms, Tree.sequential(3), fmt)).tolist()[:2] == [0.0, 0.0]
    assert Fraction(float(spec.decode(got)[1])) == Fraction(1, 2 ** 149)


# ---------------------------------------------------------------------------- API details

def test_zero_leaf_names():
    import ulpflow.golden.tree as tree_mod

    assert g.ZERO_LEAF == Tree.ZERO == tree_mod.ZERO_LEAF == "zero"
    assert not hasattr(g, "ZERO") and not hasattr(tree_mod, "ZERO")  # no bare ZERO anywhere
    # Tree is pure data: evaluation lives in golden.reduction
    assert not hasattr(tree_mod, "reduce") and not hasattr(tree_mod, "exact_sum")
    assert g.reduce is reduce and g.exact_sum is exact_sum


@pytest.mark.parametrize("seed, error, message", [
    ("x", TypeError, "Tree.random: seed must be a non-negative integer .* not 'x'"),
    (1.5, TypeError, "seed must be a non-negative integer .* not 1.5"),
    (True, TypeError, "seed must be a non-negative integer .* not True"),
    (-3, ValueError, "Tree.random: seed must be a non-negative integer, not -3"),
])
def test_random_tree_seed_is_checked(seed, error, message):
    with pytest.raises(error, match=message):
        Tree.random(5, seed=seed)


def test_random_tree_accepts_numpy_seeds():
    assert Tree.random(6, np.int64(4)) == Tree.random(6, 4)
    assert Tree.random(6, np.random.SeedSequence(4)) == Tree.random(6, np.random.SeedSequence(4))
    assert Tree.random(6, np.random.default_rng(4)).n_terms == 6


def test_reduce_and_exact_sum_accept_format_names():
    e4m3 = g.parse_format("e4m3")
    terms = e4m3.encode(np.array([[1.0, 16.0, 1.0, 1.0]]))
    for tree in (Tree.sequential(4), Tree.pairwise(4)):
        assert np.array_equal(reduce(terms, tree, "e4m3"), reduce(terms, tree, e4m3))
    assert np.array_equal(exact_sum(terms, "e4m3", rounding="RUP"), exact_sum(terms, e4m3, rounding="RUP"))
    with pytest.raises(TypeError, match="fmt must be a FloatFormat, FixedFormat or format name, not 3"):
        reduce(terms, Tree.sequential(4), 3)
    with pytest.raises(TypeError, match="tree must be a Tree, not list"):
        reduce(terms, [0, 1, 2, 3], "e4m3")


def test_mixed_format_exact_accumulation_vs_fractions():
    """kulisch.exact_accumulate over columns of two formats (as an exact layer uses it): the
    exact Fraction sum rounded once by MPFR."""
    from ulpflow.golden.kulisch import exact_accumulate
    from oracles import gmpy2_round_fractions

    fp16, e4m3 = FLOAT_PRESETS["fp16"], FLOAT_PRESETS["e4m3"]
    rng = np.random.default_rng(8)
    a = rng.integers(0, 1 << 16, (3, 400)).astype(np.uint16)
    a = np.where(np.isfinite(fp16.decode(a)), a, 0).astype(np.uint16)
    b = rng.integers(0, 256, 400).astype(np.uint8)
    b = np.where(np.isfinite(e4m3.decode(b)), b, 0).astype(np.uint8)
    cols = list(a) + [b]
    fmts = [g.parse_format("fp16")] * 3 + [g.parse_format("e4m3")]
    for mode in ("RNE", "RTZ", "RDN"):
        got = exact_accumulate(cols, fmts, g.parse_format("e4m3"), mode)
        vals = [fp16.decode(c) for c in a] + [e4m3.decode(b)]
        exact = [sum(Fraction(float(v[r])) for v in vals) for r in range(400)]
        exp = gmpy2_round_fractions(exact, e4m3, mode)
        nz = np.array([q != 0 for q in exact])
        assert nz.sum() > 390
        assert_codes_equal(got[nz], exp[nz], e4m3, what=f"mixed exact sum {mode}")


# ---------------------------------------------------------------------------- fused trees

def _spec(**kw):
    args = dict(F=24, e_zero=-132, out_format="fp32", rounding="RTZ", container=None, nan_code=0x7FFFFFFF)
    args.update(kw)
    return g.FusedSpec(**args)


def test_fused_tree_structure_and_printing():
    spec = _spec()
    t = Tree.fused(10, spec, block=4)
    assert t.kind == "fused" and t.fused_spec == spec and t.n_terms == 10
    assert str(t) == "fused(t8, fused(t4, t5, t6, t7, fused(t0, t1, t2, t3, t9)))"
    assert t.fused_nodes() == [(0, tuple(("leaf", i) for i in (0, 1, 2, 3, 9))),
                               (1, tuple(("leaf", i) for i in (4, 5, 6, 7)) + (("node", 0),)),
                               (2, (("leaf", 8), ("node", 1)))]
    assert t.levels == (1, 2, 3) and t.depth == 3 and t.n_nodes == 3 and t.root == ("node", 2)
    assert t.chain_order() is None
    assert str(Tree.fused(5, spec)) == "fused(t0, t1, t2, t3, t4)"
    assert str(Tree.fused(1, spec)) == "fused(t0)"
    assert Tree.sequential(3).kind == "add" and Tree.sequential(3).fused_spec is None
    # equality and hashing include the spec; an addition tree is never equal to a fused one
    assert Tree.fused(5, spec) == Tree.fused(5, _spec()) and hash(Tree.fused(5, spec)) == hash(Tree.fused(5, _spec()))
    assert Tree.fused(5, spec) != Tree.fused(5, _spec(F=23))
    assert Tree.fused(5, spec, block=2) != Tree.fused(5, spec)


def test_fused_tree_refuses_binary_readers():
    t = Tree.fused(5, _spec())
    with pytest.raises(TypeError, match=r"n-ary fused nodes; read them with Tree\.fused_nodes\(\)"):
        t.internal_nodes()
    with pytest.raises(TypeError, match=r"is an addition tree"):
        Tree.sequential(3).fused_nodes()
    with pytest.raises(TypeError, match="fused tree; it has no nested-pair form"):
        t.to_nested()


def test_fused_tree_json_round_trip_and_errors():
    t = Tree.fused(9, _spec(out_format="e8m13", container="fp32"), block=4)
    d = t.to_json()
    assert d == {"fused": {"F": 24, "e_zero": -132, "out_format": "e8m13", "rounding": "RTZ",
                           "container": "fp32", "nan_code": "0x7fffffff"},
                 "nodes": [[0, 1, 2, 3, 8], [4, 5, 6, 7, "n0"]]}
    assert Tree.from_json(json.loads(json.dumps(d)), n_terms=9) == t
    assert Tree.from_fused(d["nodes"], t.fused_spec) == t
    bad = [
        ({"fused": d["fused"], "nodes": [[0, 1, 2, 3, 8], [4, 5, 6, 7]]}, "node n0 is never used"),
        ({"fused": d["fused"], "nodes": [[0, 1, 2, 3, 8], [4, 5, 6, 6, "n0"]]}, "leaf 6 appears 2 times"),
        ({"fused": d["fused"], "nodes": [[0, 1, 2, 3], [4, 5, 6, 7, "n0"]]}, "leaf 8 is missing"),
        ({"fused": d["fused"], "nodes": [[0, 1, 2, 3, "zero"], [4, 5, 6, 7, "n0", 8]]}, "no zero leaf"),
        ({"fused": d["fused"], "nodes": [[0, 1, 2, "n1", 8], [4, 5, 6, 7, 3]]}, "refers to n1, which is not an earlier node"),
        ({"fused": d["fused"], "nodes": [[]]}, "must be a non-empty list of operands"),
        ({"fused": {**d["fused"], "F": True}, "nodes": d["nodes"]}, r"tree\.fused\.F: expected an integer, not True"),
        ({"fused": {**d["fused"], "G": 1}, "nodes": d["nodes"]}, "unknown key 'G'"),
        ({"fused": {k: v for k, v in d["fused"].items() if k != "e_zero"}, "nodes": d["nodes"]}, "missing key 'e_zero'"),
        ({"fused": {**d["fused"], "container": "fp16"}, "nodes": d["nodes"]}, "container fp16 does not hold every value of e8m13"),
        ({"fused": {**d["fused"], "nan_code": "7fff"}, "nodes": d["nodes"]}, "expected a hex code"),
        ({"fused": {**d["fused"], "rounding": "RZ"}, "nodes": d["nodes"]}, "RZ"),
    ]
    for data, msg in bad:
        with pytest.raises(ValueError, match=msg):
            Tree.from_json(data, n_terms=9)


def test_fused_spec_errors():
    with pytest.raises(ValueError, match=r"F must be an integer in 0 … 56, not 57"):
        _spec(F=57)
    with pytest.raises(ValueError, match=r"out_format must be a float format, not q4\.4"):
        _spec(out_format="q4.4")
    with pytest.raises(ValueError, match=r"nan_code must be a code of fp16, not 65536"):
        _spec(out_format="fp16", nan_code=1 << 16)
    with pytest.raises(ValueError, match=r"block must be a positive integer"):
        Tree.fused(5, _spec(), block=0)
    with pytest.raises(TypeError, match=r"spec must be a FusedSpec"):
        Tree.fused(5, "F=24")


def test_reduce_fused_tree_matches_a_fraction_computation():
    """reduce() with a fused tree: plain fp32 terms (each normalised in fp32), truncated to F
    bits below the largest exponent, summed exactly, rounded toward zero once; checked against
    exact Fractions computed here (a second independent computation lives in test_mma_reference)."""
    from test_mma_reference import decode, round_fraction
    rng = np.random.default_rng(4)
    F = 10
    spec = _spec(F=F, e_zero=-140)
    n, k = 400, 6
    field = rng.integers(100, 140, size=(n, k))
    terms = ((rng.integers(0, 2, size=(n, k)) << 31) | (field << 23) | rng.integers(0, 1 << 23, size=(n, k))).astype(np.uint32)
    terms[:, 2] = np.where(rng.random(n) < 0.3, 0, terms[:, 2])
    got = reduce(terms, Tree.fused(k, spec, block=3), "fp32")
    for i in range(n):
        c = int(terms[i, k - 1])
        for block in (terms[i, 0:3], terms[i, 3:5]):
            parts = [decode(int(x), "fp32") for x in list(block) + [c]]
            labels = [spec.e_zero if s == 0 else e for _, _, e, s in parts]
            e_max = max(labels)
            total = sum((-1 if sg else 1) * int(s * Fraction(2) ** (e - e_max + F)) for (_, sg, _, s), e in zip(parts, labels))
            c = round_fraction(Fraction(total) * Fraction(2) ** (e_max - F), "fp32", "RZ")
        assert int(got[i]) == c, (i, terms[i].tolist(), hex(int(got[i])), hex(c))
