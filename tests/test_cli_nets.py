"""``ulpflow construct / check / distinguish / sum-thresholds`` in a subprocess, as a shell sees them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args, cwd=ROOT, timeout=300):
    cmd = [sys.executable, "-c", "import sys; from ulpflow.cli import main; sys.exit(main())", *args]
    env = dict(os.environ, COLUMNS="160", TERM="dumb")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


def test_construct_and_check_c3(tmp_path):
    out = tmp_path / "n.json"
    r = run("construct", "c3", "--format", "e4m2", "--tree", "random:3", "--target", "random:1", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "6 layers, 594 neurons" in r.stdout
    meta = json.loads((tmp_path / "n.json.construction.json").read_text())
    assert meta["construction"] == "c3" and meta["violations"] == []
    r = run("check", str(out))
    assert r.returncode == 0 and "119 inputs, 0 mismatches" in r.stdout
    r = run("check", str(out), "--target", "random:2")   # another function: must fail
    assert r.returncode == 1 and "0 mismatches" not in r.stdout


def test_negative_control_c2_ftz_and_refusal(tmp_path):
    out = tmp_path / "n.json"
    r = run("construct", "c2", "--format", "e4m3", "--subnormals", "off", "--target", "random:3", "-o", str(out))
    assert r.returncode == 2 and "flushes subnormals" in r.stderr and "--negative-control" in r.stderr
    r = run("construct", "c2", "--format", "e4m3", "--subnormals", "off", "--target", "random:3",
            "--points", "16", "--negative-control", "-o", str(out))
    assert r.returncode == 0 and "NEGATIVE CONTROL" in r.stdout


def test_c1_twos_complement_control_fails_on_check(tmp_path):
    out = tmp_path / "n.json"
    r = run("construct", "c1", "--format", "q3.3", "--target", "random:7", "--negative-control", "-o", str(out))
    assert r.returncode == 0, r.stderr
    r = run("check", str(out))
    assert r.returncode == 1 and "64 inputs, 3 mismatches" in r.stdout


def test_c4_table_target_and_intervals(tmp_path):
    csv = tmp_path / "t.csv"
    rows = ["x,y"]
    import numpy as np
    from ulpflow.golden import parse_format
    fmt = parse_format("e4m2")
    v = fmt.decode(fmt.all_codes())
    vals = sorted({float(x) for x in v[np.isfinite(v) & (np.abs(v) <= 1)]})
    for v in vals:
        rows.append(f"{'0' if v == 0 else repr(v)},{'0.25' if v >= 0 else '0'}")
    csv.write_text("\n".join(rows) + "\n")
    out = tmp_path / "n.json"
    r = run("construct", "c4", "--format", "e4m2", "--target", f"table:{csv}", "-o", str(out))
    assert r.returncode == 0, r.stderr + r.stdout
    r = run("check", str(out))
    assert r.returncode == 0 and "57 inputs, 0 mismatches" in r.stdout and "1653 boxes, 0 mismatches" in r.stdout


def test_bad_inputs_are_one_line_errors(tmp_path):
    r = run("construct", "c3", "--format", "e3m4", "--target", "random:1", "--negative-control",
            "-o", str(tmp_path / "x.json"))
    assert r.returncode == 2 and "constant A = 16 is not representable in e3m4" in r.stderr
    r = run("construct", "c3", "--format", "e4m2", "--target", "random:1", "--tree", "sideways", "-o", "x")
    assert r.returncode == 2 and "unknown tree 'sideways'" in r.stderr
    r = run("construct", "c1", "--format", "q3.3s", "--activation", "sigmoid", "--target", "random:1", "-o", "x")
    assert r.returncode == 2 and "relu" in r.stderr


def test_distinguish():
    r = run("distinguish", "--format", "q4.4", "--weights", "pm1")
    assert r.returncode == 0 and "1 indistinguishable pairs" in r.stdout and "-7.9375" in r.stdout
    r = run("distinguish", "--format", "e4m3", "--activation", "tanh")
    assert r.returncode == 0 and "0 indistinguishable pairs" in r.stdout


def test_sum_thresholds():
    r = run("sum-thresholds", "--format", "e4m2")
    assert r.returncode == 0 and "n <= 22 (6·2^p − 2 = 22)" in r.stdout and "as predicted" in r.stdout
    r = run("sum-thresholds", "--format", "e2m3")     # too few exponents: the check says so
    assert r.returncode == 1 and "NOT as predicted" in r.stdout
    r = run("sum-thresholds", "--format", "bf16")
    assert r.returncode == 2 and "more than 9" in r.stderr
