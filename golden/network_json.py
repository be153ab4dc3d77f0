"""The network JSON format (docs/network-format.md): writer and strict reader.

The writer (:func:`network_to_json`, :func:`layer_to_json`) reads networks and layers through
their public members. The reader (:func:`read_network`, :func:`loads`) checks every key, type
and code of a document and builds the layers with a factory it is given (``Layer``), so this
module needs nothing of :mod:`ulpflow.golden.network`. Every error is one ``ValueError`` whose
message starts with ``network JSON:`` and names the place (``layers[1].weights[3][0]``).

Strictness: unknown keys are refused at every level (top, layer, activation); a number must be
a JSON integer, never ``true``/``false``; a code is ``0x`` followed by exactly ``ceil(bits/4)``
hex digits (either case); the activation object must say ``"kind": "ulpflow.activation"`` and a
``version`` this reader knows; a tree or any other value nested too deeply for the JSON parser
is reported with its place instead of a ``RecursionError``.
"""

from __future__ import annotations

import json
import re

import numpy as np

from .activations import ACTIVATION_JSON_KIND, TABLE_VERSION, activation_from_json
from .formats import as_format
from .rounding import check_rounding
from .tree import Tree

__all__ = ["NETWORK_JSON_FORMAT", "NETWORK_JSON_VERSION", "NETWORK_JSON_VERSIONS", "ACTIVATION_JSON_KIND", "ACTIVATION_JSON_VERSION",
           "network_to_json", "layer_to_json", "read_network", "loads", "ACCUMULATE_KINDS"]

NETWORK_JSON_FORMAT = "ulpflow-network"
#: The newest version this module writes and reads. Version 2 adds fused trees; a document that
#: uses none is written as version 1 (the lowest version that holds it), and both are read.
NETWORK_JSON_VERSION = 2
NETWORK_JSON_VERSIONS = (1, 2)
#: The ``version`` an activation object must carry (written by ``Activation.to_json``), beside
#: its ``kind``, :data:`ACTIVATION_JSON_KIND` (re-exported from :mod:`.activations`).
ACTIVATION_JSON_VERSION = TABLE_VERSION
#: Values of a layer's ``accumulate`` key: ``"tree"`` (rounded additions in the order of the
#: tree; the default, not written) and ``"exact"`` (one exact sum, rounded once).
ACCUMULATE_KINDS = ("tree", "exact")

_TOP_KEYS = ("format", "version", "input_format", "layers")
_LAYER_KEYS = ("name", "n_in", "n_out", "weight_format", "product_format", "acc_format", "output_format",
               "rounding", "accumulate", "weights", "bias", "tree", "trees", "activation")
_LAYER_REQUIRED = ("weight_format", "acc_format", "weights", "bias", "activation")
_ACTIVATION_KEYS = ("kind", "version", "name", "method", "in_format", "out_format", "rounding", "params",
                    "table")
_ACTIVATION_REQUIRED = ("kind", "version", "name", "method", "in_format", "out_format")

#: Nesting depth beyond which a text document is reported as too deep (before the parser fails).
_MAX_TEXT_DEPTH = 1000


# ---------------------------------------------------------------------- writer
def layer_to_json(layer) -> dict:
    d = {}
    if layer.name is not None:
        d["name"] = layer.name
    d.update({
        "n_in": layer.n_in,
        "n_out": layer.n_out,
        "weight_format": str(layer.weight_format),
        "product_format": str(layer.product_format),
        "acc_format": str(layer.acc_format),
        "output_format": str(layer.out_format),
        "rounding": layer.rounding,
        "weights": [[layer.weight_format.hex(c) for c in row] for row in layer.weights.tolist()],
        "bias": [layer.acc_format.hex(c) for c in layer.bias.tolist()],
    })
    if layer.accumulate != "tree":
        d["accumulate"] = layer.accumulate
    elif layer.shared_tree:
        d["tree"] = layer.trees[0].to_json()
    else:
        d["trees"] = [t.to_json() for t in layer.trees]
    d["activation"] = layer.activation.to_json()
    return d


def _uses_fused(net) -> bool:
    return any(getattr(t, "kind", "add") == "fused" for layer in net.layers for t in layer.trees)


def network_to_json(net) -> dict:
    return {
        "format": NETWORK_JSON_FORMAT,
        "version": 2 if _uses_fused(net) else 1,
        "input_format": str(net.input_format),
        "layers": [layer_to_json(layer) for layer in net.layers],
    }


# ---------------------------------------------------------------------- reader helpers
class _JSONError(ValueError):
    pass


def _fail(where, msg):
    raise _JSONError(f"network JSON: {where}: {msg}")


def _get(d, key, where):
    if key not in d:
        _fail(where, f"missing key {key!r}")
    return d[key]


def _keys(d, allowed, where):
    extra = [k for k in d if k not in allowed]
    if extra:
        _fail(where, f"unknown key {extra[0]!r} (expected one of {', '.join(allowed)})")


def _integer(v, where):
    """A JSON integer: ``true``/``false`` (Python bools) and floats are refused."""
    if isinstance(v, bool) or not isinstance(v, int):
        _fail(where, f"expected an integer, not {_show(v)}")
    return v


def _string(v, where, what="a string"):
    if not isinstance(v, str):
        _fail(where, f"expected {what}, not {_show(v)}")
    return v


def _show(v) -> str:
    """A JSON value as it is written (``true``, ``7``, ``"x"``), or its type for containers."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return json.dumps(v)
    return f"a JSON {'object' if isinstance(v, dict) else 'array' if isinstance(v, list) else type(v).__name__}"


def _json_format(name, where):
    _string(name, where, "a format name (string)")
    try:
        return as_format(name, where)
    except (TypeError, ValueError) as e:
        _fail(where, str(e))


def _code_re(fmt):
    return re.compile(f"0x[0-9a-fA-F]{{{(fmt.bits + 3) // 4}}}")


def _json_code(s, fmt, where, pattern=None):
    """A code written ``0x`` + exactly ``ceil(bits/4)`` hex digits; returns the int."""
    if isinstance(s, str) and (pattern or _code_re(fmt)).fullmatch(s):
        c = int(s[2:], 16)
        if c < (1 << fmt.bits):
            try:
                fmt.check_codes(np.array([c]))
            except ValueError as e:
                _fail(where, str(e))
            return c
    if not isinstance(s, str) or s[:2] != "0x" or len(s) < 3:
        _fail(where, f"expected a hex string like {fmt.hex(0)!r}, got {s!r}")
    if not re.fullmatch("[0-9a-fA-F]+", s[2:]):
        _fail(where, f"bad hex code {s!r}")
    if int(s[2:], 16) >= (1 << fmt.bits):
        _fail(where, f"code {s} does not fit the {fmt.bits}-bit format {fmt}")
    w = (fmt.bits + 3) // 4
    _fail(where, f"code {s} has {len(s) - 2} hex digits; {fmt} codes are written with exactly {w} "
                 f"(like {fmt.hex(0)!r})")


def _codes(values, fmt, where):
    """Codes of a list of hex strings (one compiled pattern per list)."""
    pattern = _code_re(fmt)
    return [_json_code(s, fmt, f"{where}[{i}]", pattern) for i, s in enumerate(values)]


# ---------------------------------------------------------------------- reader
def loads(text: str):
    """``json.loads`` for network documents: invalid or too deeply nested text is one
    ``network JSON:`` error (the depth error names the place)."""
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as e:
        raise ValueError(f"network JSON: not valid JSON: {e}") from None
    except RecursionError:
        pass
    where, depth, line, col = _deepest_place(text)
    depth = f"more than {_MAX_TEXT_DEPTH}" if depth > _MAX_TEXT_DEPTH else str(depth)
    raise ValueError(f"network JSON: {where}: nested {depth} levels deep at line {line}, column {col}, too "
                     f"deep for the JSON parser; write deep trees in the flat {{\"nodes\": [...]}} form") from None


def _unique_keys(pairs):
    """An object's key-value pairs as a dict; a key written twice is an error (JSON parsers
    otherwise keep the last one silently)."""
    d = {}
    for k, v in pairs:
        if k in d:
            raise ValueError(f"network JSON: key {k!r} appears twice in one object")
        d[k] = v
    return d


def _deepest_place(text):
    """The path (``layers[0].tree``) of the first place nested more than _MAX_TEXT_DEPTH levels
    deep (or the deepest place), its depth, line and column. Scans tokens without parsing."""
    stack = []  # per open container: [is_object, key or index]
    best = None
    expect_key = False
    for m in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{},:]', text):
        tok = m.group()
        if tok in "[{":
            stack.append([tok == "{", None if tok == "{" else 0])
            expect_key = tok == "{"
            if best is None or len(stack) > best[1]:
                best = (list(map(tuple, stack)), len(stack), m.start())
            if len(stack) > _MAX_TEXT_DEPTH:
                break
        elif tok in "]}":
            if stack:
                stack.pop()
            expect_key = False
        elif tok == ",":
            if stack and not stack[-1][0]:
                stack[-1][1] += 1
            expect_key = bool(stack and stack[-1][0])
        elif tok == ":":
            expect_key = False
        elif expect_key and stack and stack[-1][0]:
            stack[-1][1] = json.loads(tok)
            expect_key = False
    path, depth, pos = best if best else ([], 0, 0)
    # Name the place down to the last object key (and the element of a list of trees below it).
    parts, last_key = [], -1
    for i, (_, k) in enumerate(path[:-1]):
        if isinstance(k, str):
            last_key = i
    for i, (is_obj, k) in enumerate(path[:-1]):
        if i > last_key + (1 if last_key >= 0 and path[last_key][1] == "trees" else 0):
            break
        parts.append(f".{k}" if is_obj else f"[{k}]")
    where = "".join(parts).lstrip(".") or "top level"
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return where, depth, line, col


def read_network(data, make_layer):
    """Check a network document and build it: ``(input_format, [layers])``.

    ``make_layer(weights, bias, **options)`` builds one layer (``Layer``); its errors are
    reported with the layer's place.
    """
    if not isinstance(data, dict):
        raise ValueError(f"network JSON: expected an object at the top level, not {type(data).__name__}")
    _keys(data, _TOP_KEYS, "top level")
    tag = _get(data, "format", "top level")
    if tag != NETWORK_JSON_FORMAT:
        _fail("format", f"expected {NETWORK_JSON_FORMAT!r}, got {tag!r}")
    version = _get(data, "version", "top level")
    if isinstance(version, bool) or not isinstance(version, int) or version not in NETWORK_JSON_VERSIONS:
        _fail("version", f"this reader understands version 1, got {_show(version)} (and version 2, which "
                         "adds fused trees)")
    in_fmt = _json_format(_get(data, "input_format", "top level"), "input_format")
    layers_data = _get(data, "layers", "top level")
    if not isinstance(layers_data, list) or not layers_data:
        _fail("layers", "expected a non-empty list of layer objects")
    layers = []
    n_prev = None
    for i, ld in enumerate(layers_data):
        layers.append(_read_layer(ld, f"layers[{i}]", n_prev, make_layer))
        n_prev = layers[-1].n_out
        if version < 2 and any(t.kind == "fused" for t in layers[-1].trees):
            _fail(f"layers[{i}]", "a fused tree needs a version 2 document (\"version\": 2)")
    return in_fmt, layers


def _read_layer(ld, where, n_prev, make_layer):
    if not isinstance(ld, dict):
        _fail(where, f"expected a layer object, not {type(ld).__name__}")
    _keys(ld, _LAYER_KEYS, where)
    for key in _LAYER_REQUIRED:
        _get(ld, key, where)
    wf = _json_format(ld["weight_format"], f"{where}.weight_format")
    af = _json_format(ld["acc_format"], f"{where}.acc_format")
    pf = _json_format(ld["product_format"], f"{where}.product_format") if "product_format" in ld else af
    rounding = _string(ld.get("rounding", "RNE"), f"{where}.rounding", "a rounding mode (string)")
    try:
        rounding = check_rounding(rounding)
    except ValueError as e:
        _fail(f"{where}.rounding", str(e))
    name = ld.get("name")
    if name is not None:
        _string(name, f"{where}.name")
    accumulate = _string(ld.get("accumulate", "tree"), f"{where}.accumulate")
    if accumulate not in ACCUMULATE_KINDS:
        _fail(f"{where}.accumulate", f"expected one of {', '.join(map(repr, ACCUMULATE_KINDS))}, got {accumulate!r}")
    W = ld["weights"]
    if not isinstance(W, list) or not W or not all(isinstance(r, list) for r in W):
        _fail(f"{where}.weights", "expected a non-empty list of rows (n_out lists of n_in hex codes)")
    n_out, n_in = len(W), len(W[0])
    for r, row in enumerate(W):
        if len(row) != n_in:
            _fail(f"{where}.weights", f"row {r} has {len(row)} codes but row 0 has {n_in} (shape must be n_out × n_in)")
    if n_in == 0:
        _fail(f"{where}.weights", "rows must not be empty")
    if n_prev is not None and n_in != n_prev:
        _fail(f"{where}.weights", f"rows have {n_in} codes but the previous layer has {n_prev} outputs")
    for key, n, what in (("n_in", n_in, "the weight rows have {} codes"), ("n_out", n_out, "there are {} weight rows")):
        if key in ld and _integer(ld[key], f"{where}.{key}") != n:
            _fail(f"{where}.{key}", f"says {ld[key]!r} but {what.format(n)}")
    wc = np.array([_codes(row, wf, f"{where}.weights[{r}]") for r, row in enumerate(W)], dtype=np.int64)
    B = ld["bias"]
    if not isinstance(B, list) or len(B) != n_out:
        _fail(f"{where}.bias", f"expected a list of {n_out} hex codes (one per neuron), got "
              f"{len(B) if isinstance(B, list) else type(B).__name__}")
    bc = np.array(_codes(B, af, f"{where}.bias"), dtype=np.int64)
    tree = _read_trees(ld, where, n_in, n_out, accumulate)
    act = _read_activation(ld["activation"], f"{where}.activation")
    if "output_format" in ld:
        of = _json_format(ld["output_format"], f"{where}.output_format")
        if of != act.out_format:
            _fail(f"{where}.output_format", f"says {of} but the activation produces {act.out_format}")
    try:
        return make_layer(wc, bc, weight_format=wf, acc_format=af, product_format=pf, activation=act,
                          tree=tree, rounding=rounding, accumulate=accumulate, name=name)
    except (TypeError, ValueError) as e:
        _fail(where, str(e))


def _read_trees(ld, where, n_in, n_out, accumulate):
    if ("tree" in ld) and ("trees" in ld):
        _fail(where, "give either 'tree' (shared) or 'trees' (one per neuron), not both")
    if accumulate == "exact" and ("tree" in ld or "trees" in ld):
        _fail(where, f"an exact accumulation has no order: drop {'tree' if 'tree' in ld else 'trees'!r} "
                     "or the 'accumulate' key")
    place = f"{where}.tree"
    try:
        if "tree" in ld:
            return Tree.from_json(ld["tree"], n_terms=n_in + 1, where=f"network JSON: {place}")
        if "trees" in ld:
            ts = ld["trees"]
            if not isinstance(ts, list) or len(ts) != n_out:
                _fail(f"{where}.trees", f"expected a list of {n_out} trees (one per neuron)")
            out = []
            for k, t in enumerate(ts):
                place = f"{where}.trees[{k}]"
                out.append(Tree.from_json(t, n_terms=n_in + 1, where=f"network JSON: {place}"))
            return out
        return None
    except _JSONError:
        raise
    except RecursionError:
        _fail(place, "nested too deeply to read; write deep trees in the flat {\"nodes\": [...]} form")
    except ValueError as e:
        raise ValueError(str(e)) from None


def _read_activation(d, where):
    if not isinstance(d, dict):
        _fail(where, f"expected an activation object, not {type(d).__name__}")
    _keys(d, _ACTIVATION_KEYS, where)
    for key in _ACTIVATION_REQUIRED:
        _get(d, key, where)
    if d["kind"] != ACTIVATION_JSON_KIND:
        _fail(f"{where}.kind", f"expected {ACTIVATION_JSON_KIND!r}, got {d['kind']!r}")
    version = d["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version != ACTIVATION_JSON_VERSION:
        _fail(f"{where}.version", f"this reader understands activation version {ACTIVATION_JSON_VERSION}, "
                                  f"got {_show(version)}")
    for key in ("name", "method", "in_format", "out_format"):
        _string(d[key], f"{where}.{key}")
    if "rounding" in d:
        _string(d["rounding"], f"{where}.rounding", "a rounding mode (string)")
    params = d.get("params", {})
    if not isinstance(params, dict):
        _fail(f"{where}.params", f"expected an object, not {type(params).__name__}")
    for k, v in params.items():
        if isinstance(v, bool):
            _fail(f"{where}.params.{k}", f"expected a number or a string, not {json.dumps(v)}")
    if "table" in d:
        table = d["table"]
        out_fmt = _json_format(d["out_format"], f"{where}.out_format")
        if not isinstance(table, list):
            _fail(f"{where}.table", f"expected a list of hex codes, not {type(table).__name__}")
        pattern = _code_re(out_fmt)
        joined = ",".join(table) if all(isinstance(s, str) for s in table) else None
        if table and not (joined is not None and joined.count(",") == len(table) - 1
                          and re.fullmatch(f"(?:{pattern.pattern},)*{pattern.pattern}", joined)):
            w = (out_fmt.bits + 3) // 4
            for i, s in enumerate(table):
                if not (isinstance(s, str) and pattern.fullmatch(s)):
                    _fail(where, f"activation table entry {i} is {s!r}, expected '0x' and exactly {w} hex "
                                 f"digits (a {out_fmt} code like {out_fmt.hex(0)!r})")
    try:
        return activation_from_json(d)
    except RecursionError:
        _fail(where, "nested too deeply to read")
    except (KeyError, TypeError, ValueError) as e:
        msg = f"missing key {e}" if isinstance(e, KeyError) else str(e)
        _fail(where, msg)
