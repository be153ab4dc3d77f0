"""A fused dot-product-add unit: the hardware twin of ``golden.mma.dot`` (GPU matrix units).

Per block of ``L`` products and an addend ``c`` (one fused node of a golden fused tree,
:class:`~ulpflow.golden.tree.FusedSpec`)::

    exact multipliers      sig_i = sig_a·sig_b, label e_i = e_a + e_b (e_zero for a zero product)
    max-exponent tree      e_max = max(e_0, …, e_{L-1}, e_c)
    alignment shifters     T_i = (sig_i << F) >> (e_max − e_i + M_a + M_b)   (truncation)
    exact adder tree       S = Σ ±T_i                     (re-association is harmless: integers)
    one RoundPack          round(|S|·2^(e_max − F)) into the output format
    specials / container   NaN, ±inf, overflow → ±inf, −0 → +0, the container code

A dot product of ``K > L`` terms is a chain of ``ceil(K / L)`` blocks, each block's result the
next block's ``c``, exactly as ``Tree.fused(K + 1, spec, block=L)`` orders it.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Const, Module, Mux, Signal, signed
from amaranth.lib import wiring

from ulpflow.golden.formats import as_format
from ulpflow.golden.mma import MMAModel, dot, get_model
from ulpflow.golden.tree import FusedSpec

from ._common import (check_latency, checked_init, delay, leading_zero_count, shape_for,
                      unpack_float, valid_chain)
from .rounding import RoundPack
from .signature import UnitSignature

__all__ = ["FusedDotProduct"]

#: Private mutation hooks for the fault-injection tests: ``"c_not_in_emax"`` leaves the addend
#: out of the max-exponent tree, ``"extra_bit"`` keeps F + 1 fraction bits. A bench that passes
#: such a unit proves nothing.
FUSED_MUTATIONS = (None, "c_not_in_emax", "extra_bit")


def _max(a, b):
    return Mux(a > b, a, b)


def _tree(values, op):
    """Reduce ``values`` pairwise (a balanced tree of ``op``)."""
    values = list(values)
    while len(values) > 1:
        nxt = [op(values[i], values[i + 1]) for i in range(0, len(values) - 1, 2)]
        if len(values) % 2:
            nxt.append(values[-1])
        values = nxt
    return values[0]


class FusedDotProduct(wiring.Component):
    """``d = c + Σ a_k·b_k`` (k < K) as a GPU matrix unit computes it.

    Parameters
    ----------
    model_or_spec : MMAModel, model name or FusedSpec
        A model of :data:`ulpflow.golden.mma.MODELS` (formats, spec and block size from it), or
        a bare :class:`~ulpflow.golden.tree.FusedSpec` (then give ``a_format``, ``b_format``
        and ``block``; ``c`` and ``d`` are codes of the spec's container).
    K : int
        Number of products (>= 1).
    latency : int
        Registers: after each of the first ``latency`` blocks (the later blocks' operands are
        delayed to match), further cycles as output registers. 0 = combinational.
    a_format, b_format : format or name, optional
        Only with a FusedSpec.
    block : int, optional
        Only with a FusedSpec: products per block (default K).

    Members
    -------
    i : In(stream)
        Payload fields ``a`` and ``b`` (arrays of ``K`` codes: ``a__0 …``) and ``c``.
    o : Out(stream)
        Payload field ``d``; ``o.valid`` is ``i.valid`` delayed by ``latency``.

    ``emulate(a__0=, …, b__0=, …, c=)`` is ``{"d": golden.mma.dot(a, b, c, model)}``.
    """

    @checked_init
    def __init__(self, model_or_spec, K, latency=0, *, a_format=None, b_format=None, block=None,
                 _mutate=None):
        if isinstance(model_or_spec, FusedSpec):
            if a_format is None or b_format is None:
                raise ValueError("FusedDotProduct with a FusedSpec needs a_format and b_format")
            fa, fb = as_format(a_format, "a_format"), as_format(b_format, "b_format")
            spec = model_or_spec
            L = K if block is None else block
            model = MMAModel("custom", fa, fb, spec.container, spec, int(L), "")
        else:
            if a_format is not None or b_format is not None or block is not None:
                raise ValueError("a model fixes the formats and the block size; give a FusedSpec "
                                 "to choose them")
            model = get_model(model_or_spec)
        if isinstance(K, bool) or not isinstance(K, (int, np.integer)) or K < 1:
            raise ValueError(f"K must be a positive number of products, not {K!r}")
        if not isinstance(model.L, int) or model.L < 1:
            raise ValueError(f"block must be a positive integer, not {model.L!r}")
        for f in (model.a_format, model.b_format, model.c_format, model.spec.out_format):
            if f.kind != "float":
                raise ValueError(f"FusedDotProduct takes float formats, not {f}")
        out, box = model.spec.out_format, model.spec.container
        if box != out and (box.exp_bits != out.exp_bits or box.bias != out.bias
                           or box.specials != out.specials):
            raise ValueError(f"FusedDotProduct writes {out} results into {box} by widening the "
                             "fraction only; the two need one exponent field, bias and specials")
        if _mutate not in FUSED_MUTATIONS:
            raise ValueError(f"unknown mutation {_mutate!r}; expected one of {FUSED_MUTATIONS}")
        self.model = model
        self.K = int(K)
        self.L = min(model.L, self.K)
        self.n_blocks = -(-self.K // self.L)
        self.latency = check_latency(latency)
        self._mutate = _mutate
        self.in_formats = (model.a_format, model.b_format, model.c_format)
        self.out_format = model.c_format
        super().__init__(UnitSignature({"a": (model.a_format, self.K), "b": (model.b_format, self.K),
                                        "c": model.c_format}, {"d": model.c_format}))

    @property
    def in_format(self):
        return self.in_formats

    def __repr__(self):
        return f"FusedDotProduct({self.model.name!r}, K={self.K}, latency={self.latency})"

    def emulate(self, **inputs):
        """``{"d": golden.mma.dot(a, b, c, model)}`` for the fields ``a__k``, ``b__k``, ``c``."""
        v = self.signature.cast_inputs(inputs, repr(self))
        a = np.stack([v[f"a__{k}"] for k in range(self.K)], axis=-1)
        b = np.stack([v[f"b__{k}"] for k in range(self.K)], axis=-1)
        return {"d": dot(a, b, v["c"], self.model)}

    # ------------------------------------------------------------------------------------------
    def elaborate(self, platform):
        m = Module()
        p = self.i.payload
        cuts = min(self.latency, self.n_blocks)
        c = p.c
        time = 0  # cycles after the input at which ``c`` is valid
        for j in range(self.n_blocks):
            ks = range(j * self.L, min((j + 1) * self.L, self.K))
            a = [delay(m, p.a[k], time, name=f"a{k}_d") for k in ks]
            b = [delay(m, p.b[k], time, name=f"b{k}_d") for k in ks]
            c = self._block(m, j, a, b, c)
            if j < cuts:
                r = Signal(self.out_format.bits, name=f"block{j}_r", reset_less=True)
                m.d.sync += r.eq(c)
                c, time = r, time + 1
        m.d.comb += self.o.payload.d.eq(delay(m, c, self.latency - cuts, name="out"))
        valid_chain(m, self.i.valid, self.o.valid, self.latency)
        return m

    def _block(self, m, j, a_codes, b_codes, c_code):
        model, spec = self.model, self.model.spec
        fa, fb, fc = model.a_format, model.b_format, model.c_format
        F = spec.F + (1 if self._mutate == "extra_bit" else 0)
        e_zero = spec.e_zero
        n = f"k{j}_"
        terms = []  # (neg, sig, sig_width, label, label_lo, label_hi, frac_bits, nan, inf)
        for i, (ca, cb) in enumerate(zip(a_codes, b_codes)):
            ua = unpack_float(m, ca, fa, name=f"{n}a{i}")
            ub = unpack_float(m, cb, fb, name=f"{n}b{i}")
            w = fa.man_bits + fb.man_bits + 2
            sig = Signal(w, name=f"{n}p{i}_sig")
            m.d.comb += sig.eq(ua.sig * ub.sig)  # exact multiplier
            lo = fa.emin + fb.emin
            hi = fa.emax + fb.emax + 1
            nan = Signal(name=f"{n}p{i}_nan")
            inf = Signal(name=f"{n}p{i}_inf")
            m.d.comb += nan.eq(ua.nan | ub.nan | (ua.inf & ub.zero) | (ua.zero & ub.inf))
            m.d.comb += inf.eq((ua.inf | ub.inf) & ~nan)
            label = (ua.exp + fa.man_bits) + (ub.exp + fb.man_bits)
            terms.append((ua.sign ^ ub.sign, sig, w, label, lo, hi, fa.man_bits + fb.man_bits, nan, inf))
        uc = unpack_float(m, c_code, fc, name=f"{n}c")
        terms.append((uc.sign, uc.sig, fc.man_bits + 1, uc.exp + fc.man_bits, fc.emin, fc.emax,
                      fc.man_bits, uc.nan, uc.inf))

        lo_all = min(min(t[4] for t in terms), e_zero)
        hi_all = max(max(t[5] for t in terms), e_zero)
        eshape = shape_for(lo_all, hi_all)
        labels = []
        for i, (neg, sig, w, label, lo, hi, fb_, nan, inf) in enumerate(terms):
            e = Signal(eshape, name=f"{n}e{i}")
            m.d.comb += e.eq(Mux(sig == 0, e_zero, label))
            labels.append(e)
        e_max = Signal(eshape, name=f"{n}emax")
        compared = labels[:-1] if self._mutate == "c_not_in_emax" and len(labels) > 1 else labels
        m.d.comb += e_max.eq(_tree(compared, _max))  # max-exponent tree

        span = hi_all - lo_all
        mag_w = F + 2  # every truncated term is below 2^(F+2)
        signed_terms = []
        for i, ((neg, sig, w, label, lo, hi, frac_bits, nan, inf), e) in enumerate(zip(terms, labels)):
            xw = w + F
            x = Signal(xw, name=f"{n}x{i}")
            m.d.comb += x.eq(sig << F)
            dist = Signal(range(span + frac_bits + 1), name=f"{n}d{i}")
            m.d.comb += dist.eq((e_max - e) + frac_bits)
            amount = Signal(range(xw + 1), name=f"{n}sh{i}")
            m.d.comb += amount.eq(Mux(dist > xw, xw, dist))
            t = Signal(mag_w, name=f"{n}t{i}")
            m.d.comb += t.eq(x >> amount)  # alignment with truncation toward zero
            st = Signal(signed(mag_w + 1), name=f"{n}st{i}")
            m.d.comb += st.eq(Mux(neg, -t, t))
            signed_terms.append(st)
        sw = mag_w + 1 + len(terms).bit_length()
        total = Signal(signed(sw), name=f"{n}sum")
        m.d.comb += total.eq(_tree(signed_terms, lambda x, y: x + y))  # exact adder tree
        s_neg = total < 0
        mag = Signal(sw, name=f"{n}mag")
        m.d.comb += mag.eq(Mux(s_neg, -total, total))

        # specials
        nans = [t[7] for t in terms]
        pos_inf = _tree([t[8] & ~t[0] for t in terms], lambda x, y: x | y)
        neg_inf = _tree([t[8] & t[0] for t in terms], lambda x, y: x | y)
        r_nan = Signal(name=f"{n}nan")
        r_inf = Signal(name=f"{n}inf")
        m.d.comb += r_nan.eq(_tree(nans, lambda x, y: x | y) | (pos_inf & neg_inf))
        m.d.comb += r_inf.eq((pos_inf | neg_inf) & ~r_nan)
        out = spec.out_format
        lz = leading_zero_count(m, mag, sw, f"{n}lzc")
        over = Signal(name=f"{n}over")
        # |S|·2^(e_max−F) >= 2^(emax+1)  ⇔  (sw − 1 − lz) + e_max − F >= emax + 1
        m.d.comb += over.eq((mag != 0) & (e_max + (sw - 1 - F) >= lz + (out.emax + 1)))

        rp = RoundPack(out, sig_width=sw, exp_range=(lo_all - F, hi_all - F), rounding=spec.rounding)
        m.submodules[f"round{j}"] = rp
        rpi = rp.i.payload
        m.d.comb += [rp.i.valid.eq(1), rpi.sign.eq(Mux(r_inf, neg_inf, s_neg & (mag != 0))),
                     rpi.sig.eq(mag), rpi.exp.eq(e_max - F), rpi.sticky.eq(0),
                     rpi.nan.eq(r_nan), rpi.inf.eq(r_inf | (over & ~r_nan))]
        code = Signal(out.bits, name=f"{n}code")
        res = rp.o.payload.result
        m.d.comb += code.eq(Mux(res == (1 << (out.bits - 1)), out.zero_code, res))  # -0 → +0
        box = spec.container
        d = Signal(box.bits, name=f"{n}d")
        widened = code[out.bits - 1:] << (box.bits - 1) | (code[:out.bits - 1] << (box.man_bits - out.man_bits))
        m.d.comb += d.eq(Mux(r_nan, Const(spec.nan_code, box.bits), widened))
        return d
