"""Format conversion, twin of ``golden.arith.convert``: float/fixed to float/fixed."""

from __future__ import annotations

from amaranth.lib import wiring

from ulpflow.golden.arith import convert
from ulpflow.golden.formats import as_format

from ._common import (begin_pipeline, check_latency, check_mutation, check_overflow,
                      check_rounding, checked_init, rp_latency, unpack, unpacked_bounds,
                      valid_chain)
from .rounding import RoundPack
from .signature import UnitSignature

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
    i : In(stream)
        Payload field ``a`` (a code of ``src``).
    o : Out(stream)
        Payload field ``result`` (a code of ``dst``); ``o.valid`` follows ``i.valid`` after
        ``latency`` cycles.

    Attributes ``in_format`` (= ``src``) and ``out_format`` (= ``dst``); ``emulate(a=)`` is
    ``{"result": golden.convert(a, src, dst, rounding=, overflow=)}``.

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
        self.in_format = as_format(src, "src")
        self.out_format = as_format(dst, "dst")
        self.rounding = check_rounding(rounding)
        # the destination states the rule (floats take no overflow=, no WRAP if symmetric)
        self.out_format.check_overflow_mode(overflow)
        self.overflow = None if overflow is None else check_overflow(overflow)
        self.latency = check_latency(latency)
        self._mutate = check_mutation(_mutate)
        super().__init__(UnitSignature.unary(self.in_format, self.out_format))

    # read-only aliases of the names used before the attributes were unified
    src = property(lambda self: self.in_format)
    dst = property(lambda self: self.out_format)

    def __repr__(self):
        return (f"FloatConverter({self.in_format}, {self.out_format}, "
                f"rounding={self.rounding!r}, latency={self.latency})")

    def emulate(self, **inputs):
        """``{"result": golden.convert(a, src, dst, rounding=, overflow=, strict=False)}``
        (NaN into a format without NaN: +0 per lane, as the hardware gives)."""
        v = self.signature.cast_inputs(inputs, repr(self))
        return {"result": convert(v["a"], self.in_format, self.out_format,
                                  rounding=self.rounding, overflow=self.overflow, strict=False)}

    def elaborate(self, platform):
        m, enabled, extra, st = begin_pipeline(self)
        u = unpack(m, self.i.payload.a, self.in_format, name="a")
        sig, sign, exp, nan, inf = st.cut("unpack", u.sig, u.sign, u.exp, u.nan, u.inf)
        width, lo, hi = unpacked_bounds(self.in_format)
        rp = RoundPack(self.out_format, sig_width=width, exp_range=(lo, hi),
                       rounding=self.rounding, overflow=self.overflow,
                       latency=rp_latency(enabled, extra), _mutate=self._mutate)
        m.submodules.round = rp
        p = rp.i.payload
        m.d.comb += [p.sign.eq(sign), p.sig.eq(sig), p.exp.eq(exp), p.sticky.eq(0),
                     p.nan.eq(nan), p.inf.eq(inf), self.o.payload.result.eq(rp.o.payload.result)]
        valid_chain(m, self.i.valid, self.o.valid, self.latency)
        return m
