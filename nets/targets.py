"""Targets: the functions (or data sets) a construction must represent.

A :class:`Target` is a finite table: ``points`` (codes of the input format, shape ``(N, d)``) and
``values`` (codes of the output format, shape ``(N,)``). A *whole-domain* target has one row for
every point of its :class:`Domain`; a *data set* (construction C2) has any number of distinct
points.

The domain of a format is the set of its finite values, +0 and −0 being one point (represented by
the +0 code; subnormal codes of a flush-to-zero format are not values); a :class:`Domain` may be
restricted to an interval ``[lo, hi]`` (C4 works on ``[−1, 1]``) and taken to the power ``d``.

Specs (:func:`parse_target`): ``random:SEED``, ``table:FILE.csv`` and ``python:MODULE:FUNCTION``.
See docs/constructions.md ("Targets") for the CSV rules.
"""

from __future__ import annotations

import csv
import importlib
import itertools
import re
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ulpflow.golden import as_format
from ulpflow.golden.formats import ordinal

from .common import domain_codes, value_of

__all__ = ["Domain", "Target", "random_target", "random_dataset", "table_target", "python_target",
           "parse_target", "TargetError"]


class TargetError(ValueError):
    """A target spec, table or callable that cannot give a target."""


@dataclass(frozen=True)
class Domain:
    """The finite values of ``fmt`` in ``[lo, hi]`` (None: unbounded), to the power ``d``."""

    fmt: object
    d: int = 1
    lo: Fraction | None = None
    hi: Fraction | None = None

    def axis(self) -> np.ndarray:
        return domain_codes(self.fmt, self.lo, self.hi)

    def points(self) -> np.ndarray:
        ax = self.axis()
        if self.d == 1:
            return ax[:, None]
        grid = np.array(list(itertools.product(ax.tolist(), repeat=self.d)), dtype=self.fmt.dtype)
        return grid

    @property
    def size(self) -> int:
        return self.axis().size ** self.d

    def __str__(self):
        rng = "" if self.lo is None and self.hi is None else f" ∩ [{self.lo}, {self.hi}]"
        return f"finite {self.fmt}{rng}" + (f" ^ {self.d}" if self.d > 1 else "")


@dataclass
class Target:
    """A table ``points -> values``; ``inexact`` counts the values that had to be rounded into the
    output format (``python:`` targets), ``description`` says where it came from."""

    in_format: object
    out_format: object
    points: np.ndarray
    values: np.ndarray
    description: str
    whole_domain: bool = True
    domain: Domain | None = None
    inexact: int = 0

    @property
    def d(self) -> int:
        return self.points.shape[1]

    def __len__(self):
        return self.points.shape[0]

    def point_text(self, i: int) -> str:
        return "(" + ", ".join(self.in_format.show(c) for c in self.points[i]) + ")"


def _keys(fmt, codes):
    """Value keys of codes (ordinals; ±0 share 0)."""
    o, _ = ordinal(fmt, codes)
    return o


def random_target(seed: int, domain: Domain, out_fmt=None, *, value_range=None) -> Target:
    """A random function on the whole ``domain``: every value uniform over the finite values of
    ``out_fmt`` (default the domain's format), optionally only those in ``value_range = (lo, hi)``."""
    out_fmt = domain.fmt if out_fmt is None else as_format(out_fmt)
    rng = np.random.default_rng(int(seed))
    pts = domain.points()
    vals = domain_codes(out_fmt, *(value_range or (None, None)))
    return Target(domain.fmt, out_fmt, pts, rng.choice(vals, size=pts.shape[0]),
                  f"random:{seed}", True, domain)


def random_dataset(seed: int, fmt, n: int, d: int = 1, *, lo=None, hi=None) -> Target:
    """``n`` distinct random points of ``fmt^d`` (values in ``[lo, hi]``) with random finite labels."""
    fmt = as_format(fmt)
    rng = np.random.default_rng(int(seed))
    ax = domain_codes(fmt, lo, hi)
    if d == 1:
        if n > ax.size:
            raise TargetError(f"a data set of {n} distinct points does not fit in {ax.size} values")
        pts = rng.choice(ax, size=n, replace=False)[:, None]
    else:
        seen, rows = set(), []
        while len(rows) < n:
            p = tuple(int(v) for v in rng.choice(ax, size=d))
            if p not in seen:
                seen.add(p)
                rows.append(p)
        pts = np.array(rows, dtype=fmt.dtype)
    labels = rng.choice(domain_codes(fmt), size=n)
    return Target(fmt, fmt, pts, labels, f"dataset:{seed}:{n}", False, None)


# ---------------------------------------------------------------------- CSV tables
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")


def _cell(text: str, fmt, where: str) -> int:
    t = text.strip()
    if _HEX.match(t):
        if len(t) - 2 != (fmt.bits + 3) // 4:
            raise TargetError(f"{where}: code {t!r} must have exactly {(fmt.bits + 3) // 4} hex digits for {fmt}")
        c = int(t, 16)
        if not bool(fmt.is_code(np.array([c]))[0]):
            raise TargetError(f"{where}: {t} is not a code of {fmt}")
        if not bool(fmt.is_finite(np.array([c], dtype=fmt.dtype))[0]):
            raise TargetError(f"{where}: {fmt.show(c)} is not a finite value")
        return c
    try:
        v = Fraction(t)
    except (ValueError, ZeroDivisionError):
        raise TargetError(f"{where}: {t!r} is neither a decimal number nor a code 0x…") from None
    c = int(fmt.encode(v))
    back = value_of(fmt, c)
    if not (isinstance(back, Fraction) and back == v):
        lo, hi = fmt.show(int(fmt.encode(v, "RDN"))), fmt.show(int(fmt.encode(v, "RUP")))
        raise TargetError(f"{where}: {t} is not exactly representable in {fmt} (neighbours {lo} and {hi})")
    return c


def table_target(path, domain: Domain | None, in_fmt, out_fmt=None, *, d: int = 1) -> Target:
    """Read a CSV table (header ``x,y`` or ``x0,…,x{d-1},y``).

    With a ``domain`` the table must list every point of it exactly once (a whole-domain target);
    with ``domain=None`` it is a data set of distinct points. Errors name the file and the row
    (rows are numbered from 1, the header being row 1).
    """
    in_fmt = as_format(in_fmt)
    out_fmt = in_fmt if out_fmt is None else as_format(out_fmt)
    path = Path(path)
    if domain is not None:
        d = domain.d
    header = ["x", "y"] if d == 1 else [f"x{i}" for i in range(d)] + ["y"]
    try:
        text = path.read_text()
    except OSError as e:
        raise TargetError(f"table {path}: cannot read it ({e.strerror})") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or [h.strip() for h in rows[0]] != header:
        got = ",".join(rows[0]) if rows else "(empty file)"
        raise TargetError(f"table {path} row 1: header must be {','.join(header)!r}, got {got!r}")
    want = None
    if domain is not None:
        want = {tuple(_keys(in_fmt, p)): p for p in domain.points()}
    seen: dict = {}
    pts, vals = [], []
    for r, row in enumerate(rows[1:], start=2):
        where = f"table {path} row {r}"
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != d + 1:
            raise TargetError(f"{where}: expected {d + 1} columns ({','.join(header)}), got {len(row)}")
        p = tuple(_cell(row[i], in_fmt, f"{where}, column {header[i]}") for i in range(d))
        y = _cell(row[d], out_fmt, f"{where}, column y")
        key = tuple(int(k) for k in _keys(in_fmt, np.array(p, dtype=in_fmt.dtype)))
        if key in seen:
            raise TargetError(f"{where}: point {row[:d]} repeats row {seen[key]} (+0 and -0 are one point)")
        if want is not None and key not in want:
            raise TargetError(f"{where}: point {','.join(c.strip() for c in row[:d])} is not in the domain "
                              f"({domain})")
        seen[key] = r
        pts.append(p)
        vals.append(y)
    if want is not None:
        missing = [k for k in want if k not in seen]
        if missing:
            p = want[missing[0]]
            shown = ", ".join(in_fmt.show(c) for c in p)
            raise TargetError(f"table {path}: {len(missing)} domain point(s) missing, the first is ({shown}); "
                              f"a whole-domain table needs one row for each of the {len(want)} points of {domain}")
    if not pts:
        raise TargetError(f"table {path}: no data rows")
    return Target(in_fmt, out_fmt, np.array(pts, dtype=in_fmt.dtype), np.array(vals, dtype=out_fmt.dtype),
                  f"table:{path}", domain is not None, domain)


# ---------------------------------------------------------------------- python callables
def _as_fraction(v, where):
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, bool):
        raise TargetError(f"{where}: returned a bool {v!r}; expected a number")
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            raise TargetError(f"{where}: returned {v!r}; target values must be finite")
        return Fraction(v)
    if isinstance(v, (int, Fraction)):
        return Fraction(v)
    try:
        return Fraction(v)
    except (TypeError, ValueError):
        raise TargetError(f"{where}: returned {v!r}; expected a real number") from None


def python_target(func, domain: Domain, out_fmt=None, *, name="python") -> Target:
    """``func`` called on the values of every domain point (``func(x)`` or ``func(x0, x1, …)``,
    Python floats, exact for every format of at most 64 bits that float64 holds), each result
    rounded to nearest-even into ``out_fmt``. ``Target.inexact`` counts the rounded ones; a
    non-finite result, or one that overflows the output format, is an error naming the point."""
    out_fmt = domain.fmt if out_fmt is None else as_format(out_fmt)
    fmt = domain.fmt
    pts = domain.points()
    xs = fmt.decode(pts)
    vals = np.empty(pts.shape[0], dtype=out_fmt.dtype)
    inexact = 0
    for i in range(pts.shape[0]):
        args = [float(v) for v in xs[i]]
        where = f"{name}{tuple(args) if len(args) > 1 else '(' + repr(args[0]) + ')'}"
        try:
            r = func(*args)
        except Exception as e:  # the user's function: report where it failed
            raise TargetError(f"{where} raised {type(e).__name__}: {e}") from None
        v = _as_fraction(r, where)
        c = int(out_fmt.encode(v))
        back = value_of(out_fmt, c)
        if not isinstance(back, Fraction):
            raise TargetError(f"{where} = {float(v)!r} overflows {out_fmt} (rounds to {out_fmt.show(c)}); "
                              "target values must be finite")
        inexact += back != v
        vals[i] = c
    return Target(fmt, out_fmt, pts, vals, name, True, domain, inexact)


def load_callable(spec: str):
    """``MODULE:FUNCTION`` → the function (the current directory is importable)."""
    mod, sep, fn = spec.rpartition(":")
    if not sep or not mod or not fn:
        raise TargetError(f"python target {spec!r} must be MODULE:FUNCTION")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        m = importlib.import_module(mod)
    except ImportError as e:
        raise TargetError(f"python target {spec!r}: cannot import {mod!r} ({e})") from None
    f = getattr(m, fn, None)
    if not callable(f):
        raise TargetError(f"python target {spec!r}: {mod} has no callable {fn!r}")
    return f


def parse_target(spec: str, domain: Domain, out_fmt=None, *, dataset: bool = False,
                 dataset_size: int = 30) -> Target:
    """A target from its spec: ``random:SEED`` (a random function on the whole domain, or with
    ``dataset`` a random data set of ``dataset_size`` points), ``table:FILE.csv`` (whole domain, or
    with ``dataset`` any distinct points), ``python:MODULE:FUNCTION``."""
    if not isinstance(spec, str) or ":" not in spec:
        raise TargetError(f"unknown target {spec!r}; expected random:SEED, table:FILE.csv or python:MODULE:FUNCTION")
    kind, _, rest = spec.partition(":")
    if kind == "random":
        if not re.fullmatch(r"\d+", rest):
            raise TargetError(f"target {spec!r}: SEED must be a non-negative integer")
        if dataset:
            return random_dataset(int(rest), domain.fmt, dataset_size, domain.d, lo=domain.lo, hi=domain.hi)
        return random_target(int(rest), domain, out_fmt)
    if kind == "table":
        return table_target(rest, None if dataset else domain, domain.fmt, out_fmt, d=domain.d)
    if kind == "python":
        if dataset:
            raise TargetError("a python: target is a function on the whole domain; c2 needs a data set "
                              "(random:SEED or table:FILE.csv)")
        return python_target(load_callable(rest), domain, out_fmt, name=rest)
    raise TargetError(f"unknown target kind {kind!r} in {spec!r}; expected random, table or python")
