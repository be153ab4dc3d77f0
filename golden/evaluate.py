"""The one network evaluator: a single walk over layers, tree nodes and activations.

The walk (:func:`walk_network`, :func:`walk_layer`, :func:`walk_tree`) fixes *what* is computed
and in which order; a **semantics** object fixes *on what*. Three semantics use the same walk:

* :class:`Codes` — concrete codes (``net(x)``, :func:`~ulpflow.golden.reduction.reduce`);
* :class:`Codes` with ``trace=True`` — the same codes, keeping every product, tree node, sum
  and output (``net.trace(x)``);
* :class:`ulpflow.golden.interval.Intervals` — boxes of codes (``net.interval(lo, hi)``).

Per layer the walk computes the products, then, for each group of neurons sharing a tree
(:meth:`Layer.tree_groups`), the tree's nodes in the order of :meth:`Tree.internal_nodes` (or one
exact accumulation for ``accumulate="exact"`` layers), and finally the activation. A tree leaf
``j < n_in`` is product ``j`` (read in the product format), leaf ``n_in`` is the bias and the
zero leaf is +0 (both in the accumulator format); every node rounds once to the accumulator
format.

A semantics provides:

========================================  =====================================================
``products(layer, x, in_fmt)``            the layer's products (opaque to the walk)
``columns(layer, products, idx)``         the ``n_in + 1`` leaf values (products, then bias) of
                                          the neurons ``idx`` (None = all)
``add(a, fa, b, fb, out, rounding)``      one tree node
``zero(like, fmt)``                       the zero leaf, shaped like ``like``
``single(a, fa, out, rounding)``          the result of a one-leaf tree
``exact(columns, formats, out, rounding)``  one exact accumulation (Kulisch)
``sums(layer, rows)`` / ``put(...)``      the per-neuron results of the groups
``activation(act, sums)``                 the activation
``rows(x)``, ``layer_done(...)``          batch size; a hook seeing every intermediate value
``keep_nodes``                            whether the walk keeps every node (tracing)
``fused(terms, spec)``                    one fused node (optional: only semantics that
                                          evaluate fused trees have it)
``operands(layer, x, idx)``               the ``(weight, input)`` code pairs of the products of
                                          the neurons ``idx`` (for fused trees)
========================================  =====================================================

A **fused** tree (``tree.kind == "fused"``, :class:`~ulpflow.golden.tree.FusedSpec`) has n-ary
nodes (:meth:`Tree.fused_nodes`): each is one ``sem.fused`` over its operands. A product leaf
of a fused node is the exact product of its two operand codes (not the rounded product: the
fused node needs the operands' exponents), the bias and node results are codes (the node
results in the spec's container format, which a layer requires to be its accumulator format).

Trees are read only through their public members (:meth:`internal_nodes` operand references
``("leaf", i)``, ``("node", j)``, ``("zero", None)``; :attr:`root`), layers and networks only
through theirs.
"""

from __future__ import annotations

import numpy as np

from . import arith
from .kulisch import exact_accumulate, fused_accumulate

__all__ = ["Codes", "walk_network", "walk_layer", "walk_tree", "walk_fused", "chunk_rows"]


# ---------------------------------------------------------------------- the walk
def walk_tree(tree, columns, formats, out, rounding, sem, keep=False):
    """Evaluate ``tree`` over leaf values ``columns`` (one per term) in semantics ``sem``.

    ``formats[i]`` is the format of leaf ``i``; every node is ``sem.add`` rounded to ``out``.
    Returns ``(root, nodes)`` with ``nodes`` the list of every node value when ``keep`` (else
    None).
    """
    if getattr(tree, "kind", "add") == "fused":
        return walk_fused(tree, [(c, f) for c, f in zip(columns, formats)], sem, keep)
    results = [None] * tree.n_nodes
    kept = [] if keep else None
    zero = None

    def operand(ref):
        nonlocal zero
        kind, idx = ref
        if kind == "leaf":
            return columns[idx], formats[idx]
        if kind == "node":
            value = results[idx]
            if not keep:
                results[idx] = None  # every node is consumed exactly once
            return value, out
        if zero is None:
            zero = sem.zero(columns[0], out)
        return zero, out

    last = None
    for j, left, right in tree.internal_nodes():
        a, fa = operand(left)
        b, fb = operand(right)
        last = results[j] = sem.add(a, fa, b, fb, out, rounding)
        if keep:
            kept.append(last)
    if last is None:  # a one-leaf tree: the leaf itself, in the accumulator format
        a, fa = operand(tree.root)
        last = sem.single(a, fa, out, rounding)
    return last, kept


def walk_fused(tree, leaves, sem, keep=False):
    """Evaluate the fused tree ``tree`` in semantics ``sem``: ``leaves[i]`` is leaf ``i`` as a
    term, ``(codes, fmt)`` or ``(a, fa, b, fb)`` (an exact product). Returns ``(root, nodes)``
    as :func:`walk_tree` does; node results are codes of ``tree.fused_spec.container``."""
    fused = getattr(sem, "fused", None)
    if fused is None:
        raise TypeError(f"{type(sem).__name__} does not evaluate fused trees ({tree!r}); use concrete "
                        "codes (net(x), reduce, mma.dot)")
    spec = tree.fused_spec
    results = [None] * tree.n_nodes
    kept = [] if keep else None
    last = None
    for j, operands in tree.fused_nodes():
        terms = []
        for kind, idx in operands:
            terms.append(leaves[idx] if kind == "leaf" else (results[idx], spec.container))
        last = results[j] = fused(terms, spec)
        if keep:
            kept.append(last)
    return last, kept


def walk_layer(layer, x, in_fmt, sem):
    """One layer in semantics ``sem``: products, the trees (or exact sums), the activation."""
    rows = sem.rows(x)
    prod = sem.products(layer, x, in_fmt)
    acc = layer.acc_format
    formats = [layer.product_format] * layer.n_in + [acc]
    sums = sem.sums(layer, rows)
    groups = []
    for tree, idx in layer.tree_groups():
        cols = sem.columns(layer, prod, idx)
        if tree is None:
            root, nodes = sem.exact(cols, formats, acc, layer.rounding), None
        elif getattr(tree, "kind", "add") == "fused":
            if not hasattr(sem, "operands"):
                raise TypeError(f"{type(sem).__name__} does not evaluate fused trees (layer "
                                f"{layer.name!r}); use concrete codes (net(x), net.trace(x))")
            pairs = sem.operands(layer, x, idx)
            leaves = [(a, layer.weight_format, b, in_fmt) for a, b in pairs] + [(cols[-1], acc)]
            root, nodes = walk_fused(tree, leaves, sem, sem.keep_nodes)
        else:
            root, nodes = walk_tree(tree, cols, formats, acc, layer.rounding, sem, sem.keep_nodes)
        sem.put(sums, idx, root)
        groups.append((idx, nodes))
    out = sem.activation(layer.activation, sums)
    sem.layer_done(layer, x, prod, groups, sums, out)
    return out


def walk_network(net, x, sem):
    """Every layer of ``net`` in turn on the (already checked) input ``x``; returns the list of
    per-layer outputs."""
    fmt = net.input_format
    outs = []
    for layer in net.layers:
        x = walk_layer(layer, x, fmt, sem)
        outs.append(x)
        fmt = layer.out_format
    return outs


def chunk_rows(rows, chunk):
    """``[(start, stop), …]`` covering ``range(rows)`` in pieces of at most ``chunk`` rows."""
    chunk = max(1, int(chunk))
    return [(s, min(s + chunk, rows)) for s in range(0, rows, chunk)] or [(0, 0)]


# ---------------------------------------------------------------------- concrete codes
class Codes:
    """Concrete semantics: every value is an array of codes.

    With ``trace=True`` every layer's intermediate values are collected in :attr:`layers`, as
    dicts with the fields of :class:`~ulpflow.golden.trace.LayerTrace`. ``strict`` is passed to
    product, tree node and exact sum (NaN into a format without NaN).
    """

    def __init__(self, trace: bool = False, strict=None):
        self.keep_nodes = bool(trace)
        self.layers = [] if trace else None
        self.strict = strict

    # -- node operations
    def add(self, a, fa, b, fb, out, rounding):
        if fa == out and fb == out:
            return arith.add(a, b, out, rounding=rounding, strict=self.strict)
        return arith.add(a, b, (fa, fb), rounding=rounding, out=out, strict=self.strict)

    @staticmethod
    def zero(like, fmt):
        return np.full(np.shape(like), fmt.zero_code, dtype=fmt.dtype)

    def single(self, a, fa, out, rounding):
        if fa != out:
            return arith.convert(a, fa, out, rounding=rounding, strict=self.strict)
        return np.array(a, dtype=out.dtype, copy=True)

    def exact(self, columns, formats, out, rounding):
        return exact_accumulate(columns, formats, out, rounding, strict=self.strict)

    @staticmethod
    def fused(terms, spec):
        shape = np.broadcast_shapes(*(np.shape(t[0]) for t in terms))
        full = []
        for t in terms:
            full.append(tuple(np.broadcast_to(v, shape) if k % 2 == 0 else v for k, v in enumerate(t)))
        return fused_accumulate(full, spec, shape=shape)

    @staticmethod
    def operands(layer, x, idx):
        """``[(w, x), …]`` per product leaf, each shaped (rows, neurons) like the columns."""
        w = layer.weights if idx is None else layer.weights[idx]
        rows = x.shape[0]
        return [(np.broadcast_to(w[:, j], (rows, w.shape[0])), np.broadcast_to(x[:, j:j + 1], (rows, w.shape[0])))
                for j in range(layer.n_in)]

    # -- layer operations
    @staticmethod
    def rows(x):
        return x.shape[0]

    def products(self, layer, x, in_fmt):
        """Laid out (n_in, batch, n_out), so that every term column is contiguous."""
        return arith.mul(layer.weights.T[:, None, :], np.ascontiguousarray(x.T)[:, :, None],
                         (layer.weight_format, in_fmt), rounding=layer.rounding,
                         out=layer.product_format, strict=self.strict)

    @staticmethod
    def columns(layer, prod, idx):
        rows = prod.shape[1]
        if idx is None:
            return list(prod) + [np.broadcast_to(layer.bias, (rows, layer.n_out))]
        return [p[:, idx] for p in prod] + [np.broadcast_to(layer.bias[idx], (rows, idx.size))]

    @staticmethod
    def sums(layer, rows):
        return np.empty((rows, layer.n_out), dtype=layer.acc_format.dtype)

    @staticmethod
    def put(sums, idx, root):
        if idx is None:
            sums[:] = root
        else:
            sums[:, idx] = root

    @staticmethod
    def activation(act, sums):
        out = np.asarray(act(sums)).astype(act.out_format.dtype, copy=False)
        return out.reshape(sums.shape) if out.shape != sums.shape else out

    def layer_done(self, layer, x, prod, groups, sums, out):
        if self.layers is None:
            return
        rows = x.shape[0]
        nodes = None
        if not layer.exact:
            nodes = [None] * layer.n_out
            for idx, kept in groups:
                for pos, k in enumerate(range(layer.n_out) if idx is None else idx):
                    if kept:
                        nodes[k] = np.stack([nd[:, pos] for nd in kept], axis=-1)
                    else:
                        nodes[k] = np.zeros((rows, 0), dtype=layer.acc_format.dtype)
            nodes = tuple(nodes)
        self.layers.append(dict(inputs=x, products=np.ascontiguousarray(prod.transpose(1, 2, 0)),
                                nodes=nodes, sums=sums, outputs=out))
