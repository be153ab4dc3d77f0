"""What every engine simulates: the unit's Verilog, its port model and the packed-port wrapper.

The C++ and the bulk cocotb engines drive the unit through one generated Verilog module,
``ulpflow_harness`` (template ``sim/templates/harness.v``): one packed input word ``vin``, one
packed output word ``vout`` (layout: :mod:`ulpflow.sim.packing`), and the stream handshakes as
``valid_in`` / ``ready_in`` / ``valid_out`` / ``ready_out``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..packing import UnitPorts
from .template import render

__all__ = ["DUT_MODULE", "HARNESS_MODULE", "Design", "harness_verilog"]

DUT_MODULE = "ulp_dut"
HARNESS_MODULE = "ulpflow_harness"


@dataclass(frozen=True)
class Design:
    """A unit ready for an engine.

    ``verilog`` is the unit as module ``ulp_dut``; ``name`` names it in messages; ``clock`` /
    ``reset`` are its clock and reset ports, ``has_clock`` / ``has_reset`` whether it has them.
    """

    ports: UnitPorts
    verilog: str
    name: str
    clock: str
    reset: str
    has_clock: bool
    has_reset: bool


def _concat(width: int, parts: list[tuple[int, int, str]]) -> str:
    """Verilog concatenation of ``(bit, width, expression)`` parts filling ``width`` bits."""
    pieces, at = [], 0
    for bit, w, expr in sorted(parts):
        if bit > at:
            pieces.append(f"{bit - at}'d0")
        pieces.append(expr)
        at = bit + w
    if width > at:
        pieces.append(f"{width - at}'d0")
    return "{" + ", ".join(reversed(pieces)) + "}"


def harness_verilog(design: Design) -> str:
    """Verilog of the packed-port wrapper around ``ulp_dut``."""
    ports = design.ports
    conns, wires = [], []
    if design.has_clock:
        conns.append(f".{design.clock}(clk)")
    if design.has_reset:
        conns.append(f".{design.reset}(rst)")
    for name in ports.valid_in:
        conns.append(f".{name}(valid_in)")
    for verilog, (width, carried) in ports.verilog_in.items():
        parts = [(p.bit, p.width, f"vin[{32 * p.offset + p.width - 1}:{32 * p.offset}]") for p in carried]
        conns.append(f".{verilog}({_concat(width, parts)})")
    fields = []
    for verilog, (width, carried) in ports.verilog_out.items():
        wires.append(f"  wire [{width - 1}:0] o_{verilog};")
        conns.append(f".{verilog}(o_{verilog})")
        for p in carried:
            fields.append((32 * p.offset, 32 * p.words, f"o_{verilog}[{p.bit + p.width - 1}:{p.bit}]", p))
    if ports.ready_in:
        conns.append(f".{ports.ready_in}(ready_in)")
    else:
        wires.append("  assign ready_in = 1'b1;")
    if ports.ready_out:
        conns.append(f".{ports.ready_out}(ready_out)")
    if ports.valid_out:
        wires.append("  wire unit_valid_out;")
        conns.append(f".{ports.valid_out}(unit_valid_out)")
        wires.append("  assign valid_out = unit_valid_out;")
    else:
        wires.append("  assign valid_out = 1'b0;")
    vout = _concat(32 * ports.out_words, [(at, p.width, expr) for at, _w, expr, p in fields])
    return render(
        "harness.v",
        module=HARNESS_MODULE,
        in_msb=32 * ports.in_words - 1,
        out_msb=32 * ports.out_words - 1,
        wires="\n".join(wires),
        vout=vout,
        dut=DUT_MODULE,
        connections=", ".join(conns),
    )
