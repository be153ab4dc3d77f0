"""The quality-of-results (QoR) table: every arithmetic unit on the bare devices, seeds 1-3.

The method: each unit sits behind the 3-pin serial wrapper of :mod:`ulpflow.boards.wrapper`
(operand registers fed by a shift register from one pin, result register XOR-reduced to one
pin), so it is measured between registers and pin count never matters. Yosys runs
``synth_ecp5`` (DSP inference on by default) or ``synth_ice40 -dsp``; nextpnr places and routes
with ``--freq 50 --timing-allow-fail --seed S``; Fmax is the post-route figure of ``clk``. Area
(Yosys ``stat``) does not depend on the seed; Fmax does, so each design is routed with seeds 1, 2
and 3 and the table gives min / median / max. Every run goes through
:func:`ulpflow.boards.synthesize`, so it is cached by design hash and a re-run only synthesises
what changed.

``bench/qor.py`` and ``ulpflow qor`` both call :func:`run_qor` and the formatters here.

Reference figures (:data:`HARDFLOAT`) are Berkeley HardFloat's adder and multiplier with IEEE
codes in and out (its ``fNToRecFN`` converters, the combinational recoded core, ``recFNToFN``;
round to nearest even), measured by the ulpflow project on this very flow: the same YoWASP Yosys
0.70 and nextpnr 0.11.1, the same wrapper, the same options and seeds. HardFloat's bf16 adder
needed a one-line fix (its adder is wrong for an 8-bit significand); the figure is that of the
fixed adder. On iCE40, nextpnr treats SB_MAC16 ports as registered endpoints even when the DSP
is used combinationally, so an iCE40 Fmax of a unit that uses one ignores the paths through it;
no HardFloat iCE40 Fmax is given for the multipliers for that reason.
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import asdict, dataclass, field

__all__ = ["OPS", "FORMATS", "DEVICES", "SEEDS", "CONVERT_TO", "HARDFLOAT", "Spec", "Row",
           "build_unit", "unit_latencies", "qor_specs", "run_qor", "synth_run", "markdown_table",
           "ratio_rows", "ratios_markdown", "rows_to_json"]

#: Unit kinds: float add/mul/convert; fixed add/mul (the kind follows the format).
OPS = ("add", "mul", "convert")
FORMATS = ("e4m3", "e5m2", "bf16", "fp16", "fp32", "q4.4", "q8.8")
DEVICES = ("ecp5-85f", "ice40-up5k")
SEEDS = (1, 2, 3)
#: Destination of the table's ``convert`` row for each float source format (one narrowing
#: conversion per format; ``ulpflow synth convert --to F`` builds any other pair).
CONVERT_TO = {"fp32": "fp16", "fp16": "e4m3", "bf16": "e4m3", "e5m2": "e4m3", "e4m3": "e5m2"}

# (op, format, device) -> figures of the reference (see the module docstring for their source).
# fmax: (min, median, max) MHz over seeds 1, 2, 3, or None where not measured.
HARDFLOAT = {
    ("add", "fp32", "ecp5-85f"): dict(luts=1302, carries=120, dsps=0, ffs=99,
                                      fmax=(24.2, 24.4, 25.0)),
    ("mul", "fp32", "ecp5-85f"): dict(luts=1222, carries=104, dsps=4, ffs=100,
                                      fmax=(25.0, 25.5, 25.7)),
    ("add", "fp16", "ecp5-85f"): dict(luts=524, carries=64, dsps=0, ffs=51,
                                      fmax=(30.0, 30.1, 30.3)),
    ("mul", "fp16", "ecp5-85f"): dict(luts=527, carries=39, dsps=1, ffs=52,
                                      fmax=(31.4, 32.9, 33.5)),
    ("add", "bf16", "ecp5-85f"): dict(luts=403, carries=63, dsps=0, ffs=51,
                                      fmax=(31.7, 32.5, 33.2)),
    ("mul", "bf16", "ecp5-85f"): dict(luts=385, carries=47, dsps=1, ffs=52,
                                      fmax=(34.6, 35.6, 36.5)),
    ("add", "fp32", "ice40-up5k"): dict(luts=1279, packed=1375, fmax=(7.1, 7.2, 7.2)),
    ("add", "fp16", "ice40-up5k"): dict(luts=576, packed=627, fmax=(9.5, 9.5, 9.7)),
    ("mul", "fp32", "ice40-up5k"): dict(luts=929, dsps=4, fmax=None),
    ("mul", "fp16", "ice40-up5k"): dict(luts=411, dsps=1, fmax=None),
}
#: HardFloat's bare recoded fp32 adder core (no IEEE converters) on ECP5-85F: a size target.
HARDFLOAT_FP32_ADD_CORE = dict(luts=623, carries=80, ffs=102, fmax=(38.5, 39.6, 39.8))


@dataclass(frozen=True)
class Spec:
    """One design of the table: unit kind, format (source format of a convert), latency,
    device; ``to`` is the destination of a convert."""

    op: str
    fmt: str
    latency: int
    device: str
    to: str = ""

    @property
    def unit_name(self):
        return f"{self.fmt}->{self.to} convert" if self.op == "convert" else f"{self.fmt} {self.op}"


@dataclass
class Row:
    """Measured figures of one :class:`Spec` over its seeds."""

    spec: Spec
    design: str
    luts: int
    carries: int
    dsps: int
    ffs: int
    packed: int
    fits: bool
    seeds: tuple
    fmax: tuple           # per seed, in the order of ``seeds`` (None where it did not route)
    overshoot: dict = field(default_factory=dict)
    elapsed_s: float = 0.0
    cached: int = 0       # how many of the seeds came from the cache

    @property
    def fmax_stats(self):
        """``(min, median, max)`` of the Fmax over the seeds (None when none routed)."""
        xs = [f for f in self.fmax if f is not None]
        if not xs:
            return None
        return min(xs), statistics.median(xs), max(xs)


def _kind(fmt):
    from ulpflow.golden import parse_format

    return parse_format(fmt).kind


def _unit_class(op, fmt):
    from ulpflow.golden import parse_format
    from ulpflow.hdl import FixedAdder, FixedMultiplier, FloatAdder, FloatConverter, FloatMultiplier

    if op not in OPS:
        raise ValueError(f"unknown unit {op!r}: expected one of {', '.join(OPS)}")
    f = parse_format(fmt)
    if op == "convert":
        return FloatConverter, f
    return {("add", "float"): FloatAdder, ("mul", "float"): FloatMultiplier,
            ("add", "fixed"): FixedAdder, ("mul", "fixed"): FixedMultiplier}[(op, f.kind)], f


def build_unit(op, fmt, *, latency=0, rounding="RNE", to=None, _mutate=None):
    """The ulpflow.hdl unit for ``op`` ("add", "mul", "convert") over ``fmt``.

    add / mul pick the float or fixed-point unit by the format's kind; convert goes from
    ``fmt`` to ``to`` (required). Errors name the bad value. ``_mutate`` is the units' private
    fault hook, for the tests that show a check can fail.
    """
    from ulpflow.golden import parse_format

    cls, f = _unit_class(op, fmt)
    if op == "convert":
        if to is None:
            raise ValueError("unit 'convert' needs a destination format (to=, --to F)")
        return cls(f, parse_format(to), rounding=rounding, latency=latency, _mutate=_mutate)
    if to is not None:
        raise ValueError(f"to= (--to) is for unit 'convert' only, not {op!r}")
    return cls(f, rounding=rounding, latency=latency, _mutate=_mutate)


def unit_latencies(op, fmt):
    """Latencies the unit supports with a register at a cut point: ``0 .. len(CUTS)``."""
    cls, _ = _unit_class(op, fmt)
    return tuple(range(len(cls.CUTS) + 1))


def _split(value, allowed, what):
    if value is None:
        return tuple(allowed)
    items = [v.strip() for v in (value.split(",") if isinstance(value, str) else value)]
    items = [v for v in items if v]
    bad = [v for v in items if v not in allowed]
    if bad or not items:
        raise ValueError(f"{what}= (--{what}) must be a comma-separated subset of "
                         f"{', '.join(allowed)}, not {value!r}")
    return tuple(a for a in allowed if a in items)  # table order, whatever the order asked


def qor_specs(*, only=None, units=None, devices=None, latencies=None, quick=False):
    """The designs of the table, in table order.

    ``only``: formats (``"fp32,fp16"`` or a list; default :data:`FORMATS`); ``units``: kinds
    (default :data:`OPS`; convert rows only for float formats); ``devices`` (default
    :data:`DEVICES`); ``latencies``: a list of cycles (default: 0 and every pipelined variant of
    each unit); ``quick``: latency 0 only.
    """
    fmts = _split(only, FORMATS, "only")
    ops = _split(units, OPS, "units")
    devs = _split(devices, DEVICES, "devices")
    if latencies is not None:
        latencies = [int(x) for x in (latencies.split(",") if isinstance(latencies, str)
                                      else latencies)]
        if any(x < 0 for x in latencies):
            raise ValueError(f"latencies must be >= 0, not {latencies!r}")
    specs = []
    for dev in devs:
        for fmt in fmts:
            for op in ops:
                to = ""
                if op == "convert":
                    if _kind(fmt) != "float":
                        continue
                    to = CONVERT_TO[fmt]
                supported = unit_latencies(op, fmt)
                lats = (0,) if quick else (supported if latencies is None else
                                            [x for x in latencies if x in supported])
                for lat in lats:
                    specs.append(Spec(op, fmt, lat, dev, to))
    return specs


def _say(msg):
    print(f"ulpflow.boards.qor: {msg}", file=sys.stderr, flush=True)


def synth_run(spec, seed):
    """One run of the table: ``spec`` synthesised, placed and routed with nextpnr ``seed``
    (cached by design hash, like every :func:`~ulpflow.boards.synthesize`)."""
    from .synth import synthesize

    unit = build_unit(spec.op, spec.fmt, latency=spec.latency, to=spec.to or None)
    return synthesize(unit, spec.device, seed=seed)


def _serial_runs(progress):
    def runs(function, jobs):
        reports = []
        for k, (spec, seed) in enumerate(jobs, 1):
            if progress:
                progress(f"[{k}/{len(jobs)}] {spec.unit_name} latency {spec.latency} on "
                         f"{spec.device}, seed {seed}")
            t0 = time.monotonic()
            r = function(spec, seed)
            if progress and not r.cached:
                progress(f"    {r.luts} LUT4, Fmax {r.fmax} MHz, {time.monotonic() - t0:.1f} s")
            reports.append(r)
        return reports
    return runs


def run_qor(specs, *, seeds=SEEDS, progress=_say, runs=None):
    """Synthesise every spec for every seed (cached) and return one :class:`Row` per spec.

    ``progress(message)`` is told what runs (default: a line on stderr); pass None for quiet.
    ``runs(function, jobs)`` executes the synthesis runs: it applies ``function`` (that is
    :func:`synth_run`) to each ``(spec, seed)`` of the list ``jobs`` and returns the reports in
    that order. By default they run one after the other in this process;
    ``ulpflow.sweep.dask_runs`` spreads them over a Dask cluster, one synthesis per task.
    """
    seeds = tuple(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in seeds):
        raise ValueError(f"seeds must be positive integers, not {seeds!r}")
    jobs = [(spec, seed) for spec in specs for seed in seeds]
    reports = list((runs or _serial_runs(progress))(synth_run, jobs))
    if len(reports) != len(jobs):
        raise RuntimeError(f"runs() returned {len(reports)} reports for {len(jobs)} jobs")
    rows = []
    for i, spec in enumerate(specs):
        mine = reports[i * len(seeds):(i + 1) * len(seeds)]
        first = mine[0]
        rows.append(Row(spec=spec, design=first.design, luts=first.luts, carries=first.carries,
                        dsps=first.dsps, ffs=first.ffs, packed=first.packed,
                        fits=all(r.fits for r in mine), seeds=seeds,
                        fmax=tuple(r.fmax for r in mine), overshoot=first.overshoot,
                        elapsed_s=round(sum(r.elapsed_s for r in mine), 1),
                        cached=sum(r.cached for r in mine)))
    return rows


# ------------------------------------------------------------------------------ formatting

def _mhz(x):
    return "-" if x is None else f"{x:.1f}"


def _fmax_cell(stats, n_seeds):
    if stats is None:
        return "-"
    lo, med, hi = stats
    if n_seeds == 1:
        return _mhz(med)
    return f"{_mhz(lo)} / {_mhz(med)} / {_mhz(hi)}"


COLUMNS = ("device", "unit", "latency", "LUT4", "carry", "DSP", "FF", "packed", "Fmax MHz",
           "fits")


def table_rows(rows):
    """Rows of the QoR table as tuples of strings (columns :data:`COLUMNS`)."""
    out = []
    for r in rows:
        fits = "yes" if r.fits else "NO (" + ", ".join(
            f"{k} +{v}" for k, v in r.overshoot.items()) + ")"
        out.append((r.spec.device, r.spec.unit_name, str(r.spec.latency), str(r.luts),
                    str(r.carries), str(r.dsps), str(r.ffs), str(r.packed),
                    _fmax_cell(r.fmax_stats, len(r.seeds)), fits))
    return out


def _md(header, body):
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i < 2 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def markdown_table(rows):
    """The QoR table in Markdown (Fmax as min / median / max over the seeds)."""
    return _md(COLUMNS, table_rows(rows))


def ratio_rows(rows):
    """One dict per measured unit that has a :data:`HARDFLOAT` reference (latency 0 only)."""
    out = []
    for r in rows:
        ref = HARDFLOAT.get((r.spec.op, r.spec.fmt, r.spec.device))
        if ref is None or r.spec.latency != 0:
            continue
        stats = r.fmax_stats
        med = stats[1] if stats else None
        ref_med = ref["fmax"][1] if ref.get("fmax") else None
        out.append(dict(device=r.spec.device, unit=r.spec.unit_name, luts=r.luts,
                        dsps=r.dsps, fmax=med, ref_luts=ref["luts"], ref_dsps=ref.get("dsps", 0),
                        ref_fmax=ref_med, lut_ratio=r.luts / ref["luts"],
                        fmax_ratio=(med / ref_med) if (med and ref_med) else None,
                        seeds=len(r.seeds), dsp_fmax_caveat=(r.spec.device == "ice40-up5k"
                                                            and r.dsps > 0)))
    return out


RATIO_COLUMNS = ("device", "unit", "ulpflow LUT4 (+DSP)", "ulpflow Fmax", "HardFloat LUT4 (+DSP)",
                 "HardFloat Fmax", "LUT ratio", "Fmax ratio", "verdict")


def ratio_table_rows(rows):
    """Rows of the HardFloat comparison (columns :data:`RATIO_COLUMNS`). LUT ratio below 1 and
    Fmax ratio above 1 favour ulpflow; the verdict says which of the two goals are met."""
    out = []
    for d in ratio_rows(rows):
        def area(luts, dsps):
            return f"{luts}" + (f" + {dsps} DSP" if dsps else "")
        lut_ok = d["lut_ratio"] < 1
        if d["fmax_ratio"] is None:
            verdict = ("fewer LUTs" if lut_ok else "more LUTs") + ", no Fmax reference"
        else:
            fmax_ok = d["fmax_ratio"] > 1
            verdict = {(True, True): "smaller and faster", (True, False): "smaller, slower",
                       (False, True): "larger, faster",
                       (False, False): "larger and slower"}[(lut_ok, fmax_ok)]
        fm = _mhz(d["fmax"]) + (" *" if d["dsp_fmax_caveat"] else "")
        out.append((d["device"], d["unit"], area(d["luts"], d["dsps"]), fm,
                    area(d["ref_luts"], d["ref_dsps"]), _mhz(d["ref_fmax"]),
                    f"{d['lut_ratio']:.2f}",
                    "-" if d["fmax_ratio"] is None else f"{d['fmax_ratio']:.2f}", verdict))
    return out


def ratios_markdown(rows):
    """The HardFloat comparison in Markdown (empty string when no row has a reference)."""
    body = ratio_table_rows(rows)
    if not body:
        return ""
    text = _md(RATIO_COLUMNS, body)
    if any(d["dsp_fmax_caveat"] for d in ratio_rows(rows)):
        text += ("\n\n\\* iCE40 with SB_MAC16: nextpnr treats the DSP's ports as registered, so "
                 "this Fmax ignores the paths through the DSP.")
    return text


def rows_to_json(rows):
    """A JSON-ready list: every row with its spec, figures, Fmax per seed and statistics, and
    the HardFloat ratios where there is a reference."""
    ratios = {(d["device"], d["unit"]): d for d in ratio_rows(rows)}
    out = []
    for r in rows:
        d = asdict(r)
        d["spec"] = asdict(r.spec)
        d["unit"] = r.spec.unit_name
        d["fmax_min_median_max"] = r.fmax_stats
        ref = ratios.get((r.spec.device, r.spec.unit_name)) if r.spec.latency == 0 else None
        d["hardfloat"] = None if ref is None else {
            k: ref[k] for k in ("ref_luts", "ref_dsps", "ref_fmax", "lut_ratio", "fmax_ratio")}
        out.append(d)
    return out
