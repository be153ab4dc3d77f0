"""Independent oracles for the golden-model tests.

Nothing in this module imports ``ulpflow``: every expected result comes from
third-party code (NumPy float16/float32, ml_dtypes, gmpy2/MPFR, apytypes) plus a
thin layer of bookkeeping written here (format table, bit-field packing of values
that are already exactly representable, overflow mapping for the non-IEEE styles).
That bookkeeping is itself checked against ml_dtypes/apytypes in
``test_formats.py``.

Contents
--------
FloatSpec / FixedSpec
    Plain descriptions of a format, taken from docs/semantics.md §1.1-§1.2, not from golden.
ml_binop, numpy_binop
    RNE arithmetic through ml_dtypes / NumPy (bit views, never value casts).
gmpy2_op, gmpy2_round_fractions
    MPFR arithmetic in RNE/RTZ/RUP/RDN with precision M+1, subnormalize=True and the
    format's exponent range; RNA by exact tie detection (MPFR has no ties-away mode).
apy_float_op, apy_float_cast, apy_fixed_op, apy_fixed_from_values
    apytypes (IEEE-like float formats and two's-complement fixed point).
mismatch_mask, assert_codes_equal
    Comparison by NaN class, with a report that decodes the first failing case.
corner_pairs, corner_triples
    Corner-case-rich operand generator for the wide formats.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from fractions import Fraction

import apytypes as apy
import gmpy2
import ml_dtypes
import numpy as np

ROUNDING_MODES = ("RNE", "RNA", "RTZ", "RUP", "RDN")
DIRECTED = ("RTZ", "RUP", "RDN")


# --------------------------------------------------------------------------------------
# Format descriptions (from docs/semantics.md §1.1-§1.2, independent of golden/formats.py)
# --------------------------------------------------------------------------------------

def _uint_dtype(bits):
    for dt in (np.uint8, np.uint16, np.uint32, np.uint64):
        if bits <= np.dtype(dt).itemsize * 8:
            return np.dtype(dt)
    raise ValueError(f"no unsigned dtype holds {bits} bits")


@dataclasses.dataclass(frozen=True)
class FloatSpec:
    """A float format as docs/semantics.md §1.1 defines it; ``name`` is what golden parses."""

    name: str
    E: int
    M: int
    bias: int
    specials: str = "ieee"
    subnormals: bool = True
    saturate: bool = False

    @property
    def bits(self):
        return 1 + self.E + self.M

    @property
    def dtype(self):
        return _uint_dtype(self.bits)

    @property
    def sign_bit(self):
        return 1 << (self.bits - 1)

    @property
    def frac_mask(self):
        return (1 << self.M) - 1

    @property
    def exp_all_ones(self):
        return (1 << self.E) - 1

    @property
    def emin(self):
        return 1 - self.bias

    @property
    def emax(self):
        top = self.exp_all_ones - (1 if self.specials == "ieee" else 0)
        return top - self.bias

    @property
    def has_inf(self):
        return self.specials == "ieee"

    @property
    def has_nan(self):
        return self.specials != "finite"

    @property
    def has_neg_zero(self):
        return self.specials != "fnuz"

    @property
    def max_finite_code(self):
        top = self.exp_all_ones - (1 if self.specials == "ieee" else 0)
        frac = self.frac_mask - (1 if self.specials == "fn" else 0)
        return (top << self.M) | frac

    @property
    def max_finite(self):
        return float(self.decode(np.array([self.max_finite_code]))[0])

    @property
    def min_normal(self):
        return math.ldexp(1.0, self.emin)

    @property
    def min_subnormal(self):
        return math.ldexp(1.0, self.emin - self.M)

    @property
    def canonical_nan(self):
        if self.specials == "ieee":
            return (self.exp_all_ones << self.M) | (1 << (self.M - 1))
        if self.specials == "fn":
            return self.sign_bit - 1
        if self.specials == "fnuz":
            return self.sign_bit
        return None

    @property
    def inf_code(self):
        return (self.exp_all_ones << self.M) if self.has_inf else None

    def all_codes(self):
        return np.arange(1 << self.bits, dtype=np.uint64).astype(self.dtype)

    def fields(self, codes):
        c = np.asarray(codes).astype(np.int64)
        return (c >> (self.bits - 1)) & 1, (c >> self.M) & self.exp_all_ones, c & self.frac_mask

    def is_nan(self, codes):
        s, e, f = self.fields(codes)
        if self.specials == "ieee":
            return (e == self.exp_all_ones) & (f != 0)
        if self.specials == "fn":
            return (e == self.exp_all_ones) & (f == self.frac_mask)
        if self.specials == "fnuz":
            return (s == 1) & (e == 0) & (f == 0)
        return np.zeros(np.shape(codes), dtype=bool)

    def is_inf(self, codes):
        s, e, f = self.fields(codes)
        if self.specials != "ieee":
            return np.zeros(np.shape(codes), dtype=bool)
        return (e == self.exp_all_ones) & (f == 0)

    def decode(self, codes):
        """Exact float64 value of each code (subnormal codes keep their value)."""
        s, e, f = self.fields(codes)
        mag = np.where(e == 0,
                       np.ldexp(f.astype(np.float64), self.emin - self.M),
                       np.ldexp((f + (1 << self.M)).astype(np.float64), e - self.bias - self.M))
        mag = np.where(self.is_inf(codes), np.inf, mag)
        val = np.where(s == 1, -mag, mag)
        return np.where(self.is_nan(codes), np.nan, val)

    def input_value(self, codes):
        """Value an operation sees: FTZ formats read subnormal inputs as signed zero."""
        v = self.decode(codes)
        if not self.subnormals:
            v = np.where(np.abs(v) < self.min_normal, np.copysign(0.0, v), v)
        return v

    def encode_exact(self, values):
        """Codes of float64 values that must already be representable (raises otherwise).

        NaN becomes the canonical NaN; -0 becomes +0 in formats without -0.
        """
        v = np.asarray(values, dtype=np.float64)
        out = np.zeros(v.shape, dtype=np.int64)
        nan = np.isnan(v)
        if nan.any():
            if not self.has_nan:
                raise AssertionError(f"oracle produced NaN for {self.name}, which has none")
            out[nan] = self.canonical_nan
        inf = np.isinf(v)
        if inf.any():
            if not self.has_inf:
                raise AssertionError(f"oracle produced inf for {self.name}, which has none")
            out[inf] = self.inf_code | np.where(v[inf] < 0, self.sign_bit, 0)
        fin = ~(nan | inf)
        a = np.abs(v[fin])
        m, e = np.frexp(a)
        ex = e.astype(np.int64) - 1
        sub = ex < self.emin
        field = np.where(sub | (a == 0), 0, ex + self.bias)
        frac = np.where(sub | (a == 0), np.ldexp(a, self.M - self.emin),
                        np.ldexp(m, self.M + 1) - (1 << self.M))
        bad = (frac != np.floor(frac)) | (frac < 0) | (frac > self.frac_mask) | (field > self.exp_all_ones)
        code = (field << self.M) | frac.astype(np.int64)
        if self.specials == "ieee":
            bad |= field == self.exp_all_ones
        bad |= code > self.max_finite_code
        if bad.any():
            raise AssertionError(f"oracle value {a[bad][0]!r} is not representable in {self.name}")
        neg = np.signbit(v[fin])
        if self.has_neg_zero:
            code = code | np.where(neg, self.sign_bit, 0)
        else:
            code = code | np.where(neg & (a != 0), self.sign_bit, 0)
        out[fin] = code
        return out.astype(self.dtype)

    def fmt_code(self, code):
        """One code as ``0xNN (value)`` for reports."""
        v = float(self.decode(np.array([int(code)]))[0])
        width = (self.bits + 3) // 4
        return f"0x{int(code):0{width}x} ({v!r})"


def _fs(name, E, M, bias=None, specials="ieee", **kw):
    if bias is None:
        bias = (1 << (E - 1)) - (0 if specials == "fnuz" else 1)
    return FloatSpec(name, E, M, bias, specials, **kw)


FLOAT_PRESETS = {s.name: s for s in [
    _fs("fp32", 8, 23), _fs("fp16", 5, 10), _fs("bf16", 8, 7),
    _fs("e5m2", 5, 2), _fs("e4m3", 4, 3),
    _fs("e4m3fn", 4, 3, specials="fn"),
    _fs("e4m3fnuz", 4, 3, specials="fnuz"), _fs("e5m2fnuz", 5, 2, specials="fnuz"),
    _fs("e3m4", 3, 4), _fs("e3m2", 3, 2),
    _fs("e2m3fn", 2, 3, specials="finite"), _fs("e3m2fn", 3, 2, specials="finite"),
    _fs("e2m1fn", 2, 1, specials="finite"),
]}

SMALL_PRESETS = [n for n, s in FLOAT_PRESETS.items() if s.bits <= 8]

# Which third-party dtype holds each preset's bit pattern.
_NP_DTYPE = {
    "fp32": np.float32, "fp16": np.float16, "bf16": ml_dtypes.bfloat16,
    "e5m2": ml_dtypes.float8_e5m2, "e4m3": ml_dtypes.float8_e4m3,
    "e4m3fn": ml_dtypes.float8_e4m3fn, "e4m3fnuz": ml_dtypes.float8_e4m3fnuz,
    "e5m2fnuz": ml_dtypes.float8_e5m2fnuz, "e3m4": ml_dtypes.float8_e3m4,
    "e2m3fn": ml_dtypes.float6_e2m3fn, "e3m2fn": ml_dtypes.float6_e3m2fn,
    "e2m1fn": ml_dtypes.float4_e2m1fn,
}
# e3m2 (IEEE-style 6-bit) has no ml_dtypes twin: float6_e3m2fn is the "finite" variant.


def np_dtype(spec):
    """The NumPy/ml_dtypes scalar type whose bit layout is ``spec`` (or None)."""
    if spec.subnormals and not spec.saturate:
        return _NP_DTYPE.get(spec.name)
    return None


def _storage(spec):
    return np.dtype({1: np.uint8, 2: np.uint16, 4: np.uint32}[np.dtype(_NP_DTYPE[spec.name]).itemsize])


def third_party_decode(codes, spec):
    """float64 values of codes decoded by ml_dtypes/NumPy (or apytypes for IEEE-like
    formats ml_dtypes lacks). Used to check ``FloatSpec.decode`` and golden's decode."""
    codes = np.asarray(codes)
    dt = np_dtype(spec)
    if dt is not None:
        raw = codes.astype(_storage(spec)).view(dt)
        # float32 -> float64 is exact, and every ml_dtypes type widens exactly to float32.
        with np.errstate(invalid="ignore"):  # NaN widens to NaN; NumPy still warns
            return raw.astype(np.float32).astype(np.float64)
    if spec.specials == "ieee":
        arr = apy.APyFloatArray.from_bits(codes.astype(np.uint64), spec.E, spec.M, spec.bias)
        return np.asarray(arr.to_numpy(), dtype=np.float64)
    raise ValueError(f"no third-party decoder for {spec.name}")


@dataclasses.dataclass(frozen=True)
class FixedSpec:
    """A fixed-point format: value = k * 2**-F, k of I+F bits."""

    name: str
    I: int
    F: int
    signed: bool = True
    symmetric: bool = False
    overflow: str = "SAT"

    @property
    def bits(self):
        return self.I + self.F

    @property
    def dtype(self):
        return _uint_dtype(self.bits)

    @property
    def kmin(self):
        if not self.signed:
            return 0
        return -(1 << (self.bits - 1)) + (1 if self.symmetric else 0)

    @property
    def kmax(self):
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    def to_int(self, codes):
        k = np.asarray(codes).astype(np.int64) & ((1 << self.bits) - 1)
        if self.signed:
            k = np.where(k >= (1 << (self.bits - 1)), k - (1 << self.bits), k)
        return k

    def from_int(self, k):
        return (np.asarray(k, dtype=np.int64) & ((1 << self.bits) - 1)).astype(self.dtype)

    def valid_codes(self):
        c = np.arange(1 << self.bits, dtype=np.int64)
        k = self.to_int(c)
        return c[(k >= self.kmin) & (k <= self.kmax)].astype(self.dtype)

    def decode(self, codes):
        return np.ldexp(self.to_int(codes).astype(np.float64), -self.F)

    def fmt_code(self, code):
        width = (self.bits + 3) // 4
        return f"0x{int(code):0{width}x} ({float(self.decode(np.array([int(code)]))[0])!r})"


FIXED_PRESETS = {s.name: s for s in [
    FixedSpec("q4.4", 4, 4), FixedSpec("q4.4s", 4, 4, symmetric=True),
    FixedSpec("uq3.5", 3, 5, signed=False),
]}


# --------------------------------------------------------------------------------------
# ml_dtypes / NumPy (RNE)
# --------------------------------------------------------------------------------------
#
# Why ml_dtypes arithmetic is one correct RNE rounding for every small format:
# ml_dtypes implements ``a op b`` for its custom floats as float32(a) op float32(b)
# followed by one RNE conversion back to the format (float8.h operator+ etc.).
# - mul: a product of two significands of <= 5 bits has <= 10 bits and its exponent
#   lies far inside float32's range, so the float32 product is exact; the only rounding
#   is the final conversion.
# - add/sub: for e4m3*, e3m4, e2m3fn, e3m2fn, e2m1fn every sum needs <= 24 bits (the
#   exponent span from min subnormal to max is < 20 binades), so it is exact in float32.
#   For e5m2/e5m2fnuz (span ~32 binades) float32 can round the sum, but for p-bit
#   operands and an intermediate precision q >= 2p + 2 double rounding is innocuous
#   (Figueroa 1995; here p = 3, q = 24), and float32's range keeps the intermediate
#   normal.  The same argument covers numpy.float16 (p = 11, q = 24 = 2p + 2) and
#   ml_dtypes.bfloat16 (p = 8).
# The exhaustive cross-check against gmpy2 in test_arith_small.py confirms it.

_NP_OPS = {"add": np.add, "sub": np.subtract, "mul": np.multiply}


def ml_binop(op, a, b, spec):
    """``a op b`` rounded RNE by ml_dtypes/NumPy on bit views of the codes."""
    dt = np_dtype(spec)
    if dt is None:
        raise ValueError(f"ml_dtypes/NumPy has no dtype for {spec.name}")
    st = _storage(spec)
    x = np.asarray(a).astype(st).view(dt)
    y = np.asarray(b).astype(st).view(dt)
    with np.errstate(all="ignore"):
        r = _NP_OPS[op](x, y)
    mask = (1 << spec.bits) - 1
    return (r.view(st) & st.type(mask)).astype(spec.dtype)


def ml_from_float32(values, spec):
    """RNE conversion of float32 values into ``spec`` by ml_dtypes/NumPy (one rounding)."""
    dt = np_dtype(spec)
    with np.errstate(all="ignore"):
        v = np.asarray(values, dtype=np.float32)
        r = v.astype(dt)
    return (r.view(_storage(spec)) & _storage(spec).type((1 << spec.bits) - 1)).astype(spec.dtype)


# --------------------------------------------------------------------------------------
# gmpy2 / MPFR
# --------------------------------------------------------------------------------------

_MPFR_ROUND = {"RNE": gmpy2.RoundToNearest, "RTZ": gmpy2.RoundToZero,
               "RUP": gmpy2.RoundUp, "RDN": gmpy2.RoundDown, "AWAY": gmpy2.RoundAwayZero}

# Exact arithmetic for every operation on formats up to fp32: an fp32 fma spans
# < 600 bits; float64 inputs convert exactly at 53 bits.
_WIDE = gmpy2.context(precision=2000, emin=-(1 << 30), emax=1 << 30)


@functools.lru_cache(maxsize=None)
def mpfr_context(spec, mode, unbounded=False):
    """MPFR context that rounds like ``spec``: precision M+1, subnormals emulated.

    MPFR writes x = m * 2**e with 1/2 <= m < 1, so a normal exponent ``x`` of the format
    is MPFR exponent x+1: emax = emax_f + 1 and the subnormal grid 2**(emin_f - M) is
    reached with emin = emin_f - M + 1.  For "ieee" formats MPFR's own overflow rules are
    IEEE's; for the other styles the top binade is left open (the code that would be NaN
    is representable in MPFR) and overflow is mapped by hand in ``_finish``.
    """
    return gmpy2.context(precision=spec.M + 1, emin=spec.emin - spec.M + 1,
                         emax=(spec.emax + 1) if not unbounded else (1 << 20),
                         subnormalize=True, round=_MPFR_ROUND[mode])


@functools.lru_cache(maxsize=None)
def _mpfr_table(spec):
    vals = spec.input_value(spec.all_codes())
    return [gmpy2.mpfr(float(v), 53) for v in vals]


def mpfr_values(codes, spec):
    """Exact MPFR values of codes (FTZ formats: subnormal inputs read as signed zero)."""
    codes = np.asarray(codes)
    if spec.bits <= 16:
        tab = _mpfr_table(spec)
        return [tab[i] for i in codes.astype(np.int64).tolist()]
    return [gmpy2.mpfr(v, 53) for v in spec.input_value(codes).tolist()]


def _inf_direction(mode, negative):
    """Does IEEE 754 send an overflow of this sign to infinity in this mode?"""
    if mode in ("RNE", "RNA"):
        return np.ones_like(negative, dtype=bool)
    if mode == "RTZ":
        return np.zeros_like(negative, dtype=bool)
    if mode == "RUP":
        return ~negative
    return negative


def _finish(r, spec, mode, input_special):
    """Map MPFR results (float64, already rounded to the grid) onto codes of ``spec``.

    ``input_special``: elements whose operands include inf/NaN (an inf result there is
    not an overflow).
    """
    r = np.asarray(r, dtype=np.float64).copy()
    neg = np.signbit(r)
    over = ~np.isnan(r) & (np.abs(r) > spec.max_finite) & ~input_special
    exact_inf = np.isinf(r) & input_special
    if not spec.has_inf and exact_inf.any():
        # An infinite operand (mixed formats, conversions) gives an exact infinity that
        # the format cannot hold.  It did not overflow, so the rounding mode plays no
        # part: NaN where the format has one (as ml_dtypes converts inf to fn/fnuz),
        # else (finite, saturate) the signed max, as the specials table of docs/semantics.md §1.1 says.
        rep = np.copysign(spec.max_finite, r) if (spec.saturate or not spec.has_nan) else np.nan
        r = np.where(exact_inf, rep, r)
    if over.any():
        to_inf = _inf_direction(mode, neg)
        big = np.copysign(spec.max_finite, r)
        if spec.saturate or spec.specials == "finite":
            rep = big
        elif spec.specials == "ieee":
            rep = np.where(to_inf, np.copysign(np.inf, r), big)
        else:  # fn / fnuz: where IEEE would give inf, the format gives NaN
            rep = np.where(to_inf, np.nan, big)
        r = np.where(over, rep, r)
    if not spec.subnormals:
        tiny = (r != 0) & (np.abs(r) < spec.min_normal)
        r = np.where(tiny, np.copysign(0.0, r), r)
    return spec.encode_exact(r)


def _apply(ctx, op, cols):
    f = getattr(ctx, op)
    if len(cols) == 1:
        return [f(x) for x in cols[0]]
    if len(cols) == 2:
        return [f(x, y) for x, y in zip(*cols)]
    return [f(x, y, z) for x, y, z in zip(*cols)]


def _rna_from_exact(exact, spec):
    """RNA of exact MPFR values: RNE unless the value is exactly halfway, then away."""
    ctx_z = mpfr_context(spec, "RTZ", True)
    ctx_a = mpfr_context(spec, "AWAY", True)
    ctx_n = mpfr_context(spec, "RNE", True)
    out = []
    half = _WIDE.div_2exp
    for x in exact:
        z = ctx_z.plus(x)
        a = ctx_a.plus(x)
        if gmpy2.is_finite(x) and z != a and half(_WIDE.add(z, a), 1) == x:
            out.append(a)
        else:
            out.append(ctx_n.plus(x))
    return out


def gmpy2_op(op, operands, spec, mode, in_specs=None):
    """Correctly rounded ``op`` ("add", "sub", "mul", "fma", "plus") by MPFR.

    Parameters
    ----------
    operands : sequence of code arrays (one per operand)
    spec : FloatSpec of the result
    mode : rounding mode; RNA is derived from exact values (tie -> away, else RNE)
    in_specs : FloatSpec per operand (default: ``spec`` for all)
    """
    in_specs = in_specs or [spec] * len(operands)
    operands = np.broadcast_arrays(*[np.asarray(x) for x in operands])
    shape = operands[0].shape
    operands = [x.reshape(-1) for x in operands]
    if all(s == spec for s in in_specs) and spec.bits > 16:
        # Creating 10**6 mpfr objects costs more than the arithmetic.  gmpy2 converts
        # float arguments itself; that conversion can only round if the value is not
        # representable in the context, and values of the result format always are
        # (the trap is values *wider* than the context: mpfr() rounds them on creation).
        cols = [spec.input_value(c).tolist() for c in operands]
    else:
        cols = [mpfr_values(c, s) for c, s in zip(operands, in_specs)]
    special = np.zeros(operands[0].shape, dtype=bool)
    for c, s in zip(operands, in_specs):
        special |= s.is_nan(c) | s.is_inf(c)
    if mode == "RNA":
        res = _rna_from_exact(_apply(_WIDE, op, cols), spec)
    else:
        res = _apply(mpfr_context(spec, mode), op, cols)
    return _finish([float(x) for x in res], spec, mode, special).reshape(shape)


def gmpy2_round_values(values, spec, mode):
    """Round exact float64 values (or MPFR values) once into ``spec``."""
    if isinstance(values, np.ndarray):
        special = ~np.isfinite(values)
        xs = [gmpy2.mpfr(float(v), 53) for v in values.tolist()]
    else:
        xs = list(values)
        special = np.array([not gmpy2.is_finite(x) for x in xs], dtype=bool)
    if mode == "RNA":
        res = _rna_from_exact(xs, spec)
    else:
        ctx = mpfr_context(spec, mode)
        res = [ctx.plus(x) for x in xs]
    return _finish([float(x) for x in res], spec, mode, special)


def gmpy2_round_fractions(fracs, spec, mode):
    """Round exact rationals once into ``spec`` (MPFR divides exact integers: one rounding)."""
    out = []
    ctx = mpfr_context(spec, "RNE" if mode == "RNA" else mode)
    for q in fracs:
        q = Fraction(q)
        p_ = gmpy2.mpfr(q.numerator, max(abs(q.numerator).bit_length(), 2))
        d_ = gmpy2.mpfr(q.denominator, max(q.denominator.bit_length(), 2))
        if mode != "RNA":
            out.append(ctx.div(p_, d_))
            continue
        z = mpfr_context(spec, "RTZ", True).div(p_, d_)
        a = mpfr_context(spec, "AWAY", True).div(p_, d_)
        if z != a and (Fraction(*z.as_integer_ratio()) + Fraction(*a.as_integer_ratio())) / 2 == q:
            out.append(a)
        else:
            out.append(mpfr_context(spec, "RNE", True).div(p_, d_))
    return _finish([float(x) for x in out], spec, mode, np.zeros(len(out), dtype=bool))


# --------------------------------------------------------------------------------------
# apytypes
# --------------------------------------------------------------------------------------

APY_Q = {"RNE": apy.QuantizationMode.TIES_EVEN, "RNA": apy.QuantizationMode.TIES_AWAY,
         "RTZ": apy.QuantizationMode.TO_ZERO, "RUP": apy.QuantizationMode.TO_POS,
         "RDN": apy.QuantizationMode.TO_NEG}


def apy_supports(spec):
    """apytypes floats are IEEE-like (top exponent = inf/NaN), gradual underflow,
    no saturation: only "ieee" formats map onto them."""
    return spec.specials == "ieee" and spec.subnormals and not spec.saturate


def _apy_float(codes, spec):
    return apy.APyFloatArray.from_bits(np.asarray(codes).astype(np.uint64), spec.E, spec.M, spec.bias)


def apy_float_op(op, a, b, spec, mode):
    """``a op b`` in apytypes with the quantization mode for ``mode``.

    apytypes keeps NaN payloads of its own (e.g. NaN + 0 may return a different NaN
    code), so compare by class.  Apart from that, its IEEE-style formats behave like IEEE
    754 (inf, overflow per mode, signed zeros, subnormals): test_arith_small.py checks it
    exhaustively against MPFR for e3m2/e4m3/e5m2 in all five modes.
    """
    if not apy_supports(spec):
        raise ValueError(f"apytypes cannot express {spec.name}")
    a, b = np.broadcast_arrays(np.asarray(a), np.asarray(b))
    shape = a.shape
    A, B = _apy_float(a.reshape(-1), spec), _apy_float(b.reshape(-1), spec)
    with apy.APyFloatQuantizationContext(APY_Q[mode]):
        R = {"add": A.__add__, "sub": A.__sub__, "mul": A.__mul__}[op](B)
    assert (R.exp_bits, R.man_bits, R.bias) == (spec.E, spec.M, spec.bias)
    return R.to_bits(numpy=True).astype(spec.dtype).reshape(shape)


def apy_float_cast(values, spec, mode):
    """Round float64 values once into ``spec`` with apytypes (from an exact binary64)."""
    if not apy_supports(spec):
        raise ValueError(f"apytypes cannot express {spec.name}")
    x = apy.APyFloatArray.from_float(np.asarray(values, dtype=np.float64), 11, 52, 1023)
    r = x.cast(spec.E, spec.M, spec.bias, APY_Q[mode])
    return r.to_bits(numpy=True).astype(spec.dtype)


def _apy_fixed(k, int_bits, frac_bits):
    # apytypes reads NumPy *unsigned* arrays as magnitudes without wrapping them into
    # the signed range, so always hand it sign-extended int64 integers.
    return apy.APyFixedArray(np.asarray(k, dtype=np.int64), int_bits=int_bits, frac_bits=frac_bits)


def _apy_fixed_result(R, fx, mode, overflow):
    """Quantize an exact apytypes result to ``fx`` with its rounding and overflow rules.

    apytypes has no unsigned or symmetric fixed point; both are mapped here:
    - unsigned WRAP: a signed cast to I+F bits with WRAP keeps the low I+F bits, which
      read as unsigned are the value mod 2**(I+F);
    - unsigned SAT: quantize into a wide signed format, clamp to [0, 2**(I+F) - 1];
    - symmetric SAT: apytypes saturates to [-2**(n-1), 2**(n-1)-1]; the most negative
      code is outside the symmetric range, so it becomes -(2**(n-1)-1).
    """
    q = APY_Q[mode]
    if overflow == "WRAP":
        if fx.symmetric:
            raise ValueError("symmetric + WRAP has no meaning")
        r = R.cast(int_bits=fx.I, frac_bits=fx.F, quantization=q, overflow=apy.OverflowMode.WRAP)
        return r.to_bits(numpy=True).astype(np.uint64).astype(fx.dtype)
    if not fx.signed:
        # one integer bit more than the exact result: quantizing cannot overflow here
        wide = R.cast(int_bits=R.int_bits + 1, frac_bits=fx.F, quantization=q,
                      overflow=apy.OverflowMode.WRAP)
        # float64 may round huge values, but those saturate anyway; in range it is exact
        k = np.clip(np.ldexp(np.asarray(wide.to_numpy(), dtype=np.float64), fx.F),
                    fx.kmin, fx.kmax)
        return fx.from_int(k.astype(np.int64))
    r = R.cast(int_bits=fx.I, frac_bits=fx.F, quantization=q, overflow=apy.OverflowMode.SAT)
    k = fx.to_int(r.to_bits(numpy=True).astype(np.uint64))
    if fx.symmetric:
        k = np.maximum(k, fx.kmin)
    return fx.from_int(k)


def apy_fixed_op(op, a, b, fx, mode, overflow):
    """Fixed-point ``a op b`` by apytypes: exact, then quantize (mode) and overflow."""
    ib = fx.I if fx.signed else fx.I + 1
    A = _apy_fixed(fx.to_int(a), ib, fx.F)
    B = _apy_fixed(fx.to_int(b), ib, fx.F)
    R = {"add": A.__add__, "sub": A.__sub__, "mul": A.__mul__}[op](B)
    return _apy_fixed_result(R, fx, mode, overflow)


def apy_fixed_from_values(values, fx, mode, overflow, frac_bits=200, int_bits=200):
    """Round exact float64 values into ``fx`` (apytypes; the start format is wide enough
    to hold every binary64 of the tested range exactly)."""
    v = np.asarray(values, dtype=np.float64)
    x = apy.APyFixedArray.from_float(v, int_bits=int_bits, frac_bits=frac_bits)
    if not np.array_equal(np.asarray(x.to_numpy(), dtype=np.float64), v):
        raise AssertionError("apytypes start format does not hold the values exactly")
    return _apy_fixed_result(x, fx, mode, overflow)


# --------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------

def mismatch_mask(got, expected, spec):
    """True where ``got`` differs from ``expected``: NaNs compare by class, every other
    code (including the sign of zero) bit for bit."""
    got = np.asarray(got).astype(np.int64)
    expected = np.asarray(expected).astype(np.int64)
    if isinstance(spec, FloatSpec):
        gn, en = spec.is_nan(got), spec.is_nan(expected)
        return (gn != en) | (~gn & (got != expected))
    return got != expected


def assert_codes_equal(got, expected, spec, *, what, inputs=(), in_specs=None, limit=5):
    """Fail with a report that decodes the first mismatches.

    Parameters
    ----------
    what : str   -- e.g. "add e4m3 RNE vs ml_dtypes"
    inputs : sequence of operand code arrays aligned with ``got``
    """
    got = np.asarray(got)
    expected = np.asarray(expected)
    if got.shape != expected.shape:
        raise AssertionError(f"{what}: shape {got.shape} != expected {expected.shape}")
    bad = mismatch_mask(got, expected, spec)
    if not bad.any():
        return
    in_specs = in_specs or [spec] * len(inputs)
    idx = np.flatnonzero(bad.reshape(-1))
    lines = [f"{what}: {idx.size} of {bad.size} differ; first ones:"]
    for i in idx[:limit]:
        ops = ", ".join(s.fmt_code(np.asarray(x).reshape(-1)[i]) for x, s in zip(inputs, in_specs))
        lines.append(f"  [{i}] operands {ops}: expected {spec.fmt_code(expected.reshape(-1)[i])}, "
                     f"got {spec.fmt_code(got.reshape(-1)[i])}")
    raise AssertionError("\n".join(lines))


# --------------------------------------------------------------------------------------
# Corner-case-rich operand generator (golden tests of 16/32-bit formats)
# --------------------------------------------------------------------------------------

def special_codes(spec):
    """Level-1 corner operands (the classes of ulpflow.sim.vectors) as positive-magnitude codes plus specials."""
    M, bias = spec.M, spec.bias
    one = bias << M
    pos = [0, 1, 2, spec.frac_mask - 1, spec.frac_mask,                  # zero, subnormals
           1 << M, (1 << M) + 1, (2 << M) - 1, 2 << M,                    # around min normal
           spec.max_finite_code, spec.max_finite_code - 1,               # top
           one, one + 1, one - 1, one + spec.frac_mask, (bias + 1) << M,  # around 1 and 2
           (bias - 1) << M]
    for e in (2, 3, spec.exp_all_ones // 2, spec.exp_all_ones - 2):       # other powers of two
        pos += [e << M, (e << M) + 1, (e << M) - 1]
    codes = set(pos) | {p | spec.sign_bit for p in pos if p or spec.has_neg_zero}
    if spec.has_inf:
        codes |= {spec.inf_code, spec.inf_code | spec.sign_bit, spec.inf_code | 1,
                  spec.canonical_nan, spec.canonical_nan | spec.sign_bit}
    elif spec.has_nan:
        codes.add(spec.canonical_nan)
    codes = [c for c in codes if 0 <= c < (1 << spec.bits)]
    return np.array(sorted(codes), dtype=np.int64)


def _near_code(values, spec):
    """Some code near each float64 value (data generation only, no exactness needed)."""
    v = np.asarray(values, dtype=np.float64)
    if spec.name in ("fp32", "fp16", "bf16"):
        with np.errstate(all="ignore"):
            x = v.astype(np.float32)
            if spec.name == "fp32":
                return x.view(np.uint32).astype(np.int64)
            if spec.name == "fp16":
                return x.astype(np.float16).view(np.uint16).astype(np.int64)
            return x.astype(ml_dtypes.bfloat16).view(np.uint16).astype(np.int64)
    pos = np.arange(spec.max_finite_code + 1, dtype=np.int64)
    pv = spec.decode(pos)
    i = np.clip(np.searchsorted(pv, np.abs(v)), 0, pos.size - 1)
    c = pos[i]
    neg = np.signbit(v) if spec.has_neg_zero else np.signbit(v) & (c != 0)
    return np.where(neg, c | spec.sign_bit, c)


def _finite_codes(rng, spec, n, emin_field=0, emax_field=None):
    """Random finite codes with exponent field in [emin_field, emax_field]."""
    top = spec.max_finite_code >> spec.M
    emax_field = top if emax_field is None else emax_field
    e = rng.integers(emin_field, emax_field + 1, n)
    f = rng.integers(0, 1 << spec.M, n)
    c = (e << spec.M) | f
    c = np.minimum(c, spec.max_finite_code)
    s = rng.integers(0, 2, n)
    if not spec.has_neg_zero:
        s = np.where(c == 0, 0, s)
    return c | (s << (spec.bits - 1))


def _flip_sign(c, spec):
    c = np.asarray(c, dtype=np.int64)
    f = c ^ spec.sign_bit
    if not spec.has_neg_zero:
        f = np.where((c & (spec.sign_bit - 1)) == 0, c, f)
    return f


def corner_pairs(spec, n, rng, op):
    """About ``n`` operand pairs rich in corner cases for ``op`` in ("add", "sub", "mul").

    Returns (a, b, labels, names): code arrays, a class id per pair, and class names,
    so a test can report how many pairs of each class it exercised.
    """
    M, top = spec.M, spec.max_finite_code >> spec.M
    S = special_codes(spec)
    blocks = []

    def add(name, a, b):
        blocks.append((name, np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)))

    k = n // 10
    add("uniform", rng.integers(0, 1 << spec.bits, k), rng.integers(0, 1 << spec.bits, k))
    add("special x special", *[x.reshape(-1) for x in np.meshgrid(S, S)])
    add("special x random", rng.choice(S, k), rng.integers(0, 1 << spec.bits, k))
    add("random x special", rng.integers(0, 1 << spec.bits, k), rng.choice(S, k))

    if op in ("add", "sub"):
        # exact ties: b's bits shifted out below a's ulp are exactly 100..0
        a = _finite_codes(rng, spec, k, 1 + M + 2, top)
        d = rng.integers(1, M + 3, k)
        ea = (a >> M) & spec.exp_all_ones
        sig_b = (1 << M) | rng.integers(0, 1 << M, k)
        low = np.where(d <= M + 1, np.left_shift(1, np.minimum(d, M + 1) - 1), 0)
        keep = ~((np.left_shift(1, np.minimum(d, M + 1)) - 1))
        sig_b = np.where(d <= M + 1, (sig_b & keep) | low, sig_b)
        sig_b = np.where(d == M + 1, 1 << M, sig_b)       # b = exactly half an ulp of a
        eb = ea - d
        b = (eb << M) | (sig_b & spec.frac_mask)
        b |= rng.integers(0, 2, k) << (spec.bits - 1)
        add("tie", a, b)
        # carries out of the significand: same sign, fractions near all ones
        a = _finite_codes(rng, spec, k // 2, 1, top - 1) | spec.frac_mask
        a ^= rng.integers(0, 4, a.size)
        b = (a & ~spec.sign_bit & ~spec.frac_mask) - (rng.integers(0, 3, a.size) << M)
        b = np.maximum(b, 0) | rng.integers(spec.frac_mask // 2, spec.frac_mask + 1, a.size)
        b |= a & spec.sign_bit
        add("carry", a, b)
        # massive cancellation: b ~ -a (a few ulps apart, possibly across a binade)
        a = _finite_codes(rng, spec, k, 0, top)
        b = np.clip((a & ~spec.sign_bit) + rng.integers(-3, 4, k), 0, spec.max_finite_code)
        b |= (a & spec.sign_bit) ^ spec.sign_bit
        add("cancellation", a, b)
        # overflow threshold: max plus about half an ulp of max
        a = np.full(k // 2, spec.max_finite_code) - rng.integers(0, 3, k // 2)
        hb = (top - M - 1) << M
        b = np.clip(hb + rng.integers(-(2 << M), 2 << M, a.size), 0, spec.max_finite_code)
        s = rng.integers(0, 2, a.size) << (spec.bits - 1)
        add("overflow", a | s, b | s)
        # results into / out of the subnormal range
        a = _finite_codes(rng, spec, k // 2, 0, 2)
        b = _flip_sign(_finite_codes(rng, spec, a.size, 0, 2), spec)
        add("underflow", a, b)
    else:
        # exact ties: b = 1 + 2**-j and a's low j fraction bits are 100..0
        j = rng.integers(1, M + 1, k)
        ea = rng.integers(max(1, spec.bias - 3), min(top, spec.bias + 3) + 1, k)
        fa = rng.integers(0, 1 << M, k)
        fa = (fa & ~(np.left_shift(1, j) - 1)) | np.left_shift(1, j - 1)
        a = (ea << M) | fa
        eb = rng.integers(max(1, spec.bias - 3), min(top, spec.bias + 3) + 1, k)
        b = (eb << M) | np.left_shift(1, M - j)
        sgn = rng.integers(0, 2, (2, k)) << (spec.bits - 1)
        add("tie", a | sgn[0], b | sgn[1])
        # overflow threshold: b near max / a
        a = _finite_codes(rng, spec, k, spec.bias, top)
        av = np.abs(spec.decode(a))
        b = _near_code(spec.max_finite / av, spec) + rng.integers(-2, 3, k)
        b = np.clip(b, 0, spec.max_finite_code) | (rng.integers(0, 2, k) << (spec.bits - 1))
        add("overflow", a, b)
        # underflow: exponents summing around the subnormal range
        a = _finite_codes(rng, spec, k, 1, top)
        av = np.abs(spec.decode(a))
        target = np.ldexp(1.0, rng.integers(spec.emin - M - 2, spec.emin + 2, k)) * rng.uniform(1, 2, k)
        b = _near_code(target / av, spec) + rng.integers(-1, 2, k)
        b = np.clip(b, 0, spec.max_finite_code) | (rng.integers(0, 2, k) << (spec.bits - 1))
        add("underflow", a, b)
        # subnormal operands times large ones
        a = _finite_codes(rng, spec, k // 2, 0, 0)
        b = _finite_codes(rng, spec, k // 2, top // 2, top)
        add("subnormal x large", a, b)

    # fill up with random finite pairs until n
    have = sum(a.size for _, a, _ in blocks)
    if have < n:
        m = n - have
        add("random finite", _finite_codes(rng, spec, m), _finite_codes(rng, spec, m))

    names = [name for name, _, _ in blocks]
    a = np.concatenate([x for _, x, _ in blocks])
    b = np.concatenate([y for _, _, y in blocks])
    labels = np.concatenate([np.full(x.size, i, dtype=np.int8) for i, (_, x, _) in enumerate(blocks)])
    if op == "sub":
        b = _flip_sign(b, spec)  # pairs built for a + b become a - (-b)
    mask = (1 << spec.bits) - 1
    a &= mask
    b &= mask
    # codes outside the format (NaN codes of fn/fnuz are fine, they are codes)
    return a.astype(spec.dtype), b.astype(spec.dtype), labels, names


def corner_triples(spec, n, rng):
    """Operands for fma: corner pairs for mul, c from corners, randoms and -a*b."""
    a, b, _, _ = corner_pairs(spec, n, rng, "mul")
    n = a.size
    c = rng.integers(0, 1 << spec.bits, n)
    sel = rng.integers(0, 4, n)
    S = special_codes(spec)
    c = np.where(sel == 1, rng.choice(S, n), c)
    with np.errstate(all="ignore"):
        prod = spec.decode(a) * spec.decode(b)        # data generation only
    near = _near_code(np.nan_to_num(-prod, nan=0.0, posinf=spec.max_finite, neginf=-spec.max_finite), spec)
    # massive cancellation: c ~ -(a*b), give or take an ulp
    c = np.where(sel >= 2, np.clip((near & ~spec.sign_bit) + rng.integers(-1, 2, n), 0,
                                   spec.max_finite_code) | (near & spec.sign_bit), c)
    return a, b, (c & ((1 << spec.bits) - 1)).astype(spec.dtype)


def coverage(labels, names):
    """{class name: count} for a report."""
    counts = np.bincount(labels, minlength=len(names))
    return {nm: int(c) for nm, c in zip(names, counts)}
