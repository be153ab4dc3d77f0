"""Fixed-point adder and multiplier, twins of ``golden.add`` / ``golden.mul`` on FixedFormats.

The sum or product is formed exactly in two's complement, turned into sign and magnitude and
rounded by the same :class:`~ulpflow.hdl.rounding.RoundPack` as the float units (its fixed-point
path: rounding to the destination's fraction bits, then SAT or WRAP).
"""

from __future__ import annotations

from amaranth.hdl import Mux, Signal, signed

from ulpflow.golden.arith import add, mul
from ulpflow.golden.formats import as_format

from ._common import (begin_pipeline, check_latency, check_mutation, check_overflow,
                      check_rounding, checked_init, operand_formats, unpack_fixed)
from .float_unit import BinaryUnit

__all__ = ["FixedAdder", "FixedMultiplier"]


def _as_int(code, fmt):
    """The integer k of a code as a signed value (unsigned formats get a zero sign bit)."""
    return code.as_signed() if fmt.signed else code.as_unsigned()


class _FixedBinary(BinaryUnit):
    @checked_init
    def __init__(self, fmt, *, rounding="RNE", out=None, overflow=None, latency=0, _mutate=None):
        self.in_formats = operand_formats(fmt, "fixed")
        self.out_format = self.in_formats[0] if out is None else as_format(out, "out")
        self.rounding = check_rounding(rounding)
        # the destination states the rule (floats take no overflow=, no WRAP if symmetric)
        self.out_format.check_overflow_mode(overflow)
        self.overflow = None if overflow is None else check_overflow(overflow)
        self.latency = check_latency(latency)
        self._mutate = check_mutation(_mutate)
        super().__init__(self._ports())

    def __repr__(self):
        ovf = "" if self.overflow is None else f", overflow={self.overflow!r}"
        return (f"{type(self).__name__}({self.in_format}, rounding={self.rounding!r}, "
                f"out={self.out_format}{ovf}, latency={self.latency})")

    def _finish(self, m, enabled, extra, sign, mag, width, exp):
        return self._round(m, enabled, extra, sign=sign, sig=mag, exp=exp, sticky=0, nan=0,
                           inf=0, sig_width=width, exp_range=(exp, exp), overflow=self.overflow)


class FixedAdder(_FixedBinary):
    """``a + b`` of fixed-point codes, exact, then rounded/overflowed once into ``out``.

    Twin of ``golden.add(a, b, fmt, rounding=, out=, overflow=)`` for FixedFormats.

    Parameters
    ----------
    fmt : FixedFormat or (FixedFormat, FixedFormat)
    rounding : str
        Used only when ``out`` has fewer fraction bits than the operands.
    out : FixedFormat or FloatFormat, optional
        Destination (default: the format of ``a``).
    overflow : str, optional
        "SAT" or "WRAP"; default ``out.overflow``.
    latency : int
        Registers, in order: after the adder, in the rounding module after the shift, after the
        rounding adder; further cycles are output registers.

    Members
    -------
    i : In(stream)
        Payload fields ``a``, ``b``.
    o : Out(stream)
        Payload field ``result``; ``o.valid`` follows ``i.valid`` after ``latency`` cycles.

    ``emulate(a=, b=)`` is ``{"result": golden.add(a, b, fmt, rounding=, out=, overflow=)}``.
    """

    CUTS = ("add", "rp.norm", "rp.inc")
    OP = staticmethod(add)

    def elaborate(self, platform):
        m, enabled, extra, st = begin_pipeline(self)
        fa, fb = self.in_formats
        F = max(fa.frac_bits, fb.frac_bits)
        ka = _as_int(self.i.payload.a, fa) << (F - fa.frac_bits)
        kb = _as_int(self.i.payload.b, fb) << (F - fb.frac_bits)
        width = max(len(ka), len(kb)) + 2
        total = Signal(signed(width), name="total")
        m.d.comb += total.eq(ka + kb)
        sign = total < 0
        mag = Signal(width, name="mag")
        m.d.comb += mag.eq(Mux(sign, -total, total))
        sign, mag = st.cut("add", sign, mag)
        return self._finish(m, enabled, extra, sign, mag, width, -F)


class FixedMultiplier(_FixedBinary):
    """``a * b`` of fixed-point codes rounded once into ``out``, then SAT or WRAP.

    Twin of ``golden.mul(a, b, fmt, rounding=, out=, overflow=)`` for FixedFormats.

    Parameters
    ----------
    fmt : FixedFormat or (FixedFormat, FixedFormat)
    rounding : str
        Rounding of the exact product to ``out``'s fraction bits.
    out : FixedFormat or FloatFormat, optional
        Destination (default: the format of ``a``).
    overflow : str, optional
        "SAT" or "WRAP"; default ``out.overflow``.
    latency : int
        Registers, in order: after the multiplier, in the rounding module after the shift,
        after the rounding adder, on the inputs; further cycles are output registers.

    Members
    -------
    i : In(stream)
        Payload fields ``a``, ``b``.
    o : Out(stream)
        Payload field ``result``; ``o.valid`` follows ``i.valid`` after ``latency`` cycles.

    ``emulate(a=, b=)`` is ``{"result": golden.mul(a, b, fmt, rounding=, out=, overflow=)}``.
    """

    CUTS = ("mul", "rp.norm", "rp.inc", "unpack")
    OP = staticmethod(mul)

    def elaborate(self, platform):
        m, enabled, extra, st = begin_pipeline(self)
        fa, fb = self.in_formats
        ua = unpack_fixed(m, self.i.payload.a, fa, name="a")
        ub = unpack_fixed(m, self.i.payload.b, fb, name="b")
        # sign and magnitude, as golden: the sign of an exact zero product is sa ^ sb, which
        # matters when the product rounds into a float format (0 * -8 = -0)
        sa, sb, ma, mb = st.cut("unpack", ua.sign, ub.sign, ua.sig, ub.sig)
        width = len(ma) + len(mb)
        mag = Signal(width, name="mag")
        m.d.comb += mag.eq(ma * mb)
        sign, mag = st.cut("mul", sa ^ sb, mag)
        return self._finish(m, enabled, extra, sign, mag, width, -(fa.frac_bits + fb.frac_bits))
