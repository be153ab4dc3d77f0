"""``ulpflow.sweep`` / ``ulpflow sweep``: chunked sweeps on real Dask clusters (a LocalCluster, and
a ``dask scheduler`` with two ``dask worker`` processes on 127.0.0.1), real Verilator builds.

The default suite sweeps the 2^16 pairs of e5m2 (scaled down from the 2^32 of a 16-bit unit):
the same digest from a local cluster, from an existing cluster that loses a worker mid-sweep, and
from a sweep interrupted and resumed; an injected fault is found with exactly the mismatches an
independent count predicts. The full 2^32-pair sweeps are ``slow``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ulpflow import golden
from ulpflow.golden import parse_format
from ulpflow.golden.activations import get_activation
from ulpflow.golden.network import Layer, Network
from ulpflow.hdl.network import Fault
from ulpflow.sim.compare import codes_equal
from ulpflow.sweep import NetworkSweep, SchedulerError, UnitSweep, results_dir, run_sweep

ROOT = Path(__file__).resolve().parents[1]
E5M2 = parse_format("e5m2")
CHUNK = 2048  # 8 rows of e5m2 codes: 32 chunks over the 2^16 pairs


def cli(*args: str, **kw) -> list[str]:
    return [sys.executable, "-c", "import sys; from ulpflow.cli import main; sys.exit(main())",
            *args]


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200", TERM="dumb")
    return subprocess.run(cli(*args), capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env=env)


def field(out: str, prefix: str) -> str:
    line = next((x for x in out.splitlines() if x.startswith(prefix)), None)
    assert line is not None, f"no line {prefix!r} in:\n{out}"
    return line[len(prefix):].strip()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The e5m2 RDN adder swept once on a local cluster of two workers, into a fresh results
    folder (each test that touches results on disk has its own folder: tests run in parallel)."""
    job = UnitSweep("add", "e5m2", rounding="RDN")
    seen = []
    folder = tmp_path_factory.mktemp("reference")
    r = run_sweep(job, exhaustive=True, chunk=CHUNK, workers=2, results=folder,
                  progress=lambda *a: seen.append(a))
    return job, r, seen, folder


def test_local_sweep_every_pair(reference):
    job, r, seen, folder = reference
    assert r.ok and r.mismatches == 0 and r.first == []
    assert (r.vectors, r.chunks, r.resumed) == (1 << 16, 32, 0)
    assert len(r.workers) == 2 and sum(n for n, _ in r.workers.values()) == 1 << 16
    assert seen[-1][:3] == (32, 32, 1 << 16)
    # a second run takes everything from disk
    again = run_sweep(job, exhaustive=True, chunk=CHUNK, workers=1, results=folder)
    assert (again.digest, again.resumed, again.vectors_run) == (r.digest, 32, 0)
    part = run_sweep(job, exhaustive=True, chunk=CHUNK, max_chunks=4, results=folder)
    assert (part.chunks, part.vectors, part.resumed) == (4, 4 * CHUNK, 4)


def test_random_sweep_with_coverage(tmp_path):
    from ulpflow.sim.coverage import coverage

    job = UnitSweep("add", "e5m2", rounding="RDN")
    r = run_sweep(job, random=3000, seed=5, chunk=1024, coverage=True, workers=1,
                  results=tmp_path)
    assert (r.vectors, r.chunks, r.mismatches) == (3000, 3, 0)
    # the chunks' counts add up to the coverage of all their vectors at once
    _, chunks = job.plan_chunks(random=3000, seed=5, chunk=1024)
    ins = [job.inputs(c) for c in chunks]
    a = np.concatenate([i["a"] for i in ins])
    b = np.concatenate([i["b"] for i in ins])
    assert r.coverage == coverage(a, b, E5M2, "add", rounding="RDN")
    assert r.coverage["tie-even"] > 0 and r.coverage["nan"] > 0


def test_fault_gives_the_predicted_mismatches_and_exit_1(tmp_path):
    # ties_away rounds RNE ties away from zero: exactly the pairs where golden RNE and RNA
    # differ must mismatch (counted here from golden alone, NaN by class)
    a, b = np.repeat(E5M2.all_codes(), 256), np.tile(E5M2.all_codes(), 256)
    predicted = int((~codes_equal(golden.add(a, b, E5M2, rounding="RNE"),
                                  golden.add(a, b, E5M2, rounding="RNA"), E5M2)).sum())
    assert predicted > 0
    p = run_cli("sweep", "add", "--format", "e5m2", "--exhaustive", "--chunk", "16384",
                "--workers", "1", "--mutate", "ties_away", "--results", str(tmp_path))
    assert p.returncode == 1, p.stdout + p.stderr
    assert field(p.stdout, "vectors:") == f"65536, mismatches: {predicted}"
    first = field(p.stdout, "mismatch:")
    assert "-> expected 0x" in first and "got 0x" in first and "a=0x" in first and "(" in first


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_workers(address, n, timeout=120):
    from distributed import Client

    with Client(address, timeout=30) as c:
        c.wait_for_workers(n, timeout=timeout)
        return sorted(c.scheduler_info()["workers"])


def test_existing_cluster_survives_a_killed_worker(reference, tmp_path):
    ref = reference[1]
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = [sys.executable, "-m", "dask"]
    procs = []
    log = open(tmp_path / "dask.log", "w")
    try:
        procs.append(subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port",
                                       str(port), "--no-dashboard"], stdout=log, stderr=log))
        for _ in range(2):
            procs.append(subprocess.Popen([*dask, "worker", address, "--host", "127.0.0.1",
                                           "--nthreads", "1", "--no-nanny", "--no-dashboard"],
                                          stdout=log, stderr=log, cwd=ROOT))
        workers = _wait_for_workers(address, 2)
        assert len(workers) == 2
        victim = procs[2]
        killed = []

        def kill_one(result):
            if not killed:  # after the first chunk: the rest are queued or running on both
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                killed.append(result.worker)

        r = run_sweep(UnitSweep("add", "e5m2", rounding="RDN"), exhaustive=True, chunk=CHUNK,
                      scheduler=address, results=tmp_path / "results", on_result=kill_one)
        assert killed and victim.returncode == -signal.SIGKILL
        # nothing lost, nothing counted twice: the same vectors, chunks and digest
        assert (r.vectors, r.chunks, r.mismatches, r.digest) == (ref.vectors, 32, 0, ref.digest)
        assert sum(n for n, _ in r.workers.values()) == 1 << 16
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()


def test_interrupted_sweep_resumes_to_the_same_digest(reference, tmp_path):
    job, ref = reference[:2]
    folder = results_dir(job.key, ref.plan, tmp_path)
    args = ("sweep", "add", "--format", "e5m2", "--rounding", "RDN", "--exhaustive", "--chunk",
            str(CHUNK), "--workers", "1", "--results", str(tmp_path))
    env = dict(os.environ, COLUMNS="200", TERM="dumb")
    p = subprocess.Popen(cli(*args), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and p.poll() is None:
            if folder.is_dir() and len(list(folder.glob("*.json"))) >= 3:
                break
            time.sleep(0.02)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)  # the sweep and its local cluster
        p.wait()
    done = len(list(folder.glob("*.json")))
    assert 3 <= done < 32, "the sweep was not interrupted mid-way"
    q = run_cli(*args)
    assert q.returncode == 0, q.stdout + q.stderr
    assert f"32 chunks ({done} from earlier runs)" in q.stdout
    assert field(q.stdout, "digest:") == ref.digest
    assert field(q.stdout, "vectors:") == "65536, mismatches: 0"


def _tiny_net():
    e4m3 = parse_format("e4m3")
    layer = Layer.from_values([[1.0, -0.5], [0.75, 2.0]], [0.5, -0.25], weight_format="e4m3",
                              acc_format="e4m3", activation=get_activation("relu", e4m3))
    return Network("e4m3", [layer])


def test_network_every_input_and_a_faulty_weight(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(_tiny_net().dumps())
    p = run_cli("sweep", str(path), "--inputs", "all", "--workers", "1", "--chunk", "32768",
                "--results", str(tmp_path))
    assert p.returncode == 0, p.stdout + p.stderr
    assert field(p.stdout, "vectors:") == "65536, mismatches: 0"
    # one wrong weight code in the hardware: found, decoded, counted
    job = NetworkSweep.from_network(_tiny_net(), _faults=(Fault.weight(0, 1, 0, 0x38),))
    r = run_sweep(job, exhaustive=True, chunk=32768, workers=1, results=tmp_path)
    assert r.mismatches > 0 and r.first[0].startswith("x=[0x")


def test_bad_input_one_clear_line(capsys):
    from ulpflow.cli import main

    t0 = time.monotonic()
    code = main(["sweep", "add", "--format", "e5m2", "--exhaustive", "--scheduler",
                 f"tcp://127.0.0.1:{_free_port()}"])
    err = capsys.readouterr().err
    assert code == 2 and time.monotonic() - t0 < 60
    assert len(err.strip().splitlines()) == 1 and "no Dask scheduler answered" in err
    for args, words in [
        (("sweep", "div", "--format", "e5m2", "--exhaustive"), "unknown unit 'div'"),
        (("sweep", "add", "--format", "e9m9x", "--exhaustive"), "unknown format name"),
        (("sweep", "add", "--format", "e5m2", "--rounding", "RNX", "--exhaustive"), "RNX"),
        (("sweep", "add", "--format", "e5m2"), "--exhaustive or --random N"),
        (("sweep", "add", "--format", "fp32", "--exhaustive"), "2^64 vectors"),
        (("sweep", "add", "--format", "e5m2", "--exhaustive", "--scheduler", "127.0.0.1:8786"),
         "tcp://HOST:PORT"),
        (("sweep", "add", "--format", "e5m2", "--exhaustive", "--scheduler", "tcp://h:1",
          "--workers", "2"), "has its own workers"),
        (("sweep", "missing.json", "--inputs", "all"), "does not exist"),
        (("sweep", "net.json", "--inputs", "all", "--rounding", "RDN"), "--rounding: for unit"),
    ]:
        code = main(list(args))
        err = capsys.readouterr().err
        assert code == 2 and words in err, (args, err)
        assert len(err.strip().splitlines()) == 1, err
    with pytest.raises(SchedulerError):
        run_sweep(UnitSweep("add", "e5m2"), random=10, scheduler="tcp://nowhere")


# -- the full sweeps: all 2^32 operand pairs (hours on two cores) ------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("op", ["add", "mul"])
@pytest.mark.parametrize("fmt", ["fp16", "bf16"])
@pytest.mark.parametrize("mode", ["RNE", "RDN"])
def test_all_pairs_of_16bit_units(op, fmt, mode):
    r = run_sweep(UnitSweep(op, fmt, rounding=mode), exhaustive=True)
    assert (r.vectors, r.mismatches) == (1 << 32, 0), r.summary()
    print("\n".join(r.summary()))


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["RNA", "RTZ", "RUP"])
def test_all_pairs_of_fp16_mul(mode):
    # what stands in for the fp16 multiplier's proof (tests/test_prove.py): every pair in the
    # modes the sweep above leaves out
    r = run_sweep(UnitSweep("mul", "fp16", rounding=mode), exhaustive=True)
    assert (r.vectors, r.mismatches) == (1 << 32, 0), r.summary()


@pytest.mark.slow
def test_all_pairs_of_a_pipelined_fp16_mul():
    # the pipelined fp16 multiplier gives the latency-0 unit's outputs on every pair: the same
    # mismatch count and the same digest of all 2^32 results
    r0 = run_sweep(UnitSweep("mul", "fp16", rounding="RNE"), exhaustive=True)
    r3 = run_sweep(UnitSweep("mul", "fp16", rounding="RNE", latency=3), exhaustive=True)
    assert (r3.vectors, r3.mismatches) == (1 << 32, 0), r3.summary()
    assert r3.digest == r0.digest


@pytest.mark.slow  # four real syntheses (about a minute on a quiet two-core machine)
def test_qor_runs_one_synthesis_per_dask_task(tmp_path, monkeypatch):
    from ulpflow.boards import qor
    from ulpflow.sweep import dask_runs

    monkeypatch.setenv("ULPFLOW_CACHE_DIR", str(tmp_path))  # fresh: every synthesis runs
    specs = qor.qor_specs(only="q4.4", units="add,mul", devices="ice40-up5k", latencies="0")
    said = []
    rows = qor.run_qor(specs, seeds=(1, 2), runs=dask_runs(workers=2, progress=said.append))
    assert len(said) == 4 and said[-1].startswith("[4/4]")
    assert [r.spec for r in rows] == specs and all(r.cached == 0 for r in rows)
    assert all(r.luts > 0 and len(r.fmax) == 2 and all(f > 0 for f in r.fmax) for r in rows)
    # the same table in this process comes from the reports the workers cached
    again = qor.run_qor(specs, seeds=(1, 2), progress=None)
    assert [(r.luts, r.fmax, r.cached) for r in again] == [(r.luts, r.fmax, 2) for r in rows]
