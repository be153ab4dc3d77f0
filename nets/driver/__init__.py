"""ulpflow.nets.driver: one construction taken from its target to hardware, with a report.

:func:`run` does the whole chain for one :class:`RunOptions` and times every stage:

1. ``construct`` — the construction (:func:`ulpflow.nets.build`) for the target on its domain;
2. ``golden`` — :func:`~ulpflow.nets.verify.check_pointwise` on every point of the target (C4
   over a format of at most 8 bits: also every box, :func:`~ulpflow.nets.verify.check_intervals`);
3. ``hardware`` — ``ulpflow.hdl.NetworkTop(net, form=...)``, the network as one streaming unit;
4. ``verilator`` — ``ulpflow.sim.simulate_network`` on every input of the domain (for C2: every
   finite input, the data set included);
5. ``compare`` — the RTL's output codes against the golden network's, code for code (any NaN
   matches any NaN); on a mismatch the first divergence inside the network is located;
6. ``synthesis`` — with ``board``: :func:`ulpflow.boards.synthesize` (LUTs, FFs, DSPs, BRAMs,
   Fmax; on ECP5 with the classic ``abc`` LUT mapper, see :mod:`ulpflow.boards.synth`).

It returns a :class:`RunResult`; :mod:`ulpflow.nets.driver.report` prints its one-screen summary
and writes it as Markdown, JSON and a self-contained HTML page with plots.

Unlike the constructions, which import only :mod:`ulpflow.golden`, the driver sits on top of
every layer; it imports hdl, sim and boards only inside the stages that use them, so building and
checking in golden needs neither Amaranth nor Verilator.

Negative controls: with ``negative_control=True`` a construction whose assumption is broken
(``--tree`` for C4, ``subnormals="off"``, a two's-complement or wrap-around fixed-point format,
a C4 layer-cake ``order``) is built anyway; the result lists the broken assumptions
(:attr:`RunResult.violations`) next to the inputs where the network fails.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ulpflow.golden import parse_format
from ulpflow.nets import CONSTRUCTIONS, build
from ulpflow.nets.targets import Domain, parse_target
from ulpflow.nets.verify import check_intervals, check_pointwise

__all__ = ["RunOptions", "StageResult", "RunResult", "run", "construct", "format_name", "domain_for",
           "DEFAULT_ACTIVATION", "FORMS", "STAGES", "MAX_INTERVAL_BITS"]

#: The activation each construction is built with.
DEFAULT_ACTIVATION = {"c1": "relu", "c2": "step", "c3": "relu", "c4": "relu"}
FORMS = ("spatial", "folded")
STAGES = ("construct", "golden", "hardware", "verilator", "compare", "synthesis")
#: C4's interval check covers every box for input formats of at most this many bits.
MAX_INTERVAL_BITS = 8
#: C2 runs in hardware on every finite input of the domain up to this many points (else on the
#: data set only).
MAX_HARDWARE_DOMAIN = 1 << 16


@dataclass(frozen=True)
class RunOptions:
    """What to build and how to run it (the options of ``ulpflow construct`` and ``ulpflow run``).

    ``format`` is a format name; ``subnormals="off"`` appends ``_ftz`` and ``overflow="wrap"``
    ``_wrap`` (:func:`format_name`). ``target`` is a target spec (``random:SEED``,
    ``table:FILE.csv``, ``python:MODULE:FUNCTION``); for C2 ``random:SEED`` is a data set of
    ``points`` points. ``order`` is C4's layer-cake order. ``form``, ``engine`` and ``board`` are
    the hardware stages' options, ``effort`` the place-and-route effort of the synthesis
    (``"full"`` or ``"fast"``, see :data:`ulpflow.boards.PNR_EFFORTS`); ``hardware=False`` stops
    after the golden check. ``faults``
    (:class:`ulpflow.hdl.network.Fault` objects) builds the hardware with deliberate faults, to
    watch the comparison catch them.
    """

    construction: str
    format: str
    target: str
    activation: str | None = None
    tree: str = "sequential"
    rounding: str = "RNE"
    subnormals: str = "on"
    overflow: str = "sat"
    dims: int = 1
    points: int = 30
    order: str = "increasing"
    negative_control: bool = False
    form: str = "spatial"
    engine: str | None = None
    board: str | None = None
    effort: str = "full"
    hardware: bool = True
    faults: tuple = ()

    def __post_init__(self):
        if self.construction not in CONSTRUCTIONS:
            raise ValueError(f"unknown construction {self.construction!r}; expected one of "
                             f"{', '.join(CONSTRUCTIONS)}")
        want = DEFAULT_ACTIVATION[self.construction]
        if self.activation is not None and self.activation != want:
            raise ValueError(f"{self.construction} is built with the activation {want}, not {self.activation!r}")
        if self.form not in FORMS:
            raise ValueError(f"unknown form {self.form!r}; expected spatial or folded")
        if self.subnormals not in ("on", "off"):
            raise ValueError(f"subnormals must be 'on' or 'off', not {self.subnormals!r}")
        if self.overflow not in ("sat", "wrap"):
            raise ValueError(f"overflow must be 'sat' or 'wrap', not {self.overflow!r}")
        if isinstance(self.dims, bool) or not isinstance(self.dims, int) or self.dims < 1:
            raise ValueError(f"dims must be a positive integer, not {self.dims!r}")
        if isinstance(self.points, bool) or not isinstance(self.points, int) or self.points < 1:
            raise ValueError(f"points must be a positive integer, not {self.points!r}")
        if self.faults and not self.hardware:
            raise ValueError("faults are injected into the hardware; they need the hardware stages")
        if self.board is not None and not self.hardware:
            raise ValueError("a board needs the hardware stages (synthesis builds the network's hardware)")
        if self.effort not in ("full", "fast"):
            raise ValueError(f"effort must be 'full' or 'fast', not {self.effort!r}")
        if self.effort != "full" and self.board is None:
            raise ValueError(f"effort {self.effort!r} is a place-and-route effort: it needs a board")

    def command(self) -> str:
        """The ``ulpflow run`` command line that gives these options."""
        parts = ["ulpflow run", self.construction, "--format", self.format, "--target", self.target]
        defaults = RunOptions(self.construction, self.format, self.target)
        for name, flag in (("tree", "--tree"), ("rounding", "--rounding"), ("subnormals", "--subnormals"),
                           ("overflow", "--overflow"), ("dims", "--dims"), ("points", "--points"),
                           ("order", "--order"), ("form", "--form"), ("engine", "--engine"),
                           ("board", "--board"), ("effort", "--effort")):
            v = getattr(self, name)
            if v != getattr(defaults, name):
                parts += [flag, str(v)]
        if self.negative_control:
            parts.append("--negative-control")
        for f in self.faults:
            parts += ["--fault", ":".join(str(v) for v in (f.kind, f.layer, *f.args))]
        if not self.hardware:
            parts.append("--golden-only")
        return " ".join(parts)


@dataclass
class StageResult:
    """One stage: ``status`` is ``ok``, ``failed`` (a mismatch or an error), ``skipped`` (with
    the reason in ``detail``) or ``not run`` (an earlier stage failed)."""

    name: str
    status: str
    seconds: float | None = None
    detail: str = ""

    def to_json(self) -> dict:
        return dict(name=self.name, status=self.status, seconds=self.seconds, detail=self.detail)


@dataclass
class RunResult:
    """Everything one :func:`run` found.

    Members
    -------
    options : the :class:`RunOptions`
    construction : the :class:`~ulpflow.nets.Construction` (None if building it failed)
    target : the :class:`~ulpflow.nets.targets.Target`
    golden, intervals : :class:`~ulpflow.nets.verify.CheckResult` (intervals: C4 only)
    hw_inputs : input codes run in hardware, shape ``(n, d)``; ``golden_out`` / ``rtl_out`` the
        golden network's and the RTL's output codes on them, shape ``(n, n_out)``
    hw_mismatches : indices into ``hw_inputs`` where the RTL differs; ``divergence`` the first
        divergence report (text) when there is one
    hardware : facts about the generated hardware (form, latency, engine, …)
    synthesis : the :class:`~ulpflow.boards.SynthReport` (or None)
    stages : one :class:`StageResult` per stage of :data:`STAGES`
    plot_x, plot_out : inputs over which the report plots the network and its golden outputs
        (the target's points; for C2 every finite input when the domain is small)
    pending : with ``run(..., defer_synthesis=True)``, the synthesis stage still to run (a
        callable, :meth:`finish` runs it), else None
    """

    options: RunOptions
    construction: object = None
    target: object = None
    golden: object = None
    intervals: object = None
    hw_inputs: np.ndarray | None = None
    golden_out: np.ndarray | None = None
    rtl_out: np.ndarray | None = None
    hw_mismatches: np.ndarray | None = None
    divergence: str = ""
    hardware: dict = field(default_factory=dict)
    synthesis: object = None
    stages: list = field(default_factory=list)
    plot_x: np.ndarray | None = None
    plot_out: np.ndarray | None = None
    pending: object = None

    def stage(self, name) -> StageResult:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(f"stage {name!r} has not run" + (" (synthesis is pending: call finish())"
                                                      if self.pending is not None else ""))

    def finish(self, progress=None) -> RunResult:
        """Run the deferred synthesis stage, if any (it may run on another thread: Yosys and
        nextpnr are processes of their own); returns self."""
        job, self.pending = self.pending, None
        if job is not None:
            job(progress or (lambda stage, text: None))
        return self

    @property
    def violations(self) -> tuple:
        return self.construction.violations if self.construction is not None else ()

    @property
    def negative_control(self) -> bool:
        return bool(self.violations)

    @property
    def golden_mismatches(self) -> int:
        n = self.golden.mismatches if self.golden is not None else 0
        return n + (self.intervals.mismatches if self.intervals is not None else 0)

    @property
    def rtl_mismatch_count(self) -> int:
        return 0 if self.hw_mismatches is None else int(self.hw_mismatches.size)

    @property
    def ok(self) -> bool:
        """No mismatch anywhere, no stage failed and none is pending."""
        return (self.pending is None and self.golden is not None and self.golden_mismatches == 0 and self.rtl_mismatch_count == 0
                and not any(s.status == "failed" for s in self.stages))

    @property
    def total_seconds(self) -> float:
        return sum(s.seconds or 0.0 for s in self.stages)


# ---------------------------------------------------------------------------- the golden half
def format_name(name: str, subnormals: str = "on", overflow: str = "sat") -> str:
    """The format name with ``_ftz`` (``subnormals="off"``) and ``_wrap`` (``overflow="wrap"``)."""
    return name + ("_ftz" if subnormals == "off" else "") + ("_wrap" if overflow == "wrap" else "")


def domain_for(construction: str | None, fmt, dims: int = 1) -> Domain:
    """The domain a construction works on: every finite value of ``fmt`` (C4: those in [−1, 1]),
    to the power ``dims``."""
    if construction == "c4":
        return Domain(fmt, dims, Fraction(-1), Fraction(1))
    return Domain(fmt, dims)


def construct(opts: RunOptions):
    """Build ``opts``' construction: ``(construction, target, domain)``."""
    fmt = parse_format(format_name(opts.format, opts.subnormals, opts.overflow))
    dom = domain_for(opts.construction, fmt, opts.dims)
    target = parse_target(opts.target, dom, dataset=opts.construction == "c2", dataset_size=opts.points)
    c = build(opts.construction, target, tree=opts.tree, rounding=opts.rounding, order=opts.order,
              allow_violations=opts.negative_control)
    return c, target, dom


def _full_domain(opts, target):
    """The domain of a data set's format when it is small enough to run whole, else None."""
    full = domain_for(opts.construction, target.in_format, target.d)
    return full if full.size <= MAX_HARDWARE_DOMAIN else None


def _plot_inputs(opts, target):
    if target.whole_domain:
        return target.points
    full = _full_domain(opts, target)
    return target.points if full is None else full.points()


def _hardware_inputs(opts, c, target, dom):
    """Every input of the domain (C2: of the whole finite domain when it is small enough)."""
    if target.whole_domain:
        return target.points, f"every input of {dom}"
    full = _full_domain(opts, target)
    if full is not None:
        return full.points(), f"every input of {full} (the {len(target)}-point data set included)"
    return target.points, f"the {len(target)}-point data set"


def run(opts: RunOptions, *, progress=None, defer_synthesis=False) -> RunResult:
    """Run the chain of the module docstring; ``progress(stage, text)`` is called as stages start
    and during long ones. Errors that make a stage impossible (a bad option, an assumption broken
    without ``negative_control``, an unrepresentable constant) propagate as ``ValueError`` before
    anything ran; a failure of a hardware stage is recorded in its :class:`StageResult`.

    With ``defer_synthesis`` the synthesis stage (``--board``) is not run but left in
    ``result.pending``: :meth:`RunResult.finish` runs it, so that a caller can place and route
    several networks at once (``python -m ulpflow.demo --board`` does)."""
    say = progress or (lambda stage, text: None)
    if opts.hardware and opts.engine is not None:
        from ulpflow.sim.network import NETWORK_ENGINES
        if opts.engine not in NETWORK_ENGINES:
            raise ValueError(f"unknown engine {opts.engine!r}; expected one of {', '.join(NETWORK_ENGINES)}")
    if opts.board is not None:
        from ulpflow.boards import get_target
        get_target(opts.board)
    res = RunResult(opts)
    timer = _Timer(res)
    # 1. construct (errors propagate: there is nothing to report without a network)
    say("construct", f"building {opts.construction} for {opts.target}")
    with timer("construct") as st:
        c, target, dom = construct(opts)
        res.construction, res.target = c, target
        st.detail = str(c.size)
    net = c.network
    # 2. golden
    say("golden", f"golden check on {len(target)} {'data points' if not target.whole_domain else 'inputs'}")
    with timer("golden") as st:
        res.golden = check_pointwise(net, target)
        res.plot_x = _plot_inputs(opts, target)
        res.plot_out = net(res.plot_x)
        st.detail = str(res.golden)
        if opts.construction == "c4" and target.in_format.bits <= MAX_INTERVAL_BITS and target.d == 1:
            say("golden", "interval semantics on every box")
            res.intervals = check_intervals(net, target)
            st.detail += f"; intervals: {res.intervals}"
        if res.golden_mismatches:
            st.status = "failed"
    # 3-6. hardware
    if not opts.hardware:
        for name in STAGES[2:]:
            res.stages.append(StageResult(name, "skipped", None, "--golden-only"))
        return res
    _hardware_stages(res, opts, net, c, target, dom, timer, say, defer_synthesis)
    return res


def _hardware_stages(res, opts, net, c, target, dom, timer, say, defer_synthesis=False):
    from ulpflow.sim.compare import codes_equal
    from ulpflow.sim import VerilatorRunner
    from ulpflow.sim.network import SPLIT_ARGS, NetworkSimulator, locate_divergence

    x, what = _hardware_inputs(opts, c, target, dom)
    say("hardware", f"generating the {opts.form} hardware and building it in Verilator (cached after the "
                    "first build)")
    sim = None
    with timer("hardware") as st:
        # An unrolled construction is thousands of units and the run is at most the domain's
        # 65,536 vectors: a model compiled at -O0 builds several times faster and still runs
        # them in seconds. (Folded models are small; they keep Verilator's -Os.)
        runner = VerilatorRunner(build_args=SPLIT_ARGS, cxx_opt="-O0" if opts.form == "spatial" else None)
        sim = NetworkSimulator(net, form=opts.form, engine=opts.engine, runner=runner, _faults=opts.faults)
        top = sim.top
        sim.build()
        cached = bool(sim.timings.get("build_cached"))
        res.hardware = dict(form=opts.form, latency=top.latency, cycles_per_vector=top.cycles_per_vector,
                            inputs=what, engine=sim.engine, build_cached=cached)
        st.detail = (f"{opts.form} NetworkTop, " + (f"latency {top.latency} cycles, " if top.latency is not None
                                                     else "") + f"{top.cycles_per_vector} cycle(s) per vector; "
                     f"Verilator build{' (cached)' if cached else ''}")
    if st.status == "failed":
        return _not_run(res, STAGES[3:])
    say("verilator", f"Verilator on {x.shape[0]} inputs ({what})")
    with timer("verilator") as st:
        rtl = np.asarray(sim.run(x))
        st.detail = f"{x.shape[0]} inputs, engine {sim.engine}"
    if st.status == "failed":
        return _not_run(res, STAGES[4:])
    say("compare", "comparing with golden")
    with timer("compare") as st:
        gold = net(x)
        if rtl.shape != gold.shape:
            raise ValueError(f"the hardware returned outputs of shape {rtl.shape}, expected {gold.shape}")
        fmt = net.out_format
        ok = np.ones(x.shape[0], bool)
        for k in range(gold.shape[1]):
            ok &= codes_equal(rtl[:, k], gold[:, k], fmt)
        bad = np.flatnonzero(~ok)
        res.hw_inputs, res.golden_out, res.rtl_out, res.hw_mismatches = x, gold, rtl, bad
        st.detail = f"{x.shape[0]} inputs, {bad.size} mismatches"
        if bad.size:
            st.status = "failed"
            i = bad[0]
            fin = net.in_format
            res.divergence = (f"first mismatch: x = ({', '.join(fin.show(v) for v in x[i])}): golden "
                              f"{', '.join(fmt.show(v) for v in gold[i])}, RTL {', '.join(fmt.show(v) for v in rtl[i])}")
            say("compare", "locating the first divergence (simulating the layers and the neuron alone)")
            try:
                report = locate_divergence(net, x[i:i + 1], rtl[i:i + 1], form=opts.form, engine=opts.engine,
                                           runner=runner, _faults=opts.faults)
            except Exception as e:  # a diagnosis: it must not hide the mismatch itself
                report = f"(the first-divergence report failed: {type(e).__name__}: {e})"
            if report is not None:
                res.divergence += "\n" + str(report)
    if opts.board is None:
        res.stages.append(StageResult("synthesis", "skipped", None, "no --board"))
        return
    if defer_synthesis:
        res.pending = lambda progress: _synthesis_stage(res, opts, top, timer, progress)
    else:
        _synthesis_stage(res, opts, top, timer, say)


def _synthesis_stage(res, opts, top, timer, say):
    from ulpflow.boards import get_target, synthesize
    # ECP5: the classic LUT mapper (Yosys 0.70's abc9 fails an internal assertion on some
    # folded layers, and abc maps these networks several times faster)
    mapper = "abc" if get_target(opts.board).family == "ecp5" else "abc9"
    say("synthesis", f"synthesis, place and route for {opts.board} (Yosys with {mapper}, nextpnr"
                     f"{', fast effort' if opts.effort == 'fast' else ''}; cached by design)")
    with timer("synthesis") as st:
        rep = synthesize(top, opts.board, mapper=mapper, effort=opts.effort)
        res.synthesis = rep
        st.detail = _synth_text(rep)
        if rep.error:
            st.status = "failed"


def _synth_text(rep) -> str:
    s = f"{rep.target}: {rep.luts} LUTs, {rep.ffs} FFs, {rep.dsps} DSPs, {rep.brams} BRAMs"
    if rep.fmax is not None:
        s += f", Fmax {rep.fmax:.1f} MHz"
        if getattr(rep, "effort", "full") != "full":
            s += f" ({rep.effort} place and route: no timing-driven placement)"
    if not rep.fits:
        s += " — does not fit" + (f" ({rep.overshoot})" if rep.overshoot else "")
    if rep.error:
        s += f" — error: {rep.error}"
    if rep.cached:
        s += " (cached report)"
    return s


def _not_run(res, names):
    for name in names:
        res.stages.append(StageResult(name, "not run", None, "an earlier stage failed"))


class _Timer:
    """``with timer(name) as st:`` appends a StageResult with the elapsed time; an exception
    inside a hardware stage marks it failed (with the message) instead of propagating."""

    def __init__(self, res):
        self.res = res

    def __call__(self, name):
        return _Stage(self.res, name)


class _Stage:
    def __init__(self, res, name):
        self.res, self.st = res, StageResult(name, "ok")

    def __enter__(self):
        self.t0 = time.perf_counter()
        return self.st

    def __exit__(self, kind, exc, tb):
        self.st.seconds = time.perf_counter() - self.t0
        self.res.stages.append(self.st)
        if exc is None or self.st.name in ("construct", "golden") or not isinstance(exc, Exception):
            return False
        self.st.status = "failed"
        self.st.detail = f"{type(exc).__name__}: {exc}"
        return True
