"""Checking a unit against its golden twin: :func:`check` and the operand sweep :func:`run_sweep`.

Every ``ulpflow.hdl`` unit carries its golden twin, ``unit.emulate(**inputs)``, which returns
the codes the unit must produce (keyed like :func:`~ulpflow.sim.simulate`'s outputs). So a check
needs nothing but the unit and its inputs: simulate, compare with ``emulate``, and on a mismatch
raise :class:`~ulpflow.sim.compare.RTLMismatch` naming the first failing vector, decoded with the
formats the unit's signature records.
"""

from __future__ import annotations

from collections.abc import Mapping

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
        ``formats``, ...). Without ``formats`` a mismatch is decoded with the formats of the
        unit's signature.

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
    return assert_matches(unit, inputs, expected_codes(unit, inputs), **engine_kwargs)


def run_sweep(unit, a, b, fmt, op: str, *, rounding=None, out=None, formats=None, verbose: bool = True, **sim_kwargs):
    """Run ``(a, b)`` through ``unit`` against golden ``op`` and return the coverage counts.

    The expected codes come from ``golden.<op>(a, b, fmt, rounding=rounding, out=out)``; the
    comparison is the scoreboard of :func:`ulpflow.sim.assert_matches` (an AssertionError naming
    the first failing vector). The coverage line is printed when ``verbose``.
    """
    from .codes import check_format, golden_op

    fn = golden_op(op)
    fa, fb = (fmt if isinstance(fmt, tuple) else (fmt, fmt))
    fa, fb = check_format(fa), check_format(fb)
    fo = fa if out is None else check_format(out, "out")
    expected = fn(a, b, fmt if isinstance(fmt, tuple) else fa, rounding=rounding, out=out)
    if formats is None:
        formats = {"a": fa, "b": fb, "result": fo}
    assert_matches(unit, {"a": a, "b": b}, {"result": expected}, formats, **sim_kwargs)
    counts = coverage(a, b, fa, op, rounding=rounding) if fa == fb == fo else {"vectors": int(len(a))}
    if verbose:
        print(f"{op} {fa}{'' if rounding is None else ' ' + rounding}: 0 mismatches; {format_coverage(counts)}")
    return counts
