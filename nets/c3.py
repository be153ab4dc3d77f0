"""C3: exact ReLU threshold blocks, point indicators and a universal network for IEEE-like floats.

Theorem. Let F = F(p, q) be an IEEE-like binary float format (p stored fraction bits, q exponent
bits, default bias, subnormals, round to nearest even) and z > 0 a finite value of F. Write
z = a_z·2^e_z with a_z ∈ [1, 2) (e_z below e_min for a subnormal z), e0 = 2^(q−2) − 1,
c_z = max(e_min − e_z, 0), u0 = 2^−p for a normal z and 2^(c_z − p) for a subnormal one,
ũ0 = u0/2 and c̃ = 1 when a_z = 1 and z is not the smallest subnormal ω (else ũ0 = 0, c̃ = 0),
k = 3 − p − e0 − c_z when e_z ≤ 0 and k = e0 − p otherwise, and

    β = (2 − u0)·2^e_z,  A = 2^(p − e_z + k),  B1 = (2 − a_z − ũ0)·2^(p+k),
    B2 = (2 − a_z − u0)·2^(p+k),  S = 2^(c̃ − c_z − k).

If all five are values of F, then with every operation rounded

    g = ReLU((−1)⊗x ⊕ β),  h_i = ReLU((−A)⊗g ⊕ B_i),  y = ReLU(S⊗h1 ⊕ (−S)⊗h2)

equals 1[x ≥ z] for every finite x; with first weight +1 instead of −1 it is 1[x ≤ −z]. Each
neuron has at most two non-zero summands, so the block does not depend on the reduction order.
Point indicators: 1[x = z] = ReLU(1[x ≥ z] ⊖ 1[x ≥ z⁺]) for z > 0 (z⁺ the next value; for the
largest finite value the second term is absent), the mirror image for z < 0, and
1[x = 0] = ReLU(1 ⊖ 1[x ≥ ω] ⊖ 1[x ≤ −ω]). The universal network f(x) = Σ_z f(z) ⊗ 1[x = z]
(z over every finite value) is one-hot, hence exact under every reduction tree, for every
finite-valued target f (an infinite value would meet a 0 indicator: inf ⊗ 0 = NaN).

The constants are not values of every format; :func:`threshold_constants` checks each one and a
failure names the threshold and the constant.

The universal network first splits x into x⁺ = ReLU(x) and x⁻ = ReLU(−x) and feeds the block of
1[x ≥ z] with x⁺ and the block of 1[x ≤ −z] with x⁻ (first weight −1). This changes no output
(for x < 0 the block sees 0 and gives 1[0 ≥ z] = 0) but keeps every g finite: in a dense layer
an infinite g would meet the zero weights of the other neurons, and 0 ⊗ inf = NaN.

Size of the universal network (P positive finite values, N = 2P + 1 points): 6 affine layers of
widths 2, 2P, 4P, 2P, N, 1; dense parameters 2·2 + 2P·3 + 4P·(2P+1) + 2P·(4P+1) + N·(2P+1) +
(N+1); non-zero weights 2 + 2P + 4P + 4P + 4P + N (when every f(z) ≠ 0).

Assumptions (checked): a float format, IEEE-like (``ieee`` specials, default bias), q ≥ 4 (with
q = 3, in e3m4, the blocks of z = 0.5 and z = 1 are wrong at 72 and 56 inputs although all their
constants exist — found by bench/constructions.py), subnormals
(flush-to-zero is a negative control), rounding RNE, ReLU, finite target values.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ulpflow.golden import Layer, Network, as_format
from ulpflow.golden.formats import ordinal

from .common import (Checker, binade_exponent, Construction, ConstructionError, domain_codes, exact_code, identity,
                     network_size, relu, tree_spec, value_of)
from .targets import Target

__all__ = ["c3", "c3_size", "threshold_constants", "threshold_network", "indicator_network", "check_format"]

THEOREM = ("C3: exact ReLU threshold blocks 1[x ≥ z] (three neurons of two summands each) give point "
           "indicators and a one-hot universal network over every finite input, under every reduction order")


def threshold_constants(fmt, z) -> dict:
    """The exact constants β, A, B1, B2, S of the block for the positive threshold ``z`` (a value),
    as Fractions; raises a ConstructionError naming ``z`` and the first constant that ``fmt``
    cannot hold."""
    fmt = as_format(fmt)
    z = Fraction(z)
    if z <= 0:
        raise ValueError(f"threshold_constants: z must be positive, got {z}")
    p, q, emin = fmt.man_bits, fmt.exp_bits, fmt.emin
    ez = binade_exponent(z)
    az = z / Fraction(2) ** ez
    e0 = 2 ** (q - 2) - 1 if q >= 2 else 0
    cz = max(emin - ez, 0)
    u0 = Fraction(2) ** (-p) if ez >= emin else Fraction(2) ** (-p + cz)
    omega = Fraction(2) ** (emin - p)
    if az == 1 and z != omega:
        ut, ct = u0 / 2, 1
    else:
        ut, ct = Fraction(0), 0
    k = 3 - p - e0 - cz if ez <= 0 else -p + e0
    two = Fraction(2)
    consts = dict(beta=(2 - u0) * two ** ez, A=two ** (p - ez + k), B1=(2 - az - ut) * two ** (p + k),
                  B2=(2 - az - u0) * two ** (p + k), S=two ** (ct - cz - k))
    for name, v in consts.items():
        exact_code(fmt, v, f"c3: threshold z = {_fmt_value(z)}: constant {name}")
        if name in ("A", "S"):
            exact_code(fmt, -v, f"c3: threshold z = {_fmt_value(z)}: constant −{name}")
    return consts


def _fmt_value(v: Fraction) -> str:
    f = float(v)
    return repr(f) if Fraction(f) == v else str(v)


def check_format(fmt, ck: Checker, rounding: str):
    if fmt.kind != "float":
        raise ConstructionError(f"c3: needs an IEEE-like float format F(p,q), got {fmt}")
    ieee_like = fmt.specials == "ieee" and fmt.bias == (1 << (fmt.exp_bits - 1)) - 1 and not fmt.saturate
    ck.require(ieee_like, "IEEE-like F(p,q): ±inf and NaN in the top binade, default bias, no saturation",
               f"{fmt} is not IEEE-like (specials {fmt.specials!r}, bias {fmt.bias}"
               f"{', saturating' if fmt.saturate else ''})")
    ck.require(fmt.subnormals, "gradual underflow (subnormals)", f"{fmt} flushes subnormals to zero")
    ck.require(fmt.exp_bits >= 4, "q >= 4 exponent bits (checked exhaustively for e4m2, e4m3, e5m2; in e3m4 the "
               "blocks of z = 0.5 and z = 1 are wrong although their constants exist)",
               f"{fmt} has q = {fmt.exp_bits} exponent bits")
    ck.require(rounding == "RNE", "every operation rounds to nearest, ties to even", f"rounding is {rounding}")


class _Blocks:
    """Threshold blocks as layer rows: L1 (g), L2 (h1, h2), L3 (y)."""

    def __init__(self, fmt):
        self.fmt = fmt
        self.g_w, self.g_b, self.h_w, self.h_b, self.s = [], [], [], [], []

    def add(self, z_code, sign):
        """A block for 1[x ≥ z] (sign = +1, z > 0) or 1[x ≤ −z] (sign = −1)."""
        fmt = self.fmt
        c = threshold_constants(fmt, value_of(fmt, z_code))
        code = lambda v: exact_code(fmt, v, "c3 constant")  # noqa: E731 (checked above)
        self.g_w.append(code(-sign))
        self.g_b.append(code(c["beta"]))
        self.h_w.append(code(-c["A"]))
        self.h_b.append((code(c["B1"]), code(c["B2"])))
        self.s.append((code(c["S"]), code(-c["S"])))
        return len(self.g_w) - 1

    def layers(self, ts, first_index=0, rounding="RNE", columns=None):
        """The block layers; ``columns[i]`` is the input column of block ``i``'s g neuron (None: one
        input)."""
        fmt = self.fmt
        n = len(self.g_w)
        zero = fmt.zero_code
        act = relu(fmt)
        L = []

        def add(w, b, name):
            L.append(Layer(w, np.array(b, dtype=fmt.dtype), weight_format=fmt, acc_format=fmt, activation=act,
                           rounding=rounding, tree=ts.tree(w.shape[1] + 1, first_index + len(L)), name=name))

        if columns is None:
            w1 = np.array(self.g_w, dtype=fmt.dtype)[:, None]
        else:
            w1 = np.full((n, max(columns) + 1), zero, dtype=fmt.dtype)
            w1[np.arange(n), columns] = self.g_w
        add(w1, self.g_b, "threshold-g")
        w2 = np.full((2 * n, n), zero, dtype=fmt.dtype)
        b2 = []
        for i in range(n):
            w2[2 * i, i] = w2[2 * i + 1, i] = self.h_w[i]
            b2 += list(self.h_b[i])
        add(w2, b2, "threshold-h")
        w3 = np.full((n, 2 * n), zero, dtype=fmt.dtype)
        for i in range(n):
            w3[i, 2 * i], w3[i, 2 * i + 1] = self.s[i]
        add(w3, [zero] * n, "threshold-y")
        return L


def c3_size(P: int) -> dict:
    """Size formula of the universal network over a format with P positive finite values."""
    N = 2 * P + 1
    widths = [2, 2 * P, 4 * P, 2 * P, N, 1]
    ins = [1, 2, 2 * P, 4 * P, 2 * P, N]
    return dict(layers=6, neurons=sum(widths), parameters=sum(w * (i + 1) for w, i in zip(widths, ins)),
                nonzero_weights=2 + 2 * P + 4 * P + 4 * P + (4 * P - 2 + 2) + N, max_width=max(widths))


def threshold_network(fmt, z, *, tree="sequential", rounding="RNE", allow_violations=False) -> Construction:
    """One block: 1[x ≥ z] for a positive value ``z``, 1[x ≤ z] for a negative one (3 layers)."""
    fmt = as_format(fmt)
    ck = Checker("c3", allow_violations)
    check_format(fmt, ck, rounding)
    z = Fraction(z)
    if z == 0:
        raise ConstructionError("c3: the threshold must be non-zero (1[x = 0] uses the thresholds ±ω)")
    b = _Blocks(fmt)
    b.add(exact_code(fmt, abs(z), "c3: threshold"), 1 if z > 0 else -1)
    net = Network(fmt, b.layers(tree_spec(tree), rounding=rounding))
    return Construction("c3", net, THEOREM, network_size(net), dict(layers=3, neurons=4, max_width=2),
                        tuple(ck.assumptions), tuple(ck.violations), dict(threshold=z))


def _positives(fmt):
    d = domain_codes(fmt)
    v = fmt.decode(d)
    return d[v > 0]


def c3(target: Target, *, tree="sequential", rounding="RNE", allow_violations=False,
       max_parameters: int = 20_000_000) -> Construction:
    """The universal network for a whole-domain 1-D ``target`` (every finite input)."""
    fmt = as_format(target.in_format)
    ck = Checker("c3", allow_violations)
    check_format(fmt, ck, rounding)
    if target.out_format != fmt:
        raise ConstructionError(f"c3: the target's values must be in {fmt}, got {target.out_format}")
    if target.d != 1 or not target.whole_domain:
        raise ConstructionError("c3: needs a 1-D whole-domain target")
    bad = np.flatnonzero(~fmt.is_finite(target.values))
    if bad.size:
        raise ConstructionError(f"c3: target value at x = {target.point_text(bad[0])} is "
                                f"{fmt.show(target.values[bad[0]])}; values must be finite (inf ⊗ 0 = NaN)")
    ts = tree_spec(tree)
    pos = _positives(fmt)
    P = pos.size
    blocks = _Blocks(fmt)
    # Split layer: x⁺ = ReLU(x), x⁻ = ReLU(−x). Block 1[x ≥ z] reads x⁺ and block 1[x ≤ −z] reads
    # −x⁻ (its first weight −1 on x⁻): both equal the block on x wherever it matters (x⁺ = 0 gives
    # 1[0 ≥ z] = 0 = 1[x ≥ z] for x < 0), and no g overflows to inf, which a zero weight of the next
    # dense layer would turn into NaN (0 ⊗ inf).
    if P * (6 * P) + (2 * P + 1) * 2 * P > max_parameters:
        raise ConstructionError(f"c3: the universal network over {fmt} has {2 * P + 1} points and about "
                                f"{8 * P * P + 2 * P:,} dense weights, more than max_parameters={max_parameters:,}")
    ge = [blocks.add(int(z), 1) for z in pos]           # ge[i]: 1[x ≥ pos[i]]
    le = [blocks.add(int(z), 1) for z in pos]           # le[i]: 1[x ≤ −pos[i]] = 1[x⁻ ≥ pos[i]]
    one0 = exact_code(fmt, 1, "c3: weight 1")
    split = Layer(np.array([[one0], [exact_code(fmt, -1, "c3: weight −1")]], dtype=fmt.dtype),
                  np.full(2, fmt.zero_code, dtype=fmt.dtype), weight_format=fmt, acc_format=fmt,
                  activation=relu(fmt), rounding=rounding, tree=ts.tree(2, 0), name="split")
    layers = [split] + blocks.layers(ts, 1, rounding=rounding, columns=[0] * P + [1] * P)
    one = exact_code(fmt, 1, "c3: weight 1")
    m_one = exact_code(fmt, -1, "c3: weight −1")
    zero = fmt.zero_code
    # the domain, ascending: −pos[P-1] … −pos[0], 0, pos[0] … pos[P-1]
    neg_codes = np.array([exact_code(fmt, -value_of(fmt, z), "c3: point") for z in pos[::-1]], dtype=fmt.dtype)
    points = np.concatenate([neg_codes, np.array([zero], dtype=fmt.dtype), pos])
    N = points.size
    w4 = np.full((N, 2 * P), zero, dtype=fmt.dtype)
    b4 = np.full(N, zero, dtype=fmt.dtype)
    for j in range(P):       # negative point −pos[j]: 1[x ≤ −pos[j]] − 1[x ≤ −pos[j+1]]
        r = P - 1 - j
        w4[r, le[j]] = one
        if j + 1 < P:
            w4[r, le[j + 1]] = m_one
    w4[P, ge[0]] = m_one
    w4[P, le[0]] = m_one
    b4[P] = one
    for i in range(P):
        r = P + 1 + i
        w4[r, ge[i]] = one
        if i + 1 < P:
            w4[r, ge[i + 1]] = m_one
    layers.append(Layer(w4, b4, weight_format=fmt, acc_format=fmt, activation=relu(fmt), rounding=rounding,
                        tree=ts.tree(2 * P + 1, 4), name="points"))
    # output: f(z) on each point's indicator
    order = {int(k): i for i, k in enumerate(_value_keys(fmt, target.points[:, 0]))}
    keys = _value_keys(fmt, points)
    w5 = np.array([[target.values[order[int(k)]] for k in keys]], dtype=fmt.dtype)
    layers.append(Layer(w5, np.array([zero], dtype=fmt.dtype), weight_format=fmt, acc_format=fmt,
                        activation=identity(fmt), rounding=rounding, tree=ts.tree(N + 1, 5), name="output"))
    net = Network(fmt, layers)
    return Construction("c3", net, THEOREM, network_size(net), c3_size(P), tuple(ck.assumptions),
                        tuple(ck.violations), dict(points=N, thresholds=2 * P, tree=str(ts)))


def _value_keys(fmt, codes):
    return ordinal(fmt, codes)[0]


def indicator_network(fmt, z, *, tree="sequential", rounding="RNE", allow_violations=False) -> Construction:
    """1[x = z] for one value ``z`` (a c3 universal network of the target 1[x = z])."""
    from .targets import Domain
    fmt = as_format(fmt)
    dom = Domain(fmt)
    pts = dom.points()
    zc = exact_code(fmt, Fraction(z), "c3: point")
    key = _value_keys(fmt, np.array([zc], dtype=fmt.dtype))[0]
    vals = np.where(_value_keys(fmt, pts[:, 0]) == key, fmt.one_code, fmt.zero_code).astype(fmt.dtype)
    return c3(Target(fmt, fmt, pts, vals, f"indicator of {z}", True, dom), tree=tree, rounding=rounding,
              allow_violations=allow_violations)
