"""ulpflow.boards.qor: the designs of the QoR table, its formatting and the HardFloat ratios
(without synthesis: rows built by hand; the real runs are in tests/test_cli_synth.py and
bench/qor.py)."""

import pytest

from ulpflow.boards import qor
from ulpflow.boards.qor import Row, Spec
from ulpflow.hdl import FixedAdder, FixedMultiplier, FloatAdder, FloatConverter, FloatMultiplier


def built(*args, **kwargs):
    """qor.build_unit's unit, only inspected here (never elaborated: no "never used" warning)."""
    u = qor.build_unit(*args, **kwargs)
    u._MustUse__silence = True
    return u


def test_build_unit_picks_the_unit_by_format_kind():
    assert type(built("add", "fp16")) is FloatAdder
    assert type(built("mul", "bf16", latency=2)) is FloatMultiplier
    assert type(built("add", "q4.4")) is FixedAdder
    assert type(built("mul", "q8.8", rounding="RTZ")) is FixedMultiplier
    c = built("convert", "fp32", to="e4m3", latency=1)
    assert type(c) is FloatConverter and str(c.out_format) == "e4m3" and c.latency == 1
    with pytest.raises(ValueError, match="unknown unit 'fma': expected one of add, mul, convert"):
        qor.build_unit("fma", "fp32")
    with pytest.raises(ValueError, match="needs a destination format"):
        qor.build_unit("convert", "fp32")
    with pytest.raises(ValueError, match="unknown format name 'fp8'"):
        qor.build_unit("add", "fp8")


def test_specs_cover_every_unit_format_latency_device():
    specs = qor.qor_specs()
    assert {s.device for s in specs} == set(qor.DEVICES)
    assert {s.fmt for s in specs} == set(qor.FORMATS)
    # convert rows for float formats only, add/mul for all
    assert not [s for s in specs if s.op == "convert" and s.fmt.startswith("q")]
    fp32_add = sorted(s.latency for s in specs if (s.op, s.fmt, s.device) ==
                      ("add", "fp32", "ecp5-85f"))
    assert fp32_add == list(range(len(FloatAdder.CUTS) + 1))
    quick = qor.qor_specs(quick=True)
    assert {s.latency for s in quick} == {0} and len(quick) == len({(s.op, s.fmt, s.device)
                                                                    for s in specs})
    some = qor.qor_specs(only="fp32,fp16", units=["add"], devices="ice40-up5k", latencies="0,2")
    assert [(s.fmt, s.latency) for s in some] == [("fp16", 0), ("fp16", 2), ("fp32", 0),
                                                  ("fp32", 2)]
    with pytest.raises(ValueError, match="devices= \\(--devices\\) must be"):
        qor.qor_specs(devices="ecp5-12f")


def _row(op, fmt, device, luts, fmax, latency=0, dsps=0):
    return Row(spec=Spec(op, fmt, latency, device), design=f"{fmt} {op}", luts=luts, carries=1,
               dsps=dsps, ffs=3 * 16, packed=luts + 10, fits=True, seeds=(1, 2, 3), fmax=fmax)


def test_ratios_and_verdicts_against_the_reference():
    ref = qor.HARDFLOAT[("add", "fp16", "ecp5-85f")]
    smaller_faster = _row("add", "fp16", "ecp5-85f", ref["luts"] // 2, (40.0, 41.0, 39.0))
    larger_slower = _row("add", "fp16", "ecp5-85f", ref["luts"] * 2, (20.0, 21.0, 22.0))
    pipelined = _row("add", "fp16", "ecp5-85f", 10, (90.0, 90.0, 90.0), latency=3)
    fixed = _row("add", "q4.4", "ecp5-85f", 10, (90.0, 90.0, 90.0))
    rows = [smaller_faster, larger_slower, pipelined, fixed]
    r = qor.ratio_rows(rows)
    assert len(r) == 2  # latency 0 units with a reference only
    assert r[0]["lut_ratio"] == pytest.approx((ref["luts"] // 2) / ref["luts"])
    assert r[0]["fmax"] == 40.0 and r[0]["fmax_ratio"] == pytest.approx(40.0 / ref["fmax"][1])
    assert r[1]["lut_ratio"] == pytest.approx(2.0) and r[1]["fmax_ratio"] < 1
    verdicts = [row[-1] for row in qor.ratio_table_rows(rows)]
    assert verdicts == ["smaller and faster", "larger and slower"]
    assert smaller_faster.fmax_stats == (39.0, 40.0, 41.0)
    md = qor.markdown_table(rows)
    assert "| ecp5-85f | fp16 add | 0 |" in md and "39.0 / 40.0 / 41.0" in md
    assert "larger and slower" in qor.ratios_markdown(rows)
    js = qor.rows_to_json(rows)
    assert js[0]["hardfloat"]["ref_luts"] == ref["luts"] and js[2]["hardfloat"] is None


def test_ice40_multiplier_has_no_reference_fmax_and_flags_the_dsp_caveat():
    rows = [_row("mul", "fp32", "ice40-up5k", 800, (9.0, 9.5, 9.9), dsps=4)]
    (d,) = qor.ratio_rows(rows)
    assert d["fmax_ratio"] is None and d["dsp_fmax_caveat"]
    (t,) = qor.ratio_table_rows(rows)
    assert t[-1] == "fewer LUTs, no Fmax reference" and t[3].endswith("*")
    assert "ignores the paths through the DSP" in qor.ratios_markdown(rows)


def test_not_fitting_row_shows_the_overshoot():
    r = _row("add", "fp32", "ice40-up5k", 6000, (None,))
    r.fits, r.overshoot, r.seeds = False, {"ICESTORM_LC": 720}, (1,)
    (cells,) = qor.table_rows([r])
    assert cells[-1] == "NO (ICESTORM_LC +720)" and cells[-2] == "-"
