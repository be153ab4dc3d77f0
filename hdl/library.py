"""Cells: a distinct unit converted to Verilog once and instantiated wherever it recurs.

A constructed network unrolls to thousands of arithmetic units of a handful of kinds (one adder
format, a few constant weights, one activation per layer). Elaborated one by one, each is its
own copy of the same Verilog module, and conversion and Verilator builds grow with the copies.
A :class:`CellLibrary` converts each distinct unit once (a *cell*: the unit with its constant
inputs baked in, flat ports ``x``/``a``/``b``…, output ``y``, and an ``en`` port that stalls its
registers) and places an ``Instance`` of it at every use. The design's Verilog is then its own
module text followed by :meth:`CellLibrary.verilog`; :func:`library_verilog` gives that text for
any unit that carries a library (attribute ``cell_library``), empty for the others.
"""

from __future__ import annotations

import re

from amaranth.back import verilog
from amaranth.hdl import (ClockSignal, Const, Elaboratable, EnableInserter, Instance, Module, ResetSignal,
                          Signal)

__all__ = ["CellLibrary", "library_verilog"]


class _Cell(Elaboratable):
    """A unit with flat ports: each non-constant payload input a port, ``y`` its result."""

    def __init__(self, unit, inputs, out_width):
        self.unit = unit
        self.consts = {k: v for k, v in inputs.items() if isinstance(v, int)}
        self.ports = {k: Signal(len(v), name=k) for k, v in inputs.items() if not isinstance(v, int)}
        self.y = Signal(out_width, name="y")
        self.en = Signal(name="en", init=1)

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = EnableInserter(self.en)(self.unit)
        payload = self.unit.i.payload
        for k, v in self.consts.items():
            m.d.comb += getattr(payload, k).eq(v)
        for k, s in self.ports.items():
            m.d.comb += getattr(payload, k).eq(s)
        m.d.comb += [self.unit.i.valid.eq(1), self.y.eq(self.unit.o.payload.result)]
        return m


class CellLibrary:
    """Distinct units of one design, each converted to Verilog once.

    Parameters
    ----------
    prefix : str
        Module names are ``{prefix}{n}_{kind}``; unique within the design that owns the library.
    """

    def __init__(self, prefix="ulpcell"):
        self.prefix = prefix
        self._cells = {}  # key -> (module name, Verilog text, has clock, has enable)

    def __len__(self):
        return len(self._cells)

    def instance(self, m, name, key, make, inputs, out_width, *, enable=None):
        """Place the cell of ``key`` in ``m`` as submodule ``name``; return its output signal.

        ``make()`` builds the unit the first time ``key`` is seen (a component whose ``i``
        payload has the fields of ``inputs`` and whose ``o`` payload has ``result``). ``inputs``
        maps each payload field to a constant (an ``int``, baked into the cell and part of what
        ``key`` must identify) or a value (a port of the cell). ``enable`` stalls the cell's
        registers (default: always enabled).
        """
        if key not in self._cells:
            kind = str(key[0]) if isinstance(key, tuple) else "unit"
            cell_name = f"{self.prefix}{len(self._cells)}_{re.sub(r'[^A-Za-z0-9_]', '_', kind)}"
            shape = {k: (v if isinstance(v, int) else Signal(len(v))) for k, v in inputs.items()}
            cell = _Cell(make(), shape, out_width)
            ports = [*cell.ports.values(), cell.y, cell.en]
            text = verilog.convert(cell, name=cell_name, ports=ports, emit_src=False,
                                   strip_internal_attrs=True)
            header = re.search(rf"^module {re.escape(cell_name)}\s*\(([^)]*)\);", text, re.M)
            names = {p.strip() for p in header.group(1).split(",")} if header else set()
            self._cells[key] = (cell_name, text, "clk" in names, "en" in names)
        cell_name, _text, has_clock, has_en = self._cells[key]
        y = Signal(out_width, name=f"{name}_y")
        ports = {f"i_{k}": v for k, v in inputs.items() if not isinstance(v, int)}
        ports["o_y"] = y
        if has_clock:
            ports |= {"i_clk": ClockSignal("sync"), "i_rst": ResetSignal("sync", allow_reset_less=True)}
        if has_en:
            ports["i_en"] = Const(1, 1) if enable is None else enable
        m.submodules[name] = Instance(cell_name, **ports)
        return y

    def verilog(self) -> str:
        """Every cell's Verilog module, in the order first used."""
        return "".join(text for _name, text, _clk, _en in self._cells.values())


def library_verilog(unit) -> str:
    """The cells' Verilog of a unit that carries a :class:`CellLibrary` (``unit.cell_library``),
    to be appended to the unit's own Verilog; ``""`` for any other unit. Call it after the unit
    has been converted (the cells are made while it elaborates)."""
    lib = getattr(unit, "cell_library", None)
    return lib.verilog() if lib is not None else ""
