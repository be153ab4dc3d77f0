"""Shared pieces of the constructions: the result object, assumption checking, exact constants,
reduction-order specs and domains.

Every construction returns a :class:`Construction`: the golden :class:`~ulpflow.golden.Network`
plus what it claims (the theorem, the size, the assumptions it relies on) and which of those
assumptions the caller deliberately broke (``violations``; empty for a proper construction).

Assumptions are checked when the network is built. A broken *assumption about the setting*
(format style, subnormals, overflow mode, rounding, reduction order) raises one
:class:`ConstructionError` naming it, unless the caller passes ``allow_violations=True``: then the
network is built anyway as a **negative control** and the broken assumption is listed in
``Construction.violations``. A constant that the format cannot hold, or a target value that is not
finite, is always an error (no network exists to build), except where a construction documents a
specific negative-control substitute (C1 in two's complement).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ulpflow.golden import Network, Tree, as_format, get_activation
from ulpflow.golden.formats import ordinal

__all__ = ["Construction", "ConstructionError", "Size", "network_size", "TreeSpec", "tree_spec",
           "exact_code", "value_of", "domain_codes", "Checker", "binade_exponent"]


class ConstructionError(ValueError):
    """A construction's assumption does not hold, or one of its constants cannot be built."""


@dataclass(frozen=True)
class Size:
    """Size of a network: affine layers, neurons (sum of the layer widths), parameters (every
    weight and bias entry of the dense layers) and the non-zero ones."""

    layers: int
    neurons: int
    parameters: int
    nonzero_parameters: int
    max_width: int
    nonzero_weights: int = 0

    def __str__(self):
        return (f"{self.layers} layers, {self.neurons} neurons (max width {self.max_width}), "
                f"{self.parameters} parameters ({self.nonzero_parameters} non-zero, "
                f"{self.nonzero_weights} non-zero weights)")

    def to_json(self) -> dict:
        return dict(layers=self.layers, neurons=self.neurons, parameters=self.parameters,
                    nonzero_parameters=self.nonzero_parameters, max_width=self.max_width,
                    nonzero_weights=self.nonzero_weights)


def network_size(net: Network) -> Size:
    """Measured :class:`Size` of a network (zero means a value-zero code)."""
    neurons = params = nonzero = nzw = 0
    for layer in net.layers:
        neurons += layer.n_out
        params += layer.weights.size + layer.bias.size
        wz = layer.weight_format.is_zero(layer.weights)
        bz = layer.acc_format.is_zero(layer.bias)
        nonzero += int((~wz).sum() + (~bz).sum())
        nzw += int((~wz).sum())
    return Size(len(net.layers), neurons, params, nonzero, max(l.n_out for l in net.layers), nzw)


@dataclass(frozen=True)
class Construction:
    """A built construction.

    Members
    -------
    name : "c1" … "c4"
    network : the golden Network
    theorem : one paragraph: what the network computes and under which assumptions
    size : measured :class:`Size`; ``formula`` the size the docstring's formula predicts
    assumptions : the assumptions the construction relies on (checked)
    violations : the assumptions deliberately broken (negative control), else empty
    info : construction-specific data (points, thresholds, levels, …)
    """

    name: str
    network: Network
    theorem: str
    size: Size
    formula: dict
    assumptions: tuple
    violations: tuple = ()
    info: dict = field(default_factory=dict)

    @property
    def negative_control(self) -> bool:
        return bool(self.violations)


class Checker:
    """Collects assumption checks: raises on the first broken one unless negative controls are
    allowed, in which case the broken ones are recorded."""

    def __init__(self, construction: str, allow_violations: bool):
        self.construction = construction
        self.allow = bool(allow_violations)
        self.assumptions: list[str] = []
        self.violations: list[str] = []

    def require(self, ok: bool, assumption: str, broken: str):
        """``assumption`` (a statement) must hold; ``broken`` says how it fails."""
        self.assumptions.append(assumption)
        if ok:
            return
        if not self.allow:
            raise ConstructionError(f"{self.construction}: {broken} (assumption: {assumption}); "
                                    "pass allow_violations=True (CLI: --negative-control) to build it "
                                    "anyway as a negative control")
        self.violations.append(f"{assumption} — broken: {broken}")

    def note(self, violation: str):
        """Record a consequence of a broken assumption (e.g. a constant that had to be substituted)."""
        self.violations.append(violation)


# ---------------------------------------------------------------------- exact constants
def value_of(fmt, code):
    """Exact value of one code: a ``Fraction`` (``float`` for ±inf/NaN)."""
    return fmt.decode_fraction(np.array([int(code)], dtype=fmt.dtype))[0]


def exact_code(fmt, value, what: str) -> int:
    """The code of ``value`` (a Fraction/int) in ``fmt``, or a ConstructionError naming ``what``,
    the value and its representable neighbours when the format does not hold it exactly."""
    v = Fraction(value)
    c = int(fmt.encode(v))
    back = value_of(fmt, c)
    if isinstance(back, Fraction) and back == v:
        return c
    lo = fmt.show(int(fmt.encode(v, "RDN")))
    hi = fmt.show(int(fmt.encode(v, "RUP")))
    raise ConstructionError(f"{what} = {_show_fraction(v)} is not representable in {fmt} "
                            f"(neighbours {lo} and {hi})")


def _show_fraction(v: Fraction) -> str:
    if v.denominator == 1:
        return str(v.numerator)
    d = v.denominator
    if d & (d - 1) == 0:  # dyadic: exact as a float if not too wide
        f = float(v)
        if Fraction(f) == v:
            return repr(f)
    return str(v)


# ---------------------------------------------------------------------- trees
_TREE_RE = re.compile(r"^(sequential|pairwise|reversed|random:(\d+))$")


@dataclass(frozen=True)
class TreeSpec:
    """A reduction order applied to every neuron: ``sequential`` (left to right, bias last),
    ``pairwise``, ``reversed`` or ``random:SEED`` (one random tree per layer, seeded by
    ``SEED`` and the layer's index)."""

    kind: str
    seed: int | None = None

    def tree(self, n_terms: int, layer_index: int) -> Tree:
        if self.kind == "sequential":
            return Tree.sequential(n_terms)
        if self.kind == "pairwise":
            return Tree.pairwise(n_terms)
        if self.kind == "reversed":
            return Tree.reversed(n_terms)
        return Tree.random(n_terms, np.random.SeedSequence([self.seed, layer_index]))

    def __str__(self):
        return self.kind if self.seed is None else f"random:{self.seed}"


def tree_spec(spec) -> TreeSpec:
    """Parse ``sequential``, ``pairwise``, ``reversed`` or ``random:SEED``."""
    if isinstance(spec, TreeSpec):
        return spec
    m = _TREE_RE.match(str(spec))
    if not m:
        raise ValueError(f"unknown tree {spec!r}; expected sequential, pairwise, reversed or random:SEED "
                         "(SEED a non-negative integer)")
    if m.group(2) is not None:
        return TreeSpec("random", int(m.group(2)))
    return TreeSpec(m.group(1))


# ---------------------------------------------------------------------- domains
def domain_codes(fmt, lo=None, hi=None) -> np.ndarray:
    """One code per finite value of ``fmt`` in ascending order of value (+0 and −0 are one point,
    represented by +0; subnormal codes of a flush-to-zero format are not values), optionally only
    the values in ``[lo, hi]``."""
    fmt = as_format(fmt)
    codes = fmt.all_codes()
    codes = codes[fmt.is_finite(codes)]
    ords, _ = ordinal(fmt, codes)
    uniq, first = np.unique(ords, return_index=True)
    out = codes[first]
    zero = uniq == 0
    out[zero] = fmt.zero_code
    if lo is not None or hi is not None:
        vals = fmt.decode(out)
        keep = np.ones(out.shape, bool)
        if lo is not None:
            keep &= vals >= float(lo)
        if hi is not None:
            keep &= vals <= float(hi)
        out = out[keep]
    return out


def relu(fmt):
    return get_activation("relu", fmt)


def identity(fmt):
    return get_activation("identity", fmt)


def step(fmt):
    return get_activation("step", fmt)


def binade_exponent(v: Fraction) -> int:
    """⌊log₂ v⌋ of a positive Fraction, exactly."""
    e = v.numerator.bit_length() - v.denominator.bit_length()
    while Fraction(2) ** e > v:
        e -= 1
    while Fraction(2) ** (e + 1) <= v:
        e += 1
    return e


