"""ulpflow.boards: synthesis, place-and-route and bitstreams with the open toolchain.

:func:`synthesize` puts any :mod:`ulpflow.hdl` unit behind a 3-pin serial wrapper
(:class:`SerialWrapper`: pins ``clk``, ``sin``, ``sout``) on a bare device (``TARGETS``:
``ice40-up5k``, ``ecp5-25f``, ``ecp5-85f``), runs Yosys, nextpnr and the bitstream packer from
the YoWASP wheels and returns a :class:`SynthReport`, cached by design hash.
"""

from .synth import TARGETS, SynthReport, Target, get_target, synthesize
from .wrapper import SerialWrapper, wrapper_verilog

__all__ = ["TARGETS", "Target", "SynthReport", "get_target", "synthesize", "SerialWrapper",
           "wrapper_verilog"]
