"""C4: interval-exact threshold, box (AND), union (OR) and layer-cake networks.

Theorem (interval universality, ReLU, η = 3). Let F = F(p, q) be an IEEE-like float format with
subnormals, round to nearest even, q ≥ 4 and p ≤ e_max. For every threshold z of F ∩ [−1, 1]
the threshold networks below compute 1[x > z], 1[x ≤ z], 1[x ≥ z] exactly on every x of
F ∩ [−1, 1] **and** their interval (abstract) semantics on every box [l, h] ⊆ [−1, 1] is the exact
hull of the indicator on the box; box indicators (AND), unions of boxes closed under covering
(OR) and the layer-cake sum keep this property, so a 1-D target f with values in F is computed
exactly pointwise and its interval semantics equals [min f, max f] on every box — **provided the
layer-cake sum is added left to right in increasing level order** (any other order breaks it).

Blocks, as chains of monotone scalar maps (every operation rounded; K = ReLU(0 ⊕ 1) = 1 is a
constant neuron, r_K copies of it in every hidden layer, so each constant is one weight):

* μ_z(x) = w⊗x ⊕ b sends z to η and z⁺ to η⁺ = η + u, u = 2^(1−p): for z ≥ 0 (−0 included)
  w = 2^(1 − ê_z), b = η − w·z (increasing); for z < 0 it is decreasing with w = −2^(1 − ê_z),
  b = η⁺ + 2^(1−ê_z)·z, except at a binade bottom (significand 1, z ≤ −2^(e_min+1)), where
  w = −(1 + 2^−p)·2^(1 − e_z) and b = 1 (ê_z = max(⌊log₂|z|⌋, e_min), ê_0 = e_min);
* the binariser B = (ReLU∘g)^k, g(y) = (h(θ⊗y ⊕ c_θ) ⊕ β̃) ⊕ η with θ = 2^e_min, c_θ = −3θ,
  h(t) = (…((t ⊕ c₀) ⊕ β₁) ⊕ …) ⊕ β_m (ζ = 2^−p, m = ⌈(−p − e_min − 1)/(p+2)⌉,
  s_i = −p − (p+2)(m − i), c₀ = 2^s₀ − ω, β_i = (2 − 2^−p)·2^(s_i − 1)), β̃ = 2^−2p (0 when
  −p ≤ e_min or the last significand bit of η is 1); B maps [0, η] to η and [η⁺, Ω] to η⁺.
  The g neuron needs its constants in exactly this order, after y, each addition rounded: its
  tree is sequential. k = n₁ + 1 where n₁ is the smallest n with (4θ)^n · X ≤ 1 for
  X = max((Ω − η⁺)/(ρ − u), (η + Ω)/ρ), ρ = ζ/θ;
* L5: y ↦ d⊗y ⊕ (−d⊗η) (mode 1: η → 0, η⁺ → 1) or (−d)⊗y ⊕ d⊗η⁺ (mode 2), d = 2^(p−1);
* ι_{>z} = L5₁∘B∘μ_z (z ≥ 0) or L5₂∘B∘μ_z (z < 0); ι_{≤z} the other mode;
  ι_{≥a}(x) = ι_{≤−a}(−x) (the sign goes into μ's weight);
* AND of a d-D box: ι_{>η}(Σ_k α⊗ι_{≥a_k}(x_k) ⊕ α⊗ι_{≤b_k}(x_k) ⊕ (η − (2d−1)α)), α = 2u;
* OR of boxes S: ι_{>η}(Σ_{B∈S} u⊗ν_B(x) ⊕ η);
* layer cake: Σ_{v∈V⁺↑} α_v⊗ν_{S⁺_v}(x) then Σ_{v∈V⁻↑} (−α_v)⊗ν_{S⁻_v}(x), bias last, with
  α_v = v − pred(v), V± every positive value up to max f^±, S^±_v the maximal runs of
  {x : ±f(x) ≥ v}; the partial sums telescope through every value 0 → v₁ → v₂ → … → f^±(x).

Size (1-D target, M boxes = Σ_v |S_v|, V levels, r = r_K, D = k + 2): 3D + 1 affine layers
(stage A thresholds: μ, k g-layers, L5; stage B AND: same with the AND sum first; stage C OR:
same with the OR sum first; the output); widths 2M + r (stage A), M + r (B), V + r (C), 1.

Assumptions (checked): F IEEE-like with subnormals, RNE, ReLU, q ≥ 4, p ≤ e_max, inputs in
[−1, 1], finite target values, sequential trees in every layer (the g neurons need it) and the
increasing layer-cake order (``order="decreasing"`` or ``"random:SEED"`` are the negative
controls; the required order is recorded in the output layer's Tree).
"""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np

from ulpflow.golden import Layer, Network, Tree, as_format

from .common import (Checker, binade_exponent, Construction, ConstructionError, domain_codes, exact_code, identity,
                     network_size, relu, tree_spec, value_of)
from .targets import Domain, Target

__all__ = ["c4", "c4_params", "threshold_net", "box_net", "union_net", "maximal_runs", "ETA"]

ETA = Fraction(3)
THEOREM = ("C4: interval-exact ReLU networks — threshold, box (AND), union (OR) and layer-cake blocks whose "
           "interval semantics is the exact hull of the target on every box; the layer-cake sum only in "
           "increasing order")


def c4_params(fmt, iterations=None) -> dict:
    """The constants of the blocks for ``fmt`` (η = 3), checked; ``iterations`` overrides k = n₁ + 1."""
    fmt = as_format(fmt)
    p, emin, emax = fmt.man_bits, fmt.emin, fmt.emax
    two = Fraction(2)
    if fmt.exp_bits < 4:
        raise ConstructionError(f"c4: needs q >= 4 exponent bits (the contraction 4θ = 2^(e_min+2) < 1), "
                                f"{fmt} has {fmt.exp_bits}")
    if p > emax:
        raise ConstructionError(f"c4: needs p <= e_max (d·η⁺ = 2^(p−1)·(3 + 2^(1−p)) must be finite); {fmt} "
                                f"has p = {p}, e_max = {emax}")
    if p < 2:
        raise ConstructionError(f"c4: needs p >= 2 stored fraction bits (η = 3 must have an even significand), {fmt} has {p}")
    u = two ** (1 - p)
    omega = two ** (emin - p)
    Omega = (2 - two ** (-p)) * two ** emax
    e_zeta = -p
    m1 = max(0, -((-(e_zeta - emin - 1)) // (p + 2)))
    s = [e_zeta - (p + 2) * (m1 - i) for i in range(m1 + 1)]
    c0 = two ** s[0] - omega
    betas = [(2 - two ** (-p)) * two ** (si - 1) for si in s[1:]]
    theta = two ** emin
    c_theta = -theta * ETA
    beta_t = two ** (e_zeta - p) if e_zeta > emin else Fraction(0)
    consts = [c_theta] + ([c0] if c0 != 0 else []) + betas + ([beta_t] if beta_t != 0 else [])
    if iterations is None:
        Lt = two ** (emin + 2)
        rho = two ** (e_zeta - emin)
        X = max((Omega - ETA - u) / (rho - u), (ETA + Omega) / rho)
        n1 = 0
        while Lt ** n1 * X > 1:
            n1 += 1
        iterations = n1 + 1
    out = dict(eta=ETA, u=u, theta=theta, consts=consts, r=len(consts), k=int(iterations),
               d=two ** (p - 1), alpha_and=2 * u, alpha_or=u)
    for name, v in [("η", ETA), ("η⁺", ETA + u), ("θ", theta), ("d", out["d"]), ("−d", -out["d"]),
                    ("−d·η", -out["d"] * ETA), ("d·η⁺", out["d"] * (ETA + u))] + \
            [(f"g constant {i}", c) for i, c in enumerate(consts)]:
        exact_code(fmt, v, f"c4: {name}")
    return out


def _mu(fmt, z: Fraction, neg_zero=False):
    """(w, b) of μ_z; ``neg_zero`` marks z = −0 (treated as z ≥ 0)."""
    two = Fraction(2)
    emin, p = fmt.emin, fmt.man_bits
    if z >= 0:
        ehat = emin if z == 0 else max(binade_exponent(z), emin)
        w = two ** (1 - ehat)
        return w, ETA - w * z
    ez = binade_exponent(-z)
    mz = -z / two ** ez
    if mz == 1 and -z >= two ** (emin + 1):   # binade bottom (corrected rule)
        return -(1 + two ** (-p)) * two ** (1 - ez), Fraction(1)
    ehat = max(ez, emin)
    w = two ** (1 - ehat)
    return -w, ETA + two ** (1 - p) + w * z


class _Net:
    """Layer builder: every hidden layer is [data neurons …, K_1 … K_r]."""

    def __init__(self, fmt, prm, rounding, ts):
        self.fmt, self.prm, self.rounding, self.ts = fmt, prm, rounding, ts
        self.layers = []
        self.width = None        # data width of the last layer (None: the network input)
        self.n_in = None
        self._codes = {}

    def code(self, v, what="c4 constant"):
        v = Fraction(v)
        if v not in self._codes:
            self._codes[v] = exact_code(self.fmt, v, what)
        return self._codes[v]

    def affine(self, rows, name, act=None, keep_k=True, tree=None):
        """``rows``: list of ({column: weight}, bias); appends the r K neurons when ``keep_k``."""
        fmt, r = self.fmt, self.prm["r"]
        n_prev = self.n_in if self.width is None else self.width + r
        n_out = len(rows) + (r if keep_k else 0)
        w = np.full((n_out, n_prev), fmt.zero_code, dtype=fmt.dtype)
        b = np.full(n_out, fmt.zero_code, dtype=fmt.dtype)
        for i, (ws, bias) in enumerate(rows):
            for c, v in ws.items():
                w[i, c] = self.code(v)
            b[i] = self.code(bias)
        if keep_k:
            b[len(rows):] = self.code(1)
        t = tree if tree is not None else self.ts.tree(n_prev + 1, len(self.layers))
        self.layers.append(Layer(w, b, weight_format=fmt, acc_format=fmt, activation=act or relu(fmt),
                                 rounding=self.rounding, tree=t, name=name))
        self.width = len(rows)

    def binarise(self, modes, stage):
        """k g-layers then L5 on the current data neurons; ``modes[i]`` ∈ {1, 2}."""
        prm, m = self.prm, self.width
        for j in range(prm["k"]):
            rows = []
            for i in range(m):
                ws = {i: prm["theta"]}
                for c, v in enumerate(prm["consts"]):
                    ws[m + c] = v
                rows.append((ws, prm["eta"]))
            self.affine(rows, f"{stage}-g{j + 1}")
        d, eta, u = prm["d"], prm["eta"], prm["u"]
        self.affine([({i: d}, -d * eta) if mo == 1 else ({i: -d}, d * (eta + u)) for i, mo in enumerate(modes)],
                    f"{stage}-L5")

    def network(self):
        return Network(self.fmt, self.layers)


def _check(fmt, ck, rounding, ts):
    if fmt.kind != "float":
        raise ConstructionError(f"c4: needs an IEEE-like float format, got {fmt}")
    ck.require(fmt.specials == "ieee" and not fmt.saturate, "IEEE-like format", f"{fmt} is not IEEE-like")
    ck.require(fmt.subnormals, "gradual underflow (subnormals)", f"{fmt} flushes subnormals to zero")
    ck.require(rounding == "RNE", "round to nearest even", f"rounding is {rounding}")
    ck.require(ts.kind == "sequential", "sequential trees (the g neurons add their constants after y, in order)",
               f"the tree is {ts}")


def _thresholds_stage(b: _Net, specs):
    """Stage A: ``specs`` = list of (input column, kind, z) with kind in {">", "<=", ">="}."""
    fmt = b.fmt
    rows, modes = [], []
    for col, kind, z in specs:
        z = Fraction(z)
        if kind == ">=":                       # ι_{≥a}(x) = ι_{≤−a}(−x)
            w, bias = _mu(fmt, -z)
            rows.append(({col: -w}, bias))
            modes.append(2 if -z >= 0 else 1)
        else:
            w, bias = _mu(fmt, z)
            rows.append(({col: w}, bias))
            if kind == ">":
                modes.append(1 if z >= 0 else 2)
            else:
                modes.append(2 if z >= 0 else 1)
    b.affine(rows, "A-mu")
    b.binarise(modes, "A")


def _finish(b: _Net, name, ck, info, out_rows=None):
    """Output layer (identity) over the current data neurons."""
    fmt = b.fmt
    if out_rows is None:
        out_rows = [({i: 1}, 0) for i in range(b.width)]
    b.affine(out_rows, "output", act=identity(fmt), keep_k=False, tree=info.pop("_tree", None))
    net = b.network()
    return Construction("c4", net, THEOREM, network_size(net), info.pop("_formula", {}), tuple(ck.assumptions),
                        tuple(ck.violations), info)


def threshold_net(fmt, z, kind=">", *, tree="sequential", rounding="RNE", iterations=None,
                  allow_violations=False) -> Construction:
    """1[x > z], 1[x ≤ z] or 1[x ≥ z] (``kind``) on x ∈ F ∩ [−1, 1]: k + 3 affine layers."""
    fmt = as_format(fmt)
    ck, ts = Checker("c4", allow_violations), tree_spec(tree)
    _check(fmt, ck, rounding, ts)
    prm = c4_params(fmt, iterations)
    b = _Net(fmt, prm, rounding, ts)
    b.n_in = 1
    _thresholds_stage(b, [(0, kind, z)])
    return _finish(b, "threshold", ck, dict(kind=kind, threshold=Fraction(z), k=prm["k"], r=prm["r"]))


def _and_rows(prm, boxes, d):
    """AND sums: box j uses indicator columns 2d·j … 2d·j + 2d − 1."""
    a = prm["alpha_and"]
    bias = prm["eta"] - (2 * d - 1) * a
    return [({2 * d * j + t: a for t in range(2 * d)}, bias) for j in range(len(boxes))]


def _box_specs(boxes, d):
    specs = []
    for lo, hi in boxes:
        for k in range(d):
            specs += [(k, ">=", lo[k]), (k, "<=", hi[k])]
    return specs


def _box_stages(b, boxes, d):
    _thresholds_stage(b, _box_specs(boxes, d))
    b.affine(_and_rows(b.prm, boxes, d), "B-and")
    b.binarise([1] * len(boxes), "B")


def box_net(fmt, box, *, tree="sequential", rounding="RNE", iterations=None, allow_violations=False) -> Construction:
    """1[x ∈ box] for a d-D box ``(lo, hi)`` (sequences of d values) on x ∈ (F ∩ [−1, 1])^d."""
    fmt = as_format(fmt)
    ck, ts = Checker("c4", allow_violations), tree_spec(tree)
    _check(fmt, ck, rounding, ts)
    prm = c4_params(fmt, iterations)
    lo, hi = [tuple(Fraction(v) for v in t) for t in box]
    d = len(lo)
    _check_and(prm, fmt, d)
    b = _Net(fmt, prm, rounding, ts)
    b.n_in = d
    _box_stages(b, [(lo, hi)], d)
    return _finish(b, "box", ck, dict(box=(lo, hi), k=prm["k"], r=prm["r"]))


def _check_and(prm, fmt, d):
    bias = prm["eta"] - (2 * d - 1) * prm["alpha_and"]
    if bias <= 0 or 2 * d > 2 ** (fmt.man_bits + 1):
        raise ConstructionError(f"c4: a {d}-D AND needs η − (2d−1)·2u > 0 and 2d <= 2^(p+1) in {fmt}")
    exact_code(fmt, bias, f"c4: AND bias for d = {d}")


def union_net(fmt, boxes, *, tree="sequential", rounding="RNE", iterations=None, allow_violations=False) -> Construction:
    """1[x ∈ ∪ boxes] (d-D); interval-exact when the set of boxes is closed under covering."""
    fmt = as_format(fmt)
    ck, ts = Checker("c4", allow_violations), tree_spec(tree)
    _check(fmt, ck, rounding, ts)
    prm = c4_params(fmt, iterations)
    boxes = [tuple(tuple(Fraction(v) for v in t) for t in bx) for bx in boxes]
    d = len(boxes[0][0])
    _check_and(prm, fmt, d)
    b = _Net(fmt, prm, rounding, ts)
    b.n_in = d
    _box_stages(b, boxes, d)
    b.affine([({j: prm["alpha_or"] for j in range(len(boxes))}, prm["eta"])], "C-or")
    b.binarise([1], "C")
    return _finish(b, "union", ck, dict(boxes=len(boxes), k=prm["k"], r=prm["r"]))


def maximal_runs(mask):
    """Maximal runs ``[(i, j), …]`` (inclusive) of True in a 1-D boolean array."""
    runs, start = [], None
    for i, m in enumerate(list(mask) + [False]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            runs.append((start, i - 1))
            start = None
    return runs


_ORDER_RE = re.compile(r"^(increasing|decreasing|random:(\d+))$")


def c4(target: Target, *, tree="sequential", order="increasing", rounding="RNE", iterations=None,
       allow_violations=False, max_parameters: int = 30_000_000) -> Construction:
    """The layer-cake network of a 1-D whole-domain target on F ∩ [−1, 1] (see the module docstring).

    ``order``: the layer-cake sum's order, ``increasing`` (required), or the negative controls
    ``decreasing`` and ``random:SEED``; it is recorded as the output layer's Tree."""
    fmt = as_format(target.in_format)
    ck, ts = Checker("c4", allow_violations), tree_spec(tree)
    _check(fmt, ck, rounding, ts)
    m = _ORDER_RE.match(str(order))
    if not m:
        raise ValueError(f"unknown layer-cake order {order!r}; expected increasing, decreasing or random:SEED")
    ck.require(order == "increasing", "the layer-cake sum is added left to right in increasing level order",
               f"the order is {order}")
    if target.out_format != fmt or target.d != 1 or not target.whole_domain:
        raise ConstructionError(f"c4: needs a 1-D whole-domain target with values in {fmt}")
    xv = fmt.decode(target.points[:, 0])
    if xv.min() < -1 or xv.max() > 1:
        raise ConstructionError("c4: the target's domain must lie in [−1, 1]")
    bad = np.flatnonzero(~fmt.is_finite(target.values))
    if bad.size:
        raise ConstructionError(f"c4: target value at x = {target.point_text(bad[0])} is not finite")
    prm = c4_params(fmt, iterations)
    srt = np.argsort(xv, kind="stable")
    xs = target.points[srt, 0]
    fv = [value_of(fmt, c) for c in target.values[srt]]
    pos = [value_of(fmt, c) for c in domain_codes(fmt) if value_of(fmt, c) > 0]
    levels = []        # (sign, v, alpha, runs)
    for sign in (1, -1):
        top = max([sign * f for f in fv] + [0])
        prev = Fraction(0)
        for v in pos:
            if v > top:
                break
            runs = maximal_runs([sign * f >= v for f in fv])
            levels.append((sign, v, v - prev, runs))
            prev = v
    if not levels:   # f ≡ 0: one empty level keeps the network well formed
        raise ConstructionError("c4: the target is identically zero; no level to build")
    boxes, members = [], []
    for sign, v, a, runs in levels:
        ids = []
        for i, j in runs:
            ids.append(len(boxes))
            boxes.append(((value_of(fmt, xs[i]),), (value_of(fmt, xs[j]),)))
        members.append(ids)
    M, V, r = len(boxes), len(levels), prm["r"]
    dense = (2 * M + r) ** 2 * (prm["k"] + 1) + (M + r) ** 2 * (prm["k"] + 1) + (M + r) * (2 * M + r)
    if dense > max_parameters:
        raise ConstructionError(f"c4: the layer-cake network has {M} boxes over {V} levels, about {dense:,} dense "
                                f"weights, more than max_parameters={max_parameters:,}")
    b = _Net(fmt, prm, rounding, ts)
    b.n_in = 1
    _box_stages(b, boxes, 1)
    b.affine([({j: prm["alpha_or"] for j in ids}, prm["eta"]) for ids in members], "C-or")
    b.binarise([1] * V, "C")
    # output: level columns 0 … V−1 are already in increasing order within each sign
    if order == "increasing":
        seq = list(range(V))
    elif order == "decreasing":
        npos = sum(1 for s, *_ in levels if s > 0)
        seq = list(range(npos - 1, -1, -1)) + list(range(V - 1, npos - 1, -1))
    else:
        seq = [int(i) for i in np.random.default_rng(int(m.group(2))).permutation(V)]
    n_prev = V + r
    out_tree = Tree.from_order(seq + list(range(V, n_prev)) + [n_prev], n_terms=n_prev + 1)
    rows = [({i: s * a for i, (s, v, a, runs) in enumerate(levels)}, 0)]
    k = prm["k"]
    formula = dict(layers=3 * (k + 2) + 1, max_width=max(2 * M + r, M + r, V + r),
                   neurons=(k + 2) * (2 * M + r) + (k + 2) * (M + r) + (k + 2) * (V + r) + 1)
    info = dict(levels=V, boxes=M, k=k, r=r, order=str(order), _tree=out_tree, _formula=formula)
    return _finish(b, "layer-cake", ck, info, rows)
