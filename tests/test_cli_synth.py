"""``ulpflow synth`` and ``ulpflow qor`` as a shell sees them (real interpreter, real YoWASP
Yosys + nextpnr runs on small units)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", "import sys; from ulpflow.cli import main; sys.exit(main())",
           *args]
    env = dict(os.environ, COLUMNS="200", TERM="dumb")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)


def field(out: str, name: str) -> str:
    """The value column of the report table's row ``name``."""
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("│|").split("│")]
        if len(cells) >= 2 and cells[0] == name:
            return cells[1]
    raise AssertionError(f"no row {name!r} in:\n{out}")


def test_synth_fixed_multiplier_ice40():
    p = run("synth", "mul", "--format", "q4.4", "--target", "ice40-up5k", "--no-cache")
    assert p.returncode == 0, p.stderr
    assert "FixedMultiplier(q4.4" in p.stdout and "ice40-up5k" in p.stdout
    assert int(field(p.stdout, "LUT4")) > 0 and int(field(p.stdout, "flip-flops")) >= 16
    assert field(p.stdout, "fits") == "yes" and field(p.stdout, "latency") == "0 cycles"
    fmax = field(p.stdout, "Fmax (post-route)")
    assert fmax.startswith("clk ") and float(fmax.split()[1]) > 0
    assert field(p.stdout, "constraint").startswith("50 MHz: ")
    assert field(p.stdout, "bitstream").endswith("top.bin")


def test_synth_pipelined_float_adder_ecp5_with_freq_and_rounding():
    p = run("synth", "add", "--format", "e4m3", "--latency", "2", "--target", "ecp5-25f",
            "--freq", "5", "--seed", "2", "--rounding", "RTZ")
    assert p.returncode == 0, p.stderr
    assert "FloatAdder(e4m3, rounding='RTZ', out=e4m3, latency=2)" in p.stdout
    assert field(p.stdout, "latency") == "2 cycles" and field(p.stdout, "seed") == "2"
    assert field(p.stdout, "constraint") == "5 MHz: met"
    assert field(p.stdout, "bitstream").endswith("top.bit")


def test_synth_convert_needs_to_and_builds_with_it():
    p = run("synth", "convert", "--format", "e4m3", "--to", "e5m2", "--target", "ice40-up5k")
    assert p.returncode == 0, p.stderr
    assert "FloatConverter(e4m3, e5m2" in p.stdout and field(p.stdout, "fits") == "yes"


@pytest.mark.parametrize("args, message", [
    (["synth", "add", "--format", "e4m3", "--target", "ice41"],
     "error: unknown target 'ice41': expected one of ice40-up5k, ecp5-25f, ecp5-85f, "
     "icebreaker, ulx3s-25f, ulx3s-85f"),
    (["synth", "div", "--format", "e4m3", "--target", "ice40-up5k"],
     "error: unknown unit 'div': expected one of add, mul, convert"),
    (["synth", "add", "--format", "fp33", "--target", "ice40-up5k"],
     "error: unknown format name 'fp33'"),
    (["synth", "convert", "--format", "fp16", "--target", "ice40-up5k"],
     "error: unit 'convert' needs a destination format"),
    (["synth", "add", "--format", "fp16", "--to", "e4m3", "--target", "ice40-up5k"],
     "error: to= (--to) is for unit 'convert' only, not 'add'"),
    (["synth", "add", "--format", "fp16", "--latency", "two", "--target", "ice40-up5k"],
     "error: --latency must be a number of cycles or 'full', not 'two'"),
    (["synth", "add", "--format", "fp16", "--target", "ice40-up5k", "--freq", "0"],
     "error: --freq must be a number of MHz in (0, 1000], not 0"),
    (["qor", "--only", "fp64"], "error: only= (--only) must be a comma-separated subset of"),
    (["qor", "--units", "fma"], "error: units= (--units) must be a comma-separated subset of"),
])
def test_bad_arguments_are_one_clear_line(args, message):
    p = run(*args, timeout=60)
    assert p.returncode == 2 and p.stdout == ""
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(message), p.stderr


def test_qor_quick_table_and_json():
    args = ["qor", "--only", "q4.4", "--units", "add,mul", "--devices", "ice40-up5k", "--quick"]
    p = run(*args)
    assert p.returncode == 0, p.stderr
    rows = [ln for ln in p.stdout.splitlines() if "ice40-up5k" in ln]
    assert len(rows) == 2 and "q4.4 add" in rows[0] and "q4.4 mul" in rows[1]
    assert "HardFloat" not in p.stdout  # no reference for fixed point
    j = run(*args, "--json")
    assert j.returncode == 0, j.stderr
    data = json.loads(j.stdout)
    assert [d["unit"] for d in data] == ["q4.4 add", "q4.4 mul"]
    for d in data:
        assert d["luts"] > 0 and d["fits"] and d["seeds"] == [1] and d["fmax"][0] > 0
        assert d["spec"]["latency"] == 0 and d["hardfloat"] is None
        assert f" {d['luts']} " in rows[data.index(d)]  # the table shows the same figures


def test_help_lists_synth_and_qor_quickly():
    p = run("--help", timeout=60)
    assert p.returncode == 0 and "synth" in p.stdout and "qor" in p.stdout
    p = run("synth", "--help", timeout=60)
    assert "--latency" in p.stdout and "--rounding" in p.stdout and "--to" in p.stdout
