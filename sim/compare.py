"""Scoreboard: compare output codes of the RTL with expected (golden) codes and explain a mismatch.

Used in two places with the same wording: inside the cocotb bulk testbench (the scoreboard
that fails the cocotb test) and on the pytest side (:func:`assert_outputs_match`, or by hand
with :func:`compare_codes` and :func:`format_mismatch`).

Equality is on codes, except that for float formats any NaN code matches any other NaN code
(the golden model fixes one canonical NaN per format, but a NaN is a class, not a value).
A report names the first failing vector decoded: every input, the expected and the received
output, each as hex and as the number the format says it is.

Examples
--------
>>> import numpy as np
>>> from ulpflow.golden import parse_format
>>> e4m3 = parse_format("e4m3")
>>> rep = compare_codes(np.array([0x38, 0x7F], np.uint8), np.array([0x38, 0x7A], np.uint8), e4m3)
>>> rep.count, rep.first                     # 0x7f and 0x7a are both NaN in e4m3
(0, None)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Comparison",
    "RTLMismatch",
    "assert_outputs_match",
    "codes_equal",
    "compare_codes",
    "compare_outputs",
    "format_mismatch",
    "show_code",
]


class RTLMismatch(AssertionError):
    """Output codes of the hardware differ from the expected codes.

    Raised by the cocotb scoreboard (results.xml then records the type ``RTLMismatch``) and by
    :func:`assert_outputs_match`. The message is one line naming the first failing vector.
    """


def _as_u64(codes, what: str) -> np.ndarray:
    arr = np.asarray(codes)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{what} must be integer codes, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{what} must be 1-D (one code per vector), got shape {arr.shape}")
    return arr.astype(np.int64).view(np.uint64) if arr.dtype.kind == "i" else arr.astype(np.uint64)


def _is_float(fmt) -> bool:
    return fmt is not None and getattr(fmt, "kind", None) == "float"


def _nan_mask(fmt, codes: np.ndarray) -> np.ndarray:
    """NaN class per code, read from the format (codes wider than the format are never NaN)."""
    fits = codes < np.uint64(1 << fmt.bits) if fmt.bits < 64 else np.ones(codes.shape, bool)
    mask = np.zeros(codes.shape, dtype=bool)
    if fits.any():
        mask[fits] = fmt.is_nan(codes[fits].astype(fmt.dtype))
    return mask


def codes_equal(got, expected, fmt=None) -> np.ndarray:
    """Boolean mask: vector ``i`` matches (same code; for float formats also NaN vs NaN).

    Parameters
    ----------
    got, expected : 1-D integer arrays of one length
    fmt : golden format, optional
        The format of both arrays. Without it (or for fixed point) only identical codes match.
    """
    g = _as_u64(got, "got")
    e = _as_u64(expected, "expected")
    if g.shape != e.shape:
        raise ValueError(f"got has {g.size} codes but expected has {e.size}")
    same = g == e
    if _is_float(fmt) and not same.all():
        differ = ~same
        both_nan = _nan_mask(fmt, g[differ]) & _nan_mask(fmt, e[differ])
        same[np.flatnonzero(differ)[both_nan]] = True
    return same


@dataclass(frozen=True)
class Comparison:
    """Outcome of :func:`compare_codes`.

    Attributes
    ----------
    n : int
        Number of vectors compared.
    bad : numpy.ndarray
        Indices (int64, ascending) of the vectors that differ.
    """

    n: int
    bad: np.ndarray

    @property
    def count(self) -> int:
        """Number of mismatching vectors."""
        return int(self.bad.size)

    @property
    def ok(self) -> bool:
        return self.bad.size == 0

    @property
    def first(self) -> int | None:
        """Index of the first mismatching vector, or None."""
        return int(self.bad[0]) if self.bad.size else None


def compare_codes(got, expected, fmt=None) -> Comparison:
    """Compare two code arrays; see :func:`codes_equal` for what counts as equal."""
    same = codes_equal(got, expected, fmt)
    return Comparison(int(same.size), np.flatnonzero(~same).astype(np.int64))


def show_code(code, fmt=None, *, width: int | None = None, signed: bool = False) -> str:
    """``"0x3c (1.5)"``: a code in hex (zero-padded to the width) and the number it encodes.

    With a format this is ``fmt.show(code)`` (the one code display of the golden formats);
    without one the code is shown as an integer, two's complement when ``signed``.
    """
    c = int(code)
    if fmt is not None:
        return fmt.show(c)
    digits = ((width or max(c.bit_length(), 1)) + 3) // 4
    if signed and width and c >= 1 << (width - 1):
        return f"0x{c:0{digits}x} ({c - (1 << width)})"
    return f"0x{c:0{digits}x} ({c})"


def _fmt_of(formats, name):
    if formats is None:
        return None
    if isinstance(formats, Mapping):
        return formats.get(name)
    return formats  # one format for every port


def format_mismatch(
    index: int,
    inputs: Mapping[str, np.ndarray],
    expected: Mapping[str, np.ndarray],
    got: Mapping[str, np.ndarray],
    formats=None,
    *,
    count: int | None = None,
    total: int | None = None,
    per_port: Mapping[str, int] | None = None,
    name: str = "unit",
    widths: Mapping[str, tuple[int, bool]] | None = None,
) -> str:
    """One line describing the failing vector ``index``, decoded.

    Parameters
    ----------
    index : int
        The vector to describe.
    inputs, expected, got : dict of port name to code array
        Input codes, expected and received output codes (only ports in ``expected`` are shown).
    formats : dict of port name to format, or one format for all ports, optional
        Formats used to decode; a port without one is shown as an integer.
    count, total : int, optional
        Number of mismatching vectors and of vectors compared.
    per_port : dict, optional
        Mismatch count per output port.
    name : str
        What was simulated (the unit's repr).
    widths : dict of port name to (bits, signed), optional
        Port widths, for hex padding and signed display of ports without a format.
    """
    widths = widths or {}

    def show(port, value):
        w, s = widths.get(port, (None, False))
        return show_code(value, _fmt_of(formats, port), width=w, signed=s)

    head = f"{name}: "
    if count is not None and total is not None:
        head += f"{count} of {total} vectors mismatch"
        if per_port and len(per_port) > 1:
            head += " (" + ", ".join(f"{k}: {v}" for k, v in per_port.items()) + ")"
        head += "; first "
    head += f"at index {index}: "
    ins = ", ".join(f"{k}={show(k, v[index])}" for k, v in inputs.items())
    outs = "; ".join(
        f"{k} expected {show(k, expected[k][index])}, got {show(k, got[k][index])}" for k in expected
    )
    return f"{head}{ins} -> {outs}"


def compare_outputs(
    inputs: Mapping[str, np.ndarray],
    got: Mapping[str, np.ndarray],
    expected: Mapping[str, np.ndarray],
    formats=None,
    *,
    name: str = "unit",
    widths: Mapping[str, tuple[int, bool]] | None = None,
    exact: bool = False,
) -> str | None:
    """Scoreboard over several output ports: None when everything matches, else the report.

    Every port in ``expected`` must be in ``got`` and have one code per vector. The first
    failing vector is the lowest index where any port differs; the count is the number of
    vectors where at least one port differs. ``exact``: compare codes only (no NaN by class),
    the formats serving only to decode the report.
    """
    missing = [k for k in expected if k not in got]
    if missing:
        raise ValueError(f"expected codes for {missing}, but the outputs are {list(got)}")
    bad_any = None
    per_port = {}
    for port, exp in expected.items():
        rep = compare_codes(got[port], exp, None if exact else _fmt_of(formats, port))
        per_port[port] = rep.count
        mask = np.zeros(rep.n, dtype=bool)
        mask[rep.bad] = True
        bad_any = mask if bad_any is None else bad_any | mask
    if bad_any is None or not bad_any.any():
        return None
    first = int(np.argmax(bad_any))
    return format_mismatch(
        first, inputs, expected, got, formats,
        count=int(bad_any.sum()), total=int(bad_any.size), per_port=per_port, name=name, widths=widths,
    )  # fmt: skip


def assert_outputs_match(inputs, got, expected, formats=None, *, name: str = "unit", widths=None,
                         exact: bool = False) -> None:
    """Raise :class:`RTLMismatch` (an AssertionError) with the report if any vector differs."""
    message = compare_outputs(inputs, got, expected, formats, name=name, widths=widths, exact=exact)
    if message is not None:
        raise RTLMismatch(message)
