"""Theorem checks: first-layer distinguishability, exact zeros of rounded activations, sum
identities of left-to-right float sums and the transformer sequence-length thresholds built on
them, and value/gradient decoupling under automatic differentiation. Everything is evaluated by
the golden model (one rounding per operation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ulpflow.golden import ROUNDING_MODES, Tree, add, as_format, get_activation, mul, reduce
from ulpflow.golden.formats import ordinal

from .common import domain_codes, exact_code, value_of

__all__ = ["Distinguishability", "distinguishability", "exact_zeros", "absorption", "never_injective",
           "swap_first_two", "stall_counts", "SumThresholds", "transformer_thresholds", "Tape", "ad_decoupling"]


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


def stall_counts(fmt, values) -> np.ndarray:
    """For each code c of ``values``: the number K of copies of c after which the left-to-right
    sum of copies stops changing (S_0 = 0, S_k = S_(k−1) ⊕ c; K is the least k with
    S_(k+1) = S_k by value). At most ``16·2^p`` copies are tried; −1 where the sum still moves."""
    fmt = as_format(fmt)
    c = np.asarray(values, dtype=fmt.dtype)
    s = np.full(c.shape, fmt.zero_code, dtype=fmt.dtype)
    k = np.full(c.shape, -1, dtype=np.int64)
    for n in range(16 * 2 ** fmt.man_bits + 1):
        t = add(s, c, fmt)
        k[(_keys(fmt, t) == _keys(fmt, s)) & (k < 0)] = n
        if (k >= 0).all():
            break
        s = t
    return k


@dataclass
class SumThresholds:
    """Result of :func:`transformer_thresholds` for a format with ``p`` fraction bits.

    ``stall``: the largest number of copies K of one positive value whose left-to-right sum still
    grows (predicted 3·2^p − 1), attained by ``slowest`` (a code); ``separated_up_to``: the largest
    sequence length n up to which the one-hot sums separate every two sequences of ``tokens``
    token kinds with different multisets, every arrangement (predicted 6·2^p − 2 = 2K), and
    ``break_witness`` the two count vectors that collide at the next length; ``upper_n`` = 9·2^p,
    ``upper_pairs`` value pairs (a, b) checked, ``upper_failures`` pairs for which the absorption
    pair of length 9·2^p has different sums (predicted 0), ``upper_witness`` one pair (a, b, sum);
    ``b_run``: the fewest copies of b after the 3·2^p copies of a that make the identity hold for
    every pair (at most 6·2^p); ``alpha_tight``: a pair (a, b) for which 3·2^p − 1 copies of a are
    not enough (None if there is none)."""

    fmt: object
    p: int
    tokens: int
    stall: int
    slowest: int
    separated_up_to: int
    break_witness: tuple
    upper_n: int
    upper_pairs: int
    upper_failures: int
    upper_witness: tuple
    b_run: int
    alpha_tight: tuple | None

    @property
    def predicted(self) -> dict:
        p = self.p
        return dict(stall=3 * 2 ** p - 1, lower=6 * 2 ** p - 2, upper=9 * 2 ** p)

    @property
    def ok(self) -> bool:
        """Every prediction holds: the stall, the lower threshold and its break, the upper
        identity for every pair, at most 6·2^p copies of b, and 3·2^p copies of a needed."""
        pr = self.predicted
        return (self.stall == pr["stall"] and self.separated_up_to == pr["lower"] and self.upper_failures == 0
                and self.b_run <= 6 * 2 ** self.p and self.alpha_tight is not None)

    def lines(self) -> list[str]:
        f, p, pr = self.fmt, self.p, self.predicted
        ka, kb = self.break_witness
        a, b, s = self.upper_witness
        al = 3 * 2 ** p
        out = [f"{f} (p = {p}): a left-to-right sum of copies of one value stops growing after at most "
               f"K = {self.stall} copies (3·2^p − 1 = {pr['stall']}), e.g. {f.show(self.slowest)}",
               f"lower: one-hot sums separate every two sequences with different multisets ({self.tokens} token kinds, "
               f"every arrangement) for n <= {self.separated_up_to} (6·2^p − 2 = {pr['lower']}); at n = "
               f"{self.separated_up_to + 1} they do not: counts {ka} ~ {kb}",
               f"upper: n = {self.upper_n} (9·2^p): a^{al} b^{self.upper_n - al} and a^{al - 1} b^{self.upper_n - al + 1} "
               f"have equal sums for {self.upper_pairs - self.upper_failures} of {self.upper_pairs} value pairs (a, b); "
               f"e.g. a = {f.show(a)}, b = {f.show(b)}: both {f.show(s)}",
               f"absorption: {self.b_run} copies of b suffice for every pair (bound 6·2^p = {6 * 2 ** p}); "
               + (f"with {al - 1} copies of a it fails, e.g. a = {f.show(self.alpha_tight[0])}, "
                  f"b = {f.show(self.alpha_tight[1])}" if self.alpha_tight else f"{al - 1} copies of a are enough too")]
        return out

    def __str__(self):
        return "\n".join(self.lines())


def _one_hot_states(fmt, c, tokens, n_max):
    """Left-to-right one-hot sums of every sequence of ``tokens`` token kinds, lengths 1 … n_max.

    Head t adds c for a token of kind t and 0 otherwise. States (the heads' sums, the counts) are
    merged when equal, which keeps every arrangement without listing them. Yields, per length n,
    the first two count vectors whose sums are equal (or None)."""
    zero = fmt.zero_code
    sums = np.full((1, tokens), zero, dtype=fmt.dtype)
    counts = np.zeros((1, tokens), dtype=np.int64)
    for n in range(1, n_max + 1):
        new_s, new_c = [], []
        for t in range(tokens):
            term = np.full(sums.shape, zero, dtype=fmt.dtype)
            term[:, t] = c
            new_s.append(add(sums, term, fmt))
            cc = counts.copy()
            cc[:, t] += 1
            new_c.append(cc)
        sums, counts = np.concatenate(new_s), np.concatenate(new_c)
        key = np.concatenate([_keys(fmt, sums), counts], axis=1)
        _, first = np.unique(key, axis=0, return_index=True)
        sums, counts = sums[first], counts[first]
        _, inv = np.unique(_keys(fmt, sums), axis=0, return_inverse=True)
        inv = np.asarray(inv).ravel()
        seen = {}
        hit = None
        for i, g in enumerate(inv):
            if g in seen and hit is None:
                hit = (tuple(int(v) for v in counts[seen[g]]), tuple(int(v) for v in counts[i]))
            seen.setdefault(g, i)
        yield n, hit


def transformer_thresholds(fmt, *, tokens: int = 2, max_bits: int = 9) -> SumThresholds:
    """The sequence-length thresholds 6·2^p − 2 and 9·2^p of left-to-right float sums.

    These are the thresholds of the floating-point transformer result (every permutation-
    equivariant function is representable for sequence lengths n <= 6·2^p − 2, not every one for
    n >= 9·2^p). A transformer without positional encoding sees the other tokens only through
    left-to-right sums of per-token terms, so both sides are statements about such sums; as
    checked here they are **our reconstruction** from the absorption identity (the paper's body
    was not available), each verified exhaustively on ``fmt``:

    * stall: for every positive value c of ``fmt``, the sum of k copies of c stops changing once
      k >= 3·2^p − 1, and some c still grows up to that count (the first half of the absorption
      identity, and why 3·2^p copies of a suffice there);
    * lower side, n <= 6·2^p − 2 = 2(3·2^p − 1): for two sequences of length n whose multisets
      differ, some token kind t occurs a different number of times, at most 3·2^p − 1 times in one
      of them (otherwise n >= 2·3·2^p − 1), so the one-hot sum "c for a token of kind t, 0
      otherwise", c the slowest value, separates them. Checked over **every arrangement** of
      ``tokens`` token kinds for every n up to the threshold, and shown to break at n = 6·2^p − 1
      (counts (K, K+1) against (K+1, K): since every value stalls within K copies, no one-hot
      sum, whatever its value, separates them); sums of other per-token values may separate
      further, which is why the two thresholds differ;
    * upper side, n >= 9·2^p: a^α b^(n−α) and a^(α−1) b^(n−α+1), α = 3·2^p, are different multisets
      whose left-to-right sums are equal for **every** pair of finite values (a, b) (the
      absorption identity with β − α = n − α >= 6·2^p), so no sum of per-token values — and, layer
      by layer, no floating-point transformer — tells them apart. Checked for every pair of finite
      values of ``fmt`` at n = 9·2^p (equal sums stay equal when more b follow); ``b_run`` is the
      fewest copies of b that already suffice, and ``alpha_tight`` shows 3·2^p − 1 copies of a do
      not.

    Sums are golden (one RNE rounding per addition, ``fmt``'s subnormals and overflow); values
    compare by value, NaN equal to NaN. Exhaustive, for float formats of at most ``max_bits`` bits.
    The predictions need room for the slowest run of copies (about 2^(p+2) times its value):
    in a format with too few exponents (e.g. e2m3) the stall is shorter, and
    :attr:`SumThresholds.ok` is False.
    """
    fmt = as_format(fmt)
    if fmt.kind != "float":
        raise ValueError(f"transformer_thresholds needs a float format, got {fmt}")
    if fmt.bits > max_bits:
        raise ValueError(f"transformer_thresholds is exhaustive: {fmt} has {fmt.bits} bits, more than {max_bits}")
    if tokens < 2:
        raise ValueError(f"tokens must be at least 2, not {tokens}")
    p = fmt.man_bits
    xs = domain_codes(fmt)
    vals = fmt.decode(xs)
    pos = xs[vals > 0]
    k = stall_counts(fmt, pos)
    stall = int(k.max())
    # the slowest value whose copies stay finite, closest to 1
    cand = pos[k == stall]
    ends = np.array([_left_sum(np.full(stall + 1, c, dtype=fmt.dtype), fmt) for c in cand], dtype=fmt.dtype)
    cand = cand[fmt.is_finite(ends)] if fmt.is_finite(ends).any() else cand
    slowest = int(cand[np.argmin(np.abs(np.log2(fmt.decode(cand).astype(float))))])
    separated, witness = 0, ((), ())
    for n, hit in _one_hot_states(fmt, slowest, tokens, 2 * stall + 2):
        if hit is not None:
            witness = hit
            break
        separated = n
    al = 3 * 2 ** p
    upper_n = 9 * 2 ** p
    a, b = np.meshgrid(xs, xs, indexing="ij")
    a, b = a.ravel(), b.ravel()
    s1, s2 = absorption(fmt, a, b, al, upper_n)
    same = _keys(fmt, s1) == _keys(fmt, s2)
    one = np.flatnonzero(same & fmt.is_finite(s1) & (fmt.decode(a) > 0) & (fmt.decode(b) > 0))
    one = one[np.argmin(np.abs(np.log2(fmt.decode(a[one]).astype(float))) +
                        np.abs(np.log2(fmt.decode(b[one]).astype(float)) + 1))] if one.size else int(np.argmax(same))
    # the fewest copies of b after α copies of a (resp. α − 1 copies and one more b) that agree for every pair
    t1 = _left_sum(np.repeat(a[:, None], al, 1), fmt)
    t2 = add(_left_sum(np.repeat(a[:, None], al - 1, 1), fmt), b, fmt)
    b_run = 0
    while not (_keys(fmt, t1) == _keys(fmt, t2)).all() and b_run <= 6 * 2 ** p:
        t1, t2 = add(t1, b, fmt), add(t2, b, fmt)
        b_run += 1
    u1, u2 = absorption(fmt, a, b, al - 1, upper_n)
    fail = np.flatnonzero(_keys(fmt, u1) != _keys(fmt, u2))
    tight = (int(a[fail[0]]), int(b[fail[0]])) if fail.size else None
    return SumThresholds(fmt, p, tokens, stall, slowest, separated, witness, upper_n, int(a.size),
                         int((~same).sum()), (int(a[one]), int(b[one]), int(s1[one])), b_run, tight)


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
