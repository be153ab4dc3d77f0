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


def test_spatial_network_cells_synthesise_as_the_flat_design():
    """A spatial network top instantiates its cells; Yosys reads them with the top, and the
    result is the same hardware as with every unit its own module (same flip-flops)."""
    import numpy as np

    from ulpflow.golden import Layer, Network, Tree, parse_format
    from ulpflow.golden.activations import get_activation
    from ulpflow.hdl.network import NetworkTop

    f = parse_format("e4m3")
    w = f.encode(np.array([[0.5, -1.0], [0.75, 0.0]]))
    net = Network(f, [Layer(w, f.encode(np.array([0.25, -0.5])), weight_format=f, acc_format=f,
                            activation=get_activation("relu", f), tree=Tree.pairwise(3))])
    with_cells = synthesize(NetworkTop(net, "spatial"), "ice40-up5k", cache=False)
    flat = synthesize(NetworkTop(net, "spatial", cells=False), "ice40-up5k", cache=False)
    for r in (with_cells, flat):
        assert r.fits and not r.error and r.luts > 0 and r.fmax > 0
    assert with_cells.ffs == flat.ffs
    assert abs(with_cells.luts - flat.luts) <= 0.05 * flat.luts


@pytest.mark.slow
def test_folded_network_on_ecp5_with_the_classic_mapper():
    """A construction's folded network (C1 on q2.2s: 7 layers, weights mostly zero) through
    RTLIL, Yosys with mapper='abc', nextpnr and ecppack on the ECP5-25F (1-5 minutes: nextpnr
    places ~2000 cells)."""
    from ulpflow.hdl import NetworkTop
    from ulpflow.nets.driver import RunOptions, construct

    net = construct(RunOptions("c1", "q2.2s", "random:3"))[0].network
    top = NetworkTop(net, form="folded")
    r = synthesize(top, "ecp5-25f", mapper="abc", cache=False)
    assert r.mapper == "abc" and r.fits and not r.overshoot and not r.error
    # every layer keeps its input vector and its output vector in flip-flops
    bits = net.in_format.bits
    assert r.ffs >= sum(layer.n_in + layer.n_out for layer in net.layers) * bits
    assert r.luts > 0 and r.packed > 0 and r.ios == 3
    assert r.fmax_mhz and r.fmax > 0
    assert Path(r.bitstream).stat().st_size > 0
    log = Path(r.logs["yosys"]).read_text()
    assert "Executing ABC pass" in log and "Executing ABC9 pass" not in log


@pytest.mark.parametrize("target", ["ecp5-25f", "ulx3s-25f"])
def test_mapper_choice_reaches_yosys(target):
    """mapper='abc' runs the classic ABC pass and no ABC9, on a bare device and on a board."""
    for mapper, ran, absent in (("abc", "Executing ABC pass", "Executing ABC9 pass"),
                                ("abc9", "Executing ABC9 pass", "Executing ABC pass")):
        r = synthesize(FloatAdder("e4m3"), target, mapper=mapper, cache=False)
        assert r.mapper == mapper and r.fits and not r.error and r.luts > 0 and r.fmax > 0
        log = Path(r.logs["yosys"]).read_text()
        assert ran in log and absent not in log, (mapper, target)


def test_bad_mapper():
    with pytest.raises(ValueError, match="mapper must be one of 'abc9', 'abc', not 'yosys'"):
        synthesize(FloatAdder("e4m3"), "ecp5-25f", mapper="yosys")
    with pytest.raises(ValueError, match="mapper='abc' is for ECP5 targets; ice40-up5k is ice40"):
        synthesize(FloatAdder("e4m3"), "ice40-up5k", mapper="abc")


@pytest.mark.parametrize("target", ["ecp5-25f", "ulx3s-25f"])
def test_effort_reaches_nextpnr(target, capfd):
    """effort='fast' routes with router2 (nextpnr's log says which router ran) and places
    without timing (the nextpnr command line the flow prints, and on a board the platform's
    script as it ran, hold --no-tmdriv); 'full' is nextpnr's default flow. The report records
    the effort, and the two are cached apart. (21 MHz: a work folder of this test's own.)"""
    capfd.readouterr()
    fast = synthesize(FloatAdder("e4m3"), target, effort="fast", freq_mhz=21, cache=False)
    said_fast = capfd.readouterr().err
    full = synthesize(FloatAdder("e4m3"), target, freq_mhz=21, cache=False)
    said_full = capfd.readouterr().err
    assert "--no-tmdriv --router router2" in said_fast and "--no-tmdriv" not in said_full
    assert fast.effort == "fast" and full.effort == "full" and fast.key != full.key
    for r, router in ((fast, "Router2 time"), (full, "Router1 time")):
        assert r.fits and not r.error and r.luts > 0 and r.fmax > 0
        log = Path(r.logs["nextpnr"]).read_text()
        assert router in log, (target, r.effort)
        if target == "ulx3s-25f":  # the platform's script, as it ran, holds nextpnr's options
            script = (Path(r.workdir) / "build_top.sh").read_text()
            assert ("--no-tmdriv" in script) == (r.effort == "fast"), script
    assert fast.luts == full.luts and fast.ffs == full.ffs  # the same netlist


def test_bad_effort():
    with pytest.raises(ValueError, match="effort must be one of 'full', 'fast', not 'quick'"):
        synthesize(FloatAdder("e4m3"), "ecp5-25f", effort="quick")
