"""ulpflow.nets: the expressive-power constructions as golden networks, their targets and checks.

* :func:`c1` … :func:`c4` (modules :mod:`.c1` … :mod:`.c4`): pure functions target → golden
  :class:`~ulpflow.golden.Network`, wrapped in a :class:`~.common.Construction` (theorem, size,
  assumptions, violations); :func:`build` dispatches by name;
* :mod:`.targets`: ``random:SEED``, ``table:FILE.csv``, ``python:MODULE:FUNCTION``, data sets;
* :mod:`.verify`: golden checks on every input (and every box for C4);
* :mod:`.theorems`: distinguishability, exact zeros, sum identities and the transformer
  sequence-length thresholds, AD decoupling.

docs/constructions.md describes them.
"""

from .c1 import c1
from .c2 import c2
from .c3 import c3
from .c4 import c4
from .common import Construction, ConstructionError, Size, network_size

__all__ = ["c1", "c2", "c3", "c4", "build", "Construction", "ConstructionError", "Size", "network_size"]

CONSTRUCTIONS = {"c1": c1, "c2": c2, "c3": c3, "c4": c4}


def build(name, target, *, tree="sequential", rounding="RNE", order="increasing", allow_violations=False):
    """Build construction ``name`` ("c1" … "c4") for ``target``; ``order`` is C4's layer-cake order."""
    if name not in CONSTRUCTIONS:
        raise ValueError(f"unknown construction {name!r}; expected one of {', '.join(CONSTRUCTIONS)}")
    kw = dict(tree=tree, rounding=rounding, allow_violations=allow_violations)
    if name == "c4":
        kw["order"] = order
    elif order != "increasing":
        raise ValueError(f"--order applies to c4 only, not {name}")
    return CONSTRUCTIONS[name](target, **kw)
