"""ulpflow.boards: board targets (amaranth-boards platforms) with bitstreams, pipeline variants,
the frequency verdict and designs that do not fit, all on real Yosys + nextpnr runs (YoWASP)."""

from pathlib import Path

import pytest
from amaranth.hdl import Module, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ulpflow.boards import TARGETS, synthesize
from ulpflow.boards.synth import with_latency
from ulpflow.golden import Tree
from ulpflow.hdl import (FixedAdder, FixedMultiplier, FloatAdder, FloatConverter,
                         FloatMultiplier, ReductionTree)


class ManyMultipliers(wiring.Component):
    """``n`` independent multipliers side by side: one stream of all operands, one of results."""

    def __init__(self, n, fmt):
        self.units = [FixedMultiplier(fmt) for _ in range(n)]
        wi = sum(u.i.payload.shape().size for u in self.units)
        wo = sum(u.o.payload.shape().size for u in self.units)
        super().__init__({"i": In(stream.Signature(unsigned(wi), always_ready=True)),
                          "o": Out(stream.Signature(unsigned(wo), always_ready=True))})
        self.n, self.fmt = n, fmt

    def __repr__(self):
        return f"ManyMultipliers({self.n}, {self.fmt})"

    def elaborate(self, platform):
        m = Module()
        lo_i = lo_o = 0
        for k, u in enumerate(self.units):
            m.submodules[f"mul{k}"] = u
            wi, wo = u.i.payload.shape().size, u.o.payload.shape().size
            m.d.comb += [u.i.payload.eq(self.i.payload[lo_i:lo_i + wi]), u.i.valid.eq(1),
                         self.o.payload[lo_o:lo_o + wo].eq(u.o.payload)]
            lo_i, lo_o = lo_i + wi, lo_o + wo
        m.d.comb += self.o.valid.eq(self.i.valid)
        return m


# -------------------------------------------------------------------------- boards, bitstreams

def test_board_targets_are_listed():
    for name in ("icebreaker", "ulx3s-25f", "ulx3s-85f"):
        assert TARGETS[name].is_board
    for name in ("ice40-up5k", "ecp5-25f", "ecp5-85f"):
        assert not TARGETS[name].is_board
    with pytest.raises(ValueError, match="unknown target 'ulx3s'.*ulx3s-85f"):
        synthesize(FloatAdder("e4m3"), "ulx3s")


def test_icebreaker_bitstream():
    r = synthesize(FloatAdder("e4m3"), "icebreaker", cache=False)
    assert r.fits and not r.error and r.family == "ice40" and r.freq_mhz == 12.0
    assert r.luts > 0 and r.ffs >= 24 and r.ios == 3 and r.packed > 0
    assert set(r.fmax_mhz) == {"clk"} and r.fmax > 0
    assert r.meets_freq == (r.fmax >= 12.0)
    data = Path(r.bitstream).read_bytes()
    assert r.bitstream.endswith(".bin")
    # an iCE40 configuration image: the 0x7EAA997E synchronisation word near the start, and the
    # size of a full UP5K image (about 104 kB uncompressed)
    assert b"\x7e\xaa\x99\x7e" in data[:64]
    assert 90_000 < len(data) < 140_000
    # the platform's constraints put the serial pins on PMOD1A pins 1 and 2 (sites 4 and 2)
    pcf = (Path(r.workdir) / "top.pcf").read_text()
    assert "ulpflow_sin_0__io 4" in pcf and "ulpflow_sout_0__io 2" in pcf and " 35" in pcf


def test_ulx3s_85f_bitstream():
    r = synthesize(FloatAdder("e4m3"), "ulx3s-85f", cache=False)
    assert r.fits and not r.error and r.family == "ecp5" and r.freq_mhz == 25.0
    assert r.luts > 0 and r.ffs >= 24 and r.ios == 3
    assert r.utilisation["TRELLIS_COMB"][1] == 83640  # placed on the 85F, not the 25F
    assert set(r.fmax_mhz) == {"clk"} and r.fmax > 0 and r.meets_freq == (r.fmax >= 25.0)
    data = Path(r.bitstream).read_bytes()
    assert r.bitstream.endswith(".bit")
    # an ECP5 bitstream: a comment header naming the part, then the 0xFFFFBDB3 preamble
    assert data[:2] == b"\xff\x00" and b"LFE5U-85F" in data[:64]
    assert b"\xff\xff\xbd\xb3" in data[:256]
    assert len(data) > 50_000
    again = synthesize(FloatAdder("e4m3"), "ulx3s-85f")
    assert again.cached and again.key == r.key and again.fmax_mhz == r.fmax_mhz


# -------------------------------------------------------------------------- pipeline=, freq

def test_pipeline_variant_on_ecp5_85f():
    r = synthesize(FloatAdder("e4m3"), "ecp5-85f", pipeline=2, cache=False)
    assert r.latency == 2 and r.fits and r.fmax > 0
    base = synthesize(FloatAdder("e4m3"), "ecp5-85f")
    assert base.latency == 0 and r.ffs > base.ffs  # the two cut registers are there
    # the same variant built by hand is the same design: same key, read from the cache
    same = synthesize(FloatAdder("e4m3", latency=2), "ecp5-85f")
    assert same.cached and same.key == r.key


def test_with_latency_rebuilds_every_unit_kind():
    cases = [FloatAdder(("e4m3", "e5m2"), rounding="RTZ", out="bf16"),
             FloatMultiplier("bf16", rounding="RUP"),
             FixedAdder("q4.4", overflow="WRAP"), FixedMultiplier("q8.8", out="q4.4"),
             FloatConverter("fp16", "q4.4", rounding="RDN", overflow="WRAP")]
    for u in cases:
        v = with_latency(u, "full")
        v._MustUse__silence = True  # only inspected
        assert v is not u and v.latency == len(type(u).CUTS) > 0
        # everything but the latency is the same
        assert repr(v) == repr(u).replace("latency=0", f"latency={v.latency}")
        for attr in ("rounding", "out_format", "in_format", "overflow"):
            assert getattr(v, attr, None) == getattr(u, attr, None)
        w = with_latency(v, 1)
        w._MustUse__silence = True
        assert w.latency == 1
    u = FloatAdder("e4m3")
    assert with_latency(u, 0) is u
    for bad in (-1, 1.5, "half", True):
        with pytest.raises(ValueError, match="pipeline must be None, 'full' or a number"):
            with_latency(u, bad)
    many = ManyMultipliers(1, "q4.4")
    for m in many.units:
        m._MustUse__silence = True  # elaborated only with their parent, which is refused here
    with pytest.raises(TypeError, match="pipeline= needs a unit with a latency"):
        with_latency(many, 1)
    with pytest.raises(TypeError, match="takes no latency="):
        with_latency(ReductionTree(Tree.pairwise(2), "e4m3"), 1)


def test_meets_freq_is_the_verdict_on_the_constraint():
    low = synthesize(FixedMultiplier("q4.4"), "ice40-up5k", freq_mhz=5, cache=False)
    high = synthesize(FixedMultiplier("q4.4"), "ice40-up5k", freq_mhz=900, cache=False)
    assert low.freq_mhz == 5.0 and high.freq_mhz == 900.0 and low.key != high.key
    assert low.fits and high.fits and 5 < low.fmax < 900 and 5 < high.fmax < 900
    assert low.meets_freq and not high.meets_freq
    with pytest.raises(ValueError, match="freq_mhz must be a number of MHz"):
        synthesize(FixedMultiplier("q4.4"), "ice40-up5k", freq_mhz=0)


# -------------------------------------------------------------------------- not fitting

def test_nine_multipliers_do_not_fit_the_up5k():
    """The UP5K has 8 DSPs; 9 q8.8 multipliers each infer one: a report, not a traceback."""
    r = synthesize(ManyMultipliers(9, "q8.8"), "ice40-up5k", cache=False)
    assert r.dsps == 9
    assert not r.fits and r.overshoot == {"ICESTORM_DSP": 1}
    assert r.utilisation["ICESTORM_DSP"] == (9, 8)
    assert "ICESTORM_DSP" in r.error and not r.bitstream and not r.fmax_mhz
    assert not r.meets_freq


@pytest.mark.slow
def test_large_tree_does_not_fit_the_up5k():
    """A 16-term fp16 reduction tree needs more logic cells than the UP5K has (~80 s)."""
    r = synthesize(ReductionTree(Tree.pairwise(16), "fp16"), "ice40-up5k", cache=False)
    assert not r.fits and "ICESTORM_LC" in r.overshoot and r.overshoot["ICESTORM_LC"] > 0
    used, avail = r.utilisation["ICESTORM_LC"]
    assert avail == 5280 and used - avail == r.overshoot["ICESTORM_LC"]
    assert not r.bitstream
