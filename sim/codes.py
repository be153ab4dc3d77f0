"""Helpers shared by :mod:`ulpflow.sim.vectors` and :mod:`ulpflow.sim.coverage`: argument
checks, the golden operation of an op name, and codes as (sign, exponent, significand)."""

from __future__ import annotations

import numpy as np

import ulpflow.golden as golden

__all__ = ["OPS", "check_format", "check_op", "code_triple", "golden_op"]

#: Operations the generators and the coverage know.
OPS = ("add", "sub", "mul")


def check_format(fmt, name="fmt"):
    """A golden format, or its name; anything else is a TypeError naming ``name``."""
    fmt = golden.parse_format(fmt) if isinstance(fmt, str) else fmt
    if getattr(fmt, "kind", None) not in ("float", "fixed"):
        raise TypeError(f"{name} must be a golden FloatFormat or FixedFormat, not {fmt!r}")
    return fmt


def check_op(op: str) -> str:
    if op not in OPS:
        raise ValueError(f"op must be one of {OPS}, got {op!r}")
    return op


def golden_op(op: str):
    """The golden function of ``op`` (``golden.add`` for ``"add"``, ...)."""
    return {"add": golden.add, "sub": golden.sub, "mul": golden.mul}[check_op(op)]


def code_triple(fmt, codes):
    """(sign, e, sig) of finite codes: e the leading-bit exponent, sig normalised to p bits."""
    sign, sig, exp, cls = fmt.unpack(np.asarray(codes).astype(fmt.dtype))
    return sign.astype(bool), exp.astype(np.int64) + fmt.man_bits, sig.astype(np.int64)
