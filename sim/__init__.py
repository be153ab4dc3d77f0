"""ulpflow.sim: run generated hardware in Verilator (through cocotb or a C++ harness).

What users call:

* :func:`check` - run a unit's inputs in Verilator and compare with its golden twin
  (``unit.emulate``); raises with the first mismatching vector decoded.
* :func:`simulate` / :class:`UnitSimulator` - arrays of input codes through an Amaranth unit,
  arrays of output codes back: a bulk cocotb testbench by default, the plain C++ harness
  (``engine="verilator"``) or per-cycle cocotb (``engine="cocotb-cycle"``); with ``expected=``
  the run is a test against those codes (:func:`assert_matches`).
* :func:`run_sweep` - :func:`check` of operand pairs plus their functional coverage.
* :func:`simulate_network` / :class:`NetworkSimulator` - arrays of input vectors through the
  hardware of a golden network (spatial or folded), output codes back;
  :func:`locate_divergence` names the first value where hardware and golden disagree.
* :mod:`.vectors` - exhaustive, corner-case (levels 1 and 2) and random operand vectors (NumPy);
  :mod:`.coverage` - what a set of vectors exercises, per numeric class.
* :mod:`.compare` - the scoreboard: NaN-aware code comparison and one-line mismatch reports.
* :func:`run_amaranth` / :class:`Bundle` - Amaranth's own simulator, and several units behind
  shared inputs (one Verilator build for many configurations).
* :class:`VerilatorRunner` / :func:`run_cocotb` - cached Verilator builds and cocotb test runs
  that raise :class:`SimulationError` with each failed test's message.

Plumbing lives in sub-modules: :mod:`.engines` (one module per engine, templates in
``sim/templates/``), :mod:`.packing` (ports, vector files, the job table), :mod:`.toolchain`
(finding Verilator, the compiler, libpython), :mod:`.runner` (builds and runs),
:mod:`.errors`. The build cache is ``sim/`` under :mod:`ulpflow.golden.cache`'s root.
"""

from . import compare, coverage, vectors
from .compare import Comparison, RTLMismatch, compare_codes, compare_outputs, format_mismatch
from .errors import BuildError, SimulationError, TestFailure, ToolchainError
from .pysim import Bundle, run_amaranth
from .runner import Build, VerilatorRunner, cache_dir, run_cocotb
from .simulate import ENGINES, Port, UnitSimulator, assert_matches, simulate
from .network import NetworkSimulator, RTLDivergence, locate_divergence, simulate_network
from .sweep import check, run_sweep
from .toolchain import verilator_root

__all__ = [
    "ENGINES",
    "Build",
    "Bundle",
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
    "check",
    "compare",
    "compare_codes",
    "coverage",
    "format_mismatch",
    "run_amaranth",
    "run_cocotb",
    "run_sweep",
    "simulate",
    "simulate_network",
    "NetworkSimulator",
    "RTLDivergence",
    "locate_divergence",
    "vectors",
]

# Plumbing, importable here for existing callers but not part of the user-facing list above:
# compare_outputs (ulpflow.sim.compare), verilator_root (ulpflow.sim.toolchain).
