"""ulpflow.boards: synthesis, place-and-route and bitstreams with the open toolchain.

:func:`synthesize` puts any :mod:`ulpflow.hdl` unit behind a 3-pin serial wrapper
(:class:`SerialWrapper`: pins ``clk``, ``sin``, ``sout``) on a bare device (``ice40-up5k``,
``ecp5-25f``, ``ecp5-85f``) or on a board through its amaranth-boards platform (``icebreaker``,
``ulx3s-25f``, ``ulx3s-85f``; :class:`BoardWrapper`), runs Yosys, nextpnr and the bitstream
packer from the YoWASP wheels and returns a :class:`SynthReport`, cached by design hash.
``synthesize(..., pipeline=N)`` builds the unit's latency-N variant (:func:`with_latency`);
``synthesize(..., mapper="abc")`` maps ECP5 LUTs with Yosys's classic ``abc`` (the network
driver's choice) instead of the default ``abc9``.
:mod:`ulpflow.boards.qor` builds the quality-of-results table (``bench/qor.py``,
``ulpflow qor``).
"""

from .synth import MAPPERS, PNR_EFFORTS, TARGETS, SynthReport, Target, get_target, synthesize, with_latency
from .wrapper import BoardWrapper, SerialWrapper, wrapper_rtlil, wrapper_verilog

__all__ = ["TARGETS", "MAPPERS", "PNR_EFFORTS", "Target", "SynthReport", "get_target", "synthesize", "with_latency",
           "SerialWrapper", "BoardWrapper", "wrapper_verilog", "wrapper_rtlil"]
