"""Traces of a network run and the first divergence between two traces.

A :class:`Trace` holds every intermediate value of a batch (``net.trace(x)``), one
:class:`LayerTrace` per layer; a trace from another source (a hardware run, a second model) may
carry only some fields. :func:`first_divergence` walks two traces in evaluation order and
reports the first value that differs, decoded (:class:`Divergence`).
"""

from __future__ import annotations

import dataclasses

import numpy as np


__all__ = ["LayerTrace", "Trace", "Divergence", "first_divergence"]


@dataclasses.dataclass(frozen=True)
class LayerTrace:
    """Every intermediate value of one layer for a batch (any field may be None when a source,
    e.g. a hardware run, does not observe it).

    Members
    -------
    inputs : (batch, n_in) codes of the layer's input format
    products : (batch, n_out, n_in) codes of the product format
    nodes : tuple over neurons of (batch, tree.n_nodes) codes of the accumulator format;
        ``nodes[k][:, j]`` is internal node ``j`` of neuron ``k``'s tree (None for a layer with
        ``accumulate="exact"``, which has no intermediate sums)
    sums : (batch, n_out) accumulator codes (the tree roots)
    outputs : (batch, n_out) activation outputs
    """

    inputs: np.ndarray | None = None
    products: np.ndarray | None = None
    nodes: tuple | None = None
    sums: np.ndarray | None = None
    outputs: np.ndarray | None = None


@dataclasses.dataclass(frozen=True)
class Trace:
    """Intermediate values of a network run: one :class:`LayerTrace` per layer."""

    network: object     # the Network that produced the trace
    layers: tuple

    @property
    def outputs(self):
        return self.layers[-1].outputs


@dataclasses.dataclass(frozen=True)
class Divergence:
    """The first value where two traces differ (see :func:`first_divergence`)."""

    layer: int
    stage: str          # "input", "product", "node", "sum" or "output"
    neuron: int | None
    index: int | None   # input index (product/input) or node id (node)
    row: int            # batch row
    code_a: int
    code_b: int
    format: object
    detail: str = ""

    def __str__(self):
        where = f"layer {self.layer}, {self.stage}"
        if self.neuron is not None:
            where += f", neuron {self.neuron}"
        if self.index is not None:
            where += f", {'input' if self.stage in ('product', 'input') else 'node'} {self.index}"
        if self.detail:
            where += f" ({self.detail})"
        return (f"{where}, batch row {self.row}: {self.format.show(self.code_a)} vs "
                f"{self.format.show(self.code_b)}")


def _differs(a, b, fmt, nan_by_class):
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"traces disagree in shape: {a.shape} vs {b.shape}")
    d = a != b
    if nan_by_class and fmt.kind == "float" and fmt.nan_code is not None:
        d &= ~(fmt.is_nan(a) & fmt.is_nan(b))
    return d


def first_divergence(trace_a: Trace, trace_b: Trace, *, nan_by_class: bool = False):
    """The first differing value of two traces of the same network, or None.

    "First" follows evaluation order: layer by layer; within a layer the inputs, then the
    products, then the tree nodes in evaluation order (node 0 of every neuron before node 1),
    then the activation outputs; ties go to the lowest neuron, index and batch row. Fields that
    are None in either trace are skipped, so a hardware trace may carry only some of them.
    Codes are compared bit for bit unless ``nan_by_class`` (then any NaN equals any NaN).
    """
    net = trace_a.network
    if len(trace_a.layers) != len(trace_b.layers):
        raise ValueError(f"traces have {len(trace_a.layers)} and {len(trace_b.layers)} layers")
    for li, (la, lb) in enumerate(zip(trace_a.layers, trace_b.layers)):
        layer = net.layers[li]
        in_fmt = net.layer_input_format(li)
        if la.inputs is not None and lb.inputs is not None:
            d = _differs(la.inputs, lb.inputs, in_fmt, nan_by_class)
            if d.any():
                # order: input index, then row
                j_any = np.flatnonzero(d.any(axis=0))[0]
                row = int(np.flatnonzero(d[:, j_any])[0])
                return Divergence(li, "input", None, int(j_any), row, int(la.inputs[row, j_any]),
                                  int(lb.inputs[row, j_any]), in_fmt)
        if la.products is not None and lb.products is not None:
            d = _differs(la.products, lb.products, layer.product_format, nan_by_class)
            if d.any():
                k, j = np.argwhere(d.any(axis=0))[0]
                row = int(np.flatnonzero(d[:, k, j])[0])
                w = int(layer.weights[k, j])
                return Divergence(li, "product", int(k), int(j), row, int(la.products[row, k, j]),
                                  int(lb.products[row, k, j]), layer.product_format,
                                  f"w={layer.weight_format.show(w)}")
        if la.nodes is not None and lb.nodes is not None:
            best = None
            for k in range(layer.n_out):
                d = _differs(la.nodes[k], lb.nodes[k], layer.acc_format, nan_by_class)
                if d.any():
                    j = int(np.flatnonzero(d.any(axis=0))[0])
                    if best is None or j < best[1]:
                        best = (k, j, int(np.flatnonzero(d[:, j])[0]))
            if best is not None:
                k, j, row = best
                tree = layer.trees[k]
                if tree.kind == "fused":
                    _, operands = tree.fused_nodes()[j]
                    detail = f"fused({', '.join(map(_ref_text, operands))})"
                else:
                    _, left, right = tree.internal_nodes()[j]
                    detail = f"{_ref_text(left)} + {_ref_text(right)}"
                return Divergence(li, "node", k, j, row, int(la.nodes[k][row, j]), int(lb.nodes[k][row, j]),
                                  layer.acc_format, detail)
        for stage, fa, fb, fmt in (("sum", la.sums, lb.sums, layer.acc_format),
                                   ("output", la.outputs, lb.outputs, layer.out_format)):
            if fa is not None and fb is not None:
                d = _differs(fa, fb, fmt, nan_by_class)
                if d.any():
                    k = int(np.flatnonzero(d.any(axis=0))[0])
                    row = int(np.flatnonzero(d[:, k])[0])
                    return Divergence(li, stage, k, None, row, int(fa[row, k]), int(fb[row, k]), fmt)
    return None


def _ref_text(ref):
    kind, i = ref
    return {"leaf": f"t{i}", "node": f"node {i}", "zero": "0"}[kind]
