"""The one cache folder of ulpflow: simulation builds and activation tables live below it.

The root is, in this order:

* ``$ULPFLOW_CACHE_DIR`` when that variable is set;
* ``<project>/.ulpflow-cache`` when ulpflow runs from a writable checkout (an editable install);
* otherwise the user cache folder, ``platformdirs.user_cache_dir("ulpflow")``.

Each user of the cache takes one sub-folder (:func:`cache_dir`): ``sim/`` for Verilator builds,
``activations/`` for activation tables. The root carries its own ``.gitignore`` so a cache never
ends up in git; it is safe to delete whenever nothing runs (``make clean-cache``).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

__all__ = ["ENV_VAR", "cache_dir", "cache_root"]

#: Environment variable that moves the cache root.
ENV_VAR = "ULPFLOW_CACHE_DIR"
_IGNORE = "# cache of ulpflow (simulation builds, activation tables); safe to delete\n*\n"


def cache_root(*, create: bool = True) -> Path:
    """The cache root (see the module docstring); created with its ``.gitignore`` if asked."""
    env = os.environ.get(ENV_VAR)
    if env:
        base = Path(env).expanduser().resolve()
    else:
        project = Path(__file__).resolve().parent.parent
        if (project / "pyproject.toml").is_file() and os.access(project, os.W_OK):
            base = project / ".ulpflow-cache"
        else:
            import platformdirs

            base = Path(platformdirs.user_cache_dir("ulpflow"))
    if create:
        base.mkdir(parents=True, exist_ok=True)
        ignore = base / ".gitignore"
        if not ignore.exists():
            tmp = ignore.with_name(f".gitignore.{os.getpid()}.{uuid.uuid4().hex[:8]}")
            tmp.write_text(_IGNORE)
            os.replace(tmp, ignore)
    return base


def cache_dir(name: str, *, create: bool = True) -> Path:
    """The sub-folder ``name`` of the cache root (``"sim"``, ``"activations"``), created if asked."""
    if not name or Path(name).name != name or name.startswith("."):
        raise ValueError(f"cache folder name must be a plain folder name, not {name!r}")
    path = cache_root(create=create) / name
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path
