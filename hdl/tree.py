"""Reductions in a fixed order, twins of ``golden.tree``: a spatial tree of adders, and a
folded multiply-accumulate.

Both realise a golden :class:`~ulpflow.golden.tree.Tree` exactly: every internal node of the tree
is one rounded addition (``golden.add`` in the accumulator format), evaluated in hardware by its
own adder (:class:`ReductionTree`) or by the one adder of :class:`FoldedMAC` at its turn.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import Out

from ulpflow.golden.arith import mul
from ulpflow.golden.formats import as_format
from ulpflow.golden.reduction import reduce
from ulpflow.golden.tree import ZERO_LEAF, Tree

from ._common import (check_latency, check_mutation, check_rounding, checked_init, delay,
                      format_spec, operand_formats, valid_chain)
from .fixed_unit import FixedAdder, FixedMultiplier
from .float_unit import FloatAdder, FloatMultiplier
from .signature import UnitSignature

__all__ = ["ReductionTree", "FoldedMAC", "build_tree"]


def _adder(fmt, out, rounding, latency, _mutate=None):
    """The adder of ``fmt`` (one format or an operand pair) into ``out``."""
    kind = (fmt[0] if isinstance(fmt, tuple) else fmt).kind
    cls = FloatAdder if kind == "float" else FixedAdder
    if isinstance(fmt, tuple) and fmt[0] == fmt[1]:
        fmt = fmt[0]
    return cls(fmt, rounding=rounding, out=out, latency=latency, _mutate=_mutate)


class ReductionTree(wiring.Component):
    """Sum of ``n_terms`` codes in the order of a golden ``Tree``: one adder per internal node.

    Twin of ``golden.reduce(terms, tree, fmt, rounding=)``. Each entry of
    ``tree.internal_nodes()`` becomes its own adder instance (a separate module in the Verilog),
    so no tool can re-associate the sum.

    Parameters
    ----------
    tree : Tree
        The reduction order (leaves ``0 … n_terms-1``, possibly the zero leaf).
    fmt : FloatFormat or FixedFormat
        Accumulator format: terms are codes of it and every addition rounds to it.
    rounding : str
        Rounding mode of every addition.
    level_latency : int
        Cycles per tree level: every adder is built with this latency and shallower operands
        are delayed to meet it, so one set of terms enters per cycle. 0 = combinational;
        ``latency = tree.depth * level_latency``.

    Members
    -------
    i : In(stream)
        Payload field ``terms``, an array of ``n_terms`` codes (fields ``terms__0``,
        ``terms__1``, … as benches name them).
    o : Out(stream)
        Payload field ``result``; ``o.valid`` follows ``i.valid`` after ``latency`` cycles.

    Attributes ``in_format`` and ``out_format`` are both ``fmt``. ``emulate(terms__0=, …)`` is
    ``{"result": golden.reduce(terms, tree, fmt, rounding=)}``.
    """

    @checked_init
    def __init__(self, tree, fmt, *, rounding="RNE", level_latency=0, _mutate=None):
        if not isinstance(tree, Tree):
            raise TypeError(f"tree must be a golden Tree, not {tree!r}")
        self.tree = tree
        self.in_format = self.out_format = as_format(fmt, "fmt")
        self.rounding = check_rounding(rounding)
        self.level_latency = check_latency(level_latency)
        self.latency = tree.depth * self.level_latency
        self._mutate = check_mutation(_mutate)
        super().__init__(UnitSignature({"terms": (self.in_format, tree.n_terms)},
                                       {"result": self.out_format}))

    fmt = property(lambda self: self.out_format)  # read-only alias (the accumulator format)

    def __repr__(self):
        return (f"ReductionTree({self.tree}, {self.out_format}, rounding={self.rounding!r}, "
                f"level_latency={self.level_latency})")

    def emulate(self, **inputs):
        """``{"result": golden.reduce(terms, tree, fmt, rounding=)}``, the terms given as the
        fields ``terms__0 … terms__{n-1}`` (arrays of one shape)."""
        v = self.signature.cast_inputs(inputs, repr(self))
        terms = np.stack([v[f"terms__{k}"] for k in range(self.tree.n_terms)], axis=-1)
        return {"result": reduce(terms, self.tree, self.out_format, rounding=self.rounding,
                                 strict=False)}

    def elaborate(self, platform):
        m = Module()
        leaves = [(self.i.payload.terms[k], self.out_format) for k in range(self.tree.n_terms)]
        root, _nodes = build_tree(m, self.tree, leaves, self.out_format, rounding=self.rounding,
                                  level_latency=self.level_latency, mutate=self._mutate)
        m.d.comb += self.o.payload.result.eq(root)
        valid_chain(m, self.i.valid, self.o.valid, self.latency)
        return m


def build_tree(m, tree, leaves, out, *, rounding, level_latency, mutate=None, prefix="", place=None):
    """Adders for every internal node of ``tree`` in module ``m``: the datapath of
    :class:`ReductionTree`, shared with the network layers.

    ``leaves[i]`` is ``(value, format)`` of leaf ``i``, all valid at time 0; the zero leaf is +0
    of ``out``. Node ``j`` is its own adder (operand formats as its operands', rounded to
    ``out``) with ``level_latency`` cycles, starting at ``(level - 1) * level_latency``; shallower
    operands are delayed to meet it. Returns ``(root, nodes)``: the root value, valid at
    ``tree.depth * level_latency``, and ``{node id: (signal, time it is valid)}``.
    ``place(m, name, key, make, inputs, width)``, if given, places each adder (a
    :meth:`~ulpflow.hdl.library.CellLibrary.instance`-like hook) and returns its result.
    """
    L = level_latency
    levels = tree.levels
    outs = {}  # node id -> (signal, time at which it is valid)

    def operand(ref, need):
        kind, idx = ref
        if kind == "leaf":
            (value, fmt), ready = leaves[idx], 0
        elif kind == "node":
            (value, ready), fmt = outs[idx], out
        else:  # the zero leaf: +0 of the accumulator format, valid at any time
            return Const(out.zero_code, out.bits), out
        return delay(m, value, need - ready, name=f"{prefix}bal_{kind}{idx}_"), fmt

    for j, left, right in tree.internal_nodes():
        start = (levels[j] - 1) * L
        a, fa = operand(left, start)
        b, fb = operand(right, start)
        res = Signal(out.bits, name=f"{prefix}node{j}")
        if place is not None and mutate is None:
            m.d.comb += res.eq(place(m, f"{prefix}node{j}", ("add", fa, fb, out, rounding, L),
                                     lambda fa=fa, fb=fb: _adder((fa, fb), out, rounding, L),
                                     {"a": a, "b": b}, out.bits))
        else:
            add = _adder((fa, fb), out, rounding, L, mutate)
            m.submodules[f"{prefix}node{j}"] = add
            m.d.comb += [add.i.payload.a.eq(a), add.i.payload.b.eq(b)]
            m.d.comb += res.eq(add.o.payload.result)
        outs[j] = (res, levels[j] * L)
    root, _fmt = operand(tree.root, tree.depth * L)
    return root, outs


def _chain(order):
    """``(indices, from_zero, n_terms)`` of a sequential order given as a Tree or a sequence."""
    if isinstance(order, Tree):
        seq = order.chain_order()
        if seq is None:
            raise ValueError(f"FoldedMAC realises sequential orders only; {order} is not a chain "
                             "(use ReductionTree for other trees)")
    else:
        seq = list(order)
    from_zero = len(seq) > 0 and isinstance(seq[0], str) and seq[0] == ZERO_LEAF
    idx = seq[1:] if from_zero else seq
    if any(isinstance(i, str) for i in idx):
        raise ValueError("the zero leaf may only come first in a FoldedMAC order, "
                         f"got {list(seq)!r}")
    tree = Tree.from_order(seq)  # validates: every index 0 … n_terms-1 exactly once
    return [int(i) for i in idx], from_zero, tree


class FoldedMAC(wiring.Component):
    """One multiplier, one adder and an accumulator: a neuron's sum in a sequential order.

    Realises ``reduce([w_0 ⊗ x_0, …, w_{n-1} ⊗ x_{n-1}, b], Tree.from_order(order), fmt)``
    with products rounded by ``golden.mul(w, x, operand_fmt, out=fmt)``.

    Parameters
    ----------
    order : Tree or sequence of int
        A sequential order over term indices ``0 … n`` (``n`` products, the bias is index ``n``),
        e.g. ``range(n + 1)`` (bias last) or any permutation; ``Tree.from_order`` chains and
        ``Tree.sequential(..., from_zero=True)`` (``ZERO_LEAF`` first) are accepted too.
    fmt : FloatFormat or FixedFormat
        Accumulator format (products round to it; the bias is a code of it).
    operand_fmt : format or (w_fmt, x_fmt), optional
        Formats of weights and inputs (default ``fmt``).
    rounding : str
        Rounding mode of every multiplication and addition.
    mul_latency : int
        Pipeline registers of the multiplier (the adder and accumulator form a one-cycle loop).

    Members
    -------
    i : In(stream)
        Payload fields ``w``, ``x`` (weight and input codes of the current beat's product) and
        ``bias`` (the bias code, read on the beat whose term index is ``n``).
    o : Out(stream)
        Payload field ``result``: the accumulator, valid while ``o.valid`` is high.
    index : Out(range(n_terms))
        Side member: the term index expected on the current beat (``order[beat]``), so a
        memory-fed source can fetch ``w[index], x[index]`` combinationally.

    Attributes ``in_format`` (the operand formats, golden's ``fmt`` argument of ``mul``) and
    ``out_format`` (the accumulator format).

    Notes
    -----
    Streaming protocol: one neuron evaluation is ``n_terms`` beats; a beat is a cycle with
    ``i.valid`` high (idle cycles in between are allowed; the streams are always ready). Beat
    ``j`` carries term ``order[j]``: the product ``w ⊗ x`` when ``order[j] < n``, else the bias
    (``w``/``x`` are then ignored). The first beat loads the accumulator (or adds to +0 for a
    from-zero order), every later beat adds with one rounding. ``o.valid`` is high for one
    cycle, ``latency = mul_latency + 1`` cycles after the last beat; the next evaluation may
    start on the cycle after the last beat.

    :meth:`emulate` is defined on whole neuron evaluations, not on beats: ``w`` and ``x`` of
    shape ``(..., n)``, ``bias`` of shape ``(...)``, one result per evaluation.
    """

    @checked_init
    def __init__(self, order, fmt, *, operand_fmt=None, rounding="RNE", mul_latency=0,
                 _mutate=None):
        self.out_format = as_format(fmt, "fmt")
        self.order, self.from_zero, self.tree = _chain(order)
        self.n_terms = self.tree.n_terms
        ops = self.out_format if operand_fmt is None else operand_fmt
        self.in_formats = w_fmt, x_fmt = operand_formats(ops, name="operand_fmt")
        if w_fmt.kind != x_fmt.kind:
            raise TypeError(f"cannot multiply {w_fmt} by {x_fmt}: both operands must be "
                            "float or both fixed")
        if w_fmt.kind == "float" and self.out_format.kind != "float":
            raise TypeError(f"a float product into the fixed accumulator {self.out_format}: not "
                            "supported (golden adds no float into fixed)")
        self.rounding = check_rounding(rounding)
        self.mul_latency = check_latency(mul_latency)
        self.latency = self.mul_latency + 1
        self._mutate = check_mutation(_mutate)
        super().__init__(UnitSignature(
            {"w": w_fmt, "x": x_fmt, "bias": self.out_format}, {"result": self.out_format},
            side={"index": Out(range(self.n_terms))}))

    @property
    def in_format(self):
        return format_spec(*self.in_formats)

    # read-only aliases of the names used before the attributes were unified
    fmt = property(lambda self: self.out_format)
    w_fmt = property(lambda self: self.in_formats[0])
    x_fmt = property(lambda self: self.in_formats[1])

    def __repr__(self):
        zero = "[ZERO_LEAF] + " if self.from_zero else ""
        return (f"FoldedMAC({zero}{self.order}, {self.out_format}, operand_fmt=({self.w_fmt}, "
                f"{self.x_fmt}), rounding={self.rounding!r}, mul_latency={self.mul_latency})")

    def emulate(self, **inputs):
        """Golden twin of whole neuron evaluations (not of single beats).

        ``w`` and ``x``: codes of shape ``(..., n)`` (the ``n = n_terms - 1`` products of one
        evaluation along the last axis), ``bias``: codes of shape ``(...)``. Returns
        ``{"result": reduce([mul(w, x, operand_fmt, out=fmt)…, bias], Tree.from_order(order),
        fmt)}``, one code per evaluation, as the unit gives it when ``o.valid`` is high.
        """
        v = self.signature.cast_inputs(inputs, repr(self))
        w, x, bias = v["w"], v["x"], v["bias"]
        n = self.n_terms - 1
        if w.shape[-1:] != (n,) or x.shape != w.shape or bias.shape != w.shape[:-1]:
            raise ValueError(f"{self!r}.emulate takes w and x of shape (..., {n}) and bias of "
                             f"shape (...), got {w.shape}, {x.shape} and {bias.shape}")
        products = mul(w, x, self.in_format, out=self.out_format, rounding=self.rounding,
                       strict=False)
        terms = np.concatenate([products, bias[..., None]], axis=-1)
        return {"result": reduce(terms, self.tree, self.out_format, rounding=self.rounding,
                                 strict=False)}

    def elaborate(self, platform):
        m = Module()
        n_terms, fmt = self.n_terms, self.out_format
        bias_index = n_terms - 1
        p = self.i.payload

        beat = Signal(range(n_terms), name="beat")
        with m.If(self.i.valid):
            m.d.sync += beat.eq(Mux(beat == n_terms - 1, 0, beat + 1))

        # per-beat constants: the term index, and whether it is the bias
        m.submodules.order_rom = rom = Memory(shape=range(n_terms), depth=n_terms,
                                              init=self.order)
        rd = rom.read_port(domain="comb")
        m.d.comb += [rd.addr.eq(beat), self.index.eq(rd.data)]
        is_bias = rd.data == bias_index
        first = beat == 0
        last = beat == n_terms - 1

        mul_cls = FloatMultiplier if self.w_fmt.kind == "float" else FixedMultiplier
        m.submodules.mul = mul = mul_cls(self.in_formats, rounding=self.rounding,
                                         out=fmt, latency=self.mul_latency,
                                         _mutate=self._mutate)
        m.d.comb += [mul.i.payload.a.eq(p.w), mul.i.payload.b.eq(p.x)]

        # control and bias travel beside the multiplier's pipeline
        ml = self.mul_latency
        v = delay(m, self.i.valid, ml, name="v_", reset_less=False)
        is_bias_d = delay(m, is_bias, ml, name="isb_")
        first_d = delay(m, first, ml, name="first_")
        last_d = delay(m, last, ml, name="last_")
        bias_d = delay(m, p.bias, ml, name="bias_")
        term = Signal(fmt.bits, name="term")
        m.d.comb += term.eq(Mux(is_bias_d, bias_d, mul.o.payload.result))

        acc = Signal(fmt.bits, name="acc", reset_less=True)
        m.submodules.add = add = _adder(fmt, fmt, self.rounding, 0, self._mutate)
        m.d.comb += [add.i.payload.a.eq(Mux(first_d, fmt.zero_code, acc)),
                     add.i.payload.b.eq(term)]
        sum_ = add.o.payload.result
        with m.If(v):
            if self.from_zero:
                m.d.sync += acc.eq(sum_)
            else:
                # a plain chain starts from its first term, not from 0 ⊕ t (the sign of zero)
                m.d.sync += acc.eq(Mux(first_d, term, sum_))
        done = Signal(name="done")
        m.d.sync += done.eq(v & last_d)
        m.d.comb += [self.o.payload.result.eq(acc), self.o.valid.eq(done)]
        return m
