"""The Activation object: one implementation of an activation function, from codes of one format
to codes of another, built by :func:`get_activation` and read back by
:func:`activation_from_json`.

What the methods compute and the conventions for NaN, infinities and signed zeros are stated in
:mod:`ulpflow.golden.activations` (the public module, which re-exports everything here); the
references and their table cache are in :mod:`.activations_tables`, the checkers in
:mod:`.activations_check`.
"""

from __future__ import annotations

import hashlib
import types
from fractions import Fraction
from numbers import Integral, Rational

import numpy as np

from .activations_cr import CR_FUNCTIONS
from .activations_report import report_errors
from .activations_tables import (EXACT_FUNCTIONS, TABLE_BITS, TABLE_VERSION, cr_table,
                                 exact_codes, full_table, json_param, params_key,
                                 reference_codes)
from .formats import CLASS_INF, as_format, from_ordinal, ordinal, ulp_distance
from .rounding import check_rounding

FUNCTIONS = EXACT_FUNCTIONS + CR_FUNCTIONS
METHODS = ("exact", "cr", "faithful", "kulp", "pwl")
#: Functions with a piecewise-linear implementation (bounded or asymptotically linear tails).
PWL_FUNCTIONS = ("sigmoid", "tanh", "gelu", "silu", "softplus", "mish", "elu")
MONOTONE_FUNCTIONS = frozenset({"identity", "relu", "step", "sigmoid", "tanh", "elu", "selu",
                                "softplus", "exp"})
#: The ``kind`` an activation's JSON object carries (:meth:`Activation.to_json`).
ACTIVATION_JSON_KIND = "ulpflow.activation"


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
             params_key(self.params))
        if self._lazy.get("from_table"):
            k += (hashlib.sha256(self._lazy["table"].tobytes()).hexdigest(),)
        return k

    def __eq__(self, other):
        return isinstance(other, Activation) and other._key() == self._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        extra = "".join(f", {k}={json_param(v)!r}" for k, v in self.params.items())
        return (f"get_activation({self.name!r}, {str(self.in_format)!r}, "
                f"{str(self.out_format)!r}, method={self.method!r}, "
                f"rounding={self.rounding!r}{extra})")

    # -- evaluation --------------------------------------------------------------------------
    @property
    def has_table(self) -> bool:
        """True when the input format is small enough (<= 16 bits) for a full table."""
        return self.in_format.bits <= TABLE_BITS

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
                             f"only for input formats of at most {TABLE_BITS} bits; call the "
                             "activation on the codes you need")
        t = self._lazy.get("table")
        if t is None:
            if self.method == "cr":
                t = cr_table(self.name, self.in_format, self.out_format, self.rounding,
                              dict(self.params))
            else:
                t = full_table(self.in_format, self._evaluate)
            self._lazy["table"] = t
        return t

    def _reference(self, codes, mode=None):
        return reference_codes(self.name, self.in_format, self.out_format,
                                mode or self.rounding, dict(self.params), codes)

    def _evaluate(self, codes):
        """Outputs for a 1-D array of valid input codes (no table lookups of self)."""
        m = self.method
        if m == "exact":
            return exact_codes(self.name, self.in_format, self.out_format, self.rounding, codes)
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
                 "params": {k: json_param(v) for k, v in self.params.items()},
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
        ref = reference_activation(self)
        got, want = self(inputs), ref(inputs)
        err = ulp_distance(got, want, self.out_format)
        rep = report_errors(self.in_format, self.out_format, inputs, got, want, err, err > 0, 0)
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
        d = {"kind": ACTIVATION_JSON_KIND, "version": TABLE_VERSION, "name": self.name,
             "method": self.method, "in_format": str(self.in_format),
             "out_format": str(self.out_format), "rounding": self.rounding,
             "params": {k: json_param(v) for k, v in self.params.items()}}
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
    if d.get("kind", ACTIVATION_JSON_KIND) != ACTIVATION_JSON_KIND:
        raise ValueError(f"not an activation: kind is {d.get('kind')!r}, expected "
                         f"{ACTIVATION_JSON_KIND!r}")
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


def reference_activation(act: Activation) -> Activation:
    """The correctly rounded (or exact) twin of ``act`` with the same formats and rounding."""
    method = "exact" if act.name in EXACT_FUNCTIONS else "cr"
    extra = {"alpha": act.params["alpha"]} if act.name == "elu" else {}
    return get_activation(act.name, act.in_format, act.out_format, method=method,
                          rounding=act.rounding, **extra)
