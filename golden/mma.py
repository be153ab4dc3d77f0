"""Bit-exact models of GPU matrix units: truncated fused dot-product-add in blocks.

A tensor-core ``mma`` does not add its products one after another, nor in any tree of rounded
additions: each block of ``L`` products ``a_i·b_i`` and an addend ``c`` is one **fused node**
(:class:`~ulpflow.golden.tree.FusedSpec`): exact products, every term aligned to the largest
exponent ``e_max`` of the block and truncated toward zero to ``F`` fraction bits below
``2^e_max``, the truncated terms added exactly and the sum rounded once into the output. A dot
product longer than ``L`` is a chain of blocks, each block's result the next block's ``c``
(``Tree.fused(K + 1, spec, block=L)``).

:data:`MODELS` holds the published parameters of NVIDIA's matrix instructions (each model names
its sources); :func:`dot` and :func:`matmul` evaluate them on codes. Everything is integer
arithmetic and one call of the golden rounding kernel per block
(:func:`~ulpflow.golden.kulisch.fused_accumulate`).

Decisions where the published descriptions are silent (all as MMA-Sim, arXiv 2511.10909,
computes them):

* a product's exponent is the sum of its operands' exponents (subnormal operands at their
  format's minimum normal exponent), its significand ``s_a·s_b`` in ``[1, 4)`` for normal
  operands — the product is not renormalised before ``e_max`` is taken;
* the addend ``c`` is normalised in its own format (fp32: subnormals at 2^−126);
* the blocks are consecutive: ``a[..., 0:L]`` first; a last block shorter than ``L`` has
  fewer terms (it is not padded with zeros, which would take part in ``e_max``);
* a zero result is +0 (also a non-zero sum that rounds to zero);
* an overflow of the output gives ±inf (RZ included);
* NaN operands, ``inf × 0`` and infinities of both signs give NaN, written as NVIDIA's
  canonical NaN (``0x7fffffff`` fp32, ``0x7fff`` fp16); otherwise an infinite term gives that
  infinity;
* ``e8m13`` results are fp32 codes whose 10 low fraction bits are zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .evaluate import Codes, walk_fused
from .formats import as_format
from .tree import FusedSpec, Tree

__all__ = ["MMAModel", "MODELS", "get_model", "dot", "matmul", "model_tree"]


@dataclass(frozen=True)
class MMAModel:
    """One matrix instruction's arithmetic.

    Members
    -------
    name : str
        ``arch.instruction.ab.cd`` (``"ampere.mma.f16.f32"``).
    a_format, b_format : FloatFormat
        Formats of the multiplied codes.
    c_format : FloatFormat
        Format of the addend and of the result codes (the container; ``fp32`` for ``e8m13``).
    spec : FusedSpec
        What every block computes (``F``, ``e_zero``, output format and rounding).
    L : int
        Products per block.
    source : str
        Where the parameters are published.
    """

    name: str
    a_format: object
    b_format: object
    c_format: object
    spec: FusedSpec
    L: int
    source: str

    @property
    def F(self) -> int:
        return self.spec.F

    @property
    def e_zero(self) -> int:
        return self.spec.e_zero

    @property
    def out_format(self):
        """The format of the one rounding (``e8m13`` for the fp8 wgmma models)."""
        return self.spec.out_format

    def describe(self) -> str:
        return (f"{self.name}: a {self.a_format}, b {self.b_format}, c/d {self.c_format}, L={self.L}, "
                f"{self.spec.describe()}")


_FASI = ("Fasi, Higham, Mikaitis & Pranesh, 'Numerical behavior of NVIDIA tensor cores', PeerJ "
         "Computer Science 7:e330, 2021")
_KM = "Khattak & Mikaitis, arXiv 2512.07004"
_SIM = "MMA-Sim (Xie et al., arXiv 2511.10909)"

_NAN = {"fp32": 0x7FFFFFFF, "fp16": 0x7FFF}


def _model(name, ab, cd, F, L, e_zero, out, rounding, source):
    a = as_format(ab, name)
    c = as_format(cd, name)
    spec = FusedSpec(F=F, e_zero=e_zero, out_format=out, rounding=rounding, container=c,
                     nan_code=_NAN[cd])
    return MMAModel(name, a, a, c, spec, L, source)


#: The shipped models by name (the parameter table of docs: F, L, e_zero, output rounding).
MODELS = {m.name: m for m in (
    _model("volta.mma.f16.f32", "fp16", "fp32", 23, 4, -131, "fp32", "RTZ",
           f"{_FASI} (V100); {_SIM}, mma.m8n8k4.f32.f16.f16.f32 on Volta"),
    _model("ampere.mma.f16.f32", "fp16", "fp32", 24, 8, -132, "fp32", "RTZ",
           f"{_FASI} (A100); {_SIM}, mma.m16n8k16.f32.f16.f16.f32 on Ampere"),
    _model("ampere.mma.bf16.f32", "bf16", "fp32", 24, 8, -132, "fp32", "RTZ",
           f"{_FASI} (A100); {_SIM}, mma.m16n8k16.f32.bf16.bf16.f32 on Ampere"),
    _model("ampere.mma.f16.f16", "fp16", "fp16", 24, 8, -20, "fp16", "RNE",
           f"{_SIM}, mma.m16n8k16.f16.f16.f16.f16 on Ampere"),
    _model("hopper.wgmma.f16.f32", "fp16", "fp32", 25, 16, -133, "fp32", "RTZ",
           f"{_KM}; {_SIM}, wgmma.m64nNk16.f32.f16.f16 on Hopper"),
    _model("hopper.wgmma.bf16.f32", "bf16", "fp32", 25, 16, -133, "fp32", "RTZ",
           f"{_KM}; {_SIM}, wgmma.m64nNk16.f32.bf16.bf16 on Hopper"),
    _model("hopper.wgmma.f16.f16", "fp16", "fp16", 25, 16, -21, "fp16", "RNE",
           f"{_KM}; {_SIM}, wgmma.m64nNk16.f16.f16.f16 on Hopper"),
    _model("hopper.wgmma.e4m3.f32", "e4m3fn", "fp32", 13, 32, -133, "e8m13", "RTZ",
           f"{_KM}; {_SIM}, wgmma.m64nNk32.f32.e4m3.e4m3 on Hopper (13 fraction bits, RZ to e8m13)"),
    _model("hopper.wgmma.e5m2.f32", "e5m2", "fp32", 13, 32, -133, "e8m13", "RTZ",
           f"{_KM}; {_SIM}, wgmma.m64nNk32.f32.e5m2.e5m2 on Hopper (13 fraction bits, RZ to e8m13)"),
    _model("blackwell.tcgen05.e4m3.f32", "e4m3fn", "fp32", 25, 32, -133, "fp32", "RTZ",
           f"{_SIM}, tcgen05.mma kind::f8f6f4 f32.e4m3.e4m3 on Blackwell (from the description; "
           "not cross-checked on hardware by ulpflow)"),
)}


def get_model(model) -> MMAModel:
    """A model by name (or the model itself); an unknown name lists the known ones."""
    if isinstance(model, MMAModel):
        return model
    if isinstance(model, str) and model in MODELS:
        return MODELS[model]
    raise ValueError(f"unknown MMA model {model!r}; known models: {', '.join(MODELS)}")


def model_tree(model, K: int) -> Tree:
    """The fused tree of a K-term dot product under ``model``: ``Tree.fused(K + 1, spec, block=L)``
    (leaves ``0 … K-1`` the products, leaf ``K`` the addend)."""
    m = get_model(model)
    return Tree.fused(K + 1, m.spec, block=m.L)


def _codes(x, fmt, what):
    arr = np.asarray(x)
    if arr.dtype == object or arr.dtype.kind not in "ui":
        raise TypeError(f"{what} must be an integer array of {fmt} codes, not dtype {arr.dtype}")
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= (1 << fmt.bits):
            bad = lo if lo < 0 else hi
            raise ValueError(f"{what}: code {bad} is out of range for {fmt} (0 … {(1 << fmt.bits) - 1})")
    return fmt.check_codes(arr)


def dot(a_codes, b_codes, c_codes, model):
    """``d = c + Σ a_k·b_k`` along the last axis as ``model``'s matrix unit computes it.

    Parameters
    ----------
    a_codes, b_codes : integer arrays of shape (..., K)
        Codes of ``model.a_format`` / ``model.b_format``.
    c_codes : integer array of shape (...)
        Codes of ``model.c_format`` (the addend).
    model : MMAModel or model name

    Returns
    -------
    codes of ``model.c_format``, shape (...). ``K = 0`` gives ``c`` rounded into the output.
    """
    m = get_model(model)
    a = _codes(a_codes, m.a_format, "a")
    b = _codes(b_codes, m.b_format, "b")
    c = _codes(c_codes, m.c_format, "c")
    if a.ndim < 1 or a.shape != b.shape or c.shape != a.shape[:-1]:
        raise ValueError(f"dot takes a and b of one shape (..., K) and c of shape (...), got a {a.shape}, "
                         f"b {b.shape} and c {c.shape}")
    K = a.shape[-1]
    tree = model_tree(m, K)
    leaves = [(a[..., k], m.a_format, b[..., k], m.b_format) for k in range(K)] + [(c, m.c_format)]
    root, _ = walk_fused(tree, leaves, Codes())
    return np.asarray(root, dtype=m.c_format.dtype).reshape(c.shape)


def matmul(A, B, C, model):
    """``D = A·B + C`` blockwise as ``model`` computes it: ``D[..., i, j] = dot(A[..., i, :],
    B[..., :, j], C[..., i, j])``; A (..., M, K), B (..., K, N), C (..., M, N) of codes."""
    m = get_model(model)
    A = _codes(A, m.a_format, "A")
    B = _codes(B, m.b_format, "B")
    C = _codes(C, m.c_format, "C")
    if A.ndim < 2 or B.ndim < 2 or A.shape[-1] != B.shape[-2] or C.shape[-2:] != (A.shape[-2], B.shape[-1]):
        raise ValueError(f"matmul takes A (..., M, K), B (..., K, N) and C (..., M, N), got A {A.shape}, "
                         f"B {B.shape} and C {C.shape}")
    a = A[..., :, None, :]
    b = np.swapaxes(B, -1, -2)[..., None, :, :]
    shape = np.broadcast_shapes(a.shape[:-1], b.shape[:-1], C.shape)
    a = np.broadcast_to(a, shape + A.shape[-1:])
    b = np.broadcast_to(b, shape + A.shape[-1:])
    return dot(a, b, np.broadcast_to(C, shape), m)
