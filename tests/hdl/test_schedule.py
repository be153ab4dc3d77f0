"""The tree engine's schedules: every tree, checked against golden.reduce; register counts."""

import numpy as np
import pytest

from ulpflow.golden import Tree, parse_format
from ulpflow.golden.reduction import reduce
from ulpflow.hdl.schedule import registers_needed, run_schedule, tree_schedule

E4M3 = parse_format("e4m3")
E5M3 = parse_format("e5m3")


def _trees(n):
    yield Tree.sequential(n)
    yield Tree.sequential(n, from_zero=True)
    yield Tree.reversed(n)
    yield Tree.pairwise(n)
    for seed in range(4):
        yield Tree.random(n, seed)


@pytest.mark.parametrize("n", range(2, 14))
def test_schedule_equals_golden_reduce(n):
    """Interpreting the schedule with golden add gives golden.reduce bit for bit, with the
    products in a wider format than the accumulator (mixed-format nodes)."""
    rng = np.random.default_rng(n)
    for tree in _trees(n):
        terms = rng.integers(0, 256, size=(3000, n)).astype(np.uint8)
        sched = tree_schedule(tree)
        got = run_schedule(sched, [terms[:, j] for j in range(n - 1)], terms[:, n - 1],
                           product_format=E4M3, acc_format=E4M3)
        assert (got == reduce(terms, tree, E4M3, strict=False)).all(), tree
        # each internal node is exactly one add step; loads only where both operands are products
        adds = [s for s in sched.steps if s.op == "add"]
        assert sorted(s.node for s in adds) == sorted(j for j, _, _ in tree.internal_nodes())
        assert all(s.a[0] != "mul" or s.b[0] != "mul" for s in adds)


def test_mixed_formats_match_the_network_semantics():
    """A product leaf is read in the product format (e5m3) and added into e4m3 once."""
    from ulpflow.golden import Layer, Network
    from ulpflow.golden.activations import get_activation

    rng = np.random.default_rng(3)
    tree = Tree.random(6, 11)
    w = E4M3.encode(rng.uniform(-2, 2, size=(1, 5)))
    b = E4M3.encode(rng.uniform(-2, 2, size=1))
    layer = Layer(w, b, weight_format=E4M3, acc_format=E4M3, product_format=E5M3,
                  activation=get_activation("identity", E4M3), tree=tree)
    x = rng.integers(0, 256, size=(4000, 5)).astype(np.uint8)
    tr = Network(E4M3, [layer]).trace(x, strict=False).layers[0]
    got = run_schedule(tree_schedule(tree), [tr.products[:, 0, j] for j in range(5)], np.full(4000, b[0]),
                       product_format=E5M3, acc_format=E4M3)
    assert (got == tr.sums[:, 0]).all()


def test_register_counts():
    """Sequential trees need one register (a multiply-accumulate); a balanced tree of 2^k
    products needs about k; the count never exceeds what a naive allocation would take."""
    assert registers_needed(Tree.sequential(50)) == 1
    assert registers_needed(Tree.reversed(50)) == 1
    assert registers_needed(Tree.pairwise(4)) == 2     # (p0 + p1) + (p2 + b): load, add, add
    assert registers_needed(Tree.pairwise(17)) <= 5
    for seed in range(20):
        t = Tree.random(24, seed)
        assert 1 <= registers_needed(t) <= t.depth


def test_deep_trees_schedule_without_recursion():
    """C3 on e4m3 has sequential trees of 477 terms, deeper than Python's recursion limit lets
    a recursive walk go (it failed with RecursionError): the schedule is built iteratively."""
    n = 3000
    for tree in (Tree.sequential(n), Tree.reversed(n)):
        sched = tree_schedule(tree)
        assert sched.registers == 1
        assert [s.op for s in sched.steps].count("add") == n - 1
    rng = np.random.default_rng(0)
    terms = rng.integers(0, 256, size=(200, n)).astype(np.uint8)
    tree = Tree.random(n, 5)
    got = run_schedule(tree_schedule(tree), [terms[:, j] for j in range(n - 1)], terms[:, n - 1],
                       product_format=E4M3, acc_format=E4M3)
    assert (got == reduce(terms, tree, E4M3, strict=False)).all()


def test_refuses_fused_and_empty_trees():
    from ulpflow.golden.mma import get_model
    spec = get_model("ampere.mma.f16.f32").spec
    with pytest.raises(ValueError, match="binary trees"):
        tree_schedule(Tree.fused(5, spec))
    with pytest.raises(ValueError, match="no addition"):
        tree_schedule(Tree.sequential(1))
