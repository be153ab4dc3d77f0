"""Test helpers for ulpflow.hdl: run units (amaranth.sim or Verilator), compare with golden.

* :func:`run_amaranth` - Amaranth's own simulator, one vector per evaluation (combinational) or
  per cycle (pipelined, checking ``o.valid``). Inputs and outputs are named by the units'
  stream payload fields (``a``, ``b``, ``terms__3`` -> ``result``).
* :class:`Bundle` - several units side by side behind shared input fields, so one Verilator
  build checks many configurations (output fields ``<label>`` and ``<label>_valid``). Units of
  smaller latency are padded with output registers up to the bundle's latency.
* :func:`check_unit` - compare a unit's hardware codes with its golden twin ``unit.emulate``;
  :func:`check_codes` - compare codes with expected codes (NaN by class for floats) and fail
  with the first mismatching vector decoded.
* vector generators: all pairs, corner cases, structured random.
"""

from __future__ import annotations

import functools

import numpy as np
from amaranth.hdl import Module, Shape, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from ulpflow.hdl import FloatConverter
from ulpflow.hdl.signature import UnitSignature, stream_fields
from ulpflow.sim import vectors
from ulpflow.sim.compare import codes_equal, show_code


# -- payload packing ---------------------------------------------------------------------------
def _fields(unit, flow):
    return {f.name: f for f in stream_fields(unit.signature, flow)}


def _pack(fields, arrays, i):
    """The payload word of vector ``i`` (two's complement fields, the first at bit 0)."""
    word = 0
    for name, f in fields.items():
        word |= (int(arrays[name][i]) & ((1 << f.width) - 1)) << f.offset
    return word


def _unpack(f, word):
    v = (word >> f.offset) & ((1 << f.width) - 1)
    if f.signed and v >> (f.width - 1):
        v -= 1 << f.width
    return v


# -- running --------------------------------------------------------------------------------
def run_amaranth(unit, inputs, outputs=("result",)):
    """Run ``inputs`` (dict payload field name -> 1-D array) through ``unit`` in amaranth.sim.

    Combinational units (latency 0) are evaluated vector by vector; pipelined units get one
    vector per cycle with ``i.valid`` high, and ``o.valid`` must be high exactly when a result
    is due. Returns dict output field name -> int64 array.
    """
    in_fields, out_fields = _fields(unit, wiring.In), _fields(unit, wiring.Out)
    unknown = sorted(set(inputs) - set(in_fields)) + sorted(set(outputs) - set(out_fields))
    if unknown:
        raise ValueError(f"{unit!r} has no payload fields {unknown}")
    arrays = {k: np.asarray(v).astype(np.int64) for k, v in inputs.items()}
    n = len(next(iter(arrays.values())))
    lat = unit.latency
    res = {k: np.zeros(n, dtype=np.int64) for k in outputs}
    words = [_pack({k: in_fields[k] for k in arrays}, arrays, i) for i in range(n)]
    pin, pout = Value.cast(unit.i.payload), Value.cast(unit.o.payload)
    vin, vout = unit.i.valid, unit.o.valid
    bad_valid = []

    def take(j, word):
        for k in outputs:
            res[k][j] = _unpack(out_fields[k], word)

    if lat == 0:
        async def bench(ctx):
            for i in range(n):
                ctx.set(pin, words[i])
                ctx.set(vin, 1)
                if not ctx.get(vout):
                    bad_valid.append(i)
                take(i, ctx.get(pout))
        sim = Simulator(unit)
        sim.add_testbench(bench)
    else:
        async def bench(ctx):
            for cycle in range(n + lat):
                k = cycle
                if k < n:
                    ctx.set(pin, words[k])
                ctx.set(vin, int(k < n))
                j = cycle - lat
                valid = ctx.get(vout)
                if valid != (0 <= j < n):
                    bad_valid.append(cycle)
                if 0 <= j < n:
                    take(j, ctx.get(pout))
                await ctx.tick()
        sim = Simulator(unit)
        sim.add_clock(1e-6)
        sim.add_testbench(bench)
    sim.run()
    assert not bad_valid, f"o.valid wrong in cycles {bad_valid[:10]} (latency {lat})"
    return res


class Bundle(wiring.Component):
    """Units side by side behind shared inputs: one Verilator build for many configurations.

    Parameters
    ----------
    units : dict label -> unit
        Units with a :class:`~ulpflow.hdl.signature.UnitSignature` and a ``result`` output
        field. Input fields of the same name must have the same width (and signedness); they
        keep their format where all units agree on it.

    The bundle is a unit too: input fields as the units name them, output fields ``<label>``
    (the unit's result) and ``<label>_valid``, ``latency`` the largest of the units'.
    """

    def __init__(self, units):
        self.units = dict(units)
        self.latency = max(u.latency for u in self.units.values())
        inputs, shapes = {}, {}
        for label, u in self.units.items():
            for f in stream_fields(u.signature, wiring.In):
                shape = Shape(f.width, f.signed)
                known = shapes.setdefault(f.name, shape)
                if known != shape:
                    raise ValueError(f"input {f.name!r} of {label} is {shape}, others {known}")
                spec = inputs.setdefault(f.name, f.format)
                if spec is not None and spec != f.format:
                    inputs[f.name] = None  # formats differ: a plain field of that width
        inputs = {k: (shapes[k] if v is None else v) for k, v in inputs.items()}
        outputs = {}
        for label, u in self.units.items():
            outputs[label] = u.signature.formats["result"]
            outputs[f"{label}_valid"] = 1
        super().__init__(UnitSignature(inputs, outputs))

    def elaborate(self, platform):
        m = Module()
        pin = self.i.payload
        first_valid = None
        for label, u in self.units.items():
            m.submodules[label] = u
            for f in stream_fields(u.signature, wiring.In):
                m.d.comb += Value.cast(u.i.payload)[f.offset:f.offset + f.width].eq(
                    Value.cast(pin)[self._offset(f.name):self._offset(f.name) + f.width])
            m.d.comb += u.i.valid.eq(self.i.valid)
            result, valid = u.o.payload.result, u.o.valid
            for i in range(self.latency - u.latency):  # pad to the bundle's latency
                r = Signal(len(result), name=f"{label}_pad{i}")
                v = Signal(name=f"{label}_vpad{i}")
                m.d.sync += [r.eq(result), v.eq(valid)]
                result, valid = r, v
            m.d.comb += [self.o.payload[label].eq(result),
                         self.o.payload[f"{label}_valid"].eq(valid)]
            if first_valid is None:
                first_valid = valid
        m.d.comb += self.o.valid.eq(first_valid)
        return m

    @functools.cached_property
    def _offsets(self):
        return {f.name: f.offset for f in stream_fields(self.signature, wiring.In)}

    def _offset(self, name):
        return self._offsets[name]


class PlainPorts(wiring.Component):
    """A stream unit seen through plain ports: every payload field its own port, plus
    ``valid_in``/``valid_out``, for simulators that find the handshake by port name."""

    def __init__(self, unit):
        self.unit = unit
        self.latency = unit.latency
        self._in = stream_fields(unit.signature, wiring.In)
        self._out = stream_fields(unit.signature, wiring.Out)
        members = {f.name: In(Shape(f.width, f.signed)) for f in self._in}
        members |= {f.name: Out(Shape(f.width, f.signed)) for f in self._out}
        super().__init__({**members, "valid_in": In(1), "valid_out": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = u = self.unit
        pin, pout = Value.cast(u.i.payload), Value.cast(u.o.payload)
        for f in self._in:
            m.d.comb += pin[f.offset:f.offset + f.width].eq(getattr(self, f.name))
        for f in self._out:
            m.d.comb += getattr(self, f.name).eq(pout[f.offset:f.offset + f.width])
        m.d.comb += [u.i.valid.eq(self.valid_in), self.valid_out.eq(u.o.valid)]
        return m


@functools.cache
def _sim_reads_streams():
    """Whether ``ulpflow.sim`` finds data fields inside stream payloads (else plain ports)."""
    from ulpflow.sim import UnitSimulator

    probe = FloatConverter("e4m3", "e5m2")
    names = {p.name for p in getattr(UnitSimulator(probe), "inputs", ())}
    probe._MustUse__silence = True
    return "i__payload" not in names


def run_verilator(unit, inputs):
    """``ulpflow.sim`` with int64 outputs; also returns the simulator timings."""
    from ulpflow.sim import UnitSimulator

    dut = unit if _sim_reads_streams() else PlainPorts(unit)
    sim = UnitSimulator(dut)
    out = sim.run(inputs)
    return {k: v.astype(np.int64) for k, v in out.items()}, sim.timings


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
