"""Units in Amaranth's own simulator, and several units behind shared inputs.

* :func:`run_amaranth` - arrays of input codes through a unit in ``amaranth.sim`` (no Verilator,
  no build): one vector per evaluation for a combinational unit (latency 0), one per cycle for a
  pipelined one, checking the output stream's ``valid`` against the latency. The data ports are
  the stream payload fields, as for :func:`ulpflow.sim.simulate` (:mod:`ulpflow.sim.packing`).
* :class:`Bundle` - units side by side behind one shared input stream, so one Verilator build
  checks many configurations: output fields ``<label>`` (the unit's result) and
  ``<label>_valid`` (its output valid); units of smaller latency are padded with output
  registers up to the bundle's latency.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from amaranth.hdl import Module, Signal, Value, unsigned
from amaranth.lib import wiring

from ulpflow.hdl.signature import UnitSignature, stream_fields

from .packing import check_latency, to_bits, unit_ports

__all__ = ["Bundle", "run_amaranth"]


def _signals(unit) -> dict[str, Value]:
    """Each member of the unit's signature as a value, named like its Verilog port."""
    return {"__".join(map(str, path)): Value.cast(value) for path, _m, value in unit.signature.flatten(unit)}


def _packed(ports, carriers, arrays, n) -> list[tuple[Value, list[int]]]:
    """Per Verilog input port, its value for every vector (fields packed at their bit offsets)."""
    out = []
    for verilog, (_width, carried) in carriers.items():
        words = [0] * n
        for p in carried:
            for i, v in enumerate(arrays[p.name].tolist()):
                words[i] |= v << p.bit
        out.append((verilog, words))
    return out


def run_amaranth(unit, inputs: Mapping[str, object], outputs=None) -> dict[str, np.ndarray]:
    """Run ``inputs`` (dict data port -> 1-D array of codes) through ``unit`` in amaranth.sim.

    Combinational units (``latency`` 0) are evaluated vector by vector; pipelined units get one
    vector per cycle with the input valid high, and the output valid must be high exactly when
    a result is due. ``outputs`` names the data outputs to return (default: all). Returns dict
    output name -> int64 array (signed fields sign-extended).
    """
    from amaranth.sim import Simulator

    ports = unit_ports(unit)
    by_name = {p.name: p for p in ports.inputs}
    unknown = [k for k in inputs if k not in by_name]
    missing = [k for k in by_name if k not in inputs]
    if unknown or missing:
        raise ValueError(f"{ports.name}: inputs for unknown ports {unknown}, missing ports {missing}; "
                         f"its inputs are {list(by_name)}")
    arrays = {k: to_bits(by_name[k], np.asarray(v)) for k, v in inputs.items()}
    n = len(next(iter(arrays.values())))
    outs = [p for p in ports.outputs if outputs is None or p.name in outputs]
    if outputs is not None and len(outs) != len(tuple(outputs)):
        raise ValueError(f"{ports.name} has outputs {[p.name for p in ports.outputs]}, not all of {list(outputs)}")
    lat = check_latency(getattr(unit, "latency", 0) or 0)
    signals = _signals(unit)
    drive = [(signals[v], words) for v, words in _packed(ports.inputs, ports.verilog_in, arrays, n)]
    sample = [(signals[p.port], p) for p in outs]
    res = {p.name: np.zeros(n, dtype=np.int64) for p in outs}
    valid_in = [signals[v] for v in ports.valid_in]
    valid_out = signals[ports.valid_out] if ports.valid_out else None
    bad_valid = []

    def take(ctx, j):
        for s, p in sample:
            v = (ctx.get(s) >> p.bit) & ((1 << p.width) - 1)
            if p.signed and v >> (p.width - 1):
                v -= 1 << p.width
            res[p.name][j] = v

    sim = Simulator(unit)
    if lat == 0:
        async def bench(ctx):
            for v in valid_in:
                ctx.set(v, 1)
            for i in range(n):
                for s, words in drive:
                    ctx.set(s, words[i])
                if valid_out is not None and not ctx.get(valid_out):
                    bad_valid.append(i)
                take(ctx, i)
    else:
        async def bench(ctx):
            for cycle in range(n + lat):
                if cycle < n:
                    for s, words in drive:
                        ctx.set(s, words[cycle])
                for v in valid_in:
                    ctx.set(v, int(cycle < n))
                j = cycle - lat
                if valid_out is not None and ctx.get(valid_out) != (0 <= j < n):
                    bad_valid.append(cycle)
                if 0 <= j < n:
                    take(ctx, j)
                await ctx.tick()
        sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert not bad_valid, f"valid_out wrong in cycles {bad_valid[:10]} (latency {lat})"
    return res


class Bundle(wiring.Component):
    """Units side by side behind one shared input stream: one Verilator build for many units.

    Parameters
    ----------
    units : dict label -> unit
        Units declared with :class:`~ulpflow.hdl.signature.UnitSignature`. Input fields of the
        same name (leaf names: ``a``, ``terms__3``) are shared and must have the same width and
        signedness; they keep their format where all units agree on it.

    The bundle is a unit too. Its output stream carries, per label, the unit's output field
    (``<label>``; with several output fields ``<label>_<field>``) and its output valid
    (``<label>_valid``); the stream's own valid is the first unit's. ``latency`` is the largest
    of the units'.
    """

    def __init__(self, units):
        from amaranth.hdl import Shape

        self.units = dict(units)
        if not self.units:
            raise ValueError("a Bundle needs at least one unit")
        self.latency = max(check_latency(u.latency) for u in self.units.values())
        specs, shapes, outputs = {}, {}, {}
        self._outputs = {}
        for label, u in self.units.items():
            if not isinstance(u.signature, UnitSignature):
                raise TypeError(f"unit {label!r} ({type(u).__name__}) has no UnitSignature")
            for f in stream_fields(u.signature, wiring.In):
                shape = Shape(f.width, f.signed)
                known = shapes.setdefault(f.name, shape)
                if known != shape:
                    raise ValueError(f"input {f.name!r} of {label} is {shape}, others {known}")
                if specs.setdefault(f.name, f.format) != f.format:
                    specs[f.name] = None  # formats differ: a plain field of that width
            fields = stream_fields(u.signature, wiring.Out)
            for f in fields:
                name = label if len(fields) == 1 else f"{label}_{f.name}"
                outputs[name] = f.format if f.format is not None else Shape(f.width, f.signed)
                self._outputs[(label, f.name)] = name
            outputs[f"{label}_valid"] = unsigned(1)
        inputs = {k: shapes[k] if v is None else v for k, v in specs.items()}
        super().__init__(UnitSignature(inputs, outputs))

    def elaborate(self, platform):
        m = Module()
        pin, pout = Value.cast(self.i.payload), Value.cast(self.o.payload)
        at = {f.name: f.offset for f in stream_fields(self.signature, wiring.In)}
        out_at = {f.name: f for f in stream_fields(self.signature, wiring.Out)}
        for label, u in self.units.items():
            m.submodules[label] = u
            m.d.comb += u.i.valid.eq(self.i.valid)
            upin, upout = Value.cast(u.i.payload), Value.cast(u.o.payload)
            for f in stream_fields(u.signature, wiring.In):
                m.d.comb += upin[f.offset:f.offset + f.width].eq(pin[at[f.name]:at[f.name] + f.width])
            valid = u.o.valid
            results = {f.name: upout[f.offset:f.offset + f.width] for f in stream_fields(u.signature, wiring.Out)}
            for i in range(self.latency - u.latency):  # pad to the bundle's latency
                v = Signal(name=f"{label}_vpad{i}")
                m.d.sync += v.eq(valid)
                valid = v
                for name, value in results.items():
                    r = Signal(len(value), name=f"{label}_{name}_pad{i}")
                    m.d.sync += r.eq(value)
                    results[name] = r
            for name, value in results.items():
                f = out_at[self._outputs[(label, name)]]
                m.d.comb += pout[f.offset:f.offset + f.width].eq(value)
            f = out_at[f"{label}_valid"]
            m.d.comb += pout[f.offset].eq(valid)
        first = out_at[f"{next(iter(self.units))}_valid"]
        m.d.comb += self.o.valid.eq(pout[first.offset])
        return m
