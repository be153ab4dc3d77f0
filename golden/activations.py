"""Activation implementations: functions from codes of one format to codes of another.

Every implementation is an immutable :class:`Activation` built by :func:`get_activation`; it
maps codes of ``in_format`` to codes of ``out_format`` and carries a description with its
measured worst error against the correctly rounded reference.

Methods
-------
``"exact"`` (identity, relu, step)
    identity(x) = x, relu(x) = x for x > 0 else +0, step(x) = 1 for x >= 0 (so step(-0) = 1)
    else +0. When the output format differs from the input format the value is converted with
    one rounding (``rounding``), e.g. relu from an fp32 accumulator to bf16.
``"cr"`` (sigmoid, tanh, gelu, silu, elu, selu, softplus, mish, sin, cos, exp)
    The exact value σ(x) rounded once to the output format in mode ``rounding`` (default RNE),
    computed by MPFR interval evaluation with retries (see :mod:`.activations_cr`). For input
    formats of at most 16 bits the whole table is built once and cached on disk; wider inputs
    (fp32) are evaluated on demand.
``"faithful"``
    Each output is the round-down or the round-up of the exact value; which one is a seeded
    pseudo-random choice per input code (``seed``). Where round-up overflows to NaN (formats
    without infinities) the round-down value is taken, so NaN never appears for a number;
    in IEEE-style formats round-up beyond max is +inf, as IEEE defines it.
``"kulp"``
    Each output is the correctly rounded code moved by a seeded pseudo-random number of steps
    in [-k, k] along the number line of the output format, never onto NaN or ±inf and never
    past ±max (NaN and ±inf results are kept as they are).
``"pwl"``
    A piecewise-linear approximation in integer arithmetic for hardware
    (:class:`ulpflow.golden.activations_pwl.PWL`); its worst error over all inputs is measured.

Conventions
-----------
- NaN inputs give NaN. Where the output format has no NaN (fixed point, "finite" floats) the
  result is +0 (``out_format.nan_result_code``), lane by lane, as in every hardware unit
  (docs/semantics.md, "NaN into a format without NaN").
- Infinite results are encoded by the output format's own rules: ±inf, NaN for the OCP fn/fnuz
  styles, ±max for saturating/finite formats, and the ends of the range for fixed point.
- Zero results carry the sign IEEE arithmetic on the defining formula gives: tanh(-0) = -0,
  gelu(-0) = silu(-0) = mish(-0) = elu(-0) = selu(-0) = sin(-0) = -0, relu(-0) = +0,
  sigmoid(0) = 1/2, cos(±0) = exp(±0) = 1. A non-zero value that rounds to zero keeps its sign
  (formats without -0 give +0). Limits at ±inf are listed in
  :func:`ulpflow.golden.activations_cr.special_value`.
- SELU uses λ and α exactly as the decimal rationals printed in the SELU paper
  (:data:`SELU_LAMBDA`, :data:`SELU_ALPHA`); ELU takes ``alpha`` (any positive rational,
  default 1).

Errors are measured in ulps as the distance between codes along the ordered number line of the
output format (see :func:`ulp_distance`).

This module is the public face of the activations: it re-exports the :class:`Activation` object
and its construction (:mod:`.activations_impl`), the reference tables and their cache
(:mod:`.activations_tables`), the checkers (:mod:`.activations_check`, reporting
:class:`CheckReport` from :mod:`.activations_report`) and holds the :func:`catalogue`.

Examples
--------
>>> from ulpflow.golden import activations, parse_format
>>> bf16 = parse_format("bf16")
>>> gelu = activations.get_activation("gelu", bf16)          # method "cr"
>>> bf16.decode(gelu(bf16.encode([-1.0, 0.5])))
array([-0.15820312,  0.34570312])
"""

from __future__ import annotations

from .activations_check import check_activation, check_allowed, rounding_bounds
from .activations_cr import CR_FUNCTIONS, SELU_ALPHA, SELU_LAMBDA
from .activations_impl import (ACTIVATION_JSON_KIND, FUNCTIONS, METHODS, MONOTONE_FUNCTIONS,
                               PWL_FUNCTIONS, Activation, activation_from_json, get_activation)
from .activations_report import CheckReport
from .activations_tables import EXACT_FUNCTIONS, TABLE_VERSION, cache_dir, clear_memory_cache
from .formats import as_format, from_ordinal, ordinal, ulp_distance

__all__ = [
    "ACTIVATION_JSON_KIND", "Activation", "CheckReport", "EXACT_FUNCTIONS", "CR_FUNCTIONS",
    "FUNCTIONS", "METHODS", "MONOTONE_FUNCTIONS", "PWL_FUNCTIONS", "SELU_ALPHA", "SELU_LAMBDA",
    "TABLE_VERSION", "activation_from_json", "cache_dir", "catalogue", "check_activation",
    "check_allowed", "clear_memory_cache", "from_ordinal", "get_activation", "ordinal",
    "rounding_bounds", "ulp_distance",
]


# ============================================================================================
# Catalogue (for ``ulpflow activations --format ...``)
# ============================================================================================

def catalogue(fmt, out_fmt=None, *, names=None, methods=None, progress=None) -> list[dict]:
    """One row per implementation over ``fmt``: name, method, in/out format, parameters, measured
    worst ulp error against the correctly rounded reference and the input where it occurs.

    Default: the exact functions; every correctly rounded one; faithful (seed 0) and 1-ulp
    (k=1, seed 0) versions of each; the PWL approximations. Tables come from the disk cache
    after the first run (a cold bf16 catalogue builds ~40 tables). ``progress``, if given, is
    called as ``progress(name, method)`` before each implementation is built.
    """
    fmt = as_format(fmt, "fmt")
    out_fmt = fmt if out_fmt is None else as_format(out_fmt, "out_fmt")
    names = FUNCTIONS if names is None else tuple(names)
    methods = METHODS if methods is None else tuple(methods)
    rows = []
    for method in methods:
        for name in names:
            if method == "exact" and name not in EXACT_FUNCTIONS:
                continue
            if method == "cr" and name in EXACT_FUNCTIONS:
                continue
            if method == "pwl" and name not in ("sigmoid", "tanh", "gelu"):
                continue
            if method in ("faithful", "kulp") and name in EXACT_FUNCTIONS and fmt == out_fmt:
                continue  # identical to the exact function
            if name == "step" and out_fmt.one_code is None:
                continue
            if progress is not None:
                progress(name, method)
            act = get_activation(name, fmt, out_fmt, method=method)
            d = act.describe()
            rows.append({"name": name, "method": method, "in_format": str(fmt),
                         "out_format": str(out_fmt), "params": d["params"],
                         "max_ulp_error": d["max_ulp_error"],
                         "worst_input": d["worst_input"] or "-",
                         "measured_over": d["measured_over"], "exhaustive": d["exhaustive"],
                         "monotone": d["monotone"]})
    return rows
