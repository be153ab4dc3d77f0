"""Port declarations shared by every ulpflow unit: a named ``wiring.Signature`` with streams.

A unit takes its operands on one input stream ``i`` and gives its results on one output stream
``o`` (:class:`amaranth.lib.stream.Signature`: ``payload``, ``valid``, ``ready``). The payload is
a :class:`~amaranth.lib.data.StructLayout` whose fields are the data ports (``a``, ``b`` →
``result``; ``terms`` → ``result``), so a network top chains units with ``wiring.connect`` and a
bench finds the data ports by walking the payload layout — never by matching name strings.
Pipelined units accept a vector every cycle and never stall: both streams are built with
``always_ready=True`` (the ``ready`` members are the constant 1 and do not appear in Verilog).

Every field records the golden format of its codes (where it carries codes), so a bench can decode
a mismatch with nothing but the unit.

Verilog ports: ``i__payload`` (the fields packed, the first field at bit 0), ``i__valid``,
``o__payload``, ``o__valid``, plus any side members under their own names.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Shape, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ulpflow.golden.formats import FixedFormat, FloatFormat

__all__ = ["Field", "UnitSignature", "stream_fields", "chain"]


def _field_shape(name, spec):
    """``(layout member shape, {leaf name: format or None})`` of one payload field."""
    if isinstance(spec, (FloatFormat, FixedFormat)):
        return spec.bits, {name: spec}
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], (FloatFormat, FixedFormat)):
        fmt, count = spec
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"array field {name!r} needs a positive element count, not {count!r}")
        return data.ArrayLayout(fmt.bits, count), {f"{name}__{k}": fmt for k in range(count)}
    try:
        shape = Shape.cast(spec)
    except TypeError:
        raise TypeError(f"field {name!r} must be a format, (format, count) or a shape, "
                        f"not {spec!r}") from None
    return shape, {name: None}


@dataclass(frozen=True)
class Field:
    """One data port of a stream payload as a bench sees it.

    ``name`` is the field's path inside the payload joined by ``__`` (``a``, ``terms__3``);
    ``port`` the Verilog port that carries it (``i__payload``) and ``offset`` its first bit there;
    ``format`` the golden format of its codes, or ``None`` for a plain integer field.
    """

    name: str
    port: str
    offset: int
    width: int
    signed: bool
    format: object = None


class UnitSignature(wiring.Signature):
    """Ports of a unit: input stream ``i``, output stream ``o``, optional side members.

    Parameters
    ----------
    inputs, outputs : dict
        Payload fields, in order: ``name -> format`` (a code of that format),
        ``name -> (format, count)`` (an array of codes) or ``name -> shape`` (a plain integer).
    side : dict, optional
        Further members outside the streams (``name -> In(...)/Out(...)``), e.g. the term index
        a folded unit asks its source for.
    always_ready : bool
        Build both streams without back-pressure (the pipelined units: one vector per cycle).

    Members
    -------
    i : In(stream.Signature(StructLayout(inputs)))
    o : Out(stream.Signature(StructLayout(outputs)))
    """

    def __init__(self, inputs, outputs, *, side=None, always_ready=True):
        self.inputs = dict(inputs)
        self.outputs = dict(outputs)
        self.side = dict(side or {})
        self.always_ready = bool(always_ready)
        self.formats = {}
        layouts = []
        for fields in (self.inputs, self.outputs):
            members = {}
            for name, spec in fields.items():
                members[name], leaves = _field_shape(name, spec)
                self.formats.update(leaves)
            layouts.append(data.StructLayout(members))
        for name in self.side:
            if name in ("i", "o"):
                raise ValueError(f"side member {name!r} clashes with a stream member")
        super().__init__({
            "i": In(stream.Signature(layouts[0], always_ready=self.always_ready)),
            "o": Out(stream.Signature(layouts[1], always_ready=self.always_ready)),
            **self.side,
        })

    @classmethod
    def unary(cls, in_format, out_format, **kwargs):
        """``a`` -> ``result``: the signature of a one-operand unit (conversion, activation)."""
        return cls({"a": in_format}, {"result": out_format}, **kwargs)

    @classmethod
    def binary(cls, a_format, b_format, out_format, **kwargs):
        """``a``, ``b`` -> ``result``: the signature of a two-operand unit (adder, multiplier)."""
        return cls({"a": a_format, "b": b_format}, {"result": out_format}, **kwargs)

    def input_names(self):
        """Leaf names of the input payload (``a``, ``b``; ``terms__0`` ...), in order."""
        return [f.name for f in stream_fields(self, wiring.In)]

    def output_names(self):
        """Leaf names of the output payload (``result`` ...), in order."""
        return [f.name for f in stream_fields(self, wiring.Out)]

    def cast_inputs(self, inputs, what="unit"):
        """Check that ``inputs`` names exactly the input payload fields and that every value
        fits its field, and return arrays: codes of the field's format (its ``check_codes``),
        plain fields as int64. Used by every unit's ``emulate``."""
        fields = {f.name: f for f in stream_fields(self, wiring.In)}
        missing = [n for n in fields if n not in inputs]
        unknown = [n for n in inputs if n not in fields]
        if missing or unknown:
            wrong = f"missing {missing}" if missing else f"unknown {unknown}"
            raise ValueError(f"{what} takes the inputs {list(fields)}; {wrong}")
        out = {}
        for name, f in fields.items():
            arr = np.asarray(inputs[name])
            if f.format is not None:
                out[name] = f.format.check_codes(arr)
                continue
            if arr.dtype.kind not in "uib":
                raise TypeError(f"input {name!r} of {what} must be integers, not {arr.dtype}")
            arr = arr.astype(np.int64)
            lo, hi = (-(1 << (f.width - 1)), (1 << (f.width - 1)) - 1) if f.signed else (
                0, (1 << f.width) - 1)
            if arr.size and (arr.min() < lo or arr.max() > hi):
                bad = int(arr.min()) if arr.min() < lo else int(arr.max())
                raise ValueError(f"input {name!r} of {what} is {bad}, outside its field "
                                 f"({lo} .. {hi})")
            out[name] = arr
        return out

    def _key(self):
        # field order matters: it fixes the payload layout (offsets)
        return (tuple(self.inputs.items()), tuple(self.outputs.items()),
                tuple(self.side.items()), self.always_ready)

    def __eq__(self, other):
        return type(other) is type(self) and self._key() == other._key()

    def __hash__(self):
        # side members need not be hashable: their names stand for them (equal keys still
        # give equal hashes)
        return hash((type(self), tuple(self.inputs.items()), tuple(self.outputs.items()),
                     tuple(self.side), self.always_ready))

    def __repr__(self):
        def spec(v):
            return f"({v[0]}, {v[1]})" if isinstance(v, tuple) else str(v)

        def show(fields):
            return "{" + ", ".join(f"{k!r}: {spec(v)}" for k, v in fields.items()) + "}"
        side = f", side={show(self.side)}" if self.side else ""
        ready = "" if self.always_ready else ", always_ready=False"
        return (f"UnitSignature(inputs={show(self.inputs)}, outputs={show(self.outputs)}"
                f"{side}{ready})")


def _leaves(layout, prefix, offset):
    """Leaf fields of a payload layout: ``(name, offset, shape)`` in bit order."""
    if isinstance(layout, data.StructLayout):
        for name, field in layout:
            yield from _leaves(field.shape, f"{prefix}__{name}" if prefix else str(name),
                               offset + field.offset)
    elif isinstance(layout, data.ArrayLayout):
        width = Shape.cast(layout.elem_shape).width
        for k in range(layout.length):
            yield from _leaves(layout.elem_shape, f"{prefix}__{k}", offset + k * width)
    else:
        yield prefix, offset, Shape.cast(layout)


def stream_fields(signature, flow):
    """The data fields of every stream member of ``signature`` whose data flows ``flow``.

    ``flow`` is ``wiring.In`` (the unit's inputs) or ``wiring.Out`` (its outputs). Streams are
    recognised by their signature (:class:`amaranth.lib.stream.Signature`), and a field's format
    is read from a :class:`UnitSignature`'s records. Returns a list of :class:`Field`.
    """
    formats = getattr(signature, "formats", {})
    fields = []
    for name, member in signature.members.items():
        if not (member.is_signature and isinstance(member.signature, stream.Signature)):
            continue
        if member.flow != flow:
            continue
        shape = member.signature.members["payload"].shape
        port = f"{name}__payload"
        for leaf, offset, s in _leaves(shape, "", 0):
            if not leaf:
                leaf = name  # a payload that is a bare shape: name the field after the stream
            fields.append(Field(leaf, port, offset, s.width, s.signed, formats.get(leaf)))
    return fields


def chain(m, source, sink):
    """Feed ``sink``'s input stream from ``source``'s output stream (in module ``m``).

    ``wiring.connect`` joins streams whose payload layouts are equal, field names included (a
    top's own ``i`` to its first unit's ``i``). Between two units the names differ (``result``
    -> ``a``): ``chain`` joins them when the leaf fields agree in order, width and format, and
    raises naming the first difference otherwise. The valid (and, without ``always_ready``, the
    ready) signals are connected too.
    """
    out = stream_fields(source.signature, wiring.Out)
    inp = stream_fields(sink.signature, wiring.In)
    shape = [(f.width, f.signed, f.format) for f in out]
    want = [(f.width, f.signed, f.format) for f in inp]
    if shape != want:
        raise ValueError(f"cannot chain {source!r} into {sink!r}: output fields "
                         f"{[(f.name, f.format or f.width) for f in out]} do not match input "
                         f"fields {[(f.name, f.format or f.width) for f in inp]}")
    m.d.comb += [Value.cast(sink.i.payload).eq(Value.cast(source.o.payload)),
                 sink.i.valid.eq(source.o.valid)]
    ready = (source.signature.members["o"].signature.always_ready
             and sink.signature.members["i"].signature.always_ready)
    if not ready:
        m.d.comb += source.o.ready.eq(sink.i.ready)
