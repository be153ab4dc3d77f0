"""ulpflow.boards: real Yosys + nextpnr runs (YoWASP) of small units, and the log parsers."""

from pathlib import Path

import pytest

from ulpflow.boards import synthesize
from ulpflow.boards.synth import parse_nextpnr_log, parse_yosys_stat
from ulpflow.hdl import FixedMultiplier, FloatAdder

FIX = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("target", ["ice40-up5k", "ecp5-25f"])
@pytest.mark.parametrize("unit", [lambda: FloatAdder("e4m3"), lambda: FixedMultiplier("q4.4")],
                         ids=["e4m3_add", "q4.4_mul"])
def test_small_units_fit(unit, target):
    r = synthesize(unit(), target, cache=False)
    assert r.fits and not r.overshoot and not r.error
    assert r.luts > 0 and r.ffs >= 24 and r.packed > 0
    assert r.ios == 3  # clk, sin, sout (nextpnr's pads: Yosys inserts no buffers here)
    assert r.fmax_mhz and r.fmax > 0 and "clk" in r.fmax_mhz
    assert Path(r.bitstream).stat().st_size > 0
    again = synthesize(unit(), target)
    assert again.cached and again.luts == r.luts and again.fmax_mhz == r.fmax_mhz


def test_bad_target():
    with pytest.raises(ValueError, match="unknown target 'ice41'.*ice40-up5k"):
        synthesize(FloatAdder("e4m3"), "ice41")


def test_parsers_on_real_logs():
    cells = parse_yosys_stat((FIX / "yosys_stat_ecp5_e4m3_add.txt").read_text())
    assert cells["LUT4"] == 207 and cells["CCU2C"] == 25 and cells["TRELLIS_FF"] == 24
    p = parse_nextpnr_log((FIX / "nextpnr_ecp5_e4m3_add.log").read_text())
    assert p["fmax_mhz"] == {"clk": 39.91}  # the last (post-route) report
    assert p["utilisation"]["TRELLIS_COMB"] == (291, 24288)
    big = parse_nextpnr_log((FIX / "nextpnr_ice40_too_big.log").read_text())
    assert big["utilisation"]["ICESTORM_LC"] == (6492, 5280) and big["errors"]
