"""The network IR: layers of rounded neurons, their golden evaluation, traces and JSON.

A neuron computes ``y = σ̂(reduce(tree, [w_0 ⊗ x_0, …, w_{n-1} ⊗ x_{n-1}, b]))`` (SEMANTICS.md §4):

* each product ``w_i ⊗ x_i`` is one :func:`~ulpflow.golden.mul` of a weight code (``weight_format``)
  and an input code (the previous layer's output format, or the network's input format), rounded
  once to ``product_format`` (default: ``acc_format``);
* the terms and the bias (a code of ``acc_format``) are added in the order of the neuron's
  :class:`~ulpflow.golden.tree.Tree`, each addition rounded once to ``acc_format``; a product
  leaf is read in ``product_format`` and the addition is a single mixed-format rounded add, so
  a product format different from the accumulator never adds a conversion step;
* the activation implementation maps ``acc_format`` codes to the layer's output format.

Weights and biases are always stored as codes. ``Layer(...)`` takes codes (integer arrays);
``Layer.from_values(...)`` takes exact values and refuses any value the format cannot hold,
naming the layer, the position, the value and its two representable neighbours.

Mixed float/fixed products are not defined by the golden core (``mul`` needs both operands of
one kind), so a layer whose weight format and input format differ in kind is rejected when the
network is built; put a converting activation (e.g. identity from a float to a fixed format) in
front of it instead. Likewise ``product_format`` and ``acc_format`` must be of one kind.

The JSON form is documented in ``docs/network-format.md``.
"""

from __future__ import annotations

import dataclasses
import json
import numbers
from fractions import Fraction

import numpy as np

from . import arith
from .formats import FixedFormat, FloatFormat, parse_format
from .rounding import check_rounding
from .tree import Tree, _reduce_columns

__all__ = ["Layer", "Network", "LayerTrace", "Trace", "Divergence", "first_divergence",
           "NETWORK_JSON_FORMAT", "NETWORK_JSON_VERSION"]

NETWORK_JSON_FORMAT = "ulpflow-network"
NETWORK_JSON_VERSION = 1

# Evaluation works on batch chunks: about this many elements per golden call keeps the per-call
# overhead small, and this many products bounds the memory of one chunk.
_TARGET_CALL_ELEMENTS = 1 << 16
_MAX_CHUNK_PRODUCTS = 1 << 22


def _format(f, what):
    if isinstance(f, (FloatFormat, FixedFormat)):
        return f
    if isinstance(f, str):
        return parse_format(f)
    raise TypeError(f"{what} must be a format or a format name, not {f!r}")


def _hex(code: int, fmt) -> str:
    return f"0x{int(code):0{(fmt.bits + 3) // 4}x}"


def _describe(code, fmt) -> str:
    """``0x3f80 (1.0)`` for error messages and divergence reports."""
    return f"{_hex(code, fmt)} ({float(fmt.decode(np.array([int(code)], dtype=fmt.dtype))[0])!r})"


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
    name : str, optional
        Used in error messages and kept in JSON.

    Members
    -------
    n_in, n_out, weights, bias, weight_format, product_format, acc_format, out_format,
    activation, trees (one per neuron), tree (the shared tree or None), rounding, name.
    """

    def __init__(self, weights, bias, *, weight_format, acc_format, product_format=None,
                 activation, tree=None, rounding="RNE", name=None):
        where = f"layer {name!r}" if name is not None else "layer"
        self.name = name
        self.weight_format = _format(weight_format, f"{where}: weight_format")
        self.acc_format = _format(acc_format, f"{where}: acc_format")
        self.product_format = self.acc_format if product_format is None else _format(product_format, f"{where}: product_format")
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
        if tree is None:
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

        Raises
        ------
        ValueError
            If a weight or bias is not representable, naming the layer, the position, the value
            and its two representable neighbours (round down and round up).
        """
        where = f"layer {name!r}" if name is not None else "layer"
        wf = _format(weight_format, f"{where}: weight_format")
        af = _format(acc_format, f"{where}: acc_format")
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
        """The tree shared by every neuron, or None when trees are given per neuron."""
        return self.trees[0] if self._shared else None

    @property
    def shared_tree(self) -> bool:
        return self._shared

    def _groups(self):
        """Neurons grouped by identical tree: [(tree, neuron index array or None = all)]."""
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

    # ------------------------------------------------------------------ evaluation
    def _products(self, x, in_fmt):
        """Products laid out (n_in, batch, n_out), so that every term column is contiguous."""
        return arith.mul(self.weights.T[:, None, :], np.ascontiguousarray(x.T)[:, :, None],
                         (self.weight_format, in_fmt), rounding=self.rounding, out=self.product_format)

    def _evaluate(self, x, in_fmt, keep=False):
        """Evaluate on a (batch, n_in) code array; with ``keep`` also return a LayerTrace."""
        B = x.shape[0]
        prod = self._products(x, in_fmt)
        sums = np.empty((B, self.n_out), dtype=self.acc_format.dtype)
        node_list = [None] * self.n_out if keep else None
        leaf_formats = [self.product_format] * self.n_in + [self.acc_format]
        for tree, idx in self._groups():
            if idx is None:
                cols = list(prod) + [np.broadcast_to(self.bias, (B, self.n_out))]
            else:
                cols = [p[:, idx] for p in prod] + [np.broadcast_to(self.bias[idx], (B, idx.size))]
            root, nodes = _reduce_columns(cols, tree, leaf_formats, self.acc_format, self.rounding, keep)
            if idx is None:
                sums[:] = root
            else:
                sums[:, idx] = root
            if keep:
                ks = range(self.n_out) if idx is None else idx
                for pos, k in enumerate(ks):
                    if nodes:
                        node_list[k] = np.stack([nd[:, pos] for nd in nodes], axis=-1)
                    else:
                        node_list[k] = np.zeros((B, 0), dtype=self.acc_format.dtype)
        out = np.asarray(self.activation(sums)).astype(self.out_format.dtype, copy=False)
        if out.shape != sums.shape:
            out = out.reshape(sums.shape)
        if not keep:
            return out
        return out, LayerTrace(inputs=x, products=np.ascontiguousarray(prod.transpose(1, 2, 0)),
                               nodes=tuple(node_list), sums=sums, outputs=out)

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> dict:
        d = {}
        if self.name is not None:
            d["name"] = self.name
        d.update({
            "n_in": self.n_in,
            "n_out": self.n_out,
            "weight_format": str(self.weight_format),
            "product_format": str(self.product_format),
            "acc_format": str(self.acc_format),
            "output_format": str(self.out_format),
            "rounding": self.rounding,
            "weights": [[_hex(c, self.weight_format) for c in row] for row in self.weights.tolist()],
            "bias": [_hex(c, self.acc_format) for c in self.bias.tolist()],
        })
        if self._shared:
            d["tree"] = self.trees[0].to_json()
        else:
            d["trees"] = [t.to_json() for t in self.trees]
        d["activation"] = self.activation.to_json()
        return d


def _encode_exactly(values, fmt, what, pos_text):
    """Codes of exact values; a value the format does not hold exactly is an error."""
    codes = np.zeros(values.shape, dtype=fmt.dtype)
    for idx in np.ndindex(values.shape):
        v = values[idx]
        if isinstance(v, (np.floating, np.integer)):
            v = v.item()
        if isinstance(v, bool) or not isinstance(v, (numbers.Rational, float)):
            raise TypeError(f"{what}{pos_text(idx)} = {v!r} must be a float, int or Fraction")
        special = isinstance(v, float) and (v != v or v in (float("inf"), float("-inf")))
        try:
            # float64 inputs go through the float path so that -0.0 keeps its sign
            c = int(fmt.encode(np.array([v], dtype=np.float64))[0]) if isinstance(v, float) else int(fmt.encode(v))
        except ValueError as e:
            raise ValueError(f"{what}{pos_text(idx)} = {v!r} is not representable in {fmt}: {e}") from None
        if special:
            ok = fmt.kind == "float" and bool(fmt.is_nan(c) if v != v else
                                              (fmt.is_inf(c) and bool(fmt.sign(c)) == (v < 0)))
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
                             f"representable value is {_describe(lo, fmt)}")
        raise ValueError(f"{what}{pos_text(idx)} = {v!r} is not representable in {fmt}; its neighbours are "
                         f"{_describe(lo, fmt)} and {_describe(hi, fmt)}")
    return codes


class Network:
    """A list of layers with an input format; evaluates batches of input codes bit-exactly.

    Parameters
    ----------
    input_format : format or name
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
        self.input_format = _format(input_format, "input_format")
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
            fmt, n = layer.out_format, layer.n_out
        self.layers = layers

    @property
    def n_in(self) -> int:
        return self.layers[0].n_in

    @property
    def n_out(self) -> int:
        return self.layers[-1].n_out

    @property
    def output_format(self):
        return self.layers[-1].out_format

    def layer_input_format(self, i: int):
        return self.input_format if i == 0 else self.layers[i - 1].out_format

    def __repr__(self):
        dims = " -> ".join([str(self.n_in)] + [str(l.n_out) for l in self.layers])
        return f"<Network {self.input_format} {dims} -> {self.output_format}>"

    def _check_inputs(self, x, what="x"):
        arr = np.asarray(x)
        if arr.ndim != 2 or arr.shape[1] != self.n_in:
            raise ValueError(f"{what} must have shape (batch, {self.n_in}), got {arr.shape}")
        try:
            return self.input_format.check_codes(arr)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{what}: {e}") from None

    def __call__(self, x) -> np.ndarray:
        """Output codes (batch, n_out) for input codes ``x`` (batch, n_in)."""
        x = self._check_inputs(x)
        B = x.shape[0]
        widest = max(l.n_out for l in self.layers)
        most = max(l.n_out * l.n_in for l in self.layers)
        chunk = max(1, min(B, max(_TARGET_CALL_ELEMENTS // widest, 1), max(_MAX_CHUNK_PRODUCTS // most, 1)))
        if B <= chunk:
            return self._forward(x)
        out = np.empty((B, self.n_out), dtype=self.output_format.dtype)
        for s in range(0, B, chunk):
            out[s:s + chunk] = self._forward(x[s:s + chunk])
        return out

    def _forward(self, x):
        fmt = self.input_format
        for layer in self.layers:
            x = layer._evaluate(x, fmt)
            fmt = layer.out_format
        return x

    def trace(self, x) -> "Trace":
        """Evaluate ``x`` keeping every product, every tree node, every sum and every output.

        Memory grows with batch × Σ n_out·n_in: trace moderate batches.
        """
        x = self._check_inputs(x)
        fmt = self.input_format
        layers = []
        for layer in self.layers:
            x, lt = layer._evaluate(x, fmt, keep=True)
            layers.append(lt)
            fmt = layer.out_format
        return Trace(network=self, layers=tuple(layers))

    def interval(self, lo, hi):
        """Interval (abstract) evaluation over boxes; see :mod:`ulpflow.golden.interval`.

        Returns a :class:`~ulpflow.golden.interval.Box` ``(lo, hi, top)`` of output codes.
        """
        from .interval import network_interval

        return network_interval(self, lo, hi)

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> dict:
        """JSON-ready dict (see docs/network-format.md); ``json.dumps`` it to store."""
        return {
            "format": NETWORK_JSON_FORMAT,
            "version": NETWORK_JSON_VERSION,
            "input_format": str(self.input_format),
            "layers": [layer.to_json() for layer in self.layers],
        }

    def dumps(self, **kw) -> str:
        return json.dumps(self.to_json(), **kw)

    @classmethod
    def loads(cls, text: str) -> "Network":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"network JSON: not valid JSON: {e}") from None
        return cls.from_json(data)

    @classmethod
    def from_json(cls, data) -> "Network":
        """Inverse of :meth:`to_json`.

        Raises
        ------
        ValueError
            One line naming what is wrong and where (``network JSON: layers[1].weights[3][0]:
            bad hex code '0x1g'``).
        """
        return _network_from_json(data)

    def __eq__(self, other):
        if not isinstance(other, Network):
            return NotImplemented
        return self.to_json() == other.to_json()

    __hash__ = None


# ---------------------------------------------------------------------- JSON reading
_LAYER_KEYS = {"name", "n_in", "n_out", "weight_format", "product_format", "acc_format", "output_format",
               "rounding", "weights", "bias", "tree", "trees", "activation"}
_LAYER_REQUIRED = ("weight_format", "acc_format", "weights", "bias", "activation")


class _JSONError(ValueError):
    pass


def _fail(where, msg):
    raise _JSONError(f"network JSON: {where}: {msg}")


def _get(d, key, where):
    if key not in d:
        _fail(where, f"missing key {key!r}")
    return d[key]


def _json_format(name, where):
    if not isinstance(name, str):
        _fail(where, f"a format name must be a string, not {name!r}")
    try:
        return parse_format(name)
    except (TypeError, ValueError) as e:
        _fail(where, f"unknown format name {name!r} ({e})")


def _json_code(s, fmt, where):
    if not isinstance(s, str) or not s[:2].lower() == "0x" or len(s) < 3:
        _fail(where, f"expected a hex string like {_hex(0, fmt)!r}, got {s!r}")
    try:
        c = int(s[2:], 16)
    except ValueError:
        _fail(where, f"bad hex code {s!r}")
    if c >= (1 << fmt.bits):
        _fail(where, f"code {s} does not fit the {fmt.bits}-bit format {fmt}")
    try:
        fmt.check_codes(np.array([c]))
    except ValueError as e:
        _fail(where, str(e))
    return c


def _network_from_json(data):
    if not isinstance(data, dict):
        raise ValueError(f"network JSON: expected an object at the top level, not {type(data).__name__}")
    top_keys = {"format", "version", "input_format", "layers"}
    extra = sorted(set(data) - top_keys)
    if extra:
        _fail("top level", f"unknown key {extra[0]!r} (expected {sorted(top_keys)})")
    tag = _get(data, "format", "top level")
    if tag != NETWORK_JSON_FORMAT:
        _fail("format", f"expected {NETWORK_JSON_FORMAT!r}, got {tag!r}")
    version = _get(data, "version", "top level")
    if version != NETWORK_JSON_VERSION:
        _fail("version", f"this reader understands version {NETWORK_JSON_VERSION}, got {version!r}")
    in_fmt = _json_format(_get(data, "input_format", "top level"), "input_format")
    layers_data = _get(data, "layers", "top level")
    if not isinstance(layers_data, list) or not layers_data:
        _fail("layers", "expected a non-empty list of layer objects")
    layers = []
    n_prev = None
    for i, ld in enumerate(layers_data):
        where = f"layers[{i}]"
        layers.append(_layer_from_json(ld, where, n_prev))
        n_prev = layers[-1].n_out
    try:
        return Network(in_fmt, layers)
    except (TypeError, ValueError) as e:
        raise ValueError(f"network JSON: {e}") from None


def _layer_from_json(ld, where, n_prev):
    if not isinstance(ld, dict):
        _fail(where, f"expected a layer object, not {type(ld).__name__}")
    extra = sorted(set(ld) - _LAYER_KEYS)
    if extra:
        _fail(where, f"unknown key {extra[0]!r}")
    for key in _LAYER_REQUIRED:
        _get(ld, key, where)
    wf = _json_format(ld["weight_format"], f"{where}.weight_format")
    af = _json_format(ld["acc_format"], f"{where}.acc_format")
    pf = _json_format(ld["product_format"], f"{where}.product_format") if "product_format" in ld else af
    rounding = ld.get("rounding", "RNE")
    try:
        rounding = check_rounding(rounding)
    except ValueError as e:
        _fail(f"{where}.rounding", str(e))
    W = ld["weights"]
    if not isinstance(W, list) or not W or not all(isinstance(r, list) for r in W):
        _fail(f"{where}.weights", "expected a non-empty list of rows (n_out lists of n_in hex codes)")
    n_out, n_in = len(W), len(W[0])
    for r, row in enumerate(W):
        if len(row) != n_in:
            _fail(f"{where}.weights", f"row {r} has {len(row)} codes but row 0 has {n_in} (shape must be n_out × n_in)")
    if n_in == 0:
        _fail(f"{where}.weights", "rows must not be empty")
    if n_prev is not None and n_in != n_prev:
        _fail(f"{where}.weights", f"rows have {n_in} codes but the previous layer has {n_prev} outputs")
    if "n_in" in ld and ld["n_in"] != n_in:
        _fail(f"{where}.n_in", f"says {ld['n_in']!r} but the weight rows have {n_in} codes")
    if "n_out" in ld and ld["n_out"] != n_out:
        _fail(f"{where}.n_out", f"says {ld['n_out']!r} but there are {n_out} weight rows")
    wc = np.array([[_json_code(s, wf, f"{where}.weights[{r}][{c}]") for c, s in enumerate(row)]
                   for r, row in enumerate(W)], dtype=np.int64)
    B = ld["bias"]
    if not isinstance(B, list) or len(B) != n_out:
        _fail(f"{where}.bias", f"expected a list of {n_out} hex codes (one per neuron), got "
              f"{len(B) if isinstance(B, list) else type(B).__name__}")
    bc = np.array([_json_code(s, af, f"{where}.bias[{k}]") for k, s in enumerate(B)], dtype=np.int64)
    if ("tree" in ld) and ("trees" in ld):
        _fail(where, "give either 'tree' (shared) or 'trees' (one per neuron), not both")
    try:
        if "tree" in ld:
            tree = Tree.from_json(ld["tree"], n_terms=n_in + 1, where=f"network JSON: {where}.tree")
        elif "trees" in ld:
            ts = ld["trees"]
            if not isinstance(ts, list) or len(ts) != n_out:
                _fail(f"{where}.trees", f"expected a list of {n_out} trees (one per neuron)")
            tree = [Tree.from_json(t, n_terms=n_in + 1, where=f"network JSON: {where}.trees[{k}]")
                    for k, t in enumerate(ts)]
        else:
            tree = None
    except _JSONError:
        raise
    except ValueError as e:
        raise ValueError(str(e)) from None
    act = _activation_from_json(ld["activation"], f"{where}.activation")
    if "output_format" in ld:
        of = _json_format(ld["output_format"], f"{where}.output_format")
        if of != act.out_format:
            _fail(f"{where}.output_format", f"says {of} but the activation produces {act.out_format}")
    try:
        return Layer(wc, bc, weight_format=wf, acc_format=af, product_format=pf, activation=act,
                     tree=tree, rounding=rounding, name=ld.get("name"))
    except (TypeError, ValueError) as e:
        _fail(where, str(e))


def _activation_from_json(d, where):
    try:
        from .activations import activation_from_json
    except ImportError as e:  # the activations module is a separate component
        _fail(where, f"cannot load activations: {e}")
    if not isinstance(d, dict):
        _fail(where, f"expected an activation object, not {type(d).__name__}")
    try:
        return activation_from_json(d)
    except (KeyError, TypeError, ValueError) as e:
        msg = f"missing key {e}" if isinstance(e, KeyError) else str(e)
        _fail(where, msg)


# ---------------------------------------------------------------------- traces
@dataclasses.dataclass(frozen=True)
class LayerTrace:
    """Every intermediate value of one layer for a batch (any field may be None when a source,
    e.g. a hardware run, does not observe it).

    Members
    -------
    inputs : (batch, n_in) codes of the layer's input format
    products : (batch, n_out, n_in) codes of the product format
    nodes : tuple over neurons of (batch, tree.n_nodes) codes of the accumulator format;
        ``nodes[k][:, j]`` is internal node ``j`` of neuron ``k``'s tree
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

    network: Network
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
        return (f"{where}, batch row {self.row}: {_describe(self.code_a, self.format)} vs "
                f"{_describe(self.code_b, self.format)}")


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
                                  f"w={_describe(w, layer.weight_format)}")
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
                _, left, right = layer.trees[k].internal_nodes()[j]
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
