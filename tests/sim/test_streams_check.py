# amaranth: UnusedElaboratable=no
"""ulpflow.sim: units with stream ports, sim.check against a golden twin, and first-use contracts.

* streams are recognised by their signature (``amaranth.lib.stream.Signature``): payload fields
  are the data ports, wider-than-64-bit payloads included, in every engine;
* ``check(unit, inputs)`` compares with ``unit.emulate(**inputs)`` and names the first mismatch;
* a Verilator build says what it builds and how long it took; a cached one is silent;
* ``vectors.exhaustive`` refuses a 16 GiB sweep (``exhaustive_chunks`` streams it);
* an out-of-range input names the offending code at its index; ``latency`` must be a Python int.
"""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import wiring

from ulpflow.golden import parse_format
from ulpflow.hdl.signature import UnitSignature
from ulpflow.sim import RTLMismatch, VerilatorRunner, check, simulate
from ulpflow.sim import vectors as V
from ulpflow.sim.packing import unit_ports

from test_runner import WrapAdd8, all_pairs, wrapped_sum  # tests/sim is on sys.path


class StreamMix(wiring.Component):
    """Stream unit with a 104-bit input payload (x: 32, y: 32, z: signed 40 bits) and a 74-bit
    output payload; ``latency`` register stages, the output valid follows the input valid."""

    def __init__(self, latency=1):
        super().__init__(UnitSignature(
            {"x": unsigned(32), "y": unsigned(32), "z": signed(40)},
            {"total": unsigned(33), "neg": signed(40), "odd": unsigned(1)},
        ))
        self.latency = latency

    def elaborate(self, platform):
        m = Module()
        p = self.i.payload
        values = [p.x + p.y, -p.z, p.x[0]]
        valid = self.i.valid
        for stage in range(self.latency):
            regs = [Signal.like(v, name=f"s{stage}_{k}") for k, v in enumerate(values)]
            vreg = Signal(name=f"v{stage}")
            m.d.sync += [r.eq(v) for r, v in zip(regs, values)] + [vreg.eq(valid)]
            values, valid = regs, vreg
        q = self.o.payload
        m.d.comb += [q.total.eq(values[0]), q.neg.eq(values[1]), q.odd.eq(values[2]), self.o.valid.eq(valid)]
        return m


def _mix_vectors(n=3000, seed=7):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2**32, n, dtype=np.uint64)
    y = rng.integers(0, 2**32, n, dtype=np.uint64)
    z = rng.integers(-(2**39), 2**39, n, dtype=np.int64)
    x[:2], y[:2], z[:2] = [0, 2**32 - 1], [0, 2**32 - 1], [-(2**39), 2**39 - 1]
    return {"x": x, "y": y, "z": z}


def _mix_expected(v):
    neg = (-v["z"]) & (2**40 - 1)  # -(-2^39) wraps in 40 bits
    return {"total": v["x"] + v["y"], "neg": neg.astype(np.uint64), "odd": (v["x"] & 1).astype(np.uint8)}


def test_stream_fields_are_the_data_ports():
    ports = unit_ports(StreamMix())
    assert [p.name for p in ports.inputs] == ["x", "y", "z"]
    assert [(p.port, p.bit) for p in ports.inputs] == [("i__payload", 0), ("i__payload", 32), ("i__payload", 64)]
    assert [p.name for p in ports.outputs] == ["total", "neg", "odd"]
    assert ports.valid_in == ("i__valid",) and ports.valid_out == "o__valid"


@pytest.mark.parametrize("engine", ["cocotb", "verilator", "cocotb-cycle"])
def test_stream_unit_in_every_engine(engine):
    v = _mix_vectors(3000 if engine != "cocotb-cycle" else 400)
    out = simulate(StreamMix(latency=2), v, engine=engine)
    want = _mix_expected(v)
    assert list(out) == ["total", "neg", "odd"]
    for k in want:
        assert np.array_equal(out[k].astype(np.uint64), want[k].astype(np.uint64)), k


def test_stream_valid_checked_against_latency():
    from ulpflow.sim import SimulationError

    v = _mix_vectors(20)
    with pytest.raises(SimulationError, match="valid_out is 0 in cycle 1; with latency 1"):
        simulate(StreamMix(latency=2), v, latency=1, engine="verilator")


# -- check(): the golden twin ----------------------------------------------------------------


class TwinAdd8(WrapAdd8):
    """WrapAdd8 with its golden twin."""

    def emulate(self, a, b):
        return {"result": wrapped_sum(np.asarray(a), np.asarray(b))}


def test_check_compares_with_emulate():
    a, b = all_pairs()
    out = check(TwinAdd8(latency=2), {"a": a, "b": b})
    assert np.array_equal(out["result"], wrapped_sum(a, b))


def test_check_names_the_first_mismatch():
    a, b = all_pairs()
    with pytest.raises(RTLMismatch, match=r"1 of 65536 vectors mismatch; first at index 23205: a=0x5a \(90\)"):
        check(TwinAdd8(fault=(0x5A, 0xA5)), {"a": a, "b": b}, engine="verilator")


def test_check_needs_a_golden_twin():
    with pytest.raises(TypeError, match="WrapAdd8 has no emulate"):
        check(WrapAdd8(), {"a": [1], "b": [2]})


# -- progress of builds ----------------------------------------------------------------------


def test_build_says_what_it_builds_and_a_cached_build_is_silent(tmp_path, capfd, monkeypatch):
    runner = VerilatorRunner(cache=tmp_path, progress=True)

    def fake_build(self, work, kind, toplevel, *args, **kwargs):
        (work / toplevel).write_text("")  # what a real build leaves: the simulator program

    monkeypatch.setattr(VerilatorRunner, "_build_in", fake_build)
    source = {"tiny.v": "module tiny(input a, output y); assign y = a; endmodule\n"}
    runner.build(source, "tiny")
    err = capfd.readouterr().err.splitlines()
    assert err[0].startswith("ulpflow.sim: building tiny with Verilator (a model for cocotb; "
                             "the first build on this machine takes ~40 s")
    assert err[1].startswith("ulpflow.sim: built tiny in ") and " s (cached in " in err[1]
    again = runner.build(source, "tiny")
    assert again.cached and capfd.readouterr().err == ""
    quiet = VerilatorRunner(cache=tmp_path / "q", progress=False)
    quiet.build(source, "tiny")
    assert capfd.readouterr().err == ""


# -- section-6 contracts -----------------------------------------------------------------------


def test_exhaustive_refuses_16_gib_and_chunks_stream_it():
    fp16, e4m3 = parse_format("fp16"), parse_format("e4m3")
    with pytest.raises(ValueError, match=r"4294967296 vectors \(16 GiB of codes\).*exhaustive_chunks\(fp16, fp16\)"):
        V.exhaustive(fp16, fp16)
    a, b = V.exhaustive(e4m3, e4m3)
    blocks = list(V.exhaustive_chunks(e4m3, e4m3, chunk=5000))
    assert max(len(x) for x, _ in blocks) <= 5000
    assert np.array_equal(np.concatenate([x for x, _ in blocks]), a)
    assert np.array_equal(np.concatenate([y for _, y in blocks]), b)
    first_a, first_b = next(V.exhaustive_chunks(fp16, fp16))
    assert len(first_a) <= 1 << 22 and first_a.dtype == np.uint16 and first_b[1] == 1
    with pytest.raises(ValueError, match="chunk must be a positive int"):
        next(V.exhaustive_chunks(e4m3, chunk=0))


def test_out_of_range_message_names_the_code_at_its_index():
    a = np.array([1, 300, 7, 999], np.uint16)
    with pytest.raises(ValueError, match=r"input 'a': code 300 \(at index 1\) does not fit 8 bits"):
        simulate(WrapAdd8(), {"a": a, "b": [0, 0, 0, 0]})
    with pytest.raises(ValueError, match=r"value 300 \(at index 1\) does not fit the unsigned 8-bit port"):
        simulate(WrapAdd8(), {"a": np.array([1, 300, -5, 999]), "b": [0, 0, 0, 0]})


@pytest.mark.parametrize(("latency", "error", "message"), [
    (True, TypeError, "latency must be an integer number of cycles, not True"),
    (2.0, TypeError, "latency must be an integer number of cycles, not 2.0"),
    (-1, ValueError, "latency must be >= 0, got -1"),
])
def test_latency_refused_by_simulate_as_by_the_units(latency, error, message):
    from ulpflow.hdl import FloatAdder

    with pytest.raises(error, match=message):
        FloatAdder(parse_format("e4m3"), latency=latency)
    with pytest.raises(error, match=message):
        simulate(WrapAdd8(latency=2), {"a": [1], "b": [2]}, latency=latency)


def test_numpy_latency_accepted_by_simulate_as_by_the_units():
    from ulpflow.hdl import FloatAdder

    assert FloatAdder(parse_format("e4m3"), latency=np.int64(2)).latency == 2
    a, b = all_pairs()
    out = simulate(WrapAdd8(latency=2), {"a": a, "b": b}, latency=np.int64(2), engine="verilator")
    assert np.array_equal(out["result"], wrapped_sum(a, b))


# -- run_amaranth and Bundle (part of ulpflow.sim) --------------------------------------------


@pytest.mark.parametrize("latency", [0, 2])
def test_run_amaranth_matches_numpy_on_a_stream_unit(latency):
    from ulpflow.sim import run_amaranth

    v = _mix_vectors(60)
    out = run_amaranth(StreamMix(latency=latency), v)
    want = _mix_expected(v)
    assert np.array_equal(out["total"], want["total"].astype(np.int64))
    assert np.array_equal(out["neg"] & (2**40 - 1), want["neg"].astype(np.int64))  # signed field
    assert np.array_equal(out["odd"], want["odd"])


def test_bundle_pads_latencies_and_agrees_with_verilator():
    from ulpflow.sim import Bundle, run_amaranth

    bundle = Bundle({"fast": StreamMix(latency=1), "slow": StreamMix(latency=3)})
    assert bundle.latency == 3
    v = _mix_vectors(500)
    hw = simulate(bundle, v, engine="verilator")
    py = run_amaranth(bundle, {k: x[:40] for k, x in v.items()})
    want = _mix_expected(v)
    for label in ("fast", "slow"):
        assert (hw[f"{label}_valid"] == 1).all() and (py[f"{label}_valid"] == 1).all()
        assert np.array_equal(hw[f"{label}_total"].astype(np.uint64), want["total"])
        assert np.array_equal(py[f"{label}_total"], want["total"][:40].astype(np.int64))
    with pytest.raises(TypeError, match="has no UnitSignature"):
        Bundle({"plain": WrapAdd8()})


# -- one cache root ----------------------------------------------------------------------------


def test_builds_and_activation_tables_share_one_cache_root(tmp_path, monkeypatch):
    from ulpflow.golden import activations, cache
    from ulpflow.sim import cache_dir

    monkeypatch.setenv("ULPFLOW_CACHE_DIR", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c" / "sim" and cache_dir().is_dir()
    assert activations.cache_dir() == tmp_path / "c" / "activations"
    assert cache.cache_root() == tmp_path / "c"
    assert "*" in (tmp_path / "c" / ".gitignore").read_text().splitlines()
    monkeypatch.delenv("ULPFLOW_CACHE_DIR")
    root = cache.cache_root(create=False)
    assert cache_dir().parent == root and activations.cache_dir().parent == root
    with pytest.raises(ValueError, match="plain folder name"):
        cache.cache_dir("../x")


# -- layering inside ulpflow.sim ---------------------------------------------------------------


def test_vectors_and_coverage_import_no_simulator():
    """Vector generation and coverage are NumPy and golden only (AST of the modules)."""
    import ast
    import pathlib

    import ulpflow.sim as sim_pkg

    folder = pathlib.Path(sim_pkg.__file__).parent
    allowed = {"numpy", "fractions", "__future__", "ulpflow.golden", ".codes", ".coverage"}
    for name in ("vectors.py", "coverage.py", "codes.py"):
        tree = ast.parse((folder / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = ["." * node.level + (node.module or "")]
            else:
                continue
            assert all(m in allowed for m in mods), f"{name} imports {mods}"


class PlainValid(wiring.Component):
    """Plain members named like a handshake: data ports, not a stream."""

    def __init__(self):
        super().__init__({"a": wiring.In(8), "valid_in": wiring.In(1), "result": wiring.Out(8),
                          "valid_out": wiring.Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [self.result.eq(self.a), self.valid_out.eq(self.valid_in)]
        return m


def test_plain_valid_members_are_data_ports_and_the_error_says_so():
    with pytest.raises(ValueError, match=r"\['valid_in'\] of PlainValid are missing; a handshake "
                                         r"is recognised only as a stream member"):
        simulate(PlainValid(), {"a": [1, 2]})
    ports = unit_ports(PlainValid())
    assert [p.name for p in ports.inputs] == ["a", "valid_in"]
