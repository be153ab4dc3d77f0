"""Reduction trees: the order in which a neuron's terms are added.

A neuron adds its terms ``t_0 … t_{n-1}`` (the rounded products) and the bias ``t_n``. Rounded
addition is not associative, so the *order* is part of the semantics. A :class:`Tree` is a full
binary tree whose leaves are the term indices ``0 … n_terms-1``, each exactly once, plus at most
one optional **zero leaf** (the constant +0 of the accumulator format, used by
``Tree.sequential(n, from_zero=True)``). Each internal node is one rounded addition.

The golden model (:func:`reduce`) and the hardware generators consume the very same object: a
hardware reduction builds one adder per entry of :meth:`Tree.internal_nodes`.

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

import numpy as np

__all__ = ["Tree", "ZERO", "reduce", "exact_sum"]

#: Marker for the zero leaf in nested form (``Tree.from_nested((("zero", 0), 1))``) and in JSON.
ZERO = "zero"

_LEAF, _NODE, _ZREF = "leaf", "node", "zero"
_ZERO_REF = (_ZREF, None)


def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))


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

    __slots__ = ("_nodes", "_root", "_n_terms", "_has_zero", "_levels", "_hash")

    def __init__(self, nodes, root, n_terms):
        # ``nodes`` must already be canonical: post-order, left subtree first, validated.
        self._nodes = tuple(nodes)
        self._root = root
        self._n_terms = int(n_terms)
        self._has_zero = any(ref == _ZERO_REF for node in self._nodes for ref in node) or root == _ZERO_REF
        levels = []
        for left, right in self._nodes:
            levels.append(1 + max(self._ref_level(left, levels), self._ref_level(right, levels)))
        self._levels = tuple(levels)
        self._hash = hash((self._n_terms, self._root, self._nodes))

    @staticmethod
    def _ref_level(ref, levels):
        return levels[ref[1]] if ref[0] == _NODE else 0

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def _from_structure(cls, root, children, n_terms=None, where="tree"):
        """Validate and canonicalise a tree given by a root handle and a ``children`` function.

        ``children(h)`` returns ``None`` for a leaf handle (then ``h`` itself is the leaf: an int
        or ``ZERO``) or the ``(left, right)`` handles of an internal node. Iterative, so that
        trees with thousands of levels never hit the recursion limit.
        """
        nodes = []
        counts = {}
        zero_count = 0

        def leaf_ref(h):
            nonlocal zero_count
            if isinstance(h, str) and h == ZERO:
                zero_count += 1
                return _ZERO_REF
            if not _is_int(h):
                raise ValueError(f"{where}: a leaf must be a non-negative term index or {ZERO!r}, not {h!r}")
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
                    raise ValueError(f"{where}: an internal node needs exactly 2 children, got {len(h)}: {h!r}")
                return h[0], h[1]
            return None

        return children

    # ------------------------------------------------------------------ public constructors
    @classmethod
    def sequential(cls, n_terms: int, from_zero: bool = False) -> "Tree":
        """Left to right, bias last: ``((t0 + t1) + t2) + …``; ``from_zero`` starts from +0."""
        n = cls._check_n(n_terms)
        seq = ([ZERO] if from_zero else []) + list(range(n))
        return cls.from_order(seq, n_terms=n)

    @classmethod
    def reversed(cls, n_terms: int, from_zero: bool = False) -> "Tree":
        """Right to left, bias first: ``((t_{n-1} + t_{n-2}) + …) + t0``."""
        n = cls._check_n(n_terms)
        seq = ([ZERO] if from_zero else []) + list(range(n - 1, -1, -1))
        return cls.from_order(seq, n_terms=n)

    @classmethod
    def from_order(cls, order, n_terms: int | None = None) -> "Tree":
        """Sequential sum in the given order of leaves (``ZERO`` may appear once, usually first)."""
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

        Deterministic for a given ``seed`` (NumPy ``default_rng``); store the tree itself (JSON),
        not the seed, when results must be reproducible across NumPy versions.
        """
        n = cls._check_n(n_terms)
        rng = np.random.default_rng(seed)
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

    def internal_nodes(self) -> list:
        """``[(node_id, left, right), …]`` in evaluation order (children before parents)."""
        return [(j, left, right) for j, (left, right) in enumerate(self._nodes)]

    def chain_order(self):
        """The leaf order if this tree is a left-deep chain (a sequential sum), else ``None``.

        The order lists term indices and possibly ``ZERO``; ``Tree.from_order(order)`` rebuilds
        the tree. A one-leaf tree is the chain ``[0]``.
        """
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
        return ZERO if ref[0] == _ZREF else ref[1]

    def to_nested(self):
        """Nested tuples of leaf indices (``ZERO`` for the zero leaf); inverse of :meth:`from_nested`."""
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
          operand a leaf index, ``"zero"`` or ``"n<j>"`` for node ``j``; the last node is the root.
        """
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
        return ZERO if ref[0] == _ZREF else ref[1]

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
                    raise ValueError(f"{where}: 'sequence' must be a non-empty list of leaf indices, not {seq!r}")
                nested = cls._chain(seq, where)
                return cls._from_structure(nested, cls._nested_children(where), n_terms, where)
            if keys == {"nodes"}:
                return cls._from_flat(data["nodes"], n_terms, where)
            raise ValueError(
                f"{where}: a tree object must have exactly one key 'sequence' or 'nodes', got {sorted(keys)!r}"
            )
        if isinstance(data, (list, int)) or data == ZERO:
            if isinstance(data, bool):
                raise ValueError(f"{where}: a leaf must be a term index, not {data!r}")
            return cls._from_structure(data, cls._nested_children(where), n_terms, where)
        raise ValueError(f"{where}: expected a nested list of leaf indices or an object with 'sequence' or 'nodes', not {data!r}")

    @classmethod
    def _from_flat(cls, nodes, n_terms, where):
        if not isinstance(nodes, list) or not nodes:
            raise ValueError(f"{where}: 'nodes' must be a non-empty list of [left, right] pairs")
        used = set()
        for j, pair in enumerate(nodes):
            if not isinstance(pair, list) or len(pair) != 2:
                raise ValueError(f"{where}: node n{j} must be a [left, right] pair, not {pair!r}")
            for x in pair:
                if isinstance(x, str) and x.startswith("n") and x[1:].isdigit():
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
        return self._n_terms == other._n_terms and self._root == other._root and self._nodes == other._nodes

    def __hash__(self):
        return self._hash

    def __str__(self):
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
        return f"<Tree n_terms={self._n_terms} depth={self.depth}: {text}>"


def _flat_handle(x):
    if isinstance(x, str) and x.startswith("n") and x[1:].isdigit():
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


# ---------------------------------------------------------------------- evaluation
def _golden():
    # Imported lazily so that Tree (pure data) works before/without the arithmetic core.
    from . import arith, rounding

    return arith, rounding


def _check_codes(terms, fmt, name="terms"):
    arr = np.asarray(terms)
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must be an integer array of {fmt} codes, not dtype {arr.dtype}")
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= (1 << fmt.bits):
            bad = lo if lo < 0 else hi
            raise ValueError(f"{name}: code {bad} is out of range for {fmt} (0 … {(1 << fmt.bits) - 1})")
    return arr.astype(fmt.dtype, copy=False)


def _reduce_columns(columns, tree, leaf_formats, acc_fmt, rounding, keep_nodes):
    """Evaluate ``tree`` over per-leaf code arrays (all of one shape) with per-leaf formats.

    Each internal node is one ``golden.add`` of its two operands, rounded once to ``acc_fmt``;
    a leaf operand is read in its own format (mixed-format addition), a node operand in
    ``acc_fmt``. Returns ``(root, nodes)`` where ``nodes`` is a list of node arrays (or None).
    """
    arith, _ = _golden()
    shape = columns[0].shape if len(columns) else ()
    results = [None] * tree.n_nodes
    kept = [] if keep_nodes else None
    zero = None

    def operand(ref):
        nonlocal zero
        kind, idx = ref
        if kind == _LEAF:
            return columns[idx], leaf_formats[idx]
        if kind == _NODE:
            value = results[idx]
            if not keep_nodes:
                results[idx] = None  # every node is consumed exactly once
            return value, acc_fmt
        if zero is None:
            zero = np.full(shape, acc_fmt.zero_code, dtype=acc_fmt.dtype)
        return zero, acc_fmt

    for j, (left, right) in enumerate(tree._nodes):
        a, fa = operand(left)
        b, fb = operand(right)
        if fa == acc_fmt and fb == acc_fmt:
            r = arith.add(a, b, acc_fmt, rounding=rounding)
        else:
            r = arith.add(a, b, (fa, fb), rounding=rounding, out=acc_fmt)
        results[j] = r
        if keep_nodes:
            kept.append(r)
    if tree.n_nodes == 0:
        a, fa = operand(tree.root)
        if fa != acc_fmt:
            a = arith.convert(a, fa, acc_fmt, rounding=rounding)
        root = np.array(a, dtype=acc_fmt.dtype, copy=True)
    else:
        root = kept[-1] if keep_nodes else results[-1]
    return root, kept


def reduce(terms, tree: Tree, fmt, *, rounding=None, return_nodes: bool = False):
    """Sum codes along the last axis in the order of ``tree``, one rounded addition per node.

    Parameters
    ----------
    terms : integer array, shape (..., tree.n_terms)
        Codes of ``fmt``; usually ``(batch, n_terms)``.
    tree : Tree
    fmt : FloatFormat or FixedFormat
        Accumulator format; every addition is rounded (or, for fixed point, overflow-handled)
        once to it.
    rounding : str, optional
        Rounding mode, ``None`` = RNE.
    return_nodes : bool
        Also return every partial sum: an array of shape ``(..., tree.n_nodes)`` whose entry
        ``[..., j]`` is the result of internal node ``j`` of ``tree.internal_nodes()``.

    Returns
    -------
    codes of shape ``terms.shape[:-1]`` (and the node array if ``return_nodes``).

    Examples
    --------
    >>> e4m3 = parse_format("e4m3")                                   # doctest: +SKIP
    >>> t = e4m3.encode(np.array([[1.0, 16.0, 1.0, 1.0]]))           # doctest: +SKIP
    >>> e4m3.decode(reduce(t, Tree.sequential(4), e4m3))              # doctest: +SKIP
    array([16.])
    """
    if not isinstance(tree, Tree):
        raise TypeError(f"tree must be a Tree, not {type(tree).__name__}")
    _, rnd = _golden()
    rounding = rnd.check_rounding(rounding)
    arr = _check_codes(terms, fmt)
    if arr.ndim < 1 or arr.shape[-1] != tree.n_terms:
        raise ValueError(f"terms must have shape (..., {tree.n_terms}) for a tree over {tree.n_terms} terms, got {arr.shape}")
    columns = list(np.ascontiguousarray(np.moveaxis(arr, -1, 0)))
    root, nodes = _reduce_columns(columns, tree, [fmt] * tree.n_terms, fmt, rounding, return_nodes)
    if not return_nodes:
        return root
    if nodes:
        node_arr = np.stack(nodes, axis=-1)
    else:
        node_arr = np.zeros(arr.shape[:-1] + (0,), dtype=fmt.dtype)
    return root, node_arr


# ---------------------------------------------------------------------- exact sum
def _unpack(codes, fmt):
    """Exact ``(neg, sig, exp, nan, inf)`` of codes: value = (-1)^neg * sig * 2^exp.

    Uses the format's own unpacking: flush-to-zero formats read subnormals as signed zero, and
    the fnuz NaN code is a NaN, not −0. Zeros, infinities and NaNs get ``sig = 0``.
    """
    from .formats import CLASS_INF, CLASS_NAN

    neg, sig, exp, cls = fmt.unpack(codes, raw=True)
    return (np.asarray(neg, dtype=bool), np.asarray(sig, dtype=np.int64), np.asarray(exp, dtype=np.int64),
            cls == CLASS_NAN, cls == CLASS_INF)


def exact_sum(terms, fmt, *, rounding=None):
    """The exact sum of the terms along the last axis, rounded once to ``fmt``.

    A Kulisch-style reduction: every code is unpacked to an integer significand and exponent,
    the terms are aligned to a common exponent and added with exact integer arithmetic (int64
    when the format's exponent range fits, Python integers otherwise), and the single rounding
    is done by the golden kernel :func:`~ulpflow.golden.rounding.round_pack`.

    Specials follow IEEE 754: any NaN, or +inf together with −inf, gives NaN; otherwise an
    infinity gives that infinity. An exact zero sum is −0 when every term is −0, or when the
    rounding is RDN and some term is −0 or the terms cancel; otherwise +0 (fnuz formats have no
    −0). A non-zero sum that rounds to zero keeps its sign. These are the results of a
    sequential IEEE sum over the same zeros and infinities.

    Parameters
    ----------
    terms : integer array, shape (..., n_terms)
    fmt : FloatFormat or FixedFormat
    rounding : str, optional
        ``None`` = RNE. Fixed-point sums are exact up to the format's overflow policy.
    """
    _, rnd = _golden()
    mode = rnd.check_rounding(rounding)
    arr = _check_codes(terms, fmt)
    if arr.ndim < 1 or arr.shape[-1] < 1:
        raise ValueError(f"terms must have shape (..., n_terms) with n_terms >= 1, got {arr.shape}")
    out_shape = arr.shape[:-1]
    flat = arr.reshape(-1, arr.shape[-1])
    n = flat.shape[1]
    neg, sig, exp, nan, inf = _unpack(flat, fmt)

    # Align every term to the lowest exponent of a non-zero term; bits needed above it:
    nonzero = sig != 0
    lo_exp = int(exp[nonzero].min()) if nonzero.any() else 0
    hi_exp = int(exp[nonzero].max()) if nonzero.any() else 0
    exp = np.where(nonzero, exp, lo_exp)
    sig_bits = int(sig.max()).bit_length() if sig.size else 0
    width = (hi_exp - lo_exp) + sig_bits + max(n, 1).bit_length() + 1
    if width <= 62:
        aligned = sig << (exp - lo_exp)
        signed = np.where(neg, -aligned, aligned)
        total = signed[:, 0].copy()
        for k in range(1, n):
            total = total + signed[:, k]
        s_neg = total < 0
        mag = np.abs(total)
        sticky = None
        e = np.full(mag.shape, lo_exp, dtype=np.int64)
    else:
        shifts = (exp - lo_exp).astype(object)
        big = sig.astype(object) << shifts  # exact Python integers
        signed = np.where(neg, -big, big)
        total = signed[:, 0].copy()
        for k in range(1, n):
            total = total + signed[:, k]
        s_neg = np.array([t < 0 for t in total], dtype=bool)
        mags = [abs(int(t)) for t in total]
        # Keep at most 60 significant bits; the rest goes into the sticky bit (>= 2 guard bits
        # remain below any format's rounding position, as round_pack requires).
        keep = 60
        m_out, e_out, st_out = [], [], []
        for m in mags:
            drop = max(m.bit_length() - keep, 0)
            m_out.append(m >> drop)
            e_out.append(lo_exp + drop)
            st_out.append(drop > 0 and (m & ((1 << drop) - 1)) != 0)
        mag = np.array(m_out, dtype=np.int64).reshape(total.shape)
        e = np.array(e_out, dtype=np.int64).reshape(total.shape)
        sticky = np.array(st_out, dtype=bool).reshape(total.shape)

    zero_sum = mag == 0
    if zero_sum.any():
        is_zero_term = sig == 0
        all_neg_zero = np.all(is_zero_term & neg, axis=1)  # np.all is a boolean test, not a sum
        any_neg_zero = np.any(is_zero_term & neg, axis=1)
        all_zero_terms = np.all(is_zero_term, axis=1)
        if mode == "RDN":
            zsign = (~all_zero_terms) | any_neg_zero
        else:
            zsign = all_neg_zero
        s_neg = np.where(zero_sum, zsign, s_neg)
    codes = rnd.round_pack(s_neg, mag, e, fmt, mode, sticky=sticky)

    pos_inf = np.any(inf & ~neg, axis=1)
    neg_inf = np.any(inf & neg, axis=1)
    result_nan = np.any(nan, axis=1) | (pos_inf & neg_inf)
    result_inf = (pos_inf | neg_inf) & ~result_nan
    if result_nan.any() or result_inf.any():
        from .arith import _apply_specials  # the core's one place for special encodings

        codes = _apply_specials(codes, fmt, result_nan, result_inf, neg_inf)
    return np.asarray(codes).astype(fmt.dtype).reshape(out_shape)
