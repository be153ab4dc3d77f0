"""Verilog text for any unit of :mod:`ulpflow.hdl`."""

from __future__ import annotations

from amaranth.back import verilog
from amaranth.hdl import Signal, ValueCastable
# Amaranth does not re-export its port-direction enum; its own verilog.convert uses it the same
# way (amaranth is pinned in pyproject.toml).
from amaranth.hdl._ir import PortDirection
from amaranth.lib import wiring

__all__ = ["to_verilog", "verilog_ports"]


def verilog_ports(unit):
    """The module ports of a unit: ``{name: (signal, direction)}`` from its signature.

    Members are flattened with ``__`` as Amaranth names them (``i__payload``, ``i__valid``,
    ``o__payload``, ``o__valid``, side members under their own names), each with the direction
    its member's flow declares (an ``Out`` member stays an output even where a design forgot to
    drive it). Constant members, such as the ``ready`` of an always-ready stream, and zero-width
    members are no ports. Every Verilog writer of ulpflow (this module, ``ulpflow.sim``) uses it.
    """
    ports = {}
    for path, member, value in unit.signature.flatten(unit):
        if isinstance(value, ValueCastable):
            value = value.as_value()
        if not isinstance(value, Signal) or len(value) == 0:
            continue  # Const members (always_ready's ready = 1) are not ports
        direction = PortDirection.Input if member.flow == wiring.In else PortDirection.Output
        ports["__".join(map(str, path))] = (value, direction)
    return ports


def to_verilog(unit, name=None, *, emit_src=False):
    """Verilog of a unit, with its signature's members as the module ports.

    Parameters
    ----------
    unit : amaranth.lib.wiring.Component
        Any unit of :mod:`ulpflow.hdl` (or another component).
    name : str, optional
        Top-level module name (default: the unit's class name in lower case).
    emit_src : bool
        Keep ``src`` attributes pointing at the Python source lines.

    Returns
    -------
    str
        The Verilog text. Units with ``latency == 0`` have no clock; the others get the
        ``clk``/``rst`` ports of Amaranth's ``sync`` domain. The ports are those of
        :func:`verilog_ports`: ``i__payload`` (all input fields packed, the first one at bit 0),
        ``i__valid``, ``o__payload``, ``o__valid`` and any side members.

    Examples
    --------
    >>> from ulpflow.golden import parse_format
    >>> from ulpflow.hdl import FloatAdder, to_verilog
    >>> text = to_verilog(FloatAdder(parse_format("e4m3")), "add_e4m3")   # doctest: +SKIP
    """
    if not isinstance(unit, wiring.Component):
        raise TypeError(f"unit must be an amaranth.lib.wiring.Component, not {unit!r}")
    if name is None:
        name = type(unit).__name__.lower()
    if not isinstance(name, str) or not name.isidentifier():
        unit._MustUse__silence = True  # consumed by this failed call: no "never used" warning
        raise ValueError(f"module name must be a Verilog identifier, not {name!r}")
    return verilog.convert(unit, name=name, emit_src=emit_src, ports=verilog_ports(unit))
