"""ulpflow: bit-exact numerics from theory to FPGA.

The sub-packages load on first use (PEP 562), so ``import ulpflow`` is cheap and pulls in neither
NumPy-heavy code nor Amaranth::

    import ulpflow
    ulpflow.golden.parse_format("e4m3")     # imports ulpflow.golden now
    ulpflow.hdl.FloatAdder                  # imports ulpflow.hdl (and Amaranth) now

=================  ======================================================================
``golden``         formats, the rounding kernel, arithmetic on codes (NumPy only)
``nets``           network constructions and their driver
``hdl``            Amaranth generators of the units
``sim``            Verilator / cocotb simulation against golden
``boards``         FPGA targets, synthesis and place-and-route
=================  ======================================================================

Beside them, the modules ``ulpflow.sweep`` (chunked sweeps of units and networks on Dask) and
``ulpflow.prove`` (SAT proofs against Yosys's symfpu) sit on top of ``sim`` and ``boards``, as
does the command line (``ulpflow.cli``).
"""

import importlib

__version__ = "0.1.0"

SUBPACKAGES = ("golden", "nets", "hdl", "sim", "boards")

__all__ = ["__version__", *SUBPACKAGES]


def __getattr__(name):
    if name in SUBPACKAGES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(SUBPACKAGES))
