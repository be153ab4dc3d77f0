"""ulpflow.sim: run generated hardware in Verilator (through cocotb or a C++ harness).

* :func:`simulate` / :class:`UnitSimulator` - arrays of input codes through an Amaranth unit,
  arrays of output codes back: a bulk cocotb testbench by default (:mod:`.cocotb_bulk`), the
  plain C++ harness (``engine="verilator"``) or per-cycle cocotb (``engine="cocotb-cycle"``);
  with ``expected=`` the run is a test against those codes (:func:`assert_matches`).
* :mod:`.compare` - the scoreboard: NaN-aware code comparison and one-line mismatch reports.
* :mod:`.vectors` - exhaustive, corner-case (levels 1 and 2) and random operand vectors with
  functional coverage per numeric class.
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
from .compare import Comparison, RTLMismatch, compare_codes, compare_outputs, format_mismatch
from .simulate import ENGINES, Port, UnitSimulator, assert_matches, simulate

__all__ = [
    "ENGINES",
    "Build",
    "BuildError",
    "Comparison",
    "Port",
    "RTLMismatch",
    "SimulationError",
    "TestFailure",
    "ToolchainError",
    "UnitSimulator",
    "VerilatorRunner",
    "assert_matches",
    "cache_dir",
    "compare_codes",
    "compare_outputs",
    "format_mismatch",
    "run_cocotb",
    "simulate",
    "verilator_root",
]
