"""The one rounding module of the hardware, twin of ``ulpflow.golden.rounding.round_pack``.

Every unit of :mod:`ulpflow.hdl` computes its result exactly as ``(sign, sig, exp, sticky)`` —
the value ``(-1)**sign * (sig + tiny) * 2**exp`` where ``tiny`` in (0, 1) is present iff
``sticky`` — and ends in :class:`RoundPack`, which rounds it once to a float or fixed-point
format. Mode, subnormal/flush-to-zero behaviour, specials style, saturation and the fixed-point
overflow policy are fixed at elaboration, exactly as the golden kernel takes them as arguments.

Float datapath (one pass, no iteration)::

    T     = exp + (W-1) - emin          # how far sig's MSB position is above the subnormal grid
    L     = min(lzc(sig), T)            # normalise, but never below the subnormal grid
    n     = sig << L  (or >> -L, the lost bits go to sticky)
    kept  = n[W-M-1:W], round bit r = n[W-M-2], sticky s = rest | lost | sticky
    mag   = (T - L) << M  +  kept + inc(mode, sign, kept[0], r, s)

``mag`` is the magnitude code with an unbounded exponent field: one adder covers subnormals,
normals and the carry out of rounding, and overflow is the single comparison
``mag > max_finite_code`` (round first with unbounded exponent, then compare), as in golden.

How the hardware gets there cheaply: ``L`` is the leading-zero count (a balanced tree) of
``sig`` with a marker bit ORed in at position ``W-1-T`` (T decoded one-hot, beside the count),
so the clamp at the subnormal grid costs no comparator after the count; the bits a right shift
loses are found by masking ``sig`` with the low ``-T`` bits, beside the shifter (no shift back
and compare); when no exponent in ``exp_range`` reaches below the subnormal grid the right-shift
path is not built at all; a caller whose significands arrive normalised says so with
``max_lz`` and gets a shifter of that reach; the overflow test runs on the increment's operands
(the bits above the largest code's trailing ones, plus the carry into them), beside the
increment's carry chain.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Mux, Signal, signed
from amaranth.lib import wiring

from ulpflow.golden.formats import as_format
from ulpflow.golden.rounding import round_pack

from ._common import (begin_pipeline, check_latency, check_mutation,
                      check_rounding, checked_init, delay, fixed_range, leading_zero_count,
                      shape_for, valid_chain)
from .signature import UnitSignature

__all__ = ["RoundPack", "round_increment"]


def round_increment(mode, sign, lsb, r, s, *, mutate=None):
    """The rounding decision: 1 when the kept magnitude must go up by one unit.

    ``lsb`` is the kept LSB, ``r`` the first dropped bit, ``s`` the OR of everything below it
    (sticky included). Same truth table as the golden kernel (``golden.kernel``, called as
    ``golden.rounding.round_pack``; docs/semantics.md, "Rounding").
    """
    if mutate == "ties_away" and mode == "RNE":
        mode = "RNA"
    if mode == "RNE":
        return r & (s | lsb)
    if mode == "RNA":
        return r
    if mode == "RTZ":
        return Const(0, 1)
    if mode == "RUP":
        return ~sign & (r | s)
    return sign & (r | s)  # RDN


class RoundPack(wiring.Component):
    """Round ``(-1)**sign * (sig [+ sticky]) * 2**exp`` once to codes of ``fmt``.

    Hardware twin of :func:`ulpflow.golden.rounding.round_pack`; every arithmetic unit ends in
    one instance.

    Parameters
    ----------
    fmt : FloatFormat or FixedFormat
        Destination format.
    sig_width : int
        Width of the unsigned significand input.
    exp_range : (int, int)
        Range of the exponent input (of ``sig``'s LSB) the caller can produce; sets the signed
        width of ``exp``.
    rounding : str
        "RNE", "RNA", "RTZ", "RUP" or "RDN" (None means RNE).
    overflow : str, optional
        Fixed point only: "SAT" or "WRAP"; default the format's own.
    latency : int
        Registers: 1 after the normalising shift, 2 also after the rounding adder, 3 also
        between the leading-zero count and the normalising shift (floats), more at the output.
    max_lz : int, optional
        The most leading zeros (of ``sig_width`` bits) a non-zero ``sig`` can have (default
        ``sig_width - 1``: any). A caller that delivers normalised significands (a multiplier of
        normalised operands: at most 1) says so here, and the normalising shifter and its
        leading-zero count shrink to that many positions; a non-zero ``sig`` with more leading
        zeros is outside the contract.

    Members
    -------
    i : In(stream)
        Payload fields ``sign``, ``sig``, ``exp``, ``sticky``, ``nan``, ``inf``:
    sign, sig, exp, sticky
        The exact value (sticky: non-zero bits below ``sig``'s LSB; callers keep >= 2 guard bits
        below the rounding position whenever it can be set, as golden requires).
    nan, inf
        1 bit each: the exact result is NaN / an infinity of sign ``sign`` (produced by the
        caller's special case logic). The codes come from the format's policy, evaluated at
        elaboration as golden ``round_pack`` applies it: NaN gives ``fmt.nan_result_code`` (the
        NaN, or +0 in a format without NaN: ``finite`` floats and fixed point), an exact
        infinity ``fmt.inf_result_code(sign)`` (±inf, NaN for fn/fnuz, ±max when saturating or
        finite, the range ends in fixed point), an overflow ``fmt.overflow_code(sign, rounding)``.
    o : Out(stream)
        Payload field ``result`` (a code of ``fmt``); ``o.valid`` is ``i.valid`` delayed by
        ``latency`` cycles (both streams are always ready).

    Attributes
    ----------
    out_format : FloatFormat or FixedFormat
        The destination format (``fmt``).

    ``emulate(sign=, sig=, exp=, sticky=, nan=, inf=)`` gives ``{"result": codes}`` from golden
    ``round_pack`` with this format, mode and overflow policy.

    Notes
    -----
    ``sig == 0`` with ``sticky`` set lies outside golden's contract (no guard bits at all); the
    hardware then rounds a value below the subnormal grid, golden a value just below
    ``2**exp``. No unit produces it.

    ``_mutate`` is a private hook for mutation tests only: ``"ties_away"`` rounds RNE ties away
    from zero, ``"ignore_sticky"`` drops the sticky input, ``"ftz_off"`` keeps subnormal
    results of flush-to-zero formats. A bench that passes such a unit proves nothing.
    """

    CUTS = ("norm", "inc", "lzc")

    @checked_init
    def __init__(self, fmt, *, sig_width, exp_range, rounding="RNE", overflow=None, latency=0,
                 max_lz=None, _mutate=None):
        fmt = self.out_format = as_format(fmt, "fmt")
        self.rounding = check_rounding(rounding)
        # the format states the rule (SAT/WRAP, WRAP undefined for symmetric formats, floats
        # take no overflow=), as for golden round_pack
        self.overflow = fmt.check_overflow_mode(overflow)
        if not isinstance(sig_width, int) or sig_width < 1:
            raise ValueError(f"sig_width must be a positive integer, got {sig_width!r}")
        lo, hi = exp_range
        if lo > hi:
            raise ValueError(f"exp_range must be (lo, hi) with lo <= hi, got {exp_range!r}")
        self.sig_width = sig_width
        if max_lz is None:
            max_lz = sig_width - 1
        if isinstance(max_lz, bool) or not isinstance(max_lz, int) or not (
                0 <= max_lz < sig_width):
            raise ValueError(f"max_lz must be an integer in [0, sig_width) = [0, {sig_width}), "
                             f"got {max_lz!r}")
        self.max_lz = max_lz
        self.exp_range = (int(lo), int(hi))
        self.latency = check_latency(latency)
        self._mutate = check_mutation(_mutate)
        exp_shape = shape_for(min(lo, -1), max(hi, 0))  # always signed
        super().__init__(UnitSignature(
            {"sign": 1, "sig": sig_width, "exp": exp_shape, "sticky": 1, "nan": 1, "inf": 1},
            {"result": fmt}))

    def __repr__(self):
        return (f"RoundPack({self.out_format}, sig_width={self.sig_width}, "
                f"exp_range={self.exp_range}, rounding={self.rounding!r}, latency={self.latency})")

    def emulate(self, **inputs):
        """Golden ``round_pack`` with this unit's format, mode and overflow policy.

        ``inputs`` are arrays ``sign``, ``sig``, ``exp``, ``sticky``, ``nan``, ``inf`` (the
        payload fields); returns ``{"result": codes}``.
        """
        v = self.signature.cast_inputs(inputs, repr(self))
        kw = {"overflow": self.overflow} if self.overflow is not None else {}
        return {"result": round_pack(v["sign"] != 0, v["sig"], v["exp"], self.out_format,
                                     self.rounding, sticky=v["sticky"] != 0, nan=v["nan"] != 0,
                                     inf=v["inf"] != 0, **kw)}

    # ------------------------------------------------------------------------------------------
    def elaborate(self, platform):
        m, enabled, extra, st = begin_pipeline(self)
        if self.out_format.kind == "float":
            code = self._float(m, st)
        else:
            code = self._fixed(m, st)
        m.d.comb += self.o.payload.result.eq(delay(m, code, extra, name="out"))
        valid_chain(m, self.i.valid, self.o.valid, self.latency)
        return m

    def _sticky_in(self):
        return Const(0, 1) if self._mutate == "ignore_sticky" else self.i.payload.sticky

    # -- float --------------------------------------------------------------------------------
    def _float(self, m, st):
        fmt = self.out_format
        E, M = fmt.exp_bits, fmt.man_bits
        # keep at least a round bit and one more below the M+1 kept bits
        W = max(self.sig_width, M + 3)
        pad = W - self.sig_width
        sig = Signal(W, name="sig_w")
        m.d.comb += sig.eq(self.i.payload.sig << pad)
        exp_lo, exp_hi = self.exp_range[0] - pad, self.exp_range[1] - pad
        off = (W - 1) - fmt.emin
        t_lo, t_hi = exp_lo + off, exp_hi + off
        # T's shape is unsigned when no exponent can reach below the subnormal grid: the
        # right-shift path below then does not exist at all (not merely never taken)
        T = Signal(shape_for(t_lo, max(t_hi, 0)), name="T")
        m.d.comb += T.eq(self.i.payload.exp + (off - pad))  # one adder, one constant
        zero = Signal(name="zero")
        m.d.comb += zero.eq(sig == 0)

        # L = min(lz, T) for T >= 0: normalise, but never below the subnormal grid. The clamp
        # is a marker bit ORed in at the position where the shift must stop (T decoded
        # one-hot, off the critical path), so the leading-zero count of ``sig | marker`` is L.
        # Only the top max_lz + 1 bits can hold the leading one of a non-zero sig.
        z = self.max_lz
        top = sig[W - 1 - z:]
        marker = Signal(z + 1, name="marker")
        for t in range(max(t_lo, 0), min(t_hi, z - 1) + 1):
            m.d.comb += marker[z - t].eq(T == t)
        L = leading_zero_count(m, top | marker, z + 1, "lzc")
        sign, sticky_in = self.i.payload.sign, self._sticky_in()
        nan, inf = self.i.payload.nan, self.i.payload.inf
        subgrid, rshift = Const(0, 1), Const(0, 1)
        if t_lo < 0:
            # below the subnormal grid: a right shift by -T instead (clipped; found from the
            # exponent alone, before the cut)
            subgrid = Signal(name="subgrid")
            rshift = Signal(range(W + 2), name="rshift")
            m.d.comb += [subgrid.eq(T < 0),
                         rshift.eq(Mux(-T > W + 1, W + 1, (-T)[:len(rshift)]))]

        sig, L, T, zero, subgrid, rshift, sticky_in, sign, nan, inf = st.cut(
            "lzc", sig, L, T, zero, subgrid, rshift, sticky_in, sign, nan, inf)

        n = Signal(W, name="n")
        m.d.comb += n.eq((sig << L)[:W])

        # binade above the subnormal grid (the field minus one); clipped once it surely overflows
        cap = 1 << E
        binade = Signal(range(cap + 1), name="binade")
        diff = T - L
        lost = Const(0, 1)
        if t_lo < 0:
            # the bits the right shift loses are the ``lost`` flag, found by masking sig with
            # the low bits (rshift > i) beside the shifter (no shift back and compare)
            lost = Signal(name="lost")
            m.d.comb += lost.eq(subgrid & Cat(sig[i] & (rshift > i) for i in range(W)).any())
            with m.If(subgrid):
                m.d.comb += n.eq(sig >> rshift)
        with m.If(~zero & ~subgrid):
            m.d.comb += binade.eq(Mux(diff >= cap, cap, diff[:len(binade)]))

        kept = n[W - M - 1:]
        r = n[W - M - 2]
        below = n[:W - M - 2] != 0 if W - M - 2 > 0 else Const(0, 1)
        s = below | lost | sticky_in

        kept, r, s, binade, sign, nan, inf = st.cut("norm", kept, r, s, binade, sign, nan, inf)

        inc = round_increment(self.rounding, sign, kept[0], r, s, mutate=self._mutate)
        # the hidden bit joins the binade on the short exponent adder; the one long carry chain
        # is the increment
        pre = Signal(range((cap << M) + (1 << (M + 1))), name="pre")
        m.d.comb += pre.eq(Cat(kept[:M], binade + kept[M]))
        mag = Signal(range((cap << M) + (1 << (M + 1)) + 1), name="mag")
        m.d.comb += mag.eq(pre + inc)
        # overflow: round first, then compare, but from the increment's operands, beside its
        # carry chain. The low bits of the largest finite code are usually all ones (IEEE: the
        # whole fraction), and nothing exceeds them: only the bits above compare, and the
        # increment reaches them only as a carry out of all-ones low bits.
        max_mag = fmt.max_finite_code
        ones = (~max_mag & (max_mag + 1)).bit_length() - 1  # trailing ones of max_mag
        hi, top = pre[ones:], max_mag >> ones
        carry = inc & (pre[:ones] == (1 << ones) - 1) if ones else inc
        over = Signal(name="over")
        m.d.comb += over.eq((hi > top) | ((hi == top) & carry))

        mag, over, sign, nan, inf = st.cut("inc", mag, over, sign, nan, inf)

        if not fmt.subnormals and self._mutate != "ftz_off":
            flushed = Signal.like(mag, name="mag_ftz")
            m.d.comb += flushed.eq(Mux(mag < (1 << M), 0, mag))
            mag = flushed

        code = Signal(fmt.bits, name="code")
        out_sign = sign & (mag != 0) if fmt.specials == "fnuz" else sign
        m.d.comb += code.eq(Cat(mag[:E + M], out_sign))

        def by_sign(policy):
            """The format's code for this case, per sign (constants at elaboration)."""
            pos, neg = policy(False), policy(True)
            return Const(pos, fmt.bits) if pos == neg else Mux(sign, neg, pos)

        with m.If(nan):
            m.d.comb += code.eq(fmt.nan_result_code)
        with m.Elif(inf):
            m.d.comb += code.eq(by_sign(fmt.inf_result_code))
        with m.Elif(over):
            m.d.comb += code.eq(by_sign(lambda s_: fmt.overflow_code(s_, self.rounding)))
        return code

    # -- fixed --------------------------------------------------------------------------------
    def _fixed(self, m, st):
        fmt = self.out_format
        F, nbits = fmt.frac_bits, fmt.bits
        W = self.sig_width
        kmin, kmax = fixed_range(fmt)
        p = self.i.payload
        # the third cut point ("lzc", a float stage) registers the inputs here
        sig, exp, sticky_in, sign, nan, inf = st.cut("lzc", p.sig, p.exp, self._sticky_in(),
                                                     p.sign, p.nan, p.inf)
        # S = exp + F: left shift when >= 0 (exact), else right shift with round/sticky bits
        lo, hi = self.exp_range
        S = Signal(shape_for(min(lo + F, -1), max(hi + F, 1)), name="S")
        m.d.comb += S.eq(exp + F)
        kept = Signal(W + nbits, name="kept")
        r = Signal(name="r")
        s = Signal(name="s")
        rshift = Signal(range(W + 3), name="rshift")
        lshift = Signal(range(nbits + 1), name="lshift")
        with m.If(S >= 0):
            # 2**n ulps or more always overflows SAT and wraps to the same low bits: clip at n
            m.d.comb += lshift.eq(Mux(S > nbits, nbits, S[:len(lshift)].as_unsigned()))
            m.d.comb += [kept.eq(sig << lshift), s.eq(sticky_in)]
        with m.Else():
            m.d.comb += rshift.eq(Mux(-S > W + 2, W + 2, (-S)[:len(rshift)]))
            ext = Signal(W + 2, name="ext")
            t = Signal(W + 2, name="t")
            m.d.comb += [ext.eq(sig << 2), t.eq(ext >> rshift)]
            # the bits shifted out, by a mask of the low rshift bits (ext's two low bits are 0)
            lost = Cat(sig[i] & (rshift > i + 2) for i in range(W)).any()
            m.d.comb += [kept.eq(t[2:]), r.eq(t[1]), s.eq(t[0] | lost | sticky_in)]

        kept, r, s, sign, nan, inf = st.cut("norm", kept, r, s, sign, nan, inf)

        inc = round_increment(self.rounding, sign, kept[0], r, s, mutate=self._mutate)
        k = Signal(W + nbits + 1, name="k")
        m.d.comb += k.eq(kept + inc)

        k, sign, nan, inf = st.cut("inc", k, sign, nan, inf)

        v = Signal(signed(W + nbits + 2), name="v")
        m.d.comb += v.eq(Mux(sign, -k, k))
        code = Signal(nbits, name="code")
        m.d.comb += code.eq(v[:nbits])
        if self.overflow == "SAT":
            with m.If(~sign & (k > kmax)):
                m.d.comb += code.eq(fmt.overflow_code(False, self.rounding, self.overflow))
            with m.Elif(sign & (k > -kmin)):
                m.d.comb += code.eq(fmt.overflow_code(True, self.rounding, self.overflow))
        with m.If(nan):
            m.d.comb += code.eq(fmt.nan_result_code)
        with m.Elif(inf):
            m.d.comb += code.eq(Mux(sign, fmt.inf_result_code(True), fmt.inf_result_code(False)))
        return code
