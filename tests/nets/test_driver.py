"""The driver (``ulpflow.nets.driver``, ``ulpflow run``): the golden half, the reports, the
negative controls, the HTML page in a real headless browser, and the hardware half in Verilator.

Expected counts come from the theory, not from the driver: C1 in two's complement fails exactly at
the minimum, the next value and the points whose value is the minimum (see
tests/nets/test_constructions.py); the number of inputs is the number of finite values."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from ulpflow.golden import parse_format
from ulpflow.nets import ConstructionError
from ulpflow.nets.driver import RunOptions, run
from ulpflow.nets.driver import report as rep
from ulpflow.nets.targets import Domain, random_target

ROOT = Path(__file__).resolve().parents[2]


def _finite_count(name, lo=None, hi=None):
    f = parse_format(name)
    v = f.decode(f.all_codes())
    v = v[np.isfinite(v)]
    if lo is not None:
        v = v[(v >= lo) & (v <= hi)]
    return len(set(v.tolist()))   # +0 and -0 are one value


# ---------------------------------------------------------------------- the golden half
def test_golden_run_c3_and_reports(tmp_path):
    res = run(RunOptions("c3", "e4m2", "random:1", tree="random:3", hardware=False))
    assert res.ok and res.golden.checked == _finite_count("e4m2") == 119 and res.golden.mismatches == 0
    assert [s.status for s in res.stages] == ["ok", "ok"] + ["skipped"] * 4
    assert rep.verdict(res).startswith("PASS (golden check only")
    paths = rep.write(res, tmp_path / "r")
    data = json.loads(paths["json"].read_text())
    assert data["golden"] == dict(checked=119, mismatches=0, examples=[], failing=[])
    assert data["network"]["widths"] == [2, 118, 236, 118, 119, 1]
    assert data["violations"] == [] and data["ok"] is True
    md = paths["markdown"].read_text()
    assert "119 inputs, 0 mismatches" in md and "![function](plot-function.png)" in md
    page = paths["html"].read_text()
    assert page.count('src="data:image/png;base64,') == 3    # function, stages, size
    for name in ("function", "stages", "size"):
        png = (tmp_path / "r" / f"plot-{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_golden_run_catches_a_wrong_target(tmp_path):
    """The same network checked against another function must fail (the check can fail)."""
    good = run(RunOptions("c3", "e4m2", "random:1", hardware=False))
    other = random_target(2, Domain(parse_format("e4m2")))
    from ulpflow.nets.verify import check_pointwise
    r = check_pointwise(good.construction.network, other)
    want = int((parse_format("e4m2").decode(other.values) != parse_format("e4m2").decode(good.target.values)).sum())
    assert r.mismatches == want > 0


def test_negative_control_c1_twos_complement_names_the_broken_assumption(tmp_path):
    with pytest.raises(ConstructionError, match="two's complement"):
        run(RunOptions("c1", "q3.3", "random:7", hardware=False))
    res = run(RunOptions("c1", "q3.3", "random:7", negative_control=True, hardware=False))
    fmt = res.target.in_format
    x, y = fmt.decode(res.target.points[:, 0]), fmt.decode(res.target.values)
    predicted = {float(a) for a, v in zip(x, y) if v == -4.0}
    if y[x == -4.0][0] != 0 and y[x == -3.875][0] != 0:
        predicted |= {-4.0, -3.875}
    assert not res.ok and res.negative_control
    data = rep.to_json(res)
    assert {f["x_value"][0] for f in data["golden"]["failing"]} == predicted
    assert any("symmetric" in v and "two's complement" in v for v in data["violations"])
    assert rep.verdict(res).startswith(f"NEGATIVE CONTROL: fails at {len(predicted)} of 64 inputs")
    pngs = rep.plots(res)
    assert set(pngs) == {"function", "failures", "stages", "size"}
    page = rep.to_html(res, pngs)
    assert "Broken assumptions" in page and "two&#x27;s complement" in page and "Failing inputs" in page


@pytest.mark.parametrize("opts,broken", [
    (dict(construction="c3", format="e4m2", target="random:1", subnormals="off"), "gradual underflow"),
    (dict(construction="c1", format="q3.3", target="random:5", overflow="wrap"), "overflow saturates"),
])
def test_negative_controls_fail_and_say_why(opts, broken):
    res = run(RunOptions(**opts, negative_control=True, hardware=False))
    assert res.golden.mismatches > 0 and any(broken in v for v in res.violations)
    assert any(label == "BROKEN" and broken in text for label, text in rep.summary_lines(res))


def test_c4_tree_is_a_negative_control(tmp_path):
    csv = tmp_path / "t.csv"
    fmt = parse_format("e4m2")
    v = fmt.decode(fmt.all_codes())
    vals = sorted({float(a) for a in v[np.isfinite(v) & (np.abs(v) <= 1)]})
    csv.write_text("x,y\n" + "".join(f"{'0' if a == 0 else repr(a)},{'0.5' if a >= 0.25 else '0'}\n" for a in vals))
    with pytest.raises(ConstructionError, match="sequential trees"):
        run(RunOptions("c4", "e4m2", f"table:{csv}", tree="reversed", hardware=False))
    bad = run(RunOptions("c4", "e4m2", f"table:{csv}", tree="reversed", negative_control=True, hardware=False))
    assert bad.intervals.checked == 57 * 58 // 2          # every box of e4m2 ∩ [−1, 1]
    assert bad.golden_mismatches > 0 and any("sequential trees" in v for v in bad.violations)


def test_options_are_checked():
    with pytest.raises(ValueError, match="unknown form 'diagonal'"):
        RunOptions("c3", "e4m2", "random:1", form="diagonal")
    with pytest.raises(ValueError, match="activation relu, not 'tanh'"):
        RunOptions("c3", "e4m2", "random:1", activation="tanh")
    with pytest.raises(ValueError, match="unknown construction 'c9'"):
        RunOptions("c9", "e4m2", "random:1")
    assert RunOptions("c3", "e4m2", "random:1", tree="pairwise", form="folded").command() == \
        "ulpflow run c3 --format e4m2 --target random:1 --tree pairwise --form folded"
    with pytest.raises(ValueError, match="effort must be 'full' or 'fast', not 'quick'"):
        RunOptions("c3", "e4m2", "random:1", board="ecp5-25f", effort="quick")
    with pytest.raises(ValueError, match="effort 'fast' is a place-and-route effort: it needs a board"):
        RunOptions("c3", "e4m2", "random:1", effort="fast")
    assert RunOptions("c3", "e4m2", "random:1", board="ecp5-25f", effort="fast").command() == \
        "ulpflow run c3 --format e4m2 --target random:1 --board ecp5-25f --effort fast"


def _cli(*args, cwd=ROOT, timeout=900):
    cmd = [sys.executable, "-c", "import sys; from ulpflow.cli import main; sys.exit(main())", *args]
    env = dict(os.environ, COLUMNS="160", TERM="dumb")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


def test_cli_run_exit_status(tmp_path):
    r = _cli("run", "c3", "--format", "e4m2", "--target", "random:1", "--golden-only", "-o", str(tmp_path / "a"))
    assert r.returncode == 0, r.stderr
    assert "119 inputs, 0 mismatches" in r.stdout and "report.html" in r.stdout
    r = _cli("run", "c1", "--format", "q3.3", "--target", "random:7", "--golden-only")
    assert r.returncode == 2 and "two's complement" in r.stderr and "--negative-control" in r.stderr
    r = _cli("run", "c1", "--format", "q3.3", "--target", "random:7", "--golden-only", "--negative-control")
    assert r.returncode == 1 and "NEGATIVE CONTROL: fails at 3 of 64 inputs" in r.stdout and "BROKEN" in r.stdout


# ---------------------------------------------------------------------- the HTML page in a browser
def _browser():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _render(page: Path, browser: str, out: Path):
    """Load ``page`` in headless Chromium: its DOM after load, and a screenshot."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1100,2400"]
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run([browser, *flags, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
                             capture_output=True, text=True, timeout=120)
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, *flags, f"--user-data-dir={profile}", f"--screenshot={out}", page.as_uri()],
                       capture_output=True, text=True, timeout=120)
    return dom.stdout


def test_html_report_renders_in_headless_chromium(tmp_path):
    browser = _browser()
    if browser is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)")
    res = run(RunOptions("c1", "q3.3", "random:7", negative_control=True, hardware=False))
    page = rep.write(res, tmp_path / "r")["html"]
    dom = _render(page, browser, tmp_path / "shot.png")
    assert 'data-images-rendered="4/4"' in dom, dom[:500]
    assert "4 of 4 plots rendered" in dom and "Failing inputs" in dom
    shot = (tmp_path / "shot.png").read_bytes()
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 20000
    # the check can fail: a page whose second image is corrupt renders 3 of 4
    text = page.read_text()
    first = text.index('src="data:image/png;base64,')
    second = text.index('src="data:image/png;base64,', first + 1) + len('src="data:image/png;base64,')
    broken = tmp_path / "broken.html"
    broken.write_text(text[:second] + "AAAA" + text[second + 40:])
    assert 'data-images-rendered="3/4"' in _render(broken, browser, tmp_path / "shot2.png")


# ---------------------------------------------------------------------- the hardware half (Verilator)
@pytest.mark.parametrize("form", [pytest.param("spatial", marks=pytest.mark.slow), "folded"])
def test_run_c2_16_points_in_verilator(form):
    res = run(RunOptions("c2", "e4m3", "random:2", points=16, form=form))
    n = _finite_count("e4m3")
    assert res.ok, rep.summary_lines(res)
    assert res.golden.checked == 16 and res.hw_inputs.shape == (n, 1) and res.rtl_mismatch_count == 0
    assert [s.status for s in res.stages] == ["ok"] * 5 + ["skipped"]
    data = rep.to_json(res)
    assert data["hardware"]["checked"] == n and data["hardware"]["mismatches"] == 0
    assert any(label == "verilator" and f"{n} inputs, 0 mismatches" in text for label, text in rep.summary_lines(res))


def test_deferred_synthesis_runs_when_finished():
    """run(defer_synthesis=True) stops before synthesis and leaves it in ``pending``;
    ``finish()`` (here on another thread, as the demo does) runs it with the chosen effort."""
    from concurrent.futures import ThreadPoolExecutor

    res = run(RunOptions("c2", "e4m3", "random:2", points=4, form="folded", board="ecp5-25f",
                         effort="fast"), defer_synthesis=True)
    assert res.pending is not None and res.synthesis is None
    assert [s.name for s in res.stages] == ["construct", "golden", "hardware", "verilator", "compare"]
    seen = []
    with ThreadPoolExecutor(1) as pool:
        pool.submit(res.finish, lambda stage, text: seen.append(stage)).result()
    assert res.pending is None and seen == ["synthesis"]
    assert res.stage("synthesis").status == "ok" and res.ok, rep.summary_lines(res)
    assert res.synthesis.effort == "fast" and res.synthesis.fits and res.synthesis.fmax > 0
    assert "fast place and route" in res.stage("synthesis").detail


def test_demo_flagship_places_networks_side_by_side(monkeypatch):
    """The demo's flagship path with synthesis, on two small C1 networks (q2.1s): both pass,
    each screen (with its synthesis line) follows in order; a run that raises after the first
    network's synthesis has started propagates its error (the pool does not swallow it)."""
    import io

    from rich.console import Console

    import ulpflow.demo as demo

    monkeypatch.setattr(demo, "FLAGSHIP", (("c1", "q2.1s", "random:1"), ("c1", "q2.1s", "random:2")))
    buf = io.StringIO()
    assert demo.flagship(Console(file=buf, width=150), board="ecp5-25f", effort="fast")
    text = buf.getvalue()
    first, second = text.index("1. c1 on q2.1s, with synthesis"), text.index("2. c1 on q2.1s, with synthesis")
    assert first < second and text.count("synthesis  ecp5-25f:") == 2 and text.count("PASS") == 2
    assert "placed and routed side by side" in text.split("1. c1 on q2.1s, with synthesis")[0]
    monkeypatch.setattr(demo, "FLAGSHIP", (("c1", "q2.1s", "random:1"), ("c1", "q1.1s", "random:1")))
    with pytest.raises(ConstructionError, match="weight 1 is not representable in q1.1s"):
        demo.flagship(Console(file=io.StringIO()), board="ecp5-25f", effort="fast")


def test_run_catches_an_injected_fault_and_locates_it():
    """One wrong label weight in the output layer: the RTL must differ exactly on the inputs of
    that label's interval [x_j, x_{j+1}) (from the sorted data set), and the divergence report
    must name the output layer and that product."""
    from ulpflow.hdl.network import Fault
    fmt = parse_format("e4m3")
    clean = run(RunOptions("c2", "e4m3", "random:2", points=16, hardware=False))
    xs = np.sort(fmt.decode(clean.target.points[:, 0]))
    order = np.argsort(fmt.decode(clean.target.points[:, 0]), kind="stable")
    j = 5
    label = int(clean.target.values[order[j]])
    wrong = label ^ 0x01                        # the neighbouring value: finite, same sign
    res = run(RunOptions("c2", "e4m3", "random:2", points=16, form="folded", faults=(Fault.weight(2, 0, j, wrong),)))
    dom = fmt.decode(res.hw_inputs[:, 0])
    predicted = int(((dom >= xs[j]) & (dom < xs[j + 1])).sum())
    assert not res.ok and res.rtl_mismatch_count == predicted > 0
    assert "layer 2" in res.divergence and f"product {j}" in res.divergence
    assert rep.verdict(res) == "FAIL"


@pytest.mark.slow
@pytest.mark.parametrize("construction,fmt,target", [("c3", "e4m2", "random:1"), ("c3", "e4m3", "random:1"),
                                                     ("c1", "q3.3s", "random:1")])
def test_run_universal_networks_in_verilator_folded(construction, fmt, target):
    res = run(RunOptions(construction, fmt, target, form="folded"))
    n = _finite_count(fmt)
    assert res.ok and res.golden.checked == n and res.hw_inputs.shape[0] == n and res.rtl_mismatch_count == 0
