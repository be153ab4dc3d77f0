"""Reductions in a fixed order: a spatial tree of adders, and a folded multiply-accumulate.

Both realise a golden :class:`~ulpflow.golden.tree.Tree` exactly: every internal node of the tree
is one rounded addition (``golden.add`` in the accumulator format), evaluated in hardware by its
own adder (:class:`ReductionTree`) or by the one adder of :class:`FoldedMAC` at its turn.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ulpflow.golden.tree import ZERO, Tree

from ._common import (check_format, check_latency, check_rounding, checked_init, delay,
                      operand_formats, valid_chain)
from .fixed_unit import FixedAdder, FixedMultiplier
from .float_unit import FloatAdder, FloatMultiplier

__all__ = ["ReductionTree", "FoldedMAC"]


def _adder(fmt, rounding, latency, _mutate=None):
    cls = FloatAdder if fmt.kind == "float" else FixedAdder
    return cls(fmt, rounding=rounding, latency=latency, _mutate=_mutate)


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
    terms : In(fmt.bits).array(n_terms)
        Term codes (Verilog ports ``terms__0``, ``terms__1``, …).
    result : Out(fmt.bits)
    valid_in, valid_out : In(1), Out(1)
    """

    @checked_init
    def __init__(self, tree, fmt, *, rounding="RNE", level_latency=0, _mutate=None):
        if not isinstance(tree, Tree):
            raise TypeError(f"tree must be a golden Tree, not {tree!r}")
        self.tree = tree
        self.fmt = check_format(fmt)
        self.rounding = check_rounding(rounding)
        self.level_latency = check_latency(level_latency)
        self.latency = tree.depth * self.level_latency
        self._mutate = _mutate
        super().__init__({"terms": In(self.fmt.bits).array(tree.n_terms), "valid_in": In(1),
                          "result": Out(self.fmt.bits), "valid_out": Out(1)})

    def __repr__(self):
        return (f"ReductionTree({self.tree}, {self.fmt}, rounding={self.rounding!r}, "
                f"level_latency={self.level_latency})")

    def elaborate(self, platform):
        m = Module()
        L = self.level_latency
        levels = self.tree.levels
        outs = {}  # node id -> (signal, time at which it is valid)

        def operand(ref, need):
            kind, idx = ref
            if kind == "leaf":
                value, ready = self.terms[idx], 0
            elif kind == "node":
                value, ready = outs[idx]
            else:  # the zero leaf: +0 of the accumulator format, valid at any time
                return Const(self.fmt.zero_code, self.fmt.bits)
            return delay(m, value, need - ready, name=f"bal_{kind}{idx}_")

        for j, left, right in self.tree.internal_nodes():
            start = (levels[j] - 1) * L
            add = _adder(self.fmt, self.rounding, L, self._mutate)
            m.submodules[f"node{j}"] = add
            m.d.comb += [add.a.eq(operand(left, start)), add.b.eq(operand(right, start)),
                         add.valid_in.eq(0)]
            res = Signal(self.fmt.bits, name=f"node{j}")
            m.d.comb += res.eq(add.result)
            outs[j] = (res, levels[j] * L)
        m.d.comb += self.result.eq(operand(self.tree.root, self.latency))
        valid_chain(m, self.valid_in, self.valid_out, self.latency)
        return m


def _chain(order):
    """``(indices, from_zero, n_terms)`` of a sequential order given as a Tree or a sequence."""
    if isinstance(order, Tree):
        seq = order.chain_order()
        if seq is None:
            raise ValueError(f"FoldedMAC realises sequential orders only; {order} is not a chain "
                             "(use ReductionTree for other trees)")
    else:
        seq = list(order)
    from_zero = len(seq) > 0 and isinstance(seq[0], str) and seq[0] == ZERO
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
        ``Tree.sequential(..., from_zero=True)`` (``ZERO`` first) are accepted too.
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
    w, x : In
        Weight and input codes of the current beat's product.
    bias : In(fmt.bits)
        Bias code, read on the beat whose term index is ``n``.
    index : Out(range(n_terms))
        Term index expected on the current beat (``order[beat]``), so a memory-fed source can
        fetch ``w[index], x[index]`` combinationally.
    result : Out(fmt.bits)
        The accumulator; valid while ``valid_out`` is high.
    valid_in, valid_out : In(1), Out(1)

    Notes
    -----
    Streaming protocol: one neuron evaluation is ``n_terms`` beats; a beat is a cycle with
    ``valid_in`` high (idle cycles in between are allowed). Beat ``j`` carries term
    ``order[j]``: the product ``w ⊗ x`` when ``order[j] < n``, else the bias (``w``/``x`` are then
    ignored). The first beat loads the accumulator (or adds to +0 for a from-zero order), every
    later beat adds with one rounding. ``valid_out`` is high for one cycle, ``latency =
    mul_latency + 1`` cycles after the last beat; the next evaluation may start on the cycle
    after the last beat.
    """

    @checked_init
    def __init__(self, order, fmt, *, operand_fmt=None, rounding="RNE", mul_latency=0,
                 _mutate=None):
        self.fmt = check_format(fmt)
        self.order, self.from_zero, self.tree = _chain(order)
        self.n_terms = self.tree.n_terms
        kind_check = (lambda f, name: check_format(f, name))
        ops = self.fmt if operand_fmt is None else operand_fmt
        self.w_fmt, self.x_fmt = operand_formats(ops, kind_check, "operand_fmt")
        if self.w_fmt.kind != self.x_fmt.kind:
            raise TypeError(f"cannot multiply {self.w_fmt} by {self.x_fmt}: both operands must be "
                            "float or both fixed")
        if self.w_fmt.kind == "float" and self.fmt.kind != "float":
            raise TypeError(f"a float product into the fixed accumulator {self.fmt}: not supported "
                            "(golden adds no float into fixed)")
        self.rounding = check_rounding(rounding)
        self.mul_latency = check_latency(mul_latency)
        self.latency = self.mul_latency + 1
        self._mutate = _mutate
        super().__init__({
            "w": In(self.w_fmt.bits), "x": In(self.x_fmt.bits), "bias": In(self.fmt.bits),
            "valid_in": In(1), "index": Out(range(self.n_terms)),
            "result": Out(self.fmt.bits), "valid_out": Out(1),
        })

    def __repr__(self):
        zero = "[ZERO] + " if self.from_zero else ""
        return (f"FoldedMAC({zero}{self.order}, {self.fmt}, operand_fmt=({self.w_fmt}, "
                f"{self.x_fmt}), rounding={self.rounding!r}, mul_latency={self.mul_latency})")

    def elaborate(self, platform):
        m = Module()
        n_terms, fmt = self.n_terms, self.fmt
        bias_index = n_terms - 1

        beat = Signal(range(n_terms), name="beat")
        with m.If(self.valid_in):
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
        m.submodules.mul = mul = mul_cls((self.w_fmt, self.x_fmt), rounding=self.rounding,
                                         out=fmt, latency=self.mul_latency,
                                         _mutate=self._mutate)
        m.d.comb += [mul.a.eq(self.w), mul.b.eq(self.x), mul.valid_in.eq(0)]

        # control and bias travel beside the multiplier's pipeline
        ml = self.mul_latency
        v = delay(m, self.valid_in, ml, name="v_", reset_less=False)
        is_bias_d = delay(m, is_bias, ml, name="isb_")
        first_d = delay(m, first, ml, name="first_")
        last_d = delay(m, last, ml, name="last_")
        bias_d = delay(m, self.bias, ml, name="bias_")
        term = Signal(fmt.bits, name="term")
        m.d.comb += term.eq(Mux(is_bias_d, bias_d, mul.result))

        acc = Signal(fmt.bits, name="acc", reset_less=True)
        m.submodules.add = add = _adder(fmt, self.rounding, 0, self._mutate)
        m.d.comb += [add.a.eq(Mux(first_d, fmt.zero_code, acc)), add.b.eq(term),
                     add.valid_in.eq(0)]
        with m.If(v):
            if self.from_zero:
                m.d.sync += acc.eq(add.result)
            else:
                # a plain chain starts from its first term, not from 0 ⊕ t (the sign of zero)
                m.d.sync += acc.eq(Mux(first_d, term, add.result))
        done = Signal(name="done")
        m.d.sync += done.eq(v & last_d)
        m.d.comb += [self.result.eq(acc), self.valid_out.eq(done)]
        return m
