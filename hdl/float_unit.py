"""Floating-point adder and multiplier, twins of ``golden.arith.add`` and ``golden.arith.mul``.

Both compute the exact result as ``(sign, sig, exp, sticky)`` and end in the shared
:class:`~ulpflow.hdl.rounding.RoundPack`; they only add the special-case logic of SEMANTICS §2
(NaN propagation, inf - inf, 0 * inf, signed zeros) in front of it.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ._common import (Stages, Unpacked, allocate_cuts, check_float, check_format, check_latency,
                      check_mutation, check_rounding, checked_init, operand_formats, shape_for,
                      unpack_float, valid_chain)
from .rounding import RoundPack, _lzc

__all__ = ["FloatAdder", "FloatMultiplier"]


def _binary_signature(fa, fb, out):
    return {"a": In(fa.bits), "b": In(fb.bits), "valid_in": In(1),
            "result": Out(out.bits), "valid_out": Out(1)}


def _rp_latency(enabled, extra):
    """Cycles that belong to the RoundPack instance (its own cuts plus any output registers)."""
    return sum(1 for c in enabled if c.startswith("rp.")) + extra


class FloatAdder(wiring.Component):
    """``a + b`` rounded once: the hardware twin of ``golden.add(a, b, fmt, rounding=, out=)``.

    Parameters
    ----------
    fmt : FloatFormat or (FloatFormat, FloatFormat)
        Operand format, or a pair for operands of different formats.
    rounding : str
        "RNE" (default), "RNA", "RTZ", "RUP" or "RDN"; fixed at elaboration.
    out : FloatFormat, optional
        Destination format (default: the format of ``a``).
    latency : int
        Pipeline registers, placed in this order: after the significand adder, inside the
        rounding module after normalisation, after the alignment shifter, after the rounding
        adder; any further cycles are output registers.

    Members
    -------
    a, b : In
        Operand codes.
    result : Out(out.bits)
    valid_in, valid_out : In(1), Out(1)
        ``valid_out`` is ``valid_in`` delayed by ``latency`` cycles.
    """

    CUTS = ("add", "rp.norm", "align", "rp.inc")

    @checked_init
    def __init__(self, fmt, *, rounding="RNE", out=None, latency=0, _mutate=None):
        self.fmt_a, self.fmt_b = operand_formats(fmt, check_float)
        self.out = self.fmt_a if out is None else check_format(out, "out")
        if self.out.kind != "float":
            # golden refuses this too: float sums into fixed point need an explicit convert
            raise TypeError(f"out must be a FloatFormat for a float adder, not {self.out!r}")
        self.rounding = check_rounding(rounding)
        self.latency = check_latency(latency)
        self._mutate = check_mutation(_mutate)
        fa, fb = self.fmt_a, self.fmt_b
        self._M = max(fa.man_bits, fb.man_bits)
        # three guard bits below the operands' LSB, more when the destination is finer, so that
        # the sticky flag always lies >= 2 bits below the rounding position
        guard = max(3, self.out.man_bits - self._M + 3)
        # Across two formats, subnormal operands are normalised first (as golden does): only
        # then does a larger exponent always mean a larger magnitude. Within one format the
        # subnormals share the lowest exponent, so this costs nothing there.
        mixed = fa != fb
        self._normalise = (mixed, mixed)
        self._G = guard
        super().__init__(_binary_signature(fa, fb, self.out))

    def __repr__(self):
        fmt = self.fmt_a if self.fmt_a == self.fmt_b else (self.fmt_a, self.fmt_b)
        return (f"FloatAdder({fmt}, rounding={self.rounding!r}, out={self.out}, "
                f"latency={self.latency})")

    def elaborate(self, platform):
        m = Module()
        enabled, extra = allocate_cuts(self.CUTS, self.latency)
        st = Stages(m, enabled)
        fa, fb, M, G = self.fmt_a, self.fmt_b, self._M, self._G
        ua = unpack_float(m, self.a, fa, name="a")
        ub = unpack_float(m, self.b, fb, name="b")
        # one significand width for both operands: pad the narrower one with zeros
        pa, pb = M - fa.man_bits, M - fb.man_bits
        a_lo, a_hi = _exp_bounds(fa)
        b_lo, b_hi = _exp_bounds(fb)
        na, nb = (M if n else 0 for n in self._normalise)
        e_lo, e_hi = min(a_lo - pa - na, b_lo - pb - nb), max(a_hi - pa, b_hi - pb)
        eshape = shape_for(e_lo, e_hi)
        Sa, Sb = Signal(M + 1, name="Sa"), Signal(M + 1, name="Sb")
        ea, eb = Signal(eshape, name="ea"), Signal(eshape, name="eb")
        for S, e, u, p, norm, nm in ((Sa, ea, ua, pa, na, "a"), (Sb, eb, ub, pb, nb, "b")):
            padded = u.sig << p
            if norm:
                lz = _lzc(m, padded, M + 1, f"{nm}_lzc")
                m.d.comb += [S.eq((padded << lz)[:M + 1]), e.eq(u.exp - p - lz)]
            else:
                m.d.comb += [S.eq(padded), e.eq(u.exp - p)]

        # larger magnitude first, so an effective subtraction never goes negative; a zero is
        # never the larger one (its exponent field says nothing across two formats)
        a_big = ub.zero | (~ua.zero & ((ea > eb) | ((ea == eb) & (Sa >= Sb))))
        X, Y = Mux(a_big, Sa, Sb), Mux(a_big, Sb, Sa)
        sx, sy = Mux(a_big, ua.sign, ub.sign), Mux(a_big, ub.sign, ua.sign)
        ex = Signal(eshape, name="ex")
        m.d.comb += ex.eq(Mux(a_big, ea, eb))
        dmax = M + G + 2  # beyond this the smaller operand is entirely sticky
        d = Signal(range(dmax + 1), name="d")
        dfull = Mux(a_big, ea - eb, eb - ea)
        m.d.comb += d.eq(Mux(dfull > dmax, dmax, dfull[:len(d)]))
        w = M + 1 + G
        Xg, Yfull, Yg = Signal(w, name="Xg"), Signal(w, name="Yfull"), Signal(w, name="Yg")
        lost = Signal(name="lost")
        m.d.comb += [Xg.eq(X << G), Yfull.eq(Y << G), Yg.eq(Yfull >> d),
                     lost.eq((Yg << d)[:w] != Yfull)]

        nan = ua.nan | ub.nan | (ua.inf & ub.inf & (ua.sign != ub.sign))
        inf = ua.inf | ub.inf
        inf_sign = Mux(ua.inf, ua.sign, ub.sign)

        Xg, Yg, lost, sx, sy, ex, nan, inf, inf_sign = st.cut(
            "align", Xg, Yg, lost, sx, sy, ex, nan, inf, inf_sign)

        eff_sub = sx ^ sy
        s = Signal(w + 1, name="sum")
        # X - (Y + tiny) = (X - Y - 1) + (1 - tiny): the sticky flag stays a flag
        m.d.comb += s.eq(Mux(eff_sub, Xg - Yg - lost, Xg + Yg))
        exact_zero = (s == 0) & ~lost
        zero_sign = Mux(eff_sub, Const(int(self.rounding == "RDN"), 1), sx)
        sign = Signal(name="sign")
        m.d.comb += sign.eq(Mux(inf, inf_sign, Mux(exact_zero, zero_sign, sx)))

        s, lost, sign, ex, nan, inf = st.cut("add", s, lost, sign, ex, nan, inf)

        rp = RoundPack(self.out, sig_width=w + 1, exp_range=(e_lo - G, e_hi - G),
                       rounding=self.rounding, latency=_rp_latency(enabled, extra),
                       _mutate=self._mutate)
        m.submodules.round = rp
        m.d.comb += [rp.sign.eq(sign), rp.sig.eq(s), rp.exp.eq(ex - G), rp.sticky.eq(lost),
                     rp.nan.eq(nan), rp.inf.eq(inf & ~nan), self.result.eq(rp.result)]
        valid_chain(m, self.valid_in, self.valid_out, self.latency)
        return m


class FloatMultiplier(wiring.Component):
    """``a * b`` rounded once: the hardware twin of ``golden.mul(a, b, fmt, rounding=, out=)``.

    Parameters
    ----------
    fmt : FloatFormat or (FloatFormat, FloatFormat)
        Operand format, or a pair ``(fmt_a, fmt_b)`` for mixed operands.
    rounding : str
        Rounding mode, fixed at elaboration.
    out : FloatFormat or FixedFormat, optional
        Destination format (default: the format of ``a``); the product may round to another
        format, also fixed point (NaN then gives 0 and infinities saturate, as golden).
    latency : int
        Pipeline registers, in this order: after the significand multiplier, inside the rounding
        module after normalisation, after the rounding adder, on the unpacked operands; further
        cycles are output registers.

    Members
    -------
    a, b : In
    result : Out(out.bits)
    valid_in, valid_out : In(1), Out(1)
    """

    CUTS = ("mul", "rp.norm", "rp.inc", "unpack")

    @checked_init
    def __init__(self, fmt, *, rounding="RNE", out=None, latency=0, _mutate=None):
        self.fmt_a, self.fmt_b = operand_formats(fmt, check_float)
        self.out = self.fmt_a if out is None else check_format(out, "out")
        self.rounding = check_rounding(rounding)
        self.latency = check_latency(latency)
        self._mutate = check_mutation(_mutate)
        super().__init__(_binary_signature(self.fmt_a, self.fmt_b, self.out))

    def __repr__(self):
        fmt = self.fmt_a if self.fmt_a == self.fmt_b else (self.fmt_a, self.fmt_b)
        return (f"FloatMultiplier({fmt}, rounding={self.rounding!r}, out={self.out}, "
                f"latency={self.latency})")

    def elaborate(self, platform):
        m = Module()
        enabled, extra = allocate_cuts(self.CUTS, self.latency)
        st = Stages(m, enabled)
        fa, fb = self.fmt_a, self.fmt_b
        ua = unpack_float(m, self.a, fa, name="a")
        ub = unpack_float(m, self.b, fb, name="b")
        sign = ua.sign ^ ub.sign
        nan = ua.nan | ub.nan | (ua.inf & ub.zero) | (ua.zero & ub.inf)
        inf = (ua.inf | ub.inf) & ~nan

        Sa, Sb, ea, eb, sign, nan, inf = st.cut("unpack", ua.sig, ub.sig, ua.exp, ub.exp,
                                                sign, nan, inf)

        wa, wb = fa.man_bits + 1, fb.man_bits + 1
        prod = Signal(wa + wb, name="prod")
        a_lo, a_hi = _exp_bounds(fa)
        b_lo, b_hi = _exp_bounds(fb)
        e = Signal(shape_for(a_lo + b_lo, a_hi + b_hi), name="pexp")
        m.d.comb += [prod.eq(Sa * Sb), e.eq(ea + eb)]

        prod, e, sign, nan, inf = st.cut("mul", prod, e, sign, nan, inf)

        rp = RoundPack(self.out, sig_width=wa + wb, exp_range=(a_lo + b_lo, a_hi + b_hi),
                       rounding=self.rounding, latency=_rp_latency(enabled, extra),
                       _mutate=self._mutate)
        m.submodules.round = rp
        m.d.comb += [rp.sign.eq(sign), rp.sig.eq(prod), rp.exp.eq(e), rp.sticky.eq(0),
                     rp.nan.eq(nan), rp.inf.eq(inf), self.result.eq(rp.result)]
        valid_chain(m, self.valid_in, self.valid_out, self.latency)
        return m


def _exp_bounds(fmt):
    """Range of the LSB exponent of a float format's finite codes."""
    return Unpacked.exp_bounds(fmt)
