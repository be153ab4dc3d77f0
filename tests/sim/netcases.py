"""Golden networks for the network-hardware tests (random weights of moderate magnitude)."""

import numpy as np

from ulpflow.golden import Layer, Network, Tree, parse_format
from ulpflow.golden.activations import get_activation


def codes_near_one(fmt, shape, rng):
    """Codes of random values in [-1.5, 1.5] (rounded to the format): no overflow cascades."""
    return fmt.encode(rng.uniform(-1.5, 1.5, size=shape))


def layer(fmt, n_in, n_out, act, trees, rng, *, product_format=None, acc_format=None):
    acc = fmt if acc_format is None else parse_format(acc_format)
    return Layer(codes_near_one(fmt, (n_out, n_in), rng), codes_near_one(acc, (n_out,), rng),
                 weight_format=fmt, acc_format=acc, product_format=product_format,
                 activation=act, tree=trees)


def e4m3_d1():
    """3 layers, d = 1: ReLU (pairwise), a correctly rounded tanh table (per-neuron random and
    reversed trees), step (sequential from zero)."""
    f = parse_format("e4m3")
    rng = np.random.default_rng(1)
    return Network(f, [
        layer(f, 1, 3, get_activation("relu", f), Tree.pairwise(2), rng),
        layer(f, 3, 2, get_activation("tanh", f), [Tree.random(4, 5), Tree.reversed(4)], rng),
        layer(f, 2, 1, get_activation("step", f), Tree.sequential(3, from_zero=True), rng),
    ])


def e5m2_d2():
    """2 layers, d = 2: ReLU (sequential), PWL GELU (random trees)."""
    f = parse_format("e5m2")
    rng = np.random.default_rng(2)
    return Network(f, [
        layer(f, 2, 3, get_activation("relu", f), Tree.sequential(3), rng),
        layer(f, 3, 2, get_activation("gelu", f, method="pwl"), [Tree.random(4, 1), Tree.random(4, 2)], rng),
    ])


def q44_d2():
    """2 layers of q4.4, d = 2: ReLU (random trees), a correctly rounded sigmoid table."""
    f = parse_format("q4.4")
    rng = np.random.default_rng(3)
    return Network(f, [
        layer(f, 2, 3, get_activation("relu", f), [Tree.random(3, 3), Tree.pairwise(3), Tree.reversed(3)], rng),
        layer(f, 3, 1, get_activation("sigmoid", f), Tree.pairwise(4), rng),
    ])


def e4m3_mixed_d2():
    """Products in e5m3, accumulator e5m3 then ReLU converting to e4m3; then a plain layer
    whose products (e5m3) are added into an e4m3 accumulator (mixed-format tree nodes)."""
    f = parse_format("e4m3")
    rng = np.random.default_rng(4)
    return Network(f, [
        layer(f, 2, 2, get_activation("relu", "e5m3", f), Tree.pairwise(3), rng,
              product_format="e5m3", acc_format="e5m3"),
        layer(f, 2, 2, get_activation("identity", f), [Tree.random(3, 7), Tree.sequential(3)], rng,
              product_format="e5m3"),
    ])


def bf16_d2():
    """bf16, d = 2: ReLU (pairwise), PWL tanh (random tree)."""
    f = parse_format("bf16")
    rng = np.random.default_rng(5)
    return Network(f, [
        layer(f, 2, 3, get_activation("relu", f), Tree.pairwise(3), rng),
        layer(f, 3, 2, get_activation("tanh", f, method="pwl"), Tree.random(4, 9), rng),
    ])


def every_input(fmt, d):
    """Every input vector of a d-input network over an 8-bit format (all codes): independent of
    ulpflow.sim.network.every_input, which the CLI uses."""
    codes = np.arange(1 << fmt.bits, dtype=fmt.dtype)
    return np.array([(a,) if d == 1 else (a, b) for a in codes for b in (codes if d == 2 else [0])],
                    dtype=fmt.dtype)[:, :d]


def sparse(name, rounding="RNE", seed=0):
    """3 layers, d = 2, about half the weights zero (+0 and −0), one neuron per layer with only
    zero weights, zero biases of both signs: the spatial form's zero-weight elision."""
    f = parse_format(name)
    rng = np.random.default_rng(seed)
    neg_zero = None if f.kind != "float" or f.specials == "fnuz" else f.zero_code | (1 << (f.bits - 1))

    def sparse_layer(n_in, n_out, act, trees):
        w = codes_near_one(f, (n_out, n_in), rng)
        zero = rng.random((n_out, n_in)) < 0.5
        for k in range(1, n_out):  # every other neuron reads an input that varies (not neuron 0)
            zero[k, 1 + k % (n_in - 1)] = False
        w = np.where(zero, f.zero_code, w)
        if neg_zero is not None:
            w = np.where(zero & (rng.random((n_out, n_in)) < 0.5), neg_zero, w)
        w[0, :] = f.zero_code if neg_zero is None else neg_zero
        b = codes_near_one(f, (n_out,), rng)
        b[0] = f.zero_code
        if neg_zero is not None:
            b[-1] = neg_zero
        return Layer(w, b, weight_format=f, acc_format=f, activation=act, tree=trees, rounding=rounding)

    return Network(f, [
        sparse_layer(2, 5, get_activation("identity", f),
                     [Tree.sequential(3), Tree.pairwise(3), Tree.random(3, 1), Tree.reversed(3),
                      Tree.sequential(3, from_zero=True)]),
        sparse_layer(5, 3, get_activation("relu", f), [Tree.random(6, 2), Tree.pairwise(6), Tree.sequential(6)]),
        sparse_layer(3, 3, get_activation("identity", f), Tree.pairwise(4)),
    ])
