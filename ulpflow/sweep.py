"""Sweeps at scale on Dask: every operand pair of a 16-bit unit through Verilator, against golden.

A sweep is a list of deterministic **chunks**. A chunk names its vectors by position (for an
exhaustive sweep, a block of whole rows of ``a`` codes against every ``b`` code; for a random
sweep, the seeded generator ``vectors.random(fmt, n, seed=[seed, index])``), so any process can
make them again. One chunk is one task: the golden twin of the unit (``unit.emulate``, one
vectorised call) and one run of the compiled Verilator C++ harness (``engine="verilator"`` of
:func:`ulpflow.sim.simulate`) over the chunk's vectors, compared NaN-by-class
(:func:`ulpflow.sim.compare.codes_equal`). A chunk returns a :class:`ChunkResult`: vector and
mismatch counts, the SHA-256 of the unit's output codes and the first few mismatches.

Results go to disk as they arrive, one JSON file per chunk under the cache folder ``sweeps/``
(:func:`ulpflow.golden.cache.cache_dir`), keyed by the unit hash (its repr, its Verilog and the
ulpflow version) and the chunk plan: an interrupted sweep resumes where it stopped, and a
finished one is never recomputed. The sweep's **digest** is the SHA-256 over the chunk digests in
chunk order: the same unit and plan give the same digest however the work was spread, lost and
redone.

Execution is Dask distributed: by default a ``LocalCluster`` on 127.0.0.1 with one worker
process per core and one thread each (the work is CPU-bound in NumPy and the simulator);
``scheduler="tcp://HOST:PORT"`` uses an existing cluster of any size instead. Each worker
process builds (or finds in the Verilator build cache) the unit's model once and keeps it for
all the chunks it runs. When a worker dies, Dask runs its chunks again elsewhere; the results
are keyed by chunk, so nothing is lost and nothing is counted twice.

A job is anything with ``key``, ``describe()``, ``plan_chunks()``, ``run(chunk, key)`` and
``decode(mismatch)``: :class:`UnitSweep` for arithmetic units, :class:`NetworkSweep` for a
network (every input vector through its hardware, :class:`ulpflow.sim.network.NetworkSimulator`,
against the golden network).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = ["DEFAULT_CHUNK", "ChunkResult", "Chunk", "NetworkSweep", "SchedulerError",
           "SweepResult", "UnitSweep", "dask_client", "dask_runs", "run_sweep", "results_dir"]

#: Vectors per chunk by default: 2^22 (the 2^32 pairs of a 16-bit unit are 1,024 chunks).
DEFAULT_CHUNK = 1 << 22
#: How many mismatches a chunk reports in full (its count covers all of them).
FIRST_MISMATCHES = 5
#: Seconds to wait for a scheduler given by address before giving up.
CONNECT_TIMEOUT = 10.0

_ADDRESS = re.compile(r"^(tcp|tls)://[^\s/:]+:\d{1,5}$")


class SchedulerError(ValueError):
    """A Dask scheduler address that is malformed or does not answer."""


# ----------------------------------------------------------------------------------- chunks


@dataclass(frozen=True)
class Chunk:
    """One task's vectors, named by position.

    ``kind="exhaustive"``: rows ``start .. stop - 1`` of the ``a`` codes (``fmt.all_codes()``),
    each against every ``b`` code. ``kind="random"``: ``n`` vectors of
    ``vectors.random(fmt, n, seed=[seed, index])``.
    """

    index: int
    kind: str
    start: int = 0
    stop: int = 0
    seed: int = 0
    n: int = 0


@dataclass
class ChunkResult:
    """What one chunk found.

    Attributes
    ----------
    index : int
    vectors, mismatches : int
    digest : str
        SHA-256 (hex) of the unit's output codes, in vector order.
    first : list of dict
        Up to :data:`FIRST_MISMATCHES` mismatches: input codes, ``expected`` and ``got``.
    seconds : float
        Time the task took on its worker.
    worker : str
        Address of the worker that ran it.
    coverage : dict or None
        Coverage counts (:func:`ulpflow.sim.coverage.coverage`) when asked for.
    """

    index: int
    vectors: int
    mismatches: int
    digest: str
    first: list = field(default_factory=list)
    seconds: float = 0.0
    worker: str = ""
    coverage: dict | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ChunkResult:
        return cls(**json.loads(text))


@dataclass
class SweepResult:
    """The outcome of :func:`run_sweep`.

    Attributes
    ----------
    job : str
        What was swept (``UnitSweep.describe()``).
    plan : str
        The chunk plan (``exhaustive-<rows>`` or ``random-<seed>-<n>-<chunk>``).
    vectors, mismatches, chunks : int
    digest : str
        SHA-256 over the chunk digests in chunk order.
    first : list of str
        The first mismatches, decoded (one line each).
    seconds : float
        Wall time of this run (chunks read from disk cost nothing).
    resumed : int
        Chunks whose results were already on disk.
    workers : dict of str to (vectors, seconds)
        Per worker address: vectors it ran in this run and its busy time.
    coverage : dict or None
    """

    job: str
    plan: str
    vectors: int
    mismatches: int
    chunks: int
    digest: str
    first: list
    seconds: float
    resumed: int
    workers: dict
    coverage: dict | None = None

    @property
    def ok(self) -> bool:
        return self.mismatches == 0

    def summary(self) -> list[str]:
        """The summary as lines of text."""
        rate = self.vectors_run / self.seconds if self.seconds > 0 else 0.0
        lines = [
            f"{self.job}: {self.plan}, {self.chunks} chunks ({self.resumed} from earlier runs)",
            f"vectors: {self.vectors}, mismatches: {self.mismatches}",
            f"time: {self.seconds:.1f} s for {self.vectors_run} vectors run now "
            f"({rate:,.0f} vectors/s)",
        ]
        for addr, (n, busy) in sorted(self.workers.items()):
            lines.append(f"  worker {addr}: {n} vectors, {n / busy if busy else 0:,.0f} vectors/s")
        if self.coverage:
            from ulpflow.sim.coverage import format_coverage

            lines.append("coverage: " + format_coverage(self.coverage))
        lines.append(f"digest: {self.digest}")
        lines += [f"mismatch: {m}" for m in self.first]
        return lines

    @property
    def vectors_run(self) -> int:
        return sum(n for n, _ in self.workers.values())


# ------------------------------------------------------------------------------------- jobs

# per worker process: unit key -> (unit, UnitSimulator), so the model is built once per process
_SIMULATORS: dict[str, tuple] = {}


@dataclass(frozen=True)
class UnitSweep:
    """A sweep of one ``ulpflow.hdl`` unit (made by :func:`ulpflow.boards.qor.build_unit`).

    Parameters
    ----------
    op : {"add", "mul", "convert"}
        The unit kind (float or fixed point by the format's kind).
    fmt : str
        Operand format name.
    rounding : str
    latency : int
    to : str, optional
        Destination format of a convert.
    mutate : str, optional
        The units' private fault hook (mutation tests only).
    """

    op: str
    fmt: str
    rounding: str = "RNE"
    latency: int = 0
    to: str | None = None
    mutate: str | None = None

    def build(self):
        """A fresh unit (a new Amaranth component per call: each elaborates once)."""
        from ulpflow.boards.qor import build_unit

        return build_unit(self.op, self.fmt, latency=self.latency, rounding=self.rounding,
                          to=self.to, _mutate=self.mutate)

    @property
    def key(self) -> str:
        """Hash of what decides the results: the unit's repr and Verilog, ulpflow's version."""
        import ulpflow
        from ulpflow.hdl import to_verilog

        unit = self.build()
        text = f"{ulpflow.__version__}\n{unit!r}\n{self.mutate}\n" + to_verilog(unit, "ulp_unit")
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def describe(self) -> str:
        unit = self.build()
        unit._MustUse__silence = True  # built for its repr only
        return repr(unit) + ("" if self.mutate is None else f" [mutation {self.mutate}]")

    def _formats(self):
        from ulpflow.golden import parse_format

        fa = parse_format(self.fmt)
        return (fa,) if self.op == "convert" else (fa, fa)

    def plan_chunks(self, *, exhaustive: bool = False, random: int | None = None, seed: int = 1,
                    chunk: int = DEFAULT_CHUNK) -> tuple[str, list[Chunk]]:
        """``(plan name, chunks)``: every input (``exhaustive``) or ``random`` seeded vectors
        in chunks of at most ``chunk`` vectors (an exhaustive chunk is whole rows of ``a``)."""
        chunk = _check_chunk(chunk)
        if exhaustive == (random is not None):
            raise ValueError("a sweep is either exhaustive or random N (one of the two)")
        fmts = self._formats()
        if exhaustive:
            bits = sum(f.bits for f in fmts)
            if bits > 32:
                raise ValueError(f"an exhaustive sweep of {self.op} over {self.fmt} would be "
                                 f"2^{bits} vectors; use random N for formats this wide")
            rows = len(fmts[0].all_codes())
            per_row = len(fmts[1].all_codes()) if len(fmts) == 2 else 1
            step = min(max(1, chunk // per_row), rows)
            chunks = [Chunk(i, "exhaustive", lo, min(lo + step, rows))
                      for i, lo in enumerate(range(0, rows, step))]
            return f"exhaustive-{step}", chunks
        return _random_chunks(random, seed, chunk)

    def inputs(self, chunk: Chunk) -> dict[str, np.ndarray]:
        """The chunk's input codes, per port."""
        from ulpflow.sim import vectors

        fmts = self._formats()
        if chunk.kind == "exhaustive":
            ca = fmts[0].all_codes()[chunk.start:chunk.stop]
            if len(fmts) == 1:
                return {"a": ca}
            cb = fmts[1].all_codes()
            return {"a": np.repeat(ca, len(cb)), "b": np.tile(cb, len(ca))}
        a, b = vectors.random(fmts[0], chunk.n, [chunk.seed, chunk.index])
        return {"a": a} if len(fmts) == 1 else {"a": a, "b": b}

    def _simulator(self, key):
        if key not in _SIMULATORS:
            from ulpflow.sim import UnitSimulator

            unit = self.build()
            _SIMULATORS[key] = (unit, UnitSimulator(unit, engine="verilator"))
        return _SIMULATORS[key]

    def run(self, chunk: Chunk, key: str, coverage: bool = False) -> ChunkResult:
        """Golden and Verilator on the chunk's vectors (this is what a Dask task runs)."""
        from ulpflow.sim.compare import codes_equal

        start = time.perf_counter()
        unit, sim = self._simulator(key)
        inputs = self.inputs(chunk)
        expected = unit.emulate(**inputs)["result"]
        got = sim.run(inputs)["result"]
        same = codes_equal(got, expected, unit.out_format)
        bad = np.flatnonzero(~same)
        first = [dict({k: int(v[i]) for k, v in inputs.items()}, expected=int(expected[i]),
                      got=int(got[i])) for i in bad[:FIRST_MISMATCHES]]
        counts = None
        if coverage and self.op != "convert":
            from ulpflow.sim.coverage import coverage as measure

            counts = measure(inputs["a"], inputs["b"], unit.in_formats[0], self.op,
                             rounding=self.rounding)
        return ChunkResult(chunk.index, int(len(got)), int(bad.size),
                           hashlib.sha256(np.ascontiguousarray(got).tobytes()).hexdigest(), first,
                           time.perf_counter() - start, _worker_name(), counts)

    def decode(self, m: dict) -> str:
        """One line for a mismatch of :attr:`ChunkResult.first`, decoded."""
        unit = self.build()
        unit._MustUse__silence = True  # only read for its formats
        fmts = unit.signature.formats
        ins = ", ".join(f"{k}={fmts[k].show(m[k])}" for k in unit.signature.formats if k in m)
        return (f"{ins} -> expected {fmts['result'].show(m['expected'])}, "
                f"got {fmts['result'].show(m['got'])}")


def _check_chunk(chunk):
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ValueError(f"chunk must be a positive number of vectors, not {chunk!r}")
    return int(chunk)


def _random_chunks(random, seed, chunk):
    if isinstance(random, bool) or not isinstance(random, (int, np.integer)) or random < 1:
        raise ValueError(f"random must be a positive number of vectors, not {random!r}")
    chunks = [Chunk(i, "random", seed=int(seed), n=min(chunk, int(random) - lo))
              for i, lo in enumerate(range(0, int(random), chunk))]
    return f"random-{seed}-{random}-{chunk}", chunks


# per worker process: network key -> (Network, NetworkSimulator)
_NETWORKS: dict[str, tuple] = {}


@dataclass(frozen=True)
class NetworkSweep:
    """A sweep of a network's hardware (:class:`ulpflow.hdl.network.NetworkTop`) against the
    golden network, ``net(x, strict=False)``.

    Build it with :meth:`from_file` (a NET.json of docs/network-format.md) or
    :meth:`from_network`. Inputs are vectors of ``net.n_in`` codes of ``net.in_format``; the
    exhaustive plan enumerates all of them (at most 2^32), the first input the most
    significant digit.

    Parameters
    ----------
    text : str
        The network as JSON.
    form : {"spatial", "folded"}
    name : str
        What to call it in reports.
    faults : tuple
        Private: deliberate hardware faults (``ulpflow.hdl.network.Fault``), for the tests that
        show a sweep can fail.
    """

    text: str
    form: str = "spatial"
    name: str = "network"
    faults: tuple = ()

    @classmethod
    def from_file(cls, path, *, form: str = "spatial") -> NetworkSweep:
        from pathlib import Path

        p = Path(path)
        if not p.is_file():
            raise ValueError(f"network file {str(p)!r} does not exist")
        return cls.from_network(_load_network(p.read_text(), str(p)), form=form, name=p.name)

    @classmethod
    def from_network(cls, net, *, form: str = "spatial", name: str = "network",
                     _faults=()) -> NetworkSweep:
        from ulpflow.hdl.network import FORMS

        if form not in FORMS:
            raise ValueError(f"form must be one of {', '.join(map(repr, FORMS))}, not {form!r}")
        return cls(net.dumps(sort_keys=True), form, name, tuple(_faults))

    def network(self):
        return _load_network(self.text, self.name)

    @property
    def key(self) -> str:
        """Hash of the network, its form, the faults, its hardware's Verilog and ulpflow's version."""
        import ulpflow
        from ulpflow.hdl import to_verilog
        from ulpflow.hdl.network import NetworkTop

        top = NetworkTop(self.network(), self.form, _faults=self.faults)
        text = (f"{ulpflow.__version__}\n{self.form}\n{self.faults!r}\n{self.text}\n"
                + to_verilog(top, "ulp_network"))
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def describe(self) -> str:
        net = self.network()
        faults = f" [faults {list(self.faults)}]" if self.faults else ""
        return f"{self.name} {net!r}, {self.form} hardware{faults}"

    def plan_chunks(self, *, exhaustive=False, random=None, seed=1, chunk=DEFAULT_CHUNK):
        chunk = _check_chunk(chunk)
        if exhaustive == (random is not None):
            raise ValueError("a sweep is either exhaustive (--inputs all) or random N")
        if not exhaustive:
            return _random_chunks(random, seed, chunk)
        net = self.network()
        total = len(net.in_format.all_codes()) ** net.n_in
        if total > 1 << 32:
            raise ValueError(f"every input of {net!r} is {total} vectors (more than 2^32); use "
                             "--random N")
        chunks = [Chunk(i, "exhaustive", lo, min(lo + chunk, total))
                  for i, lo in enumerate(range(0, total, chunk))]
        return f"exhaustive-{chunk}", chunks

    def inputs(self, chunk: Chunk) -> np.ndarray:
        """The chunk's input vectors, shape ``(n, n_in)``."""
        net = self.network()
        codes = net.in_format.all_codes()
        k = len(codes)
        if chunk.kind == "exhaustive":
            idx = np.arange(chunk.start, chunk.stop, dtype=np.int64)
            digits = [(idx // k ** (net.n_in - 1 - j)) % k for j in range(net.n_in)]
            return np.stack([codes[d] for d in digits], axis=1)
        rng = np.random.default_rng([chunk.seed, chunk.index])
        return codes[rng.integers(0, k, (chunk.n, net.n_in))]

    def run(self, chunk: Chunk, key: str, coverage: bool = False) -> ChunkResult:
        """Golden network and one Verilator run on the chunk's vectors (a Dask task)."""
        from ulpflow.sim.compare import codes_equal
        from ulpflow.sim.network import NetworkSimulator

        start = time.perf_counter()
        if key not in _NETWORKS:
            net = self.network()
            _NETWORKS[key] = (net, NetworkSimulator(net, form=self.form, _faults=self.faults))
        net, sim = _NETWORKS[key]
        x = self.inputs(chunk)
        expected = net(x, strict=False)
        got = sim.run(x)
        same = np.ones(len(x), dtype=bool)
        for j in range(net.n_out):
            same &= codes_equal(got[:, j], expected[:, j], net.out_format)
        bad = np.flatnonzero(~same)
        first = [{"x": [int(c) for c in x[i]], "expected": [int(c) for c in expected[i]],
                  "got": [int(c) for c in got[i]]} for i in bad[:FIRST_MISMATCHES]]
        return ChunkResult(chunk.index, int(len(x)), int(bad.size),
                           hashlib.sha256(np.ascontiguousarray(got).tobytes()).hexdigest(), first,
                           time.perf_counter() - start, _worker_name(), None)

    def decode(self, m: dict) -> str:
        net = self.network()
        fi, fo = net.in_format, net.out_format
        return (f"x=[{', '.join(fi.show(c) for c in m['x'])}] -> expected "
                f"[{', '.join(fo.show(c) for c in m['expected'])}], got "
                f"[{', '.join(fo.show(c) for c in m['got'])}]")


def _load_network(text: str, where: str):
    from ulpflow.golden.network import Network

    try:
        return Network.loads(text)
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"{where}: not a network file: {exc}") from None


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except ValueError:  # not inside a Dask worker
        return f"local-{os.getpid()}"


def _run_chunk(job, chunk, key, coverage):
    """The Dask task: one chunk of one job."""
    return job.run(chunk, key, coverage)


# ------------------------------------------------------------------------------------ Dask


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None, *,
                timeout: float = CONNECT_TIMEOUT):
    """A ``distributed.Client``: of an existing scheduler, or of a new local cluster.

    Parameters
    ----------
    scheduler : str, optional
        ``tcp://HOST:PORT`` of a running ``dask scheduler``. A malformed address, or one where
        no scheduler answers within ``timeout`` seconds, raises :class:`SchedulerError`.
    workers : int, optional
        Size of the local cluster (default: one worker process per core, one thread each).
        Not with ``scheduler``: an existing cluster has its own workers.
    """
    import logging

    from distributed import Client, LocalCluster

    if scheduler is not None:
        if workers is not None:
            raise ValueError("workers= (--workers) sizes a local cluster; an existing cluster "
                             f"({scheduler}) has its own workers")
        if not isinstance(scheduler, str) or not _ADDRESS.match(scheduler):
            raise SchedulerError(f"scheduler address must be tcp://HOST:PORT, not {scheduler!r}")
        try:
            client = Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise SchedulerError(f"no Dask scheduler answered at {scheduler} within {timeout:g} s "
                                 f"({type(exc).__name__}); start one with `dask scheduler` and "
                                 "`dask worker ADDRESS`, or leave out --scheduler for a local "
                                 "cluster") from None
        try:
            yield client
        finally:
            client.close()
        return
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be a positive number of processes, not {workers!r}")
    # dashboard_address ":0": the scheduler's HTTP server (health, metrics) on a free port of
    # 127.0.0.1, not on 8787, which another cluster may hold
    with LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=":0", silence_logs=logging.ERROR) as cl, \
            Client(cl) as client:
        yield client


def dask_runs(scheduler: str | None = None, workers: int | None = None, *,
              progress: Callable[[str], None] | None = None):
    """A ``runs(function, jobs)`` executor on Dask, one task per job (e.g. one synthesis).

    For :func:`ulpflow.boards.qor.run_qor` (``bench/qor.py --workers N``, ``ulpflow qor
    --scheduler ADDR``): each ``(spec, seed)`` of ``jobs`` becomes a task ``function(spec,
    seed)`` on the cluster of :func:`dask_client`; the results come back in the order of
    ``jobs``. ``progress(message)`` hears of every finished task.
    """
    def runs(function, jobs):
        from distributed import as_completed

        jobs = list(jobs)
        with dask_client(scheduler, workers) as client:
            futures = [client.submit(function, *job, pure=False) for job in jobs]
            index = {f.key: i for i, f in enumerate(futures)}
            results = [None] * len(jobs)
            start = time.perf_counter()
            for k, (future, result) in enumerate(as_completed(futures, with_results=True), 1):
                results[index[future.key]] = result
                if progress:
                    progress(f"[{k}/{len(jobs)}] done after {time.perf_counter() - start:.0f} s: "
                             f"{jobs[index[future.key]]}")
        return results
    return runs


def results_dir(key: str, plan: str, root=None):
    """The folder of a sweep's chunk results: ``<root>/<job key>/<plan>``, where ``root`` is
    the cache folder ``sweeps/`` by default."""
    from pathlib import Path

    from ulpflow.golden.cache import cache_dir

    base = cache_dir("sweeps") if root is None else Path(root)
    path = base / key / plan
    path.mkdir(parents=True, exist_ok=True)
    return path


def _load(folder, chunks) -> dict[int, ChunkResult]:
    done = {}
    for c in chunks:
        path = folder / f"{c.index:06d}.json"
        if path.is_file():
            try:
                r = ChunkResult.from_json(path.read_text())
            except (ValueError, TypeError):
                continue  # a torn file: run the chunk again
            if r.index == c.index:
                done[c.index] = r
    return done


def _save(folder, r: ChunkResult) -> None:
    path = folder / f"{r.index:06d}.json"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(r.to_json())
    os.replace(tmp, path)


def run_sweep(job, *, exhaustive: bool = False, random: int | None = None, seed: int = 1,
              chunk: int = DEFAULT_CHUNK, scheduler: str | None = None,
              workers: int | None = None, coverage: bool = False, resume: bool = True,
              max_chunks: int | None = None, results=None,
              progress: Callable[[int, int, int, float], None] | None = None,
              on_result: Callable[[ChunkResult], None] | None = None) -> SweepResult:
    """Run ``job`` (e.g. :class:`UnitSweep`) over its chunks on Dask; return the result.

    Parameters
    ----------
    job : UnitSweep
    exhaustive, random, seed, chunk
        The chunk plan (:meth:`UnitSweep.plan_chunks`).
    scheduler, workers
        Where to run (:func:`dask_client`).
    coverage : bool
        Also measure the functional coverage of each chunk (several times slower than the
        simulation itself).
    resume : bool
        Take chunk results already on disk (default); False runs every chunk again.
    max_chunks : int, optional
        Only the first ``max_chunks`` chunks of the plan (a partial sweep, for benchmarks; the
        result's ``chunks`` says how many were swept).
    results : path, optional
        Root folder of the chunk results (default: ``sweeps/`` in the cache folder); a folder on
        a shared file system lets sweeps resume from any machine.
    progress : callable, optional
        ``progress(chunks_done, chunks_total, vectors_done, seconds)`` after every chunk.
    on_result : callable, optional
        Called with every :class:`ChunkResult` as it arrives (after it is on disk).

    Returns
    -------
    SweepResult
        Mismatches do not raise: ``result.ok`` is False and ``result.first`` decodes them.
    """
    from distributed import as_completed

    plan, chunks = job.plan_chunks(exhaustive=exhaustive, random=random, seed=seed, chunk=chunk)
    if max_chunks is not None:
        if isinstance(max_chunks, bool) or not isinstance(max_chunks, int) or max_chunks < 1:
            raise ValueError(f"max_chunks must be a positive int, not {max_chunks!r}")
        chunks = chunks[:max_chunks]
    key = job.key
    folder = results_dir(key, plan, results)
    done = _load(folder, chunks) if resume else {}
    resumed = len(done)
    todo = [c for c in chunks if c.index not in done]
    start = time.perf_counter()
    workers_seen: dict[str, list] = {}
    vectors_done = sum(r.vectors for r in done.values())
    if progress:
        progress(len(done), len(chunks), vectors_done, 0.0)
    if todo:
        with dask_client(scheduler, workers) as client:
            futures = [client.submit(_run_chunk, job, c, key, coverage, pure=False,
                                     key=f"ulpflow-sweep-{key}-{plan}-{c.index}") for c in todo]
            for _, r in as_completed(futures, with_results=True):
                _save(folder, r)
                done[r.index] = r
                w = workers_seen.setdefault(r.worker, [0, 0.0])
                w[0] += r.vectors
                w[1] += r.seconds
                vectors_done += r.vectors
                if on_result:
                    on_result(r)
                if progress:
                    progress(len(done), len(chunks), vectors_done, time.perf_counter() - start)
    results = [done[c.index] for c in chunks]
    digest = hashlib.sha256("".join(r.digest for r in results).encode()).hexdigest()
    first = [job.decode(m) for r in results for m in r.first][:FIRST_MISMATCHES]
    cov = None
    if coverage and all(r.coverage for r in results):
        cov = {}
        for r in results:
            for k, v in r.coverage.items():
                cov[k] = cov.get(k, 0) + v
    return SweepResult(job.describe(), plan, sum(r.vectors for r in results),
                       sum(r.mismatches for r in results), len(results), digest, first,
                       time.perf_counter() - start, resumed,
                       {k: tuple(v) for k, v in workers_seen.items()}, cov)
