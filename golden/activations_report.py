"""The result of checking an activation implementation against a reference: :class:`CheckReport`,
built from output codes and their ulp errors, input by input (:func:`report_errors`). The
checkers themselves (:func:`~ulpflow.golden.activations_check.check_activation`,
:func:`~ulpflow.golden.activations_check.check_allowed`) and ``Activation.describe`` use it.
"""

from __future__ import annotations

import dataclasses

import numpy as np


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


def report_errors(in_fmt, out_fmt, inputs, got, ref, err, over, allowed):
    """The :class:`CheckReport` of outputs ``got`` against ``ref`` for ``inputs`` (1-D arrays of
    codes), with ulp errors ``err``, failures ``over`` and the allowed error ``allowed``."""
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
