"""Codes as text for messages and reports: ``hex_code`` (``0x3f80``) and ``describe_code``
(``0x3f80 (1.0)``), used by the network, its JSON and its divergence reports.

(Temporary home: when the formats gain their public code-display helper, these become thin
aliases of it.)
"""

from __future__ import annotations

import numpy as np

__all__ = ["hex_code", "describe_code"]


def hex_code(code: int, fmt) -> str:
    """``0x`` and ``ceil(bits/4)`` lowercase hex digits: the width used in network JSON."""
    return f"0x{int(code):0{(fmt.bits + 3) // 4}x}"


def describe_code(code, fmt) -> str:
    """``0x3f80 (1.0)``: the code and its value."""
    return f"{hex_code(code, fmt)} ({float(fmt.decode(np.array([int(code)], dtype=fmt.dtype))[0])!r})"
