"""Checking activation implementations against references, input by input, in ulps:
:func:`check_activation` (within a number of ulps of one reference), :func:`check_allowed`
(equal to one of several allowed references, e.g. the two faithful roundings of
:func:`rounding_bounds`). Both return a :class:`~ulpflow.golden.activations_report.CheckReport`.
"""

from __future__ import annotations

import numpy as np

from .activations_impl import Activation, get_activation, reference_activation
from .activations_report import report_errors
from .activations_tables import EXACT_FUNCTIONS
from .formats import as_format, ulp_distance


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
        reference = reference_activation(impl)
    if inputs is None:
        inputs = in_fmt.all_codes()
    inputs = in_fmt.check_codes(np.asarray(inputs).reshape(-1))
    got = out_fmt.check_codes(_outputs(impl, inputs, in_fmt))
    ref = out_fmt.check_codes(_outputs(reference, inputs, in_fmt))
    err = ulp_distance(got, ref, out_fmt)
    return report_errors(in_fmt, out_fmt, inputs, got, ref, err, err > allowed_ulps, allowed_ulps)


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
    return report_errors(in_fmt, out_fmt, inputs, got, best_ref, best, best > 0, 0)


def _check_formats(impl, reference, in_fmt, out_fmt):
    for obj in (impl, reference):
        if isinstance(obj, Activation):
            in_fmt = in_fmt or obj.in_format
            out_fmt = out_fmt or obj.out_format
    if in_fmt is None or out_fmt is None:
        raise TypeError("pass in_fmt and out_fmt when neither side is an Activation")
    return as_format(in_fmt, "in_fmt"), as_format(out_fmt, "out_fmt")


def rounding_bounds(act: Activation):
    """``(round_down, round_up)`` twins of ``act`` (method cr/exact in RDN and RUP): the allowed
    set of a faithful implementation."""
    method = "exact" if act.name in EXACT_FUNCTIONS else "cr"
    extra = {"alpha": act.params["alpha"]} if act.name == "elu" else {}
    return tuple(get_activation(act.name, act.in_format, act.out_format, method=method,
                                rounding=m, **extra) for m in ("RDN", "RUP"))
