"""``ulpflow mma``: one dot product under every GPU matrix-unit model, next to exact, left-to-right
and pairwise sums; and a one-hot sum, exact under every model.

The dot product is a one-neuron network layer (weights ``a``, input ``b``, bias ``c``) evaluated
by the golden model with a sequential tree, a pairwise tree and each model's fused tree
(``golden.mma.model_tree``); every fused result is also computed by ``golden.mma.dot`` and the
two must agree. The exact value is a Fraction sum.
"""

from __future__ import annotations

__all__ = ["add_parser", "mma_report", "print_mma_report"]


def add_parser(sub):
    p = sub.add_parser(
        "mma", help="one dot product evaluated exactly, left to right, pairwise and under every "
                    "GPU matrix-unit model (ulpflow.golden.mma)")
    p.add_argument("--model", required=True,
                   help="the model whose input format and addend format are used, e.g. "
                        "hopper.wgmma.e4m3.f32 or ampere.mma.bf16.f32")
    p.add_argument("--k", type=int, required=True, help="number of products (>= 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random operands (default 0)")
    p.add_argument("--a", help="comma-separated a codes (hex, of the model's input format) instead of random ones")
    p.add_argument("--b", help="comma-separated b codes instead of random ones")
    p.add_argument("--c", help="the addend code (hex, of the model's addend format; default +0)")
    p.add_argument("--product-format",
                   help="format of the exact products of the left-to-right and pairwise sums and "
                        "of the fused layer (default: the narrowest that holds every product)")
    p.set_defaults(func=_cmd_mma)


def _codes(text, fmt, what):
    import numpy as np
    out = []
    for i, s in enumerate(text.split(",")):
        s = s.strip()
        try:
            v = int(s, 16) if s.lower().startswith("0x") else int(s)
        except ValueError:
            raise ValueError(f"--{what}: item {i} is {s!r}, not a code (hex like {fmt.hex(0)!r})") from None
        if not 0 <= v < (1 << fmt.bits):
            raise ValueError(f"--{what}: code {s} is out of range for {fmt} (0x0 … {fmt.hex((1 << fmt.bits) - 1)})")
        out.append(v)
    return np.array(out, dtype=np.int64)


def _product_format(fa, fb, fc):
    """The narrowest float format holding every exact product (fc if it does)."""
    from ulpflow.golden import parse_format
    from ulpflow.golden.network import check_exact_products
    for f in [fc] + [parse_format(f"e{E}m{fa.p + fb.p - 1}") for E in range(5, 12)]:
        try:
            check_exact_products(fa, fb, f)
            return f
        except ValueError:
            continue
    raise ValueError(f"no float format up to 11 exponent bits holds every product {fa} × {fb}")


def _random_operands(fmt, K, rng):
    """Codes of mixed magnitudes (exponents within ±6 of 1, both signs)."""
    import numpy as np
    top = (1 << fmt.exp_bits) - 1
    field = np.clip(rng.integers(fmt.bias - 6, fmt.bias + 7, size=K), 1, top - 1)
    frac = rng.integers(0, 1 << fmt.man_bits, size=K)
    sign = rng.integers(0, 2, size=K)
    codes = (sign << (fmt.bits - 1)) | (field << fmt.man_bits) | frac
    return np.where(codes == fmt.nan_code, codes - 1, codes) if fmt.nan_code is not None else codes


def _layer_eval(a, b, c, fa, fc, pf, tree):
    """The one-neuron layer ``c + Σ a_k·b_k`` (weights a, input b) under ``tree``."""
    import numpy as np
    from ulpflow.golden import Layer, Network, get_activation
    layer = Layer(np.asarray(a)[None, :], np.asarray([c]), weight_format=fa, acc_format=fc,
                  product_format=pf, activation=get_activation("identity", str(fc)), tree=tree)
    return int(Network(fa, [layer])(np.asarray(b)[None, :])[0, 0])


def _exactly_in(codes, src, dst):
    """``codes`` of ``src`` as codes of ``dst`` when every value is exact there, else None."""
    import numpy as np
    from ulpflow.golden import convert
    if src == dst:
        return np.asarray(codes)
    out = convert(np.asarray(codes), src, dst, strict=False)
    back = dst.decode_fraction(out.astype(dst.dtype))
    if list(back) != list(src.decode_fraction(np.asarray(codes).astype(src.dtype))):
        return None
    return out.astype(np.int64)


def mma_report(model, K, seed=0, a=None, b=None, c=None, product_format=None):
    """The rows of ``ulpflow mma``: ``(title, rows, one_hot_rows)``; a row is ``(how, code and
    value, error vs exact)``, a one-hot row ``(model, code and value, "yes"/"NO")``; raises
    ValueError on bad input."""
    from fractions import Fraction

    import numpy as np
    from ulpflow.golden import Tree, as_format, mma

    m = mma.get_model(model)
    fa, fc = m.a_format, m.c_format
    if isinstance(K, bool) or not isinstance(K, int) or K < 1:
        raise ValueError(f"--k must be a positive number of products, not {K!r}")
    rng = np.random.default_rng(seed)
    origin = f"seed {seed}" if a is None else "given codes"
    a = _random_operands(fa, K, rng) if a is None else np.asarray(a)
    b = _random_operands(fa, K, rng) if b is None else np.asarray(b)
    if a.shape != (K,) or b.shape != (K,):
        raise ValueError(f"a and b must have --k = {K} codes each, got {a.shape[0]} and {b.shape[0]}")
    c = fc.zero_code if c is None else int(c)
    pf = _product_format(fa, fa, fc) if product_format is None else as_format(product_format, "--product-format")
    from ulpflow.golden.network import check_exact_products
    check_exact_products(fa, fa, pf, "--product-format")

    vals_a, vals_b = fa.decode_fraction(a.astype(fa.dtype)), fa.decode_fraction(b.astype(fa.dtype))
    cv = fc.decode_fraction(np.array([c], dtype=fc.dtype))[0]
    if not all(isinstance(v, Fraction) for v in list(vals_a) + list(vals_b) + [cv]):
        raise ValueError("the operands must be finite (no NaN or infinity) for an exact comparison")
    exact = sum((x * y for x, y in zip(vals_a, vals_b)), Fraction(0)) + cv

    def row(how, code, fmt):
        v = fmt.decode_fraction(np.array([code], dtype=fmt.dtype))[0]
        err = (v - exact) if isinstance(v, Fraction) else None
        return (how, fmt.show(code), "0" if err == 0 else ("-" if err is None else f"{float(err):.3e}"))

    rows = [("exact (Fraction)", f"{float(exact):.17g}", "0")]
    rows.append(row(f"left to right, RNE {fc}", _layer_eval(a, b, c, fa, fc, pf, Tree.sequential(K + 1)), fc))
    rows.append(row(f"pairwise, RNE {fc}", _layer_eval(a, b, c, fa, fc, pf, Tree.pairwise(K + 1)), fc))
    skipped = []
    for name, other in mma.MODELS.items():
        oa, ob = _exactly_in(a, fa, other.a_format), _exactly_in(b, fa, other.b_format)
        oc = _exactly_in(np.array([c]), fc, other.c_format)
        if oa is None or ob is None or oc is None:
            skipped.append(name)
            continue
        d = int(mma.dot(oa[None, :], ob[None, :], oc, other)[0])
        opf = _product_format(other.a_format, other.b_format, other.c_format)
        via_layer = _layer_eval(oa, ob, int(oc[0]), other.a_format, other.c_format, opf, mma.model_tree(other, K))
        if via_layer != d:  # the network walk and mma.dot are one semantics
            raise RuntimeError(f"{name}: the fused layer gives {via_layer:#x} but mma.dot {d:#x}")
        rows.append(row(f"{name} (L={other.L}, F={other.F})", d, other.c_format))

    # one-hot sum: the output layer of a construction selects one input; exact under every model.
    # The selected input is one that every model's input format holds (when there is one), the
    # other inputs of a model that cannot hold them all are its format's zero.
    held = {name: [_exactly_in(b[k:k + 1], fa, o.b_format) for k in range(K)]
            for name, o in mma.MODELS.items()}
    everywhere = [k for k in range(K) if all(h[k] is not None for h in held.values())]
    j = int(rng.choice(everywhere)) if everywhere else int(rng.integers(0, K))
    one_hot_rows = []
    for name, other in mma.MODELS.items():
        oa = np.full(K, other.a_format.zero_code, dtype=np.int64)
        oa[j] = other.a_format.one_code
        if held[name][j] is None:
            continue
        x = np.array([other.b_format.zero_code if h is None else int(h[0]) for h in held[name]],
                     dtype=np.int64)
        d = int(mma.dot(oa[None, :], x[None, :], np.array([other.c_format.zero_code]), other)[0])
        want = other.b_format.decode_fraction(x[j:j + 1].astype(other.b_format.dtype))[0]
        got = other.c_format.decode_fraction(np.array([d], dtype=other.c_format.dtype))[0]
        one_hot_rows.append((name, other.c_format.show(d), "yes" if got == want else "NO"))
    title = (f"{K}-term dot product of {fa} codes ({origin}), c = {fc.show(c)}, products in {pf}; "
             f"one-hot picks b[{j}] = {fa.show(int(b[j]))}")
    if skipped:
        title += f"; not representable in the inputs of: {', '.join(skipped)}"
    return title, rows, one_hot_rows


def print_mma_report(console, title, rows, one_hot_rows):
    """Print the two tables of :func:`mma_report` on a rich ``console``; returns the number of
    different answers among the evaluations (the exact row left out)."""
    from rich.table import Table
    from rich.text import Text

    t = Table(title=Text(title))
    for col in ("evaluation", "code (value)", "error vs exact"):
        t.add_column(col)
    for r in rows:
        t.add_row(*map(Text, r))
    console.print(t)
    distinct = len({r[1].split(" ", 1)[1] for r in rows[1:]})
    console.print(Text(f"{distinct} different answers among {len(rows) - 1} evaluations; every model's "
                       "result is its fused tree's (mma.dot and the network walk agree)"))
    t2 = Table(title=Text("one-hot sum (weights 0 … 1 … 0): exact under every model"))
    for col in ("model", "code (value)", "exact"):
        t2.add_column(col)
    for r in one_hot_rows:
        t2.add_row(*map(Text, r))
    console.print(t2)
    return distinct


def _cmd_mma(args, console):
    from ulpflow.golden import mma

    m = mma.get_model(args.model)
    a = _codes(args.a, m.a_format, "a") if args.a else None
    b = _codes(args.b, m.b_format, "b") if args.b else None
    c = int(_codes(args.c, m.c_format, "c")[0]) if args.c else None
    if (a is None) != (b is None):
        raise ValueError("give both --a and --b, or neither")
    if a is not None and (len(a) != args.k or len(b) != args.k):
        raise ValueError(f"--a and --b must have --k = {args.k} codes each, got {len(a)} and {len(b)}")
    title, rows, one_hot = mma_report(args.model, args.k, args.seed, a, b, c, args.product_format)
    print_mma_report(console, title, rows, one_hot)
    return 0 if all(r[2] == "yes" for r in one_hot) else 1
