"""Reduction trees: the order in which a neuron's terms are added.

A neuron adds its terms ``t_0 … t_{n-1}`` (the rounded products) and the bias ``t_n``. Rounded
addition is not associative, so the *order* is part of the semantics. A :class:`Tree` is a full
binary tree whose leaves are the term indices ``0 … n_terms-1``, each exactly once, plus at most
one optional **zero leaf** (the constant +0 of the accumulator format, used by
``Tree.sequential(n, from_zero=True)``). Each internal node is one rounded addition.

A Tree is pure data (structure, printing, JSON). The golden model evaluates it in
:mod:`ulpflow.golden.reduction` (:func:`~ulpflow.golden.reduction.reduce`, one rounded addition per
node) and in the network evaluator (:mod:`ulpflow.golden.evaluate`); the hardware generators
build one adder per entry of :meth:`Tree.internal_nodes`. All of them read a tree only through
its public members (:meth:`Tree.internal_nodes`, :attr:`Tree.root`, :attr:`Tree.n_terms`).

Operand references
------------------
:meth:`Tree.internal_nodes` returns ``(node_id, left, right)`` triples in evaluation order (children
before parents, left subtree before right subtree). ``left`` and ``right`` are pairs:

* ``("leaf", i)`` — term ``i`` of the input;
* ``("node", j)`` — the result of internal node ``j`` (always ``j < node_id``);
* ``("zero", None)`` — the constant +0 of the accumulator format.

``Tree.root`` is the reference of the final result (``("leaf", 0)`` for a one-term tree, which has
no internal node).

Printing
--------
``str(tree)`` is an infix expression with every non-root addition parenthesised, leaves written
``t0, t1, …`` and the zero leaf ``0``: ``Tree.sequential(3)`` prints ``(t0 + t1) + t2`` and
``Tree.sequential(3, from_zero=True)`` prints ``((0 + t0) + t1) + t2``.

Sign of zero
------------
The zero leaf is +0. It only matters for the sign of a zero result: with every term −0, the plain
sequential sum is −0 while the from-zero sum is +0 (except under RDN, where (+0) + (−0) = −0).
"""

from __future__ import annotations

import numbers
import re
import reprlib
from dataclasses import dataclass

import numpy as np

from .formats import as_format
from .kernel import check_rounding

__all__ = ["Tree", "ZERO_LEAF", "FusedSpec"]

#: Marker for the zero leaf in nested form (``Tree.from_nested(((ZERO_LEAF, 0), 1))``), in
#: orders (``Tree.from_order([ZERO_LEAF, 0, 1])``) and in JSON (the string ``"zero"``).
ZERO_LEAF = "zero"

_LEAF, _NODE, _ZREF = "leaf", "node", "zero"
_ZERO_REF = (_ZREF, None)


def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxtuple, _REPR.maxstring, _REPR.maxother = 3, 6, 6, 40, 40


def _short(x) -> str:
    """A bounded repr for messages (a deeply nested tree must not hit the recursion limit)."""
    return _REPR.repr(x)


class Tree:
    """A full binary reduction tree over leaves ``0 … n_terms-1`` (plus an optional zero leaf).

    Build trees with the class methods (:meth:`sequential`, :meth:`reversed`, :meth:`pairwise`,
    :meth:`from_order`, :meth:`random`, :meth:`from_nested`, :meth:`from_json`); the constructor
    is internal. Trees are immutable, hashable and compare equal exactly when they have the same
    structure (same leaves under the same left/right nesting).

    Members
    -------
    n_terms : int
        Number of term leaves (the zero leaf is not counted).
    has_zero : bool
        Whether the tree contains the zero leaf.
    root : tuple
        Reference to the final result (see module docstring).
    depth : int
        Number of additions on the longest leaf-to-root path (0 for one leaf).
    levels : tuple of int
        ``levels[j]`` is the level of internal node ``j``: 1 + the larger level of its two
        children, leaves being level 0. Nodes of equal level can be evaluated in parallel, and
        a pipelined tree registers after each level.

    Examples
    --------
    >>> print(Tree.pairwise(4))
    (t0 + t1) + (t2 + t3)
    >>> Tree.from_nested(((0, 1), 2)) == Tree.sequential(3)
    True
    """

    __slots__ = ("_nodes", "_root", "_n_terms", "_has_zero", "_levels", "_hash", "_fused")

    #: The zero-leaf marker (same object as the module's :data:`ZERO_LEAF`).
    ZERO = ZERO_LEAF

    def __init__(self, nodes, root, n_terms, fused=None):
        # ``nodes`` must already be canonical: post-order, left subtree first, validated. A
        # fused tree (``fused`` = its FusedSpec) has n-ary nodes: tuples of operand references.
        self._nodes = tuple(tuple(node) for node in nodes)
        self._root = root
        self._n_terms = int(n_terms)
        self._fused = fused
        self._has_zero = any(ref == _ZERO_REF for node in self._nodes for ref in node) or root == _ZERO_REF
        levels = []
        for node in self._nodes:
            levels.append(1 + max(self._ref_level(ref, levels) for ref in node))
        self._levels = tuple(levels)
        self._hash = hash((self._n_terms, self._root, self._nodes, self._fused))

    @staticmethod
    def _ref_level(ref, levels):
        return levels[ref[1]] if ref[0] == _NODE else 0

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def _from_structure(cls, root, children, n_terms=None, where="tree"):
        """Validate and canonicalise a tree given by a root handle and a ``children`` function.

        ``children(h)`` returns ``None`` for a leaf handle (then ``h`` itself is the leaf: an int
        or ``ZERO_LEAF``) or the ``(left, right)`` handles of an internal node. Iterative, so that
        trees with thousands of levels never hit the recursion limit.
        """
        nodes = []
        counts = {}
        zero_count = 0

        def leaf_ref(h):
            nonlocal zero_count
            if isinstance(h, str) and h == ZERO_LEAF:
                zero_count += 1
                return _ZERO_REF
            if not _is_int(h):
                raise ValueError(f"{where}: a leaf must be a non-negative term index or {ZERO_LEAF!r}, not {_short(h)}")
            i = int(h)
            if i < 0:
                raise ValueError(f"{where}: leaf {i} is negative; leaves are term indices 0 … n_terms-1")
            counts[i] = counts.get(i, 0) + 1
            return (_LEAF, i)

        # Post-order traversal with an explicit stack of (handle, children already pushed?).
        stack = [(root, False)]
        result = []  # refs of finished subtrees
        while stack:
            h, expanded = stack.pop()
            kids = children(h)
            if kids is None:
                result.append(leaf_ref(h))
                continue
            if not expanded:
                stack.append((h, True))
                stack.append((kids[1], False))
                stack.append((kids[0], False))
            else:
                right = result.pop()
                left = result.pop()
                nodes.append((left, right))
                result.append((_NODE, len(nodes) - 1))
        (root_ref,) = result

        if zero_count > 1:
            raise ValueError(f"{where}: the zero leaf appears {zero_count} times; at most once is allowed")
        if not counts:
            raise ValueError(f"{where}: the tree has no term leaf; it needs leaves 0 … n_terms-1")
        for i, c in sorted(counts.items()):
            if c > 1:
                raise ValueError(f"{where}: leaf {i} appears {c} times; every leaf must appear exactly once")
        top = max(counts)
        if n_terms is None:
            n_terms = top + 1
        else:
            if not _is_int(n_terms) or n_terms < 1:
                raise ValueError(f"{where}: n_terms must be a positive integer, not {n_terms!r}")
            if top >= n_terms:
                raise ValueError(f"{where}: leaf {top} is out of range for n_terms={n_terms} (leaves 0 … {n_terms - 1})")
        for i in range(n_terms):
            if i not in counts:
                raise ValueError(f"{where}: leaf {i} is missing; a tree over n_terms={n_terms} uses each of 0 … {n_terms - 1} exactly once")
        return cls(nodes, root_ref, n_terms)

    @staticmethod
    def _chain(seq, where):
        """Left-deep chain ((s0 + s1) + s2) + … over a sequence of leaf handles."""
        seq = list(seq)
        if not seq:
            raise ValueError(f"{where}: empty order; expected at least one leaf")
        acc = seq[0]
        for s in seq[1:]:
            acc = (acc, s)
        return acc

    @staticmethod
    def _nested_children(where):
        def children(h):
            if isinstance(h, (tuple, list)):
                if len(h) != 2:
                    raise ValueError(f"{where}: an internal node needs exactly 2 children, got {len(h)}: {_short(h)}")
                return h[0], h[1]
            return None

        return children

    # ------------------------------------------------------------------ public constructors
    @classmethod
    def sequential(cls, n_terms: int, from_zero: bool = False) -> "Tree":
        """Left to right, bias last: ``((t0 + t1) + t2) + …``; ``from_zero`` starts from +0."""
        n = cls._check_n(n_terms)
        seq = ([ZERO_LEAF] if from_zero else []) + list(range(n))
        return cls.from_order(seq, n_terms=n)

    @classmethod
    def reversed(cls, n_terms: int, from_zero: bool = False) -> "Tree":
        """Right to left, bias first: ``((t_{n-1} + t_{n-2}) + …) + t0``."""
        n = cls._check_n(n_terms)
        seq = ([ZERO_LEAF] if from_zero else []) + list(range(n - 1, -1, -1))
        return cls.from_order(seq, n_terms=n)

    @classmethod
    def from_order(cls, order, n_terms: int | None = None) -> "Tree":
        """Sequential sum in the given order of leaves (``ZERO_LEAF`` may appear once, usually first)."""
        order = list(order)
        nested = cls._chain(order, "Tree.from_order")
        return cls._from_structure(nested, cls._nested_children("Tree.from_order"), n_terms, "Tree.from_order")

    @classmethod
    def pairwise(cls, n_terms: int) -> "Tree":
        """Balanced halving: each range of leaves splits into a left half of ``ceil(k/2)`` leaves
        and a right half of ``floor(k/2)``; ``pairwise(3)`` is ``(t0 + t1) + t2``."""
        n = cls._check_n(n_terms)

        # Handles are half-open ranges (lo, hi) of leaves; a one-leaf range is the leaf itself.
        def children(h):
            if _is_int(h):
                return None
            lo, hi = h
            mid = lo + (hi - lo + 1) // 2
            return tuple(r if r[1] - r[0] > 1 else r[0] for r in ((lo, mid), (mid, hi)))

        root = (0, n) if n > 1 else 0
        return cls._from_structure(root, children, n, "Tree.pairwise")

    @classmethod
    def random(cls, n_terms: int, seed) -> "Tree":
        """A random tree: repeatedly add two randomly chosen partial sums (random left/right).

        Deterministic for a given ``seed``: a non-negative integer (or a NumPy ``SeedSequence``,
        ``BitGenerator`` or ``Generator``), passed to ``numpy.random.default_rng``. Store the tree
        itself (JSON), not the seed, when results must be reproducible across NumPy versions.
        """
        n = cls._check_n(n_terms)
        rng = np.random.default_rng(_check_seed(seed))
        pool = list(range(n))
        while len(pool) > 1:
            i, j = rng.choice(len(pool), size=2, replace=False)
            a, b = pool[int(i)], pool[int(j)]
            for k in sorted((int(i), int(j)), reverse=True):
                pool.pop(k)
            pool.append((a, b))
        return cls._from_structure(pool[0], cls._nested_children("Tree.random"), n, "Tree.random")

    @classmethod
    def from_nested(cls, nested, n_terms: int | None = None) -> "Tree":
        """Tree from nested pairs of leaf indices, e.g. ``((0, 1), (2, 3))``; lists work too.

        ``n_terms`` defaults to the largest leaf + 1; give it to catch a missing last leaf.
        """
        return cls._from_structure(nested, cls._nested_children("Tree.from_nested"), n_terms, "Tree.from_nested")

    @classmethod
    def fused(cls, n_terms: int, spec: "FusedSpec", block: int | None = None) -> "Tree":
        """A fused dot-product-add over ``n_terms - 1`` products and an addend.

        Leaves ``0 … n_terms-2`` are the products (a layer's ``w_j ⊗ x_j``), leaf ``n_terms-1``
        is the addend ``c`` (a layer's bias). The products are cut into blocks of ``block``
        consecutive leaves (``None``: one block of all of them); block 0 adds the addend, every
        later block adds the previous block's result, each block is one fused node (its
        operands: the block's products, then its addend). ``Tree.fused(1, spec)`` is one node
        over the addend alone (the addend rounded into the output format).
        """
        n = cls._check_n(n_terms)
        if not isinstance(spec, FusedSpec):
            raise TypeError(f"Tree.fused: spec must be a FusedSpec, not {_short(spec)}")
        p = n - 1
        if block is None:
            block = max(p, 1)
        if not _is_int(block) or block < 1:
            raise ValueError(f"Tree.fused: block must be a positive integer (terms per fused node), not {block!r}")
        block = int(block)
        nodes, c = [], (_LEAF, p)
        for start in range(0, max(p, 1), block):
            nodes.append(tuple((_LEAF, i) for i in range(start, min(start + block, p))) + (c,))
            c = (_NODE, len(nodes) - 1)
        return cls(nodes, c, n, fused=spec)

    @classmethod
    def from_fused(cls, nodes, spec: "FusedSpec", n_terms: int | None = None) -> "Tree":
        """A fused tree from its node list: ``nodes[j]`` lists the operands of fused node ``j``,
        each a leaf index or ``"n<k>"`` (the result of an earlier node ``k``); every leaf and
        every node but the last is used exactly once, the last node is the result. The form
        :meth:`to_json` writes (``Tree.fused(9, spec, block=4).to_json()["nodes"]`` is
        ``[[0, 1, 2, 3, 8], [4, 5, 6, 7, "n0"]]``)."""
        if not isinstance(spec, FusedSpec):
            raise TypeError(f"Tree.from_fused: spec must be a FusedSpec, not {_short(spec)}")
        return cls._from_fused_json(nodes, spec, n_terms, "Tree.from_fused")

    @classmethod
    def _from_fused_json(cls, nodes, spec, n_terms, where):
        if not isinstance(nodes, (list, tuple)) or not nodes:
            raise ValueError(f"{where}: 'nodes' must be a non-empty list of operand lists")
        counts, used, built = {}, set(), []
        for j, node in enumerate(nodes):
            if not isinstance(node, (list, tuple)) or not node:
                raise ValueError(f"{where}: fused node n{j} must be a non-empty list of operands, not {_short(node)}")
            refs = []
            for x in node:
                if _is_node_ref(x):
                    k = int(x[1:])
                    if k >= j:
                        raise ValueError(f"{where}: node n{j} refers to n{k}, which is not an earlier node")
                    if k in used:
                        raise ValueError(f"{where}: node n{k} is used twice; a tree uses every node exactly once")
                    used.add(k)
                    refs.append((_NODE, k))
                elif _is_int(x) and x >= 0:
                    counts[int(x)] = counts.get(int(x), 0) + 1
                    refs.append((_LEAF, int(x)))
                else:
                    raise ValueError(f"{where}: an operand of fused node n{j} must be a term index or "
                                     f"'n<k>', not {_short(x)} (a fused tree has no zero leaf)")
            built.append(tuple(refs))
        unused = [k for k in range(len(nodes) - 1) if k not in used]
        if unused:
            raise ValueError(f"{where}: node n{unused[0]} is never used; only the last node may be the root")
        for i, c in sorted(counts.items()):
            if c > 1:
                raise ValueError(f"{where}: leaf {i} appears {c} times; every leaf must appear exactly once")
        if not counts:
            raise ValueError(f"{where}: the tree has no term leaf; it needs leaves 0 … n_terms-1")
        top = max(counts)
        if n_terms is None:
            n_terms = top + 1
        elif not _is_int(n_terms) or n_terms < 1:
            raise ValueError(f"{where}: n_terms must be a positive integer, not {n_terms!r}")
        elif top >= n_terms:
            raise ValueError(f"{where}: leaf {top} is out of range for n_terms={n_terms} (leaves 0 … {n_terms - 1})")
        for i in range(n_terms):
            if i not in counts:
                raise ValueError(f"{where}: leaf {i} is missing; a tree over n_terms={n_terms} uses each of 0 … {n_terms - 1} exactly once")
        return cls(built, (_NODE, len(built) - 1), n_terms, fused=spec)

    @staticmethod
    def _check_n(n_terms):
        if not _is_int(n_terms) or n_terms < 1:
            raise ValueError(f"n_terms must be a positive integer, not {n_terms!r}")
        return int(n_terms)

    # ------------------------------------------------------------------ accessors
    @property
    def n_terms(self) -> int:
        return self._n_terms

    @property
    def has_zero(self) -> bool:
        return self._has_zero

    @property
    def root(self):
        return self._root

    @property
    def n_nodes(self) -> int:
        """Number of internal nodes (additions): ``n_terms - 1``, plus one with the zero leaf."""
        return len(self._nodes)

    @property
    def depth(self) -> int:
        return self._levels[-1] if self._levels else 0

    @property
    def levels(self) -> tuple:
        return self._levels

    @property
    def kind(self) -> str:
        """``"add"`` (binary rounded additions) or ``"fused"`` (n-ary fused dot-product nodes)."""
        return "add" if self._fused is None else "fused"

    @property
    def fused_spec(self):
        """The :class:`FusedSpec` of every node of a fused tree (``None`` for an addition tree)."""
        return self._fused

    def internal_nodes(self) -> list:
        """``[(node_id, left, right), …]`` in evaluation order (children before parents).

        Only for addition trees: a fused tree's nodes are n-ary (read :meth:`fused_nodes`), and
        asking for binary nodes raises ``TypeError`` so that no evaluator treats them as
        additions.
        """
        if self._fused is not None:
            raise TypeError(f"{self!r} has n-ary fused nodes; read them with Tree.fused_nodes() "
                            "(this consumer handles binary addition trees only)")
        return [(j, left, right) for j, (left, right) in enumerate(self._nodes)]

    def fused_nodes(self) -> list:
        """``[(node_id, operands), …]`` of a fused tree in evaluation order: ``operands`` is a
        tuple of references ``("leaf", i)`` / ``("node", j)`` (``j < node_id``); every node
        rounds once as :attr:`fused_spec` says (see :class:`FusedSpec`)."""
        if self._fused is None:
            raise TypeError(f"{self!r} is an addition tree; read its nodes with Tree.internal_nodes()")
        return [(j, node) for j, node in enumerate(self._nodes)]

    def chain_order(self):
        """The leaf order if this tree is a left-deep chain (a sequential sum), else ``None``.

        The order lists term indices and possibly ``ZERO_LEAF``; ``Tree.from_order(order)`` rebuilds
        the tree. A one-leaf tree is the chain ``[0]``. A fused tree is never a chain.
        """
        if self._fused is not None:
            return None
        if not self._nodes:
            return [self._root[1]]
        order = []
        for j, (left, right) in enumerate(self._nodes):
            if j == 0:
                if left[0] == _NODE or right[0] == _NODE:
                    return None
                order += [self._leaf_token(left), self._leaf_token(right)]
            else:
                if left != (_NODE, j - 1) or right[0] == _NODE:
                    return None
                order.append(self._leaf_token(right))
        return order

    @staticmethod
    def _leaf_token(ref):
        return ZERO_LEAF if ref[0] == _ZREF else ref[1]

    def to_nested(self):
        """Nested tuples of leaf indices (``ZERO_LEAF`` for the zero leaf); inverse of :meth:`from_nested`.

        Addition trees only (a fused tree raises ``TypeError``: see :meth:`to_json`)."""
        if self._fused is not None:
            raise TypeError(f"{self!r} is a fused tree; it has no nested-pair form (use to_json())")
        built = []
        for left, right in self._nodes:
            built.append((self._nested_of(left, built), self._nested_of(right, built)))
        return self._nested_of(self._root, built)

    @classmethod
    def _nested_of(cls, ref, built):
        if ref[0] == _NODE:
            return built[ref[1]]
        return cls._leaf_token(ref)

    # ------------------------------------------------------------------ JSON
    #: Trees deeper than this are written in the flat ``{"nodes": …}`` form, because deeply nested
    #: JSON arrays exceed the recursion limits of common JSON libraries (Python's included).
    JSON_MAX_NESTING = 200

    def to_json(self):
        """JSON-ready form (documented in docs/network-format.md).

        * a left-deep chain: ``{"sequence": [i0, i1, …]}`` (``"zero"`` may appear in it);
        * otherwise, if not deeper than ``JSON_MAX_NESTING``: nested 2-element lists of leaf
          indices, e.g. ``[[0, 1], [2, 3]]``;
        * otherwise ``{"nodes": [[a, b], …]}``: the internal nodes in evaluation order, each
          operand a leaf index, ``"zero"`` or ``"n<j>"`` for node ``j``; the last node is the root;
        * a fused tree: ``{"fused": <spec>, "nodes": [[operand, …], …]}`` (operands as in the
          node list; :meth:`FusedSpec.to_json` for the spec).
        """
        if self._fused is not None:
            return {"fused": self._fused.to_json(),
                    "nodes": [[self._json_ref(r) for r in node] for node in self._nodes]}
        order = self.chain_order()
        if order is not None:
            return {"sequence": list(order)}
        if self.depth <= self.JSON_MAX_NESTING:
            return _to_lists(self.to_nested())
        return {"nodes": [[self._json_ref(a), self._json_ref(b)] for a, b in self._nodes]}

    @staticmethod
    def _json_ref(ref):
        if ref[0] == _NODE:
            return f"n{ref[1]}"
        return ZERO_LEAF if ref[0] == _ZREF else ref[1]

    @classmethod
    def from_json(cls, data, n_terms: int | None = None, where: str = "tree") -> "Tree":
        """Inverse of :meth:`to_json`; accepts any of its three forms.

        Raises
        ------
        ValueError
            One line naming what is wrong (unknown key, bad leaf, missing or repeated leaf).
        """
        if isinstance(data, dict):
            keys = set(data)
            if keys == {"sequence"}:
                seq = data["sequence"]
                if not isinstance(seq, list) or not seq:
                    raise ValueError(f"{where}: 'sequence' must be a non-empty list of leaf indices, not {_short(seq)}")
                nested = cls._chain(seq, where)
                return cls._from_structure(nested, cls._nested_children(where), n_terms, where)
            if keys == {"nodes"}:
                return cls._from_flat(data["nodes"], n_terms, where)
            if keys == {"fused", "nodes"}:
                spec = FusedSpec.from_json(data["fused"], where=f"{where}.fused")
                return cls._from_fused_json(data["nodes"], spec, n_terms, where)
            raise ValueError(
                f"{where}: a tree object must have exactly one key 'sequence' or 'nodes', got {sorted(keys)!r} "
                "(a fused tree has the two keys 'fused' and 'nodes')"
            )
        if isinstance(data, (list, int)) or data == ZERO_LEAF:
            if isinstance(data, bool):
                raise ValueError(f"{where}: a leaf must be a term index, not {_short(data)}")
            return cls._from_structure(data, cls._nested_children(where), n_terms, where)
        raise ValueError(f"{where}: expected a nested list of leaf indices or an object with 'sequence' or 'nodes', not {_short(data)}")

    @classmethod
    def _from_flat(cls, nodes, n_terms, where):
        if not isinstance(nodes, list) or not nodes:
            raise ValueError(f"{where}: 'nodes' must be a non-empty list of [left, right] pairs")
        used = set()
        for j, pair in enumerate(nodes):
            if not isinstance(pair, list) or len(pair) != 2:
                raise ValueError(f"{where}: node n{j} must be a [left, right] pair, not {_short(pair)}")
            for x in pair:
                if _is_node_ref(x):
                    k = int(x[1:])
                    if k >= j:
                        raise ValueError(f"{where}: node n{j} refers to n{k}, which is not an earlier node")
                    if k in used:
                        raise ValueError(f"{where}: node n{k} is used twice; a tree uses every node exactly once")
                    used.add(k)
        unused = [k for k in range(len(nodes) - 1) if k not in used]
        if unused:
            raise ValueError(f"{where}: node n{unused[0]} is never used; only the last node may be the root")

        def children(h):
            if isinstance(h, tuple):  # ("n", k) handle of an internal node
                return tuple(_flat_handle(x) for x in nodes[h[1]])
            return None

        return cls._from_structure(("n", len(nodes) - 1), children, n_terms, where)

    # ------------------------------------------------------------------ dunder
    def __eq__(self, other):
        if not isinstance(other, Tree):
            return NotImplemented
        return (self._n_terms == other._n_terms and self._root == other._root and self._nodes == other._nodes
                and self._fused == other._fused)

    def __hash__(self):
        return self._hash

    def __str__(self):
        if self._fused is not None:
            # n-ary nodes, printed bottom-up (no recursion): fused(t4, t5, fused(t0, t1, t6))
            built = []
            for node in self._nodes:
                built.append("fused(" + ", ".join(built[r[1]] if r[0] == _NODE else self._leaf_str(r)
                                                  for r in node) + ")")
            return built[-1]
        if not self._nodes:
            return self._leaf_str(self._root)
        # Iterative in-order walk emitting tokens; parenthesise every node but the root.
        out = []
        stack = [(self._root, 0)]
        while stack:
            item, state = stack.pop()
            if isinstance(item, str):
                out.append(item)
                continue
            if item[0] != _NODE:
                out.append(self._leaf_str(item))
                continue
            left, right = self._nodes[item[1]]
            is_root = item == self._root
            seq = [] if is_root else ["("]
            seq += [left, " + ", right]
            if not is_root:
                seq.append(")")
            for x in reversed(seq):
                stack.append((x, 0))
        return "".join(out)

    @staticmethod
    def _leaf_str(ref):
        return "0" if ref[0] == _ZREF else f"t{ref[1]}"

    def __repr__(self):
        text = str(self)
        if len(text) > 120:
            text = text[:100] + " …"
        spec = f" {self._fused.describe()}" if self._fused is not None else ""
        return f"<Tree n_terms={self._n_terms} depth={self.depth}{spec}: {text}>"


def _check_seed(seed):
    """The seed of :meth:`Tree.random`, checked here rather than deep inside NumPy."""
    if isinstance(seed, (np.random.SeedSequence, np.random.BitGenerator, np.random.Generator)):
        return seed
    if not _is_int(seed):
        raise TypeError(f"Tree.random: seed must be a non-negative integer (or a NumPy SeedSequence "
                        f"or Generator), not {_short(seed)}")
    if seed < 0:
        raise ValueError(f"Tree.random: seed must be a non-negative integer, not {int(seed)}")
    return int(seed)


_NODE_REF = re.compile(r"n(?:0|[1-9][0-9]*)")


def _is_node_ref(x) -> bool:
    """``"n0"``, ``"n17"``: a reference to an earlier node of a flat tree (ASCII digits, no
    leading zeros)."""
    return isinstance(x, str) and _NODE_REF.fullmatch(x) is not None


def _flat_handle(x):
    if _is_node_ref(x):
        return ("n", int(x[1:]))
    return x


def _to_lists(nested):
    """Nested tuples → nested lists, iteratively."""
    if not isinstance(nested, tuple):
        return nested
    root = [None, None]
    stack = [(nested, root)]
    while stack:
        src, dst = stack.pop()
        for k in (0, 1):
            child = src[k]
            if isinstance(child, tuple):
                new = [None, None]
                dst[k] = new
                stack.append((child, new))
            else:
                dst[k] = child
    return root


@dataclass(frozen=True)
class FusedSpec:
    """What one fused node of a :class:`Tree` computes: a truncated fused sum, rounded once.

    A fused node has any number of operands (terms). Each term is a product ``a·b`` of two float
    codes (exact) or a single float code; the evaluator (:func:`ulpflow.golden.kulisch.fused_accumulate`)
    writes every term as ``s·2^e``:

    * a code: ``1 ≤ |s| < 2`` for a normal, ``e`` = its format's minimum normal exponent and
      ``|s| < 1`` for a subnormal;
    * a product: the exponents of the two operands added, ``s = s_a·s_b`` (so ``1 ≤ |s| < 4``
      for normal operands — the product is *not* renormalised, as a hardware exponent adder
      gives it);
    * a zero term (a zero code or a product with a zero operand): ``e = e_zero``.

    ``e_max`` is the largest ``e`` over all terms (zero terms included); every term is truncated
    toward zero to ``F`` fraction bits below ``2^e_max`` (``trunc(s·2^(e − e_max + F))·2^−F``, no
    guard, round or sticky bit); the truncated terms are added exactly and the sum times
    ``2^e_max`` is rounded once (the golden kernel) into ``out_format`` with ``rounding``. A zero
    result is +0 (also when a non-zero sum rounds to zero). An overflow gives ±inf. Specials:
    a NaN operand, ``inf × 0``, or infinite terms of both signs give NaN; otherwise an infinite
    term gives that infinity. The result code is then written in ``container`` (a format that
    holds every value of ``out_format`` exactly: ``e8m13`` in an ``fp32`` container), NaN as
    ``nan_code``.

    Parameters
    ----------
    F : int
        Fraction bits kept below ``2^e_max`` (0 … 56).
    e_zero : int
        Exponent given to zero terms.
    out_format : float format or name
        The format of the one rounding.
    rounding : str
        Its rounding mode (``"RTZ"``, ``"RNE"``, …).
    container : float format or name, optional
        The format of the result codes (default ``out_format``).
    nan_code : int, optional
        The container code of a NaN result (default the container's ``nan_result_code``).
    """

    F: int
    e_zero: int
    out_format: object
    rounding: str = "RNE"
    container: object = None
    nan_code: int | None = None

    def __post_init__(self):
        for name, lo, hi in (("F", 0, 56), ("e_zero", -(1 << 20), 1 << 20)):
            v = getattr(self, name)
            if not _is_int(v) or not lo <= v <= hi:
                raise ValueError(f"FusedSpec: {name} must be an integer in {lo} … {hi}, not {_short(v)}")
            object.__setattr__(self, name, int(v))
        out = as_format(self.out_format, "FusedSpec: out_format")
        if out.kind != "float":
            raise ValueError(f"FusedSpec: out_format must be a float format, not {out}")
        object.__setattr__(self, "out_format", out)
        object.__setattr__(self, "rounding", check_rounding(self.rounding))
        box = out if self.container is None else as_format(self.container, "FusedSpec: container")
        if box != out:
            if box.kind != "float" or not _holds(box, out):
                raise ValueError(f"FusedSpec: container {box} does not hold every value of {out} exactly")
        object.__setattr__(self, "container", box)
        code = box.nan_result_code if self.nan_code is None else self.nan_code
        if not _is_int(code) or not 0 <= code < (1 << box.bits):
            raise ValueError(f"FusedSpec: nan_code must be a code of {box}, not {_short(code)}")
        object.__setattr__(self, "nan_code", int(code))

    def describe(self) -> str:
        """One line: ``F=24 e_zero=-132 RTZ e8m13 in fp32``."""
        box = f" in {self.container}" if self.container != self.out_format else ""
        return f"F={self.F} e_zero={self.e_zero} {self.rounding} {self.out_format}{box}"

    def to_json(self) -> dict:
        """``{"F", "e_zero", "out_format", "rounding", "container", "nan_code"}`` (docs/network-format.md)."""
        return {"F": self.F, "e_zero": self.e_zero, "out_format": str(self.out_format),
                "rounding": self.rounding, "container": str(self.container),
                "nan_code": self.container.hex(self.nan_code)}

    _JSON_KEYS = ("F", "e_zero", "out_format", "rounding", "container", "nan_code")

    @classmethod
    def from_json(cls, data, where: str = "fused") -> "FusedSpec":
        """Inverse of :meth:`to_json`; every key is required, no other key is allowed."""
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected an object with the keys {', '.join(cls._JSON_KEYS)}")
        for k in data:
            if k not in cls._JSON_KEYS:
                raise ValueError(f"{where}: unknown key {k!r} (expected {', '.join(cls._JSON_KEYS)})")
        for k in cls._JSON_KEYS:
            if k not in data:
                raise ValueError(f"{where}: missing key {k!r}")
        for k in ("F", "e_zero"):
            if not _is_int(data[k]):
                raise ValueError(f"{where}.{k}: expected an integer, not {_short(data[k])}")
        for k in ("out_format", "rounding", "container", "nan_code"):
            if not isinstance(data[k], str):
                raise ValueError(f"{where}.{k}: expected a string, not {_short(data[k])}")
        code = data["nan_code"]
        if not re.fullmatch(r"0x[0-9a-fA-F]+", code):
            raise ValueError(f"{where}.nan_code: expected a hex code like '0x7fffffff', not {code!r}")
        try:
            return cls(F=data["F"], e_zero=data["e_zero"], out_format=data["out_format"],
                       rounding=data["rounding"], container=data["container"], nan_code=int(code[2:], 16))
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where}: {e}") from None


def _holds(box, fmt) -> bool:
    """Whether float format ``box`` holds every finite value of ``fmt`` exactly (and its specials)."""
    lsb_box = box.emin - box.man_bits if box.subnormals else box.emin
    lsb_fmt = fmt.emin - fmt.man_bits if fmt.subnormals else fmt.emin
    return (box.man_bits >= fmt.man_bits and box.emax >= fmt.emax and lsb_box <= lsb_fmt
            and (box.has_inf or not fmt.has_inf))
