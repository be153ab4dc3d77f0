"""Activation implementations: functions from codes of one format to codes of another.

Every implementation is an immutable :class:`Activation` built by :func:`get_activation`; it
maps codes of ``in_format`` to codes of ``out_format`` and carries a description with its
measured worst error against the correctly rounded reference.

Methods
-------
``"exact"`` (identity, relu, step)
    identity(x) = x, relu(x) = x for x > 0 else +0, step(x) = 1 for x >= 0 (so step(-0) = 1)
    else +0. When the output format differs from the input format the value is converted with
    one rounding (``rounding``), e.g. relu from an fp32 accumulator to bf16.
``"cr"`` (sigmoid, tanh, gelu, silu, elu, selu, softplus, mish, sin, cos, exp)
    The exact value σ(x) rounded once to the output format in mode ``rounding`` (default RNE),
    computed by MPFR interval evaluation with retries (see :mod:`.activations_cr`). For input
    formats of at most 16 bits the whole table is built once and cached on disk; wider inputs
    (fp32) are evaluated on demand.
``"faithful"``
    Each output is the round-down or the round-up of the exact value; which one is a seeded
    pseudo-random choice per input code (``seed``). Where round-up overflows to NaN (formats
    without infinities) the round-down value is taken, so NaN never appears for a number;
    in IEEE-style formats round-up beyond max is +inf, as IEEE defines it.
``"kulp"``
    Each output is the correctly rounded code moved by a seeded pseudo-random number of steps
    in [-k, k] along the number line of the output format, never onto NaN or ±inf and never
    past ±max (NaN and ±inf results are kept as they are).
``"pwl"``
    A piecewise-linear approximation in integer arithmetic for hardware
    (:class:`ulpflow.golden.activations_pwl.PWL`); its worst error over all inputs is measured.

Conventions
-----------
- NaN inputs give NaN. Where the output format has no NaN (fixed point, "finite" floats) the
  result is +0 (``out_format.nan_result_code``), lane by lane, as in every hardware unit
  (docs/semantics.md, "NaN into a format without NaN").
- Infinite results are encoded by the output format's own rules: ±inf, NaN for the OCP fn/fnuz
  styles, ±max for saturating/finite formats, and the ends of the range for fixed point.
- Zero results carry the sign IEEE arithmetic on the defining formula gives: tanh(-0) = -0,
  gelu(-0) = silu(-0) = mish(-0) = elu(-0) = selu(-0) = sin(-0) = -0, relu(-0) = +0,
  sigmoid(0) = 1/2, cos(±0) = exp(±0) = 1. A non-zero value that rounds to zero keeps its sign
  (formats without -0 give +0). Limits at ±inf are listed in
  :func:`ulpflow.golden.activations_cr.special_value`.
- SELU uses λ and α exactly as the decimal rationals printed in the SELU paper
  (:data:`SELU_LAMBDA`, :data:`SELU_ALPHA`); ELU takes ``alpha`` (any positive rational,
  default 1).

Errors are measured in ulps as the distance between codes along the ordered number line of the
output format (see :func:`ulp_distance`).

Examples
--------
>>> from ulpflow.golden import activations, parse_format
>>> bf16 = parse_format("bf16")
>>> gelu = activations.get_activation("gelu", bf16)          # method "cr"
>>> bf16.decode(gelu(bf16.encode([-1.0, 0.5])))
array([-0.15820312,  0.34570312])
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import json
import os
import tempfile
import types
from fractions import Fraction
from numbers import Integral, Rational
from pathlib import Path

import numpy as np

from .activations_cr import (CR_FUNCTIONS, SELU_ALPHA, SELU_LAMBDA, exact_mpfr, round_mpfr,
                             special_value, start_precision)
from .arith import convert
from .formats import (CLASS_INF, CLASS_NAN, CLASS_ZERO, as_format, from_ordinal, ordinal,
                      ulp_distance)
from .rounding import check_rounding

__all__ = [
    "Activation", "CheckReport", "EXACT_FUNCTIONS", "CR_FUNCTIONS", "FUNCTIONS", "METHODS",
    "PWL_FUNCTIONS", "SELU_ALPHA", "SELU_LAMBDA", "TABLE_VERSION", "activation_from_json",
    "cache_dir", "catalogue", "check_activation", "check_allowed", "clear_memory_cache", "from_ordinal",
    "get_activation", "ordinal", "rounding_bounds", "ulp_distance",
]

#: Bump when the meaning of a cached table changes (the cache key includes it).
TABLE_VERSION = 1

EXACT_FUNCTIONS = ("identity", "relu", "step")
FUNCTIONS = EXACT_FUNCTIONS + CR_FUNCTIONS
METHODS = ("exact", "cr", "faithful", "kulp", "pwl")
#: Functions with a piecewise-linear implementation (bounded or asymptotically linear tails).
PWL_FUNCTIONS = ("sigmoid", "tanh", "gelu", "silu", "softplus", "mish", "elu")
MONOTONE_FUNCTIONS = frozenset({"identity", "relu", "step", "sigmoid", "tanh", "elu", "selu",
                                "softplus", "exp"})

# Input formats up to this width get full tables.
_TABLE_BITS = 16
_JSON_KIND = "ulpflow.activation"


# ============================================================================================
# Formats, ordinals and distances
# ============================================================================================

def _float64_exact(fmt) -> bool:
    if fmt.kind == "fixed":
        return fmt.bits <= 53
    return fmt.man_bits <= 52 and fmt.emin - fmt.man_bits >= -1074 and fmt.emax <= 1023


# ============================================================================================
# Parameters
# ============================================================================================

def _rational(name, value):
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a rational number, not {value!r}")
    if isinstance(value, (Rational, float)):
        return Fraction(value)
    if isinstance(value, str):
        try:
            return Fraction(value)
        except ValueError:
            pass
    raise TypeError(f"{name} must be a rational number (int, Fraction, float or a string "
                    f"such as '3/2'), not {value!r}")


def _int_param(name, value, lo, hi=None):
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if value < lo or (hi is not None and value > hi):
        rng = f">= {lo}" if hi is None else f"in {lo} .. {hi}"
        raise ValueError(f"{name} must be {rng}, got {value!r}")
    return int(value)


def _normalise_params(name, method, params):
    """Checked, complete parameter dict for (name, method)."""
    params = dict(params)
    out = {}
    if name == "elu":
        alpha = _rational("alpha", params.pop("alpha", 1))
        if alpha <= 0:
            raise ValueError(f"elu alpha must be positive, got {alpha}")
        out["alpha"] = alpha
    if method == "faithful":
        out["seed"] = _int_param("seed", params.pop("seed", 0), 0, (1 << 64) - 1)
    elif method == "kulp":
        out["k"] = _int_param("k", params.pop("k", 1), 0, 1 << 40)
        out["seed"] = _int_param("seed", params.pop("seed", 0), 0, (1 << 64) - 1)
    elif method == "pwl":
        from .activations_pwl import pwl_params
        out.update(pwl_params(name, params))  # pops what it uses
    if params:
        bad = ", ".join(sorted(params))
        raise TypeError(f"unexpected parameter(s) {bad} for {name} with method {method!r}")
    return out


def _json_param(v):
    if isinstance(v, Fraction):
        return str(v)
    return v


def _params_key(params) -> str:
    return json.dumps({k: _json_param(v) for k, v in sorted(params.items())}, sort_keys=True)


def _function_params(name, params):
    """The parameters that change the mathematical function (not the method)."""
    return {"alpha": params["alpha"]} if name == "elu" else {}


# ============================================================================================
# Reference evaluation: exact functions and correctly rounded ones
# ============================================================================================

def _exact_codes(name, in_fmt, out_fmt, mode, codes):
    cls = in_fmt.classify(codes)
    nan = cls == CLASS_NAN
    zero = cls == CLASS_ZERO
    neg = in_fmt.sign(codes)
    if name == "step":
        one = out_fmt.one_code
        y = np.where(~neg | zero, one, out_fmt.zero_code)
    else:
        safe = np.where(nan, in_fmt.zero_code, codes).astype(in_fmt.dtype)
        y = convert(safe, in_fmt, out_fmt, rounding=mode)
        if name == "relu":
            y = np.where(neg | zero, out_fmt.zero_code, y)
    y = np.where(nan, out_fmt.nan_result_code, y)
    return np.asarray(y).astype(out_fmt.dtype)


def _input_values(fmt, codes):
    """(cls, negative, values) with values as Fraction (finite) or None (specials)."""
    cls = fmt.classify(codes)
    neg = fmt.sign(codes)
    if _float64_exact(fmt):
        vals = [Fraction(v) if np.isfinite(v) else None for v in fmt.decode(codes).tolist()]
    else:
        vals = [v if isinstance(v, Fraction) else None for v in fmt.decode_fraction(codes).tolist()]
    return cls, neg, vals


def _encode_results(out_fmt, results, mode):
    """Codes for exactly known results (floats nan/±inf/±0.0 or Fractions), each by the output
    format's specials policy (NaN: ``nan_result_code``; ±inf: ``inf_result_code``)."""
    n = len(results)
    codes = np.zeros(n, dtype=out_fmt.dtype)
    floats, frac_idx, fracs = [], [], []
    for i, r in enumerate(results):
        if isinstance(r, float):
            floats.append(i)
        else:
            frac_idx.append(i)
            fracs.append(r)
    if fracs:
        arr = np.empty(len(fracs), dtype=object)
        arr[:] = fracs
        codes[frac_idx] = out_fmt.encode(arr, mode)
    if floats:
        codes[floats] = out_fmt.encode(np.array([results[i] for i in floats]), mode, strict=False)
    return codes


def _cr_codes(name, in_fmt, out_fmt, mode, params, codes):
    """Correctly rounded σ(x) for every code in ``codes`` (1-D array)."""
    cls, neg, vals = _input_values(in_fmt, codes)
    n = len(vals)
    out = np.zeros(n, dtype=out_fmt.dtype)
    known_idx, known = [], []
    mp_idx, mp_x = [], []
    for i in range(n):
        r = special_value(name, int(cls[i]), bool(neg[i]), vals[i], params)
        if r is None:
            mp_idx.append(i)
            mp_x.append(exact_mpfr(vals[i]))
        else:
            known_idx.append(i)
            known.append(r)
    if known:
        out[known_idx] = _encode_results(out_fmt, known, mode)
    if mp_x:
        out[mp_idx] = round_mpfr(name, mp_x, out_fmt, mode, params,
                                 start_precision(in_fmt, out_fmt))
    return out


def _reference_codes(name, in_fmt, out_fmt, mode, params, codes):
    """The correctly rounded (or exact) reference for arbitrary codes."""
    codes = np.asarray(codes)
    if name in EXACT_FUNCTIONS:
        return _exact_codes(name, in_fmt, out_fmt, mode, codes)
    if in_fmt.bits <= _TABLE_BITS:
        return _cr_table(name, in_fmt, out_fmt, mode, params)[codes]
    uniq, inv = np.unique(codes, return_inverse=True)
    return _cr_codes(name, in_fmt, out_fmt, mode, params, uniq)[inv.reshape(codes.shape)]


# ============================================================================================
# Table cache (memory + disk)
# ============================================================================================

_MEMO: dict = {}


def cache_dir() -> Path:
    """Folder of cached activation tables: ``activations/`` under ulpflow's one cache root
    (:func:`ulpflow.golden.cache.cache_root`: ``$ULPFLOW_CACHE_DIR``, a checkout's
    ``.ulpflow-cache`` or the user cache folder). Not created here: saving a table does that."""
    from . import cache

    return cache.cache_dir("activations", create=False)


@functools.lru_cache(maxsize=1)
def _package_version() -> str:
    """The installed ulpflow version (from the package metadata: golden imports nothing of
    the package above it)."""
    try:
        return importlib.metadata.version("ulpflow")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _cache_key(name, in_fmt, out_fmt, mode, params):
    text = "|".join([name, str(in_fmt), str(out_fmt), mode, _params_key(params),
                     f"table{TABLE_VERSION}", f"ulpflow{_package_version()}"])
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return text, f"{name}_{in_fmt}_{out_fmt}_{mode}_{digest}.npy"


def _full_table(in_fmt, build):
    """Table indexed by every bit pattern (codes that are not codes of the format map to 0)."""
    size = 1 << in_fmt.bits
    valid = in_fmt.all_codes()
    vals = build(valid)
    table = np.zeros(size, dtype=vals.dtype)
    table[valid.astype(np.int64)] = vals
    table.flags.writeable = False
    return table


def _cr_table(name, in_fmt, out_fmt, mode, params):
    """Full correctly rounded table for a <= 16-bit input format, from memory, disk or MPFR."""
    fparams = _function_params(name, params)
    text, fname = _cache_key(name, in_fmt, out_fmt, mode, fparams)
    hit = _MEMO.get(text)
    if hit is not None:
        return hit
    path = cache_dir() / fname
    table = _load_table(path, in_fmt, out_fmt)
    if table is None:
        table = _full_table(in_fmt, lambda c: _cr_codes(name, in_fmt, out_fmt, mode, fparams, c))
        _save_table(path, table)
    _MEMO[text] = table
    return table


def _load_table(path, in_fmt, out_fmt):
    try:
        t = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if t.shape != (1 << in_fmt.bits,) or t.dtype != out_fmt.dtype:
        return None  # stale or foreign file: rebuild (and overwrite)
    t.flags.writeable = False
    return t


def _save_table(path, table):
    """Write atomically (temporary file in the same folder, then rename); failures are ignored:
    the cache is an optimisation, the table is already in memory."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npy")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, np.asarray(table))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        pass


def clear_memory_cache():
    """Forget tables held in memory (the disk cache is untouched); for benchmarks and tests."""
    _MEMO.clear()


# ============================================================================================
# Seeded choices (independent of array order: a hash of seed and input code)
# ============================================================================================

def _mix64(z):
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _hash_codes(seed, salt, codes):
    """64-bit pseudo-random value per (seed, salt, code): splitmix64, stable across versions."""
    key = _mix64(np.array([seed], dtype=np.uint64) ^ np.uint64(salt))[0]
    with np.errstate(over="ignore"):
        return _mix64(np.asarray(codes).astype(np.uint64) + key + np.uint64(0x9E3779B97F4A7C15))


def _kulp_move(out_fmt, ref, k, seed, codes):
    """Move each reference code by a seeded offset in [-k, k] (see module docstring)."""
    h = _hash_codes(seed, 0x6B756C70, codes)
    d = (h % np.uint64(2 * k + 1)).astype(np.int64) - k
    o, nan = ordinal(out_fmt, ref)
    if out_fmt.kind == "fixed":
        lo, hi = out_fmt.kmin, out_fmt.kmax
        special = np.zeros(ref.shape, dtype=bool)
    else:
        top = ordinal(out_fmt, np.array([out_fmt.max_finite_code]))[0][0]
        lo, hi = -top, top
        special = nan | (out_fmt.classify(ref) == CLASS_INF)  # NaN and ±inf stay
    moved = np.clip(o + d, lo, hi)
    neg_zero = out_fmt.sign(ref) if out_fmt.kind == "float" else None
    new = from_ordinal(out_fmt, moved, neg_zero)
    keep = special | (d == 0)
    return np.where(keep, ref, new).astype(out_fmt.dtype)


# ============================================================================================
# The Activation object
# ============================================================================================

class Activation:
    """One activation implementation: a function from codes of ``in_format`` to codes of
    ``out_format``. Build it with :func:`get_activation`; instances are immutable.

    Members
    -------
    name, method, in_format, out_format, rounding : str / formats
    params : read-only mapping of the method's parameters (alpha, k, seed, pwl settings)
    monotone : bool
        The outputs never decrease as the input increases (checked over every code for
        <= 16-bit inputs; NaN outputs only at one end of the range). Interval semantics may
        evaluate a monotone activation at the interval ends.
    pwl : the :class:`~ulpflow.golden.activations_pwl.PWL` object (method "pwl" only)
    """

    __slots__ = ("name", "method", "in_format", "out_format", "rounding", "params", "_lazy",
                 "_frozen")

    def __init__(self, name, method, in_format, out_format, rounding, params, table=None):
        s = object.__setattr__
        s(self, "name", name)
        s(self, "method", method)
        s(self, "in_format", in_format)
        s(self, "out_format", out_format)
        s(self, "rounding", rounding)
        s(self, "params", types.MappingProxyType(dict(params)))
        s(self, "_lazy", {} if table is None else {"table": table, "from_table": True})
        s(self, "_frozen", True)

    def __setattr__(self, key, value):
        raise AttributeError(f"Activation is immutable (tried to set {key!r})")

    def __delattr__(self, key):
        raise AttributeError(f"Activation is immutable (tried to delete {key!r})")

    # -- identity ----------------------------------------------------------------------------
    def _key(self):
        k = (self.name, self.method, str(self.in_format), str(self.out_format), self.rounding,
             _params_key(self.params))
        if self._lazy.get("from_table"):
            k += (hashlib.sha256(self._lazy["table"].tobytes()).hexdigest(),)
        return k

    def __eq__(self, other):
        return isinstance(other, Activation) and other._key() == self._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        extra = "".join(f", {k}={_json_param(v)!r}" for k, v in self.params.items())
        return (f"get_activation({self.name!r}, {str(self.in_format)!r}, "
                f"{str(self.out_format)!r}, method={self.method!r}, "
                f"rounding={self.rounding!r}{extra})")

    # -- evaluation --------------------------------------------------------------------------
    @property
    def has_table(self) -> bool:
        """True when the input format is small enough (<= 16 bits) for a full table."""
        return self.in_format.bits <= _TABLE_BITS

    def __call__(self, codes):
        """Output codes for input codes (any shape; vectorised)."""
        codes = self.in_format.check_codes(codes)
        if self.has_table:
            return self.table()[codes]
        flat = codes.reshape(-1)
        uniq, inv = np.unique(flat, return_inverse=True)
        return self._evaluate(uniq)[inv].reshape(codes.shape)

    def table(self) -> np.ndarray:
        """Read-only output table indexed by input code (<= 16-bit input formats only).

        Entries at bit patterns that are not codes of the input format (the excluded most
        negative code of a symmetric fixed format) are 0.
        """
        if not self.has_table:
            raise ValueError(f"{self.in_format} has {self.in_format.bits} bits: full tables exist "
                             f"only for input formats of at most {_TABLE_BITS} bits; call the "
                             "activation on the codes you need")
        t = self._lazy.get("table")
        if t is None:
            if self.method == "cr":
                t = _cr_table(self.name, self.in_format, self.out_format, self.rounding,
                              dict(self.params))
            else:
                t = _full_table(self.in_format, self._evaluate)
            self._lazy["table"] = t
        return t

    def _reference(self, codes, mode=None):
        return _reference_codes(self.name, self.in_format, self.out_format,
                                mode or self.rounding, dict(self.params), codes)

    def _evaluate(self, codes):
        """Outputs for a 1-D array of valid input codes (no table lookups of self)."""
        m = self.method
        if m == "exact":
            return _exact_codes(self.name, self.in_format, self.out_format, self.rounding, codes)
        if m == "cr":
            if self.has_table:
                return self.table()[codes]
            return self._reference(codes)
        if m == "faithful":
            rd = self._reference(codes, "RDN")
            ru = self._reference(codes, "RUP")
            up = (_hash_codes(self.params["seed"], 0x66616974, codes) & np.uint64(1)) == 1
            if self.out_format.has_nan:
                # fn/fnuz formats turn an upward overflow into NaN: take the finite RD there
                _, rd_nan = ordinal(self.out_format, rd)
                _, ru_nan = ordinal(self.out_format, ru)
                up &= ~(ru_nan & ~rd_nan)
            return np.where(up, ru, rd).astype(self.out_format.dtype)
        if m == "kulp":
            ref = self._reference(codes)
            return _kulp_move(self.out_format, ref, self.params["k"], self.params["seed"], codes)
        if m == "pwl":
            return self.pwl(codes)
        raise AssertionError(m)

    @property
    def pwl(self):
        """The piecewise-linear approximation object (method "pwl" only)."""
        if self.method != "pwl":
            raise AttributeError(f"{self.method!r} activations have no PWL object")
        p = self._lazy.get("pwl")
        if p is None:
            from .activations_pwl import PWL
            p = PWL(self.name, self.in_format, self.out_format, self.rounding, dict(self.params))
            self._lazy["pwl"] = p
        return p

    # -- properties ----------------------------------------------------------------------------
    @property
    def monotone(self) -> bool:
        m = self._lazy.get("monotone")
        if m is None:
            if self.has_table:
                m = _table_monotone(self.in_format, self.out_format, self.table())
            elif self.method in ("exact", "cr"):
                m = self.name in MONOTONE_FUNCTIONS
            elif self.method == "pwl":
                m = self.pwl.monotone_on_grid() and self.name in MONOTONE_FUNCTIONS
            else:
                m = False  # faithful/kulp over wide inputs: no proof, so no promise
            self._lazy["monotone"] = m
        return m

    def describe(self) -> dict:
        """Function, formats, method, parameters and the measured worst ulp error against the
        correctly rounded reference (exhaustive for <= 16-bit inputs, else over a fixed
        sample of corner and pseudo-random codes)."""
        d = self._lazy.get("describe")
        if d is None:
            d = {"function": self.name, "method": self.method,
                 "in_format": str(self.in_format), "out_format": str(self.out_format),
                 "rounding": self.rounding,
                 "params": {k: _json_param(v) for k, v in self.params.items()},
                 "monotone": self.monotone}
            d.update(self._measure())
            if self.method == "pwl":
                d["pwl"] = self.pwl.describe()
            d["summary"] = _SUMMARY[self.method].format(**d)
            self._lazy["describe"] = d
        return dict(d)

    def _measure(self):
        if self.method in ("exact", "cr") and not self._lazy.get("from_table"):
            return {"max_ulp_error": 0, "worst_input": None, "measured_over": 0,
                    "exhaustive": self.has_table,
                    "reference": "this is the correctly rounded reference"}
        inputs = self.in_format.all_codes() if self.has_table else _sample_codes(self.in_format)
        ref = _reference_activation(self)
        rep = check_activation(self, ref, 0, inputs=inputs)
        err = ulp_distance(self(inputs), ref(inputs), self.out_format)
        edges = [(0, 0), (1, 1), (2, 4), (5, 16), (17, 256), (257, np.inf)]
        hist = {(f"{a}" if a == b else f"{a}-{b}" if np.isfinite(b) else f">{a - 1}"):
                int(np.count_nonzero((err >= a) & (err <= b))) for a, b in edges}
        return {"max_ulp_error": rep.worst_ulps, "worst_input": rep.worst_input,
                "worst_input_value": rep.worst_input_value, "measured_over": rep.n_checked,
                "exhaustive": self.has_table, "ulp_histogram": hist,
                "reference": f"correctly rounded ({self.rounding})"}

    # -- JSON ------------------------------------------------------------------------------------
    def to_json(self) -> dict:
        """Plain-JSON description: name, method, formats by name, rounding, parameters, and for
        every non-exact method over a <= 16-bit input format the full output table as hex
        strings (index = input code)."""
        d = {"kind": _JSON_KIND, "version": TABLE_VERSION, "name": self.name,
             "method": self.method, "in_format": str(self.in_format),
             "out_format": str(self.out_format), "rounding": self.rounding,
             "params": {k: _json_param(v) for k, v in self.params.items()}}
        if self.method != "exact" and self.has_table:
            w = (self.out_format.bits + 3) // 4
            d["table"] = [f"0x{int(c):0{w}x}" for c in self.table().tolist()]
        return d

    @classmethod
    def from_json(cls, d, *, verify=False) -> "Activation":
        """Rebuild from :meth:`to_json`. A stored table is authoritative (it *is* the
        implementation); ``verify=True`` recomputes it and raises ValueError on any difference."""
        return activation_from_json(d, verify=verify)


_SUMMARY = {
    "exact": "{function} {in_format}->{out_format}: exact",
    "cr": "{function} {in_format}->{out_format}: correctly rounded ({rounding})",
    "faithful": "{function} {in_format}->{out_format}: faithful (RD or RU), worst "
                "{max_ulp_error} ulp",
    "kulp": "{function} {in_format}->{out_format}: k-ulp perturbation, worst {max_ulp_error} ulp",
    "pwl": "{function} {in_format}->{out_format}: piecewise linear, worst {max_ulp_error} ulp",
}


def _sample_codes(fmt, n=4096):
    """Fixed sample of a wide format: corner codes plus hashed pseudo-random codes."""
    corners = [0, fmt.max_finite_code, fmt.min_subnormal_code]
    if fmt.kind == "float":
        sign = 1 << (fmt.bits - 1)
        corners += [c | sign for c in corners] + [fmt.min_normal_code]
        if fmt.one_code is not None:
            corners += [fmt.one_code, fmt.one_code | sign]
        if fmt.inf_code is not None:
            corners += [fmt.inf_code, fmt.inf_code | sign]
        if fmt.nan_code is not None:
            corners.append(fmt.nan_code)
    rnd = _hash_codes(12345, 0x73616D70, np.arange(n, dtype=np.uint64))
    rnd = (rnd >> np.uint64(64 - fmt.bits)).astype(fmt.dtype)
    codes = np.concatenate([np.array(corners, dtype=np.uint64).astype(fmt.dtype), rnd])
    if fmt.kind == "fixed" and fmt.symmetric:
        codes = codes[codes.astype(np.uint64) != np.uint64(1 << (fmt.bits - 1))]
    return np.unique(codes)


def _table_monotone(in_fmt, out_fmt, table):
    codes = in_fmt.all_codes()
    oi, ni = ordinal(in_fmt, codes)
    codes, oi = codes[~ni], oi[~ni]
    order = np.argsort(oi, kind="stable")
    oi = oi[order]
    oo, no = ordinal(out_fmt, table[codes[order]])
    if no.any():
        # NaN outputs of non-NaN inputs must form a prefix or a suffix of the line
        idx = np.flatnonzero(no)
        n = len(no)
        prefix = idx[-1] == len(idx) - 1
        suffix = idx[0] == n - len(idx)
        if not (prefix or suffix):
            return False
        oi, oo = oi[~no], oo[~no]
    same = oi[1:] == oi[:-1]
    step = oo[1:] - oo[:-1]
    return bool(np.all(np.where(same, step == 0, step >= 0)))


# ============================================================================================
# Construction and JSON
# ============================================================================================

def get_activation(name, in_fmt, out_fmt=None, *, method=None, rounding=None, **params):
    """An activation implementation.

    Parameters
    ----------
    name : str
        One of :data:`FUNCTIONS`: identity, relu, step, sigmoid, tanh, gelu, silu, elu, selu,
        softplus, mish, sin, cos, exp.
    in_fmt, out_fmt : format or format name
        Input and output formats (``out_fmt`` defaults to ``in_fmt``).
    method : {"exact", "cr", "faithful", "kulp", "pwl"}, optional
        Default "exact" for identity/relu/step and "cr" for the others.
    rounding : str, optional
        Rounding mode of the output (default RNE). For "faithful" it only names the reference.
    **params
        ``alpha`` (elu; positive rational, default 1), ``seed`` (faithful, kulp; default 0),
        ``k`` (kulp; default 1), PWL settings (see
        :func:`ulpflow.golden.activations_pwl.pwl_params`).

    Examples
    --------
    >>> relu = get_activation("relu", "fp32", "bf16")            # convert with one rounding
    >>> sig = get_activation("sigmoid", "q4.4", rounding="RTZ")   # fixed point, truncating
    >>> noisy = get_activation("tanh", "bf16", method="kulp", k=2, seed=7)
    """
    if not isinstance(name, str) or name not in FUNCTIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {', '.join(FUNCTIONS)}")
    in_fmt = as_format(in_fmt, "in_fmt")
    out_fmt = in_fmt if out_fmt is None else as_format(out_fmt, "out_fmt")
    if method is None:
        method = "exact" if name in EXACT_FUNCTIONS else "cr"
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if method == "exact" and name not in EXACT_FUNCTIONS:
        raise ValueError(f"{name} has no exact implementation; use method 'cr' (correctly rounded)")
    if method == "cr" and name in EXACT_FUNCTIONS:
        raise ValueError(f"{name} is exact: use method 'exact'")
    if method == "pwl" and name not in PWL_FUNCTIONS:
        raise ValueError(f"no piecewise-linear implementation of {name}; available for "
                         f"{', '.join(PWL_FUNCTIONS)}")
    mode = check_rounding(rounding)
    if name == "step" and out_fmt.one_code is None:
        raise ValueError(f"step needs the value 1 in its output format, and {out_fmt} cannot "
                         "represent it")
    p = _normalise_params(name, method, params)
    return Activation(name, method, in_fmt, out_fmt, mode, p)


def activation_from_json(d, *, verify=False) -> Activation:
    """Activation from :meth:`Activation.to_json` output (see there)."""
    if not isinstance(d, dict):
        raise ValueError(f"activation JSON must be an object, got {type(d).__name__}")
    if d.get("kind", _JSON_KIND) != _JSON_KIND:
        raise ValueError(f"not an activation: kind is {d.get('kind')!r}, expected {_JSON_KIND!r}")
    for key in ("name", "method", "in_format", "out_format"):
        if not isinstance(d.get(key), str):
            raise ValueError(f"activation JSON needs a string {key!r}, got {d.get(key)!r}")
    params = d.get("params", {})
    if not isinstance(params, dict):
        raise ValueError(f"activation JSON 'params' must be an object, got {params!r}")
    act = get_activation(d["name"], d["in_format"], d["out_format"], method=d["method"],
                         rounding=d.get("rounding"), **params)
    table = d.get("table")
    if table is None:
        if act.method != "exact" and act.has_table:
            raise ValueError(f"activation JSON for {act.name} ({act.method}) over "
                             f"{act.in_format} must carry its 'table'")
        return act
    if not act.has_table:
        raise ValueError(f"activation JSON has a table but {act.in_format} is too wide for one")
    size = 1 << act.in_format.bits
    if not isinstance(table, list) or len(table) != size:
        n = len(table) if isinstance(table, list) else type(table).__name__
        raise ValueError(f"activation table must be a list of {size} hex strings, got {n}")
    vals = np.zeros(size, dtype=np.uint64)
    limit = 1 << act.out_format.bits
    for i, s in enumerate(table):
        try:
            v = int(s, 16)
        except (TypeError, ValueError):
            raise ValueError(f"activation table entry {i} is {s!r}, expected a hex string "
                             "such as '0x3f80'") from None
        if not 0 <= v < limit:
            raise ValueError(f"activation table entry {i} is {s!r}, out of range for "
                             f"{act.out_format}")
        vals[i] = v
    t = vals.astype(act.out_format.dtype)
    valid = act.in_format.all_codes()
    act.out_format.check_codes(t[valid.astype(np.int64)])
    t.flags.writeable = False
    if verify:
        fresh = act.table()
        bad = np.flatnonzero(fresh != t)
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"activation table entry {act.in_format.hex(i)} is "
                             f"{act.out_format.hex(t[i])}, recomputed "
                             f"{act.out_format.hex(fresh[i])} ({bad.size} entries differ)")
    return Activation(act.name, act.method, act.in_format, act.out_format, act.rounding,
                      dict(act.params), table=t)


# ============================================================================================
# Checkers
# ============================================================================================

@dataclasses.dataclass(frozen=True)
class CheckReport:
    """Result of :func:`check_activation` / :func:`check_allowed`.

    ``worst_input`` is the input code with the largest error (the lowest such code on ties),
    ``worst_ulps`` its error in ulps (inf for NaN against non-NaN), ``count_over`` the number
    of inputs whose error exceeds ``allowed_ulps`` (for :func:`check_allowed`: whose output is
    not in the allowed set).
    """

    n_checked: int
    count_over: int
    worst_input: str | None
    worst_input_code: int | None
    worst_input_value: float | None
    worst_ulps: float
    worst_output: str | None
    worst_reference: str | None
    allowed_ulps: float

    @property
    def ok(self) -> bool:
        return self.count_over == 0

    def __str__(self):
        head = f"{self.count_over} of {self.n_checked} inputs over {self.allowed_ulps} ulp"
        if self.worst_input is None:
            return head
        return (f"{head}; worst {self.worst_ulps} ulp at input {self.worst_input}: got "
                f"{self.worst_output}, reference {self.worst_reference}")


def _outputs(impl, inputs, in_fmt):
    if isinstance(impl, Activation):
        return impl(inputs) if inputs is not None else impl.table()
    t = np.asarray(impl)
    return t if inputs is None else t[np.asarray(inputs).astype(np.int64)]


def check_activation(impl, reference, allowed_ulps=0, *, inputs=None, out_fmt=None,
                     in_fmt=None):
    """Compare an implementation with a reference, input by input, in ulps.

    Parameters
    ----------
    impl : Activation or array
        The implementation (an array is a table indexed by input code).
    reference : Activation, array or None
        None means the correctly rounded reference of ``impl`` (needs an Activation).
    allowed_ulps : number
        Errors above this count as failures.
    inputs : array of input codes, optional
        Default every code of the input format (needs a <= 16-bit input format).
    out_fmt, in_fmt : formats, needed only when both sides are plain arrays.

    Returns
    -------
    CheckReport
    """
    in_fmt, out_fmt = _check_formats(impl, reference, in_fmt, out_fmt)
    if reference is None:
        if not isinstance(impl, Activation):
            raise TypeError("reference=None needs impl to be an Activation")
        reference = _reference_activation(impl)
    if inputs is None:
        inputs = in_fmt.all_codes()
    inputs = in_fmt.check_codes(np.asarray(inputs).reshape(-1))
    got = out_fmt.check_codes(_outputs(impl, inputs, in_fmt))
    ref = out_fmt.check_codes(_outputs(reference, inputs, in_fmt))
    err = ulp_distance(got, ref, out_fmt)
    return _report(in_fmt, out_fmt, inputs, got, ref, err, err > allowed_ulps, allowed_ulps)


def check_allowed(impl, allowed, *, inputs=None, out_fmt=None, in_fmt=None):
    """Check that every output lies in a set of allowed outputs for its input.

    ``allowed`` is a sequence of references (Activations or tables indexed by input code), e.g.
    ``[round_down, round_up]`` for a faithful implementation; an output is accepted when it
    equals one of them (NaN matches NaN by class). The reported error of a rejected output is
    its distance to the nearest allowed one.
    """
    if isinstance(allowed, (Activation, np.ndarray)) and not (
            isinstance(allowed, np.ndarray) and allowed.ndim == 2):
        allowed = [allowed]
    if isinstance(allowed, np.ndarray):
        allowed = list(allowed)
    if not allowed:
        raise ValueError("check_allowed needs at least one allowed reference")
    in_fmt, out_fmt = _check_formats(impl, allowed[0], in_fmt, out_fmt)
    if inputs is None:
        inputs = in_fmt.all_codes()
    inputs = in_fmt.check_codes(np.asarray(inputs).reshape(-1))
    got = out_fmt.check_codes(_outputs(impl, inputs, in_fmt))
    best = None
    best_ref = None
    for a in allowed:
        ref = out_fmt.check_codes(_outputs(a, inputs, in_fmt))
        err = ulp_distance(got, ref, out_fmt)
        if best is None:
            best, best_ref = err, ref
        else:
            better = err < best
            best = np.where(better, err, best)
            best_ref = np.where(better, ref, best_ref)
    return _report(in_fmt, out_fmt, inputs, got, best_ref, best, best > 0, 0)


def _check_formats(impl, reference, in_fmt, out_fmt):
    for obj in (impl, reference):
        if isinstance(obj, Activation):
            in_fmt = in_fmt or obj.in_format
            out_fmt = out_fmt or obj.out_format
    if in_fmt is None or out_fmt is None:
        raise TypeError("pass in_fmt and out_fmt when neither side is an Activation")
    return as_format(in_fmt, "in_fmt"), as_format(out_fmt, "out_fmt")


def _report(in_fmt, out_fmt, inputs, got, ref, err, over, allowed):
    n = int(inputs.size)
    if n == 0:
        return CheckReport(0, 0, None, None, None, 0.0, None, None, allowed)
    i = int(np.argmax(err))
    worst = float(err[i])
    worst = int(worst) if np.isfinite(worst) else worst
    code = int(inputs[i])
    return CheckReport(
        n_checked=n, count_over=int(np.count_nonzero(over)),
        worst_input=in_fmt.show(code), worst_input_code=code,
        worst_input_value=float(in_fmt.decode(np.array([code]))[0]), worst_ulps=worst,
        worst_output=out_fmt.show(got[i]), worst_reference=out_fmt.show(ref[i]),
        allowed_ulps=allowed)


def _reference_activation(act: Activation) -> Activation:
    """The correctly rounded (or exact) twin of ``act`` with the same formats and rounding."""
    method = "exact" if act.name in EXACT_FUNCTIONS else "cr"
    extra = {"alpha": act.params["alpha"]} if act.name == "elu" else {}
    return get_activation(act.name, act.in_format, act.out_format, method=method,
                          rounding=act.rounding, **extra)


def rounding_bounds(act: Activation):
    """``(round_down, round_up)`` twins of ``act`` (method cr/exact in RDN and RUP): the allowed
    set of a faithful implementation."""
    method = "exact" if act.name in EXACT_FUNCTIONS else "cr"
    extra = {"alpha": act.params["alpha"]} if act.name == "elu" else {}
    return tuple(get_activation(act.name, act.in_format, act.out_format, method=method,
                                rounding=m, **extra) for m in ("RDN", "RUP"))


# ============================================================================================
# Catalogue (for ``ulpflow activations --format ...``)
# ============================================================================================

def catalogue(fmt, out_fmt=None, *, names=None, methods=None, progress=None) -> list[dict]:
    """One row per implementation over ``fmt``: name, method, in/out format, parameters, measured
    worst ulp error against the correctly rounded reference and the input where it occurs.

    Default: the exact functions; every correctly rounded one; faithful (seed 0) and 1-ulp
    (k=1, seed 0) versions of each; the PWL approximations. Tables come from the disk cache
    after the first run (a cold bf16 catalogue builds ~40 tables). ``progress``, if given, is
    called as ``progress(name, method)`` before each implementation is built.
    """
    fmt = as_format(fmt, "fmt")
    out_fmt = fmt if out_fmt is None else as_format(out_fmt, "out_fmt")
    names = FUNCTIONS if names is None else tuple(names)
    methods = METHODS if methods is None else tuple(methods)
    rows = []
    for method in methods:
        for name in names:
            if method == "exact" and name not in EXACT_FUNCTIONS:
                continue
            if method == "cr" and name in EXACT_FUNCTIONS:
                continue
            if method == "pwl" and name not in ("sigmoid", "tanh", "gelu"):
                continue
            if method in ("faithful", "kulp") and name in EXACT_FUNCTIONS and fmt == out_fmt:
                continue  # identical to the exact function
            if name == "step" and out_fmt.one_code is None:
                continue
            if progress is not None:
                progress(name, method)
            act = get_activation(name, fmt, out_fmt, method=method)
            d = act.describe()
            rows.append({"name": name, "method": method, "in_format": str(fmt),
                         "out_format": str(out_fmt), "params": d["params"],
                         "max_ulp_error": d["max_ulp_error"],
                         "worst_input": d["worst_input"] or "-",
                         "measured_over": d["measured_over"], "exhaustive": d["exhaustive"],
                         "monotone": d["monotone"]})
    return rows
