"""The simulation engines of :func:`ulpflow.sim.simulate`, one module each.

* :mod:`.cocotb_bulk` - ``engine="cocotb"`` (default): a generated SystemVerilog bench drives
  the unit from memory-mapped vector files; one cocotb test starts it and runs the scoreboard.
* :mod:`.cpp` - ``engine="verilator"``: the unit linked with a generated C++ ``main`` (fastest).
* :mod:`.cocotb_cycle` - ``engine="cocotb-cycle"``: a cocotb coroutine drives every cycle.

Shared: :mod:`.harness` (what is simulated, and the packed-port wrapper of the first two),
:mod:`.template` (the C++/SystemVerilog templates in ``sim/templates/``) and
:mod:`ulpflow.sim.packing` (ports, vector files, the job table). Every engine class takes a
:class:`~.harness.Design` and offers ``build(runner)`` and ``run(runner, build, n=, bits=,
latency=, timeout=, expected=, formats=, exact=)``, which returns the output codes and raises
:class:`~ulpflow.sim.errors.SimulationError` on a mismatch or a protocol error.
"""

from .cocotb_bulk import CocotbBulkEngine
from .cocotb_cycle import CocotbCycleEngine
from .cpp import CppEngine

__all__ = ["ENGINES", "CocotbBulkEngine", "CocotbCycleEngine", "CppEngine"]

#: Engine names; the first is the default.
ENGINES = (CocotbBulkEngine.name, CppEngine.name, CocotbCycleEngine.name)
