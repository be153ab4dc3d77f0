"""C2: a step network memorises any finite data set under floating-point arithmetic.

Theorem (1-D). Let F be a binary floating-point format *with subnormals* and x_1 < … < x_n
distinct finite points of F with finite labels y_i ∈ F. With ``step(t) = 1[t ≥ 0]`` and every
operation rounded (any rounding mode), the network

1. ``s_i = step(x ⊕ (−x_i))`` — equal to 1[x ≥ x_i] because with gradual underflow a rounded
   difference has the sign of the exact one and is zero only for x = x_i;
2. ``e_i = step(s_i ⊕ (−s_{i+1}) ⊕ (−½))`` (``e_n = step(s_n ⊕ (−½))``) — equal to
   1[x_i ≤ x < x_{i+1}]; every sum of these terms is exact, in any order;
3. ``y = Σ_i y_i ⊗ e_i`` (identity) — one-hot, hence exact in any order;

maps every x_i to y_i, and more: every finite x to y_i for x_i ≤ x < x_{i+1} (to 0 below x_1).
For d inputs a first layer ``t = Σ_k w_k ⊗ x_k`` (identity, one neuron, the requested reduction
order) projects the points; the weights are drawn (seeded) until the rounded projections of the
data points are finite and pairwise distinct, and the 1-D network is built on them. The d-D
network memorises the data set (off the data set it is the step function of the projection).

Size (1-D): 3 affine layers of widths n, n, 1; dense parameters n·2 + n·(n+1) + (n+1), non-zero
weights 3n − 1 + n. d-D: one more layer of width 1 (d + 1 parameters) in front.

Assumptions (checked): a float format with subnormals (flush-to-zero is the negative control:
a difference below the smallest normal flushes to zero, ``step(0) = 1``, and a point whose next
data point is closer than the smallest normal takes that point's label), values 1 and −½
representable, finite labels, distinct points.
"""

from __future__ import annotations

import numpy as np

from ulpflow.golden import Layer, Network, as_format

from .common import (Checker, Construction, ConstructionError, domain_codes, exact_code, identity,
                     network_size, step, tree_spec, value_of)
from .targets import Target

__all__ = ["c2", "c2_size", "project"]

THEOREM = ("C2: a step network memorises any finite float data set (thresholds x ⊖ x_i, one-hot "
           "intervals, one-hot output), exact under every reduction order")


def c2_size(n: int, d: int = 1) -> dict:
    widths = ([1] if d > 1 else []) + [n, n, 1]
    ins = ([d] if d > 1 else []) + [1, n, n]
    return dict(layers=len(widths), neurons=sum(widths),
                parameters=sum(w * (i + 1) for w, i in zip(widths, ins)),
                nonzero_weights=(d if d > 1 else 0) + n + (2 * n - 1) + n, max_width=max(widths))


def project(points, fmt, tree, *, seed: int = 0, attempts: int = 1000):
    """A projection layer (one identity neuron, weights drawn from the values of ``fmt`` in
    [−2, 2] without 0) whose rounded outputs separate ``points``; returns ``(layer, t_codes)``."""
    d = points.shape[1]
    rng = np.random.default_rng(seed)
    cand = domain_codes(fmt, -2, 2)
    cand = cand[~fmt.is_zero(cand)]
    for _ in range(attempts):
        w = rng.choice(cand, size=(1, d))
        layer = Layer(w, np.array([fmt.zero_code], dtype=fmt.dtype), weight_format=fmt, acc_format=fmt,
                      activation=identity(fmt), tree=tree, name="projection")
        t = Network(fmt, [layer])(points)[:, 0]
        if not fmt.is_finite(t).all():
            continue
        vals = fmt.decode(t)
        if np.unique(vals).size == vals.size:
            return layer, t
    raise ConstructionError(f"c2: no projection weight vector out of {attempts} random ones separates the "
                            f"{points.shape[0]} points in {fmt}")


def c2(data: Target, *, tree="sequential", allow_violations: bool = False, rounding: str = "RNE",
       projection_seed: int = 0) -> Construction:
    """Build the C2 network memorising ``data`` (points ``(n, d)``, labels; see the module docstring)."""
    fmt = as_format(data.in_format)
    ck = Checker("c2", allow_violations)
    if fmt.kind != "float":
        raise ConstructionError(f"c2: needs a floating-point format, got {fmt}")
    if data.out_format != fmt:
        raise ConstructionError(f"c2: labels must be in the input format {fmt}, got {data.out_format}")
    ck.require(fmt.subnormals, "gradual underflow (subnormals): x ⊖ t = 0 only for x = t",
               f"{fmt} flushes subnormals to zero")
    bad = np.flatnonzero(~fmt.is_finite(data.values))
    if bad.size:
        raise ConstructionError(f"c2: label at point {data.point_text(bad[0])} is {fmt.show(data.values[bad[0]])}; "
                                "labels must be finite (inf ⊗ 0 is NaN)")
    bad = np.flatnonzero(~fmt.is_finite(data.points).all(axis=1))
    if bad.size:
        raise ConstructionError(f"c2: point {data.point_text(bad[0])} is not finite")
    ts = tree_spec(tree)
    pts = data.points
    n, d = pts.shape
    layers = []
    if d > 1:
        keys = {tuple(fmt.decode(p)) for p in pts}
        if len(keys) != n:
            raise ConstructionError("c2: the data set repeats a point")
        proj, t = project(pts, fmt, ts.tree(d + 1, 0), seed=projection_seed)
        layers.append(proj)
    else:
        t = pts[:, 0]
    tv = fmt.decode(t)
    order = np.argsort(tv, kind="stable")
    if np.unique(tv).size != n:
        dup = [i for i in range(n) if (tv == tv[i]).sum() > 1][0]
        raise ConstructionError(f"c2: the data set repeats the point {data.point_text(dup)} (+0 and −0 are one point)")
    xs, ys = t[order], data.values[order]
    one = exact_code(fmt, 1, "c2: weight 1")
    m_one = exact_code(fmt, -1, "c2: weight −1")
    m_half = exact_code(fmt, -0.5, "c2: bias −½")
    zero = fmt.zero_code
    off = len(layers)

    def add(w, b, act, name):
        layers.append(Layer(w, b, weight_format=fmt, acc_format=fmt, activation=act, rounding=rounding,
                            tree=ts.tree(w.shape[1] + 1, len(layers)), name=name))

    negs = np.array([exact_code(fmt, -value_of(fmt, c), f"c2: bias −x_i for x_i = {fmt.show(c)}") for c in xs],
                    dtype=fmt.dtype)
    add(np.full((n, 1), one, dtype=fmt.dtype), negs, step(fmt), "thresholds")
    w2 = np.full((n, n), zero, dtype=fmt.dtype)
    for i in range(n):
        w2[i, i] = one
        if i + 1 < n:
            w2[i, i + 1] = m_one
    add(w2, np.full(n, m_half, dtype=fmt.dtype), step(fmt), "intervals")
    add(ys[None, :].astype(fmt.dtype), np.array([zero], dtype=fmt.dtype), identity(fmt), "output")
    net = Network(fmt, layers)
    info = dict(points=n, tree=str(ts), sorted_points=xs, sorted_labels=ys, order=order, projected=t,
                projection_layers=off)
    return Construction("c2", net, THEOREM, network_size(net), c2_size(n, d), tuple(ck.assumptions),
                        tuple(ck.violations), info)
