"""Golden evaluation of reduction trees: :func:`reduce` and :func:`exact_sum`.

:func:`reduce` adds codes in the order of a :class:`~ulpflow.golden.tree.Tree`, one rounded
addition per internal node (the tree walk of :mod:`ulpflow.golden.evaluate` with concrete
codes, the same walk a network layer uses). :func:`exact_sum` is the order-independent
alternative: the exact sum rounded once (:mod:`ulpflow.golden.kulisch`).

Both take the accumulator format as a format object or a name (``"e4m3"``).
"""

from __future__ import annotations

import numpy as np

from .evaluate import Codes, walk_tree
from .formats import as_format
from .kulisch import exact_accumulate
from .rounding import check_rounding

__all__ = ["reduce", "exact_sum"]

_CODES = Codes()


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


def _check_tree(tree):
    # Trees are read through their public members only: Tree is plain data and this module
    # does not import tree.py (duck typing keeps the layering one way).
    if not (callable(getattr(tree, "internal_nodes", None)) and hasattr(tree, "n_terms")
            and hasattr(tree, "root")):
        raise TypeError(f"tree must be a Tree, not {type(tree).__name__}")
    return tree


def reduce(terms, tree, fmt, *, rounding=None, return_nodes: bool = False, strict=None):
    """Sum codes along the last axis in the order of ``tree``, one rounded addition per node.

    Parameters
    ----------
    terms : integer array, shape (..., tree.n_terms)
        Codes of ``fmt``; usually ``(batch, n_terms)``.
    tree : Tree
        An addition tree, or a fused tree (``Tree.fused``): then every leaf is a term in ``fmt``
        (a code, not a product), every node is one fused truncated sum
        (:class:`~ulpflow.golden.tree.FusedSpec`) and the result and node codes are of the
        spec's container format (``rounding`` and ``strict`` are then not used: the spec fixes
        the rounding, and NaN is the spec's ``nan_code``).
    fmt : FloatFormat, FixedFormat or format name
        Accumulator format; every addition is rounded (or, for fixed point, overflow-handled)
        once to it.
    rounding : str, optional
        Rounding mode, ``None`` = RNE.
    strict : bool, optional
        As for :func:`~ulpflow.golden.arith.add`, at every node: what a NaN sum becomes in a
        format without NaN (``False``: +0 lane by lane, as the hardware gives it).
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
    tree = _check_tree(tree)
    fmt = as_format(fmt, "fmt")
    rounding = check_rounding(rounding)
    arr = _check_codes(terms, fmt)
    if arr.ndim < 1 or arr.shape[-1] != tree.n_terms:
        raise ValueError(f"terms must have shape (..., {tree.n_terms}) for a tree over {tree.n_terms} terms, got {arr.shape}")
    columns = list(np.ascontiguousarray(np.moveaxis(arr, -1, 0)))
    root, nodes = walk_tree(tree, columns, [fmt] * tree.n_terms, fmt, rounding,
                            _CODES if strict is None else Codes(strict=strict), return_nodes)
    if not return_nodes:
        return root
    if nodes:
        node_arr = np.stack(nodes, axis=-1)
    else:
        node_arr = np.zeros(arr.shape[:-1] + (0,), dtype=fmt.dtype)
    return root, node_arr


def exact_sum(terms, fmt, *, rounding=None):
    """The exact sum of the terms along the last axis, rounded once to ``fmt``.

    A Kulisch-style reduction (:func:`~ulpflow.golden.kulisch.exact_accumulate`): every code is
    unpacked to an integer significand and exponent, the terms are aligned and added with exact
    integer arithmetic, and the single rounding is done by the golden kernel
    :func:`~ulpflow.golden.rounding.round_pack`.

    Specials follow IEEE 754: any NaN, or +inf together with −inf, gives NaN; otherwise an
    infinity gives that infinity. An exact zero sum is −0 when every term is −0, or when the
    rounding is RDN and some term is −0 or the terms cancel; otherwise +0 (fnuz formats have no
    −0). A non-zero sum that rounds to zero keeps its sign. These are the results of a
    sequential IEEE sum over the same zeros and infinities.

    Parameters
    ----------
    terms : integer array, shape (..., n_terms)
    fmt : FloatFormat, FixedFormat or format name
    rounding : str, optional
        ``None`` = RNE. Fixed-point sums are exact up to the format's overflow policy.
    """
    fmt = as_format(fmt, "fmt")
    mode = check_rounding(rounding)
    arr = _check_codes(terms, fmt)
    if arr.ndim < 1 or arr.shape[-1] < 1:
        raise ValueError(f"terms must have shape (..., n_terms) with n_terms >= 1, got {arr.shape}")
    n = arr.shape[-1]
    columns = [arr[..., k] for k in range(n)]
    return exact_accumulate(columns, [fmt] * n, fmt, mode)
