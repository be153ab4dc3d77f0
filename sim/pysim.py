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

from ulpflow.hdl.signature import UnitSignature

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
        same name are shared and must have the same spec (format, ``(format, count)`` or shape).

    The bundle's output stream carries, per label, the unit's output field (``<label>``; with
    several output fields ``<label>_<field>``) and its output valid (``<label>_valid``); the
    stream's own valid is the first unit's. ``latency`` is the largest of the units'.
    """

    def __init__(self, units):
        self.units = dict(units)
        if not self.units:
            raise ValueError("a Bundle needs at least one unit")
        self.latency = max(check_latency(u.latency) for u in self.units.values())
        inputs, outputs = {}, {}
        self._outputs = {}
        for label, u in self.units.items():
            sig = u.signature
            if not isinstance(sig, UnitSignature):
                raise TypeError(f"unit {label!r} ({type(u).__name__}) has no UnitSignature")
            for name, spec in sig.inputs.items():
                known = inputs.setdefault(name, spec)
                if known != spec:
                    raise ValueError(f"input {name!r} of {label} is {spec}, others {known}")
            names = list(sig.outputs)
            for name in names:
                field = label if len(names) == 1 else f"{label}_{name}"
                outputs[field] = sig.outputs[name]
                self._outputs[(label, name)] = field
            outputs[f"{label}_valid"] = unsigned(1)
        super().__init__(UnitSignature(inputs, outputs))

    def elaborate(self, platform):
        m = Module()
        out = self.o.payload
        for label, u in self.units.items():
            m.submodules[label] = u
            m.d.comb += u.i.valid.eq(self.i.valid)
            for name in u.signature.inputs:
                m.d.comb += u.i.payload[name].eq(self.i.payload[name])
            valid = u.o.valid
            results = {name: u.o.payload[name] for name in u.signature.outputs}
            for i in range(self.latency - u.latency):  # pad to the bundle's latency
                v = Signal(name=f"{label}_vpad{i}")
                m.d.sync += v.eq(valid)
                valid = v
                for name, value in results.items():
                    r = Signal.like(Value.cast(value), name=f"{label}_{name}_pad{i}")
                    m.d.sync += r.eq(value)
                    results[name] = r
            for name, value in results.items():
                m.d.comb += out[self._outputs[(label, name)]].eq(value)
            m.d.comb += out[f"{label}_valid"].eq(valid)
        first = next(iter(self.units))
        m.d.comb += self.o.valid.eq(out[f"{first}_valid"])
        return m
