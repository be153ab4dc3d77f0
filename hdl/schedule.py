"""Schedules of the tree engine: any reduction :class:`~ulpflow.golden.tree.Tree` on one adder.

The folded form of a layer (:class:`~ulpflow.hdl.network.FoldedLayer`) evaluates a neuron's
tree with one multiplier and one adder over a small register file, one *step* per cycle. A step
either **loads** a product into a register (the multiplier computes it that cycle) or **adds**
two operands into a register. An operand is

* ``("mul", j)`` — product leaf ``j``, computed by the multiplier in the same cycle (at most one
  per step);
* ``("reg", r)`` — register ``r`` (a loaded product or an earlier node's result);
* ``("bias", None)`` / ``("zero", None)`` — the bias code or +0 of the accumulator format, read
  directly (they never take a register).

Every internal node of the tree is exactly one ``add`` step with the node's own left and right
operands, so each addition rounds exactly as ``golden.reduce`` rounds that node; a node whose two
operands are both products first loads one of them. Registers are allocated by Sethi–Ullman
numbering: of a node's two subtrees the one needing more registers is evaluated first, so the
register file is as small as this step model allows (:func:`registers_needed`). A sequential
tree needs one register: the schedule is then a plain multiply-accumulate.

This module is pure Python; :func:`run_schedule` interprets a schedule with golden arithmetic
(the tests check it against ``golden.reduce``).
"""

from __future__ import annotations

from dataclasses import dataclass
__all__ = ["Step", "Schedule", "tree_schedule", "registers_needed", "run_schedule"]

PRODUCT, ACC = "product", "acc"


@dataclass(frozen=True)
class Step:
    """One cycle of the tree engine.

    ``op`` is ``"load"`` (register ``dst`` takes product ``leaf``) or ``"add"`` (register ``dst``
    takes ``a + b`` rounded to the accumulator format). ``a`` / ``b`` are operand references
    (see the module docstring), ``a_format`` / ``b_format`` their formats (``"product"`` or
    ``"acc"``). ``leaf`` is the product leaf the multiplier computes this cycle, or None.
    ``node`` is the tree node an ``add`` evaluates.
    """

    op: str
    dst: int
    leaf: int | None = None
    a: tuple | None = None
    b: tuple | None = None
    a_format: str | None = None
    b_format: str | None = None
    node: int | None = None


@dataclass(frozen=True)
class Schedule:
    """The steps of one tree (the last one evaluates the root) and the register count."""

    steps: tuple
    registers: int
    n_products: int

    @property
    def root_register(self) -> int:
        return self.steps[-1].dst


def _children(tree):
    return {j: (left, right) for j, left, right in tree.internal_nodes()}


def _postorder(root, kids, order):
    """The internal nodes under ``root`` (a tree reference), each after its two subtrees,
    ``order(node)`` giving the order in which a node's subtrees are visited; iterative."""
    out, stack = [], [(root, False)]
    while stack:
        ref, expanded = stack.pop()
        if ref[0] != "node":
            continue
        if expanded:
            out.append(ref[1])
            continue
        first, then = order(ref[1])
        stack += [(ref, True), (then, False), (first, False)]
    return out


def registers_needed(tree) -> int:
    """Registers the tree engine needs for ``tree`` (its Sethi–Ullman number in the step model)."""
    return tree_schedule(tree).registers


def tree_schedule(tree, n_products: int | None = None) -> Schedule:
    """The schedule of ``tree`` over ``n_products`` product leaves (default ``n_terms - 1``:
    leaves ``0 … n-1`` are products, leaf ``n`` is the bias, as in a network layer).

    Raises
    ------
    ValueError
        For a fused tree (its n-ary nodes are not binary additions) or a tree without an
        internal node (a one-term tree has nothing to add).
    """
    if getattr(tree, "kind", "add") != "add":
        raise ValueError(f"the tree engine executes binary trees; {tree!r} is a {tree.kind} tree")
    if tree.n_nodes == 0:
        raise ValueError(f"{tree!r} has no addition to schedule")
    n = tree.n_terms - 1 if n_products is None else int(n_products)
    kids = _children(tree)

    def is_product(ref):
        return ref[0] == "leaf" and ref[1] < n

    # Sethi-Ullman numbers, children before parents. No recursion anywhere here: a sequential
    # tree of a few hundred terms is deeper than Python's recursion limit allows.
    needs = {}

    def need(ref):
        return needs[ref[1]] if ref[0] == "node" else 0

    def hold(ref):
        return 1 if ref[0] == "node" else 0

    def _cost(first, then):
        at_add = max(1, hold(first) + hold(then))
        return max(need(first), hold(first) + need(then), at_add)

    def _order(idx):
        """The node's two subtrees in evaluation order: the costlier first."""
        left, right = kids[idx]
        return (left, right) if _cost(left, right) <= _cost(right, left) else (right, left)

    for idx in _postorder(tree.root, kids, lambda i: kids[i]):
        left, right = kids[idx]
        needs[idx] = min(_cost(left, right), _cost(right, left))

    steps = []
    busy = set()
    formats = {}  # register -> format of what it holds

    def take():
        r = 0
        while r in busy:
            r += 1
        busy.add(r)
        return r

    done = {}  # node -> (operand, format) once evaluated

    def operand(ref):
        """``(operand, format)`` of an evaluated node or a leaf (leaves are not materialised)."""
        kind, idx = ref
        if kind == "zero":
            return ("zero", None), ACC
        if kind == "leaf":
            return (("mul", idx), PRODUCT) if is_product(ref) else (("bias", None), ACC)
        return done.pop(idx)

    # each node after its subtrees, the costlier subtree first: the order in which the
    # registers are taken and freed is the Sethi-Ullman evaluation
    for idx in _postorder(tree.root, kids, _order):
        left, right = kids[idx]
        (a, fa), (b, fb) = operand(left), operand(right)
        if a[0] == "mul" and b[0] == "mul":
            r = take()
            formats[r] = PRODUCT
            steps.append(Step("load", r, leaf=a[1]))
            a = ("reg", r)
        for op in (a, b):
            if op[0] == "reg":
                busy.discard(op[1])
        dst = take()
        formats[dst] = ACC
        leaf = a[1] if a[0] == "mul" else (b[1] if b[0] == "mul" else None)
        steps.append(Step("add", dst, leaf=leaf, a=a, b=b, a_format=fa, b_format=fb, node=idx))
        done[idx] = ("reg", dst), ACC

    used = 1 + max(s.dst for s in steps)
    assert used == need(tree.root), (used, need(tree.root))
    return Schedule(tuple(steps), used, n)


def run_schedule(schedule, products, bias, *, product_format, acc_format, rounding="RNE",
                 strict=False):
    """Interpret ``schedule`` with golden arithmetic: ``products`` is a sequence of arrays of
    product codes (``product_format``), ``bias`` an array of ``acc_format`` codes; returns the
    root's codes. Used to check schedules against ``golden.reduce``."""
    import numpy as np

    from ulpflow.golden.arith import add

    fmts = {PRODUCT: product_format, ACC: acc_format}
    regs = {}
    zero = np.full(np.shape(bias), acc_format.zero_code, dtype=acc_format.dtype)

    def value(op):
        kind, idx = op
        if kind == "mul":
            return products[idx]
        if kind == "reg":
            return regs[idx]
        return bias if kind == "bias" else zero

    last = None
    for s in schedule.steps:
        if s.op == "load":
            regs[s.dst] = products[s.leaf]
            continue
        last = add(value(s.a), value(s.b), (fmts[s.a_format], fmts[s.b_format]), out=acc_format,
                   rounding=rounding, strict=strict)
        regs[s.dst] = last
    return last
