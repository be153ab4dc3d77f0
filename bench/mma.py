"""FusedDotProduct (GPU matrix-unit dot products) on ECP5: area and post-route Fmax.

Usage::

    python bench/mma.py                                  # the two units of docs/mma.md, seed 1
    python bench/mma.py --seeds 1,2,3 --devices ecp5-85f,ecp5-25f
    python bench/mma.py --update-doc docs/mma.md         # rewrite the table in docs/mma.md

Each unit is ``ulpflow.hdl.FusedDotProduct(model, K)`` at latency 0 (one block of ``L = K``
products and the addend, combinational between the registers of the 3-pin serial wrapper),
synthesised, placed and routed through :func:`ulpflow.boards.synthesize` exactly as the QoR
table of docs/qor.md (Yosys ``synth_ecp5``, nextpnr ``--freq 50 --timing-allow-fail``; cached
per design). In the same run the bench measures the baseline of that table, the fp32
``FloatAdder`` (latency 0), and gives each unit's LUT count and Fmax as a ratio to it. A unit
that does not fit a device is a row with ``fits = NO`` and the resource it overshoots. Runs are
niced by the caller: ``nice -n 10 python bench/mma.py``; a cold run takes minutes per unit.

``--update-doc FILE`` replaces the text between ``<!-- mma-qor:begin -->`` and
``<!-- mma-qor:end -->`` in FILE with the table and the command that produced it.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

from ulpflow.boards import synthesize
from ulpflow.golden import parse_format
from ulpflow.hdl import FloatAdder, FusedDotProduct

BEGIN, END = "<!-- mma-qor:begin -->", "<!-- mma-qor:end -->"
#: (model, K): the two units of the issue's Verilator evidence, one block each.
UNITS = (("ampere.mma.f16.f32", 8), ("hopper.wgmma.e4m3.f32", 32))
DEVICES = ("ecp5-85f", "ecp5-25f")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--devices", default="ecp5-85f",
                   help=f"comma-separated subset of {','.join(DEVICES)} (default ecp5-85f)")
    p.add_argument("--seeds", default="1", help="nextpnr seeds, comma-separated (default 1)")
    p.add_argument("--update-doc", metavar="FILE",
                   help="replace the table between the mma-qor markers in FILE")
    args = p.parse_args(argv)
    args.devices = [d.strip() for d in args.devices.split(",") if d.strip()]
    bad = [d for d in args.devices if d not in DEVICES]
    if bad or not args.devices:
        p.error(f"--devices must be a comma-separated subset of {','.join(DEVICES)}, "
                f"not {bad or args.devices}")
    try:
        args.seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        p.error(f"--seeds must be comma-separated integers, not {args.seeds!r}")
    return args


def measure(name, build, device, seeds):
    """``(name, device, first report, [Fmax per seed])`` of one design over the seeds."""
    reports = []
    for seed in seeds:
        t0 = time.monotonic()
        r = synthesize(build(), device, seed=seed)
        print(f"bench/mma.py: {name} on {device}, seed {seed}: {r.luts} LUT4, {r.dsps} DSP, "
              f"Fmax {r.fmax} MHz, fits {r.fits}{' (cached)' if r.cached else ''}, "
              f"{time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
        reports.append(r)
    return name, device, reports[0], [r.fmax for r in reports]


def _fmax(fmaxes):
    xs = [f for f in fmaxes if f is not None]
    if not xs:
        return None, "-"
    med = statistics.median(xs)
    return med, (f"{med:.1f}" if len(xs) == 1 else f"{min(xs):.1f} / {med:.1f} / {max(xs):.1f}")


def table(results):
    """Markdown rows; the ratio columns divide by the fp32 adder on the same device."""
    base = {dev: (r.luts, _fmax(f)[0]) for name, dev, r, f in results
            if name == "fp32 add (baseline)"}
    lines = ["| device | unit | LUT4 | carry | DSP | FF | packed | Fmax MHz | fits | LUT4 / fp32 add "
             "| Fmax / fp32 add |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, dev, r, fmaxes in results:
        med, cell = _fmax(fmaxes)
        fits = "yes" if r.fits else "NO (" + ", ".join(f"{k} +{v}" for k, v in r.overshoot.items()) + ")"
        b_luts, b_fmax = base.get(dev, (None, None))
        lut_ratio = f"{r.luts / b_luts:.2f}" if b_luts else "-"
        fmax_ratio = f"{med / b_fmax:.2f}" if (med and b_fmax) else "-"
        lines.append(f"| {dev} | {name} | {r.luts} | {r.carries} | {r.dsps} | {r.ffs} | "
                     f"{r.packed} | {cell} | {fits} | {lut_ratio} | {fmax_ratio} |")
    return "\n".join(lines)


def update_doc(path, text):
    doc = Path(path).read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(doc):
        raise SystemExit(f"{path}: no {BEGIN} … {END} markers")
    Path(path).write_text(pattern.sub(lambda _: f"{BEGIN}\n{text}\n{END}", doc))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    fp32 = parse_format("fp32")
    results = []
    for dev in args.devices:
        results.append(measure("fp32 add (baseline)", lambda: FloatAdder(fp32), dev, args.seeds))
        for model, K in UNITS:
            results.append(measure(f"{model}, K={K}", lambda m=model, k=K: FusedDotProduct(m, k),
                                   dev, args.seeds))
    text = f"Produced by `python bench/mma.py {' '.join(argv)}`.\n\n" + table(results)
    print(text)
    if args.update_doc:
        update_doc(args.update_doc, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
