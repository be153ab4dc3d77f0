"""Golden checks: does a network represent a target on every point, and (C4) is its interval
semantics the exact hull of the target on every box?

Outputs are compared by value (IEEE equality: +0 equals −0, a NaN output is always a mismatch);
the target's points are the domain's points (one per value).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ulpflow.golden import arith

from .targets import Target

__all__ = ["CheckResult", "check_pointwise", "check_intervals", "boxes_1d"]


@dataclass
class CheckResult:
    """``checked`` inputs (or boxes), ``mismatches`` of them, and the indices of the first few
    (``examples``: one line each)."""

    what: str
    checked: int
    mismatches: int
    failing: np.ndarray = field(repr=False, default=None)
    examples: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.mismatches == 0

    def __str__(self):
        s = f"{self.checked} {self.what}, {self.mismatches} mismatches"
        if self.examples:
            s += "; first: " + self.examples[0]
        return s


def _equal(a, b, fmt):
    return np.asarray(arith.eq(a, b, fmt), dtype=bool)


def check_pointwise(net, target: Target, *, examples: int = 5) -> CheckResult:
    """Evaluate ``net`` on every point of ``target`` and compare with its values."""
    if net.out_format != target.out_format:
        raise ValueError(f"the network outputs {net.out_format} but the target's values are in {target.out_format}")
    if net.in_format != target.in_format:
        raise ValueError(f"the network reads {net.in_format} but the target's points are in {target.in_format}")
    if net.n_in != target.d or net.n_out != 1:
        raise ValueError(f"the network maps {net.n_in} inputs to {net.n_out} outputs; the target has "
                         f"{target.d} inputs and 1 output")
    y = net(target.points)[:, 0]
    ok = _equal(y, target.values, target.out_format)
    bad = np.flatnonzero(~ok)
    fmt = target.out_format
    ex = [f"x = {target.point_text(i)}: expected {fmt.show(target.values[i])}, got {fmt.show(y[i])}"
          for i in bad[:examples]]
    return CheckResult("inputs", int(target.points.shape[0]), int(bad.size), bad, ex)


def boxes_1d(axis: np.ndarray):
    """Every box ``[axis[i], axis[j]]``, ``i <= j``: index arrays ``(i, j)``."""
    n = axis.size
    i, j = np.triu_indices(n)
    return i, j


def check_intervals(net, target: Target, *, examples: int = 5, sample=None, seed: int = 0) -> CheckResult:
    """Interval exactness on every box of a 1-D whole-domain target (or ``sample`` random ones):
    ``net.interval([a], [b])`` must be exactly ``[min f, max f]`` over the domain points of
    ``[a, b]`` (no ⊤, endpoints equal by value)."""
    if target.d != 1 or not target.whole_domain:
        raise ValueError("interval checks are defined here for 1-D whole-domain targets")
    order = np.argsort(target.in_format.decode(target.points[:, 0]), kind="stable")
    xs = target.points[order, 0]
    fs = target.values[order]
    fmt = target.out_format
    fv = fmt.decode(fs)
    i, j = boxes_1d(xs)
    if sample is not None and sample < i.size:
        pick = np.random.default_rng(seed).choice(i.size, size=sample, replace=False)
        i, j = i[pick], j[pick]
    n = xs.size
    # exact hull of f over [i, j]: running min/max along each start (codes picked by value)
    lo_idx = np.empty(i.size, dtype=np.int64)
    hi_idx = np.empty(i.size, dtype=np.int64)
    for s in np.unique(i):
        sel = np.flatnonzero(i == s)
        seg = fv[s:n]
        amin = _running_arg(seg, np.less)
        amax = _running_arg(seg, np.greater)
        lo_idx[sel] = s + amin[j[sel] - s]
        hi_idx[sel] = s + amax[j[sel] - s]
    box = net.interval(xs[i][:, None], xs[j][:, None])
    lo, hi, top = box.lo[:, 0], box.hi[:, 0], box.top[:, 0]
    ok = ~top & _equal(lo, fs[lo_idx], fmt) & _equal(hi, fs[hi_idx], fmt)
    bad = np.flatnonzero(~ok)
    inf = target.in_format
    ex = [f"box [{inf.show(xs[i[k]])}, {inf.show(xs[j[k]])}]: expected [{fmt.show(fs[lo_idx[k]])}, "
          f"{fmt.show(fs[hi_idx[k]])}], got " + ("⊤" if top[k] else f"[{fmt.show(lo[k])}, {fmt.show(hi[k])}]")
          for k in bad[:examples]]
    return CheckResult("boxes", int(i.size), int(bad.size), bad, ex)


def _running_arg(v, better):
    """Index of the running minimum (``np.less``) or maximum (``np.greater``) of ``v``."""
    out = np.empty(v.size, dtype=np.int64)
    best = 0
    for k in range(v.size):
        if better(v[k], v[best]):
            best = k
        out[k] = best
    return out
