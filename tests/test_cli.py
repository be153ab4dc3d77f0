"""The ``ulpflow`` command, ``python -m ulpflow.demo`` and ``import ulpflow`` as a new user meets
them: each test runs a real interpreter in a subprocess (nothing is imported in-process, so what
a test sees is what a shell sees)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, code: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m ulpflow.cli ARGS`` (the console script's entry point) or ``python -c CODE``."""
    cmd = [sys.executable, "-c", code] if code is not None else \
        [sys.executable, "-c", "import sys; from ulpflow.cli import main; sys.exit(main())", *args]
    env = dict(os.environ, COLUMNS="160", TERM="dumb")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)


# -- import ulpflow


def test_import_ulpflow_is_light_and_subpackages_load_on_first_use():
    code = """
import sys
import ulpflow
assert "amaranth" not in sys.modules and "numpy" not in sys.modules, sorted(sys.modules)
assert not any(m.startswith("ulpflow.") for m in sys.modules), sorted(sys.modules)
assert {"golden", "hdl", "sim", "nets", "boards"} <= set(dir(ulpflow))
fmt = ulpflow.golden.parse_format("e4m3")
assert "amaranth" not in sys.modules          # golden is NumPy only
assert ulpflow.golden is sys.modules["ulpflow.golden"]
assert ulpflow.hdl.FloatAdder(fmt).latency == 0 and "amaranth" in sys.modules
assert callable(ulpflow.sim.simulate)
import ulpflow.nets, ulpflow.boards
assert ulpflow.nets.__name__ == "ulpflow.nets" and ulpflow.boards.__name__ == "ulpflow.boards"
try:
    ulpflow.gloden
except AttributeError as exc:
    assert "'ulpflow' has no attribute 'gloden'" in str(exc), exc
else:
    raise AssertionError("ulpflow.gloden did not raise")
print("ok")
"""
    r = run(code=code)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_version_matches_pyproject():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    r = run("--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"ulpflow {version}"
    r = run(code="import ulpflow; print(ulpflow.__version__)")
    assert r.stdout.strip() == version


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "ulpflow"
    if not script.exists():
        pytest.skip(f"no console script next to {sys.executable} (package not pip-installed)")
    r = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("ulpflow "), r.stderr


# -- errors are shown literally, on one line


def test_error_text_is_not_eaten_by_rich_markup():
    r = run("formats", "q4.4x")
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr                       # one line, not wrapped by Rich
    assert lines[0].startswith("error: unknown format name 'q4.4x'")
    # the grammar in the message keeps every bracket (Rich took "[s]" for strike-through)
    assert "qI.F[s][_wrap]" in lines[0] and "eXmY[_fn|_fnuz|_finite][_b<bias>][_ftz][_sat]" in lines[0]


def test_formats_prints_the_named_formats():
    r = run("formats", "e4m3", "q4.4s", "e5m3_fnuz_ftz")
    assert r.returncode == 0, r.stderr
    for name in ("e4m3", "q4.4s", "e5m3_fnuz_ftz", "240", "symmetric"):
        assert name in r.stdout


def test_no_command_prints_help():
    r = run()
    assert r.returncode == 0 and "usage: ulpflow" in r.stdout and "formats" in r.stdout


# -- the demo


def test_demo_help_prints_help_and_does_not_run_the_demo():
    r = run(code="import sys; from ulpflow.demo import main; sys.exit(main(['--help']))")
    assert r.returncode == 0, r.stderr
    assert "usage: python -m ulpflow.demo" in r.stdout and "--golden-only" in r.stdout
    assert "Reduction order" not in r.stdout and "demo passed" not in r.stdout
    r = subprocess.run([sys.executable, "-m", "ulpflow.demo", "--help"], capture_output=True,
                       text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0 and "usage:" in r.stdout and "demo passed" not in r.stdout


def test_demo_rejects_unknown_options():
    r = subprocess.run([sys.executable, "-m", "ulpflow.demo", "--golden-onyl"],
                       capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 2 and "unrecognized arguments: --golden-onyl" in r.stderr
    assert "Reduction order" not in r.stdout


def test_demo_golden_only_passes():
    r = subprocess.run([sys.executable, "-m", "ulpflow.demo", "--golden-only"],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "demo passed" in r.stdout and "Verilator" not in r.stdout
    # step 5: one e4m3fn dot product under every GPU matrix-unit model, a one-hot sum under each
    assert "5. GPU matrix units" in r.stdout and "hopper.wgmma.e4m3.f32 (L=32, F=13)" in r.stdout
    assert "blackwell.tcgen05.e4m3.f32" in r.stdout and "│ NO" not in r.stdout
