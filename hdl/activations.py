"""Activation units, twins of golden ``Activation`` implementations (``golden.activations``).

* :class:`Identity`, :class:`ReLU`, :class:`Step` — the exact activations as logic (plus one
  :class:`~ulpflow.hdl.convert.FloatConverter` when the output format differs from the input).
* :class:`TableActivation` — a ROM holding ``impl.table()`` of *any* golden implementation over
  an input format of at most 16 bits (bf16/fp16: 2^16 entries, block RAM at ``latency >= 1``):
  the unit is that implementation, bit for bit.
* :class:`PWLActivation` — the golden piecewise-linear method (``impl.pwl``) in integer
  hardware: grid conversion, segment ROMs, one multiply-add, and the shared rounding module.
* :meth:`ActivationUnit.from_activation` (also :func:`activation_unit`) picks the right one for
  a golden implementation, as ``golden.activations.get_activation`` builds that implementation.

Every unit has ports ``a`` -> ``result`` (:class:`~ulpflow.hdl.signature.UnitSignature`), the
attributes ``impl``, ``in_format``, ``out_format``, ``latency``, and ``emulate(a=)`` =
``{"result": impl(a)}``.
"""

from __future__ import annotations

from fractions import Fraction

from amaranth.hdl import Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory

from ulpflow.golden.activations import get_activation
from ulpflow.golden.formats import as_format

from ._common import (begin_pipeline, check_latency, check_rounding, checked_init, delay,
                      rp_latency, unpack, valid_chain)
from .convert import FloatConverter
from .rounding import RoundPack
from .signature import UnitSignature

__all__ = ["ActivationUnit", "Identity", "ReLU", "Step", "TableActivation", "PWLActivation",
           "activation_unit", "MAX_TABLE_BITS"]

#: Widest input format a :class:`TableActivation` accepts (a 65536-entry ROM: every bf16/fp16).
MAX_TABLE_BITS = 16




def _check_activation(impl):
    # duck-typed so that activations rebuilt from JSON (same class) and future kinds work
    for attr in ("name", "method", "in_format", "out_format", "rounding", "table"):
        if not hasattr(impl, attr):
            raise TypeError(f"impl must be a golden Activation, not {impl!r}")
    return impl


class ActivationUnit(wiring.Component):
    """What every activation unit shares: ``a`` -> ``result`` and its golden implementation.

    ``ActivationUnit.from_activation(impl)`` builds the hardware for a golden implementation:
    exact identity/relu/step become logic, ``method="pwl"`` a :class:`PWLActivation`, anything
    else over an input format of at most :data:`MAX_TABLE_BITS` bits a :class:`TableActivation`.
    On a subclass it builds that class (``TableActivation.from_activation(impl)``).
    """

    def _ports(self):
        return UnitSignature.unary(self.in_format, self.out_format)

    @classmethod
    def from_activation(cls, impl, *, latency=0):
        impl = _check_activation(impl)
        if cls is ActivationUnit:
            if impl.method == "exact":
                cls = {"identity": Identity, "relu": ReLU, "step": Step}[impl.name]
            elif impl.method == "pwl":
                cls = PWLActivation
            else:
                cls = TableActivation
        return cls._from_activation(impl, latency=latency)

    @classmethod
    def _from_activation(cls, impl, *, latency):
        return cls(impl, latency=latency)

    def emulate(self, **inputs):
        """``{"result": impl(a)}``: the golden implementation on the input codes."""
        v = self.signature.cast_inputs(inputs, repr(self))
        return {"result": self.impl(v["a"])}


class _Exact(ActivationUnit):
    """Shared logic of identity / relu / step (golden ``method="exact"``)."""

    NAME = None

    @checked_init
    def __init__(self, in_fmt, out_fmt=None, *, rounding="RNE", latency=0):
        self.in_format = as_format(in_fmt, "in_fmt")
        self.out_format = self.in_format if out_fmt is None else as_format(out_fmt, "out_fmt")
        self.rounding = check_rounding(rounding)
        self.latency = check_latency(latency)
        if self.NAME == "step" and self.out_format.one_code is None:
            raise ValueError(f"step needs the value 1 in its output format, and {self.out_format} "
                             "cannot represent it")
        self._impl = None
        super().__init__(self._ports())

    @classmethod
    def _from_activation(cls, impl, *, latency):
        if impl.method != "exact" or impl.name != cls.NAME:
            raise ValueError(f"{cls.__name__} implements the exact {cls.NAME}, not {impl!r}")
        unit = cls(impl.in_format, impl.out_format, rounding=impl.rounding, latency=latency)
        unit._impl = impl
        return unit

    @property
    def impl(self):
        """The golden implementation: ``get_activation(NAME, in_format, out_format, rounding=)``
        (or the one the unit was built from)."""
        if self._impl is None:
            self._impl = get_activation(self.NAME, self.in_format, self.out_format,
                                        rounding=self.rounding)
        return self._impl

    def __repr__(self):
        return (f"{type(self).__name__}({self.in_format}, {self.out_format}, "
                f"rounding={self.rounding!r}, latency={self.latency})")

    def _classes(self, m):
        """(nan, zero, negative) of the input, as golden classifies it (FTZ: subnormal = zero)."""
        u = unpack(m, self.i.payload.a, self.in_format, name="in")
        return u.nan, u.zero, u.sign

    def _converted(self, m):
        """``convert(a, in, out, rounding)`` as logic: a wire when the formats agree, except for
        the canonical NaN and flushed subnormals, else a FloatConverter."""
        fi, fo = self.in_format, self.out_format
        if fi == fo:
            if fi.kind == "fixed":
                return self.i.payload.a
            nan, zero, neg = self._classes(m)
            out = Signal(fo.bits, name="conv")
            signed_zero = Const(0, fo.bits) if fo.specials == "fnuz" else (neg << (fo.bits - 1))
            m.d.comb += out.eq(Mux(zero, signed_zero, self.i.payload.a))
            return out
        m.submodules.convert = conv = FloatConverter(fi, fo, rounding=self.rounding)
        m.d.comb += conv.i.payload.a.eq(self.i.payload.a)
        return conv.o.payload.result

    def elaborate(self, platform):
        m = Module()
        fo = self.out_format
        nan, zero, neg = self._classes(m)
        y = Signal(fo.bits, name="y")
        if self.NAME == "step":
            m.d.comb += y.eq(Mux(~neg | zero, fo.one_code, fo.zero_code))
        else:
            conv = self._converted(m)
            if self.NAME == "relu":
                m.d.comb += y.eq(Mux(neg | zero, fo.zero_code, conv))
            else:
                m.d.comb += y.eq(conv)
        out = Signal(fo.bits, name="out")
        m.d.comb += out.eq(Mux(nan, fo.nan_result_code, y))
        m.d.comb += self.o.payload.result.eq(delay(m, out, self.latency, name="out"))
        valid_chain(m, self.i.valid, self.o.valid, self.latency)
        return m


class Identity(_Exact):
    """identity(x) = x (converted with one rounding when ``out_fmt`` differs; NaN → canonical
    NaN or the zero code). Twin of ``get_activation("identity", in_fmt, out_fmt)``.

    Ports: stream ``i`` (field ``a``) → stream ``o`` (field ``result``); ``latency`` output
    registers."""

    NAME = "identity"


class ReLU(_Exact):
    """relu(x) = x for x > 0, else +0; NaN → NaN (the zero code where the output has no NaN).
    Twin of ``get_activation("relu", in_fmt, out_fmt)``."""

    NAME = "relu"


class Step(_Exact):
    """step(x) = 1 for x >= 0 (so step(-0) = 1), else +0; NaN → NaN (or the zero code).
    Twin of ``get_activation("step", in_fmt, out_fmt)``."""

    NAME = "step"


class TableActivation(ActivationUnit):
    """A ROM with the full output table of a golden activation implementation.

    Parameters
    ----------
    impl : golden Activation
        Any implementation (exact, cr, faithful, kulp, pwl, or one rebuilt from JSON) whose input
        format has at most :data:`MAX_TABLE_BITS` bits. The ROM contents are ``impl.table()``.
    latency : int
        0: asynchronous read (LUTs); 1: synchronous read (block RAM); more: output registers.

    Members
    -------
    i : In(stream)
        Payload field ``a`` (a code of ``in_format``).
    o : Out(stream)
        Payload field ``result`` (a code of ``out_format``); ``o.valid`` follows ``i.valid``
        after ``latency`` cycles.
    """

    @checked_init
    def __init__(self, impl, *, latency=0):
        self.impl = _check_activation(impl)
        self.in_format, self.out_format = impl.in_format, impl.out_format
        if self.in_format.bits > MAX_TABLE_BITS:
            raise ValueError(f"TableActivation takes input formats of at most {MAX_TABLE_BITS} "
                             f"bits, got {self.in_format} ({self.in_format.bits} bits)")
        self.latency = check_latency(latency)
        self.table = [int(v) for v in impl.table()]
        super().__init__(self._ports())

    def __repr__(self):
        return f"TableActivation({self.impl!r}, latency={self.latency})"

    def elaborate(self, platform):
        m = Module()
        m.submodules.rom = rom = Memory(shape=self.out_format.bits, depth=len(self.table),
                                        init=self.table)
        port = rom.read_port(domain="comb" if self.latency == 0 else "sync")
        m.d.comb += [port.addr.eq(self.i.payload.a), self.o.payload.result.eq(
            delay(m, port.data, max(0, self.latency - 1), name="out"))]
        valid_chain(m, self.i.valid, self.o.valid, self.latency)
        return m


class PWLActivation(ActivationUnit):
    """The golden piecewise-linear activation (``method="pwl"``) in hardware.

    Follows ``impl.pwl`` step by step: NaN and the two tails by comparison on the input code;
    on the grid ``k = convert(x, in, grid, grid_rounding)``, ``u = k + 2**(n-1)``,
    ``seg = u >> h``, ``t = u & (2**h - 1)``, ``acc = slopes[seg]·t + intercepts[seg]`` (segment
    ROMs, one multiplier), then ``acc · 2**-(Fs+F)`` rounded once by the shared RoundPack.

    Parameters
    ----------
    impl : golden Activation with ``method == "pwl"``
    latency : int
        Registers, in order: after the multiply-add, after the grid conversion, inside the
        rounding module; further cycles are output registers.

    Members
    -------
    i : In(stream)
        Payload field ``a``.
    o : Out(stream)
        Payload field ``result``; ``o.valid`` follows ``i.valid`` after ``latency`` cycles.
    """

    CUTS = ("acc", "grid", "rp.norm", "rp.inc")

    @checked_init
    def __init__(self, impl, *, latency=0):
        self.impl = _check_activation(impl)
        if impl.method != "pwl":
            raise ValueError(f"PWLActivation needs a method='pwl' activation, not {impl!r}")
        self.pwl = impl.pwl
        self.in_format, self.out_format = impl.in_format, impl.out_format
        self.latency = check_latency(latency)
        super().__init__(self._ports())

    def __repr__(self):
        return f"PWLActivation({self.impl!r}, latency={self.latency})"

    def _tails(self, m):
        """(nan, left, right) flags of the input, from its code (no arithmetic on values)."""
        fi, p = self.in_format, self.pwl
        R = p.right_bound  # the grid is [-R, R)
        if fi.kind == "fixed":
            a = self.i.payload.a
            k = a.as_signed() if fi.signed else a.as_unsigned()
            bound = int(R * (1 << fi.frac_bits))  # R is a power of two: an integer here
            return Const(0, 1), k < -bound, k >= bound
        u = unpack(m, self.i.payload.a, fi, name="in")
        E, M = fi.exp_bits, fi.man_bits
        mag = self.i.payload.a[:E + M]
        # largest magnitude code <= R and smallest >= R (golden's own single-rounding encode)
        lo = int(fi.encode([Fraction(R)], "RTZ")[0])
        hi = int(fi.encode([Fraction(R)], "RUP")[0])
        left = u.sign & ~u.nan & (mag > lo)
        hi_value = fi.decode_fraction([hi])[0]
        if isinstance(hi_value, float) or hi_value < R:  # NaN, or saturated below R
            right = Const(0, 1)  # no input reaches R
        else:
            right = ~u.sign & ~u.nan & (mag >= hi)
        return u.nan, left, right

    def elaborate(self, platform):
        m, enabled, extra, st = begin_pipeline(self)
        p, fo = self.pwl, self.out_format

        nan, left, right = self._tails(m)
        # the tail result is ready at once; it waits beside the grid datapath
        tail = Signal(fo.bits, name="tail")
        if p.right == "identity":
            m.submodules.identity = ident = FloatConverter(self.in_format, fo,
                                                           rounding=p.rounding)
            m.d.comb += ident.i.payload.a.eq(self.i.payload.a)
            right_code = ident.o.payload.result
        else:
            right_code = Const(p.right_code, fo.bits)
        m.d.comb += tail.eq(Mux(nan, fo.nan_result_code, Mux(left, p.left_code, right_code)))
        use_tail = nan | left | right
        tail = delay(m, tail, self.latency, name="tail_d")
        use_tail = delay(m, use_tail, self.latency, name="use_tail_d")

        g = p.grid_format
        n, h = g.bits, p.offset_bits
        m.submodules.grid = grid = FloatConverter(self.in_format, g, rounding=p.grid_rounding)
        m.d.comb += grid.i.payload.a.eq(self.i.payload.a)
        k = st.cut("grid", grid.o.payload.result)
        # u = k + 2**(n-1): flip the sign bit of the two's complement code
        u = Signal(n, name="u")
        m.d.comb += u.eq(k ^ (1 << (n - 1)))
        seg = u[h:] if h < n else Const(0, 1)
        t = u[:h]

        m.submodules.slopes = srom = Memory(shape=signed(p.slope_bits), depth=p.segments,
                                            init=[int(v) for v in p.slopes])
        m.submodules.intercepts = irom = Memory(shape=signed(p.intercept_bits),
                                                depth=p.segments,
                                                init=[int(v) for v in p.intercepts])
        sp, ip = srom.read_port(domain="comb"), irom.read_port(domain="comb")
        m.d.comb += [sp.addr.eq(seg), ip.addr.eq(seg)]
        acc = Signal(signed(p.acc_bits), name="acc")
        m.d.comb += acc.eq(sp.data * t.as_unsigned() + ip.data)
        mag = Signal(p.acc_bits, name="acc_mag")
        m.d.comb += mag.eq(Mux(acc < 0, -acc, acc))
        sign, mag = st.cut("acc", acc < 0, mag)

        rp = RoundPack(fo, sig_width=p.acc_bits, exp_range=(-p.acc_frac_bits, -p.acc_frac_bits),
                       rounding=p.rounding, latency=rp_latency(enabled, extra))
        m.submodules.round = rp
        rp_in = rp.i.payload
        m.d.comb += [rp_in.sign.eq(sign), rp_in.sig.eq(mag), rp_in.exp.eq(-p.acc_frac_bits),
                     rp_in.sticky.eq(0), rp_in.nan.eq(0), rp_in.inf.eq(0)]
        m.d.comb += self.o.payload.result.eq(Mux(use_tail, tail, rp.o.payload.result))
        valid_chain(m, self.i.valid, self.o.valid, self.latency)
        return m


def activation_unit(impl, *, latency=0):
    """The hardware unit for a golden activation implementation: the same as
    :meth:`ActivationUnit.from_activation` (kept under this name for existing callers)."""
    return ActivationUnit.from_activation(impl, latency=latency)
