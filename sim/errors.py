"""The exceptions of ulpflow.sim: a missing tool, a failed build, a simulation that did not pass."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BuildError", "SimulationError", "TestFailure", "ToolchainError"]


class ToolchainError(RuntimeError):
    """A tool the simulator needs (Verilator, a C++ compiler, make, libpython) is missing."""


class BuildError(RuntimeError):
    """Verilator or the C++ build of a model failed. ``log`` is the path of the full build log."""

    def __init__(self, message: str, log: Path | None = None):
        super().__init__(message)
        self.log = log


@dataclass(frozen=True)
class TestFailure:
    """One failed test: its name, the exception type and the message it carried."""

    __test__ = False  # not a pytest test class, whatever its name

    name: str
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.name}: {self.kind}: {self.message}"


class SimulationError(RuntimeError):
    """A simulation ran but did not pass. ``failures`` lists each failed test with its message."""

    def __init__(self, message: str, failures: Sequence[TestFailure] = (), log: Path | None = None):
        super().__init__(message)
        self.failures = list(failures)
        self.log = log
