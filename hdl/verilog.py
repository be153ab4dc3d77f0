"""Verilog text for any unit of :mod:`ulpflow.hdl`."""

from __future__ import annotations

from amaranth.back import verilog
from amaranth.lib import wiring

__all__ = ["to_verilog"]


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
        ``clk``/``rst`` ports of Amaranth's ``sync`` domain. Array members become ports
        ``<name>__<index>`` (e.g. ``terms__0``).

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
    return verilog.convert(unit, name=name, emit_src=emit_src)
