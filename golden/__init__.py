"""ulpflow.golden: the bit-exact reference model (NumPy only).

Formats and codes (:mod:`.formats`), the single rounding kernel (:mod:`.kernel`, called
through :mod:`.rounding`), rounded arithmetic (:mod:`.arith`), reduction trees as data
(:mod:`.tree`) and their evaluation
(:mod:`.reduction`, exact accumulation in :mod:`.kulisch`), activation implementations
(:mod:`.activations`), the network IR (:mod:`.network`), evaluated by one walk
(:mod:`.evaluate`) in concrete, tracing (:mod:`.trace`) and interval (:mod:`.interval`)
semantics, and its JSON form (:mod:`.network_json`); bit-exact models of GPU matrix units
(truncated fused dot products, :mod:`.mma`).
"""

from .formats import (CLASS_INF, CLASS_NAMES, CLASS_NAN, CLASS_NORMAL, CLASS_SUBNORMAL,
                      CLASS_ZERO, PRESETS, FixedFormat, FloatFormat, as_format, ordinal,
                      parse_format, ulp_distance)
from .rounding import OVERFLOW_MODES, ROUNDING_MODES, round_pack
from .arith import abs, add, convert, eq, fma, ge, gt, le, lt, mul, ne, neg, sub
from .tree import ZERO_LEAF, FusedSpec, Tree
from .reduction import exact_sum, reduce
from .activations import (Activation, activation_from_json, check_activation, check_allowed,
                          get_activation)
from .network import Divergence, Layer, LayerTrace, Network, Trace, first_divergence
from .interval import Box
from . import mma

__all__ = [
    "CLASS_INF", "CLASS_NAMES", "CLASS_NAN", "CLASS_NORMAL", "CLASS_SUBNORMAL", "CLASS_ZERO",
    "PRESETS", "FixedFormat", "FloatFormat", "as_format", "ordinal", "parse_format", "ulp_distance",
    "OVERFLOW_MODES", "ROUNDING_MODES", "round_pack",
    "abs", "add", "convert", "eq", "fma", "ge", "gt", "le", "lt", "mul", "ne", "neg", "sub",
    "ZERO_LEAF", "FusedSpec", "Tree", "exact_sum", "reduce", "mma",
    "Activation", "activation_from_json", "check_activation", "check_allowed", "get_activation",
    "Divergence", "Layer", "LayerTrace", "Network", "Trace", "first_divergence", "Box",
]
