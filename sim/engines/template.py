"""The C++ and SystemVerilog templates of the engines (files in ``sim/templates/``).

A template is an ordinary source file with ``@NAME@`` placeholders; :func:`render` fills every
one of them and refuses a missing or an unknown value, so a template and its caller cannot drift
apart silently.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

__all__ = ["render", "template_text"]

_PLACEHOLDER = re.compile(r"@([A-Z][A-Z0-9_]*)@")


@functools.lru_cache(maxsize=None)
def template_text(name: str) -> str:
    """The text of template ``name`` (``"harness.cpp"``, ``"bench.sv"``, ...)."""
    return (resources.files("ulpflow.sim") / "templates" / name).read_text()


def render(name: str, **values) -> str:
    """Template ``name`` with each ``@KEY@`` replaced by ``values[key.lower()]``."""
    text = template_text(name)
    wanted = set(_PLACEHOLDER.findall(text))
    given = {k.upper(): v for k, v in values.items()}
    missing, extra = sorted(wanted - set(given)), sorted(set(given) - wanted)
    if missing or extra:
        raise ValueError(f"template {name}: missing values {missing}, unknown values {extra}")
    return _PLACEHOLDER.sub(lambda m: str(given[m.group(1)]), text)
