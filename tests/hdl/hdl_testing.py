"""Test helpers for ulpflow.hdl: run units (amaranth.sim or Verilator), compare with golden.

* :func:`run_amaranth`, :class:`Bundle` - re-exported from :mod:`ulpflow.sim` (Amaranth's own
  simulator; several units side by side behind shared input fields, output fields ``<label>``
  and ``<label>_valid``, so one Verilator build checks many configurations);
  :func:`run_verilator` - :class:`ulpflow.sim.UnitSimulator` with int64 outputs.
* :func:`check_unit` - compare a unit's hardware codes with its golden twin ``unit.emulate``;
  :func:`check_codes` - compare codes with expected codes (NaN by class for floats) and fail
  with the first mismatching vector decoded.
* :func:`one_unit_of_each_kind` - every kind of unit once (signature, Verilog, synthesis checks).
* vector generators: all pairs, corner cases, structured random.
"""

from __future__ import annotations

import numpy as np

from ulpflow.golden import parse_format
from ulpflow.golden.activations import get_activation
from ulpflow.golden.tree import Tree
from ulpflow.hdl import (FixedAdder, FixedMultiplier, FloatAdder, FloatConverter,
                         FloatMultiplier, FoldedMAC, Identity, PWLActivation, ReductionTree,
                         ReLU, RoundPack, Step, TableActivation)
from ulpflow.sim import Bundle, UnitSimulator, run_amaranth, vectors  # noqa: F401 - re-exported
from ulpflow.sim.compare import codes_equal, show_code


# -- running (run_amaranth and Bundle live in ulpflow.sim; users need them too) -----------------
def run_verilator(unit, inputs):
    """``ulpflow.sim`` with int64 outputs; also returns the simulator timings."""
    sim = UnitSimulator(unit)
    out = sim.run(inputs)
    return {k: v.astype(np.int64) for k, v in out.items()}, sim.timings


def one_unit_of_each_kind():
    """One instance of every kind of ulpflow.hdl unit (some pipelined), by label."""
    F = parse_format
    e4m3, bf16, q44 = F("e4m3"), F("bf16"), F("q4.4")
    return {
        "roundpack_e4m3": RoundPack(e4m3, sig_width=10, exp_range=(-20, 20)),
        "add_e4m3": FloatAdder(e4m3),
        "add_e4m3_pipe": FloatAdder(e4m3, rounding="RDN", latency=4),
        "add_bf16": FloatAdder(bf16),
        "mul_e4m3": FloatMultiplier(e4m3),
        "mul_mixed_pipe": FloatMultiplier((e4m3, F("e5m2")), out=bf16, latency=2),
        "conv_bf16_e4m3fn": FloatConverter(bf16, F("e4m3fn"), rounding="RTZ"),
        "conv_e4m3_q44": FloatConverter(e4m3, q44, latency=1),
        "fixed_add_q44": FixedAdder(q44, overflow="WRAP"),
        "fixed_mul_q44": FixedMultiplier(q44, rounding="RNA", latency=2),
        "tree_pairwise_e4m3": ReductionTree(Tree.pairwise(4), e4m3, level_latency=1),
        "mac_e4m3": FoldedMAC([2, 0, 1, 3], e4m3, mul_latency=1),
        "identity_e4m3": Identity(e4m3),
        "relu_bf16_e4m3": ReLU(bf16, e4m3),
        "step_q44": Step(q44),
        "table_sigmoid_e4m3": TableActivation(get_activation("sigmoid", e4m3), latency=1),
        "pwl_tanh_bf16": PWLActivation(get_activation("tanh", bf16, method="pwl"), latency=2),
    }


# -- comparison (ulpflow.sim.compare does the work; this keeps the tests' call shape) ---------
def _show(fmt, code):
    return show_code(int(code), fmt)


def mismatches(fmt, got, expected):
    """Boolean mask of vectors where hardware and golden disagree (float NaNs by class)."""
    return ~codes_equal(np.asarray(got).astype(np.uint64), np.asarray(expected).astype(np.uint64), fmt)


def check_unit(what, unit, got, inputs, *, output="result"):
    """Assert the hardware codes ``got`` equal the unit's golden twin ``unit.emulate`` on
    ``inputs`` (a dict that may hold further fields: only the unit's own are used)."""
    mine = {k: inputs[k] for k in unit.signature.input_names()}
    expected = unit.emulate(**mine)[output]
    formats = unit.signature.formats
    check_codes(what, formats[output], got, expected, mine, formats)
    return expected


def check_codes(what, out_fmt, got, expected, inputs=None, in_fmts=None):
    """Assert hardware == golden; on failure name the first failing vector, decoded."""
    bad = mismatches(out_fmt, got, expected)
    if not bad.any():
        return
    i = int(np.nonzero(bad)[0][0])
    parts = []
    for name, arr in (inputs or {}).items():
        f = (in_fmts or {}).get(name)
        parts.append(f"{name}={_show(f, arr[i])}")
    raise AssertionError(
        f"{what}: {int(bad.sum())} of {len(bad)} vectors differ; first at #{i}: "
        f"{', '.join(parts)}: expected {_show(out_fmt, expected[i])}, got {_show(out_fmt, got[i])}")


# -- vectors ----------------------------------------------------------------------------------
def all_pairs(fa, fb=None):
    """Every (a, b) code pair (valid codes only), as int64."""
    a, b = vectors.exhaustive(fa, fb)
    return a.astype(np.int64), b.astype(np.int64)


def corner_codes(fmt):
    """Codes every float sweep must contain (the level-1 corner operands), both signs."""
    if fmt.kind == "fixed":
        kmax = fmt.kmax
        ks = {0, 1, 2, 3, -1, -2, kmax, kmax - 1, 1 << fmt.frac_bits}
        lo = fmt.kmin
        ks |= {lo, lo + 1, -(1 << fmt.frac_bits)}
        ks = [k for k in ks if lo <= k <= kmax]
        return np.unique(fmt.from_int(np.array(ks)).astype(np.int64))
    M = fmt.man_bits
    mags = {0, 1, 2, 3, (1 << M) - 1, (1 << M) - 2, 1 << M, (1 << M) + 1,
            fmt.max_finite_code, fmt.max_finite_code - 1, fmt.max_finite_code - (1 << M)}
    if fmt.inf_code is not None:
        mags.add(fmt.inf_code)
    one = fmt.one_code
    if one is not None:
        for d in range(-3, 4):
            mags.add(one + d)
        for k in range(-4, 5):  # powers of two around 1 and their neighbours
            c = one + (k << M)
            mags |= {c - 1, c, c + 1}
    top = (1 << (fmt.bits - 1)) - 1
    mags = sorted(c for c in mags if 0 <= c <= top)
    codes = set(mags) | {c | (1 << (fmt.bits - 1)) for c in mags}
    if fmt.nan_code is not None:
        codes.add(fmt.nan_code)
    codes = np.array(sorted(codes), dtype=np.int64)
    return codes


def structured_random(fmt, n, seed):
    """Pairs with nearby exponents (ties, carries, cancellation, overflow/underflow edges)
    plus uniformly random codes."""
    rng = np.random.default_rng(seed)
    bits = fmt.bits
    E, M = fmt.exp_bits, fmt.man_bits
    half = n // 2
    ua = rng.integers(0, 1 << bits, half, dtype=np.uint64).astype(np.int64)
    ub = rng.integers(0, 1 << bits, half, dtype=np.uint64).astype(np.int64)
    m = n - half
    field_a = rng.integers(0, 1 << E, m)
    d = rng.integers(-(M + 3), M + 4, m)
    field_b = np.clip(field_a + d, 0, (1 << E) - 1)
    # near the top and bottom binades too
    edge = rng.random(m) < 0.25
    field_a = np.where(edge, rng.choice([0, 1, 2, (1 << E) - 2, (1 << E) - 3], m), field_a)
    fa_ = rng.integers(0, 1 << M, m, dtype=np.uint64).astype(np.int64)
    fb_ = rng.integers(0, 1 << M, m, dtype=np.uint64).astype(np.int64)
    # low fraction bits often zero or all ones: exact ties and near-ties
    mask = rng.integers(0, M + 1, m)
    fb_ = np.where(rng.random(m) < 0.5, (fb_ >> mask) << mask, fb_)
    sa = rng.integers(0, 2, m)
    sb = rng.integers(0, 2, m)
    sa_codes = (sa << (bits - 1)) | (field_a << M) | fa_
    sb_codes = (sb << (bits - 1)) | (field_b << M) | fb_
    return np.concatenate([ua, sa_codes]), np.concatenate([ub, sb_codes])
