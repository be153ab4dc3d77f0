"""ulpflow.hdl in Amaranth's own simulator against the golden model.

The default tests are quick (6-bit exhaustive sweeps, the folded MAC's cycle protocol, argument
checks); ``-m slow`` adds the exhaustive e4m3 sweeps in every mode and style that were the units'
first verification before the Verilator path existed (test_units_verilator.py covers them in
bulk and much faster).
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from amaranth.lib import wiring

from hdl_testing import (Bundle, all_pairs, check_codes, check_unit, one_unit_of_each_kind,
                         run_amaranth)
from ulpflow.golden import ROUNDING_MODES, parse_format
from ulpflow.golden.activations import get_activation
from ulpflow.golden.reduction import reduce
from ulpflow.golden.tree import ZERO_LEAF as ZERO, Tree
from ulpflow.hdl import (FixedAdder, FixedMultiplier, FloatAdder, FloatConverter,
                         FloatMultiplier, FoldedMAC, ReductionTree, ReLU, RoundPack,
                         TableActivation, UnitSignature, chain, to_verilog)
from ulpflow.hdl.signature import stream_fields

F = parse_format


def _check_bundle(units, a, b):
    out = run_amaranth(Bundle(units), {"a": a, "b": b}, outputs=tuple(units))
    for label, u in units.items():
        check_unit(f"{label} ({u!r})", u, out[label], {"a": a, "b": b})


def test_e3m2_all_modes_exhaustive():
    fmt = F("e3m2")
    units = {}
    for md in ROUNDING_MODES:
        units[f"add_{md}"] = FloatAdder(fmt, rounding=md)
        units[f"mul_{md}"] = FloatMultiplier(fmt, rounding=md)
    a, b = all_pairs(fmt)
    _check_bundle(units, a, b)


def test_pipelined_e2m3fn_exhaustive():
    fmt = F("e2m3fn")
    units = {"add": FloatAdder(fmt, rounding="RDN", latency=3),
             "mul": FloatMultiplier(fmt, rounding="RUP", latency=3)}
    a, b = all_pairs(fmt)
    _check_bundle(units, a, b)


def test_mutant_caught_in_amaranth_sim():
    fmt = F("e3m2")
    a, b = all_pairs(fmt)
    with pytest.raises(AssertionError, match="vectors differ"):
        _check_bundle({"add": FloatAdder(fmt, rounding="RNE", _mutate="ties_away")}, a, b)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["e4m3", "e5m2", "e4m3_ftz", "e4m3fn", "e4m3fnuz", "e2m3fn",
                                  "e5m2_sat"])
def test_float8_exhaustive_amaranth(name):
    fmt = F(name)
    units = {}
    for md in ROUNDING_MODES if name in ("e4m3", "e4m3_ftz") else ("RNE", "RTZ"):
        units[f"add_{md}"] = FloatAdder(fmt, rounding=md)
        units[f"mul_{md}"] = FloatMultiplier(fmt, rounding=md)
    a, b = all_pairs(fmt)
    _check_bundle(units, a, b)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["q4.4", "uq3.5", "q4.4s"])
def test_fixed_exhaustive_amaranth(name):
    fmt = F(name)
    units = {}
    for ovf in ("SAT",) if fmt.symmetric else ("SAT", "WRAP"):
        units[f"add_{ovf}"] = FixedAdder(fmt, overflow=ovf)
        for md in ROUNDING_MODES:
            units[f"mul_{md}_{ovf}"] = FixedMultiplier(fmt, rounding=md, overflow=ovf)
    a, b = all_pairs(fmt)
    _check_bundle(units, a, b)


# -- folded MAC ---------------------------------------------------------------------------------
def _run_mac(mac, w, x, bias, gaps=0):
    """Stream rows of (w, x) plus bias through the MAC in its order; return its results.

    ``gaps`` idle cycles (valid_in low) are inserted after every beat to check that idle
    cycles do not disturb the accumulation.
    """
    n_vec = len(bias)
    results = []
    order = mac.order
    n = mac.n_terms - 1

    p = mac.i.payload

    async def bench(ctx):
        for v in range(n_vec):
            for j, term in enumerate(order):
                assert ctx.get(mac.index) == term, "index port disagrees with the order"
                if term < n:
                    ctx.set(p.w, int(w[v, term]))
                    ctx.set(p.x, int(x[v, term]))
                else:
                    ctx.set(p.w, 0x55)  # ignored on the bias beat
                    ctx.set(p.x, 0x2A)
                ctx.set(p.bias, int(bias[v]))
                ctx.set(mac.i.valid, 1)
                if ctx.get(mac.o.valid):
                    results.append(ctx.get(mac.o.payload.result))
                await ctx.tick()
                for _ in range(gaps):
                    ctx.set(mac.i.valid, 0)
                    if ctx.get(mac.o.valid):
                        results.append(ctx.get(mac.o.payload.result))
                    await ctx.tick()
        ctx.set(mac.i.valid, 0)
        for _ in range(mac.latency + 2):
            if ctx.get(mac.o.valid):
                results.append(ctx.get(mac.o.payload.result))
            await ctx.tick()

    sim = Simulator(mac)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return np.array(results, dtype=np.int64)


@pytest.mark.parametrize("name,ops,mul_latency,gaps", [
    ("e4m3", None, 0, 0), ("bf16", ("e4m3", "e5m2"), 2, 1), ("q4.4", None, 1, 0),
])
def test_folded_mac_matches_golden_reduce(name, ops, mul_latency, gaps):
    """The MAC realises reduce(products + [bias], Tree.from_order(order)) for several orders."""
    fmt = F(name)
    wf, xf = (fmt, fmt) if ops is None else (F(ops[0]), F(ops[1]))
    n = 6
    rng = np.random.default_rng(4)
    orders = [list(range(n + 1)), list(rng.permutation(n + 1)), [n] + list(range(n)),
              [ZERO] + list(range(n + 1))]
    n_vec = 40
    def codes(f, shape):
        c = f.all_codes() if f.bits <= 8 else f.encode(rng.normal(size=1000) * 4)
        if f.kind == "float" and f.nan_code is not None:
            c = c[~f.is_nan(c)]
        return rng.choice(c, size=shape).astype(np.int64)
    w, x, bias = codes(wf, (n_vec, n)), codes(xf, (n_vec, n)), codes(fmt, (n_vec,))
    for order in orders:
        mac = FoldedMAC(order, fmt, operand_fmt=(wf, xf), mul_latency=mul_latency)
        assert mac.tree == Tree.from_order(order, n_terms=n + 1)
        got = _run_mac(mac, w, x, bias, gaps=gaps)
        exp = mac.emulate(w=w, x=x, bias=bias)["result"]
        assert len(got) == n_vec
        check_codes(f"FoldedMAC order {order}", fmt, got, exp)


def test_folded_mac_order_matters():
    """Two orders, two answers, as golden says: 16 + 1 + 1 + 1 in e4m3."""
    e4m3 = F("e4m3")
    one, sixteen = (int(c) for c in e4m3.encode([1.0, 16.0]))
    w = np.array([[sixteen, one, one]])
    x = np.full((1, 3), one)
    bias = np.array([one])
    res = {}
    for name, order in {"big_first": [0, 1, 2, 3], "small_first": [1, 2, 3, 0]}.items():
        mac = FoldedMAC(order, e4m3)
        res[name] = float(e4m3.decode(_run_mac(mac, w, x, bias).astype(np.uint8))[0])
        terms = np.array([[sixteen, one, one, one]], dtype=np.uint8)
        assert res[name] == e4m3.decode(reduce(terms, Tree.from_order(order), e4m3))[0]
    assert res == {"big_first": 16.0, "small_first": 20.0}


def test_folded_mac_rejects_non_chain():
    with pytest.raises(ValueError, match="not a chain"):
        FoldedMAC(Tree.pairwise(4), F("e4m3"))


# -- small checks ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["e3m2", "q3.3"])
def test_reduction_tree_amaranth_pipelined(name):
    fmt = F(name)
    tree = Tree.random(5, 3)
    unit = ReductionTree(tree, fmt, level_latency=1)
    assert unit.latency == tree.depth
    rng = np.random.default_rng(0)
    terms = rng.choice(fmt.all_codes(), size=(3000, 5)).astype(np.int64)
    inputs = {f"terms__{i}": terms[:, i] for i in range(5)}
    out = run_amaranth(unit, inputs)
    check_codes("tree", fmt, out["result"], unit.emulate(**inputs)["result"])


def test_table_activation_is_the_table():
    impl = get_activation("tanh", "e3m2", method="kulp", k=1, seed=2)
    unit = TableActivation(impl, latency=1)
    x = np.arange(64)
    out = run_amaranth(unit, {"a": x})
    assert (unit.emulate(a=x)["result"] == impl(x.astype(np.uint8))).all()
    check_codes("table", impl.out_format, out["result"], unit.emulate(a=x)["result"])


class _ConvertThenReLU(wiring.Component):
    """A two-unit top built only from the stream signatures: connect, chain, connect."""

    def __init__(self, src, dst):
        self.conv = FloatConverter(src, dst, rounding="RUP", latency=2)
        self.relu = ReLU(dst, latency=1)
        self.latency = self.conv.latency + self.relu.latency
        super().__init__(UnitSignature({"a": src}, {"result": dst}))

    def elaborate(self, platform):
        m = Module()
        m.submodules.conv, m.submodules.relu = self.conv, self.relu
        wiring.connect(m, wiring.flipped(self.i), self.conv.i)
        chain(m, self.conv, self.relu)
        wiring.connect(m, self.relu.o, wiring.flipped(self.o))
        return m


def test_units_chain_through_their_streams():
    fp16, e4m3 = F("fp16"), F("e4m3")
    top = _ConvertThenReLU(fp16, e4m3)
    x = np.random.default_rng(1).integers(0, 1 << 16, 3000)
    out = run_amaranth(top, {"a": x})
    mid = top.conv.emulate(a=x)["result"]
    check_codes("convert then relu", e4m3, out["result"], top.relu.emulate(a=mid)["result"])
    m, units = Module(), (FloatConverter(fp16, e4m3), ReLU(fp16))
    with pytest.raises(ValueError, match="cannot chain"):
        chain(m, *units)
    for u in (m, *units):
        u._MustUse__silence = True  # built for the error only


def test_emulate_names_its_inputs():
    add = FloatAdder(F("e4m3"))
    with pytest.raises(ValueError, match=r"takes the inputs \['a', 'b'\]; missing \['b'\]"):
        add.emulate(a=[1])
    with pytest.raises(ValueError, match=r"unknown \['c'\]"):
        add.emulate(a=[1], b=[2], c=[3])
    with pytest.raises(ValueError, match="code 256 is out of range for e4m3"):
        add.emulate(a=[256], b=[0])
    rp = RoundPack(F("e4m3"), sig_width=4, exp_range=(-3, 3))
    with pytest.raises(ValueError, match=r"input 'exp' of .* is -5, outside its field \(-4 .. 3\)"):
        rp.emulate(sign=[0], sig=[1], exp=[-5], sticky=[0], nan=[0], inf=[0])
    rp._MustUse__silence = True
    tree = ReductionTree(Tree.pairwise(3), F("e4m3"))
    assert tree.signature.input_names() == ["terms__0", "terms__1", "terms__2"]
    assert list(tree.emulate(terms__0=[0x38], terms__1=[0x38], terms__2=[0])) == ["result"]
    add._MustUse__silence = tree._MustUse__silence = True  # emulated, never elaborated


def test_every_unit_has_a_signature_and_a_golden_twin():
    """Each kind of unit: a UnitSignature with field formats, emulate() keyed by its output
    fields, Verilog without ready ports, and a clock only when it has registers."""
    rng = np.random.default_rng(2)
    for name, unit in one_unit_of_each_kind().items():
        sig = unit.signature
        assert isinstance(sig, UnitSignature), name
        assert sig.output_names() == ["result"], name
        if isinstance(unit, FoldedMAC):
            n = unit.n_terms - 1
            inputs = {"w": np.full((3, n), 0x38), "x": np.full((3, n), 0x38),
                      "bias": np.full(3, 0x38)}
        else:
            inputs = {}
            for f in stream_fields(sig, wiring.In):
                if f.format is not None:
                    inputs[f.name] = rng.choice(f.format.all_codes()
                                                if f.format.bits <= 16 else [0, 1], 5)
                else:  # RoundPack's plain fields: small values, no specials, no sticky
                    special = f.name in ("nan", "inf", "sticky")
                    inputs[f.name] = np.zeros(5, int) if special else rng.integers(0, 2, 5)
        assert set(unit.emulate(**inputs)) == {"result"}, name
        text = to_verilog(unit, name)
        assert "ready" not in text, name
        assert (" clk;" in text) == (unit.latency > 0), name


def test_to_verilog_ports():
    e4m3 = F("e4m3")
    text = to_verilog(FloatAdder(e4m3), "add_e4m3")
    assert "module add_e4m3" in text
    for port in ("i__payload", "i__valid", "o__payload", "o__valid"):
        assert f" {port};" in text or f"] {port};" in text
    assert "ready" not in text  # always ready: the constant 1 is no port
    assert " clk;" not in text  # combinational units have no clock
    text = to_verilog(FloatAdder(e4m3, latency=2))
    assert "module floatadder" in text and " clk;" in text
    tree = ReductionTree(Tree.pairwise(4), e4m3)
    text = to_verilog(tree)
    assert "[31:0] i__payload;" in text
    fields = stream_fields(tree.signature, wiring.In)
    assert [(f.name, f.offset, f.width) for f in fields][3] == ("terms__3", 24, 8)
    with pytest.raises(ValueError, match="Verilog identifier"):
        to_verilog(FloatAdder(e4m3), "no spaces")


@pytest.mark.parametrize("call,exc,match", [
    (lambda: FloatAdder("q4.4"), TypeError, "must be a FloatFormat"),
    (lambda: FloatAdder(F("e4m3"), out=F("q4.4")), TypeError, "out must be a FloatFormat"),
    (lambda: FloatAdder(F("e4m3"), rounding="RNX"), ValueError, "unknown rounding mode 'RNX'"),
    (lambda: FloatAdder(F("e4m3"), latency=-1), ValueError, "latency must be >= 0"),
    (lambda: FloatMultiplier((F("e4m3"),)), ValueError, "pair of formats"),
    (lambda: FixedAdder(F("q4.4s"), overflow="WRAP"), ValueError, "symmetric"),
    (lambda: FixedMultiplier(F("e4m3")), TypeError, "must be a FixedFormat"),
    (lambda: FloatConverter(F("e4m3"), F("bf16"), overflow="SAT"), ValueError, "fixed-point"),
    (lambda: RoundPack(F("e4m3"), sig_width=0, exp_range=(0, 1)), ValueError, "sig_width"),
    (lambda: TableActivation(get_activation("relu", "fp32")), ValueError, "at most 16 bits"),
    (lambda: ReductionTree(((0, 1), 2), F("e4m3")), TypeError, "golden Tree"),
    (lambda: FloatAdder(F("e4m3"), _mutate="bogus"), ValueError, "unknown mutation"),
])
def test_argument_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
