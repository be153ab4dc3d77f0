"""Verilator runner: cached model builds, cocotb test runs, and standalone harness runs.

* every model is built into a folder named by a hash of everything that goes into it (sources,
  top level, flags, tool versions), so an unchanged design is never rebuilt. Builds of the same
  design by parallel workers are serialised by a lock file; each build happens in a private
  folder that is renamed into place only when complete.
* Verilator's run-time library objects (``verilated*.o``, ~9 s of compiling) are compiled once
  per tool/flag combination and copied into later builds. If ``ccache`` is on PATH it is used
  as well (``OBJCACHE=ccache``).
* a build that is not in the cache says so on stderr (one line when it starts, one with the
  time it took), because the first one takes about 40 s; ``VerilatorRunner(progress=False)``
  or ``ULPFLOW_SIM_QUIET=1`` silences it.

The tools are found by :mod:`ulpflow.sim.toolchain`. Build cache location: ``sim/`` under
ulpflow's cache root (:mod:`ulpflow.golden.cache`: ``$ULPFLOW_CACHE_DIR``, else
``<project>/.ulpflow-cache`` in a checkout, else the user cache folder); delete it whenever no
simulation is running (``make clean-cache``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ulpflow.golden import cache

from . import toolchain
from .errors import BuildError, SimulationError, TestFailure

__all__ = [
    "DEFAULT_BUILD_ARGS",
    "CXX_OPT_LEVELS",
    "Build",
    "VerilatorRunner",
    "cache_dir",
    "run_cocotb",
]

#: Flags every build gets. Amaranth's Verilog trips Verilator's width lint warnings by design
#: (Yosys widens and truncates freely); without these the build stops on the first one.
DEFAULT_BUILD_ARGS = ("-Wno-fatal", "-Wno-lint", "-Wno-style")

#: C++ optimisation levels a model may be compiled with (``VerilatorRunner(cxx_opt=...)``).
CXX_OPT_LEVELS = ("-O0", "-O1", "-O2", "-O3", "-Os")

# Bump when the layout of a build folder or the build recipe changes, so old folders are ignored.
_CACHE_FORMAT = "1"
_OK_MARKER = "BUILD_OK"
_HARNESS_EXE = "ulp_sim"
_CPP_SUFFIXES = (".cpp", ".cc", ".cxx", ".c")
_QUIET_ENV = "ULPFLOW_SIM_QUIET"
_KIND_WORDS = {"cocotb": "a model for cocotb", "exe": "a C++ harness program"}


# ----------------------------------------------------------------------------------------------
# Cache


def cache_dir() -> Path:
    """Return (and create) the root folder of the simulation build cache.

    ``sim/`` under ulpflow's one cache root (:func:`ulpflow.golden.cache.cache_root`):
    ``$ULPFLOW_CACHE_DIR/sim`` if that variable is set; ``<project>/.ulpflow-cache/sim`` when
    ulpflow runs from a writable checkout; otherwise ``user_cache_dir("ulpflow")/sim``.
    """
    return cache.cache_dir("sim")


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    tmp.write_text(text)
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _drop_intermediates(build: Path) -> None:
    """Delete what only the compiler needed: precompiled headers alone reach ~70 MB each."""
    for pattern in ("*.gch", "*.o", "*.a"):
        for path in build.glob(pattern):
            path.unlink()


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", name)[:40] or "top"


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


def _normalise_sources(
    sources: Sequence[str | os.PathLike[str]] | Mapping[str, str],
) -> list[tuple[str, bytes]]:
    """Turn file paths or a ``{file name: text}`` mapping into ``(file name, content)`` pairs."""
    if isinstance(sources, Mapping):
        items = [(str(name), text.encode()) for name, text in sources.items()]
    elif isinstance(sources, (str, os.PathLike)):
        raise TypeError(f"sources must be a list of paths or a mapping name -> text, got {sources!r}")
    else:
        items = []
        for src in sources:
            path = Path(src)
            if not path.is_file():
                raise ValueError(f"source file {str(path)!r} does not exist")
            items.append((path.name, path.read_bytes()))
    if not items:
        raise ValueError("no sources given: expected at least one Verilog file")
    names = [name for name, _ in items]
    for name in names:
        if names.count(name) > 1 or Path(name).name != name:
            raise ValueError(f"source name {name!r} must be a unique plain file name")
    return items


# ----------------------------------------------------------------------------------------------
# Builds


@dataclass(frozen=True)
class Build:
    """A built model in the cache.

    Attributes
    ----------
    directory : pathlib.Path
        The build folder (Verilator's ``-Mdir``).
    toplevel : str
        Top-level module name.
    kind : str
        ``"cocotb"`` (model with cocotb's VPI main) or ``"exe"`` (model with a C++ main).
    key : str
        Name of the build folder: kind, top level and a hash of everything that went in.
    cached : bool
        True when this call found the model already built.
    seconds : float
        Wall time this call spent (building, or finding the cached build).
    """

    directory: Path
    toplevel: str
    kind: str
    key: str
    cached: bool
    seconds: float

    @property
    def executable(self) -> Path:
        """The simulator program of this build."""
        return self.directory / (_HARNESS_EXE if self.kind == "exe" else self.toplevel)


def _make_cocotb_runner():
    """A cocotb Verilator runner that builds without Perl and with the make fixes above."""
    from cocotb_tools.runner import Verilator

    class _UlpflowVerilator(Verilator):
        prefill: list[str] = []
        extra_cpp: list[str] = []
        extra_make: list[str] = []
        public_flat_rw: bool = True

        def _simulator_in_path_build_only(self) -> None:
            self.executable = "verilator_bin"

        def _set_env_common(self) -> None:
            super()._set_env_common()
            self.env["VERILATOR_ROOT"] = str(toolchain.verilator_root())

        def _build_command(self):
            verilate, make = super()._build_command()
            # extra C++ (DPI functions of a testbench) compiles into the model next to cocotb's main
            verilate = toolchain.verilator_command() + list(verilate[1:]) + list(self.extra_cpp)
            if not self.public_flat_rw:
                # Only signals marked /*verilator public_flat_rw*/ (or _rd) stay visible: logic
                # the VPI cannot touch is no longer re-evaluated at every time step.
                verilate = [arg for arg in verilate if arg != "--public-flat-rw"]
            make = list(make) + toolchain.make_overrides() + list(self.extra_make)
            cmds = [verilate]
            if self.prefill:
                # Plain cp (new mtimes): make rebuilds objects older than the fresh Vtop.mk.
                cmds.append(["cp", *self.prefill, str(self.build_dir)])
            cmds.append(make)
            return cmds

    return _UlpflowVerilator()


class VerilatorRunner:
    """Builds Verilog into cached Verilator models and runs cocotb tests or C++ harnesses on them.

    Parameters
    ----------
    cache : path, optional
        Root of the build cache (default :func:`cache_dir`).
    build_args : sequence of str
        Extra Verilator arguments for every build, after :data:`DEFAULT_BUILD_ARGS`.
    jobs : int, optional
        ``make -j`` for the C++ build (default: number of CPUs, at most 4).
    progress : bool, optional
        Say on stderr what is being built and how long it took (builds found in the cache are
        silent). Default: on, unless the environment variable ``ULPFLOW_SIM_QUIET`` is set.
    cxx_opt : str, optional
        The C++ optimisation level of the model (``"-O0"`` … ``"-O3"``, ``"-Os"``; default:
        Verilator's own, ``-Os``). ``"-O0"`` compiles a very large model several times faster
        and runs it slower: the choice for a design run on few vectors.

    Examples
    --------
    >>> runner = VerilatorRunner()                                     # doctest: +SKIP
    >>> build = runner.build({"adder.v": text}, "adder")               # doctest: +SKIP
    >>> runner.test(build, "my_cocotb_tests")                          # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        cache: str | os.PathLike[str] | None = None,
        build_args: Sequence[str] = (),
        jobs: int | None = None,
        progress: bool | None = None,
        cxx_opt: str | None = None,
    ):
        toolchain.verilator_root()
        if cxx_opt is not None and cxx_opt not in CXX_OPT_LEVELS:
            raise ValueError(f"cxx_opt must be one of {', '.join(CXX_OPT_LEVELS)} or None, not {cxx_opt!r}")
        self.cxx_opt = cxx_opt
        self.progress = not os.environ.get(_QUIET_ENV) if progress is None else bool(progress)
        self.cache = Path(cache).resolve() if cache is not None else cache_dir()
        self.cache.mkdir(parents=True, exist_ok=True)
        self.build_args = list(build_args)
        self.jobs = jobs if jobs is not None else max(1, min(4, os.cpu_count() or 1))

    def _opt_overrides(self) -> list[str]:
        """make variables that set the model's C++ optimisation level (none: Verilator's)."""
        if self.cxx_opt is None:
            return []
        return [f"OPT_FAST={self.cxx_opt}", f"OPT_SLOW={self.cxx_opt}", f"OPT_GLOBAL={self.cxx_opt}"]

    # -- keys ---------------------------------------------------------------------------------

    def _object_key(self, kind: str, args: Sequence[str], waves: bool) -> str:
        """Key of the reusable runtime objects: everything that affects how verilated.cpp builds."""
        ident = {
            "format": _CACHE_FORMAT,
            "kind": kind,
            "verilator": [toolchain.verilator_version(), str(toolchain.verilator_root())],
            "cocotb": toolchain.cocotb_version() if kind == "cocotb" else None,
            "args": list(args),
            "waves": waves,
            "cxx": [toolchain.cxx(), toolchain.cxx_identity(toolchain.cxx())],
            "env": [os.environ.get(v, "") for v in ("CXXFLAGS", "CPPFLAGS", "LDFLAGS", "OBJCACHE")],
            "make": toolchain.make_overrides() + self._opt_overrides(),
        }
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:20]

    def _build_key(
        self,
        kind: str,
        toplevel: str,
        sources: list[tuple[str, bytes]],
        cpp: list[tuple[str, bytes]],
        args: Sequence[str],
        includes: Sequence[Path],
        waves: bool,
    ) -> str:
        digest = hashlib.sha256()
        digest.update(self._object_key(kind, args, waves).encode())
        digest.update(json.dumps([toplevel, sys.executable]).encode())
        for group in (sources, cpp):
            for name, data in group:
                digest.update(f"\0{name}\0{len(data)}\0".encode())
                digest.update(data)
        for inc in includes:
            for path in sorted(p for p in inc.rglob("*") if p.is_file()):
                digest.update(f"\0{path}\0".encode())
                digest.update(path.read_bytes())
        return f"{kind}-{_safe_name(toplevel)}-{digest.hexdigest()[:24]}"

    # -- build --------------------------------------------------------------------------------

    def build(
        self,
        sources: Sequence[str | os.PathLike[str]] | Mapping[str, str],
        toplevel: str,
        *,
        kind: str = "cocotb",
        cpp_sources: Mapping[str, str] | None = None,
        build_args: Sequence[str] = (),
        includes: Sequence[str | os.PathLike[str]] = (),
        defines: Mapping[str, object] | None = None,
        parameters: Mapping[str, object] | None = None,
        waves: bool = False,
        public: bool = True,
    ) -> Build:
        """Build ``sources`` with ``toplevel`` as top module, or reuse the cached build.

        Parameters
        ----------
        sources : sequence of paths, or mapping of file name to Verilog text
            The Verilog files. Only their content (and name) matters for the cache.
        toplevel : str
            Top-level module.
        kind : {"cocotb", "exe"}
            ``"cocotb"``: a model for :meth:`test` (cocotb's VPI main, every signal visible).
            ``"exe"``: a plain model linked with ``cpp_sources``, which must define ``main``;
            the top class is ``Vtop`` (``#include "Vtop.h"``). Run it with :meth:`run_exe`.
        cpp_sources : mapping of file name to C++ text, optional
            Extra C++ files: the ``main`` of a ``kind="exe"`` build, or DPI functions that a
            ``kind="cocotb"`` model imports (``#include "Vtop__Dpi.h"`` for their prototypes).
        build_args, includes, defines, parameters : optional
            Extra Verilator arguments, include folders (their files are hashed), ``-D`` defines
            and ``-G`` parameters.
        waves : bool
            Build with tracing (``--trace``) so runs can dump waves.
        public : bool
            ``kind="cocotb"`` only. True (cocotb's default): every signal is visible and
            writable through the VPI (``--public-flat-rw``). False: only signals the sources
            mark ``/*verilator public_flat_rw*/`` or ``public_flat_rd``; the model then skips
            re-evaluating logic that cocotb could otherwise have changed at any time step,
            which makes testbenches that drive the design from HDL several times faster.

        Returns
        -------
        Build
            The cached build; ``build.cached`` tells whether it already existed.

        Raises
        ------
        BuildError
            Verilator or the compiler failed; the message carries the end of the build log.
        ToolchainError
            Verilator, a C++ compiler or make is missing.
        """
        start = time.perf_counter()
        if kind not in ("cocotb", "exe"):
            raise ValueError(f"build kind {kind!r} is not 'cocotb' or 'exe'")
        if not toplevel or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", toplevel):
            raise ValueError(f"toplevel {toplevel!r} is not a Verilog module name")
        if kind == "exe" and not cpp_sources:
            raise ValueError("a kind='exe' build needs cpp_sources with a main()")
        srcs = _normalise_sources(sources)
        cpp = [(name, text.encode()) for name, text in (cpp_sources or {}).items()]
        incs = [Path(i).resolve() for i in includes]
        args = list(DEFAULT_BUILD_ARGS) + self.build_args + list(build_args)
        args += [f"-D{k}={v}" for k, v in (defines or {}).items()]
        args += [f"-G{k}={v}" for k, v in (parameters or {}).items()]
        if not public and kind != "cocotb":
            raise ValueError("public=False only applies to kind='cocotb' builds")
        key = self._build_key(kind, toplevel, srcs, cpp, args + ([] if public else ["<not-public>"]), incs, waves)
        final = self.cache / key

        if (final / _OK_MARKER).is_file():
            return Build(final, toplevel, kind, key, True, time.perf_counter() - start)
        toolchain.check_build_tools()
        if kind == "cocotb":
            toolchain.check_libpython()  # cocotb's build step already looks for it
        with _locked(self.cache / f"{key}.lock"):
            if (final / _OK_MARKER).is_file():  # another worker finished it while we waited
                return Build(final, toplevel, kind, key, True, time.perf_counter() - start)
            if final.exists():
                shutil.rmtree(final)
            for stale in self.cache.glob(f".tmp-{key}-*"):  # left by a killed build; we hold the lock
                shutil.rmtree(stale, ignore_errors=True)
            objects = self.cache / "objs" / self._object_key(kind, args, waves)
            self._say(f"building {toplevel} with Verilator ({_KIND_WORDS[kind]}; "
                      + ("the first build on this machine takes ~40 s" if not objects.is_dir()
                         else "usually under 10 s") + "; later runs of this design reuse the build)")
            work = self.cache / f".tmp-{key}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            (work / "src").mkdir(parents=True)
            paths = []
            for name, data in srcs + cpp:
                (work / "src" / name).write_bytes(data)
                paths.append(work / "src" / name)
            objects.parent.mkdir(exist_ok=True)
            with contextlib.ExitStack() as stack:
                if not objects.is_dir():
                    # The first build of this tool/flag set compiles the runtime objects; others
                    # wait for it and reuse them rather than compile the same files in parallel.
                    stack.enter_context(_locked(objects.parent / f"{objects.name}.lock"))
                prefill = sorted(str(p) for p in objects.iterdir()) if objects.is_dir() else []
                self._build_in(work, kind, toplevel, key, paths, args, incs, waves, prefill, public)
                self._keep_objects(work, objects)
            _drop_intermediates(work)
            seconds = time.perf_counter() - start
            _atomic_write(work / _OK_MARKER, json.dumps({"seconds": seconds, "toplevel": toplevel}))
            os.rename(work, final)
        seconds = time.perf_counter() - start
        self._say(f"built {toplevel} in {seconds:.1f} s (cached in {final})")
        return Build(final, toplevel, kind, key, False, seconds)

    def _say(self, line: str) -> None:
        if self.progress:
            print(f"ulpflow.sim: {line}", file=sys.stderr, flush=True)

    def _build_in(self, work, kind, toplevel, key, paths, args, incs, waves, prefill, public=True) -> None:
        log = work / "build.log"
        try:
            if kind == "cocotb":
                self._build_cocotb(work, toplevel, paths, args, incs, waves, prefill, log, public)
            else:
                self._build_exe(work, toplevel, paths, args, incs, waves, prefill, log)
            if not (work / (_HARNESS_EXE if kind == "exe" else toplevel)).is_file():
                raise BuildError(f"build of {toplevel} produced no simulator program", log)
        except BuildError as exc:
            failed = self.cache / f"failed-{key}"
            shutil.rmtree(failed, ignore_errors=True)
            for path in work.iterdir():  # the log and the sources are what a reader needs
                if path.name not in ("build.log", "src"):
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
            os.rename(work, failed)
            exc.log = failed / "build.log"
            raise BuildError(f"{exc}\nfull log: {exc.log}", exc.log) from None
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise

    def _build_cocotb(self, work, toplevel, paths, args, incs, waves, prefill, log, public=True) -> None:
        runner = _make_cocotb_runner()
        runner.prefill = prefill
        runner.extra_make = self._opt_overrides()
        runner.public_flat_rw = public
        runner.extra_cpp = [str(p) for p in paths if p.suffix in _CPP_SUFFIXES]
        runner.log.setLevel("WARNING")
        try:
            runner.build(
                sources=[str(p) for p in paths if p.suffix not in _CPP_SUFFIXES],
                hdl_toplevel=toplevel,
                build_dir=str(work),
                build_args=args,
                includes=[str(i) for i in incs],
                waves=waves,
                log_file=str(log),
            )
        except (RuntimeError, SystemExit) as exc:
            raise BuildError(f"Verilator build of {toplevel} failed ({exc}):\n{_tail(log)}", log) from None

    def _build_exe(self, work, toplevel, paths, args, incs, waves, prefill, log) -> None:
        verilog = [str(p) for p in paths if p.suffix in (".v", ".sv", ".vh", ".svh", ".vlt")]
        cpp = [str(p) for p in paths if p.suffix in _CPP_SUFFIXES]
        verilate = toolchain.verilator_command() + [
            "--cc", "--exe", "-Mdir", str(work), "--top-module", toplevel, "--prefix", "Vtop",
            "-o", _HARNESS_EXE, *(["--trace"] if waves else []), *args,
            *[f"-I{i}" for i in incs], *cpp, *verilog,
        ]  # fmt: skip
        make = ["make", f"-j{self.jobs}", "-C", str(work), "-f", "Vtop.mk", *toolchain.make_overrides(),
                *self._opt_overrides()]
        env = dict(os.environ, VERILATOR_ROOT=str(toolchain.verilator_root()))
        with open(log, "w") as out:
            for step, cmd in enumerate((verilate, make)):
                if step == 1:
                    for obj in prefill:  # copy() gives new mtimes, newer than the fresh Vtop.mk
                        shutil.copy(obj, work)
                done = subprocess.run(cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)
                if done.returncode != 0:
                    out.flush()
                    what = "Verilator" if step == 0 else "C++ build"
                    raise BuildError(f"{what} of {toplevel} failed (exit {done.returncode}):\n{_tail(log)}", log)

    def _keep_objects(self, work: Path, objects: Path) -> None:
        """Save the design-independent runtime objects of a fresh build for later builds."""
        if objects.is_dir():
            return
        files = [p for p in work.glob("verilated*") if p.suffix in (".o", ".d")]
        if not files:
            return
        stage = objects.parent / f".tmp-{objects.name}-{uuid.uuid4().hex[:8]}"
        stage.mkdir(parents=True)
        for path in files:
            shutil.copy2(path, stage)
        try:
            os.rename(stage, objects)
        except OSError:  # another worker saved them first
            shutil.rmtree(stage, ignore_errors=True)

    # -- runs ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def run_dir(self, keep_on_error: bool = True) -> Iterator[Path]:
        """A fresh private folder for one run; removed afterwards unless the run raised."""
        runs = self.cache / "runs"
        runs.mkdir(exist_ok=True)
        for old in runs.iterdir():  # folders of failed runs are kept for a day, for their logs
            with contextlib.suppress(OSError):
                if time.time() - old.stat().st_mtime > 86400:
                    shutil.rmtree(old, ignore_errors=True)
        path = runs / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        path.mkdir()
        try:
            yield path
        except BaseException:
            if not keep_on_error:
                shutil.rmtree(path, ignore_errors=True)
            raise
        shutil.rmtree(path, ignore_errors=True)

    def test(
        self,
        build: Build,
        test_module: str | Sequence[str],
        *,
        testcase: str | Sequence[str] | None = None,
        seed: int | None = None,
        plusargs: Sequence[str] = (),
        extra_env: Mapping[str, str] | None = None,
        test_dir: str | os.PathLike[str] | None = None,
        waves: bool = False,
    ) -> list[str]:
        """Run cocotb tests on a ``kind="cocotb"`` build and raise if any of them fails.

        Parameters
        ----------
        build : Build
            From :meth:`build` with ``kind="cocotb"``.
        test_module : str or sequence of str
            Importable module name(s) holding ``@cocotb.test`` coroutines. The simulator's
            Python sees this process's ``sys.path``.
        testcase : str or sequence of str, optional
            Run only these tests (by function name).
        seed, plusargs, extra_env, waves : optional
            Passed to cocotb (random seed, ``+plusargs``, environment, VCD dump).
        test_dir : path, optional
            Where the run's files (log, results XML, waves) go. By default a private folder that
            is deleted after a passing run and kept (its path is in the error) after a failure.

        Returns
        -------
        list of str
            Names of the tests that passed.

        Raises
        ------
        SimulationError
            Any test failed (``failures`` holds each failed test's message), no test ran, or the
            simulator crashed.
        """
        if build.kind != "cocotb":
            raise ValueError(f"build {build.key} is a {build.kind!r} build; test() needs kind='cocotb'")
        toolchain.check_libpython()
        if test_dir is not None:
            folder = Path(test_dir).resolve()
            folder.mkdir(parents=True, exist_ok=True)
            return self._test_in(build, test_module, folder, testcase, seed, plusargs, extra_env, waves)
        with self.run_dir() as folder:
            return self._test_in(build, test_module, folder, testcase, seed, plusargs, extra_env, waves)

    def _test_in(self, build, test_module, folder, testcase, seed, plusargs, extra_env, waves):
        runner = _make_cocotb_runner()
        runner.log.setLevel("WARNING")
        results = folder / "results.xml"
        log = folder / "sim.log"
        crash = None
        # Under pytest the cocotb runner calls sys.exit() on failures instead of returning; hide
        # pytest's marker so failures come back as data and become one SimulationError here.
        marker = os.environ.pop("PYTEST_CURRENT_TEST", None)
        try:
            runner.test(
                test_module=test_module,
                hdl_toplevel=build.toplevel,
                hdl_toplevel_lang="verilog",
                build_dir=str(build.directory),
                test_dir=str(folder),
                results_xml=str(results),
                testcase=testcase,
                seed=seed,
                plusargs=list(plusargs),
                extra_env=dict(extra_env or {}),
                waves=waves,
                log_file=str(log),
            )
        except (RuntimeError, SystemExit) as exc:
            crash = exc
        finally:
            if marker is not None:
                os.environ["PYTEST_CURRENT_TEST"] = marker
        passed, failures = _read_results(results)
        where = f"{build.toplevel} ({build.key})"
        if failures:
            lines = "\n".join(f"  {f}" for f in failures)
            raise SimulationError(
                f"{len(failures)} of {len(failures) + len(passed)} cocotb tests failed on {where}:\n"
                f"{lines}\nlog: {log}",
                failures,
                log,
            )
        if crash is not None or not results.is_file():
            raise SimulationError(
                f"simulation of {where} ended abnormally ({crash or 'no results file'}); "
                f"end of log {log}:\n{_tail(log)}",
                log=log,
            )
        if not passed:
            raise SimulationError(
                f"no cocotb test ran on {where}: module {test_module!r}, testcase {testcase!r}; "
                f"end of log {log}:\n{_tail(log)}",
                log=log,
            )
        return passed

    def run_exe(
        self,
        build: Build,
        args: Sequence[str],
        *,
        cwd: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
    ) -> subprocess.CompletedProcess:
        """Run the program of a ``kind="exe"`` build; raise :class:`SimulationError` if it fails.

        Lines the program prints to stderr starting with ``ULPFLOW-ERROR:`` become the error
        message (one :class:`TestFailure` each); otherwise the end of its output is shown.
        """
        if build.kind != "exe":
            raise ValueError(f"build {build.key} is a {build.kind!r} build; run_exe() needs kind='exe'")
        try:
            done = subprocess.run(
                [str(build.executable), *map(str, args)],
                cwd=cwd,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise SimulationError(f"simulation of {build.toplevel} ran longer than {timeout} s") from exc
        if done.returncode != 0:
            errors = [
                line.split(":", 1)[1].strip()
                for line in done.stderr.splitlines()
                if line.startswith("ULPFLOW-ERROR:")
            ]
            failures = [TestFailure(build.toplevel, "SimulationError", e) for e in errors]
            detail = "\n".join(errors) or "\n".join((done.stdout + done.stderr).splitlines()[-20:])
            raise SimulationError(
                f"simulation of {build.toplevel} failed (exit {done.returncode}): {detail}", failures
            )
        return done


def _read_results(path: Path) -> tuple[list[str], list[TestFailure]]:
    """Passed test names and failures (with messages) from a cocotb results XML file."""
    if not path.is_file():
        return [], []
    passed: list[str] = []
    failures: list[TestFailure] = []
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname', '')}.{case.get('name', '')}".strip(".")
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        if bad is not None:
            message = bad.get("message")
            if not message:
                lines = (bad.text or "").strip().splitlines()
                message = lines[-1] if lines else "(no message)"
            failures.append(TestFailure(name, bad.get("type", "failure"), message))
        elif case.find("skipped") is None:
            passed.append(name)
    return passed, failures


def run_cocotb(
    sources: Sequence[str | os.PathLike[str]] | Mapping[str, str],
    toplevel: str,
    test_module: str | Sequence[str],
    *,
    build_args: Sequence[str] = (),
    runner: VerilatorRunner | None = None,
    **test_kwargs,
) -> list[str]:
    """Build (or reuse) ``sources`` and run the cocotb tests of ``test_module`` on them.

    Shorthand for ``VerilatorRunner().build(..., kind="cocotb")`` followed by
    :meth:`VerilatorRunner.test`; raises :class:`SimulationError` on any failed test.
    """
    runner = runner or VerilatorRunner()
    build = runner.build(sources, toplevel, kind="cocotb", build_args=build_args)
    return runner.test(build, test_module, **test_kwargs)
