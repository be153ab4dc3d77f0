"""``ulpflow simulate NET.json`` in a subprocess: summary, exit status, divergence report, errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "sim"))

import netcases  # noqa: E402


def run(*args, timeout=900):
    cmd = [sys.executable, "-c", "import sys; from ulpflow.cli import main; sys.exit(main())", *args]
    env = dict(os.environ, COLUMNS="160", TERM="dumb")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)


def test_simulate_every_input_and_a_caught_fault(tmp_path):
    net = netcases.e5m2_d2()
    path = tmp_path / "net.json"
    path.write_text(net.dumps())
    r = run("simulate", str(path), "--form", "folded")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "65536 inputs, 0 mismatches" in r.stdout and "vectors/s" in r.stdout
    good = int(net.layers[0].weights[2, 1])
    r = run("simulate", str(path), "--form", "folded", "--fault", f"weight:0:2:1:{good ^ 0x04}")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "0 mismatches" not in r.stdout
    assert "first divergence: layer 0, neuron 2, product 1" in r.stdout


def test_simulate_inputs_from_a_file_and_random(tmp_path):
    net = netcases.e4m3_mixed_d2()
    path = tmp_path / "net.json"
    path.write_text(net.dumps())
    x = np.arange(512, dtype=np.uint8).reshape(256, 2)
    np.save(tmp_path / "x.npy", x)
    r = run("simulate", str(path), "--inputs", str(tmp_path / "x.npy"))
    assert r.returncode == 0 and "256 inputs, 0 mismatches" in r.stdout, r.stdout + r.stderr
    r = run("simulate", str(path), "--inputs", "random:1000", "--seed", "3")
    assert r.returncode == 0 and "1000 inputs, 0 mismatches" in r.stdout, r.stdout + r.stderr


def test_simulate_bad_input_is_one_clear_line(tmp_path):
    net = netcases.e4m3_mixed_d2()
    path = tmp_path / "net.json"
    path.write_text(net.dumps())
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "ulpflow-network", "version": 2, "layers": []}')
    np.save(tmp_path / "x3.npy", np.zeros((4, 3), dtype=np.uint8))
    cases = [
        ((str(bad),), "bad.json: "),
        ((str(tmp_path / "missing.json"),), "no such network file"),
        ((str(path), "--inputs", str(tmp_path / "x3.npy")), "shape (n_vectors, 2)"),
        ((str(path), "--inputs", "random:x"), "random:N"),
        ((str(path), "--fault", "weight:1"), "--fault"),
    ]
    for args, needle in cases:
        r = run("simulate", *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
    big = tmp_path / "big.json"
    big.write_text(netcases.bf16_d2().dumps())
    r = run("simulate", str(big))
    assert r.returncode == 2 and "random:N" in r.stderr
