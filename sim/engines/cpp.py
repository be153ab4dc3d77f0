"""The C++ engine (``engine="verilator"``): the packed-port harness linked with a C++ ``main``.

The ``main`` (template ``sim/templates/harness.cpp``) streams vectors from a binary file
through the model, one per clock cycle, and streams results back to a file (~10 M vectors/s, no
start-up). The comparison with expected codes runs in Python afterwards, with the scoreboard's
words (:mod:`ulpflow.sim.compare`).
"""

from __future__ import annotations

from ..compare import RTLMismatch, compare_outputs
from ..errors import SimulationError, TestFailure
from ..packing import read_results, write_vectors
from .harness import HARNESS_MODULE, Design, harness_verilog
from .template import render

__all__ = ["CppEngine"]


def _setter(words: int) -> str:
    if words == 1:
        return "top->vin = p[0];"
    if words == 2:
        return "top->vin = (QData)p[0] | ((QData)p[1] << 32);"
    return f"for (int k = 0; k < {words}; ++k) top->vin[k] = p[k];"


def _getter(words: int) -> str:
    if words == 1:
        return "p[0] = top->vout;"
    if words == 2:
        return "p[0] = (uint32_t)top->vout; p[1] = (uint32_t)(top->vout >> 32);"
    return f"for (int k = 0; k < {words}; ++k) p[k] = top->vout[k];"


def harness_cpp(design: Design) -> str:
    """The C++ ``main`` of the harness program."""
    ports = design.ports
    return render(
        "harness.cpp",
        in_words=ports.in_words,
        out_words=ports.out_words,
        has_clock=int(design.has_clock),
        has_reset=int(design.has_reset),
        has_valid_out=int(ports.valid_out is not None),
        set_in=_setter(ports.in_words),
        get_out=_getter(ports.out_words),
    )


class CppEngine:
    """Builds and runs a design as a plain Verilator program."""

    name = "verilator"

    def __init__(self, design: Design):
        self.design = design

    def build(self, runner):
        sources = {"ulp_dut.v": self.design.verilog, "ulpflow_harness.v": harness_verilog(self.design)}
        return runner.build(sources, HARNESS_MODULE, kind="exe",
                            cpp_sources={"ulpflow_harness.cpp": harness_cpp(self.design)})

    def run(self, runner, build, *, n, bits, latency, timeout, expected=None, formats=None, exact=False,
            stall=0, seed=0):
        """Run ``n`` vectors; ``stall`` (per mille, with ``seed``) drops the source's valid and the
        sink's ready on pseudo-random cycles (the results must not change)."""
        ports = self.design.ports
        with runner.run_dir(keep_on_error=False) as folder:
            vin, vout = folder / "in.bin", folder / "out.bin"
            write_vectors(vin, ports.inputs, ports.in_words, bits, n)
            lat = -1 if latency is None or stall else latency
            extra = [int(stall), int(seed)] if stall else []
            runner.run_exe(build, [vin, vout, n, lat, timeout, *extra], cwd=folder)
            result = read_results(vout, ports.outputs, ports.out_words, n)
        if expected is not None:
            widths = {p.name: (p.width, p.signed) for p in ports.inputs + ports.outputs}
            message = compare_outputs(bits, result, expected, formats, name=self.design.name, widths=widths,
                                      exact=exact)
            if message is not None:
                raise SimulationError(message, [TestFailure(ports.name, RTLMismatch.__name__, message)])
        return result
