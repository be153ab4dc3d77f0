"""Network hardware (spatial and folded) in Verilator against the golden network."""

import re

import numpy as np
import pytest

from ulpflow.golden import Layer, Network, Tree, parse_format
from ulpflow.golden.activations import get_activation
from ulpflow.hdl.network import Fault, FoldedLayer, NetworkTop, SpatialLayer
from ulpflow.sim import UnitSimulator
from ulpflow.sim.network import NetworkSimulator, locate_divergence, simulate_network

import netcases

FORMS = ("spatial", "folded")

EXHAUSTIVE = {
    "e4m3_d1": (netcases.e4m3_d1, 1),
    "e5m2_d2": (netcases.e5m2_d2, 2),
    "q44_d2": (netcases.q44_d2, 2),
    "e4m3_mixed_d2": (netcases.e4m3_mixed_d2, 2),
}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("case", sorted(EXHAUSTIVE))
def test_every_input_matches_golden(case, form):
    make, d = EXHAUSTIVE[case]
    net = make()
    x = netcases.every_input(net.in_format, d)
    y = simulate_network(net, x, form=form)
    gold = net(x, strict=False)
    bad = np.nonzero((y != gold).any(axis=1))[0]
    assert bad.size == 0, locate_divergence(net, x, y, form=form)
    # the network computes something: not a constant function of its inputs
    assert np.unique(gold, axis=0).shape[0] >= 2


@pytest.mark.parametrize("form", FORMS)
def test_bf16_random_inputs(form):
    net = netcases.bf16_d2()
    rng = np.random.default_rng(11)
    f = net.in_format
    x = np.concatenate([f.encode(rng.normal(0, 2, size=(100_000, 2))),
                        rng.integers(0, 1 << 16, size=(2_000, 2)).astype(f.dtype)])
    y = simulate_network(net, x, form=form)
    assert (y == net(x, strict=False)).all()


@pytest.mark.parametrize("form", FORMS)
def test_back_pressure_leaves_outputs_unchanged(form):
    net = netcases.e5m2_d2()
    x = netcases.every_input(net.in_format, 2)[::7]
    sim = NetworkSimulator(net, form=form)
    plain = sim.run(x)
    for seed in (1, 2):
        assert (sim.run(x, stall=(400, seed)) == plain).all()
    assert (plain == net(x, strict=False)).all()


@pytest.mark.parametrize("engine", ["cocotb", "cocotb-cycle"])
def test_every_engine_gives_the_same_outputs(engine):
    net = netcases.e4m3_mixed_d2()
    x = netcases.every_input(net.in_format, 2)[::331]
    for form in FORMS:
        ref = simulate_network(net, x, form=form)
        assert (simulate_network(net, x, form=form, engine=engine) == ref).all()
        assert (ref == net(x, strict=False)).all()


def test_folded_tree_engine_is_small():
    """The tree engine's register file is the Sethi–Ullman number: one register for a
    sequential tree, more for a balanced one."""
    net = netcases.e5m2_d2()
    layer = FoldedLayer(net.layers[0], net.in_format)
    assert layer.registers == 1
    wide = Network("e5m2", [netcases.layer(parse_format("e5m2"), 7, 1, get_activation("relu", "e5m2"),
                                           Tree.pairwise(8), np.random.default_rng(0))])
    wide_layer = FoldedLayer(wide.layers[0], wide.in_format)
    assert wide_layer.registers == 3
    for unit in (layer, wide_layer):
        unit._MustUse__silence = True  # built only to read their register counts



# -- zero weights in the spatial form ------------------------------------------------------------
SPARSE = [("e4m3", "RNE"), ("e4m3", "RDN"), ("e4m3fnuz", "RUP"), ("q4.4", "RNE")]


@pytest.mark.parametrize("fmt,rounding", SPARSE)
def test_zero_weights_cost_no_multiplier_and_match_golden(fmt, rounding):
    """Zero weights (+0 and −0) are elided: one multiplier per nonzero weight, and the network
    still equals golden on every input (NaN and ∞ inputs times a zero weight, exact zero sums of
    both signs, neurons of only zero weights)."""
    net = netcases.sparse(fmt, rounding)
    sim = NetworkSimulator(net, form="spatial")
    nonzero = sum(int((~np.asarray(layer.weight_format.is_zero(layer.weights))).sum()) for layer in net.layers)
    # every multiplier is an instance of a multiplier cell (one cell per distinct weight)
    multipliers = len(re.findall(r"^\s*ulpcell\d+_mul ", sim.verilog, re.M))
    assert all(layer.sparse for layer in sim.top.layers)
    assert multipliers == nonzero < sum(layer.weights.size for layer in net.layers)
    x = netcases.every_input(net.in_format, 2)
    y = sim.run(x)
    gold = net(x, strict=False)
    bad = np.nonzero((y != gold).any(axis=1))[0]
    assert bad.size == 0, locate_divergence(net, x, y, form="spatial")
    assert all(np.unique(gold[:, k]).size >= 40 for k in (1, 2))


@pytest.mark.parametrize("mutation", [None, "sign", "nan"])
def test_zero_weight_rule_mutations_are_caught(mutation):
    """The zero leaves' sign rule and NaN flag matter: the layer equals golden on every input,
    and built with the other exact-zero sign rule, or without the NaN of ∞·0, it does not."""
    net = netcases.sparse("e4m3", "RDN")
    unit = SpatialLayer(net.layers[0], net.in_format, _mutate_sparse=mutation)
    assert unit.sparse
    x = netcases.every_input(net.in_format, 2)
    inputs = {"x__0": x[:, 0], "x__1": x[:, 1]}
    got = UnitSimulator(unit, latency=unit.latency).run(inputs)
    want = unit.emulate(**inputs)
    differs = any((got[k] != want[k]).any() for k in want)
    assert differs == (mutation is not None)


# -- first divergence --------------------------------------------------------------------------
def _divergence(net, faults, form="spatial", x=None):
    x = netcases.every_input(net.in_format, net.n_in) if x is None else x
    y = NetworkSimulator(net, form=form, _faults=faults).run(x)
    assert (y != net(x, strict=False)).any(), "the fault changed no output"
    return locate_divergence(net, x, y, form=form, _faults=faults)


@pytest.mark.parametrize("form", FORMS)
def test_wrong_weight_is_pinpointed(form):
    net = netcases.e4m3_mixed_d2()
    good = int(net.layers[1].weights[1, 0])
    fault = Fault.weight(1, 1, 0, good ^ 0x08)
    d = _divergence(net, [fault], form)
    assert (d.layer, d.neuron, d.what, d.index) == (1, 1, "product", 0), str(d)
    assert d.golden != d.rtl
    assert "layer 1, neuron 1, product 0" in str(d)


def test_swapped_tree_leaves_are_pinpointed():
    f = parse_format("e4m3")
    rng = np.random.default_rng(8)
    net = Network(f, [netcases.layer(f, 2, 2, get_activation("identity", f), Tree.sequential(3), rng),
                      netcases.layer(f, 2, 2, get_activation("relu", f), Tree.sequential(3), rng)])
    d = _divergence(net, [Fault.swap(0, 1, 0, 2)])
    first = Tree.sequential(3).internal_nodes()[0][0]
    assert (d.layer, d.neuron, d.what, d.index) == (0, 1, "node", first), str(d)
    assert "t0 + t1" in str(d)


def test_wrong_table_entry_is_pinpointed():
    """The last layer's step activation built as a table with one entry flipped (1 <-> 0)."""
    net = netcases.e4m3_d1()
    x = netcases.every_input(net.in_format, 1)
    sums = net.trace(x).layers[2].sums
    code = int(sums[100, 0])
    act = net.layers[2].activation
    right = int(act(np.array([code], dtype=act.in_format.dtype))[0])
    wrong = act.out_format.zero_code if right != act.out_format.zero_code else act.out_format.one_code
    d = _divergence(net, [Fault.table(2, code, wrong)], "folded")
    assert (d.layer, d.neuron, d.what) == (2, 0, "activation"), str(d)
    assert (d.golden, d.rtl) == (right, wrong)


def test_agreeing_outputs_have_no_divergence():
    net = netcases.e5m2_d2()
    x = netcases.every_input(net.in_format, 2)[:500]
    assert locate_divergence(net, x, net(x, strict=False)) is None


# -- bad input -----------------------------------------------------------------------------------
def test_bad_inputs_are_one_clear_error():
    net = netcases.e5m2_d2()
    with pytest.raises(ValueError, match=r"shape \(n_vectors, 2\)"):
        simulate_network(net, np.zeros((4, 3), dtype=np.uint8))
    with pytest.raises(TypeError, match="integer codes"):
        simulate_network(net, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="form must be one of"):
        simulate_network(net, np.zeros((4, 2), dtype=np.uint8), form="systolic")
    with pytest.raises(ValueError, match="engine must be one of"):
        simulate_network(net, np.zeros((4, 2), dtype=np.uint8), engine="icarus")
    q = netcases.q44_d2()
    with pytest.raises(ValueError, match="x_codes"):
        simulate_network(q, np.full((2, 2), 300))
    f = parse_format("e4m3")
    exact = Layer(np.full((1, 2), 0x38, dtype=np.uint8), np.zeros(1, dtype=np.uint8), weight_format=f,
                  acc_format=f, activation=get_activation("relu", f), accumulate="exact")
    with pytest.raises(ValueError, match="layer 0.*accumulates exactly"):
        NetworkTop(Network(f, [exact]))
    with pytest.raises(TypeError, match="golden Network"):
        NetworkTop("net.json")


def test_folded_pipeline_fill_is_waited_for():
    """Two wide folded layers in a row: the first result needs both layers' cycles, more than the
    slowest layer's per-vector time plus a margin (the run waited only for that, and timed out)."""
    f = parse_format("q4.4")
    rng = np.random.default_rng(5)
    relu = get_activation("relu", f)
    net = Network(f, [netcases.layer(f, 1, 40, relu, Tree.sequential(2), rng),
                      netcases.layer(f, 40, 40, relu, Tree.sequential(41), rng),
                      netcases.layer(f, 40, 40, relu, Tree.sequential(41), rng),
                      netcases.layer(f, 40, 1, relu, Tree.sequential(41), rng)])
    sim = NetworkSimulator(net, form="folded")
    fill = sum(u.cycles_per_vector for u in sim.top.layers)
    assert fill > sim.top.cycles_per_vector + 1 + 1000
    x = netcases.every_input(f, 1)[:1]
    assert (sim.run(x) == net(x, strict=False)).all()


# -- 16-bit tables and fused layers ----------------------------------------------------------------
@pytest.mark.parametrize("form", FORMS)
def test_bf16_table_activation(form):
    """A correctly rounded tanh over every bf16 input: a 2^16-entry table per activation unit."""
    f = parse_format("bf16")
    rng = np.random.default_rng(12)
    net = Network(f, [netcases.layer(f, 1, 2, get_activation("tanh", f), Tree.pairwise(2), rng)])
    x = np.arange(1 << 16, dtype=np.uint16).reshape(-1, 1)
    assert (simulate_network(net, x, form=form) == net(x, strict=False)).all()


@pytest.mark.parametrize("form", FORMS)
def test_fused_layer_matches_golden(form):
    """A layer of GPU fused blocks (ampere.mma.f16.f32: blocks of 8, truncation to 24 bits), two
    blocks per neuron, then a ReLU into fp16."""
    from ulpflow.golden.mma import get_model

    model = get_model("ampere.mma.f16.f32")
    f16, f32 = parse_format("fp16"), parse_format("fp32")
    rng = np.random.default_rng(13)
    n_in = 12
    layer = Layer(f16.encode(rng.normal(0, 1, (2, n_in))), f32.encode(rng.normal(0, 1, 2)),
                  weight_format=f16, acc_format=f32, product_format=f32,
                  activation=get_activation("relu", f32, f16),
                  tree=Tree.fused(n_in + 1, model.spec, block=model.L))
    net = Network(f16, [layer])
    x = np.concatenate([f16.encode(rng.normal(0, 4, (20_000, n_in))),
                        rng.integers(0, 1 << 16, size=(2_000, n_in)).astype(np.uint16)])
    assert (simulate_network(net, x, form=form) == net(x, strict=False)).all()
    # blocks in another order than a FusedDotProduct chains them: refused, not mis-built
    odd = Tree.from_fused([list(range(8, 12)) + [12], list(range(8)) + ["n0"]], model.spec)
    bad = Layer(layer.weights, layer.bias, weight_format=f16, acc_format=f32, product_format=f32,
                activation=layer.activation, tree=odd)
    with pytest.raises(ValueError, match=r"neuron 0 is not Tree.fused\(13, spec, block=4\)"):
        NetworkTop(Network(f16, [bad]), form)


def test_fault_in_a_fused_layer_is_located_at_its_sum():
    from ulpflow.golden.mma import get_model

    model = get_model("ampere.mma.f16.f32")
    f16, f32 = parse_format("fp16"), parse_format("fp32")
    rng = np.random.default_rng(14)
    layer = Layer(f16.encode(rng.normal(0, 1, (2, 3))), f32.encode(rng.normal(0, 1, 2)),
                  weight_format=f16, acc_format=f32, product_format=f32,
                  activation=get_activation("relu", f32, f16), tree=Tree.fused(4, model.spec))
    net = Network(f16, [layer])
    x = f16.encode(rng.normal(0, 2, (3_000, 3)))
    fault = Fault.weight(0, 1, 2, int(layer.weights[1, 2]) ^ 0x0400)
    y = NetworkSimulator(net, form="folded", _faults=[fault]).run(x)
    d = locate_divergence(net, x, y, form="folded", _faults=[fault])
    assert (d.layer, d.neuron, d.what) == (0, 1, "sum"), str(d)


def test_every_input_holds_only_codes_of_the_format():
    """A symmetric fixed-point format has no most-negative code: every_input leaves it out."""
    from ulpflow.sim.network import every_input

    f = parse_format("q3.3s")
    net = Network(f, [netcases.layer(f, 2, 1, get_activation("relu", f), Tree.pairwise(3),
                                     np.random.default_rng(0))])
    x = every_input(net)
    assert x.shape == (63 * 63, 2) and np.unique(x, axis=0).shape[0] == 63 * 63
    assert 0x20 not in x
    net(x)  # every vector is a valid input of the golden network


# -- a construction's network: mostly zero weights, the sparse weight store --------------------------
def _c1_network():
    from ulpflow.nets.driver import RunOptions, construct

    c, _target, dom = construct(RunOptions("c1", "q2.2s", "random:3"))
    return c.network, dom.points()


def test_mostly_zero_weights_use_the_sparse_store_exactly():
    """C1 on q2.2s (weights ±1 and mostly 0): the folded layers keep only the non-default
    weights, and the network still matches golden on every input."""
    net, x = _c1_network()
    sim = NetworkSimulator(net, form="folded")
    stores = [u.weight_store for u in sim.top.layers]
    assert "sparse" in stores, stores
    assert x.shape[0] == 15  # every value of q2.2s: -1.75 … 1.75
    y = sim.run(x)
    gold = net(x, strict=False)
    assert (y == gold).all()
    assert np.unique(gold).size >= 2


def test_a_zero_weight_made_nonzero_in_the_sparse_store_is_pinpointed():
    net, x = _c1_network()
    li = 2
    w = net.layers[li].weights
    k, j = map(int, np.argwhere(w == w.flat[np.argmax(w != 0)])[0])  # a ±1 weight's code …
    code = int(w[k, j])
    zk, zj = map(int, np.argwhere(w == 0)[0])  # … copied onto a zero weight
    d = _divergence(net, [Fault.weight(li, zk, zj, code)], "folded", x)
    assert (d.layer, d.neuron, d.what, d.index) == (li, zk, "product", zj), str(d)
