"""Test helpers for ulpflow.hdl: run units (amaranth.sim or Verilator), compare with golden.

* :func:`run_amaranth` - Amaranth's own simulator, one vector per evaluation (combinational) or
  per cycle (pipelined, checking ``valid_out``).
* :class:`Bundle` - several units side by side behind shared input ports, so one Verilator
  build checks many configurations (outputs ``<label>`` and ``<label>_valid``). Units of smaller
  latency are padded with output registers up to the bundle's latency.
* :func:`check_codes` - compare hardware codes with golden codes (NaN by class for floats) and
  fail with the first mismatching vector decoded.
* vector generators: all pairs, corner cases, structured random.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module, Shape, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from ulpflow.sim import vectors
from ulpflow.sim.compare import codes_equal, show_code


# -- running --------------------------------------------------------------------------------
def _ports(unit):
    return {"__".join(map(str, path)): (member, value)
            for path, member, value in unit.signature.flatten(unit)}


def run_amaranth(unit, inputs, outputs=("result",)):
    """Run ``inputs`` (dict port name -> 1-D array) through ``unit`` in amaranth.sim.

    Combinational units (latency 0) are evaluated vector by vector; pipelined units get one
    vector per cycle with ``valid_in`` high, and ``valid_out`` must be high exactly when a result
    is due. Returns dict output name -> int64 array.
    """
    ports = _ports(unit)
    arrays = {k: np.asarray(v).astype(np.int64) for k, v in inputs.items()}
    n = len(next(iter(arrays.values())))
    lat = unit.latency
    res = {k: np.zeros(n, dtype=np.int64) for k in outputs}
    sigs_in = [(ports[k][1], arrays[k].tolist()) for k in arrays]
    sigs_out = [(ports[k][1], res[k]) for k in outputs]
    bad_valid = []

    if lat == 0:
        async def bench(ctx):
            for i in range(n):
                for s, vals in sigs_in:
                    ctx.set(s, vals[i])
                for s, arr in sigs_out:
                    arr[i] = ctx.get(s)
        sim = Simulator(unit)
        sim.add_testbench(bench)
    else:
        vin, vout = ports["valid_in"][1], ports["valid_out"][1]

        async def bench(ctx):
            for cycle in range(n + lat):
                k = cycle
                if k < n:
                    for s, vals in sigs_in:
                        ctx.set(s, vals[k])
                ctx.set(vin, int(k < n))
                j = cycle - lat
                valid = ctx.get(vout)
                if valid != (0 <= j < n):
                    bad_valid.append(cycle)
                if 0 <= j < n:
                    for s, arr in sigs_out:
                        arr[j] = ctx.get(s)
                await ctx.tick()
        sim = Simulator(unit)
        sim.add_clock(1e-6)
        sim.add_testbench(bench)
    sim.run()
    assert not bad_valid, f"valid_out wrong in cycles {bad_valid[:10]} (latency {lat})"
    return res


class Bundle(wiring.Component):
    """Units side by side behind shared inputs: one Verilator build for many configurations.

    Parameters
    ----------
    units : dict label -> unit
        Every unit's input ports must have the same width wherever names coincide.
    """

    def __init__(self, units):
        self.units = dict(units)
        self.latency = max(u.latency for u in self.units.values())
        members = {}
        self._inputs = {}
        for label, u in self.units.items():
            for name, (member, _v) in _ports(u).items():
                if member.flow != wiring.In or name == "valid_in":
                    continue
                shape = Shape.cast(member.shape)
                known = self._inputs.setdefault(name, shape)
                if known != shape:
                    raise ValueError(f"input {name!r} of {label} is {shape}, others {known}")
        for name, shape in self._inputs.items():
            members[name] = In(shape)
        for label, u in self.units.items():
            members[label] = Out(len(u.result))
            members[f"{label}_valid"] = Out(1)
        members["valid_in"] = In(1)
        members["valid_out"] = Out(1)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        for label, u in self.units.items():
            m.submodules[label] = u
            for name, (member, value) in _ports(u).items():
                if member.flow == wiring.In:
                    src = self.valid_in if name == "valid_in" else getattr(self, name)
                    m.d.comb += value.eq(src)
            result, valid = u.result, u.valid_out
            for i in range(self.latency - u.latency):  # pad to the bundle's latency
                r = Signal(len(u.result), name=f"{label}_pad{i}")
                v = Signal(name=f"{label}_vpad{i}")
                m.d.sync += [r.eq(result), v.eq(valid)]
                result, valid = r, v
            m.d.comb += [getattr(self, label).eq(result), getattr(self, f"{label}_valid").eq(valid)]
        first = next(iter(self.units))
        m.d.comb += self.valid_out.eq(getattr(self, f"{first}_valid"))
        return m


def run_verilator(unit, inputs):
    """``ulpflow.sim.simulate`` with int64 outputs; also returns the simulator timings."""
    from ulpflow.sim import UnitSimulator

    sim = UnitSimulator(unit)
    out = sim.run(inputs)
    return {k: v.astype(np.int64) for k, v in out.items()}, sim.timings


# -- comparison (ulpflow.sim.compare does the work; this keeps the tests' call shape) ---------
def _show(fmt, code):
    return show_code(int(code), fmt)


def mismatches(fmt, got, expected):
    """Boolean mask of vectors where hardware and golden disagree (float NaNs by class)."""
    return ~codes_equal(np.asarray(got).astype(np.uint64), np.asarray(expected).astype(np.uint64), fmt)


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
    """Codes every float sweep must contain (VERIFICATION.md level 1 operands), both signs."""
    if fmt.kind == "fixed":
        kmax = int(fmt.to_int(np.array([fmt.max_finite_code]))[0])
        ks = {0, 1, 2, 3, -1, -2, kmax, kmax - 1, 1 << fmt.frac_bits}
        lo = int(round(fmt.min_value * (1 << fmt.frac_bits)))
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
