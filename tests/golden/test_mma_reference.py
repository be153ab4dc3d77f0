"""ulpflow.golden.mma against an exact Fraction reference of the fused dot-product semantics.

The reference below (``ref_dot``) is written from the description of the truncated fused
dot-product-add (issue text, docs/network-format.md "Fused trees"), with its own bit-field
decoding of the codes and its own rounding on Fractions; it imports nothing from ulpflow. The
parameter table is restated here (not read from ``mma.MODELS``) and compared with it.

The block generators (``blocks``) are shared with the MMA-Sim comparison (test_mma_gpu.py).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

# ---------------------------------------------------------------------- formats, from IEEE 754 / OCP
# name: (exponent bits, stored fraction bits, style) with bias 2^(E-1)-1; "ieee": the top exponent
# field is inf (fraction 0) or NaN; "fn": no infinities, only S.1111.111 is NaN (OCP E4M3).
FMT = {"fp32": (8, 23, "ieee"), "fp16": (5, 10, "ieee"), "bf16": (8, 7, "ieee"),
       "e4m3fn": (4, 3, "fn"), "e5m2": (5, 2, "ieee"), "e8m13": (8, 13, "ieee")}

# the table: a/b, c/d, F, L, e_zero, output (format of the rounding, mode)
TABLE = {
    "volta.mma.f16.f32": ("fp16", "fp32", 23, 4, -131, "fp32", "RZ"),
    "ampere.mma.f16.f32": ("fp16", "fp32", 24, 8, -132, "fp32", "RZ"),
    "ampere.mma.bf16.f32": ("bf16", "fp32", 24, 8, -132, "fp32", "RZ"),
    "ampere.mma.f16.f16": ("fp16", "fp16", 24, 8, -20, "fp16", "RNE"),
    "hopper.wgmma.f16.f32": ("fp16", "fp32", 25, 16, -133, "fp32", "RZ"),
    "hopper.wgmma.bf16.f32": ("bf16", "fp32", 25, 16, -133, "fp32", "RZ"),
    "hopper.wgmma.f16.f16": ("fp16", "fp16", 25, 16, -21, "fp16", "RNE"),
    "hopper.wgmma.e4m3.f32": ("e4m3fn", "fp32", 13, 32, -133, "e8m13", "RZ"),
    "hopper.wgmma.e5m2.f32": ("e5m2", "fp32", 13, 32, -133, "e8m13", "RZ"),
    "blackwell.tcgen05.e4m3.f32": ("e4m3fn", "fp32", 25, 32, -133, "fp32", "RZ"),
}
CANONICAL_NAN = {"fp32": 0x7FFFFFFF, "fp16": 0x7FFF}


def bits(name):
    E, M, _ = FMT[name]
    return 1 + E + M


def decode(code, name):
    """('nan' | 'inf' | 'num', sign, exponent label e, Fraction s) with value (-1)^sign·s·2^e;
    zeros: s = 0 (label None)."""
    E, M, style = FMT[name]
    bias = (1 << (E - 1)) - 1
    sign = (code >> (E + M)) & 1
    field = (code >> M) & ((1 << E) - 1)
    frac = code & ((1 << M) - 1)
    top = (1 << E) - 1
    if style == "ieee" and field == top:
        return ("inf" if frac == 0 else "nan"), sign, None, None
    if style == "fn" and field == top and frac == (1 << M) - 1:
        return "nan", sign, None, None
    if field == 0:
        if frac == 0:
            return "num", sign, None, Fraction(0)
        return "num", sign, 1 - bias, Fraction(frac, 1 << M)
    return "num", sign, field - bias, 1 + Fraction(frac, 1 << M)


def round_fraction(v, name, mode):
    """Round the exact value v into format ``name`` (RZ or RNE, subnormals kept); returns the
    code. Overflow gives ±inf; a zero result is +0."""
    E, M, _ = FMT[name]
    bias = (1 << (E - 1)) - 1
    emin, emax = 1 - bias, (1 << E) - 2 - bias
    if v == 0:
        return 0
    sign = 1 if v < 0 else 0
    a = abs(v)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    e = max(e, emin)
    q = Fraction(2) ** (e - M)
    m, r = divmod(a, q)
    m = int(m)
    if mode == "RNE" and (r > q / 2 or (r == q / 2 and m % 2 == 1)):
        m += 1
    if m == 0:
        return 0
    value = m * q
    if value >= Fraction(2) ** (emax + 1):
        return (sign << (E + M)) | (((1 << E) - 1) << M)
    # encode m·2^(e-M): normal when m >= 2^M (or after the carry), subnormal otherwise
    if m >= (1 << (M + 1)):  # carry out of rounding: one binade up
        m >>= 1
        e += 1
    if m >= (1 << M):
        field, frac = e + bias, m - (1 << M)
    else:
        field, frac = 0, m
    return (sign << (E + M)) | (field << M) | frac


def ref_block(a, b, c, ab, cd, F, e_zero, out, mode):
    """One block: lists of a and b codes, the c code; returns the code of cd."""
    terms = []  # (kind, sign, e, s)
    nan = False
    infs = set()
    for x, y in zip(a, b):
        kx, sx, ex, fx = decode(x, ab)
        ky, sy, ey, fy = decode(y, ab)
        if "nan" in (kx, ky):
            nan = True
            continue
        if "inf" in (kx, ky):
            if (kx == "num" and fx == 0) or (ky == "num" and fy == 0):
                nan = True  # inf × 0
            else:
                infs.add(sx ^ sy)
            continue
        if fx == 0 or fy == 0:
            terms.append((sx ^ sy, e_zero, Fraction(0)))
        else:
            terms.append((sx ^ sy, ex + ey, fx * fy))  # exponent of a product: e_a + e_b
    kc, sc, ec, fc = decode(c, cd)
    if kc == "nan":
        nan = True
    elif kc == "inf":
        infs.add(sc)
    else:
        terms.append((sc, e_zero if fc == 0 else ec, fc))
    if nan or len(infs) == 2:
        return CANONICAL_NAN[cd]
    if infs:
        return round_fraction(Fraction(-1 if infs.pop() else 1) * Fraction(2) ** 1000, cd, "RZ")
    e_max = max(e for _, e, _ in terms)
    total = 0
    for sg, e, s in terms:
        t = int(s * Fraction(2) ** (e - e_max + F))  # int() truncates toward zero (s >= 0)
        total += -t if sg else t
    value = Fraction(total) * Fraction(2) ** (e_max - F)
    code = round_fraction(value, out, mode)
    if out != cd:  # e8m13 in an fp32 container: the same sign/exponent, 10 more zero bits
        code <<= FMT[cd][1] - FMT[out][1]
    return code


def ref_dot(a, b, c, model):
    ab, cd, F, L, e_zero, out, mode = TABLE[model]
    a, b = [int(x) for x in a], [int(x) for x in b]
    c = int(c)
    K = len(a)
    step = min(K, L) if K else 1
    for i in range(0, max(K, 1), step):
        c = ref_block(a[i:i + L], b[i:i + L], c, ab, cd, F, e_zero, out, mode)
    return c


# ---------------------------------------------------------------------- block generators
def _pack(sign, field, frac, name):
    E, M, _ = FMT[name]
    return (sign.astype(np.int64) << (E + M)) | (field.astype(np.int64) << M) | frac.astype(np.int64)


def _finite(codes, name):
    """Replace NaN/inf codes by zero (so that 'finite' kinds stay finite)."""
    E, M, style = FMT[name]
    field = (codes >> M) & ((1 << E) - 1)
    frac = codes & ((1 << M) - 1)
    top = (1 << E) - 1
    bad = (field == top) if style == "ieee" else ((field == top) & (frac == (1 << M) - 1))
    return np.where(bad, codes & ~((1 << (E + M)) - 1) | (1 << M), codes)


def blocks(model, n, K, kind, seed):
    """(a, b, c) code arrays, a and b of shape (n, K), c of shape (n,), for block kinds:

    ``random`` any finite codes; ``mixed`` exponents in a random window per lane (products of
    mixed magnitudes that overlap); ``corner`` subnormals, zeros, exact cancellations,
    fraction patterns at binade edges, c from zero to huge; ``specials`` NaN and inf mixed in.
    """
    ab, cd = TABLE[model][:2]
    rng = np.random.default_rng(seed)
    Ea, Ma, _ = FMT[ab]
    Ec, Mc, _ = FMT[cd]
    shape = (n, K)
    if kind == "random":
        a = _finite(rng.integers(0, 1 << bits(ab), size=shape), ab)
        b = _finite(rng.integers(0, 1 << bits(ab), size=shape), ab)
        c = _finite(rng.integers(0, 1 << bits(cd), size=n), cd)
    elif kind == "mixed":
        top = (1 << Ea) - 1
        centre = rng.integers(1, top, size=(n, 1))
        width = rng.integers(0, max(top // 3, 2), size=(n, 1))
        lo, hi = centre - width, centre + width
        a = _finite(_pack(rng.integers(0, 2, size=shape), np.clip(rng.integers(0, 1 << 30, size=shape) % (hi - lo + 1) + lo, 1, top - (FMT[ab][2] == "ieee")),
                          rng.integers(0, 1 << Ma, size=shape), ab), ab)
        b = _finite(_pack(rng.integers(0, 2, size=shape), np.clip(rng.integers(0, 1 << 30, size=shape) % (hi - lo + 1) + lo, 1, top - (FMT[ab][2] == "ieee")),
                          rng.integers(0, 1 << Ma, size=shape), ab), ab)
        # c near the products' magnitude: exponent 2·(centre − bias_a) + bias_c ± a few
        bias_a, bias_c = (1 << (Ea - 1)) - 1, (1 << (Ec - 1)) - 1
        ce = np.clip(2 * (centre[:, 0] - bias_a) + bias_c + rng.integers(-8, 9, size=n), 0, (1 << Ec) - 2)
        c = _finite(_pack(rng.integers(0, 2, size=n), ce, rng.integers(0, 1 << Mc, size=n), cd), cd)
        c = np.where(rng.random(n) < 0.1, 0, c)
    elif kind == "corner":
        a = _finite(rng.integers(0, 1 << bits(ab), size=shape), ab)
        b = _finite(rng.integers(0, 1 << bits(ab), size=shape), ab)
        sel = rng.random(shape)
        sub = _pack(rng.integers(0, 2, size=shape), np.zeros(shape, np.int64), rng.integers(0, 1 << Ma, size=shape), ab)
        a = np.where(sel < 0.25, sub, a)
        b = np.where((sel > 0.15) & (sel < 0.35), sub, b)
        a = np.where(rng.random(shape) < 0.1, rng.integers(0, 2, size=shape) << (Ea + Ma), a)  # ±0
        edge = _pack(rng.integers(0, 2, size=shape), rng.integers(1, (1 << Ea) - 1, size=shape),
                     rng.choice([0, 1, (1 << Ma) - 1, (1 << Ma) - 2], size=shape), ab)
        b = np.where(rng.random(shape) < 0.2, edge, b)
        # exact cancellations: the second half repeats the first half with a negated
        half = K // 2
        cancel = rng.random(n) < 0.5
        if half:
            a[cancel, half:2 * half] = a[cancel, :half] ^ (1 << (Ea + Ma))
            b[cancel, half:2 * half] = b[cancel, :half]
        c = _finite(rng.integers(0, 1 << bits(cd), size=n), cd)
        csub = _pack(rng.integers(0, 2, size=n), np.zeros(n, np.int64), rng.integers(0, 1 << Mc, size=n), cd)
        pick = rng.random(n)
        c = np.where(pick < 0.3, rng.integers(0, 2, size=n) << (Ec + Mc), np.where(pick < 0.5, csub, c))
    elif kind == "specials":
        a, b, c = blocks(model, n, K, "corner", seed + 1)
        nan_a = (((1 << Ea) - 1) << Ma) | ((1 << Ma) - 1)
        inf_a = ((1 << Ea) - 1) << Ma
        r = rng.random(shape)
        a = np.where(r < 0.03, nan_a | (rng.integers(0, 2, size=shape) << (Ea + Ma)), a)
        if FMT[ab][2] == "ieee":
            a = np.where((r > 0.03) & (r < 0.08), inf_a | (rng.integers(0, 2, size=shape) << (Ea + Ma)), a)
            b = np.where(rng.random(shape) < 0.05, inf_a | (rng.integers(0, 2, size=shape) << (Ea + Ma)), b)
        inf_c = (((1 << Ec) - 1) << Mc)
        rc = rng.random(n)
        c = np.where(rc < 0.05, inf_c | (rng.integers(0, 2, size=n) << (Ec + Mc)), c)
        c = np.where((rc > 0.05) & (rc < 0.08), inf_c | 1, c)
    else:
        raise ValueError(kind)
    dt = {8: np.uint8, 16: np.uint16, 32: np.uint32}
    return (np.asarray(a).astype(dt[bits(ab)]), np.asarray(b).astype(dt[bits(ab)]),
            np.asarray(c).astype(dt[bits(cd)]))


# ---------------------------------------------------------------------- tests
from ulpflow.golden import mma  # noqa: E402  (the code under test, after the independent reference)

MODELS = list(TABLE)


def test_table_matches_models():
    assert sorted(mma.MODELS) == sorted(TABLE)
    for name, (ab, cd, F, L, e_zero, out, mode) in TABLE.items():
        m = mma.MODELS[name]
        assert (str(m.a_format), str(m.c_format), m.F, m.L, m.e_zero, str(m.out_format)) == (ab, cd, F, L, e_zero, out)
        assert m.spec.rounding == {"RZ": "RTZ", "RNE": "RNE"}[mode]
        assert m.source


def _compare(model, a, b, c):
    got = mma.dot(a, b, c, model)
    bad = []
    for i in range(len(c)):
        want = ref_dot(a[i], b[i], c[i], model)
        if int(got[i]) != want:
            bad.append((i, int(got[i]), want))
    assert not bad, f"{model}: {len(bad)} of {len(c)} blocks differ, first {bad[0]} (a={a[bad[0][0]].tolist()}, b={b[bad[0][0]].tolist()}, c={int(c[bad[0][0]])})"


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("kind", ["random", "mixed", "corner", "specials"])
def test_dot_matches_fraction_reference(model, kind):
    L = TABLE[model][3]
    # two blocks and a short last one: K = 2L + L/2 (chaining through c)
    K = 2 * L + max(L // 2, 1)
    n = 120 if L >= 16 else 250
    a, b, c = blocks(model, n, K, kind, seed=hash((model, kind)) % (1 << 31))
    _compare(model, a, b, c)


@pytest.mark.parametrize("model", MODELS)
def test_single_blocks_match_fraction_reference(model):
    L = TABLE[model][3]
    a, b, c = blocks(model, 300, L, "mixed", seed=7)
    _compare(model, a, b, c)
    a, b, c = blocks(model, 300, L, "corner", seed=8)
    _compare(model, a, b, c)


def test_the_product_exponent_is_the_operands_sum():
    """Renormalising a product (1.5·1.5 = 2.25 = 1.125·2^1) would raise e_max by one and drop
    the last kept bit of a small term; the semantics keeps F bits below 2^(e_a + e_b)."""
    model = "ampere.mma.f16.f32"  # F = 24
    one5, one, tiny = 0x3E00, 0x3C00, 0x0001  # 1.5, 1.0, 2^-24 in fp16
    # 1.5·1.5 − 1.5·1.5 + 1·2^-24 (+ c = 0): e_max = 0, so 2^-24 is the 24th bit below it
    a = np.array([[one5, one5 | 0x8000, one] + [0] * 5], dtype=np.uint16)
    b = np.array([[one5, one5, tiny] + [0] * 5], dtype=np.uint16)
    c = np.array([0], dtype=np.uint32)
    got = int(mma.dot(a, b, c, model)[0])
    assert got == ref_dot(a[0], b[0], c[0], model)
    assert np.array([got], np.uint32).view(np.float32)[0] == np.float32(2.0 ** -24)


def test_order_matters_but_not_inside_a_block():
    """Permuting products inside a block leaves the result unchanged; moving them across a block
    boundary can change it."""
    model = "hopper.wgmma.e4m3.f32"
    a, b, c = blocks(model, 200, 64, "mixed", seed=3)
    d = mma.dot(a, b, c, model)
    perm = np.concatenate([np.random.default_rng(1).permutation(32), 32 + np.random.default_rng(2).permutation(32)])
    assert (mma.dot(a[:, perm], b[:, perm], c, model) == d).all()


def test_matmul_is_dot_per_entry():
    model = "ampere.mma.bf16.f32"
    a, b, c = blocks(model, 12, 16, "mixed", seed=5)
    A = a.reshape(3, 4, 16)
    B = np.swapaxes(b.reshape(3, 4, 16), -1, -2)[:, :, :2]
    C = c.reshape(3, 4)[:, :2]
    C = np.stack([c.reshape(3, 4)[:, :2]] * 1, axis=0)[0][:, None, :].repeat(4, axis=1)
    D = mma.matmul(A, B, C, model)
    assert D.shape == (3, 4, 2)
    for s in range(3):
        for i in range(4):
            for j in range(2):
                assert int(D[s, i, j]) == ref_dot(A[s, i], B[s, :, j], C[s, i, j], model)
    C2 = c[:8].reshape(4, 2)
    D2 = mma.matmul(A[0], B[0], C2, model)
    for i in range(4):
        for j in range(2):
            assert int(D2[i, j]) == ref_dot(A[0, i], B[0, :, j], C2[i, j], model)


def test_zero_result_is_plus_zero_and_k0_rounds_c():
    model = "hopper.wgmma.f16.f16"
    a = np.array([[0x8000] * 16], np.uint16)  # -0
    c = np.array([0x8000], np.uint16)
    assert int(mma.dot(a, a ^ 0x8000, c, model)[0]) == 0
    # K = 0: c rounded into the output format
    e = np.zeros((1, 0), np.uint8)
    assert int(mma.dot(e, e, np.array([0x3F800001], np.uint32), "hopper.wgmma.e4m3.f32")[0]) == 0x3F800000


def test_bad_input_errors():
    with pytest.raises(ValueError, match=r"unknown MMA model 'ampere'; known models: volta\.mma\.f16\.f32, "):
        mma.dot(np.zeros((1, 8), np.uint16), np.zeros((1, 8), np.uint16), np.zeros(1, np.uint32), "ampere")
    with pytest.raises(ValueError, match=r"a and b of one shape \(\.\.\., K\) and c of shape \(\.\.\.\), got a \(2, 8\), b \(2, 7\)"):
        mma.dot(np.zeros((2, 8), np.uint16), np.zeros((2, 7), np.uint16), np.zeros(2, np.uint32), "ampere.mma.f16.f32")
    with pytest.raises(ValueError, match=r"a: code 65536 is out of range for fp16 \(0 … 65535\)"):
        mma.dot(np.full((1, 8), 65536), np.zeros((1, 8), np.uint16), np.zeros(1, np.uint32), "ampere.mma.f16.f32")
    with pytest.raises(TypeError, match=r"c must be an integer array of fp32 codes, not dtype float64"):
        mma.dot(np.zeros((1, 8), np.uint16), np.zeros((1, 8), np.uint16), np.zeros(1), "ampere.mma.f16.f32")
    with pytest.raises(ValueError, match=r"c: code -1 is out of range for fp32 \(0 … 4294967295\)"):
        mma.dot(np.zeros((1, 8), np.uint16), np.zeros((1, 8), np.uint16), np.full(1, -1), "ampere.mma.f16.f32")
    with pytest.raises(ValueError, match=r"a and b of one shape \(\.\.\., K\) and c of shape \(\.\.\.\), got a \(2, 8\), b \(2, 8\) and c \(3,\)"):
        mma.dot(np.zeros((2, 8), np.uint16), np.zeros((2, 8), np.uint16), np.zeros(3, np.uint32), "ampere.mma.f16.f32")
    with pytest.raises(ValueError, match=r"matmul takes A \(\.\.\., M, K\), B \(\.\.\., K, N\) and C \(\.\.\., M, N\), "
                                         r"got A \(4, 8\), B \(7, 2\) and C \(4, 2\)"):
        mma.matmul(np.zeros((4, 8), np.uint16), np.zeros((7, 2), np.uint16), np.zeros((4, 2), np.uint32), "ampere.mma.f16.f32")
    with pytest.raises(ValueError, match=r"unknown MMA model 'hopper\.wgmma\.e4m3'; known models: .*hopper\.wgmma\.e4m3\.f32"):
        mma.matmul(np.zeros((4, 8), np.uint8), np.zeros((8, 2), np.uint8), np.zeros((4, 2), np.uint32), "hopper.wgmma.e4m3")


def test_reference_catches_an_injected_fault():
    """The comparison can fail: a model with F one smaller differs from the reference."""
    import dataclasses
    from ulpflow.golden.tree import FusedSpec
    m = mma.MODELS["ampere.mma.f16.f32"]
    spec = dataclasses.replace(m.spec, F=m.F - 1)
    faulty = dataclasses.replace(m, spec=spec)
    a, b, c = blocks("ampere.mma.f16.f32", 300, 8, "mixed", seed=11)
    got = mma.dot(a, b, c, faulty)
    want = [ref_dot(a[i], b[i], c[i], "ampere.mma.f16.f32") for i in range(300)]
    assert (got != np.array(want, dtype=np.uint32)).sum() > 0
    assert isinstance(spec, FusedSpec)
