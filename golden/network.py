"""The network IR: layers of rounded neurons, their golden evaluation, traces and JSON.

A neuron computes ``y = σ̂(reduce(tree, [w_0 ⊗ x_0, …, w_{n-1} ⊗ x_{n-1}, b]))``
(docs/network-format.md, "What a network computes"):

* each product ``w_i ⊗ x_i`` is one :func:`~ulpflow.golden.mul` of a weight code (``weight_format``)
  and an input code (the previous layer's output format, or the network's input format), rounded
  once to ``product_format`` (default: ``acc_format``);
* the terms and the bias (a code of ``acc_format``) are added in the order of the neuron's
  :class:`~ulpflow.golden.tree.Tree`, each addition rounded once to ``acc_format``; a product
  leaf is read in ``product_format`` and the addition is a single mixed-format rounded add, so
  a product format different from the accumulator never adds a conversion step;
* with ``accumulate="exact"`` the terms and the bias are instead summed exactly and rounded
  once to ``acc_format`` (a Kulisch accumulator, :mod:`ulpflow.golden.kulisch`); such a layer
  has no tree;
* a **fused** tree (``Tree.fused(n_in + 1, spec, block=L)``) adds the *exact* products and the
  bias in truncated fused blocks as a GPU matrix unit does (:class:`~ulpflow.golden.tree.FusedSpec`,
  :mod:`ulpflow.golden.mma`); its container format must be ``acc_format``, and the network
  checks that ``product_format`` holds every exact product (:func:`check_exact_products`), the
  products a trace shows being those exact values;
* the activation implementation maps ``acc_format`` codes to the layer's output format.

Weights and biases are always stored as codes. ``Layer(...)`` takes codes (integer arrays);
``Layer.from_values(...)`` takes exact values and refuses any value the format cannot hold,
naming the layer, the position, the value and its two representable neighbours; it refuses NaN
(a NaN weight or bias makes its neuron's every output NaN: give such a code to ``Layer`` directly
if that is really meant).

Mixed float/fixed products are not defined by the golden core (``mul`` needs both operands of
one kind), so a layer whose weight format and input format differ in kind is rejected when the
network is built; put a converting activation (e.g. identity from a float to a fixed format) in
front of it instead. Likewise ``product_format`` and ``acc_format`` must be of one kind.

Evaluation is the one walk of :mod:`ulpflow.golden.evaluate` (concrete codes, traces, and the
interval semantics of :mod:`ulpflow.golden.interval`); traces and divergence reports are in
:mod:`ulpflow.golden.trace`; the JSON form (``docs/network-format.md``) is read and written by
:mod:`ulpflow.golden.network_json`.
"""

from __future__ import annotations

import json
import numbers
from fractions import Fraction

import numpy as np

from .interval import network_interval
from .evaluate import Codes, chunk_rows, walk_network
from .formats import as_format
from .network_json import (ACCUMULATE_KINDS, NETWORK_JSON_FORMAT, NETWORK_JSON_VERSION, layer_to_json,
                           loads as _json_loads, network_to_json, read_network)
from .rounding import check_rounding
from .trace import Divergence, LayerTrace, Trace, first_divergence
from .tree import Tree

__all__ = ["Layer", "Network", "LayerTrace", "Trace", "Divergence", "first_divergence",
           "NETWORK_JSON_FORMAT", "NETWORK_JSON_VERSION", "check_exact_products"]

# Evaluation works on batch chunks: about this many elements per golden call keeps the per-call
# overhead small, and this many products bounds the memory of one chunk.
_TARGET_CALL_ELEMENTS = 1 << 16
_MAX_CHUNK_PRODUCTS = 1 << 22


def _check_activation(act, where):
    for attr in ("in_format", "out_format", "__call__"):
        if not hasattr(act, attr):
            raise TypeError(f"{where}: activation must be an Activation (golden.activations), not {act!r}")
    return act


def _is_value_like(arr) -> bool:
    return arr.dtype == object or arr.dtype.kind == "f"


class Layer:
    """One fully connected layer of rounded neurons.

    Parameters
    ----------
    weights : integer array, shape (n_out, n_in)
        Weight **codes** of ``weight_format``.
    bias : integer array, shape (n_out,)
        Bias **codes** of ``acc_format``.
    weight_format, acc_format : format or format name
    product_format : format or name, optional
        Format the products are rounded to; default ``acc_format``.
    activation : Activation
        Maps ``acc_format`` codes to the layer's output format (``activation.out_format``).
    tree : None, Tree or sequence of Tree
        Reduction order over ``n_in + 1`` terms (products then bias): ``None`` is
        ``Tree.sequential(n_in + 1)``, one Tree is shared by every neuron, a sequence gives one
        tree per neuron.
    rounding : str
        Rounding mode of every product and addition (activations carry their own).
    accumulate : ``"tree"`` or ``"exact"``
        ``"tree"`` (default): the terms are added in the order of the tree, each addition rounded
        once. ``"exact"``: the terms are summed exactly and rounded once to ``acc_format`` (a
        Kulisch accumulator; the order does not matter, so ``tree`` must be None).
    name : str, optional
        Used in error messages and kept in JSON.

    Members
    -------
    n_in, n_out, weights, bias, weight_format, product_format, acc_format, out_format,
    activation, trees (one per neuron; empty for an exact layer), tree (the shared tree or None),
    rounding, accumulate, exact, name.
    """

    def __init__(self, weights, bias, *, weight_format, acc_format, product_format=None,
                 activation, tree=None, rounding="RNE", accumulate="tree", name=None):
        where = f"layer {name!r}" if name is not None else "layer"
        self.name = name
        if accumulate not in ACCUMULATE_KINDS:
            raise ValueError(f"{where}: accumulate must be one of {', '.join(map(repr, ACCUMULATE_KINDS))}, "
                             f"not {accumulate!r}")
        self.accumulate = accumulate
        self.weight_format = as_format(weight_format, f"{where}: weight_format")
        self.acc_format = as_format(acc_format, f"{where}: acc_format")
        self.product_format = self.acc_format if product_format is None else as_format(product_format, f"{where}: product_format")
        self.rounding = check_rounding(rounding)
        w = np.asarray(weights)
        b = np.asarray(bias)
        for arr, what in ((w, "weights"), (b, "bias")):
            if _is_value_like(arr):
                raise TypeError(f"{where}: {what} must be integer codes, got dtype {arr.dtype}; "
                                "use Layer.from_values(...) to build a layer from real values")
        if w.ndim != 2:
            raise ValueError(f"{where}: weights must have shape (n_out, n_in), got {w.shape}")
        n_out, n_in = w.shape
        if n_out < 1 or n_in < 1:
            raise ValueError(f"{where}: weights must have at least one row and one column, got {w.shape}")
        if b.shape != (n_out,):
            raise ValueError(f"{where}: bias must have shape ({n_out},) to match weights {w.shape}, got {b.shape}")
        self.weights = self._codes(w, self.weight_format, f"{where}: weights")
        self.bias = self._codes(b, self.acc_format, f"{where}: bias")
        self.activation = _check_activation(activation, where)
        if self.activation.in_format != self.acc_format:
            raise ValueError(f"{where}: activation {getattr(activation, 'name', activation)!r} takes "
                             f"{self.activation.in_format} codes but the accumulator format is {self.acc_format}")
        if self.product_format.kind != self.acc_format.kind:
            raise ValueError(f"{where}: product format {self.product_format} and accumulator format "
                             f"{self.acc_format} must both be float or both fixed point")
        n_terms = n_in + 1
        if accumulate == "exact":
            if tree is not None:
                raise ValueError(f"{where}: an exact accumulation has no order of additions; give no tree "
                                 "(or accumulate='tree')")
            trees, shared = (), False
        elif tree is None:
            trees, shared = (Tree.sequential(n_terms),) * n_out, True
        elif isinstance(tree, Tree):
            trees, shared = (tree,) * n_out, True
        else:
            trees, shared = tuple(tree), False
            if len(trees) != n_out:
                raise ValueError(f"{where}: got {len(trees)} trees for {n_out} neurons")
        for k, t in enumerate(trees):
            if not isinstance(t, Tree):
                raise TypeError(f"{where}: tree of neuron {k} must be a Tree, not {t!r}")
            if t.n_terms != n_terms:
                raise ValueError(f"{where}: tree of neuron {k} is over {t.n_terms} terms but the neuron has "
                                 f"{n_in} inputs + bias = {n_terms} terms")
            if t.kind == "fused":
                spec = t.fused_spec
                if spec.container != self.acc_format:
                    raise ValueError(f"{where}: the fused tree of neuron {k} gives {spec.container} codes but the "
                                     f"accumulator format is {self.acc_format}")
                if self.weight_format.kind != "float":
                    raise ValueError(f"{where}: a fused tree needs float weights, not {self.weight_format}")
        self.trees = trees
        self._shared = shared

    @staticmethod
    def _codes(arr, fmt, where):
        try:
            out = fmt.check_codes(arr)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where}: {e}") from None
        out = np.array(out, dtype=fmt.dtype, copy=True)
        out.setflags(write=False)
        return out

    # ------------------------------------------------------------------ from values
    @classmethod
    def from_values(cls, weights, bias, *, weight_format, acc_format, name=None, **kw) -> "Layer":
        """Layer from exact values (float, int or ``Fraction``), refusing any silent rounding.

        ``±inf`` is accepted where the format has infinities; NaN is refused (every output of
        the neuron would be NaN): pass the NaN code to :class:`Layer` itself if that is meant.

        Raises
        ------
        ValueError
            If a weight or bias is NaN or not representable, naming the layer, the parameter and
            position, the value and (for a finite value) its two representable neighbours.
        """
        where = f"layer {name!r}" if name is not None else "layer"
        wf = as_format(weight_format, f"{where}: weight_format")
        af = as_format(acc_format, f"{where}: acc_format")
        w = np.asarray(weights, dtype=object)
        b = np.asarray(bias, dtype=object)
        if w.ndim != 2:
            raise ValueError(f"{where}: weights must have shape (n_out, n_in), got {w.shape}")
        wc = _encode_exactly(w, wf, f"{where}: weight", lambda i: f"[{i[0]}, {i[1]}]")
        bc = _encode_exactly(b, af, f"{where}: bias", lambda i: f"[{', '.join(map(str, i))}]")
        return cls(wc, bc, weight_format=wf, acc_format=af, name=name, **kw)

    # ------------------------------------------------------------------ accessors
    @property
    def n_in(self) -> int:
        return self.weights.shape[1]

    @property
    def n_out(self) -> int:
        return self.weights.shape[0]

    @property
    def out_format(self):
        return self.activation.out_format

    @property
    def tree(self):
        """The tree shared by every neuron, or None when trees are given per neuron (or the layer
        accumulates exactly)."""
        return self.trees[0] if self._shared else None

    @property
    def shared_tree(self) -> bool:
        return self._shared

    @property
    def exact(self) -> bool:
        """Whether the layer sums exactly (``accumulate="exact"``) instead of along trees."""
        return self.accumulate == "exact"

    def tree_groups(self):
        """Neurons grouped by identical tree: ``[(tree, neuron index array or None = all)]``.

        An exact layer is one group ``(None, None)``: every neuron, no tree.
        """
        if self.exact:
            return [(None, None)]
        if self._shared:
            return [(self.trees[0], None)]
        groups = {}
        for k, t in enumerate(self.trees):
            groups.setdefault(t, []).append(k)
        if len(groups) == 1:
            return [(self.trees[0], None)]
        return [(t, np.array(ks)) for t, ks in groups.items()]

    def __repr__(self):
        nm = f" {self.name!r}" if self.name is not None else ""
        return (f"<Layer{nm} {self.n_in}->{self.n_out} w:{self.weight_format} p:{self.product_format} "
                f"acc:{self.acc_format} -> {getattr(self.activation, 'name', '?')} -> {self.out_format}>")

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> dict:
        """JSON-ready dict of this layer (docs/network-format.md, "Layer object")."""
        return layer_to_json(self)


def _encode_exactly(values, fmt, what, pos_text):
    """Codes of exact values; a value the format does not hold exactly is an error."""
    codes = np.zeros(values.shape, dtype=fmt.dtype)
    for idx in np.ndindex(values.shape):
        v = values[idx]
        if isinstance(v, (np.floating, np.integer)):
            v = v.item()
        if isinstance(v, bool) or not isinstance(v, (numbers.Rational, float)):
            raise TypeError(f"{what}{pos_text(idx)} = {v!r} must be a float, int or Fraction")
        if isinstance(v, float) and v != v:
            raise ValueError(f"{what}{pos_text(idx)} = nan: a NaN {what.rsplit(' ', 1)[-1]} makes every output "
                             "of its neuron NaN; pass its code to Layer(...) if that is really meant")
        special = isinstance(v, float) and v in (float("inf"), float("-inf"))
        try:
            # float64 inputs go through the float path so that -0.0 keeps its sign
            c = int(fmt.encode(np.array([v], dtype=np.float64))[0]) if isinstance(v, float) else int(fmt.encode(v))
        except ValueError as e:
            raise ValueError(f"{what}{pos_text(idx)} = {v!r} is not representable in {fmt}: {e}") from None
        if special:
            ok = fmt.kind == "float" and bool(fmt.is_inf(c) and bool(fmt.sign(c)) == (v < 0))
            if not ok:
                raise ValueError(f"{what}{pos_text(idx)} = {v!r} is not representable in {fmt}")
            codes[idx] = c
            continue
        back = fmt.decode_fraction(np.array([c], dtype=fmt.dtype))[0]
        if isinstance(back, Fraction) and back == Fraction(v):
            codes[idx] = c
            continue
        lo = int(fmt.encode(Fraction(v), "RDN"))
        hi = int(fmt.encode(Fraction(v), "RUP"))
        if lo == hi:  # both directions saturate: the value is beyond the format's range
            raise ValueError(f"{what}{pos_text(idx)} = {v!r} is outside the range of {fmt}; the nearest "
                             f"representable value is {fmt.show(lo)}")
        raise ValueError(f"{what}{pos_text(idx)} = {v!r} is not representable in {fmt}; its neighbours are "
                         f"{fmt.show(lo)} and {fmt.show(hi)}")
    return codes


def check_exact_products(w_fmt, x_fmt, p_fmt, where="layer"):
    """Raise ``ValueError`` unless every product of a ``w_fmt`` code and an ``x_fmt`` code is a
    value of ``p_fmt`` (a fused tree adds exact products; the product format must hold them).

    Float formats: ``p_fmt`` needs at least ``p_w + p_x`` significand bits, an exponent range
    reaching the largest product (below ``2^(emax_w + emax_x + 2)``) and the smallest
    (``2^(lsb_w + lsb_x)``, the products of the least significant bits), infinities if an
    operand format has them and NaN if an operand format has NaN.
    """
    if w_fmt.kind != "float" or x_fmt.kind != "float" or p_fmt.kind != "float":
        raise ValueError(f"{where}: a fused tree multiplies float codes exactly; {w_fmt} × {x_fmt} into "
                         f"{p_fmt} is not a float product")

    def lsb(f):  # the exponent of the lowest bit a code of f can have
        return f.emin - f.man_bits

    need = []
    if p_fmt.p < w_fmt.p + x_fmt.p:
        need.append(f"{w_fmt.p + x_fmt.p} significand bits (it has {p_fmt.p})")
    if p_fmt.emax < w_fmt.emax + x_fmt.emax + 1:
        need.append(f"a largest exponent of at least {w_fmt.emax + x_fmt.emax + 1} (it has {p_fmt.emax})")
    lo = lsb(w_fmt) + lsb(x_fmt)
    p_lsb = p_fmt.emin - p_fmt.man_bits if p_fmt.subnormals else p_fmt.emin
    if p_lsb > lo:
        need.append(f"values down to 2^{lo} (its smallest is 2^{p_lsb})")
    if (w_fmt.has_inf or x_fmt.has_inf) and not p_fmt.has_inf:
        need.append("infinities")
    if (w_fmt.has_nan or x_fmt.has_nan) and not p_fmt.has_nan:
        need.append("NaN")
    if need:
        raise ValueError(f"{where}: product format {p_fmt} cannot hold every exact product {w_fmt} × {x_fmt} "
                         f"of a fused tree: it needs {', '.join(need)}")


class Network:
    """A list of layers with an input format; evaluates batches of input codes bit-exactly.

    Parameters
    ----------
    input_format : format or name
        The inputs' format; afterwards :attr:`in_format` (``input_format`` stays as the JSON
        name), as every unit and layer names its formats ``in_format``/``out_format``.
    layers : sequence of Layer
        Layer k's inputs are layer k-1's outputs (``out_format``); the first layer reads the
        network input.

    Examples
    --------
    >>> net = Network("e4m3", [layer1, layer2])          # doctest: +SKIP
    >>> y = net(x)            # x: (batch, n_in) codes  # doctest: +SKIP
    >>> tr = net.trace(x)     # every intermediate value  # doctest: +SKIP
    """

    def __init__(self, input_format, layers):
        self.input_format = as_format(input_format, "input_format")
        layers = tuple(layers)
        if not layers:
            raise ValueError("a network needs at least one layer")
        fmt = self.input_format
        n = None
        for i, layer in enumerate(layers):
            where = f"layer {i}" + (f" ({layer.name!r})" if getattr(layer, "name", None) is not None else "")
            if not isinstance(layer, Layer):
                raise TypeError(f"{where} must be a Layer, not {layer!r}")
            if n is not None and layer.n_in != n:
                raise ValueError(f"{where} has {layer.n_in} inputs but the previous layer has {n} outputs")
            if layer.weight_format.kind != fmt.kind:
                raise ValueError(f"{where}: weights in {layer.weight_format} cannot multiply inputs in {fmt} "
                                 "(mixed float/fixed products are not defined); convert the inputs with an "
                                 "activation into a format of the weights' kind first")
            if any(t.kind == "fused" for t in layer.trees):
                check_exact_products(layer.weight_format, fmt, layer.product_format, where)
            fmt, n = layer.out_format, layer.n_out
        self.layers = layers

    @property
    def n_in(self) -> int:
        return self.layers[0].n_in

    @property
    def n_out(self) -> int:
        return self.layers[-1].n_out

    @property
    def in_format(self):
        """The format of the network's inputs (``input_format`` in JSON and the constructor)."""
        return self.input_format

    @property
    def out_format(self):
        """The format of the network's outputs: the last layer's ``out_format``."""
        return self.layers[-1].out_format

    #: The JSON name of :attr:`out_format`.
    output_format = out_format

    def layer_input_format(self, i: int):
        return self.input_format if i == 0 else self.layers[i - 1].out_format

    def __repr__(self):
        dims = " -> ".join([str(self.n_in)] + [str(l.n_out) for l in self.layers])
        return f"<Network {self.input_format} {dims} -> {self.output_format}>"

    def check_inputs(self, x, what="x"):
        """``x`` as an array of input codes of shape (batch, n_in), or a ValueError naming ``what``."""
        arr = np.asarray(x)
        if arr.ndim != 2 or arr.shape[1] != self.n_in:
            raise ValueError(f"{what} must have shape (batch, {self.n_in}), got {arr.shape}")
        try:
            return self.input_format.check_codes(arr)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{what}: {e}") from None

    def __call__(self, x, *, strict=None) -> np.ndarray:
        """Output codes (batch, n_out) for input codes ``x`` (batch, n_in).

        ``strict`` is passed to every product, tree node and exact sum (see
        :func:`~ulpflow.golden.arith.add`): ``False`` gives a format without NaN its substitute
        lane by lane where a NaN arises, as the hardware does."""
        x = self.check_inputs(x)
        B = x.shape[0]
        widest = max(l.n_out for l in self.layers)
        most = max(l.n_out * l.n_in for l in self.layers)
        chunk = max(1, min(B, max(_TARGET_CALL_ELEMENTS // widest, 1), max(_MAX_CHUNK_PRODUCTS // most, 1)))
        sem = Codes(strict=strict)
        if B <= chunk:
            return walk_network(self, x, sem)[-1]
        out = np.empty((B, self.n_out), dtype=self.output_format.dtype)
        for s, e in chunk_rows(B, chunk):
            out[s:e] = walk_network(self, x[s:e], sem)[-1]
        return out

    def trace(self, x, *, strict=None) -> Trace:
        """Evaluate ``x`` keeping every product, every tree node, every sum and every output
        (``strict`` as for calling the network).

        Memory grows with batch × Σ n_out·n_in: trace moderate batches.
        """
        x = self.check_inputs(x)
        sem = Codes(trace=True, strict=strict)
        walk_network(self, x, sem)
        return Trace(network=self, layers=tuple(LayerTrace(**lt) for lt in sem.layers))

    def interval(self, lo, hi):
        """Interval (abstract) evaluation over boxes; see :mod:`ulpflow.golden.interval`.

        Returns a :class:`~ulpflow.golden.interval.Box` ``(lo, hi, top)`` of output codes.
        """
        return network_interval(self, lo, hi)

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> dict:
        """JSON-ready dict (see docs/network-format.md); ``json.dumps`` it to store."""
        return network_to_json(self)

    def dumps(self, **kw) -> str:
        return json.dumps(self.to_json(), **kw)

    @classmethod
    def loads(cls, text: str) -> "Network":
        return cls.from_json(_json_loads(text))

    @classmethod
    def from_json(cls, data) -> "Network":
        """Inverse of :meth:`to_json`.

        Raises
        ------
        ValueError
            One line naming what is wrong and where (``network JSON: layers[1].weights[3][0]:
            bad hex code '0x1g'``); see :mod:`ulpflow.golden.network_json`.
        """
        in_fmt, layers = read_network(data, Layer)
        try:
            return cls(in_fmt, layers)
        except (TypeError, ValueError) as e:
            raise ValueError(f"network JSON: {e}") from None

    def __eq__(self, other):
        if not isinstance(other, Network):
            return NotImplemented
        return self.to_json() == other.to_json()

    __hash__ = None
