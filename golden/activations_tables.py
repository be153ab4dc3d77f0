"""Reference tables of activations: exact and correctly rounded output codes, and their cache.

The reference of every activation implementation is the exact function (identity, relu, step)
or the correctly rounded one (MPFR interval evaluation, :mod:`.activations_cr`). For input
formats of at most :data:`TABLE_BITS` bits the whole correctly rounded table is built once and
kept in memory and on disk (``activations/`` under ulpflow's one cache root, see
:func:`cache_dir`); the cache key names the function, formats, rounding, function parameters,
:data:`TABLE_VERSION` and the installed ulpflow version. Wider inputs are evaluated on demand.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from . import cache
from .activations_cr import exact_mpfr, round_mpfr, special_value, start_precision
from .arith import convert
from .formats import CLASS_NAN, CLASS_ZERO

#: Bump when the meaning of a cached table changes (the cache key includes it).
TABLE_VERSION = 1
#: Input formats up to this width get full tables.
TABLE_BITS = 16
#: The functions computed exactly (all others are rounded from MPFR evaluations).
EXACT_FUNCTIONS = ("identity", "relu", "step")


# ============================================================================================
# Parameters in keys and JSON
# ============================================================================================

def json_param(v):
    """A parameter value as JSON and cache keys write it (Fractions as strings such as '3/2')."""
    if isinstance(v, Fraction):
        return str(v)
    return v


def params_key(params) -> str:
    """Canonical text of a parameter dict (for identity and cache keys)."""
    return json.dumps({k: json_param(v) for k, v in sorted(params.items())}, sort_keys=True)


def function_params(name, params):
    """The parameters that change the mathematical function (not the method)."""
    return {"alpha": params["alpha"]} if name == "elu" else {}



# ============================================================================================
# Reference evaluation: exact functions and correctly rounded ones
# ============================================================================================

def _float64_exact(fmt) -> bool:
    if fmt.kind == "fixed":
        return fmt.bits <= 53
    return fmt.man_bits <= 52 and fmt.emin - fmt.man_bits >= -1074 and fmt.emax <= 1023



def exact_codes(name, in_fmt, out_fmt, mode, codes):
    """Output codes of the exact function ``name`` (identity, relu, step) for ``codes``."""
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


def reference_codes(name, in_fmt, out_fmt, mode, params, codes):
    """The correctly rounded (or exact) reference for arbitrary codes."""
    codes = np.asarray(codes)
    if name in EXACT_FUNCTIONS:
        return exact_codes(name, in_fmt, out_fmt, mode, codes)
    if in_fmt.bits <= TABLE_BITS:
        return cr_table(name, in_fmt, out_fmt, mode, params)[codes]
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
    text = "|".join([name, str(in_fmt), str(out_fmt), mode, params_key(params),
                     f"table{TABLE_VERSION}", f"ulpflow{_package_version()}"])
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return text, f"{name}_{in_fmt}_{out_fmt}_{mode}_{digest}.npy"


def full_table(in_fmt, build):
    """Table indexed by every bit pattern (codes that are not codes of the format map to 0)."""
    size = 1 << in_fmt.bits
    valid = in_fmt.all_codes()
    vals = build(valid)
    table = np.zeros(size, dtype=vals.dtype)
    table[valid.astype(np.int64)] = vals
    table.flags.writeable = False
    return table


def cr_table(name, in_fmt, out_fmt, mode, params):
    """Full correctly rounded table for a <= 16-bit input format, from memory, disk or MPFR."""
    fparams = function_params(name, params)
    text, fname = _cache_key(name, in_fmt, out_fmt, mode, fparams)
    hit = _MEMO.get(text)
    if hit is not None:
        return hit
    path = cache_dir() / fname
    table = _load_table(path, in_fmt, out_fmt)
    if table is None:
        table = full_table(in_fmt, lambda c: _cr_codes(name, in_fmt, out_fmt, mode, fparams, c))
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

