"""C1: every function on a fixed-point grid, with weights ±1 and ReLU (quantized-cube indicators).

Theorem (realised here for any input dimension d). Let Q be a *symmetric* signed fixed-point
format ``qI.Fs`` (no most negative code, so that every value's negation is a value) with I ≥ 2
integer bits, *saturating* overflow, and let every product and sum be rounded into Q. Then for
every function f from the N points of Q^d to Q, the ReLU network below, all of whose weights are
+1 or −1 and whose biases are values of Q, computes f exactly at every point of Q^d, under every
reduction order and every rounding mode (no operation of it ever rounds: products are ±x, sums
are exact or saturate).

Construction, for each grid point a = (a_1 … a_d):

1. ``r_ak = ReLU(x_k ⊕ (−a_k))``, ``l_ak = ReLU((−1)⊗x_k ⊕ a_k)`` (2d neurons): all are 0 iff
   x = a, otherwise one of them is at least 2^−F (saturation keeps the sign of a difference);
2. ``c_a = ReLU(Σ_k r_ak + l_ak)`` (+1 weights), twice (two copies): the cube indicator, 0
   exactly at a, ≥ 2^−F elsewhere (a saturating sum of non-negative terms in any order);
3. I+F−1 doubling layers ``c_a ← ReLU(c_a ⊕ c_a)`` on the two copies: c_a saturates to max Q
   unless x = a (2^(I+F−1) · 2^−F > max Q);
4. ``n⁺_a = ReLU((−1)⊗c_a ⊕ v⁺_a)``, ``n⁻_a = ReLU((−1)⊗c_a ⊕ v⁻_a)``, ``v± = max(±f(a), 0)``;
5. output (identity): ``Σ_a (+1)⊗n⁺_a + (−1)⊗n⁻_a``, bias 0 — exactly one term is non-zero.

Size: I+F+3 affine layers; widths 2dN, 2N, 2N (× I+F−1), 2N, 1; dense parameters
2dN·(d+1) + 2N·(2dN+1) + (I+F−1)·2N·(2N+1) + 2N·(2N+1) + 2N + 1, of which non-zero weights
2dN + 4dN + 4N(I+F−1) + 2N + 2N.

Assumptions (checked): fixed-point Q, signed and symmetric, saturating (not ``_wrap``), I ≥ 2,
ReLU, the target's values in Q. Negative controls (``allow_violations=True``): in two's
complement (``qI.F``) the biases −a_k = −min and v⁻ = −min do not exist; they are replaced by
max Q (recorded) and then min and min + 2^−F are indistinguishable with ±1 weights, so the
network errs exactly at those points (where f differs from the sum of the two values); with
wrap-around (``qI.F_wrap``) the doubling layers wrap instead of saturating.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ulpflow.golden import Layer, Network

from .common import Checker, Construction, ConstructionError, exact_code, identity, network_size, relu, tree_spec, value_of
from .targets import Target

__all__ = ["c1", "c1_size"]

THEOREM = ("C1: a ReLU network with weights ±1 over a symmetric saturating fixed-point format computes "
           "every function on the grid exactly (quantized-cube indicators), under every reduction order")


def c1_size(I: int, F: int, d: int, N: int) -> dict:
    """The size formula: layers, neurons, parameters and non-zero weights."""
    D = I + F - 1
    widths = [2 * d * N, 2 * N] + [2 * N] * D + [2 * N, 1]
    ins = [d, 2 * d * N] + [2 * N] * D + [2 * N, 2 * N]
    params = sum(w * (i + 1) for w, i in zip(widths, ins))
    nonzero_w = 2 * d * N + 2 * N * 2 * d + D * 2 * N * 2 + 2 * N + 2 * N
    return dict(layers=I + F + 3, neurons=sum(widths), parameters=params, nonzero_weights=nonzero_w,
                max_width=max(widths))


def c1(target: Target, *, tree="sequential", allow_violations: bool = False, rounding: str = "RNE") -> Construction:
    """Build the C1 network for a whole-domain ``target`` on ``fmt^d`` (see the module docstring)."""
    fmt = target.in_format
    ck = Checker("c1", allow_violations)
    if fmt.kind != "fixed" or not fmt.signed:
        raise ConstructionError(f"c1: needs a signed fixed-point format qI.F[s], got {fmt}")
    if target.out_format != fmt:
        raise ConstructionError(f"c1: the target's values must be in the input format {fmt}, got {target.out_format}")
    if fmt.int_bits < 2:
        raise ConstructionError(f"c1: the weight 1 is not representable in {fmt} (needs I >= 2 integer bits)")
    if not target.whole_domain:
        raise ConstructionError("c1: needs a whole-domain target (one value per grid point)")
    ck.require(fmt.symmetric, "the format is symmetric (qI.Fs): every value has its negation",
               f"{fmt} is two's complement: the negation of its most negative value is not a value")
    ck.require(fmt.overflow == "SAT", "overflow saturates", f"{fmt} wraps around on overflow")
    ts = tree_spec(tree)
    I, F, d = fmt.int_bits, fmt.frac_bits, target.d
    pts, vals = target.points, target.values
    N = pts.shape[0]
    one = fmt.one_code
    m_one = exact_code(fmt, -1, "c1: weight −1")
    zero = fmt.zero_code
    maxc = fmt.max_finite_code

    def neg_code(c, what):
        v = -value_of(fmt, c)
        try:
            return exact_code(fmt, v, what)
        except ConstructionError:
            if not allow_violations:
                raise
            ck.note(f"{what} = {v} is not a value of {fmt}: replaced by max {fmt.show(maxc)}")
            return maxc

    Z = lambda r, c: np.full((r, c), zero, dtype=fmt.dtype)  # noqa: E731
    layers = []
    act = relu(fmt)

    def add(w, b, a=act, name=None):
        k = len(layers)
        layers.append(Layer(w, b, weight_format=fmt, acc_format=fmt, activation=a, rounding=rounding,
                            tree=ts.tree(w.shape[1] + 1, k), name=name))

    # layer 1: r and l per point and coordinate
    w1 = Z(2 * d * N, d)
    b1 = np.empty(2 * d * N, dtype=fmt.dtype)
    neg_cache = {}
    for n in range(N):
        for k in range(d):
            a = int(pts[n, k])
            r = 2 * (d * n + k)
            w1[r, k], w1[r + 1, k] = one, m_one
            if a not in neg_cache:
                neg_cache[a] = neg_code(a, f"c1: bias −a for a = {fmt.show(a)}")
            b1[r], b1[r + 1] = neg_cache[a], a
    add(w1, b1, name="cube-terms")
    # layer 2: two copies of the cube indicator
    w2 = Z(2 * N, 2 * d * N)
    for n in range(N):
        w2[2 * n:2 * n + 2, 2 * d * n:2 * d * (n + 1)] = one
    add(w2, np.full(2 * N, zero, dtype=fmt.dtype), name="cube")
    # doubling layers
    for s in range(I + F - 1):
        w = Z(2 * N, 2 * N)
        for n in range(N):
            w[2 * n:2 * n + 2, 2 * n:2 * n + 2] = one
        add(w, np.full(2 * N, zero, dtype=fmt.dtype), name=f"double-{s + 1}")
    # value layer
    wv = Z(2 * N, 2 * N)
    bv = np.empty(2 * N, dtype=fmt.dtype)
    for n in range(N):
        wv[2 * n, 2 * n] = m_one
        wv[2 * n + 1, 2 * n + 1] = m_one
        fa = value_of(fmt, vals[n])
        bv[2 * n] = vals[n] if fa > 0 else zero
        bv[2 * n + 1] = neg_code(vals[n], f"c1: v⁻ = −f(a) at a = {target.point_text(n)}") if fa < 0 else zero
    add(wv, bv, name="values")
    wo = Z(1, 2 * N)
    wo[0, 0::2] = one
    wo[0, 1::2] = m_one
    add(wo, np.array([zero], dtype=fmt.dtype), a=identity(fmt), name="output")
    net = Network(fmt, layers)
    return Construction("c1", net, THEOREM, network_size(net), c1_size(I, F, d, N), tuple(ck.assumptions),
                        tuple(ck.violations), dict(points=N, tree=str(ts)))
