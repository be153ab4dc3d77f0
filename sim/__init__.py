"""ulpflow.sim: run generated hardware in Verilator (through cocotb or a C++ harness).

* :func:`simulate` / :class:`UnitSimulator` - arrays of input codes through an Amaranth unit,
  arrays of output codes back (bulk C++ harness by default, per-cycle cocotb on request).
* :class:`VerilatorRunner` / :func:`run_cocotb` - cached Verilator builds and cocotb test runs
  that raise :class:`SimulationError` with each failed test's message.
"""

from .runner import (
    Build,
    BuildError,
    SimulationError,
    TestFailure,
    ToolchainError,
    VerilatorRunner,
    cache_dir,
    run_cocotb,
    verilator_root,
)
from .simulate import Port, UnitSimulator, simulate

__all__ = [
    "Build",
    "BuildError",
    "Port",
    "SimulationError",
    "TestFailure",
    "ToolchainError",
    "UnitSimulator",
    "VerilatorRunner",
    "cache_dir",
    "run_cocotb",
    "simulate",
    "verilator_root",
]
