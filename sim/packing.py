"""Packing of vectors: the port model every engine shares, the vector/result files, the job table.

A unit's data ports come from its signature (:func:`unit_ports`):

* a member whose signature is an :class:`amaranth.lib.stream.Signature` is a stream: its payload
  fields are data ports (named as :func:`ulpflow.hdl.signature.stream_fields` names them: ``a``,
  ``terms__3``, ``result``), its ``valid`` is the handshake the simulator drives (input streams)
  or reads (output streams). Streams are recognised by their signature, never by a member name;
* any other member is a plain data port, named after its path joined by ``__`` (as Amaranth
  names the Verilog port).

A packed vector is a row of little-endian 32-bit words: a port of up to 32 bits takes one word
(at ``offset``), a wider one (up to 64 bits) two. The C++ engine, the bulk cocotb bench and the
per-cycle engine all read and write that layout (:func:`write_vectors`, :func:`read_results`);
the job table (:func:`job_table`) is the JSON an engine running inside the simulator reads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import SimulationError

__all__ = [
    "MAX_PORT_BITS",
    "Port",
    "UnitPorts",
    "check_latency",
    "convert_ports",
    "job_table",
    "load_expected",
    "port_table",
    "ports_from_table",
    "read_results",
    "read_vectors",
    "save_expected",
    "to_bits",
    "unit_ports",
    "verilog_ports",
    "write_vectors",
]

#: Widest data port the packed layout carries.
MAX_PORT_BITS = 64


@dataclass(frozen=True)
class Port:
    """One data port of the unit as the simulator sees it.

    ``offset`` is the index of the port's first 32-bit word in the packed vector; a port takes
    one word up to 32 bits and two up to 64. ``verilog`` is the Verilog port that carries it
    (the port's own name for a plain port, ``i__payload`` / ``o__payload`` for a stream field)
    and ``bit`` the field's first bit there; ``format`` the golden format its codes are in, when
    the unit's signature records one.
    """

    name: str
    width: int
    signed: bool
    offset: int
    verilog: str | None = None
    bit: int = 0
    format: object = field(default=None, compare=False)

    @property
    def words(self) -> int:
        return (self.width + 31) // 32

    @property
    def dtype(self) -> np.dtype:
        """Smallest unsigned dtype holding the port's codes."""
        for dt in (np.uint8, np.uint16, np.uint32, np.uint64):
            if self.width <= np.dtype(dt).itemsize * 8:
                return np.dtype(dt)
        raise AssertionError("ports are at most 64 bits")

    @property
    def port(self) -> str:
        """The Verilog port carrying this data port."""
        return self.verilog or self.name


@dataclass(frozen=True)
class UnitPorts:
    """The port model of a unit: data ports in packed order and the stream handshakes.

    ``verilog_in`` / ``verilog_out`` map each Verilog data port to ``(width, ports)``, the data
    ports it carries; ``valid_in`` lists the Verilog ``valid`` ports of the input streams (the
    simulator drives them), ``valid_out`` the ``valid`` port of the output stream (or None).
    ``ready_in`` is the ``ready`` port of the input stream (the unit drives it; None for an
    always-ready stream), ``ready_out`` the ``ready`` port of the output stream (the simulator
    drives it; None for an always-ready stream). A vector is taken on a rising edge where its
    valid and ready are both high.
    """

    name: str
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]
    in_words: int
    out_words: int
    valid_in: tuple[str, ...]
    valid_out: str | None
    verilog_in: dict
    verilog_out: dict
    ready_in: str | None = None
    ready_out: str | None = None

    @property
    def has_ready(self) -> bool:
        """Whether either stream has back-pressure (a ready signal)."""
        return bool(self.ready_in or self.ready_out)

    @property
    def formats(self) -> dict:
        """Golden format per data port, where the signature records one."""
        return {p.name: p.format for p in self.inputs + self.outputs if p.format is not None}

    @property
    def expected_verilog(self) -> set[str]:
        """Every Verilog port the unit must have (clock and reset aside)."""
        names = set(self.verilog_in) | set(self.verilog_out) | set(self.valid_in)
        if self.valid_out:
            names.add(self.valid_out)
        names.update(r for r in (self.ready_in, self.ready_out) if r)
        return names


def check_latency(latency, what: str = "latency"):
    """``latency`` as a Python int (or None), by the rule the ``ulpflow.hdl`` units apply: a
    non-negative Python or NumPy integer; bools, floats and anything else are refused."""
    if latency is None:
        return None
    if isinstance(latency, (bool, np.bool_)) or not isinstance(latency, (int, np.integer)):
        raise TypeError(f"{what} must be an integer number of cycles, not {latency!r}")
    if latency < 0:
        raise ValueError(f"{what} must be >= 0, got {latency}")
    return int(latency)


def _is_stream(member) -> bool:
    from amaranth.lib import stream

    return member.is_signature and isinstance(member.signature, stream.Signature)


def unit_ports(unit) -> UnitPorts:
    """The port model of an Amaranth component, from its signature (see the module docstring)."""
    from amaranth.hdl import Shape
    from amaranth.lib import wiring

    from ulpflow.hdl.signature import stream_fields

    if not isinstance(unit, wiring.Component):
        raise TypeError(
            f"simulate() needs an amaranth.lib.wiring.Component (ports from its signature), "
            f"got {type(unit).__name__}"
        )
    name = type(unit).__name__
    signature = unit.signature
    ins: list[tuple] = []   # (name, width, signed, verilog port, bit, format)
    outs: list[tuple] = []
    widths_in: dict[str, int] = {}
    widths_out: dict[str, int] = {}
    valid_in: list[str] = []
    valid_out: list[str] = []
    ready_in: list[str] = []
    ready_out: list[str] = []
    streams = {k for k, m in signature.members.items() if _is_stream(m)}
    for key in streams:
        member = signature.members[key]
        sig = member.signature
        if not sig.always_ready:
            (ready_in if member.flow == wiring.In else ready_out).append(f"{key}__ready")
        payload = Shape.cast(sig.members["payload"].shape).width
        (valid_in if member.flow == wiring.In else valid_out).append(f"{key}__valid")
        if payload:
            (widths_in if member.flow == wiring.In else widths_out)[f"{key}__payload"] = payload
    for flow, into in ((wiring.In, ins), (wiring.Out, outs)):
        for f in stream_fields(signature, flow):
            into.append((f.name, f.width, f.signed, f.port, f.offset, f.format))
    for path, member, _value in signature.flatten(unit):
        if path[0] in streams:
            continue
        port = "__".join(map(str, path))
        shape = Shape.cast(member.shape)
        entry = (port, shape.width, shape.signed, port, 0, None)
        if member.flow == wiring.In:
            ins.append(entry)
            widths_in[port] = shape.width
        else:
            outs.append(entry)
            widths_out[port] = shape.width
    if len(valid_out) > 1:
        raise ValueError(f"{name} has {len(valid_out)} output streams; simulate() reads one")
    if len(ready_in) > 1:
        raise ValueError(f"{name} has {len(ready_in)} input streams with a ready signal; simulate() "
                         "drives one")
    for fname, width, *_ in ins + outs:
        if width > MAX_PORT_BITS:
            raise ValueError(
                f"port {fname!r} of {name} is {width} bits wide; "
                f"simulate() handles ports of at most {MAX_PORT_BITS} bits"
            )
    # a zero-width port carries nothing and does not exist in the Verilog
    ins = [p for p in ins if p[1]]
    outs = [p for p in outs if p[1]]
    if not ins:
        raise ValueError(f"{name} has no data input port; simulate() needs one")
    if not outs:
        raise ValueError(f"{name} has no data output port; simulate() needs one")
    inputs, in_words = _layout(ins)
    outputs, out_words = _layout(outs)
    return UnitPorts(
        name, inputs, outputs, in_words, out_words, tuple(valid_in), valid_out[0] if valid_out else None,
        _carriers(inputs, widths_in), _carriers(outputs, widths_out),
        ready_in[0] if ready_in else None, ready_out[0] if ready_out else None,
    )


def _layout(ports) -> tuple[tuple[Port, ...], int]:
    result, offset = [], 0
    for name, width, signed, verilog, bit, fmt in ports:
        port = Port(name, width, signed, offset, verilog, bit, fmt)
        result.append(port)
        offset += port.words
    return tuple(result), offset


def _carriers(ports, widths) -> dict[str, tuple[int, tuple[Port, ...]]]:
    out = {}
    for verilog, width in widths.items():
        carried = tuple(p for p in ports if p.port == verilog)
        if width and carried:
            out[verilog] = (width, carried)
    return out


def convert_ports(unit) -> list[tuple]:
    """The ``ports=`` of Amaranth's ``verilog.convert`` for ``unit``: the ports of
    :func:`ulpflow.hdl.verilog.verilog_ports` (signal members with their declared direction;
    constant and zero-width members are no Verilog ports)."""
    from ulpflow.hdl.verilog import verilog_ports as unit_verilog_ports

    return [(name, v, d) for name, (v, d) in unit_verilog_ports(unit).items()]


def verilog_ports(verilog: str, module: str) -> dict[str, str]:
    """Direction of each port of ``module`` in Yosys-written Verilog."""
    start = verilog.find(f"module {module}(")
    if start < 0:
        raise RuntimeError(f"module {module} not found in the generated Verilog")
    end = verilog.find("endmodule", start)
    body = verilog[start:end]
    found = {}
    declaration = r"^\s*(input|output|inout)\s+(?:signed\s+)?(?:\[[^\]]*\]\s*)?(\S+)\s*;"
    for direction, name in re.findall(declaration, body, flags=re.M):
        found[name.lstrip("\\")] = direction
    return found


def to_bits(port: Port, arr: np.ndarray, what: str = "input") -> np.ndarray:
    """Codes as uint64 bit patterns, checked against the port width.

    An out-of-range code raises ``ValueError`` naming the first such code and its index.
    """
    if arr.size == 0:
        return arr.astype(np.uint64)
    w = port.width
    if arr.dtype.kind == "u":
        if w < 64:
            bad = arr.astype(np.uint64) >= np.uint64(1 << w)
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(
                    f"{what} {port.name!r}: code {int(arr.flat[i])} (at index {i}) does not fit {w} bits; "
                    f"expected 0 <= code < {1 << w}"
                )
        return arr.astype(np.uint64)
    a = arr.astype(np.int64)
    low = -(1 << (w - 1)) if port.signed else 0
    high = (1 << w) - 1
    bad = (a < low) | (a > high) if w < 64 else (a < low)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"{what} {port.name!r}: value {int(a.flat[i])} (at index {i}) does not fit the "
            f"{'signed' if port.signed else 'unsigned'} {w}-bit port; expected {low} <= value <= {high}"
        )
    return a.view(np.uint64) & np.uint64((1 << w) - 1 if w < 64 else 0xFFFFFFFFFFFFFFFF)


# ----------------------------------------------------------------------------------------------
# Files of one run


def write_vectors(path: Path, ports, in_words: int, bits: dict[str, np.ndarray], n: int, block: int = 1 << 20) -> None:
    """Write ``n`` packed input vectors: ``in_words`` little-endian 32-bit words each, a port
    of up to 32 bits in word ``offset``, a wider one in words ``offset`` (low) and ``offset + 1``."""
    with open(path, "wb") as handle:
        for lo in range(0, n, block):
            hi = min(n, lo + block)
            words = np.zeros((hi - lo, in_words), dtype="<u4")
            for p in ports:
                v = bits[p.name][lo:hi]
                words[:, p.offset] = (v & np.uint64(0xFFFFFFFF)).astype(np.uint32)
                if p.words == 2:
                    words[:, p.offset + 1] = (v >> np.uint64(32)).astype(np.uint32)
            words.tofile(handle)


def _unpack(words: np.ndarray, ports, dtype: bool) -> dict[str, np.ndarray]:
    out = {}
    for p in ports:
        v = words[:, p.offset].astype(np.uint64)
        if p.words == 2:
            v |= words[:, p.offset + 1].astype(np.uint64) << np.uint64(32)
        v &= np.uint64((1 << p.width) - 1) if p.width < 64 else np.uint64(0xFFFFFFFFFFFFFFFF)
        out[p.name] = v.astype(p.dtype) if dtype else v
    return out


def read_vectors(path: Path, ports, in_words: int) -> dict[str, np.ndarray]:
    """Inverse of :func:`write_vectors`: each port's codes as uint64."""
    return _unpack(np.fromfile(path, dtype="<u4").reshape(-1, in_words), ports, False)


def read_results(path: Path, ports, out_words: int, n: int | None = None) -> dict[str, np.ndarray]:
    """Output codes per port (smallest unsigned dtype) from a results file of the same layout."""
    words = np.fromfile(path, dtype="<u4")
    if n is not None and words.size != n * out_words:
        raise SimulationError(f"the results file holds {words.size // max(out_words, 1)} results, expected {n}")
    return _unpack(words.reshape(-1, out_words), ports, True)


# ----------------------------------------------------------------------------------------------
# The job table (JSON read by the engines that run inside the simulator)


def port_table(ports) -> list[dict]:
    """JSON form of a port list (for the job file)."""
    return [{"name": p.name, "width": p.width, "signed": p.signed, "offset": p.offset,
             "verilog": p.port, "bit": p.bit} for p in ports]


def ports_from_table(table) -> list[Port]:
    """Inverse of :func:`port_table` (formats are carried separately, by name)."""
    return [Port(d["name"], d["width"], d["signed"], d["offset"], d.get("verilog"), d.get("bit", 0))
            for d in table]


def save_expected(folder: Path, expected, formats) -> dict:
    """Write expected codes (npz) and format names for the scoreboard; return the job entries."""
    np.savez(folder / "expected.npz", **{k: np.ascontiguousarray(v) for k, v in expected.items()})
    names = None if formats is None else {k: str(f) for k, f in formats.items()}
    return {"expected_file": str(folder / "expected.npz"), "formats": names}


def load_expected(job):
    """The scoreboard's expected codes and formats, or ``(None, None)``."""
    if not job.get("expected_file"):
        return None, None
    from ulpflow.golden import parse_format

    with np.load(job["expected_file"]) as data:
        expected = {k: data[k] for k in data.files}
    names = job.get("formats")
    formats = None if names is None else {k: parse_format(v) for k, v in names.items()}
    return expected, formats


def job_table(ports: UnitPorts, folder: Path, *, n: int, latency, timeout: int, name: str,
              has_clock: bool, expected: Mapping | None = None, formats=None, exact: bool = False) -> dict:
    """The entries every in-simulator engine reads: counts, protocol, ports, expected codes
    (``exact``: the scoreboard compares codes only, the formats decode its report)."""
    job = {
        "n": n,
        "latency": latency,
        "timeout": timeout,
        "name": name,
        "has_clock": has_clock,
        "in_ports": port_table(ports.inputs),
        "out_ports": port_table(ports.outputs),
        "in_words": ports.in_words,
        "out_words": ports.out_words,
    }
    if expected is not None:
        job.update(save_expected(folder, expected, formats), exact=bool(exact))
    return job
