"""The 3-pin serial wrapper that puts any ulpflow.hdl unit on a bare device.

The unit's input payload is a shift register fed one bit per clock from the pin ``sin``; the
unit's output payload is registered and XOR-reduced onto the pin ``sout``. The pins are ``clk``,
``sin`` and ``sout``, so a unit of any width fits the package's I/O, and every bit of the unit
stays observable (nothing is optimised away).
"""

from __future__ import annotations

from amaranth.back import verilog
from amaranth.hdl import Cat, ClockDomain, Elaboratable, Module, Signal, Value
from amaranth.lib import wiring

__all__ = ["SerialWrapper", "wrapper_verilog"]


def _payload_width(member, what):
    try:
        return Value.cast(member.payload).shape().width
    except (AttributeError, TypeError) as exc:
        raise TypeError(f"{what} must be a stream with a payload (an ulpflow.hdl unit's "
                        f"UnitSignature), not {member!r}") from exc


class SerialWrapper(Elaboratable):
    """``sin`` -> input shift register -> unit -> output register -> XOR -> ``sout``.

    Attributes ``clk``, ``sin``, ``sout`` are the three top-level signals; ``in_width`` and
    ``out_width`` the payload widths (the wrapper adds ``in_width + out_width`` flip-flops).
    """

    def __init__(self, unit):
        if not isinstance(unit, wiring.Component):
            raise TypeError(f"unit must be an ulpflow.hdl unit (an amaranth Component), "
                            f"not {unit!r}")
        self.unit = unit
        self.in_width = _payload_width(getattr(unit, "i", None), "unit.i")
        self.out_width = _payload_width(getattr(unit, "o", None), "unit.o")
        self.cd = ClockDomain("sync", reset_less=True)
        self.clk = self.cd.clk
        self.sin = Signal(name="sin")
        self.sout = Signal(name="sout")

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = self.cd
        m.submodules.unit = unit = self.unit
        shift = Signal(self.in_width, name="shift_in")
        if self.in_width > 1:
            m.d.sync += shift.eq(Cat(self.sin, shift[:-1]))
        else:
            m.d.sync += shift.eq(self.sin)
        out = Signal(self.out_width, name="out_reg")
        m.d.comb += [unit.i.payload.eq(shift), unit.i.valid.eq(1)]
        m.d.sync += out.eq(unit.o.payload)
        m.d.comb += self.sout.eq(out.xor())
        return m


def wrapper_verilog(unit, name="top") -> str:
    """Verilog of ``SerialWrapper(unit)`` with the module ``name`` and ports clk, sin, sout."""
    w = SerialWrapper(unit)
    return verilog.convert(w, name=name, emit_src=False, ports=[w.clk, w.sin, w.sout])
