"""Signatures and golden twins: equality of UnitSignatures, port directions in Verilog, and
every unit's ``emulate()`` against golden calls whose options are pinned here (not read back from
the unit), so a unit that dropped an option in both its hardware and its twin would fail."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring

from ulpflow.golden import Tree, add, convert, get_activation, mul, parse_format, reduce, round_pack
from ulpflow.hdl import (FixedAdder, FixedMultiplier, FloatAdder, FloatConverter, FloatMultiplier,
                         FoldedMAC, ReductionTree, RoundPack, activation_unit, to_verilog)
from ulpflow.hdl.signature import UnitSignature

F = parse_format
E4M3, FP16, BF16, Q44 = F("e4m3"), F("fp16"), F("bf16"), F("q4.4")


def test_signature_equality_follows_the_payload_layout():
    s = UnitSignature({"a": E4M3, "b": FP16}, {"result": E4M3})
    same = UnitSignature({"a": E4M3, "b": FP16}, {"result": E4M3})
    swapped = UnitSignature({"b": FP16, "a": E4M3}, {"result": E4M3})  # other offsets
    assert s == same and hash(s) == hash(same)
    assert s != swapped
    assert s != UnitSignature({"a": E4M3, "b": FP16}, {"result": E4M3}, always_ready=False)
    side = {"index": wiring.Out(range(4))}
    t = UnitSignature({"terms": (E4M3, 3)}, {"result": E4M3}, side=side)
    assert t == UnitSignature({"terms": (E4M3, 3)}, {"result": E4M3}, side=dict(side))
    assert hash(t) == hash(UnitSignature({"terms": (E4M3, 3)}, {"result": E4M3}, side=dict(side)))
    assert t != UnitSignature({"terms": (E4M3, 4)}, {"result": E4M3}, side=side)


class _Undriven(wiring.Component):
    """Drives its result but forgets o.valid: the port must still be an output."""

    def __init__(self):
        super().__init__(UnitSignature({"a": E4M3}, {"result": E4M3}))

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.o.payload.result.eq(self.i.payload.a)
        return m


def test_verilog_port_directions_come_from_the_signature():
    # (to_verilog elaborates the unit: no silencing needed)
    lines = [line.strip() for line in to_verilog(_Undriven()).splitlines()]
    assert "output o__valid;" in lines and "input i__valid;" in lines
    assert "input [7:0] i__payload;" in lines and "output [7:0] o__payload;" in lines
    assert not any("ready" in line for line in lines if line.startswith(("input", "output")))


def _twin(unit):
    """The unit, used here only for its golden twin (no "created but never used" warning)."""
    unit._MustUse__silence = True
    return unit


def _codes(fmt, n, seed):
    return np.random.default_rng(seed).integers(0, 1 << fmt.bits, n).astype(fmt.dtype)


def _pinned_cases():
    a, b = _codes(E4M3, 4000, 1), _codes(E4M3, 4000, 2)
    h = _codes(FP16, 4000, 3)
    qa, qb = _codes(Q44, 4000, 4), _codes(Q44, 4000, 5)
    terms = _codes(E4M3, 4000 * 4, 6).reshape(4000, 4)
    t = Tree.pairwise(4)
    relu = get_activation("relu", FP16, E4M3)
    sig = np.random.default_rng(7).integers(0, 1 << 10, 4000)
    exp = np.random.default_rng(8).integers(-20, 12, 4000)
    sign = np.random.default_rng(9).integers(0, 2, 4000)
    flags = np.random.default_rng(10).random((2, 4000)) < 0.05
    return [
        ("FloatAdder", lambda md: FloatAdder(E4M3, rounding=md, out=BF16),
         {"a": a, "b": b}, lambda md: add(a, b, E4M3, rounding=md, out=BF16, strict=False)),
        ("FloatMultiplier", lambda md: FloatMultiplier(E4M3, rounding=md),
         {"a": a, "b": b}, lambda md: mul(a, b, E4M3, rounding=md, strict=False)),
        ("FloatConverter", lambda md: FloatConverter(FP16, E4M3, rounding=md),
         {"a": h}, lambda md: convert(h, FP16, E4M3, rounding=md, strict=False)),
        ("FixedAdder", lambda md: FixedAdder(Q44, rounding=md, out=F("q5.2")),
         {"a": qa, "b": qb}, lambda md: add(qa, qb, Q44, rounding=md, out=F("q5.2"))),
        ("FixedMultiplier", lambda md: FixedMultiplier(Q44, rounding=md, overflow="WRAP"),
         {"a": qa, "b": qb}, lambda md: mul(qa, qb, Q44, rounding=md, overflow="WRAP")),
        ("ReductionTree", lambda md: ReductionTree(t, E4M3, rounding=md),
         {f"terms__{k}": terms[:, k] for k in range(4)},
         lambda md: reduce(terms, t, E4M3, rounding=md, strict=False)),
        ("RoundPack", lambda md: RoundPack(E4M3, sig_width=10, exp_range=(-20, 11), rounding=md),
         {"sign": sign, "sig": sig, "exp": exp, "sticky": 0 * sig, "nan": flags[0], "inf": flags[1]},
         lambda md: round_pack(sign == 1, sig, exp, E4M3, md, nan=flags[0], inf=flags[1])),
        ("activation", lambda md: activation_unit(relu), {"a": h}, lambda md: relu(h)),
    ]


@pytest.mark.parametrize("case", _pinned_cases(), ids=lambda c: c[0])
def test_emulate_is_golden_with_the_units_own_options(case):
    _name, build, inputs, golden = case
    for md in ("RUP", "RDN"):
        got = _twin(build(md)).emulate(**inputs)["result"]
        np.testing.assert_array_equal(got, golden(md))
    if _name != "activation":
        # the pinned option matters on these vectors: a twin that ignored it would be caught
        assert not np.array_equal(golden("RUP"), golden("RDN"))


def test_folded_mac_emulate_is_golden():
    n = 5
    w, x = _codes(E4M3, 300 * n, 11).reshape(300, n), _codes(E4M3, 300 * n, 12).reshape(300, n)
    bias = _codes(E4M3, 300, 13)
    order = [2, 0, 5, 1, 4, 3]
    for md in ("RNE", "RTZ"):
        unit = _twin(FoldedMAC(order, E4M3, rounding=md))
        products = mul(w, x, E4M3, rounding=md, strict=False)
        terms = np.concatenate([products, bias[:, None]], axis=1)
        expected = reduce(terms, Tree.from_order(order), E4M3, rounding=md, strict=False)
        np.testing.assert_array_equal(unit.emulate(w=w, x=x, bias=bias)["result"], expected)
