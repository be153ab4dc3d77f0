"""Network hardware: the layers of a golden :class:`~ulpflow.golden.network.Network` as Amaranth.

A layer's neuron computes ``σ̂(reduce(tree, [w_0 ⊗ x_0, …, w_{n-1} ⊗ x_{n-1}, b]))``
(docs/network-format.md): products rounded once to the product format, each tree node one
rounded addition into the accumulator format (a product leaf is read in the product format,
so a mixed-format node is one adder with mixed operands, as golden adds it), then the
activation implementation. Two forms realise that exactly:

* :class:`SpatialLayer` — per neuron one multiplier per input (the weight a constant), one
  adder per tree node in the neuron's own tree (:func:`~ulpflow.hdl.tree.build_tree`), the
  activation unit; optionally pipelined (``mul_latency``, ``level_latency`` per tree level,
  ``act_latency``) so one input vector enters every cycle. Zero weights cost neither a
  multiplier nor an adder where eliding them is exact (:func:`sparse_eligible`): a constructed
  network of mostly zero weights unrolls to the size of its nonzero weights.
* :class:`FoldedLayer` — weights and biases in memories, one multiplier, and a **tree engine**:
  one adder per operand-format pairing (one adder when the product and accumulator formats
  agree) executing the internal nodes of each neuron's tree from a schedule over a small
  register file (:mod:`ulpflow.hdl.schedule`, Sethi–Ullman allocation), neurons one after
  another. Every binary tree is honoured; a sequential tree is a plain multiply-accumulate.

:class:`NetworkTop` chains the layers with ``amaranth.lib.stream`` handshakes (payload, valid,
ready) and respects back-pressure; its :meth:`~NetworkTop.emulate` is the golden network.

A layer of **fused** trees (``Tree.fused(n_in + 1, spec, block=L)``, a GPU matrix unit's
truncated blocks) becomes one :class:`~ulpflow.hdl.fused.FusedDotProduct` per neuron (spatial)
or one for the whole layer, a neuron per cycle (folded). Not (yet) in hardware: layers that
accumulate exactly (``accumulate="exact"``, a Kulisch sum), refused with an error naming the
layer.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Array, Cat, Const, EnableInserter, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory

from ulpflow.golden.network import Layer, Network
from ulpflow.golden.rounding import ROUNDING_MODES
from ulpflow.golden.tree import Tree

from ._common import check_latency, checked_init, delay, unpack_float, valid_chain
from .activations import ActivationUnit, TableActivation
from .fixed_unit import FixedAdder, FixedMultiplier
from .library import CellLibrary
from .float_unit import FloatAdder, FloatMultiplier
from .schedule import ACC, PRODUCT, tree_schedule
from .signature import UnitSignature, chain

__all__ = ["SpatialLayer", "FoldedLayer", "NetworkTop", "FORMS", "Fault", "apply_faults", "sparse_eligible", "sparse_depth"]

#: The hardware forms of a network.
FORMS = ("spatial", "folded")


def _where(index, layer):
    return f"layer {index}" + (f" ({layer.name!r})" if layer.name is not None else "")


def check_layer(layer, index=0):
    """Raise ``ValueError`` if ``layer`` has no hardware form; return the products per fused
    block of a fused layer (None for a layer of binary trees).

    A fused layer needs every neuron's tree to be ``Tree.fused(n_in + 1, spec, block=L)`` with
    one spec and one ``L`` (the blocks a :class:`~ulpflow.hdl.fused.FusedDotProduct` chains).
    """
    if not isinstance(layer, Layer):
        raise TypeError(f"{_where(index, layer)} must be a golden Layer, not {layer!r}")
    if layer.exact:
        raise ValueError(f"{_where(index, layer)} accumulates exactly (accumulate='exact'); "
                         "the network generators build tree reductions only")
    fused = [t.kind == "fused" for t in layer.trees]
    if not any(fused):
        return None
    if not all(fused):
        raise ValueError(f"{_where(index, layer)} mixes fused and binary trees; the network generators "
                         "take one kind per layer")
    first = layer.trees[0]
    block = len(first.fused_nodes()[0][1]) - 1
    want = Tree.fused(layer.n_in + 1, first.fused_spec, block=max(block, 1))
    for k, t in enumerate(layer.trees):
        if t != want:
            raise ValueError(f"{_where(index, layer)}: the fused tree of neuron {k} is not "
                             f"Tree.fused({layer.n_in + 1}, spec, block={block}) (the blocks of a "
                             "FusedDotProduct, the bias the first block's addend)")
    return max(block, 1)


def _multiplier(wf, xf, pf, rounding, latency):
    cls = FloatMultiplier if wf.kind == "float" else FixedMultiplier
    fmt = wf if wf == xf else (wf, xf)
    return cls(fmt, rounding=rounding, out=pf, latency=latency)


def _place(m, name, key, make, inputs, width, place=None):
    """A unit in ``m``: through ``place`` (a cell library's hook) if given, else as a plain
    submodule; ``inputs`` maps payload fields to values or constant ints. Returns the result."""
    if place is not None:
        return place(m, name, key, make, inputs, width)
    unit = make()
    m.submodules[name] = unit
    m.d.comb += [getattr(unit.i.payload, k).eq(v) for k, v in inputs.items()]
    return unit.o.payload.result


def _adder(fa, fb, out, rounding, latency=0):
    cls = FloatAdder if fa.kind == "float" else FixedAdder
    fmt = fa if fa == fb else (fa, fb)
    return cls(fmt, rounding=rounding, out=out, latency=latency)


# ---------------------------------------------------------------------------------------------
# Faults (for the first-divergence tests): the hardware is generated from a corrupted copy.
class Fault:
    """A deliberate hardware fault, for testing that a comparison catches it.

    ``Fault.weight(layer, neuron, input, code)`` — one wrong weight code;
    ``Fault.swap(layer, neuron, leaf_a, leaf_b)`` — two leaves of a neuron's tree exchanged
    (a different order of additions); ``Fault.table(layer, code, value)`` — one wrong entry
    (input ``code`` gives ``value``) of the layer's activation table.
    """

    def __init__(self, kind, layer, *args):
        self.kind, self.layer, self.args = kind, int(layer), tuple(int(a) for a in args)

    @classmethod
    def weight(cls, layer, neuron, input, code):
        return cls("weight", layer, neuron, input, code)

    @classmethod
    def swap(cls, layer, neuron, leaf_a, leaf_b):
        return cls("swap", layer, neuron, leaf_a, leaf_b)

    @classmethod
    def table(cls, layer, code, value):
        return cls("table", layer, code, value)

    def __repr__(self):
        return f"Fault.{self.kind}({self.layer}, {', '.join(map(str, self.args))})"

    def restricted(self, layer, neuron=None):
        """This fault in a network made of layer ``layer`` alone (or of its one neuron
        ``neuron``), where that layer (neuron) has index 0; None where the fault is elsewhere."""
        if self.layer != layer:
            return None
        if neuron is None or self.kind == "table":
            return Fault(self.kind, 0, *self.args)
        if self.args[0] != neuron:
            return None
        return Fault(self.kind, 0, 0, *self.args[1:])


def _swap_tree(tree, a, b):
    """``tree`` with leaves ``a`` and ``b`` exchanged (built bottom-up: no recursion, however
    deep the tree)."""
    built = {}

    def nested(ref):
        if ref[0] == "leaf":
            return b if ref[1] == a else (a if ref[1] == b else ref[1])
        if ref[0] == "zero":
            return "zero"
        return built[ref[1]]

    for j, left, right in tree.internal_nodes():  # children before parents
        built[j] = (nested(left), nested(right))
    return Tree.from_nested(nested(tree.root), tree.n_terms)


def apply_faults(layer, faults, index):
    """``(layer, table_patch)``: the layer as the faulty hardware realises it, and the patched
    activation table entries ``{code: value}`` (empty without a table fault)."""
    patch = {}
    mine = [f for f in faults if f.layer == index]
    if not mine:
        return layer, patch
    weights = np.array(layer.weights, copy=True)
    trees = list(layer.trees)
    for f in mine:
        if f.kind == "weight":
            k, j, code = f.args
            weights[k, j] = code
        elif f.kind == "swap":
            k, a, b = f.args
            trees[k] = _swap_tree(trees[k], a, b)
        elif f.kind == "table":
            patch[f.args[0]] = f.args[1]
        else:
            raise ValueError(f"unknown fault {f!r}")
    faulty = Layer(weights, layer.bias, weight_format=layer.weight_format,
                   acc_format=layer.acc_format, product_format=layer.product_format,
                   activation=layer.activation, tree=trees, rounding=layer.rounding,
                   name=layer.name)
    return faulty, patch


def _activation_unit(impl, latency, patch):
    if not patch:
        return ActivationUnit.from_activation(impl, latency=latency)
    unit = TableActivation(impl, latency=latency)
    for code, value in patch.items():
        unit.table[code] = value
    return unit


# ---------------------------------------------------------------------------------------------
# Zero weights in the spatial form. A product of a zero weight is a signed zero (NaN when the
# input is NaN or infinite), and adding a signed zero to a value v of the same format is exact:
# the result is v itself, except that a zero v takes the sign rule of exact zero sums (−0 only
# if both are −0; under RDN −0 if either is) and any NaN makes the sum NaN. So such leaves need
# neither a multiplier nor an adder: the tree over the other leaves, plus a sign fix-up and a
# NaN flag where the zero leaves join it, computes golden's sum bit for bit.
def sparse_eligible(layer, in_format) -> bool:
    """True when :class:`SpatialLayer` may elide the products of zero weights of ``layer``.

    Needs products read in the accumulator format (``product_format == acc_format``: a product
    leaf joining a zero is then not converted), gradual underflow (flush-to-zero would flush a
    subnormal bias added to zero), finite biases, and matching kinds of input and product
    formats (fixed point: every zero product is the code 0 and adding it is the identity).
    """
    pf, af = layer.product_format, layer.acc_format
    if layer.exact or pf != af or in_format.kind != af.kind or layer.weight_format.kind != af.kind:
        return False
    if layer.rounding not in ROUNDING_MODES:  # the zero-sum sign rule is IEEE's, per mode
        return False
    if af.kind == "float" and not (af.subnormals and in_format.subnormals):
        return False
    return bool(np.all(af.is_finite(np.asarray(layer.bias))))


def _zero_codes(fmt):
    """``(+0, -0)`` codes of a float format (``-0`` is None where the format has no −0)."""
    neg = None if fmt.specials == "fnuz" else fmt.zero_code | (1 << (fmt.bits - 1))
    return fmt.zero_code, neg


def _zero_value(sign, nan, fmt):
    """The code of a zero leaf or zero sum in ``fmt``: NaN if ``nan``, else −0 if ``sign``
    (+0 where the format has no −0); +0 in fixed point."""
    if fmt.kind != "float":
        return Const(fmt.zero_code, fmt.bits)
    zero, neg = _zero_codes(fmt)
    return Mux(nan, fmt.nan_result_code, Mux(sign, zero if neg is None else neg, zero))


class _ZeroLeaves:
    """What the zero-weight products of one input ``j`` contribute: per input, its sign bit and
    whether it is NaN or infinite, delayed to the products' time (shared by every neuron)."""

    def __init__(self, m, x, in_format, pf, delay_cycles):
        self.float = pf.kind == "float"
        self.pf = pf
        self._m, self._x, self._fmt, self._delay = m, x, in_format, delay_cycles
        self._bits = {}

    def bits(self, j):
        """``(sign, nonfinite)`` of input ``j`` at the products' time (constants for fixed)."""
        if not self.float:
            return Const(0, 1), Const(0, 1)
        if j not in self._bits:
            u = unpack_float(self._m, self._x[j], self._fmt, name=f"zx{j}")
            sign = delay(self._m, u.sign, self._delay, name=f"zx{j}_s")
            bad = delay(self._m, u.nan | u.inf, self._delay, name=f"zx{j}_nf")
            self._bits[j] = (sign, bad)
        return self._bits[j]

    def inverted(self, j):
        """The inverted sign bit of input ``j`` (one signal per input, shared)."""
        key = ("not", j)
        if key not in self._bits:
            inv = Signal(name=f"zx{j}_ns")
            self._m.d.comb += inv.eq(~self.bits(j)[0])
            self._bits[key] = inv
        return self._bits[key]

    def leaf(self, j, weight_code, wf):
        """``(sign, nan)`` of the product ``w_j ⊗ x_j`` for a zero weight ``w_j``."""
        if not self.float:
            return Const(0, 1), Const(0, 1)
        sign, bad = self.bits(j)
        w_neg = bool(int(weight_code) >> (wf.bits - 1) & 1) if _zero_codes(wf)[1] is not None else False
        s = self.inverted(j) if w_neg else sign
        if _zero_codes(self.pf)[1] is None:  # no −0 in the product format
            s = Const(0, 1)
        if not self.pf.has_nan:  # a NaN product is +0 there
            return s & ~bad, Const(0, 1)
        return s, bad


def sparse_depth(tree, dense) -> int:
    """Adder levels of ``tree`` once its zero leaves are elided: ``dense[i]`` says whether leaf
    ``i`` is a nonzero product or bias. A node adds in hardware only when both its subtrees hold
    a dense leaf; adding zeros to a value is a fix-up within the same level."""
    level = {}

    def of(ref):
        kind, idx = ref
        if kind == "node":
            return level[idx]
        return 0 if kind == "leaf" and dense[idx] else None

    for j, left, right in tree.internal_nodes():
        a, b = of(left), of(right)
        level[j] = (max(a, b) + 1) if a is not None and b is not None else (a if b is None else b)
    return of(tree.root) or 0


def _sparse_tree(m, tree, leaves, out, *, rounding, level_latency, prefix, want_nodes, mutate=None,
                 place=None):
    """:func:`~ulpflow.hdl.tree.build_tree` for a tree some of whose leaves are zero products.

    ``leaves[i]`` is ``("dense", value, fmt)`` (valid at time 0) or ``("zero", sign, nan)`` (bits
    valid at time 0). Adders only for nodes whose both subtrees hold a dense leaf; the zero leaves
    under a node are carried as lists and applied as one fix-up (an AND/OR of their sign bits, an
    OR of their NaN bits) where their dense partner is next used. Returns ``(root, nodes)`` as
    ``build_tree`` does, except that the root is valid at ``sparse_depth(tree, dense) * L``:
    an adder starts when both its operands are ready (``nodes`` only with ``want_nodes``; a node
    whose subtree has no dense leaf is valid at time 0, a node adding zeros to a dense value at
    that value's time).
    """
    L = level_latency
    signed_zero = out.kind == "float"
    any_sign = (rounding == "RDN") != (mutate == "sign")  # exact zero sums: −0 iff both are −0 (RDN: either)
    zero, neg_zero = _zero_codes(out) if signed_zero else (out.zero_code, None)
    nan = out.nan_result_code if signed_zero else None
    count = [0]

    def name(what):
        count[0] += 1
        return f"{prefix}{what}{count[0]}"

    def aggregate(signs, nans, at):
        """The sign and NaN bits of a list of zero leaves, delayed to ``at``."""
        s = Cat(*signs).any() if any_sign else Cat(*signs).all()
        n = Const(0, 1) if mutate == "nan" else Cat(*nans).any()
        sig_s, sig_n = Signal(name=name("zs")), Signal(name=name("zn"))
        m.d.comb += [sig_s.eq(s), sig_n.eq(n)]
        return delay(m, sig_s, at, name=sig_s.name + "_"), delay(m, sig_n, at, name=sig_n.name + "_")

    def value(info, need):
        """Materialise ``info`` as a code of ``out`` valid at ``need`` (its own time if None);
        returns ``(signal, fmt, time)``."""
        if info[0] == "zero":
            _, signs, nans = info
            if not signed_zero:
                v = _zero_value(None, None, out)
            else:
                v = Signal(out.bits, name=name("z"))
                m.d.comb += v.eq(_zero_value(*aggregate(signs, nans, 0), out))
            fmt, t = out, 0
        else:
            _, base, fmt, t, signs, nans = info
            v = base
            if signs and signed_zero:
                s, n = aggregate(signs, nans, t)
                fixed = Signal(out.bits, name=name("fix"))
                neg = zero if neg_zero is None else neg_zero
                is_neg = (base == neg) if neg_zero is not None else Const(0, 1)
                is_zero = (base == zero) | is_neg
                both = (is_neg | s) if any_sign else (is_neg & s)
                m.d.comb += fixed.eq(Mux(n, nan, Mux(is_zero, Mux(both, neg, zero), base)))
                v, fmt = fixed, out
        if need is None:
            return v, fmt, t
        return delay(m, v, need - t, name=name("bal") + "_"), fmt, need

    infos = {}

    def info_of(ref):
        kind, idx = ref
        if kind == "node":
            return infos[idx]
        if kind == "zero":  # the zero leaf: +0 of the accumulator format
            return ("zero", [Const(0, 1)], [Const(0, 1)])
        leaf = leaves[idx]
        if leaf[0] == "zero":
            return ("zero", [leaf[1]], [leaf[2]])
        return ("dense", leaf[1], leaf[2], 0, [], [])

    nodes = {}
    for j, left, right in tree.internal_nodes():
        a, b = info_of(left), info_of(right)
        if a[0] == "zero" and b[0] == "zero":
            info = ("zero", a[1] + b[1], a[2] + b[2])
        elif a[0] == "zero" or b[0] == "zero":
            d, z = (a, b) if b[0] == "zero" else (b, a)
            info = ("dense", d[1], d[2], d[3], d[4] + z[1], d[5] + z[2])
        else:
            start = max(a[3], b[3])
            va, fa, _ = value(a, start)
            vb, fb, _ = value(b, start)
            res = Signal(out.bits, name=f"{prefix}node{j}")
            m.d.comb += res.eq(_place(m, f"{prefix}node{j}", ("add", fa, fb, out, rounding, L),
                                      lambda fa=fa, fb=fb: _adder(fa, fb, out, rounding, L),
                                      {"a": va, "b": vb}, out.bits, place))
            info = ("dense", res, out, start + L, [], [])
        infos[j] = info
        if want_nodes:
            v, _f, t = value(info, None)
            nodes[j] = (v, t)
    dense = [leaf[0] == "dense" for leaf in leaves]
    root, _fmt, _t = value(info_of(tree.root), sparse_depth(tree, dense) * L)
    return root, nodes


# ---------------------------------------------------------------------------------------------
class SpatialLayer(wiring.Component):
    """One layer unrolled: ``n_out × n_in`` multipliers, one adder per tree node, activations.

    Parameters
    ----------
    layer : golden Layer
    in_format : format
        The format of the layer's inputs (the previous layer's output format).
    mul_latency, level_latency, act_latency : int
        Registers of every multiplier, of every adder (per tree level: neurons with shallower
        trees are delayed to the deepest) and of the activation unit. ``latency`` is
        ``mul_latency + depth * level_latency + act_latency`` (``depth``: the deepest tree, in
        adder levels once zero weights are elided); one vector enters every cycle.
    probe : bool
        Also output every product (field ``p``: ``p__{k * n_in + j}``), every tree node
        (``n``: the nodes of neuron 0, then neuron 1, … in ``internal_nodes`` order) and every
        sum (``s``) beside ``y``, aligned with it: what the first-divergence report compares
        with ``net.trace()``.
    sparse : bool
        Elide the products of zero weights where that is exact (:func:`sparse_eligible`; the
        default): no multiplier and no adder for them, only a sign fix-up and a NaN flag where
        they join the sum. The attribute ``sparse`` says whether it applies to this layer.

    Members
    -------
    i : In(stream)
        Payload field ``x``: ``n_in`` codes of ``in_format``.
    o : Out(stream)
        Payload field ``y``: ``n_out`` codes of the activation's output format. Always ready.
    """

    @checked_init
    def __init__(self, layer, in_format, *, mul_latency=0, level_latency=0, act_latency=0,
                 probe=False, sparse=True, library=None, _table_patch=None, _mutate_sparse=None):
        self.block = check_layer(layer)
        self.layer = layer
        self.in_format = in_format
        self.out_format = layer.out_format
        self.mul_latency = check_latency(mul_latency)
        self.level_latency = check_latency(level_latency)
        self.act_latency = check_latency(act_latency)
        self.probe = bool(probe)
        zero_weights = self.block is None and bool(np.any(layer.weight_format.is_zero(np.asarray(layer.weights))))
        self.sparse = bool(sparse) and zero_weights and sparse_eligible(layer, in_format)
        if self.sparse:
            self._depths = [sparse_depth(t, self._dense(k)) for k, t in enumerate(layer.trees)]
        else:
            self._depths = [t.depth for t in layer.trees]
        self.depth = max(self._depths)
        self.latency = self.mul_latency + self.depth * self.level_latency + self.act_latency
        self._patch = dict(_table_patch or {})
        if _mutate_sparse not in (None, "sign", "nan"):
            raise ValueError(f"_mutate_sparse must be None, 'sign' or 'nan', not {_mutate_sparse!r}")
        self._mutate_sparse = _mutate_sparse
        self.library = library
        #: Stalls the cells' registers (the layer's own registers stall by the enclosing
        #: EnableInserter); undriven it is 1.
        self.enable = Signal(name="enable", init=1)
        outputs = {"y": (self.out_format, layer.n_out)}
        if self.probe:
            if self.block is None:  # a fused block's products and partial sums stay inside it
                outputs |= {"p": (layer.product_format, layer.n_out * layer.n_in),
                            "n": (layer.acc_format, sum(t.n_nodes for t in layer.trees))}
            outputs |= {"s": (layer.acc_format, layer.n_out)}
        super().__init__(UnitSignature({"x": (in_format, layer.n_in)}, outputs))

    def _dense(self, k):
        """Which leaves of neuron ``k`` (inputs, then the bias) are nonzero."""
        layer = self.layer
        terms = np.append(np.asarray(layer.weights[k]), layer.bias[k])
        formats = [layer.weight_format] * layer.n_in + [layer.acc_format]
        return [not f.is_zero(int(c)) for f, c in zip(formats, terms)]

    def __repr__(self):
        return (f"SpatialLayer({self.layer!r}, mul_latency={self.mul_latency}, "
                f"level_latency={self.level_latency}, act_latency={self.act_latency})")

    def emulate(self, **inputs):
        """``{"y": ...}``: the golden layer on ``x__0 … x__{n_in-1}`` (with ``probe`` also the
        products, nodes and sums of its trace)."""
        return _emulate_layer(self, inputs)

    def _fused_neuron(self, m, k, x, t_sum):
        """Neuron ``k`` of a fused layer: one FusedDotProduct (weights and bias constants)."""
        layer = self.layer
        unit = _fused_unit(layer, self.in_format, self.block, t_sum)
        m.submodules[f"n{k}_fused"] = unit
        m.d.comb += [unit.i.payload.c.eq(int(layer.bias[k]))]
        for j in range(layer.n_in):
            m.d.comb += [unit.i.payload.a[j].eq(int(layer.weights[k, j])), unit.i.payload.b[j].eq(x[j])]
        total = Signal(layer.acc_format.bits, name=f"n{k}_sum")
        m.d.comb += total.eq(unit.o.payload.d)
        if self.probe:
            m.d.comb += self.o.payload.s[k].eq(delay(m, total, self.latency - t_sum, name=f"n{k}_ps_"))
        return total

    def elaborate(self, platform):
        from .tree import build_tree  # noqa: PLC0415 - tree imports nothing of this module

        m = Module()
        layer, ML, LL = self.layer, self.mul_latency, self.level_latency
        x = self.i.payload.x
        pf, af = layer.product_format, layer.acc_format
        t_sum = ML + self.depth * LL
        zeros = _ZeroLeaves(m, x, self.in_format, pf, ML) if self.sparse else None
        place = None
        if self.library is not None:
            def place(m, name, key, make, inputs, width):
                return self.library.instance(m, name, key, make, inputs, width, enable=self.enable)
        act_in = []
        node_index = 0
        for k, tree in enumerate(layer.trees):
            if self.block is not None:
                act_in.append(self._fused_neuron(m, k, x, t_sum))
                continue
            leaves = []
            for j in range(layer.n_in):
                w = int(layer.weights[k, j])
                if self.sparse and layer.weight_format.is_zero(w):
                    sign, nan = zeros.leaf(j, w, layer.weight_format)
                    leaves.append(("zero", sign, nan))
                    if self.probe:
                        prod = Signal(pf.bits, name=f"n{k}_p{j}")
                        m.d.comb += prod.eq(_zero_value(sign, nan, pf))
                        m.d.comb += self.o.payload.p[k * layer.n_in + j].eq(
                            delay(m, prod, self.latency - ML, name=f"n{k}_pp{j}_"))
                    continue
                wf, xf = layer.weight_format, self.in_format
                prod = Signal(pf.bits, name=f"n{k}_p{j}")
                m.d.comb += prod.eq(_place(
                    m, f"n{k}_mul{j}", ("mul", wf, xf, pf, layer.rounding, ML, w),
                    lambda: _multiplier(wf, xf, pf, layer.rounding, ML), {"a": w, "b": x[j]}, pf.bits, place))
                leaves.append(("dense", prod, pf) if self.sparse else (prod, pf))
                if self.probe:
                    m.d.comb += self.o.payload.p[k * layer.n_in + j].eq(
                        delay(m, prod, self.latency - ML, name=f"n{k}_pp{j}_"))
            b = int(layer.bias[k])
            # build_tree counts time from the products' arrival: delay its output, not inputs.
            # A neuron of its own module has every signal it reads as a port (hundreds, for a
            # neuron of a wide sparse layer); with cells or elided zeros it is built in place.
            sub = m if (self.sparse or place is not None) else Module()
            if self.sparse:
                if af.is_zero(b):
                    neg = af.kind == "float" and _zero_codes(af)[1] == b
                    leaves.append(("zero", Const(int(neg), 1), Const(0, 1)))
                else:
                    leaves.append(("dense", Const(b, af.bits), af))
                root, nodes = _sparse_tree(sub, tree, leaves, af, rounding=layer.rounding,
                                           level_latency=LL, prefix=f"n{k}_", want_nodes=self.probe,
                                           mutate=self._mutate_sparse, place=place)
            else:
                leaves.append((Const(b, af.bits), af))
                root, nodes = build_tree(sub, tree, leaves, af, rounding=layer.rounding,
                                         level_latency=LL, prefix=f"n{k}_", place=place)
            if sub is not m:
                m.submodules[f"neuron{k}"] = sub
            total = delay(m, root, (self.depth - self._depths[k]) * LL, name=f"n{k}_bal_")
            act_in.append(total)
            if self.probe:
                for j, _left, _right in tree.internal_nodes():
                    sig, t = nodes[j]
                    m.d.comb += self.o.payload.n[node_index].eq(
                        delay(m, sig, self.latency - ML - t, name=f"n{k}_pn{j}_"))
                    node_index += 1
                m.d.comb += self.o.payload.s[k].eq(
                    delay(m, total, self.latency - t_sum, name=f"n{k}_ps_"))
        act_key = ("act", id(layer.activation), self.act_latency, tuple(sorted(self._patch.items())))
        for k, value in enumerate(act_in):
            m.d.comb += self.o.payload.y[k].eq(_place(
                m, f"act{k}", act_key, lambda: _activation_unit(layer.activation, self.act_latency, self._patch),
                {"a": value}, self.out_format.bits, place))
        valid_chain(m, self.i.valid, self.o.valid, self.latency)
        return m


def _fused_unit(layer, in_format, block, latency):
    from .fused import FusedDotProduct  # noqa: PLC0415

    return FusedDotProduct(layer.trees[0].fused_spec, layer.n_in, latency, a_format=layer.weight_format,
                           b_format=in_format, block=block)


def _emulate_layer(unit, inputs):
    v = unit.signature.cast_inputs(inputs, repr(unit))
    layer = unit.layer
    x = np.stack([v[f"x__{j}"] for j in range(layer.n_in)], axis=-1).reshape(-1, layer.n_in)
    shape = np.shape(v["x__0"])
    tr = Network(unit.in_format, [layer]).trace(x, strict=False).layers[0]
    out = {f"y__{k}": tr.outputs[:, k].reshape(shape) for k in range(layer.n_out)}
    if getattr(unit, "probe", False) and unit.block is None:
        for k in range(layer.n_out):
            for j in range(layer.n_in):
                out[f"p__{k * layer.n_in + j}"] = tr.products[:, k, j].reshape(shape)
        at = 0
        for k in range(layer.n_out):
            for j in range(tr.nodes[k].shape[1]):
                out[f"n__{at}"] = tr.nodes[k][:, j].reshape(shape)
                at += 1
    if getattr(unit, "probe", False):
        for k in range(layer.n_out):
            out[f"s__{k}"] = tr.sums[:, k].reshape(shape)
    return out


# ---------------------------------------------------------------------------------------------
class _Rom:
    """Fields packed into one integer per schedule step."""

    def __init__(self, widths):
        self.offsets, at = {}, 0
        for name, w in widths.items():
            self.offsets[name] = (at, max(1, w))
            at += max(1, w)
        self.width = at

    def pack(self, **values):
        word = 0
        for name, v in values.items():
            at, w = self.offsets[name]
            assert 0 <= v < (1 << w), (name, v, w)
            word |= int(v) << at
        return word

    def field(self, data, name):
        at, w = self.offsets[name]
        return data[at:at + w]


_SRC = {"mul": 0, "reg": 1, "bias": 2, "zero": 3}

#: How a folded layer stores its weights (:attr:`FoldedLayer.weight_store`).
WEIGHT_STORES = ("dense", "sparse")


class FoldedLayer(wiring.Component):
    """One layer folded onto one multiplier and a tree engine.

    The weights (``n_out × n_in`` codes) and biases live in memories; each neuron's tree runs as
    a schedule (:func:`~ulpflow.hdl.schedule.tree_schedule`) of one step per cycle over a
    register file of ``registers`` entries (the largest Sethi–Ullman number of the layer's
    trees). A step loads a product or adds two operands (a product computed in the same cycle,
    a register, the bias or +0); the root's step feeds the layer's one activation unit, whose
    result is shifted into the output registers. Neurons run one after another: a vector takes
    ``cycles_per_vector`` cycles.

    The schedule memory (``programs``) holds each *distinct* schedule once (one when every
    neuron has the same tree, as the constructions build them) and a neuron counter walks the
    neurons, so its size does not grow with ``n_out``. The weight a step multiplies by is
    indexed by the step's number in the vector's run of steps (0 … ``n_steps - 1``), in one
    of two stores (``weight_store``, the smaller of the two in bits):

    * ``"dense"`` — a memory with one weight per step;
    * ``"sparse"`` — the layer's most frequent weight code (``default_weight``) everywhere,
      except at the steps of a list of ``(step, code)`` pairs in step order, read through a
      pointer that advances when its entry's step comes. Exact for any weights; small for the
      constructions' networks, whose weights are mostly zero.

    Both weight memories are read synchronously (the next step's address is known one cycle
    ahead), so synthesis may put them in block RAM.

    Members
    -------
    i : In(stream)
        Payload ``x`` (``n_in`` codes); ``ready`` while the layer is idle and its output taken.
    o : Out(stream)
        Payload ``y`` (``n_out`` codes), held with ``valid`` until ``ready``.
    """

    @checked_init
    def __init__(self, layer, in_format, *, _table_patch=None):
        self.block = check_layer(layer)
        self.layer = layer
        self.in_format = in_format
        self.out_format = layer.out_format
        self.latency = None  # variable: valid tells
        self._patch = dict(_table_patch or {})
        pf, af = layer.product_format, layer.acc_format
        if self.block is not None:
            # a fused layer: one FusedDotProduct, a whole neuron per cycle
            self.schedules, self.registers, self.combos, self.programs = [], 0, [], []
            self.n_steps = layer.n_out
            self.weight_store, self.default_weight = None, None
        else:
            self.schedules = [tree_schedule(t, layer.n_in) for t in layer.trees]
            self.registers = max(s.registers for s in self.schedules)
            fmts = {PRODUCT: pf, ACC: af}
            combos = []
            for s in self.schedules:
                for st in s.steps:
                    if st.op == "add":
                        pair = self._canonical(st)[2:]
                        pair = (fmts[pair[0]], fmts[pair[1]])
                        if pair not in combos:
                            combos.append(pair)
            self.combos = combos
            self.programs = list(dict.fromkeys(s.steps for s in self.schedules))
            self.n_steps = sum(len(s.steps) for s in self.schedules)
            self._plan_weights()
        self.cycles_per_vector = self.n_steps + 2
        super().__init__(UnitSignature({"x": (in_format, layer.n_in)},
                                       {"y": (self.out_format, layer.n_out)},
                                       always_ready=False))

    def _plan_weights(self):
        """The weight of every step (the default where a step multiplies nothing) and the
        cheaper of the two stores."""
        layer = self.layer
        bits = layer.weight_format.bits
        codes, counts = np.unique(np.asarray(layer.weights).reshape(-1), return_counts=True)
        self.default_weight = int(codes[np.argmax(counts)])  # the smallest of the most frequent
        per_step = []
        for k, sched in enumerate(self.schedules):
            per_step += [self.default_weight if st.leaf is None else int(layer.weights[k, st.leaf])
                         for st in sched.steps]
        self._step_weights = per_step
        self._key_bits = self.n_steps.bit_length()  # the sentinel key n_steps never matches
        self._exceptions = [(s, w) for s, w in enumerate(per_step) if w != self.default_weight]
        sparse_bits = (len(self._exceptions) + 1) * (self._key_bits + bits)
        self.weight_store = "sparse" if sparse_bits < self.n_steps * bits else "dense"

    @staticmethod
    def _canonical(step):
        """``(a, b, a_format, b_format)`` with a product-format operand first (addition is
        commutative, so ``(acc, product)`` uses the ``(product, acc)`` adder)."""
        a, b, fa, fb = step.a, step.b, step.a_format, step.b_format
        if fa == ACC and fb == PRODUCT:
            return b, a, fb, fa
        return a, b, fa, fb

    def __repr__(self):
        return f"FoldedLayer({self.layer!r}, registers={self.registers}, steps={self.n_steps})"

    def emulate(self, **inputs):
        """``{"y__k": ...}``: the golden layer on ``x__0 … x__{n_in-1}``."""
        return _emulate_layer(self, inputs)

    def _program_rom(self):
        """``(rom, words, starts)``: the distinct schedules' steps one after another, and the
        first word of each neuron's schedule."""
        layer, R = self.layer, self.registers
        rom = _Rom({"load": 1, "leaf": (layer.n_in - 1).bit_length(), "asrc": 2, "areg": (R - 1).bit_length(),
                    "bsrc": 2, "breg": (R - 1).bit_length(), "combo": (len(self.combos) - 1).bit_length(),
                    "dst": (R - 1).bit_length(), "end": 1})
        fmts = {PRODUCT: layer.product_format, ACC: layer.acc_format}
        words, first = [], {}
        for steps in self.programs:
            first[steps] = len(words)
            for i, st in enumerate(steps):
                f = dict(end=int(i == len(steps) - 1), dst=st.dst, leaf=st.leaf or 0)
                if st.op == "load":
                    f |= dict(load=1)
                else:
                    a, b, fa, fb = self._canonical(st)
                    f |= dict(load=0, asrc=_SRC[a[0]], areg=a[1] if a[0] == "reg" else 0,
                              bsrc=_SRC[b[0]], breg=b[1] if b[0] == "reg" else 0,
                              combo=self.combos.index((fmts[fa], fmts[fb])))
                words.append(rom.pack(**f))
        return rom, words, [first[s.steps] for s in self.schedules]

    def _weight(self, m, start, busy, count, count_next):
        """The weight code of step ``count`` (``count_next``: the step of the next cycle)."""
        wf = self.layer.weight_format
        if self.weight_store == "dense":
            m.submodules.weights = wmem = Memory(shape=wf.bits, depth=self.n_steps + 1,
                                                 init=self._step_weights + [self.default_weight])
            wr = wmem.read_port()
            m.d.comb += wr.addr.eq(count_next)
            return wr.data
        kb = self._key_bits
        entries = self._exceptions + [(self.n_steps, self.default_weight)]
        m.submodules.weights = wmem = Memory(shape=kb + wf.bits, depth=len(entries),
                                             init=[s | (w << kb) for s, w in entries])
        wr = wmem.read_port()
        ptr = Signal(range(len(entries)), name="wptr")
        ptr_next = Signal.like(ptr, name="wptr_next")
        match = Signal(name="wmatch")
        m.d.comb += [match.eq(wr.data[:kb] == count),
                     ptr_next.eq(Mux(start, 0, Mux(busy & match, ptr + 1, ptr))),
                     wr.addr.eq(ptr_next)]
        m.d.sync += ptr.eq(ptr_next)
        return Mux(match, wr.data[kb:], self.default_weight)

    def _tree_engine(self, m, field, weight, leaf, xs, br, width):
        """The multiplier, the register file and the adder(s): the sum of the current step (and
        the product a load step stores)."""
        layer = self.layer
        wf, pf, af = layer.weight_format, layer.product_format, layer.acc_format
        m.submodules.mul = mul = _multiplier(wf, self.in_format, pf, layer.rounding, 0)
        m.d.comb += [mul.i.payload.a.eq(weight), mul.i.payload.b.eq(Array(xs)[leaf])]
        regs = [Signal(width, name=f"r{r}", reset_less=True) for r in range(self.registers)]
        reg_file = Array(regs)

        def source(sel, reg, name):
            value = Signal(width, name=name)
            m.d.comb += value.eq(Mux(sel == _SRC["mul"], mul.o.payload.result,
                                     Mux(sel == _SRC["reg"], reg_file[reg],
                                         Mux(sel == _SRC["bias"], br.data, af.zero_code))))
            return value

        a = source(field("asrc"), field("areg"), "opa")
        b = source(field("bsrc"), field("breg"), "opb")
        result = Signal(af.bits, name="sum")
        with m.Switch(field("combo")):
            for c, (fa, fb) in enumerate(self.combos):
                add = _adder(fa, fb, af, layer.rounding)
                m.submodules[f"add{c}"] = add
                m.d.comb += [add.i.payload.a.eq(a[:fa.bits]), add.i.payload.b.eq(b[:fb.bits])]
                with m.Case(c):
                    m.d.comb += result.eq(add.o.payload.result)
        return result, regs, mul.o.payload.result

    def _fused_datapath(self, m, neuron, xs, br):
        """One FusedDotProduct over the current neuron's weight row (a memory of rows)."""
        layer = self.layer
        wf = layer.weight_format
        rows = [sum(int(w) << (wf.bits * j) for j, w in enumerate(row)) for row in layer.weights]
        m.submodules.weights = wmem = Memory(shape=wf.bits * layer.n_in, depth=layer.n_out, init=rows)
        wr = wmem.read_port(domain="comb")
        m.d.comb += wr.addr.eq(neuron)
        unit = _fused_unit(layer, self.in_format, self.block, 0)
        m.submodules.fused = unit
        m.d.comb += unit.i.payload.c.eq(br.data)
        for j in range(layer.n_in):
            m.d.comb += [unit.i.payload.a[j].eq(wr.data[wf.bits * j:wf.bits * (j + 1)]),
                         unit.i.payload.b[j].eq(xs[j])]
        return unit.o.payload.d

    def elaborate(self, platform):
        m = Module()
        layer = self.layer
        n_in, n_out = layer.n_in, layer.n_out
        af = layer.acc_format
        width = max(layer.product_format.bits, af.bits)

        busy = Signal(name="busy")
        full = Signal(name="full")  # an output vector waits for o.ready
        start = Signal(name="start")
        m.d.comb += [self.i.ready.eq(~busy & ~full), self.o.valid.eq(full),
                     start.eq(self.i.valid & self.i.ready)]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += full.eq(0)

        xs = [Signal(self.in_format.bits, name=f"x{j}", reset_less=True) for j in range(n_in)]
        neuron = Signal(range(max(2, n_out)), name="neuron")
        last_neuron = Signal(name="last_neuron")
        m.d.comb += last_neuron.eq(neuron == n_out - 1)
        # the step's number in the vector's run (it indexes the weights)
        count = Signal(range(self.n_steps + 1), name="count")
        count_next = Signal.like(count, name="count_next")
        m.d.comb += count_next.eq(Mux(start, 0, Mux(busy, count + 1, count)))
        m.d.sync += count.eq(count_next)

        if self.block is None:
            rom, words, starts = self._program_rom()
            pc = Signal(range(max(2, len(words))), name="pc")
            m.submodules.schedule = prog = Memory(shape=rom.width, depth=len(words), init=words)
            rd = prog.read_port(domain="comb")
            m.d.comb += rd.addr.eq(pc)

            def field(name):
                return rom.field(rd.data, name)

            end = field("end")
            if len(set(starts)) == 1:
                first = next_start = starts[0]
            else:  # the first word of the next neuron's schedule
                first = starts[0]
                m.submodules.starts = smem = Memory(shape=range(len(words)), depth=n_out,
                                                    init=starts[1:] + [starts[0]])
                sr = smem.read_port(domain="comb")
                m.d.comb += sr.addr.eq(neuron)
                next_start = sr.data
        else:
            end = Const(1)

        with m.If(start):
            m.d.sync += [busy.eq(1), neuron.eq(0)]
            m.d.sync += [xs[j].eq(self.i.payload.x[j]) for j in range(n_in)]
            if self.block is None:
                m.d.sync += pc.eq(first)

        m.submodules.biases = bmem = Memory(shape=af.bits, depth=n_out,
                                            init=[int(b) for b in layer.bias])
        br = bmem.read_port(domain="comb")
        m.d.comb += br.addr.eq(neuron)

        if self.block is not None:
            result, regs = self._fused_datapath(m, neuron, xs, br), []
        else:
            weight = self._weight(m, start, busy, count, count_next)
            result, regs, load_value = self._tree_engine(m, field, weight, field("leaf"), xs, br,
                                                         width)
        act = _activation_unit(layer.activation, 0, self._patch)
        m.submodules.act = act
        m.d.comb += act.i.payload.a.eq(result)
        ys = [Signal(self.out_format.bits, name=f"y{k}", reset_less=True) for k in range(n_out)]
        m.d.comb += [self.o.payload.y[k].eq(ys[k]) for k in range(n_out)]

        with m.If(busy):
            if regs:
                value = Mux(field("load"), load_value, result)
                with m.Switch(field("dst")):
                    for r in range(self.registers):
                        with m.Case(r):
                            m.d.sync += regs[r].eq(value)
            with m.If(end):
                # neurons finish in order: shifting each result in from the top leaves neuron
                # k's in ys[k] when the last one is done (no decoder over n_out registers)
                m.d.sync += [ys[k].eq(ys[k + 1]) for k in range(n_out - 1)]
                m.d.sync += ys[-1].eq(act.o.payload.result)
                with m.If(last_neuron):
                    m.d.sync += [busy.eq(0), full.eq(1)]
                with m.Else():
                    m.d.sync += neuron.eq(neuron + 1)
                    if self.block is None:
                        m.d.sync += pc.eq(next_start)
            if self.block is None:
                with m.Else():
                    m.d.sync += pc.eq(pc + 1)
        return m

# ---------------------------------------------------------------------------------------------
class _Pipeline(wiring.Component):
    """Spatial layers chained (always ready): the core a NetworkTop stalls as one."""

    def __init__(self, layers, in_fmt, n_in, out_fmt, n_out):
        self.layers = layers
        self.latency = sum(u.latency for u in layers)
        super().__init__(UnitSignature({"x": (in_fmt, n_in)}, {"y": (out_fmt, n_out)}))

    def elaborate(self, platform):
        m = Module()
        for k, u in enumerate(self.layers):
            m.submodules[f"layer{k}"] = u
        m.d.comb += [self.layers[0].i.payload.eq(self.i.payload),
                     self.layers[0].i.valid.eq(self.i.valid)]
        for src, dst in zip(self.layers, self.layers[1:]):
            chain(m, src, dst)
        m.d.comb += [self.o.payload.eq(self.layers[-1].o.payload),
                     self.o.valid.eq(self.layers[-1].o.valid)]
        return m


class NetworkTop(wiring.Component):
    """A whole golden network in hardware, with stream handshakes on both sides.

    Parameters
    ----------
    net : golden Network
        The network (as ``Network.loads`` reads it); the hardware computes ``net(x)`` exactly.
    form : ``"spatial"`` or ``"folded"``
        :class:`SpatialLayer` (everything unrolled, one vector per cycle) or
        :class:`FoldedLayer` (one multiplier and one tree engine per layer).
    pipeline : bool
        Spatial form only: register every multiplier, every tree level and every activation
        (one vector per cycle at a higher clock); False builds each layer combinationally.
    cells : bool
        Spatial form only: each distinct unit (an adder of one format pairing, a multiplier by
        one constant weight, a layer's activation) is one Verilog module instantiated wherever
        it recurs (:class:`~ulpflow.hdl.library.CellLibrary`, attribute ``cell_library``); the
        Verilog of a constructed network then grows with its distinct units, not its neurons.
        False makes every unit its own module.

    Members
    -------
    i : In(stream)
        Payload ``x``: ``net.n_in`` codes of ``net.in_format``; ``ready`` low while the network
        cannot take a vector.
    o : Out(stream)
        Payload ``y``: ``net.n_out`` codes of ``net.out_format``; held with ``valid`` until
        ``ready``.

    ``emulate(x__0=, …)`` is ``{"y__k": net(x)[:, k]}``. ``latency`` is the spatial pipeline's
    depth (cycles from a vector in to its result without stalls), None for the folded form.
    """

    @checked_init
    def __init__(self, net, form="spatial", *, pipeline=True, cells=True, _faults=()):
        if not isinstance(net, Network):
            raise TypeError(f"NetworkTop needs a golden Network, not {net!r}")
        if form not in FORMS:
            raise ValueError(f"form must be one of {', '.join(map(repr, FORMS))}, not {form!r}")
        for index, layer in enumerate(net.layers):
            check_layer(layer, index)
        self.net, self.form, self.pipeline = net, form, bool(pipeline)
        self.faults = tuple(_faults)
        self.in_format, self.out_format = net.in_format, net.out_format
        lat = int(self.pipeline)
        #: The spatial form's distinct units, each one Verilog module (None: every unit its own
        #: module); append :func:`~ulpflow.hdl.library.library_verilog` to the top's Verilog.
        self.cell_library = CellLibrary() if form == "spatial" and cells else None
        self.layers = []
        for index, layer in enumerate(net.layers):
            hw_layer, patch = apply_faults(layer, self.faults, index)
            in_fmt = net.layer_input_format(index)
            if form == "spatial":
                self.layers.append(SpatialLayer(hw_layer, in_fmt, mul_latency=lat, level_latency=lat,
                                                act_latency=lat, library=self.cell_library,
                                                _table_patch=patch))
            else:
                self.layers.append(FoldedLayer(hw_layer, in_fmt, _table_patch=patch))
        for u in self.layers:
            u._MustUse__silence = True  # elaborated with the top, if the top ever is
        self.latency = sum(u.latency for u in self.layers) if form == "spatial" else None
        super().__init__(UnitSignature({"x": (net.in_format, net.n_in)},
                                       {"y": (net.out_format, net.n_out)}, always_ready=False))

    def __repr__(self):
        return f"NetworkTop({self.net!r}, form={self.form!r})"

    @property
    def cycles_per_vector(self):
        """Cycles between vectors in steady state (1 for the spatial form)."""
        if self.form == "spatial":
            return 1
        return max(u.cycles_per_vector for u in self.layers)

    def emulate(self, **inputs):
        """``{"y__k": codes}``: the golden network on the inputs ``x__0 … x__{n_in-1}``."""
        v = self.signature.cast_inputs(inputs, repr(self))
        shape = np.shape(v["x__0"])
        x = np.stack([np.broadcast_to(v[f"x__{j}"], shape) for j in range(self.net.n_in)], axis=-1)
        y = self.net(x.reshape(-1, self.net.n_in), strict=False)
        return {f"y__{k}": y[:, k].reshape(shape) for k in range(self.net.n_out)}

    def elaborate(self, platform):
        m = Module()
        if self.form == "spatial":
            core = _Pipeline(self.layers, self.net.in_format, self.net.n_in, self.net.out_format,
                             self.net.n_out)
            # one stall for the whole pipeline: it advances unless a result waits for ready
            stall = Signal(name="stall")
            m.d.comb += stall.eq(self.o.valid & ~self.o.ready)
            m.submodules.core = EnableInserter(~stall)(core)
            m.d.comb += [u.enable.eq(~stall) for u in self.layers]  # the cells' registers
            m.d.comb += [core.i.payload.eq(self.i.payload), core.i.valid.eq(self.i.valid),
                         self.i.ready.eq(~stall),
                         self.o.payload.eq(core.o.payload), self.o.valid.eq(core.o.valid)]
            return m
        for k, u in enumerate(self.layers):
            m.submodules[f"layer{k}"] = u
        first, last = self.layers[0], self.layers[-1]
        m.d.comb += [first.i.payload.eq(self.i.payload), first.i.valid.eq(self.i.valid),
                     self.i.ready.eq(first.i.ready)]
        for src, dst in zip(self.layers, self.layers[1:]):
            chain(m, src, dst)
        m.d.comb += [self.o.payload.eq(last.o.payload), self.o.valid.eq(last.o.valid),
                     last.o.ready.eq(self.o.ready)]
        return m
