"""Helpers shared by the hardware generators: argument checks, pipeline cuts, operand unpacking.

Everything about a number format is read from the golden format object itself (``exp_bits``,
``man_bits``, ``bias``, ``specials``, ``subnormals``, ``max_finite_code``, ``nan_code``,
``frac_bits`` ...); nothing here re-derives a width or a bias from a name.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal, Value

from ulpflow.golden.formats import as_format
from ulpflow.golden.rounding import check_overflow, check_rounding  # noqa: F401 (re-used)

#: Private mutation hooks of the rounding module (used by the mutation tests only).
MUTATIONS = (None, "ties_away", "ignore_sticky", "ftz_off")


def checked_init(init):
    """Decorate a unit's ``__init__``: a constructor that raises leaves no half-built object
    behind to trigger Amaranth's "created but never used" warning (whose repr would fail)."""

    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        try:
            init(self, *args, **kwargs)
        except BaseException:
            self._MustUse__silence = True
            raise

    return wrapper


# -- argument checks --------------------------------------------------------------------------
def operand_formats(fmt, kind=None, name="fmt"):
    """``fmt`` or a pair ``(fmt_a, fmt_b)`` -> ``(fmt_a, fmt_b)``, like the golden operations.

    Formats may be given by name (:func:`ulpflow.golden.formats.as_format`); ``kind`` ("float"
    or "fixed") also requires that kind of both.
    """
    if isinstance(fmt, (tuple, list)):
        if len(fmt) != 2:
            raise ValueError(f"{name} must be a format or a pair of formats, got {len(fmt)} items")
        return (as_format(fmt[0], f"{name}[0]", kind=kind),
                as_format(fmt[1], f"{name}[1]", kind=kind))
    fmt = as_format(fmt, name, kind=kind)
    return fmt, fmt


def format_spec(fa, fb):
    """The operand formats as golden's ``fmt`` argument takes them: one format, or a pair."""
    return fa if fa == fb else (fa, fb)


def check_latency(latency):
    """A number of cycles: a non-negative Python or NumPy integer (returned as ``int``)."""
    if isinstance(latency, (bool, np.bool_)) or not isinstance(latency, (int, np.integer)):
        raise TypeError(f"latency must be an integer number of cycles, not {latency!r}")
    if latency < 0:
        raise ValueError(f"latency must be >= 0, got {latency}")
    return int(latency)


def check_mutation(mutate):
    if mutate not in MUTATIONS:
        raise ValueError(f"unknown mutation {mutate!r}; expected one of {MUTATIONS}")
    return mutate


def shape_for(lo, hi):
    """Smallest Amaranth shape holding every integer in ``[lo, hi]``."""
    return Shape.cast(range(lo, hi + 1))


def fixed_range(fmt):
    """``(kmin, kmax)`` of a fixed-point format (``fmt.kmin``, ``fmt.kmax``)."""
    return fmt.kmin, fmt.kmax


# -- pipelining ---------------------------------------------------------------------------------
def allocate_cuts(priority, latency):
    """Choose which named cut points carry a register for ``latency`` cycles.

    ``priority`` lists a unit's cut points, most useful first (the one that best halves the
    critical path comes first). Cycles beyond the number of cut points become output registers
    (retiming may move them). Returns ``(enabled_names, extra_output_registers)``.
    """
    enabled = frozenset(priority[:latency])
    return enabled, max(0, latency - len(priority))


def begin_pipeline(unit):
    """``(m, enabled, extra, st)`` for a unit's ``elaborate``: a fresh module, the unit's cut
    points (``unit.CUTS``) allocated for ``unit.latency`` by :func:`allocate_cuts`, and the
    :class:`Stages` that registers them."""
    m = Module()
    enabled, extra = allocate_cuts(unit.CUTS, unit.latency)
    return m, enabled, extra, Stages(m, enabled)


class Stages:
    """Registers signals at the cut points that :func:`allocate_cuts` enabled."""

    def __init__(self, m: Module, enabled, domain="sync"):
        self.m = m
        self.enabled = frozenset(enabled)
        self.domain = domain

    def cut(self, name, *values):
        if name not in self.enabled:
            return values if len(values) != 1 else values[0]
        out = []
        for i, v in enumerate(values):
            v = Value.cast(v)
            r = Signal(v.shape(), name=f"{name}_r{i}", reset_less=True)
            self.m.d[self.domain] += r.eq(v)
            out.append(r)
        return tuple(out) if len(out) != 1 else out[0]


def delay(m: Module, value, cycles, *, name="dly", reset_less=True, domain="sync"):
    """``value`` delayed by ``cycles`` registers (``cycles == 0``: the value itself)."""
    v = Value.cast(value)
    for i in range(cycles):
        r = Signal(v.shape(), name=f"{name}{i}", reset_less=reset_less)
        m.d[domain] += r.eq(v)
        v = r
    return v


def rp_latency(enabled, extra):
    """Cycles that belong to a unit's RoundPack instance: the enabled cuts named ``rp.*`` (the
    rounding pipeline's own cut points) plus any output registers."""
    return sum(1 for c in enabled if c.startswith("rp.")) + extra


def leading_zero_count(m: Module, sig, width, name):
    """Leading-zero count of ``sig`` (``width`` for zero), as a balanced tree.

    The word is padded with zeros below to a power of two and halved recursively: a half is
    all zeros or not, and the count of the pair is ``Cat(count of the half that decides,
    upper half all zero)``, so the count has ``log2`` levels of 2:1 multiplexers instead of a
    ``width``-long priority chain, and its top bit is known first.
    """
    sig = Value.cast(sig)[:width]
    size = 1 << max(0, (width - 1).bit_length())
    bits = [Const(0, 1)] * (size - width) + [sig[i] for i in range(width)]
    # level 0: (all zero, count) per bit, LSB first
    nodes = [(~b, Const(0, 0)) for b in bits]
    while len(nodes) > 1:
        nxt = []
        for lo, hi in zip(nodes[0::2], nodes[1::2]):
            (zl, cl), (zh, ch) = lo, hi
            nxt.append((zh & zl, Cat(Mux(zh, cl, ch), zh)))
        nodes = nxt
    zero, count = nodes[0]
    lz = Signal(range(width + 1), name=name)
    # a non-zero word counts below ``width``; the zero word is ``width`` (padding bits are
    # below the word, so they only ever add to the count of zero)
    m.d.comb += lz.eq(Mux(zero, width, count))
    return lz


def valid_chain(m: Module, valid_in, valid_out, latency):
    """``valid_out`` follows ``valid_in`` after ``latency`` cycles (reset clears the chain)."""
    m.d.comb += valid_out.eq(delay(m, valid_in, latency, name="valid", reset_less=False))


# -- operand unpacking --------------------------------------------------------------------------
@dataclass
class Unpacked:
    """An operand as ``(-1)**sign * sig * 2**exp`` plus its class flags (hardware values)."""

    sign: Value
    sig: Value     # significand with the hidden bit (man_bits + 1 bits); 0 for zero (and
    #                inf/NaN unless unpacked with clear_specials=False)
    exp: Value     # exponent of sig's LSB (signed)
    nan: Value
    inf: Value
    zero: Value

    @staticmethod
    def exp_bounds(fmt):
        """Range of ``exp`` over the finite codes of a float format (``fmt.lsb_exp_range``)."""
        return fmt.lsb_exp_range


def unpack_float(m: Module, code, fmt, *, name, clear_specials=True):
    """Split a float code into sign, significand, LSB exponent and classes (as golden unpack,
    raw: subnormals keep their stored fraction). Flush-to-zero inputs read as signed zero.

    ``clear_specials=False`` leaves the significand of NaN and infinity codes as the fields
    say (a unit that overrides those results by the flags anyway): the fraction bits then go
    straight through, and only the hidden bit waits for the exponent field's test.
    """
    E, M = fmt.exp_bits, fmt.man_bits
    sign = code[E + M]
    field = code[M:M + E]
    frac = code[:M]
    mag = code[:E + M]
    nan = Signal(name=f"{name}_nan")
    inf = Signal(name=f"{name}_inf")
    zero = Signal(name=f"{name}_zero")
    # the format's own rule, shared with golden unpacking ("finite": the flags stay 0)
    is_nan, is_inf = fmt.special_flags(code, field, frac)
    if is_nan is not False:
        m.d.comb += nan.eq(is_nan)
    if is_inf is not False:
        m.d.comb += inf.eq(is_inf)
    if fmt.subnormals:
        m.d.comb += zero.eq(mag == 0)
    else:
        m.d.comb += zero.eq(field == 0)
    lo, hi = Unpacked.exp_bounds(fmt)
    exp = Signal(shape_for(lo, hi), name=f"{name}_exp")
    sig = Signal(M + 1, name=f"{name}_sig")
    # the LSB exponent is max(field, 1) - bias - M: the subnormal binade shares the first
    # normal binade's grid
    m.d.comb += exp.eq(Mux(field == 0, 1, field) - (fmt.bias + M))
    if not clear_specials and fmt.subnormals:
        m.d.comb += sig.eq(Cat(frac, field != 0))
    elif not clear_specials:
        m.d.comb += sig.eq(Mux(field == 0, 0, Cat(frac, Const(1, 1))))
    else:
        special = nan | inf | zero
        m.d.comb += sig.eq(Mux(special, 0, Mux(field == 0, frac, frac | (1 << M) if M else 1)))
    return Unpacked(sign=sign, sig=sig, exp=exp, nan=nan, inf=inf, zero=zero)


def unpack_fixed(m: Module, code, fmt, *, name):
    """Split a fixed-point code into sign and magnitude (``exp = -frac_bits``)."""
    n = fmt.bits
    if fmt.signed:
        k = code.as_signed()
        sign = code[n - 1]
        sig = Signal(n, name=f"{name}_mag")
        # |most negative| = 2**(n-1) still fits in n unsigned bits
        m.d.comb += sig.eq(Mux(sign, -k, k)[:n])
    else:
        sign = Const(0, 1)
        sig = code
    exp = Const(-fmt.frac_bits, shape_for(-fmt.frac_bits, -fmt.frac_bits))
    return Unpacked(sign=sign, sig=sig, exp=exp, nan=Const(0), inf=Const(0), zero=(sig == 0))


def unpack(m, code, fmt, *, name):
    if fmt.kind == "float":
        return unpack_float(m, code, fmt, name=name)
    return unpack_fixed(m, code, fmt, name=name)


def unpacked_bounds(fmt):
    """``(sig_width, exp_lo, exp_hi)`` of :func:`unpack`'s outputs for a format."""
    if fmt.kind == "float":
        lo, hi = Unpacked.exp_bounds(fmt)
        return fmt.man_bits + 1, lo, hi
    return fmt.bits, -fmt.frac_bits, -fmt.frac_bits

