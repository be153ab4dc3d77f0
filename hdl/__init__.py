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
:class:`ReductionTree`     ``golden.reduce`` (one adder per node)
:class:`FoldedMAC`         ``reduce`` over a sequential order, one adder
:class:`FusedDotProduct`   ``golden.mma.dot`` (a GPU matrix unit's fused blocks)
:class:`SpatialLayer`      one ``golden.Layer``, unrolled (a multiplier per weight)
:class:`FoldedLayer`       one ``golden.Layer`` on one multiplier and a tree engine
:class:`NetworkTop`        a whole ``golden.Network`` (``net(x)``), streams with ready
:class:`Identity` ...      ``golden.activations.get_activation(...)``
``ActivationUnit``         ``.from_activation(impl)``: the unit for any golden activation
=========================  =============================================

Ports are declared by a :class:`~ulpflow.hdl.signature.UnitSignature`: an input stream ``i`` and
an output stream ``o`` (``amaranth.lib.stream``, always ready for these pipelined units) whose
payload fields are the data ports (``a``, ``b`` → ``result``; ``terms`` → ``result``), so units
join with ``wiring.connect`` where the payloads are equal and with :func:`chain` from one unit's
``result`` into the next unit's ``a``. Every unit has the attributes ``in_format`` (not
:class:`RoundPack`, whose inputs are no codes), ``out_format``, ``latency`` (cycles; 0 =
combinational: ``o.valid = i.valid``, no clock) and its golden twin ``emulate(**inputs) ->
{field: codes}``, keyed by the payload field names. :func:`to_verilog` writes Verilog.

Modules: ``rounding``, ``float_unit``, ``fixed_unit``, ``convert``, ``tree`` (twin of
``golden.tree`` and ``golden.reduction``), ``activations`` (twin of ``golden.activations``),
``schedule`` (the tree engine's schedules), ``network`` (layers and network tops),
``signature``, ``verilog``.
"""

from .activations import (MAX_TABLE_BITS, ActivationUnit, Identity, PWLActivation, ReLU, Step,
                          TableActivation, activation_unit)
from .convert import FloatConverter
from .fixed_unit import FixedAdder, FixedMultiplier
from .fused import FusedDotProduct
from .network import FoldedLayer, NetworkTop, SpatialLayer
from .float_unit import FloatAdder, FloatMultiplier
from .rounding import RoundPack
from .signature import UnitSignature, chain
from .tree import FoldedMAC, ReductionTree
from .verilog import to_verilog

__all__ = [
    "RoundPack", "FloatAdder", "FloatMultiplier", "FloatConverter", "FixedAdder",
    "FixedMultiplier", "ReductionTree", "FoldedMAC", "Identity", "ReLU", "Step",
    "TableActivation", "PWLActivation", "ActivationUnit", "activation_unit", "MAX_TABLE_BITS",
    "UnitSignature", "chain", "to_verilog", "FusedDotProduct", "SpatialLayer", "FoldedLayer",
    "NetworkTop",
]
