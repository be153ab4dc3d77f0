"""Checking a unit against its golden twin: :func:`check` and the operand sweep :func:`run_sweep`.

Every ``ulpflow.hdl`` unit carries its golden twin, ``unit.emulate(**inputs)``, which returns
the codes the unit must produce (keyed like :func:`~ulpflow.sim.simulate`'s outputs). So a check
needs nothing but the unit and its inputs: simulate, compare with ``emulate``, and on a mismatch
raise :class:`~ulpflow.sim.compare.RTLMismatch` naming the first failing vector, decoded with the
formats the unit's signature records.
"""

from __future__ import annotations

from collections.abc import Mapping

from .codes import OPS, check_op, golden_op
from .coverage import coverage, format_coverage
from .simulate import UnitSimulator, assert_matches

__all__ = ["check", "run_sweep"]


def _unit_of(unit):
    return unit.unit if isinstance(unit, UnitSimulator) else unit


def expected_codes(unit, inputs: Mapping[str, object]) -> dict:
    """``unit.emulate(**inputs)``: the golden twin's output codes for ``inputs``."""
    target = _unit_of(unit)
    emulate = getattr(target, "emulate", None)
    if not callable(emulate):
        raise TypeError(
            f"{type(target).__name__} has no emulate(**inputs) method (its golden twin); "
            "pass expected codes to assert_matches() instead"
        )
    if not isinstance(inputs, Mapping):
        raise TypeError(f"inputs must be a dict port name -> array of codes, got {type(inputs).__name__}")
    expected = emulate(**inputs)
    if not isinstance(expected, Mapping) or not expected:
        raise TypeError(f"{type(target).__name__}.emulate() must return a dict output port -> codes, "
                        f"got {type(expected).__name__}")
    return dict(expected)


def check(unit, inputs: Mapping[str, object], **engine_kwargs) -> dict:
    """Simulate ``unit`` on ``inputs`` and compare every output with ``unit.emulate(**inputs)``.

    Parameters
    ----------
    unit : Amaranth component with ``emulate``, or a :class:`UnitSimulator` of one
    inputs : dict of str to array of int
        Codes per data input port, as :func:`~ulpflow.sim.simulate` takes them.
    engine_kwargs
        Passed to :func:`~ulpflow.sim.assert_matches` (``engine``, ``lanes``, ``runner``,
        ``formats``, ...). Without ``formats`` the formats of the unit's signature decode a
        mismatch and make float NaNs match by class.

    Returns
    -------
    dict of str to numpy.ndarray
        The simulated output codes (equal to the golden twin's).

    Raises
    ------
    RTLMismatch
        An ``AssertionError`` whose message names the first mismatching vector, decoded.

    Examples
    --------
    >>> from ulpflow.sim import check, vectors                          # doctest: +SKIP
    >>> a, b = vectors.exhaustive(e4m3)                                 # doctest: +SKIP
    >>> check(FloatAdder(e4m3, latency=2), {"a": a, "b": b})            # doctest: +SKIP
    """
    if engine_kwargs.get("formats") is None:
        # the unit's own formats: NaN matches NaN by class, as the scoreboard does with formats
        known = getattr(_unit_of(unit).signature, "formats", {})
        engine_kwargs["formats"] = {k: f for k, f in known.items() if f is not None} or None
    return assert_matches(unit, inputs, expected_codes(unit, inputs), **engine_kwargs)


def _coverage_op(target, op):
    """The op name coverage needs: ``op`` if given, else read from the unit's golden operation
    ``OP`` (``golden.add`` -> ``"add"``); None when neither says."""
    if op is not None:
        return check_op(op)
    fn = getattr(target, "OP", None)
    for name in OPS:
        if fn is not None and fn is golden_op(name):
            return name
    return None


def run_sweep(unit, a, b, *, op: str | None = None, verbose: bool = True, **sim_kwargs) -> dict:
    """:func:`check` the operand pairs ``(a, b)`` on a two-operand unit; return their coverage.

    The expected codes are the unit's golden twin, ``unit.emulate(a=a, b=b)``; a mismatch
    raises :class:`~ulpflow.sim.compare.RTLMismatch` naming the first failing vector. Coverage
    (:func:`ulpflow.sim.coverage.coverage`) is measured in the operands' format with the unit's
    ``rounding``, for the operation the unit's ``OP`` attribute names (its golden function,
    ``golden.add``/``sub``/``mul``) or ``op``. When the operation is unknown or the operand and
    result formats differ only the vector count is returned. The coverage line is printed when
    ``verbose``.

    Parameters
    ----------
    unit : Amaranth component with ``emulate`` and ports ``a``, ``b`` -> ``result``, or a
        :class:`UnitSimulator` of one
    a, b : code arrays
    op : {"add", "sub", "mul"}, optional
        The operation, for the coverage only (default: from ``unit.OP``).
    sim_kwargs : passed to :func:`check` (engine, lanes, runner, ...).

    Returns
    -------
    dict of str to int
        Coverage counts (see :func:`ulpflow.sim.coverage.coverage`), with ``"vectors"``.
    """
    target = _unit_of(unit)
    check(unit, {"a": a, "b": b}, **sim_kwargs)
    formats = getattr(target.signature, "formats", {})
    fa, fb, fo = (formats.get(k) for k in ("a", "b", "result"))
    name = _coverage_op(target, op)
    rounding = getattr(target, "rounding", None)
    if name is not None and fa is not None and fa == fb == fo:
        counts = coverage(a, b, fa, name, rounding=rounding)
    else:
        counts = {"vectors": int(len(a))}
    if verbose:
        mode = "" if rounding in (None, "RNE") else f" {rounding}"
        print(f"{name or type(target).__name__} {fa}{mode}: 0 mismatches; {format_coverage(counts)}")
    return counts
