"""ulpflow.hdl: Amaranth generators with exactly the semantics of the golden model.

Every unit is an ``amaranth.lib.wiring.Component`` built from golden format objects and named
after its golden twin:

=========================  =============================================
hardware                   golden
=========================  =============================================
:class:`RoundPack`         ``golden.rounding.round_pack``
:class:`FloatAdder`        ``golden.add`` (float formats)
:class:`FloatMultiplier`   ``golden.mul`` (float formats)
:class:`FloatConverter`    ``golden.convert`` (any float/fixed pair)
:class:`FixedAdder`        ``golden.add`` (fixed formats)
:class:`FixedMultiplier`   ``golden.mul`` (fixed formats)
:class:`ReductionTree`     ``golden.tree.reduce`` (one adder per node)
:class:`FoldedMAC`         ``reduce`` over a sequential order, one adder
:class:`Identity` ...      ``golden.activations.get_activation(...)``
=========================  =============================================

Data ports are ``a``, ``b`` → ``result`` plus ``valid_in``/``valid_out``; every unit has a
``latency`` attribute (cycles; 0 = combinational, no clock). :func:`to_verilog` writes Verilog.
"""

from .activation import (MAX_TABLE_BITS, Identity, PWLActivation, ReLU, Step, TableActivation,
                         activation_unit)
from .convert import FloatConverter
from .fixed_unit import FixedAdder, FixedMultiplier
from .float_unit import FloatAdder, FloatMultiplier
from .reduction import FoldedMAC, ReductionTree
from .rounding import RoundPack
from .verilog import to_verilog

__all__ = [
    "RoundPack", "FloatAdder", "FloatMultiplier", "FloatConverter", "FixedAdder",
    "FixedMultiplier", "ReductionTree", "FoldedMAC", "Identity", "ReLU", "Step",
    "TableActivation", "PWLActivation", "activation_unit", "MAX_TABLE_BITS", "to_verilog",
]
