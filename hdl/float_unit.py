"""Floating-point adder and multiplier, twins of ``golden.arith.add`` and ``golden.arith.mul``.

Both compute the exact result as ``(sign, sig, exp, sticky)`` and end in the shared
:class:`~ulpflow.hdl.rounding.RoundPack`; they only add the special-case logic of golden ``add``
and ``mul`` (NaN propagation, inf - inf, 0 * inf, signed zeros; docs/semantics.md, "Rounding")
in front of it.

Built for size and speed on LUT4 FPGAs (docs/qor.md has the figures): the adder orders its
operands with one comparator on the magnitude codes (one format), finds the alignment sticky by
a mask beside the shifter and does effective additions and subtractions on one adder; the
multiplier feeds the raw significands to the DSPs, counts the operands' leading zeros beside
them, normalises the product by that count and hands RoundPack ``M + 3`` bits and a sticky
flag with at most one leading zero. Each has more cut points than RoundPack alone (see
``latency``).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Mux, Signal
from amaranth.lib import wiring

from ulpflow.golden.arith import add, mul
from ulpflow.golden.formats import as_format
from ulpflow.golden.rounding import GUARD_BITS

from ._common import (begin_pipeline, Unpacked, check_latency, check_mutation,
                      check_rounding, checked_init, format_spec, leading_zero_count,
                      operand_formats, rp_latency, shape_for, unpack_float, valid_chain)
from .rounding import RoundPack
from .signature import UnitSignature

__all__ = ["BinaryUnit", "FloatAdder", "FloatMultiplier"]


class BinaryUnit(wiring.Component):
    """What every two-operand unit shares: ``a``, ``b`` -> ``result`` and its golden twin.

    Attributes: ``in_formats`` (the pair of operand formats), ``in_format`` (one format, or the
    pair when they differ: golden's ``fmt`` argument), ``out_format``, ``rounding``,
    ``overflow`` (fixed-point destinations; None = the format's own), ``latency``.
    ``emulate(a=, b=)`` is the golden operation ``OP`` with exactly these arguments.
    """

    OP = None  # the golden operation (``staticmethod(add)`` or ``staticmethod(mul)``)
    overflow = None

    def _ports(self):
        fa, fb = self.in_formats
        return UnitSignature.binary(fa, fb, self.out_format)

    @property
    def in_format(self):
        return format_spec(*self.in_formats)

    # read-only aliases of the names used before the attributes were unified
    fmt_a = property(lambda self: self.in_formats[0])
    fmt_b = property(lambda self: self.in_formats[1])
    out = property(lambda self: self.out_format)

    def emulate(self, **inputs):
        """``{"result": OP(a, b, in_format, rounding=, out=, overflow=, strict=False)}`` from
        golden (``strict=False``: NaN into a format without NaN is +0 lane by lane, as the
        hardware gives it)."""
        v = self.signature.cast_inputs(inputs, repr(self))
        kw = {} if self.overflow is None else {"overflow": self.overflow}
        return {"result": self.OP(v["a"], v["b"], self.in_format, rounding=self.rounding,
                                  out=self.out_format, strict=False, **kw)}

    def _round(self, m, enabled, extra, *, sign, sig, exp, sticky, nan, inf, sig_width,
               exp_range, overflow=None, max_lz=None):
        """End in the shared RoundPack (taking the ``rp.*`` cuts and output registers)."""
        kw = {} if overflow is None else {"overflow": overflow}
        rp = RoundPack(self.out_format, sig_width=sig_width, exp_range=exp_range,
                       rounding=self.rounding, latency=rp_latency(enabled, extra),
                       max_lz=max_lz, _mutate=self._mutate, **kw)
        m.submodules.round = rp
        p = rp.i.payload
        m.d.comb += [p.sign.eq(sign), p.sig.eq(sig), p.exp.eq(exp), p.sticky.eq(sticky),
                     p.nan.eq(nan), p.inf.eq(inf), self.o.payload.result.eq(rp.o.payload.result)]
        valid_chain(m, self.i.valid, self.o.valid, self.latency)
        return m


class FloatAdder(BinaryUnit):
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
        adder, inside the rounding module between the leading-zero count and the normalising
        shift, after the magnitude comparison and operand swap; any further cycles are output
        registers.

    Members
    -------
    i : In(stream)
        Payload fields ``a``, ``b``: the operand codes.
    o : Out(stream)
        Payload field ``result`` (a code of ``out``); ``o.valid`` is ``i.valid`` delayed by
        ``latency`` cycles (always ready).

    ``emulate(a=, b=)`` is ``{"result": golden.add(a, b, fmt, rounding=, out=)}``.
    """

    CUTS = ("add", "rp.norm", "align", "rp.inc", "rp.lzc", "swap")
    OP = staticmethod(add)

    @checked_init
    def __init__(self, fmt, *, rounding="RNE", out=None, latency=0, _mutate=None):
        self.in_formats = operand_formats(fmt, "float")
        fa, fb = self.in_formats
        self.out_format = fa if out is None else as_format(out, "out")
        if self.out_format.kind != "float":
            # golden refuses this too: float sums into fixed point need an explicit convert
            raise TypeError(f"out must be a FloatFormat for a float adder, not "
                            f"{self.out_format!r}")
        self.rounding = check_rounding(rounding)
        self.latency = check_latency(latency)
        self._mutate = check_mutation(_mutate)
        self._M = max(fa.man_bits, fb.man_bits)
        # GUARD_BITS below the operands' LSB (as golden aligns), more when the destination is
        # finer, so that the sticky flag always lies >= 2 bits below the rounding position
        guard = max(GUARD_BITS, self.out_format.man_bits - self._M + GUARD_BITS)
        # Across two formats, subnormal operands are normalised first (as golden does): only
        # then does a larger exponent always mean a larger magnitude. Within one format the
        # subnormals share the lowest exponent, so this costs nothing there.
        mixed = fa != fb
        self._normalise = (mixed, mixed)
        self._G = guard
        super().__init__(self._ports())

    def __repr__(self):
        return (f"FloatAdder({self.in_format}, rounding={self.rounding!r}, "
                f"out={self.out_format}, latency={self.latency})")

    def elaborate(self, platform):
        m, enabled, extra, st = begin_pipeline(self)
        (fa, fb), M, G = self.in_formats, self._M, self._G
        # NaN / infinity results come from the flags: their significands need not be cleared
        ua = unpack_float(m, self.i.payload.a, fa, name="a", clear_specials=False)
        ub = unpack_float(m, self.i.payload.b, fb, name="b", clear_specials=False)
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
                lz = leading_zero_count(m, padded, M + 1, f"{nm}_lzc")
                m.d.comb += [S.eq((padded << lz)[:M + 1]), e.eq(u.exp - p - lz)]
            else:
                m.d.comb += [S.eq(padded), e.eq(u.exp - p)]

        # larger magnitude first, so an effective subtraction never goes negative; a zero is
        # never the larger one (its exponent field says nothing across two formats)
        if fa == fb:
            # one format: its magnitude codes order like the values (one comparator)
            a_ge = self.i.payload.a[:fa.bits - 1] >= self.i.payload.b[:fb.bits - 1]
        else:
            a_ge = (ea > eb) | ((ea == eb) & (Sa >= Sb))
        a_big = ub.zero | (~ua.zero & a_ge)
        X, Y = Mux(a_big, Sa, Sb), Mux(a_big, Sb, Sa)
        sx, sy = Mux(a_big, ua.sign, ub.sign), Mux(a_big, ub.sign, ua.sign)
        ex = Signal(eshape, name="ex")
        m.d.comb += ex.eq(Mux(a_big, ea, eb))
        dmax = M + G + 2  # beyond this the smaller operand is entirely sticky
        d = Signal(range(dmax + 1), name="d")
        # both differences clipped beside the comparison; a_big only picks one
        d_ab, d_ba = (Mux(x > dmax, dmax, x[:len(d)]) for x in (ea - eb, eb - ea))
        m.d.comb += d.eq(Mux(a_big, d_ab, d_ba))
        nan = ua.nan | ub.nan | (ua.inf & ub.inf & (ua.sign != ub.sign))
        inf = ua.inf | ub.inf
        inf_sign = Mux(ua.inf, ua.sign, ub.sign)

        X, Y, d, sx, sy, ex, nan, inf, inf_sign = st.cut(
            "swap", X, Y, d, sx, sy, ex, nan, inf, inf_sign)

        w = M + 1 + G
        Xg, Yg = Signal(w, name="Xg"), Signal(w, name="Yg")
        lost = Signal(name="lost")
        # the bits of Y shifted out below the guard bits: Y masked with (d > i + G), in
        # parallel with the shifter
        m.d.comb += [Xg.eq(X << G), Yg.eq((Y << G) >> d),
                     lost.eq(Cat(Y[i] & (d > i + G) for i in range(M + 1)).any())]

        Xg, Yg, lost, sx, sy, ex, nan, inf, inf_sign = st.cut(
            "align", Xg, Yg, lost, sx, sy, ex, nan, inf, inf_sign)

        eff_sub = sx ^ sy
        # one adder for both: X + Y, or X - (Y + tiny) = X + ~Y + 1 - lost (mod 2**w; the
        # sticky flag stays a flag: (X - Y - 1) + (1 - tiny)), the carry-in as an extra low bit
        t = Signal(w + 2, name="addsub")
        m.d.comb += t.eq(Cat(Const(1, 1), Xg) + Cat(eff_sub & ~lost, Yg ^ eff_sub.replicate(w)))
        s = Signal(w + 1, name="sum")
        m.d.comb += s.eq(Cat(t[1:w + 1], t[w + 1] & ~eff_sub))
        exact_zero = (s == 0) & ~lost
        zero_sign = Mux(eff_sub, Const(int(self.rounding == "RDN"), 1), sx)
        sign = Signal(name="sign")
        m.d.comb += sign.eq(Mux(inf, inf_sign, Mux(exact_zero, zero_sign, sx)))

        s, lost, sign, ex, nan, inf = st.cut("add", s, lost, sign, ex, nan, inf)

        return self._round(m, enabled, extra, sign=sign, sig=s, exp=ex - G, sticky=lost, nan=nan,
                           inf=inf & ~nan, sig_width=w + 1, exp_range=(e_lo - G, e_hi - G))


class FloatMultiplier(BinaryUnit):
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
        module after normalisation, after the rounding adder, on the unpacked operands, after
        the product's normalising shift, between the DSP products of 18-bit pieces and their
        sum; further cycles are output registers.

    Members
    -------
    i : In(stream)
        Payload fields ``a``, ``b``.
    o : Out(stream)
        Payload field ``result``; ``o.valid`` follows ``i.valid`` after ``latency`` cycles.

    ``emulate(a=, b=)`` is ``{"result": golden.mul(a, b, fmt, rounding=, out=)}``.
    """

    CUTS = ("mul", "rp.norm", "rp.inc", "unpack", "rp.lzc", "pp")
    OP = staticmethod(mul)

    @checked_init
    def __init__(self, fmt, *, rounding="RNE", out=None, latency=0, _mutate=None):
        self.in_formats = operand_formats(fmt, "float")
        self.out_format = self.in_formats[0] if out is None else as_format(out, "out")
        self.rounding = check_rounding(rounding)
        self.latency = check_latency(latency)
        self._mutate = check_mutation(_mutate)
        super().__init__(self._ports())

    def __repr__(self):
        return (f"FloatMultiplier({self.in_format}, rounding={self.rounding!r}, "
                f"out={self.out_format}, latency={self.latency})")

    def elaborate(self, platform):
        m, enabled, extra, st = begin_pipeline(self)
        fa, fb = self.in_formats
        # NaN / infinity results come from the flags: their significands need not be cleared
        ua = unpack_float(m, self.i.payload.a, fa, name="a", clear_specials=False)
        ub = unpack_float(m, self.i.payload.b, fb, name="b", clear_specials=False)
        sign = ua.sign ^ ub.sign
        nan = ua.nan | ub.nan | (ua.inf & ub.zero) | (ua.zero & ub.inf)
        inf = (ua.inf | ub.inf) & ~nan
        (a_lo, a_hi), (b_lo, b_hi) = _exp_bounds(fa), _exp_bounds(fb)
        Sa, Sb, e = ua.sig, ub.sig, ua.exp + ub.exp
        if self.out_format.kind == "float":
            L, lmax, tiny = self._leading_zeros(m, ua, ub)
        else:
            # into fixed point: the raw product, RoundPack's shifter places it
            L, lmax, tiny = Const(0, 1), 0, Const(0, 1)
        # the exponent of the product's LSB after the normalising shift and the dropping of
        # all but the top ``keep`` bits (below), computed beside the multiplier
        pw = len(Sa) + len(Sb)
        keep = min(pw, self.out_format.man_bits + 3) if self.out_format.kind == "float" else pw
        low = pw - keep
        e_lo, e_hi = a_lo + b_lo - lmax + low, a_hi + b_hi + low
        pe = Signal(shape_for(e_lo, e_hi), name="pexp")
        m.d.comb += pe.eq(e + low - L)

        Sa, Sb, L, pe, tiny, sign, nan, inf = st.cut("unpack", Sa, Sb, L, pe, tiny, sign, nan,
                                                     inf)

        prod = Signal(pw, name="prod")
        if "pp" in enabled:
            # the DSP products of 18-bit pieces registered before their sum (the pieces are
            # what synthesis maps to 18x18 multipliers anyway)
            k = 18
            pieces = [(i, j, Sa[i:i + k], Sb[j:j + k]) for i in range(0, len(Sa), k)
                      for j in range(0, len(Sb), k)]
            pps = [Signal(len(x) + len(y), name=f"pp{i}_{j}") for i, j, x, y in pieces]
            m.d.comb += [p.eq(x * y) for p, (_, _, x, y) in zip(pps, pieces)]
            *pps, L, pe, tiny, sign, nan, inf = st.cut("pp", *pps, L, pe, tiny, sign, nan, inf)
            m.d.comb += prod.eq(sum(p << (i + j) for p, (i, j, _, _) in zip(pps, pieces)))
        else:
            m.d.comb += prod.eq(Sa * Sb)

        prod, L, pe, tiny, sign, nan, inf = st.cut("mul", prod, L, pe, tiny, sign, nan, inf)

        if self.out_format.kind == "float":
            # Normalise the product by the operands' leading zeros (counted beside the
            # multiplier): at most one leading zero is left, so M + 3 bits hold the M + 1 kept
            # bits and the round bit in either position, and everything below is one sticky
            # flag (RoundPack's decision needs the round bit exact and only the OR of the rest).
            # The sticky bits are those that land below the kept window: a mask on L.
            sig = Signal(keep, name="psig")
            sticky = Signal(name="psticky")
            m.d.comb += sig.eq(Mux(tiny, 0, (prod << L)[low:pw]))
            m.d.comb += sticky.eq(tiny | Cat(prod[i] & (L < low - i) if low - i <= lmax
                                             else prod[i] for i in range(low)).any())
            max_lz = 1
        else:
            sig, sticky, max_lz = prod, Const(0, 1), None

        return self._round(m, enabled, extra, sign=sign, sig=sig, exp=pe, sticky=sticky,
                           nan=nan, inf=inf, sig_width=keep, exp_range=(e_lo, e_hi),
                           max_lz=max_lz)

    def _leading_zeros(self, m, ua, ub):
        """``(L, L_max, tiny)``: how far the product of the raw significands must go up to have
        its leading one in the top two bits (the operands' leading-zero counts, found in
        parallel with the multiplier), the largest L that matters, and the flag of a product
        of two subnormals that always vanishes.

        When a product of two subnormals always lies below half the smallest subnormal of the
        destination, at most one operand needs normalising and ``L = lz_a | lz_b`` (one of the
        two is 0); the product of two subnormals is then ``tiny``: its value only matters as
        "non-zero", a sticky flag on a zero significand. Otherwise ``L = lz_a + lz_b``.
        """
        fa, fb = self.in_formats
        counts, lmax = [], 0
        for u, f, nm in ((ua, fa, "a"), (ub, fb, "b")):
            if f.subnormals:
                counts.append(leading_zero_count(m, u.sig, f.man_bits + 1, f"{nm}_lzc"))
                lmax += f.man_bits
        if not counts:
            return Const(0, 1), 0, Const(0, 1)
        if len(counts) == 1:
            return counts[0], lmax, Const(0, 1)
        if _subnormal_products_vanish(fa, fb, self.out_format):
            subs = [~u.sig[f.man_bits] & ~u.zero & ~u.nan & ~u.inf
                    for u, f in ((ua, fa), (ub, fb))]
            return counts[0] | counts[1], max(fa.man_bits, fb.man_bits), subs[0] & subs[1]
        return counts[0] + counts[1], lmax, Const(0, 1)


def _subnormal_products_vanish(fa, fb, out):
    """True when a product of a subnormal of ``fa`` and one of ``fb`` always lies below half
    the smallest subnormal of ``out`` (then it rounds like any value there: by sign, mode and
    "non-zero")."""
    # |a| < 2**fa.emin, |b| < 2**fb.emin, so |a * b| < 2**(fa.emin + fb.emin)
    return fa.emin + fb.emin <= out.emin - out.man_bits - 1


def _exp_bounds(fmt):
    """Range of the LSB exponent of a float format's finite codes."""
    return Unpacked.exp_bounds(fmt)
