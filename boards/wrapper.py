"""The 3-pin serial wrapper that puts any ulpflow.hdl unit on a bare device.

The unit's input payload is a shift register fed one bit per clock from the pin ``sin``; the
unit's output payload is registered and XOR-reduced onto the pin ``sout``. The pins are ``clk``,
``sin`` and ``sout``, so a unit of any width fits the package's I/O, and every bit of the unit
stays observable (nothing is optimised away).

:class:`BoardWrapper` is the same circuit on a real board: the clock is the board's default
clock, ``sin``/``sout`` are the two resources ``ulpflow_sin``/``ulpflow_sout`` that
:mod:`ulpflow.boards.synth` adds to the board's platform (pins of a PMOD / GPIO header).
"""

from __future__ import annotations

from amaranth.back import rtlil, verilog
from amaranth.hdl import Cat, ClockDomain, Elaboratable, Module, Signal, Value
from amaranth.lib import io, wiring

from ulpflow.hdl.library import library_verilog

__all__ = ["SerialWrapper", "BoardWrapper", "wrapper_verilog", "wrapper_rtlil", "SIN_RESOURCE",
           "SOUT_RESOURCE"]

#: Names of the platform resources that carry the serial input and output on a board.
SIN_RESOURCE = "ulpflow_sin"
SOUT_RESOURCE = "ulpflow_sout"


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


class BoardWrapper(Elaboratable):
    """:class:`SerialWrapper` on an amaranth-boards platform.

    ``elaborate(platform)`` requests the platform's ``default_clk`` (the board oscillator, no
    PLL) and the resources ``ulpflow_sin`` (input) and ``ulpflow_sout`` (output), and drives the
    wrapper's ``clk``, ``sin`` and ``sout`` from them. ``core`` is the :class:`SerialWrapper`.
    """

    def __init__(self, unit):
        self.core = SerialWrapper(unit)

    def elaborate(self, platform):
        if platform is None or getattr(platform, "default_clk", None) is None:
            raise TypeError("BoardWrapper needs an amaranth-boards platform with a default "
                            f"clock, not {platform!r}")
        m = Module()
        m.submodules.core = core = self.core
        clk = platform.request(platform.default_clk, dir="-")
        m.submodules.clk_buf = clk_buf = io.Buffer("i", clk)
        sin = platform.request(SIN_RESOURCE, 0, dir="-")
        m.submodules.sin_buf = sin_buf = io.Buffer("i", sin)
        sout = platform.request(SOUT_RESOURCE, 0, dir="-")
        m.submodules.sout_buf = sout_buf = io.Buffer("o", sout)
        m.d.comb += [core.clk.eq(clk_buf.i), core.sin.eq(sin_buf.i), sout_buf.o.eq(core.sout)]
        return m


def wrapper_verilog(unit, name="top") -> str:
    """Verilog of ``SerialWrapper(unit)`` with the module ``name`` and ports clk, sin, sout,
    followed by the modules of the unit's cells (a spatial network top's
    :class:`~ulpflow.hdl.library.CellLibrary`)."""
    w = SerialWrapper(unit)
    text = verilog.convert(w, name=name, emit_src=False, ports=[w.clk, w.sin, w.sout])
    return text + library_verilog(unit)


def wrapper_rtlil(unit, name="top") -> str:
    """RTLIL (Yosys's own netlist text) of ``SerialWrapper(unit)``, as :func:`wrapper_verilog`
    but without the cells: a spatial network's cells (``library_verilog(unit)``, filled by this
    call) are Verilog that Yosys reads beside it.

    Synthesis reads this rather than Verilog: a memory's contents are one constant in RTLIL,
    while Yosys's Verilog front end takes time quadratic in the number of words to read them
    from an ``initial`` block (minutes for a few thousand words)."""
    w = SerialWrapper(unit)
    return rtlil.convert(w, name=name, emit_src=False, ports=[w.clk, w.sin, w.sout])
