"""Theorem checks: first-layer distinguishability, exact zeros of rounded activations, sum
identities of left-to-right float sums, and value/gradient decoupling under automatic
differentiation. Everything is evaluated by the golden model (one rounding per operation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ulpflow.golden import ROUNDING_MODES, Tree, add, as_format, get_activation, mul, reduce
from ulpflow.golden.formats import ordinal

from .common import domain_codes, exact_code, value_of

__all__ = ["Distinguishability", "distinguishability", "exact_zeros", "absorption", "never_injective",
           "swap_first_two", "Tape", "ad_decoupling"]


@dataclass
class Distinguishability:
    """Result of :func:`distinguishability`: ``inputs`` checked, ``neurons`` tried (weights ×
    biases), ``classes`` (groups of mutually indistinguishable inputs, each of at least two codes)
    and ``pairs`` (every indistinguishable pair ``(x, x')``, codes, ``x < x'``)."""

    fmt: object
    activation: str
    weights: str
    rounding: str
    inputs: int
    neurons: int
    classes: list = field(default_factory=list)
    pairs: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.pairs

    def pair_values(self):
        f = self.fmt
        return [(float(f.decode(np.array([a], dtype=f.dtype))[0]), float(f.decode(np.array([b], dtype=f.dtype))[0]))
                for a, b in self.pairs]

    def __str__(self):
        s = (f"{self.activation} on {self.fmt} (weights {self.weights}, {self.rounding}): {self.inputs} inputs, "
             f"{self.neurons} first-layer neurons, {len(self.pairs)} indistinguishable pairs")
        if self.pairs:
            s += " e.g. " + ", ".join(f"({self.fmt.show(a)}, {self.fmt.show(b)})" for a, b in self.pairs[:3])
        return s


def _keys(fmt, codes):
    o, nan = ordinal(fmt, codes)
    return np.where(nan, np.iinfo(np.int64).max, o)


def distinguishability(fmt, activation="relu", *, weights="all", rounding="RNE", method=None,
                       max_bits: int = 8) -> Distinguishability:
    """Every pair of inputs that no first-layer neuron σ(w ⊗ x ⊕ b) separates.

    Inputs: the finite values of ``fmt`` (+0 and −0 one point). Weights: every finite value
    (``"all"``) or ±1 (``"pm1"``); biases: every finite value. Products and sums round with
    ``rounding``; σ is the activation ``activation`` over ``fmt`` (correctly rounded, RNE, unless
    ``method`` says otherwise). Two outputs are equal when their values are (NaN equals NaN).
    Exhaustive, for formats of at most ``max_bits`` bits.
    """
    fmt = as_format(fmt)
    if fmt.bits > max_bits:
        raise ValueError(f"distinguishability is exhaustive: {fmt} has {fmt.bits} bits, more than {max_bits}")
    xs = domain_codes(fmt)
    if weights == "all":
        ws = xs
    elif weights == "pm1":
        ws = np.array([exact_code(fmt, 1, "weight 1"), exact_code(fmt, -1, "weight −1")], dtype=fmt.dtype)
    else:
        raise ValueError(f"weights must be 'all' or 'pm1', not {weights!r}")
    bs = xs
    act = get_activation(activation, fmt, method=method)
    prod = mul(ws[None, :], xs[:, None], fmt, rounding=rounding)               # (x, w)
    pre = add(prod[:, :, None], bs[None, None, :], fmt, rounding=rounding)     # (x, w, b)
    out = np.asarray(act(pre.reshape(xs.size, -1)))
    sig = _keys(fmt, out)
    _, inv = np.unique(sig, axis=0, return_inverse=True)
    inv = np.asarray(inv).ravel()
    classes, pairs = [], []
    for g in np.unique(inv):
        members = np.flatnonzero(inv == g)
        if members.size > 1:
            cls = [int(xs[i]) for i in members]
            classes.append(cls)
            pairs += [(cls[i], cls[j]) for i in range(len(cls)) for j in range(i + 1, len(cls))]
    return Distinguishability(fmt, activation, weights, rounding, int(xs.size), int(ws.size * bs.size), classes, pairs)


def exact_zeros(fmt, activation, *, roundings=ROUNDING_MODES) -> dict:
    """Per rounding mode: the inputs (finite values of ``fmt``) where the activation, rounded
    into ``fmt`` with that mode, is exactly 0. Returns ``{mode: codes}``."""
    fmt = as_format(fmt)
    xs = domain_codes(fmt)
    out = {}
    for mode in roundings:
        if activation in ("relu", "identity", "step"):
            act = get_activation(activation, fmt)
        else:
            act = get_activation(activation, fmt, rounding=mode)
        y = np.asarray(act(xs))
        out[mode] = xs[fmt.is_zero(y)]
    return out


# ---------------------------------------------------------------------- sum identities
def _left_sum(terms, fmt, rounding="RNE"):
    terms = np.asarray(terms, dtype=fmt.dtype)
    return reduce(terms, Tree.sequential(terms.shape[-1]), fmt, rounding=rounding)


def absorption(fmt, a, b, alpha: int, beta: int):
    """The two left-to-right sums of the absorption identity: α copies of ``a`` then β − α copies
    of ``b``, and the same with one ``a`` replaced by ``b`` (α − 1 copies of a, β − α + 1 of b).
    ``a``, ``b`` are codes (arrays broadcast together). Returns ``(s1, s2)`` codes."""
    fmt = as_format(fmt)
    a, b = np.broadcast_arrays(np.asarray(a, dtype=fmt.dtype), np.asarray(b, dtype=fmt.dtype))
    t1 = np.concatenate([np.repeat(a[..., None], alpha, -1), np.repeat(b[..., None], beta - alpha, -1)], -1)
    t2 = np.concatenate([np.repeat(a[..., None], alpha - 1, -1), np.repeat(b[..., None], beta - alpha + 1, -1)], -1)
    return _left_sum(t1, fmt), _left_sum(t2, fmt)


def never_injective(fmt, z) -> tuple | None:
    """A witness pair ``(x, x')``, x ≠ x', with x ⊕ z = x' ⊕ z (finite x, x'), or None."""
    fmt = as_format(fmt)
    xs = domain_codes(fmt)
    s = add(xs, np.full(xs.shape, z, dtype=fmt.dtype), fmt)
    k = _keys(fmt, s)
    order = np.argsort(k, kind="stable")
    ks = k[order]
    same = np.flatnonzero(ks[1:] == ks[:-1])
    if same.size == 0:
        return None
    i = same[0]
    return int(xs[order[i]]), int(xs[order[i + 1]])


def swap_first_two(fmt, terms) -> bool:
    """Whether the left-to-right sum of every row of ``terms`` equals (by value) the sum with
    its first two terms swapped."""
    fmt = as_format(fmt)
    t = np.asarray(terms, dtype=fmt.dtype)
    s = t.copy()
    s[..., [0, 1]] = t[..., [1, 0]]
    return bool((_keys(fmt, _left_sum(t, fmt)) == _keys(fmt, _left_sum(s, fmt))).all())


# ---------------------------------------------------------------------- AD
class Tape:
    """Scalar reverse-mode automatic differentiation with one golden rounding per operation,
    forward and backward (the backward pass accumulates adjoints with rounded ⊗ and ⊕)."""

    def __init__(self, fmt, rounding="RNE"):
        self.fmt = as_format(fmt)
        self.rounding = rounding
        self.values: list[int] = []
        self.ops: list[tuple] = []

    def var(self, value) -> int:
        self.values.append(exact_code(self.fmt, Fraction(value), "Tape.var"))
        self.ops.append(("input",))
        return len(self.values) - 1

    def _push(self, code, op):
        self.values.append(int(code))
        self.ops.append(op)
        return len(self.values) - 1

    def _c(self, i):
        return np.array([self.values[i]], dtype=self.fmt.dtype)

    def mul(self, i, j) -> int:
        return self._push(mul(self._c(i), self._c(j), self.fmt, rounding=self.rounding)[0], ("mul", i, j))

    def add(self, i, j) -> int:
        return self._push(add(self._c(i), self._c(j), self.fmt, rounding=self.rounding)[0], ("add", i, j))

    def relu(self, i) -> int:
        v = value_of(self.fmt, self.values[i])
        return self._push(self.values[i] if v > 0 else self.fmt.zero_code, ("relu", i))

    def value(self, i):
        return value_of(self.fmt, self.values[i])

    def grad(self, out) -> list:
        """Adjoint codes d out / d node for every node (seed 1), rounded per operation."""
        f = self.fmt
        zero = np.array([f.zero_code], dtype=f.dtype)
        adj = [zero.copy() for _ in self.values]
        adj[out] = np.array([exact_code(f, 1, "seed")], dtype=f.dtype)
        for n in range(out, -1, -1):
            op = self.ops[n]
            if op[0] == "mul":
                _, i, j = op
                adj[i] = add(adj[i], mul(adj[n], self._c(j), f, rounding=self.rounding), f, rounding=self.rounding)
                adj[j] = add(adj[j], mul(adj[n], self._c(i), f, rounding=self.rounding), f, rounding=self.rounding)
            elif op[0] == "add":
                _, i, j = op
                adj[i] = add(adj[i], adj[n], f, rounding=self.rounding)
                adj[j] = add(adj[j], adj[n], f, rounding=self.rounding)
            elif op[0] == "relu":
                if value_of(f, self.values[n]) > 0:
                    adj[op[1]] = add(adj[op[1]], adj[n], f, rounding=self.rounding)
        return [int(a[0]) for a in adj]


def ad_decoupling(fmt="fp32", w1=Fraction(1, 2 ** 100), w2=Fraction(2 ** 100), x=Fraction(1, 2 ** 60)) -> dict:
    """y = w2 ⊗ (w1 ⊗ x) and its reverse-mode derivative dy/dx, each operation rounded.
    Default (fp32, w1 = 2^−100, w2 = 2^100, x = 2^−60): the value is 0 (w1·x = 2^−160 underflows)
    while the gradient is w2 ⊗ w1 = 1."""
    t = Tape(fmt)
    xi, a, b = t.var(x), t.var(w1), t.var(w2)
    y = t.mul(b, t.mul(a, xi))
    g = t.grad(y)
    return dict(value=t.value(y), grad_x=value_of(t.fmt, g[xi]), value_code=t.values[y], grad_code=g[xi])
