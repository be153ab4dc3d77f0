"""The network IR: evaluation and traces against an independent oracle, errors, JSON.

The oracle recomputes every product, tree node and exact activation without the golden
model: MPFR (``oracles.gmpy2_op``) for float products and sums (mixed operand formats
included), exact integers written here for fixed point, and relu/identity/step by hand.
Correctly rounded and inexact activations are applied from their own tables (they are
checked against MPFR in the activation tests); here only the composition is under test.
"""

import dataclasses
import json
import re

import numpy as np
import pytest

import ulpflow.golden as g
from ulpflow.golden import parse_format
from ulpflow.golden.activations import get_activation
from ulpflow.golden.network import Layer, Network, Trace, first_divergence
from ulpflow.golden.tree import ZERO_LEAF as ZERO, Tree
from oracles import (FLOAT_PRESETS, FixedSpec, assert_codes_equal, gmpy2_op, gmpy2_round_values)


# ---------------------------------------------------------------------------- oracle

def spec_of(fmt):
    name = str(fmt)
    if name in FLOAT_PRESETS:
        return FLOAT_PRESETS[name]
    m = re.fullmatch(r"(u?)q(\d+)\.(\d+)(s?)(_wrap)?", name)
    assert m, f"test oracle has no spec for {name}"
    return FixedSpec(name, int(m[2]), int(m[3]), signed=not m[1], symmetric=bool(m[4]),
                     overflow="WRAP" if m[5] else "SAT")


def round_shift(n, s, mode):
    """Round integers n / 2**s (s >= 0) to integers in ``mode`` (exact integer arithmetic)."""
    n = np.asarray(n, dtype=object)
    out = []
    for v in n.ravel().tolist():
        q, r = divmod(v, 1 << s)  # floor division: r >= 0
        half = 1 << s >> 1
        if r == 0:
            out.append(q)
            continue
        if mode == "RDN":
            out.append(q)
        elif mode == "RUP":
            out.append(q + 1)
        elif mode == "RTZ":
            out.append(q if v >= 0 else q + 1)
        elif r > half or (r == half and (mode == "RNA" and v >= 0 or mode == "RNE" and q % 2 == 1)):
            out.append(q + 1)
        else:
            out.append(q)
    return np.array(out, dtype=np.int64).reshape(n.shape)


def fixed_finish(k, spec):
    if spec.overflow == "WRAP":
        w = k & ((1 << spec.bits) - 1)
        return np.where(spec.signed & (w >= (1 << (spec.bits - 1))), w - (1 << spec.bits), w)
    return np.clip(k, spec.kmin, spec.kmax)


def o_mul(a, b, sa, sb, so, mode):
    if isinstance(so, FixedSpec):
        n = sa.to_int(a) * sb.to_int(b)  # at 2**-(Fa+Fb)
        s = sa.F + sb.F - so.F
        k = round_shift(n, s, mode) if s >= 0 else n << -s
        return so.from_int(fixed_finish(k, so))
    return gmpy2_op("mul", [a, b], so, mode, in_specs=[sa, sb])


def o_add(a, b, sa, sb, so, mode):
    if isinstance(so, FixedSpec):
        F = max(sa.F, sb.F)
        n = (sa.to_int(a) << (F - sa.F)) + (sb.to_int(b) << (F - sb.F))
        k = round_shift(n, F - so.F, mode) if F >= so.F else n << (so.F - F)
        return so.from_int(fixed_finish(k, so))
    return gmpy2_op("add", [a, b], so, mode, in_specs=[sa, sb])


def o_activation(act, s, si, so):
    """relu / identity / step by hand (then one rounding into the output format); any other
    implementation through its own table."""
    if act.method != "exact":
        return np.asarray(act.table())[s.astype(np.int64)]
    if isinstance(si, FixedSpec):
        k = si.to_int(s)
        if act.name == "relu":
            k = np.maximum(k, 0)
        elif act.name == "step":
            return so.from_int(np.where(k >= 0, 1 << so.F, 0))
        sh = si.F - so.F
        k = round_shift(k, sh, act.rounding) if sh >= 0 else k << -sh
        return so.from_int(fixed_finish(k, so))
    v = si.input_value(s)
    nan = si.is_nan(s)
    if act.name == "relu":
        v = np.where(v > 0, v, 0.0)
    elif act.name == "step":
        v = np.where(v >= 0, 1.0, 0.0)
    v = np.where(nan, np.nan, v)
    return gmpy2_round_values(v.ravel(), so, act.rounding).reshape(v.shape)


def oracle_forward(net, x):
    """Every product, node, sum and output of every layer, recomputed independently."""
    in_spec = spec_of(net.input_format)
    out = []
    for layer in net.layers:
        ws, ps, acs = spec_of(layer.weight_format), spec_of(layer.product_format), spec_of(layer.acc_format)
        os_ = spec_of(layer.out_format)
        mode = layer.rounding
        B = x.shape[0]
        prods = np.empty((B, layer.n_out, layer.n_in), dtype=ps.dtype)
        for k in range(layer.n_out):
            for j in range(layer.n_in):
                w = np.full(B, layer.weights[k, j], dtype=ws.dtype)
                prods[:, k, j] = o_mul(w, x[:, j], ws, in_spec, ps, mode)
        sums = np.empty((B, layer.n_out), dtype=acs.dtype)
        nodes = []
        for k in range(layer.n_out):
            vals = []
            bias = np.full(B, layer.bias[k], dtype=acs.dtype)

            def operand(ref):
                kind, i = ref
                if kind == "leaf":
                    return (prods[:, k, i], ps) if i < layer.n_in else (bias, acs)
                if kind == "node":
                    return vals[i], acs
                return np.zeros(B, dtype=acs.dtype), acs

            for j, left, right in layer.trees[k].internal_nodes():
                (a, sa), (b, sb) = operand(left), operand(right)
                vals.append(o_add(a, b, sa, sb, acs, mode))
            nodes.append(np.stack(vals, axis=-1) if vals else np.zeros((B, 0), acs.dtype))
            sums[:, k] = vals[-1] if vals else operand(layer.trees[k].root)[0]
        y = o_activation(layer.activation, sums, acs, os_)
        out.append(dict(inputs=x, products=prods, nodes=nodes, sums=sums, outputs=y))
        x, in_spec = y, os_
    return out


def check_against_oracle(net, x):
    tr = net.trace(x)
    ref = oracle_forward(net, x)
    for i, (lt, r) in enumerate(zip(tr.layers, ref)):
        layer = net.layers[i]
        what = f"layer {i}"
        ps, acs, os_ = spec_of(layer.product_format), spec_of(layer.acc_format), spec_of(layer.out_format)
        assert_codes_equal(lt.products, r["products"], ps, what=f"{what} products")
        for k in range(layer.n_out):
            assert_codes_equal(lt.nodes[k], r["nodes"][k], acs, what=f"{what} neuron {k} nodes")
        assert_codes_equal(lt.sums, r["sums"], acs, what=f"{what} sums")
        assert_codes_equal(lt.outputs, r["outputs"], os_, what=f"{what} outputs")
    # plain evaluation (chunked) equals the trace's outputs
    assert np.array_equal(net(x), tr.outputs)
    return tr


# ---------------------------------------------------------------------------- networks

def float_net(rounding="RNE"):
    """e4m3 input, a mixed-format middle layer (e5m2 weights × e4m3 inputs -> fp16 products,
    fp16 accumulator, relu converting back to e4m3) and per-neuron trees."""
    rng = np.random.default_rng(1)
    e4m3 = g.parse_format("e4m3")
    l1 = Layer.from_values([[1.0, -0.5], [0.75, 2.0], [-1.5, 0.125], [3.0, -3.0]],
                           [0.5, -0.25, 0.0, 1.0], weight_format="e4m3", acc_format="e4m3",
                           activation=get_activation("relu", e4m3), tree=Tree.pairwise(3),
                           rounding=rounding, name="in")
    w2 = rng.integers(0, 256, (3, 4)).astype(np.uint8)
    w2 = np.where((w2 & 0x7C) == 0x7C, 0x3C, w2).astype(np.uint8)  # no inf/NaN weights
    trees = [Tree.random(5, 1), Tree.sequential(5, from_zero=True), Tree.reversed(5)]
    l2 = Layer(w2, g.parse_format("fp16").encode([0.25, -1.0, 2.0]), weight_format="e5m2",
               product_format="fp16", acc_format="fp16",
               activation=get_activation("relu", "fp16", "e4m3", rounding=rounding),
               tree=trees, rounding=rounding, name="mixed")
    l3 = Layer.from_values([[1.0, -1.0, 0.5], [0.25, 0.5, 0.75]], [0.0, -0.5], weight_format="e4m3",
                           acc_format="e4m3", activation=get_activation("identity", "e4m3"),
                           rounding=rounding)
    return Network("e4m3", [l1, l2, l3])


def fixed_net():
    """q4.4 inputs, exact q8.8 products and accumulator, relu rounding to q4.4, then a wrapping
    accumulator."""
    l1 = Layer.from_values([[1.0, -0.5], [0.75, 2.0], [-1.5, 0.0625]], [0.5, -0.25, 0.0],
                           weight_format="q4.4", product_format="q8.8", acc_format="q8.8",
                           activation=get_activation("relu", "q8.8", "q4.4", rounding="RNE"))
    l2 = Layer.from_values([[1.0, -1.25, 0.5], [3.5, 2.0, -4.0]], [0.0, 1.0], weight_format="q4.4",
                           product_format="q4.4", acc_format="q4.4_wrap",
                           activation=get_activation("identity", "q4.4_wrap"),
                           tree=[Tree.pairwise(4), Tree.random(4, 5)], rounding="RTZ")
    return Network("q4.4", [l1, l2])


def random_inputs(fmt, n_in, rows, seed):
    rng = np.random.default_rng(seed)
    codes = fmt.all_codes()
    return codes[rng.integers(0, codes.size, (rows, n_in))]


@pytest.mark.parametrize("rounding", ["RNE", "RTZ", "RUP"])
def test_float_network_matches_oracle(rounding):
    net = float_net(rounding)
    x = random_inputs(net.input_format, 2, 400, 2)
    tr = check_against_oracle(net, x)
    assert tr.layers[1].products.shape == (400, 3, 4)
    assert len(tr.layers[1].nodes) == 3 and tr.layers[1].nodes[1].shape == (400, 5)  # from zero


def test_fixed_network_matches_oracle():
    net = fixed_net()
    x = random_inputs(net.input_format, 2, 500, 3)
    check_against_oracle(net, x)


def test_cr_activation_network_matches_oracle():
    e5m2 = g.parse_format("e5m2")
    l1 = Layer.from_values([[1.0], [-2.0], [0.5]], [0.0, 1.0, -1.0], weight_format=e5m2,
                           acc_format=e5m2, activation=get_activation("gelu", e5m2))
    l2 = Layer.from_values([[1.0, 1.0, -1.0]], [0.25], weight_format=e5m2, acc_format=e5m2,
                           activation=get_activation("tanh", e5m2, method="kulp", k=2, seed=4),
                           tree=Tree.pairwise(4))
    net = Network(e5m2, [l1, l2])
    check_against_oracle(net, e5m2.all_codes()[:, None])


def test_chunked_evaluation_equals_single_chunk(monkeypatch):
    import ulpflow.golden.network as nw

    net = float_net()
    x = random_inputs(net.input_format, 2, 3000, 9)
    whole = net(x)
    monkeypatch.setattr(nw, "_TARGET_CALL_ELEMENTS", 64)
    assert np.array_equal(net(x), whole)


# ---------------------------------------------------------------------------- divergence

def test_first_divergence_names_the_first_differing_value():
    net = float_net()
    x = random_inputs(net.input_format, 2, 50, 4)
    a = net.trace(x)
    assert first_divergence(a, net.trace(x)) is None
    l1 = a.layers[1]
    nodes = list(l1.nodes)
    changed = nodes[2].copy()
    changed[7, 2] ^= 1
    changed[9, 1] ^= 1          # earlier node of the same neuron, later row: reported first
    nodes[2] = changed
    outs = a.layers[2].outputs.copy()
    outs[0, 0] ^= 1             # later layer: not reported
    b = Trace(net, (a.layers[0], dataclasses.replace(l1, nodes=tuple(nodes)),
                    dataclasses.replace(a.layers[2], outputs=outs)))
    d = first_divergence(a, b)
    assert (d.layer, d.stage, d.neuron, d.index, d.row) == (1, "node", 2, 1, 9)
    _, left, right = net.layers[1].trees[2].internal_nodes()[1]
    assert d.code_a == a.layers[1].nodes[2][9, 1] and d.code_b == changed[9, 1]
    text = str(d)
    assert text.startswith("layer 1, node, neuron 2, node 1 (") and "batch row 9" in text
    # a product divergence in layer 0 comes before everything else
    prods = a.layers[0].products.copy()
    prods[3, 1, 0] ^= 1
    c = Trace(net, (dataclasses.replace(a.layers[0], products=prods),) + b.layers[1:])
    d = first_divergence(a, c)
    assert (d.layer, d.stage, d.neuron, d.index, d.row) == (0, "product", 1, 0, 3)
    # a source that only observes outputs (e.g. hardware) is compared on what it has
    only_out = Trace(net, tuple(LayerTraceOutputs(lt.outputs) for lt in b.layers))
    d = first_divergence(a, only_out)
    assert (d.layer, d.stage, d.neuron, d.row) == (2, "output", 0, 0)


def LayerTraceOutputs(outputs):
    from ulpflow.golden.network import LayerTrace

    return LayerTrace(outputs=outputs)


def test_first_divergence_nan_by_class():
    e4m3 = g.parse_format("e4m3")
    net = Network(e4m3, [Layer.from_values([[1.0]], [0.0], weight_format=e4m3, acc_format=e4m3,
                                           activation=get_activation("identity", e4m3))])
    x = np.array([[0x7F]], dtype=np.uint8)  # a NaN input
    a = net.trace(x)
    other = dataclasses.replace(a.layers[0], outputs=np.array([[0xFF]], dtype=np.uint8))
    b = Trace(net, (other,))
    assert first_divergence(a, b).stage == "output"
    assert first_divergence(a, b, nan_by_class=True) is None


# ---------------------------------------------------------------------------- errors

def test_unrepresentable_value_names_layer_position_value_neighbours():
    with pytest.raises(ValueError) as e:
        Layer.from_values([[1.0, 0.1]], [0.0], weight_format="bf16", acc_format="bf16",
                          activation=get_activation("relu", "bf16"), name="first")
    msg = str(e.value)
    # the neighbours are two consecutive positive bf16 codes around 0.1 (decoded by ml_dtypes)
    import ml_dtypes

    lo_code, hi_code = (int(c, 16) for c in re.findall(r"0x([0-9a-f]{4})", msg))
    assert hi_code == lo_code + 1
    lo, hi = (float(np.array([c], np.uint16).view(ml_dtypes.bfloat16)[0]) for c in (lo_code, hi_code))
    assert lo < 0.1 < hi
    assert "layer 'first'" in msg and "weight[0, 1]" in msg and "= 0.1 " in msg
    assert f"({lo!r})" in msg and f"({hi!r})" in msg
    with pytest.raises(ValueError, match=r"layer 'b': bias\[1\] = 0.3 is not representable in q4.4; its "
                                         r"neighbours are 0x04 \(0.25\) and 0x05 \(0.3125\)"):
        Layer.from_values([[1.0], [1.0]], [0.0, 0.3], weight_format="q4.4", acc_format="q4.4",
                          activation=get_activation("relu", "q4.4"), name="b")
    with pytest.raises(ValueError, match=r"weight\[0, 0\] = 1000.0 is not representable in e4m3; its "
                                         r"neighbours are 0x77 \(240.0\) and 0x78 \(inf\)"):
        Layer.from_values([[1000.0]], [0.0], weight_format="e4m3", acc_format="e4m3",
                          activation=get_activation("relu", "e4m3"))


def test_out_of_range_fixed_value():
    with pytest.raises(ValueError, match=r"weight\[0, 0\] = 100.0 is outside the range of q4.4; the "
                                         r"nearest representable value is 0x7f \(7.9375\)"):
        Layer.from_values([[100.0]], [0.0], weight_format="q4.4", acc_format="q4.4",
                          activation=get_activation("relu", "q4.4"))


def test_from_values_accepts_exact_values():
    from fractions import Fraction

    layer = Layer.from_values([[Fraction(3, 8), -2, float("inf")]], [Fraction(-1, 64)],
                              weight_format="e4m3", acc_format="fp16",
                              activation=get_activation("identity", "fp16"))
    spec = FLOAT_PRESETS["e4m3"]
    assert spec.decode(layer.weights).tolist() == [[0.375, -2.0, float("inf")]]
    assert FLOAT_PRESETS["fp16"].decode(layer.bias).tolist() == [-1 / 64]


def test_layer_and_network_errors():
    relu = get_activation("relu", "e4m3")
    with pytest.raises(TypeError, match="must be integer codes.*from_values"):
        Layer(np.array([[1.0]]), np.array([0]), weight_format="e4m3", acc_format="e4m3", activation=relu)
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\)"):
        Layer(np.zeros((2, 3), np.uint8), np.zeros(3, np.uint8), weight_format="e4m3",
              acc_format="e4m3", activation=relu)
    with pytest.raises(ValueError, match="code 300 is out of range for e4m3"):
        Layer(np.array([[300]]), np.array([0]), weight_format="e4m3", acc_format="e4m3", activation=relu)
    with pytest.raises(ValueError, match="takes e4m3 codes but the accumulator format is fp16"):
        Layer(np.zeros((1, 1), np.uint8), np.zeros(1, np.uint16), weight_format="e4m3",
              acc_format="fp16", activation=relu)
    with pytest.raises(ValueError, match="tree of neuron 0 is over 3 terms but the neuron has 1 inputs"):
        Layer(np.zeros((1, 1), np.uint8), np.zeros(1, np.uint8), weight_format="e4m3",
              acc_format="e4m3", activation=relu, tree=Tree.sequential(3))
    with pytest.raises(ValueError, match="got 1 trees for 2 neurons"):
        Layer(np.zeros((2, 1), np.uint8), np.zeros(2, np.uint8), weight_format="e4m3",
              acc_format="e4m3", activation=relu, tree=[Tree.sequential(2)])
    q = Layer(np.zeros((1, 1), np.uint8), np.zeros(1, np.uint8), weight_format="q4.4",
              acc_format="q4.4", activation=get_activation("relu", "q4.4"))
    f = Layer(np.zeros((1, 2), np.uint8), np.zeros(1, np.uint8), weight_format="e4m3",
              acc_format="e4m3", activation=relu)
    with pytest.raises(ValueError, match="layer 0: weights in q4.4 cannot multiply inputs in e4m3"):
        Network("e4m3", [q])
    with pytest.raises(ValueError, match="layer 1 has 2 inputs but the previous layer has 1 outputs"):
        Network("e4m3", [Layer(np.zeros((1, 1), np.uint8), np.zeros(1, np.uint8), weight_format="e4m3",
                               acc_format="e4m3", activation=relu), f])
    net = Network("e4m3", [f])
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 2\)"):
        net(np.zeros(2, np.uint8))


# ---------------------------------------------------------------------------- JSON

def json_nets():
    """Networks covering every activation kind, tree kind and format kind."""
    nets = [float_net(), fixed_net()]
    e4m3, q = g.parse_format("e4m3"), g.parse_format("q3.5")
    acts = [get_activation("step", e4m3), get_activation("sigmoid", e4m3),
            get_activation("tanh", e4m3, method="faithful", seed=3),
            get_activation("silu", e4m3, method="kulp", k=3, seed=1),
            get_activation("gelu", e4m3, method="pwl"),
            get_activation("elu", e4m3, alpha=0.5)]
    for i, act in enumerate(acts):
        tree = [Tree.from_nested(((0, ZERO), (1, 2))), Tree.random(3, i)] if i % 2 else Tree.pairwise(3)
        layer = Layer.from_values([[1.0, -0.5], [0.25, 2.0]], [0.5, -1.0], weight_format=e4m3,
                                  acc_format=e4m3, activation=act, tree=tree, name=f"act{i}")
        nets.append(Network(e4m3, [layer]))
    fx = [get_activation("sigmoid", q, rounding="RTZ"), get_activation("step", q),
          get_activation("softplus", q, method="faithful", seed=2)]
    for act in fx:
        layer = Layer.from_values([[1.0, -0.5, 0.25]], [0.125], weight_format=q, acc_format=q,
                                  activation=act, tree=Tree.sequential(4, from_zero=True))
        nets.append(Network(q, [layer]))
    return nets


def test_json_round_trip_is_exact():
    for net in json_nets():
        text = net.dumps()
        back = Network.loads(text)
        assert back.to_json() == net.to_json()
        assert back == net
        assert json.loads(back.dumps()) == json.loads(text)
        x = random_inputs(net.input_format, net.n_in, 300, 1)
        assert np.array_equal(back(x), net(x))
        for a, b in zip(back.layers, net.layers):
            assert a.trees == b.trees and a.shared_tree == b.shared_tree
            # (Activation.__eq__ treats a table read from JSON as different from the same
            # table computed, so compare the serialised implementations)
            assert a.activation.to_json() == b.activation.to_json()


def test_json_is_readable_without_ulpflow():
    d = json.loads(float_net().dumps())
    assert d["format"] == "ulpflow-network" and d["version"] == 1
    assert d["input_format"] == "e4m3"
    l0, l1 = d["layers"][:2]
    # pairwise(3) is ((t0 + t1) + t2): a chain, so it is written as a sequence
    assert l0["tree"] == {"sequence": [0, 1, 2]} and l0["weights"][0] == ["0x38", "0xb0"]
    assert d["layers"][2]["tree"] == {"sequence": [0, 1, 2, 3]}
    assert json.loads(json_nets()[3].dumps())["layers"][0]["trees"][0] == [[0, "zero"], [1, 2]]
    assert l1["trees"][1] == {"sequence": ["zero", 0, 1, 2, 3, 4]}
    assert l1["product_format"] == "fp16" and l1["bias"][0] == "0x3400"
    assert l1["activation"]["name"] == "relu" and l1["output_format"] == "e4m3"
    kulp = json.loads(json_nets()[5].dumps())["layers"][0]["activation"]
    assert kulp["method"] == "kulp" and len(kulp["table"]) == 256


def _mutate(d, path, value=None, delete=False):
    d = json.loads(json.dumps(d))
    obj = d
    for p in path[:-1]:
        obj = obj[p]
    if delete:
        del obj[path[-1]]
    else:
        obj[path[-1]] = value
    return d


@pytest.mark.parametrize("path, value, delete, message", [
    (["layers", 0, "acc_format"], None, True, r"layers\[0\]: missing key 'acc_format'"),
    (["layers", 0, "weights", 1, 0], "0x1g", False, r"layers\[0\]\.weights\[1\]\[0\]: bad hex code '0x1g'"),
    (["layers", 0, "weights", 1, 0], "38", False, r"weights\[1\]\[0\]: expected a hex string like '0x00'"),
    (["layers", 0, "weights", 1, 0], "0x1ff", False, r"code 0x1ff does not fit the 8-bit format e4m3"),
    (["layers", 0, "weights", 2], ["0x38"], False, r"row 2 has 1 codes but row 0 has 2"),
    (["layers", 0, "bias"], ["0x00"], False, r"layers\[0\]\.bias: expected a list of 4 hex codes"),
    (["layers", 0, "weight_format"], "e9m9x", False, r"weight_format: unknown format name 'e9m9x'"),
    (["input_format"], "fp8", False, r"input_format: unknown format name 'fp8'"),
    (["layers", 0, "tree"], [[0, 1], 1], False, r"layers\[0\]\.tree: leaf 1 appears 2 times"),
    (["layers", 1, "trees", 0], {"sequence": [0, 1, 2, 3]}, False, r"trees\[0\]: leaf 4 is missing"),
    (["layers", 0, "wieghts"], [], False, r"layers\[0\]: unknown key 'wieghts'"),
    (["layers", 0, "activation", "name"], "swish2", False, r"layers\[0\]\.activation: unknown activation 'swish2'"),
    (["layers", 0, "output_format"], "fp16", False, r"output_format: says fp16 but the activation produces e4m3"),
    (["layers", 0, "rounding"], "RNZ", False, r"rounding: unknown rounding mode 'RNZ'"),
    (["layers", 1, "weights"], [["0x00"] * 3] * 3, False, r"layers\[1\]\.weights: rows have 3 codes but the previous layer has 4"),
    (["version"], 7, False, r"version: this reader understands version 1, got 7"),
    (["layers", 0, "n_in"], 5, False, r"n_in: says 5 but the weight rows have 2 codes"),
])
def test_bad_json_gives_one_clear_error(path, value, delete, message):
    d = float_net().to_json()
    bad = _mutate(d, path, value, delete)
    with pytest.raises(ValueError, match=message) as e:
        Network.from_json(bad)
    assert "\n" not in str(e.value) and str(e.value).startswith("network JSON: ")


def test_bad_json_text_and_kulp_table():
    with pytest.raises(ValueError, match="network JSON: not valid JSON"):
        Network.loads("{")
    d = json_nets()[5].to_json()
    d["layers"][0]["activation"]["table"][3] = "0xZZ"
    with pytest.raises(ValueError, match=r"layers\[0\]\.activation: activation table entry 3"):
        Network.from_json(d)


# ---------------------------------------------------------------------------- exact accumulation

def fraction_exact_layer(layer, x, in_spec):
    """accumulate="exact" recomputed without the golden model: MPFR products (``o_mul``), their
    values and the bias as exact Fractions summed in Python, one MPFR (float) or integer (fixed)
    rounding of the sum. Zero sums: −0 only when every term is −0 (or, under RDN, when some
    term is −0 or the terms cancel). Inputs here are finite."""
    from fractions import Fraction

    from oracles import gmpy2_round_fractions

    ws, ps, acs = spec_of(layer.weight_format), spec_of(layer.product_format), spec_of(layer.acc_format)
    mode = layer.rounding
    B = x.shape[0]
    sums = np.empty((B, layer.n_out), dtype=acs.dtype)
    for k in range(layer.n_out):
        prods = [o_mul(np.full(B, layer.weights[k, j], ws.dtype), x[:, j], ws, in_spec, ps, mode)
                 for j in range(layer.n_in)]
        bias = np.full(B, layer.bias[k], acs.dtype)
        if isinstance(acs, FixedSpec):
            F = max(ps.F, acs.F)
            total = sum(ps.to_int(p).astype(object) << (F - ps.F) for p in prods) + \
                (acs.to_int(bias).astype(object) << (F - acs.F))
            kk = round_shift(total, F - acs.F, mode) if F >= acs.F else total << (acs.F - F)
            sums[:, k] = acs.from_int(fixed_finish(kk, acs))
            continue
        cols = [(ps, p) for p in prods] + [(acs, bias)]
        fv = np.stack([s.decode(c) for s, c in cols], axis=1)  # float64 values (exact)
        negz = np.signbit(fv) & (fv == 0)
        zero = fv == 0
        finite = np.isfinite(fv).all(axis=1)
        exact = [sum(Fraction(float(v)) for v in fv[r]) if finite[r] else Fraction(0) for r in range(B)]
        codes = gmpy2_round_fractions(exact, acs, mode)
        for r in range(B):
            if not finite[r]:  # IEEE: NaN, or +inf with -inf, is NaN; otherwise the infinity
                pos, neg = (fv[r] == np.inf).any(), (fv[r] == -np.inf).any()
                codes[r] = acs.canonical_nan if np.isnan(fv[r]).any() or (pos and neg) else \
                    acs.inf_code | (acs.sign_bit if neg else 0)
            elif exact[r] == 0:
                neg = negz[r].any() or not zero[r].all() if mode == "RDN" else negz[r].all()
                codes[r] = acs.sign_bit if (neg and acs.has_neg_zero) else 0
        sums[:, k] = codes
    return sums


def exact_net(rounding="RNE"):
    e4m3 = g.parse_format("e4m3")
    ident16 = get_activation("identity", "fp16")
    l1 = Layer.from_values([[1.0, -0.5, 0.75], [0.125, 2.0, -3.0], [-1.5, 1.5, 0.0625]],
                           [0.5, -0.25, 0.0], weight_format="e4m3", product_format="fp16",
                           acc_format="e4m3", activation=get_activation("identity", e4m3),
                           rounding=rounding, accumulate="exact", name="exact-mixed")
    l2 = Layer.from_values([[3.0, -2.0, 1.0], [0.5, 0.25, -0.125]], [1.0, 0.0], weight_format="e4m3",
                           product_format="fp16", acc_format="fp16", activation=ident16,
                           rounding=rounding, accumulate="exact")
    return Network(e4m3, [l1, l2])


def finite_inputs(fmt, n_in, rows, seed):
    x = random_inputs(fmt, n_in, rows, seed)
    return np.where(fmt.is_finite(x), x, fmt.zero_code).astype(fmt.dtype)


@pytest.mark.parametrize("rounding", ["RNE", "RDN", "RUP"])
def test_exact_layers_match_a_fraction_computation(rounding):
    net = exact_net(rounding)
    x = finite_inputs(net.input_format, 3, 300, 11)
    x[:5] = np.uint8(0x80)  # all −0 inputs: −0 products, then the zero-sum sign rules
    tr = net.trace(x)
    in_spec = spec_of(net.input_format)
    for i, layer in enumerate(net.layers):
        acs = spec_of(layer.acc_format)
        lt = tr.layers[i]
        assert lt.nodes is None                  # an exact sum has no partial sums
        exp = fraction_exact_layer(layer, lt.inputs, in_spec)
        assert_codes_equal(lt.sums, exp, acs, what=f"layer {i} exact sums ({rounding})")
        in_spec = spec_of(layer.out_format)
    assert np.array_equal(net(x), tr.outputs)
    # a different semantics than the rounded tree over the same terms
    tree_layer = Layer(net.layers[0].weights, net.layers[0].bias, weight_format="e4m3",
                       product_format="fp16", acc_format="e4m3",
                       activation=net.layers[0].activation, rounding=rounding)
    assert not np.array_equal(Network("e4m3", [tree_layer])(x), tr.layers[0].outputs)


def test_exact_fixed_layer_rounds_and_wraps_once():
    l1 = Layer.from_values([[1.0, -0.5], [0.75, 2.0], [-1.5, 0.0625]], [0.5, -0.25, 0.0],
                           weight_format="q4.4", product_format="q8.8", acc_format="q4.4_wrap",
                           activation=get_activation("identity", "q4.4_wrap"), rounding="RNE",
                           accumulate="exact")
    net = Network("q4.4", [l1])
    x = random_inputs(net.input_format, 2, 400, 5)
    exp = fraction_exact_layer(l1, x, spec_of(net.input_format))
    assert_codes_equal(net.trace(x).layers[0].sums, exp, spec_of(l1.acc_format), what="exact q4.4_wrap")


def test_exact_layer_specials_and_options():
    e4m3 = g.parse_format("e4m3")
    ident = get_activation("identity", e4m3)
    layer = Layer.from_values([[1.0, 1.0]], [0.0], weight_format=e4m3, acc_format=e4m3,
                              activation=ident, accumulate="exact")
    net = Network(e4m3, [layer])
    inf, ninf, nan, one = 0x78, 0xF8, 0x7F, 0x38
    y = net(np.array([[inf, one], [inf, ninf], [nan, one], [ninf, ninf]], np.uint8))[:, 0]
    assert y[0] == inf and e4m3.is_nan(y[1]) and e4m3.is_nan(y[2]) and y[3] == ninf
    assert layer.exact and layer.trees == () and layer.tree is None
    with pytest.raises(ValueError, match="an exact accumulation has no order of additions"):
        Layer.from_values([[1.0]], [0.0], weight_format=e4m3, acc_format=e4m3, activation=ident,
                          accumulate="exact", tree=Tree.sequential(2))
    with pytest.raises(ValueError, match="accumulate must be one of 'tree', 'exact', not 'kulisch'"):
        Layer.from_values([[1.0]], [0.0], weight_format=e4m3, acc_format=e4m3, activation=ident,
                          accumulate="kulisch")


def test_exact_layer_json_round_trip():
    net = exact_net()
    d = net.to_json()
    assert d["layers"][0]["accumulate"] == "exact" and "tree" not in d["layers"][0]
    assert "accumulate" not in float_net().to_json()["layers"][0]  # the default is not written
    back = Network.loads(net.dumps())
    assert back == net and back.layers[0].exact
    x = finite_inputs(net.input_format, 3, 100, 2)
    assert np.array_equal(back(x), net(x))
    bad = json.loads(net.dumps())
    bad["layers"][0]["tree"] = {"sequence": [0, 1, 2, 3]}
    with pytest.raises(ValueError, match=r"network JSON: layers\[0\]: an exact accumulation has no order"):
        Network.from_json(bad)
    bad = json.loads(net.dumps())
    bad["layers"][0]["accumulate"] = "fused"
    with pytest.raises(ValueError, match=r"layers\[0\]\.accumulate: expected one of 'tree', 'exact', got 'fused'"):
        Network.from_json(bad)


# ---------------------------------------------------------------------------- strict JSON

def _bad(mutate):
    d = float_net().to_json()
    mutate(d)
    with pytest.raises(ValueError) as e:
        Network.from_json(d)
    msg = str(e.value)
    assert msg.startswith("network JSON: ") and "\n" not in msg
    return msg


def test_json_activation_kind_is_checked():
    def wrong(d):
        d["layers"][0]["activation"]["kind"] = "ulpflow.tree"
    assert "layers[0].activation.kind: expected 'ulpflow.activation', got 'ulpflow.tree'" in _bad(wrong)

    def missing(d):
        del d["layers"][0]["activation"]["kind"]
    assert "layers[0].activation: missing key 'kind'" in _bad(missing)


def test_json_activation_version_is_checked():
    def newer(d):
        d["layers"][0]["activation"]["version"] = 2
    assert "layers[0].activation.version: this reader understands activation version 1, got 2" in _bad(newer)

    def boolean(d):
        d["layers"][0]["activation"]["version"] = True
    assert "activation version 1, got true" in _bad(boolean)


def test_json_unknown_activation_key():
    def extra(d):
        d["layers"][2]["activation"]["tabel"] = []
    assert "layers[2].activation: unknown key 'tabel'" in _bad(extra)


def test_json_bool_version_is_refused():
    def boolean(d):
        d["version"] = True
    assert "version: this reader understands version 1, got true" in _bad(boolean)


def test_json_float_versions_are_refused():
    def top(d):
        d["version"] = 1.0
    assert "version: this reader understands version 1, got 1.0" in _bad(top)

    def act(d):
        d["layers"][2]["activation"]["version"] = 1.0
    assert "layers[2].activation.version: this reader understands activation version 1" in _bad(act)


def test_json_repeated_keys_are_refused():
    text = json_nets()[0].dumps()
    doubled = text.replace('"version": 1', '"version": 1, "version": 1', 1)
    assert doubled != text
    with pytest.raises(ValueError, match=r"^network JSON: key 'version' appears twice in one object$"):
        Network.loads(doubled)


@pytest.mark.parametrize("ref", ["n00", "n\u0660", "n+1", "n 0"])
def test_flat_tree_node_references_are_plain(ref):
    """Only ``n`` + ASCII digits without leading zeros refer to a node."""
    ok = Tree.from_json(json.loads('{"nodes": [[0, 1], ["n0", 2]]}'))
    assert ok == Tree.sequential(3)
    with pytest.raises(ValueError):
        Tree.from_json(json.loads('{"nodes": [[0, 1], ["%s", 2]]}' % ref))


def test_json_bool_sizes_are_refused():
    net = Network("e4m3", [Layer.from_values([[1.0]], [0.0], weight_format="e4m3", acc_format="e4m3",
                                             activation=get_activation("relu", "e4m3"))])
    d = net.to_json()
    d["layers"][0]["n_in"] = True  # True == 1 in Python: must not pass for n_in = 1
    with pytest.raises(ValueError, match=r"network JSON: layers\[0\]\.n_in: expected an integer, not true"):
        Network.from_json(d)


def test_json_bool_activation_parameter_is_refused():
    d = json_nets()[5].to_json()  # kulp: params k and seed
    d["layers"][0]["activation"]["params"]["k"] = True
    with pytest.raises(ValueError, match=r"layers\[0\]\.activation\.params\.k: expected a number or a string, not true"):
        Network.from_json(d)


@pytest.mark.parametrize("code, message", [
    ("0x8", "code 0x8 has 1 hex digits; e4m3 codes are written with exactly 2"),
    ("0x038", "code 0x038 has 3 hex digits; e4m3 codes are written with exactly 2"),
    ("0X38", "expected a hex string like '0x00', got '0X38'"),
    (" 0x38", "expected a hex string like '0x00', got ' 0x38'"),
    ("0x3_8", "bad hex code '0x3_8'"),
    ("0x+8", "bad hex code '0x+8'"),
    (56, "expected a hex string like '0x00', got 56"),
])
def test_json_codes_are_0x_and_exactly_the_documented_digits(code, message):
    def mutate(d):
        d["layers"][0]["weights"][1][0] = code
    assert f"layers[0].weights[1][0]: {message}" in _bad(mutate)


def test_json_codes_accept_either_case_of_digits():
    d = float_net().to_json()
    d["layers"][1]["bias"] = [c.upper().replace("0X", "0x") for c in d["layers"][1]["bias"]]
    assert Network.from_json(d) == float_net()


def test_json_activation_table_entries_are_strict():
    d = json_nets()[5].to_json()
    d["layers"][0]["activation"]["table"][7] = "0x1"
    with pytest.raises(ValueError, match=r"network JSON: layers\[0\]\.activation: activation table entry 7 is "
                                         r"'0x1', expected '0x' and exactly 2 hex digits"):
        Network.from_json(d)


def _deep_tree_network_text(depth):
    """A one-layer network whose tree is a right comb nested ``depth`` lists deep, as text."""
    d = Network("e4m3", [Layer.from_values([[1.0]], [0.0], weight_format="e4m3", acc_format="e4m3",
                                           activation=get_activation("identity", "e4m3"))]).to_json()
    d["layers"][0]["tree"] = "TREE"
    return json.dumps(d).replace('"TREE"', "[0, " * depth + "1" + "]" * depth)


def test_json_deep_tree_text_is_a_network_json_error():
    with pytest.raises(ValueError) as e:
        Network.loads(_deep_tree_network_text(200_000))
    msg = str(e.value)
    assert msg.startswith("network JSON: layers[0].tree: nested ") and "too deep for the JSON parser" in msg
    assert "\n" not in msg and '{"nodes": [...]}' in msg


def test_json_deep_tree_object_is_a_network_json_error():
    """A bad node whose subtree is 100,000 lists deep: the message shows a bounded excerpt
    instead of failing with a RecursionError while printing it."""
    deep = 1
    for _ in range(100_000):
        deep = [0, deep]
    d = json.loads(_deep_tree_network_text(1))
    d["layers"][0]["tree"] = [deep, 1, 2]
    with pytest.raises(ValueError, match=r"^network JSON: layers\[0\]\.tree: an internal node needs "
                                         r"exactly 2 children, got 3: \[\[0, \[0, ") as e:
        Network.from_json(d)
    assert "\n" not in str(e.value) and len(str(e.value)) < 300


def test_from_values_refuses_nan_naming_the_parameter():
    relu = get_activation("relu", "e4m3")
    with pytest.raises(ValueError, match=r"layer 'h': weight\[0, 1\] = nan: a NaN weight makes every output"):
        Layer.from_values([[1.0, float("nan")]], [0.0], weight_format="e4m3", acc_format="e4m3",
                          activation=relu, name="h")
    with pytest.raises(ValueError, match=r"layer: bias\[1\] = nan: a NaN bias makes every output"):
        Layer.from_values([[1.0], [2.0]], [0.0, np.float32("nan")], weight_format="e4m3",
                          acc_format="e4m3", activation=relu)
    # an infinity the format holds stays accepted (test_from_values_accepts_exact_values)


def test_nan_into_a_format_without_nan_lane_by_lane():
    """docs/semantics.md §1.1: by default a NaN into a finite format raises naming the lanes;
    with strict=False each such lane gets +0 and every other lane is computed as usual."""
    fin = parse_format("e3m4_finite")
    x = np.array([[0x7F, 0x38], [0x38, 0x38], [0x78, 0xF8]], np.uint8)  # NaN·1, 1+1, inf−inf
    exact = Layer.from_values([[1.0, 1.0]], [0.0], weight_format="e4m3", product_format="e4m3",
                              acc_format=fin, activation=get_activation("identity", fin),
                              accumulate="exact")
    net = Network("e4m3", [exact])
    with pytest.raises(ValueError, match=r"exact sum: 2 lane\(s\) .*lanes \(0, 0\), \(2, 0\)"):
        net(x)
    assert list(fin.decode(net(x, strict=False)).ravel()) == [0.0, 2.0, 0.0]
    # a tree layer whose products are already in the finite format: the NaN product is +0
    tree = Layer.from_values([[1.0, 1.0]], [0.0], weight_format="e4m3", acc_format=fin,
                             activation=get_activation("identity", fin))
    net = Network("e4m3", [tree])
    with pytest.raises(ValueError, match="no NaN encoding"):
        net(x)
    # row 0: +0 + 1; row 2: the infinities become +max and -max (no inf in the format): 0
    assert list(fin.decode(net(x, strict=False)).ravel()) == [1.0, 2.0, 0.0]
    assert list(fin.decode(net.trace(x, strict=False).layers[0].sums.ravel())) == [1.0, 2.0, 0.0]


# ---------------------------------------------------------------------------- fused layers

def _fused_net(model_name="ampere.mma.f16.f32", n_in=20, n_out=3, product_format="fp32", seed=0):
    from ulpflow.golden import mma
    m = mma.MODELS[model_name]
    rng = np.random.default_rng(seed)
    fa, fc = m.a_format, m.c_format
    W = rng.integers(0, fa.max_finite_code + 1, (n_out, n_in)).astype(fa.dtype)
    B = rng.integers(0, fc.max_finite_code + 1, n_out).astype(fc.dtype)
    layer = Layer(W, B, weight_format=fa, acc_format=fc, product_format=product_format,
                  activation=get_activation("identity", str(fc)), tree=Tree.fused(n_in + 1, m.spec, block=m.L),
                  name="mma")
    return m, Network(fa, [layer]), rng


def test_fused_layer_is_mma_dot_per_neuron():
    from ulpflow.golden import mma
    for name, pf in (("ampere.mma.f16.f32", "fp32"), ("hopper.wgmma.e4m3.f32", "fp32"),
                     ("hopper.wgmma.f16.f16", "e6m21")):
        m, net, rng = _fused_net(name, product_format=pf)
        x = rng.integers(0, m.a_format.max_finite_code + 1, (64, 20)).astype(m.a_format.dtype)
        layer = net.layers[0]
        want = mma.dot(np.broadcast_to(layer.weights[None], (64, 3, 20)), np.broadcast_to(x[:, None, :], (64, 3, 20)),
                       np.broadcast_to(layer.bias, (64, 3)), m)
        assert (net(x) == want).all()
        tr = net.trace(x)
        assert tr.layers[0].nodes[0].shape == (64, -(-20 // m.L))  # one node per block of L products
        assert (tr.layers[0].sums == want).all()


def test_fused_layer_json_is_version_2_and_round_trips():
    m, net, rng = _fused_net()
    d = net.to_json()
    assert d["version"] == 2 and set(d["layers"][0]["tree"]) == {"fused", "nodes"}
    net2 = Network.loads(json.dumps(d))
    assert net2 == net
    x = rng.integers(0, 0x7C00, (16, 20)).astype(np.uint16)
    assert (net2(x) == net(x)).all()
    d["version"] = 1
    with pytest.raises(ValueError, match=r"^network JSON: layers\[0\]: a fused tree needs a version 2 document"):
        Network.from_json(d)


def test_fused_layer_errors():
    from ulpflow.golden import mma
    with pytest.raises(ValueError, match=r"product format fp16 cannot hold every exact product fp16 × fp16 of a "
                                         r"fused tree: it needs 22 significand bits \(it has 11\), a largest exponent"):
        _fused_net(product_format="fp16")
    with pytest.raises(ValueError, match=r"product format fp32 cannot hold every exact product bf16 × bf16 .*largest "
                                         r"exponent of at least 255 \(it has 127\)"):
        _fused_net("ampere.mma.bf16.f32")
    _fused_net("ampere.mma.bf16.f32", product_format="e9m23")  # wide enough
    m = mma.MODELS["ampere.mma.f16.f16"]
    with pytest.raises(ValueError, match=r"the fused tree of neuron 0 gives fp16 codes but the accumulator format is fp32"):
        Layer(np.zeros((1, 4), np.uint16), np.zeros(1, np.uint32), weight_format="fp16", acc_format="fp32",
              activation=get_activation("identity", "fp32"), tree=Tree.fused(5, m.spec))
    m2, net, _ = _fused_net()
    with pytest.raises(TypeError, match=r"does not evaluate fused trees"):
        net.interval(np.zeros((1, 20), np.uint16), np.zeros((1, 20), np.uint16))


def test_first_divergence_names_a_fused_node_by_its_operands():
    m, net, rng = _fused_net()
    x = rng.integers(0, 0x7C00, (8, 20)).astype(np.uint16)
    a = net.trace(x)
    l0 = a.layers[0]
    nodes = list(l0.nodes)
    changed = nodes[1].copy()
    changed[5, 1] ^= 1          # neuron 1, second block node, row 5
    nodes[1] = changed
    b = Trace(net, (dataclasses.replace(l0, nodes=tuple(nodes)),))
    d = first_divergence(a, b)
    assert (d.layer, d.stage, d.neuron, d.index, d.row) == (0, "node", 1, 1, 5)
    _, operands = net.layers[0].trees[1].fused_nodes()[1]
    assert ("node", 0) in operands          # the second block reads the first as its addend
    assert "fused(" in str(d) and "node 0" in str(d)
