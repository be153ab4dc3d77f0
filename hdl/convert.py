"""Format conversion, twin of ``golden.arith.convert``: float/fixed to float/fixed."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ._common import (Stages, allocate_cuts, check_format, check_latency, check_mutation,
                      check_overflow, check_rounding, checked_init, unpack, unpacked_bounds,
                      valid_chain)
from .rounding import RoundPack

__all__ = ["FloatConverter"]


class FloatConverter(wiring.Component):
    """``convert(a, src, dst, rounding=, overflow=)`` in hardware: exact unpack, one rounding.

    Parameters
    ----------
    src, dst : FloatFormat or FixedFormat
        Source and destination formats (any pair).
    rounding : str
        Rounding mode, fixed at elaboration.
    overflow : str, optional
        "SAT" or "WRAP" for fixed-point destinations (default: ``dst.overflow``).
    latency : int
        Registers, in this order: inside the rounding module after normalisation, on the
        unpacked operand, after the rounding adder; further cycles are output registers.

    Members
    -------
    a : In(src.bits)
    result : Out(dst.bits)
    valid_in, valid_out : In(1), Out(1)

    Notes
    -----
    Specials follow the destination's policy (``dst.nan_result_code``,
    ``dst.inf_result_code``), lane by lane: float NaN into fixed point or into a ``finite``
    float gives +0 and ±inf into fixed point saturates to the range ends, whatever the
    overflow policy — golden ``convert(..., strict=False)`` bit for bit (by default golden
    refuses NaN into a ``finite`` float; docs/semantics.md, NaN into a format without NaN).
    """

    CUTS = ("rp.norm", "unpack", "rp.inc")

    @checked_init
    def __init__(self, src, dst, *, rounding="RNE", overflow=None, latency=0, _mutate=None):
        self.src = check_format(src, "src")
        self.dst = check_format(dst, "dst")
        self.rounding = check_rounding(rounding)
        # the destination states the rule (floats take no overflow=, no WRAP if symmetric)
        self.dst.check_overflow_mode(overflow)
        self.overflow = None if overflow is None else check_overflow(overflow)
        self.latency = check_latency(latency)
        self._mutate = check_mutation(_mutate)
        super().__init__({"a": In(self.src.bits), "valid_in": In(1),
                          "result": Out(self.dst.bits), "valid_out": Out(1)})

    def __repr__(self):
        return (f"FloatConverter({self.src}, {self.dst}, rounding={self.rounding!r}, "
                f"latency={self.latency})")

    def elaborate(self, platform):
        m = Module()
        enabled, extra = allocate_cuts(self.CUTS, self.latency)
        st = Stages(m, enabled)
        u = unpack(m, self.a, self.src, name="a")
        sig, sign, exp, nan, inf = st.cut("unpack", u.sig, u.sign, u.exp, u.nan, u.inf)
        width, lo, hi = unpacked_bounds(self.src)
        rp_lat = sum(1 for c in enabled if c.startswith("rp.")) + extra
        rp = RoundPack(self.dst, sig_width=width, exp_range=(lo, hi), rounding=self.rounding,
                       overflow=self.overflow, latency=rp_lat, _mutate=self._mutate)
        m.submodules.round = rp
        m.d.comb += [rp.sign.eq(sign), rp.sig.eq(sig), rp.exp.eq(exp), rp.sticky.eq(0),
                     rp.nan.eq(nan), rp.inf.eq(inf), self.result.eq(rp.result)]
        valid_chain(m, self.valid_in, self.valid_out, self.latency)
        return m
