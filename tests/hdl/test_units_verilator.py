"""ulpflow.hdl units in Verilator (``ulpflow.sim.simulate``, bulk path) against the golden model.

Zero mismatches allowed. Many configurations share one Verilator build through
:class:`hdl_testing.Bundle` (units side by side behind shared inputs); the build cache keys on the
Verilog, so a second run rebuilds nothing. Every comparison can fail: ``test_mutants_are_caught``
runs deliberately broken units through the same checks.
"""

from __future__ import annotations

import numpy as np
import pytest

from hdl_testing import (Bundle, all_pairs, check_codes, check_unit, corner_codes, mismatches,
                         run_verilator, structured_random)
from ulpflow.golden import ROUNDING_MODES, parse_format
from ulpflow.golden.activations import get_activation
from ulpflow.golden.tree import Tree
from ulpflow.hdl import (FixedAdder, FixedMultiplier, FloatAdder, FloatConverter,
                         FloatMultiplier, Identity, PWLActivation, ReductionTree, ReLU, RoundPack,
                         Step, TableActivation)

F = parse_format


def _label(*parts):
    return "_".join(str(p).replace(".", "p").replace("-", "m") for p in parts)


def _check_binary(out, units, a, b):
    """Compare every bundle output with the unit's golden twin on vectors (a, b)."""
    for label, u in units.items():
        assert (out[f"{label}_valid"] == 1).all(), f"{label}: valid_out low for some results"
        check_unit(f"{label} ({u!r})", u, out[label], {"a": a, "b": b})


def _add_mul(fmt, modes, latency=0, **kw):
    units = {}
    for md in modes:
        units[_label(fmt, "add", md)] = FloatAdder(fmt, rounding=md, latency=latency, **kw)
        units[_label(fmt, "mul", md)] = FloatMultiplier(fmt, rounding=md, latency=latency, **kw)
    return units


# -- exhaustive small floats ----------------------------------------------------------------------
@pytest.mark.parametrize("names", [("e4m3", "e5m2"), ("e4m3_ftz", "e5m2_ftz")],
                         ids=["subnormals", "ftz"])
def test_float8_all_modes_exhaustive(names):
    """All 65,536 pairs, add and mul, every rounding mode, with subnormals and with FTZ."""
    units = {}
    for name in names:
        units |= _add_mul(F(name), ROUNDING_MODES)
    a, b = all_pairs(F(names[0]))
    out, _ = run_verilator(Bundle(units), {"a": a, "b": b})
    _check_binary(out, units, a, b)


@pytest.mark.parametrize("names", [
    ("e4m3fn", "e4m3fnuz", "e5m2fnuz", "e3m4", "e4m3_fn_sat", "e5m2_sat", "e4m3_b5"),
    ("e3m2", "e2m3fn", "e3m2fn", "e2m3_fn", "e3m2_ftz"),
    ("e2m1fn",),
], ids=["8bit", "6bit", "4bit"])
def test_float_other_styles_exhaustive(names):
    """fn / fnuz / finite / saturating / odd-bias formats: all pairs, RNE and RDN."""
    units = {}
    for name in names:
        units |= _add_mul(F(name), ("RNE", "RDN"))
    a, b = all_pairs(F(names[0]))
    out, _ = run_verilator(Bundle(units), {"a": a, "b": b})
    _check_binary(out, units, a, b)


def test_mixed_formats_exhaustive():
    """Operands of two formats, products rounded to another format (all 65,536 pairs)."""
    e4m3, e5m2, bf16 = F("e4m3"), F("e5m2"), F("bf16")
    units = {
        "mul_e4m3_e5m2_to_bf16": FloatMultiplier((e4m3, e5m2), out=bf16),
        "mul_e4m3_e5m2_to_e4m3fn_RTZ": FloatMultiplier((e4m3, e5m2), out=F("e4m3fn"),
                                                       rounding="RTZ"),
        "mul_e4m3_to_e3m2_RUP": FloatMultiplier(e4m3, out=F("e3m2"), rounding="RUP"),
        "mul_e4m3_to_q4p4_RNA": FloatMultiplier(e4m3, out=F("q4.4"), rounding="RNA"),
        "add_e4m3_e5m2_to_e4m3": FloatAdder((e4m3, e5m2)),
        "add_e5m2_e4m3_to_fp16_RDN": FloatAdder((e5m2, e4m3), out=F("fp16"), rounding="RDN"),
        "add_e4m3_to_e5m2_RNA": FloatAdder(e4m3, out=e5m2, rounding="RNA"),
        "add_e4m3_to_fp32": FloatAdder(e4m3, out=F("fp32")),
        "add_e4m3fn_e5m2fnuz_RUP": FloatAdder((F("e4m3fn"), F("e5m2fnuz")), rounding="RUP"),
        "add_e3m4_e5m2_RTZ": FloatAdder((F("e3m4"), e5m2), rounding="RTZ"),
        "add_e4m3b5_e4m3_to_e3m2_RNA": FloatAdder((F("e4m3_b5"), e4m3), out=F("e3m2"),
                                                  rounding="RNA"),
        "mul_e4m3fnuz_e3m4_to_e5m2_RDN": FloatMultiplier((F("e4m3fnuz"), F("e3m4")), out=e5m2,
                                                         rounding="RDN"),
    }
    a, b = all_pairs(e4m3)
    out, _ = run_verilator(Bundle(units), {"a": a, "b": b})
    _check_binary(out, units, a, b)


# -- wide floats: corner cases and random ---------------------------------------------------------
@pytest.mark.parametrize("name", ["fp16", "bf16", "fp32"])
def test_wide_float_levels_and_random(name):
    """Corner-case levels 1 and 2 plus 10^5 seeded random pairs per operation (ulpflow.sim's
    generator), add and mul in RNE and RDN (RDN also decides the sign of exact zeros); the
    sweep's functional coverage is measured with golden arithmetic and printed."""
    from ulpflow.sim import vectors

    fmt = F(name)
    units = _add_mul(fmt, ("RNE", "RDN"))
    parts, report = [], []
    for i, op in enumerate(("add", "mul")):
        for a_, b_ in (vectors.level1(fmt, op), vectors.level2(fmt, op, seed=i),
                       vectors.random(fmt, 100_000, seed=10 + i)):
            parts.append((a_.astype(np.int64), b_.astype(np.int64)))
        a_op = np.concatenate([p[0] for p in parts[-3:]])
        b_op = np.concatenate([p[1] for p in parts[-3:]])
        cov = vectors.coverage(a_op, b_op, fmt, op)
        report.append(f"{name} {op}: {vectors.format_coverage(cov)}")
        wanted = [c for c in vectors.classes(fmt, op) if c in vectors.CLASSES]
        missing = [c for c in wanted if cov.get(c, 0) == 0]
        assert not missing, f"{name} {op} sweep never reaches {missing}"
    print("\n" + "\n".join(report))
    a = np.concatenate([p[0] for p in parts])
    b = np.concatenate([p[1] for p in parts])
    out, _ = run_verilator(Bundle(units), {"a": a, "b": b})
    _check_binary(out, units, a, b)


# -- fixed point ------------------------------------------------------------------------------
def test_fixed_exhaustive():
    """q4.4, q4.4s, uq3.5: add and mul, all 65,536 pairs, every rounding mode, SAT and WRAP
    (q4.4s: SAT only), plus additions rounded into coarser formats and mixed operands."""
    units = {}
    for name in ("q4.4", "q4.4s", "uq3.5"):
        fmt = F(name)
        ovfs = ("SAT",) if fmt.symmetric else ("SAT", "WRAP")
        for ovf in ovfs:
            units[_label(name, "add", ovf)] = FixedAdder(fmt, overflow=ovf)
            for md in ROUNDING_MODES:
                units[_label(name, "mul", md, ovf)] = FixedMultiplier(fmt, rounding=md,
                                                                       overflow=ovf)
                units[_label(name, "addq", md, ovf)] = FixedAdder(fmt, rounding=md,
                                                                  out=F("q5.2"), overflow=ovf)
    units["mix_add_q44_uq35"] = FixedAdder((F("q4.4"), F("uq3.5")), rounding="RNA")
    units["mix_mul_q44_uq35_WRAP"] = FixedMultiplier((F("q4.4"), F("uq3.5")), overflow="WRAP",
                                                     rounding="RDN")
    units["mul_q44_to_e4m3"] = FixedMultiplier(F("q4.4"), out=F("e4m3"), rounding="RUP")
    a, b = all_pairs(F("q4.4"))
    out, _ = run_verilator(Bundle(units), {"a": a, "b": b})
    for label, u in units.items():
        ok = np.ones(len(a), dtype=bool)
        for f, v in zip(u.in_formats, (a, b)):
            if f.symmetric:  # the excluded code is no input of that format
                ok &= v != (1 << (f.bits - 1))
        sub = {label: out[label][ok], f"{label}_valid": out[f"{label}_valid"][ok]}
        _check_binary(sub, {label: u}, a[ok], b[ok])


# -- conversion ---------------------------------------------------------------------------------
def _check_unary(out, units, a):
    for label, u in units.items():
        assert (out[f"{label}_valid"] == 1).all(), f"{label}: valid_out low for some results"
        src = u.in_format
        ok = np.ones(len(a), dtype=bool) if src.kind == "float" or not src.symmetric else (
            a != (1 << (src.bits - 1)))
        check_unit(f"{label} ({u!r})", u, out[label][ok], {"a": a[ok]})


@pytest.mark.parametrize("width", [8, 16])
def test_convert_exhaustive(width):
    """Every code of 8- and 16-bit sources into floats and fixed point, several modes."""
    if width == 8:
        pairs = [("e4m3", "fp16"), ("e4m3", "e5m2"), ("e4m3", "e4m3fn"), ("e5m2", "e4m3"),
                 ("e5m2", "e4m3fn"), ("e5m2", "e4m3fnuz"), ("e4m3fnuz", "e5m2"), ("e4m3", "q4.4"),
                 ("e4m3", "uq2.6"), ("e5m2", "q8.8"), ("q4.4", "e4m3"), ("q4.4", "e2m1fn"),
                 ("uq3.5", "q4.4"), ("q4.4", "q3.2"), ("e4m3", "e4m3_ftz"),
                 ("e4m3fn", "e5m2_fnuz_sat")]
    else:
        pairs = [("fp16", "e4m3"), ("fp16", "e5m2"), ("fp16", "bf16"), ("bf16", "fp16"),
                 ("bf16", "e4m3fn"), ("fp16", "q4.4"), ("bf16", "q8.8"), ("q8.8", "bf16"),
                 ("q8.8", "e5m2"), ("uq8.8", "fp16"), ("fp16", "e5m2_ftz")]
    units = {}
    # every pair in RNE and one directed mode, the directed modes taking turns over the pairs
    for i, (src, dst) in enumerate(pairs):
        for md in ("RNE", ROUNDING_MODES[1 + i % 4]):
            units[_label(src, dst, md)] = FloatConverter(F(src), F(dst), rounding=md)
    units[_label("wrap", pairs[0][0], "q2.2")] = FloatConverter(F(pairs[0][0]), F("q2.2"),
                                                                overflow="WRAP")
    a = np.arange(1 << width, dtype=np.int64)
    out, _ = run_verilator(Bundle(units), {"a": a})
    _check_unary(out, units, a)


def test_convert_fp32_corner_and_random():
    fp32 = F("fp32")
    units = {}
    for dst in ("bf16", "fp16", "e4m3", "e5m2fnuz", "q8.8"):
        for md in ("RNE", "RTZ", "RDN"):
            units[_label("fp32", dst, md)] = FloatConverter(fp32, F(dst), rounding=md)
    ra, _ = structured_random(fp32, 200_000, seed=7)
    a = np.concatenate([corner_codes(fp32), ra])
    out, _ = run_verilator(Bundle(units), {"a": a})
    _check_unary(out, units, a)


# -- the rounding module itself, against golden round_pack ------------------------------------
def test_roundpack_random_against_golden_kernel():
    """RoundPack is driven directly with random (sign, sig, exp, sticky) triples and random
    nan/inf flags (some lanes both: NaN wins) and compared with golden ``round_pack`` in every
    mode, for every specials style and fixed point."""
    W, lo, hi = 12, -40, 30
    names = ("e4m3", "e4m3fn", "e4m3fnuz", "e2m3fn", "e5m2_sat", "e4m3_ftz", "bf16", "q4.4",
             "uq3.5_wrap", "q4.4s")
    units = {_label(n, md): RoundPack(F(n), sig_width=W, exp_range=(lo, hi), rounding=md)
             for n in names for md in ROUNDING_MODES}
    rng = np.random.default_rng(11)
    N = 100_000
    sig = rng.integers(0, 1 << W, N)
    sig = np.where(rng.random(N) < 0.2, sig >> rng.integers(0, W, N), sig)  # short ones too
    exp = rng.integers(lo, hi + 1, N)
    sign = rng.integers(0, 2, N)
    # sig = 0 with sticky set is outside round_pack's contract (no guard bits at all)
    sticky = rng.integers(0, 2, N) * (sig != 0)
    nan = (rng.random(N) < 0.05).astype(int)
    inf = (rng.random(N) < 0.05).astype(int)
    inputs = {"sign": sign, "sig": sig, "exp": exp, "sticky": sticky, "nan": nan, "inf": inf}
    out, _ = run_verilator(Bundle(units), inputs)
    for label, u in units.items():
        check_unit(f"{label} ({u!r})", u, out[label], inputs)


# -- pipelining -----------------------------------------------------------------------------------
def test_every_latency_exhaustive():
    """Each unit at every latency from 0 to past its last cut point, all 65,536 pairs (e4m3 /
    q4.4): registers anywhere must not change a single result, and valid_out must follow."""
    e4m3, q44 = F("e4m3"), F("q4.4")
    units = {}
    for lat in range(0, 8):
        units[_label("add", lat)] = FloatAdder(e4m3, rounding="RNE", latency=lat)
        units[_label("mul", lat)] = FloatMultiplier(e4m3, rounding="RDN", latency=lat)
        units[_label("mulmix", lat)] = FloatMultiplier((e4m3, F("e5m2")), out=F("bf16"),
                                                       latency=lat)
    for lat in range(0, 5):
        units[_label("fadd", lat)] = FixedAdder(q44, out=F("q5.2"), rounding="RNE", latency=lat)
        units[_label("fmul", lat)] = FixedMultiplier(q44, rounding="RNA", latency=lat)
    a, b = all_pairs(e4m3)
    bundle = Bundle(units)
    assert bundle.latency == 7 > len(FloatAdder.CUTS) == len(FloatMultiplier.CUTS)
    out, _ = run_verilator(bundle, {"a": a, "b": b})
    _check_binary(out, units, a, b)
    acts = {_label("act", lat): TableActivation(get_activation("sigmoid", e4m3), latency=lat)
            for lat in range(0, 3)}
    out, _ = run_verilator(Bundle(acts), {"a": np.arange(256)})
    for label, u in acts.items():
        assert (out[f"{label}_valid"] == 1).all()
        check_codes(f"{label} ({u!r})", e4m3, out[label], u.emulate(a=np.arange(256))["result"])
    fp16 = F("fp16")
    conv = {_label("conv", lat): FloatConverter(fp16, e4m3, rounding="RUP", latency=lat)
            for lat in range(0, 5)}
    conv |= {_label("relu", lat): ReLU(fp16, e4m3, latency=lat) for lat in range(0, 3)}
    x = np.arange(1 << 16, dtype=np.int64)
    out, _ = run_verilator(Bundle(conv), {"a": x})
    for label, u in conv.items():
        assert (out[f"{label}_valid"] == 1).all()
        assert u.out_format == e4m3
        check_unit(f"{label} ({u!r})", u, out[label], {"a": x})


def test_fp32_pipelined_random():
    fp32 = F("fp32")
    units = {}
    # latency 6: every cut point, the multiplier's DSP products of 18-bit pieces registered
    for lat in (1, 2, 4, 6):
        units[_label("add", lat)] = FloatAdder(fp32, rounding="RTZ", latency=lat)
        units[_label("mul", lat)] = FloatMultiplier(fp32, rounding="RUP", latency=lat)
    a, b = structured_random(fp32, 100_000, seed=3)
    out, _ = run_verilator(Bundle(units), {"a": a, "b": b})
    _check_binary(out, units, a, b)


# -- reduction trees ----------------------------------------------------------------------------
def _trees():
    return {"seq": Tree.sequential(8), "pair": Tree.pairwise(8), "rnd": Tree.random(8, 1),
            "zero": Tree.sequential(8, from_zero=True)}


def _tree_terms(fmt, n, seed):
    """Terms of mixed magnitudes and signs: large cancellations, ties, absorbed small terms."""
    rng = np.random.default_rng(seed)
    pool = np.concatenate([fmt.all_codes() if fmt.bits <= 8 else
                           structured_random(fmt, 4096, seed)[0], corner_codes(fmt)])
    if fmt.nan_code is not None:
        pool = pool[pool != fmt.nan_code]
    terms = rng.choice(pool, size=(n, 8)).astype(np.int64)
    # a third of the vectors: one big term and its negation plus small ones
    k = n // 3
    terms[:k, 3] = terms[:k, 0] ^ (1 << (fmt.bits - 1))
    return terms


@pytest.mark.parametrize("name", ["e4m3", "bf16"])
@pytest.mark.parametrize("level_latency", [0, 1])
def test_reduction_tree(name, level_latency):
    """Sequential, pairwise, random and from-zero trees over 8 terms vs golden reduce,
    combinational and pipelined per level; the hardware's trees differ from one another on
    exactly the vectors where the golden model says they do."""
    fmt = F(name)
    trees = _trees()
    units = {lbl: ReductionTree(t, fmt, rounding="RNE", level_latency=level_latency)
             for lbl, t in trees.items()}
    units["seq_rdn"] = ReductionTree(trees["seq"], fmt, rounding="RDN",
                                     level_latency=level_latency)
    # vector 0: 16 + 1 + 1 + ... (see below), then mixed random terms
    example = fmt.encode(np.array([[16.0, 1, 1, 1, 1, 1, 1, 1]])).astype(np.int64)
    terms = np.concatenate([example, _tree_terms(fmt, 50_000, seed=5)])
    inputs = {f"terms__{i}": terms[:, i] for i in range(8)}
    out, _ = run_verilator(Bundle(units), inputs)
    gold = {}
    for lbl, u in units.items():
        assert (out[f"{lbl}_valid"] == 1).all()
        gold[lbl] = u.emulate(**inputs)["result"]
        check_codes(f"tree {lbl} ({u!r})", fmt, out[lbl], gold[lbl])
    g_diff = mismatches(fmt, gold["seq"], gold["pair"])
    h_diff = mismatches(fmt, out["seq"], out["pair"])
    assert g_diff.sum() > 100, "the sweep should contain vectors where the order matters"
    assert (g_diff == h_diff).all()
    # Vector 0 in e4m3: left to right every 16 + 1 is a tie that rounds back to 16, pairwise
    # the ones add up first (16 vs 22); bf16 has bits enough for 23 in either order.
    seq, pair = (float(fmt.decode(out[k][:1].astype(fmt.dtype))[0]) for k in ("seq", "pair"))
    expect = {"e4m3": (16.0, 22.0), "bf16": (23.0, 23.0)}[name]
    assert (seq, pair) == expect
    assert seq == fmt.decode(gold["seq"][:1])[0] and pair == fmt.decode(gold["pair"][:1])[0]


# -- activations ----------------------------------------------------------------------------------
EIGHT_BIT_PRESETS = ("e5m2", "e4m3", "e4m3fn", "e4m3fnuz", "e5m2fnuz", "e3m4")


def test_table_activations_8bit_presets():
    """TableActivation of several kinds (cr, faithful, kulp, pwl, exact) for every 8-bit preset
    and fixed point, all 256 inputs."""
    impls = {}
    for name in EIGHT_BIT_PRESETS:
        impls[_label(name, "sigmoid")] = get_activation("sigmoid", name)
        impls[_label(name, "tanh_rtz")] = get_activation("tanh", name, rounding="RTZ")
        impls[_label(name, "gelu_faithful")] = get_activation("gelu", name, method="faithful",
                                                              seed=3)
        impls[_label(name, "exp_kulp")] = get_activation("exp", name, method="kulp", k=2, seed=1)
    impls["e4m3_silu_to_bf16"] = get_activation("silu", "e4m3", "bf16")
    impls["e4m3_sigmoid_pwl"] = get_activation("sigmoid", "e4m3", method="pwl")
    impls["q4p4_tanh"] = get_activation("tanh", "q4.4")
    impls["uq3p5_sin"] = get_activation("sin", "uq3.5", rounding="RDN")
    units = {lbl: TableActivation(impl) for lbl, impl in impls.items()}
    x = np.arange(256, dtype=np.int64)
    out, _ = run_verilator(Bundle(units), {"a": x})
    for lbl, u in units.items():
        assert (out[f"{lbl}_valid"] == 1).all()
        check_unit(f"{lbl} ({u!r})", u, out[lbl], {"a": x})


def test_exact_activations_logic():
    """Identity / ReLU / Step as logic (and with a conversion) over every input code."""
    specs = [("e4m3", None), ("e5m2", None), ("e4m3fn", None), ("e4m3fnuz", None),
             ("e4m3_ftz", None), ("e3m4", "e4m3"), ("e5m2", "e4m3fn"), ("e4m3", "e2m3fn"),
             ("q4.4", None), ("uq3.5", None), ("q4.4", "e4m3"), ("e4m3", "q4.4"),
             ("e5m2fnuz", "e5m2")]
    units, impls = {}, {}
    for src, dst in specs:
        for cls, fn in ((Identity, "identity"), (ReLU, "relu"), (Step, "step")):
            impl = get_activation(fn, src, dst, rounding="RNE")
            lbl = _label(src, dst or "same", fn)
            units[lbl] = cls.from_activation(impl)
            impls[lbl] = impl
    x = np.arange(256, dtype=np.int64)
    out, _ = run_verilator(Bundle(units), {"a": x})
    for lbl, u in units.items():
        fi = u.in_format
        assert u.impl is impls[lbl]
        ok = np.ones(256, bool) if fi.kind == "float" or not fi.symmetric else x != 0x80
        check_unit(f"{lbl} ({u!r})", u, out[lbl][ok], {"a": x[ok]})


@pytest.mark.parametrize("latency", [0, 3])
def test_pwl_bf16_all_inputs(latency):
    """The PWL unit equals golden's PWL implementation on all 65,536 bf16 inputs."""
    units = {fn: PWLActivation(get_activation(fn, "bf16", method="pwl"), latency=latency)
             for fn in ("sigmoid", "tanh", "gelu")}
    units["silu_fp16_rtz"] = PWLActivation(get_activation("silu", "fp16", method="pwl",
                                                          rounding="RTZ"), latency=latency)
    units["softplus_q4p12_to_bf16"] = PWLActivation(
        get_activation("softplus", "q4.12", "bf16", method="pwl", segments=32), latency=latency)
    units["elu_uq8p8_to_q4p12_rdn"] = PWLActivation(
        get_activation("elu", "uq8.8", "q4.12", method="pwl", rounding="RDN"), latency=latency)
    x = np.arange(1 << 16, dtype=np.int64)
    out, _ = run_verilator(Bundle(units), {"a": x})
    for lbl, u in units.items():
        assert (out[f"{lbl}_valid"] == 1).all()
        check_unit(f"pwl {lbl}", u, out[lbl], {"a": x})


# -- mutation -------------------------------------------------------------------------------------
def test_mutants_are_caught():
    """Broken rounding decisions in generated units: the same exhaustive bench must fail."""
    e4m3 = F("e4m3")
    mutants = {
        "add_ties_away": FloatAdder(e4m3, rounding="RNE", _mutate="ties_away"),
        "mul_ties_away": FloatMultiplier(e4m3, rounding="RNE", _mutate="ties_away"),
        "add_no_sticky": FloatAdder(e4m3, rounding="RUP", _mutate="ignore_sticky"),
        # the product's bits below the kept window reach RoundPack only as its sticky input
        "mul_no_sticky": FloatMultiplier(e4m3, rounding="RUP", _mutate="ignore_sticky"),
        "mul_no_ftz": FloatMultiplier(F("e4m3_ftz"), rounding="RNE", _mutate="ftz_off"),
        "fixed_mul_ties_away": FixedMultiplier(F("q4.4"), rounding="RNE", _mutate="ties_away"),
    }
    a, b = all_pairs(e4m3)
    out, _ = run_verilator(Bundle(mutants), {"a": a, "b": b})
    for label, u in mutants.items():
        with pytest.raises(AssertionError, match="vectors differ"):
            _check_binary(out, {label: u}, a, b)
