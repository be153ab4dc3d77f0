"""Whole networks in Verilator: bulk simulation and the first-divergence report.

:func:`simulate_network` streams an array of input vectors through the hardware of a golden
network (:class:`~ulpflow.hdl.network.NetworkTop`, spatial or folded) on one of the bulk engines
of the unit path and returns the output codes. :class:`NetworkSimulator` keeps the build for
repeated runs. :func:`locate_divergence` explains a disagreement with the golden model: it
simulates sub-networks — each layer alone on its golden inputs, then the diverging neuron alone
with every product, tree node and sum exposed — against ``net.trace()`` and names the first value
that differs (layer, neuron, product / tree node / sum / activation, input vector, both codes
decoded).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ulpflow.golden.network import Layer, Network
from ulpflow.hdl.network import FORMS, NetworkTop, SpatialLayer, apply_faults

from .runner import VerilatorRunner
from .simulate import UnitSimulator

__all__ = ["NetworkSimulator", "simulate_network", "every_input", "locate_divergence", "RTLDivergence",
           "NETWORK_ENGINES"]

#: Verilator arguments of network builds (without a runner of the caller's own).
SPLIT_ARGS = ("--output-split", "20000", "--output-split-cfuncs", "20000")

#: Engines :func:`simulate_network` runs on; the first is the default (the fastest bulk path).
NETWORK_ENGINES = ("verilator", "cocotb", "cocotb-cycle")


def _check_net(net):
    if not isinstance(net, Network):
        raise TypeError(f"simulate_network needs a golden Network, not {net!r}")
    return net


def check_network_inputs(net, x_codes, what="x_codes"):
    """``x_codes`` as a ``(n_vectors, net.n_in)`` array of input codes, or one clear error."""
    arr = np.asarray(x_codes)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{what} must hold integer codes of {net.in_format}, got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.shape[1] != net.n_in:
        raise ValueError(f"{what} must have shape (n_vectors, {net.n_in}) for this network of "
                         f"{net.n_in} inputs, got {arr.shape}")
    return net.check_inputs(arr, what)


def every_input(net) -> np.ndarray:
    """Every input vector of ``net``: all codes of its input format (``fmt.all_codes()``: a
    symmetric fixed-point format has no most-negative code) on each of its ``n_in`` inputs,
    ``len(codes)**n_in`` rows, the last input varying fastest."""
    _check_net(net)
    codes = np.asarray(net.in_format.all_codes()).astype(np.uint64)
    grids = np.meshgrid(*([codes] * net.n_in), indexing="ij")
    return np.stack([g.reshape(-1) for g in grids], axis=-1).astype(net.in_format.dtype)


class NetworkSimulator:
    """The hardware of ``net`` built once for an engine, run on arrays of input vectors.

    Parameters
    ----------
    net : golden Network
    form : ``"spatial"`` or ``"folded"``
    engine : str, optional
        ``"verilator"`` (default: the C++ bulk path), ``"cocotb"`` (the bulk cocotb bench) or
        ``"cocotb-cycle"`` (Python drives every cycle). All give identical results.
    pipeline : bool
        Spatial form: registers per multiplier, tree level and activation (default).
    runner : VerilatorRunner, optional

    Attributes
    ----------
    top : NetworkTop
    timings : dict
        ``"build"`` (s), ``"build_cached"``, ``"run"`` (s) of the last steps.
    """

    def __init__(self, net, *, form="spatial", engine=None, pipeline=True, runner=None, _faults=()):
        self.net = _check_net(net)
        if form not in FORMS:
            raise ValueError(f"form must be one of {', '.join(map(repr, FORMS))}, not {form!r}")
        engine = NETWORK_ENGINES[0] if engine is None else engine
        if engine not in NETWORK_ENGINES:
            raise ValueError(f"engine must be one of {', '.join(map(repr, NETWORK_ENGINES))}, not {engine!r}")
        self.form, self.engine = form, engine
        self.top = NetworkTop(net, form, pipeline=pipeline, _faults=_faults)
        self.top._MustUse__silence = True  # converted when first built; a simulator may never run
        if runner is None:
            # a large network is many thousands of units: split the C++ so make compiles it
            # in parallel pieces instead of one huge file
            runner = VerilatorRunner(build_args=SPLIT_ARGS)
        self._sim = UnitSimulator(self.top, engine=engine, runner=runner,
                                  latency=self.top.latency)

    @property
    def timings(self):
        return self._sim.timings

    @property
    def verilog(self) -> str:
        """The network's Verilog (generated on first use)."""
        return self._sim.verilog

    def build(self):
        """Convert to Verilog and build (or find the build in the cache)."""
        return self._sim.build()

    def run(self, x_codes, *, stall=None) -> np.ndarray:
        """Output codes ``(n_vectors, n_out)`` for input codes ``(n_vectors, n_in)``.

        ``stall=(per_mille, seed)`` (engine ``"verilator"``) withholds input valid and output
        ready on random cycles; the results must not change."""
        x = check_network_inputs(self.net, x_codes)
        n = x.shape[0]
        if n == 0:
            return np.zeros((0, self.net.n_out), dtype=self.net.out_format.dtype)
        inputs = {f"x__{j}": np.ascontiguousarray(x[:, j]) for j in range(self.net.n_in)}
        # the first result waits for the pipeline to fill: the spatial latency, or in the folded
        # form every layer's cycles per vector (the slowest layer alone only bounds throughput)
        fill = self.top.latency if self.top.latency is not None else sum(
            u.cycles_per_vector + 1 for u in self.top.layers)
        timeout = n * (self.top.cycles_per_vector + 1) + fill + 1000
        out = self._sim.run(inputs, timeout_cycles=timeout, stall=stall)
        y = np.empty((n, self.net.n_out), dtype=self.net.out_format.dtype)
        for k in range(self.net.n_out):
            y[:, k] = out[f"y__{k}"]
        return y


def simulate_network(net, x_codes, *, form="spatial", engine=None, pipeline=True, runner=None,
                     stall=None) -> np.ndarray:
    """Run input vectors through the hardware of ``net`` in Verilator; return the output codes.

    Parameters
    ----------
    net : golden Network
    x_codes : integer array, shape (n_vectors, net.n_in)
        Input codes of ``net.in_format``.
    form, engine, pipeline, runner
        See :class:`NetworkSimulator`.
    stall : (per_mille, seed), optional
        Random back-pressure on both streams (engine ``"verilator"``).

    Returns
    -------
    numpy.ndarray, shape (n_vectors, net.n_out)
        Output codes of ``net.out_format``; equal to ``net(x_codes)`` when the hardware is right.

    Examples
    --------
    >>> y = simulate_network(net, x, form="folded")          # doctest: +SKIP
    >>> (y == net(x)).all()                                  # doctest: +SKIP
    """
    x = check_network_inputs(_check_net(net), x_codes)
    sim = NetworkSimulator(net, form=form, engine=engine, pipeline=pipeline, runner=runner)
    return sim.run(x, stall=stall)


# ---------------------------------------------------------------------------------------------
@dataclass
class RTLDivergence:
    """The first value where the hardware and the golden network disagree.

    ``vector`` is the index of the first mismatching input vector, ``inputs`` its codes;
    ``layer`` and ``neuron`` locate the neuron; ``what`` is ``"product"`` (``index`` = input j),
    ``"node"`` (``index`` = tree node id, ``expression`` its operands), ``"sum"``,
    ``"activation"`` or ``"connection"`` (every layer right alone: the chaining is wrong);
    ``golden`` / ``rtl`` the two codes of ``format``.
    """

    vector: int
    inputs: np.ndarray
    layer: int | None
    neuron: int | None
    what: str
    index: int | None
    golden: int | None
    rtl: int | None
    format: object = None
    expression: str = ""
    mismatches: int = 0
    details: list = field(default_factory=list)

    def __str__(self):
        fmt = self.format

        def show(c):
            return "?" if c is None else (fmt.show(c) if fmt is not None else hex(c))

        where = []
        if self.layer is not None:
            where.append(f"layer {self.layer}")
        if self.neuron is not None:
            where.append(f"neuron {self.neuron}")
        if self.what == "product":
            where.append(f"product {self.index} (weight × input {self.index})")
        elif self.what == "node":
            where.append(f"tree node {self.index}" + (f" = {self.expression}" if self.expression else ""))
        elif self.what in ("sum", "activation"):
            where.append(self.what)
        elif self.what == "connection":
            where.append("between layers (every layer agrees with golden on its own)")
        lines = [f"first divergence: {', '.join(where)}",
                 f"  input vector {self.vector}: {list(int(c) for c in self.inputs)}"]
        if self.golden is not None or self.rtl is not None:
            lines.append(f"  golden {show(self.golden)}   rtl {show(self.rtl)}   ({fmt})")
        if self.mismatches:
            lines.append(f"  {self.mismatches} mismatching output vector(s) in all")
        return "\n".join(lines)


def _node_expression(tree, j):
    names = {}

    def show(ref):
        kind, idx = ref
        if kind == "leaf":
            return f"t{idx}"
        if kind == "zero":
            return "0"
        return f"n{idx}"

    for node, left, right in tree.internal_nodes():
        names[node] = f"{show(left)} + {show(right)}"
    return names.get(j, "")


def locate_divergence(net, x_codes, rtl_y, *, form="spatial", engine=None, pipeline=True,
                      runner=None, _faults=()):
    """Explain where the hardware's outputs ``rtl_y`` first differ from ``net(x_codes)``.

    Returns None when they agree, else an :class:`RTLDivergence`. The hardware is re-simulated
    in pieces (the same generators, with the same faults when a test injected some): every
    layer alone on its golden inputs (``net.trace``), in the same form, until one disagrees;
    then that layer's first disagreeing neuron alone, as a spatial neuron that exposes every
    product, tree node and sum, compared with the trace in evaluation order.
    """
    x = check_network_inputs(net, x_codes)
    rtl_y = np.asarray(rtl_y)
    gold = net(x, strict=False)
    if rtl_y.shape != gold.shape:
        raise ValueError(f"rtl_y must have shape {gold.shape}, got {rtl_y.shape}")
    bad_rows = np.nonzero((rtl_y != gold).any(axis=1))[0]
    if bad_rows.size == 0:
        return None
    v = int(bad_rows[0])
    tr = net.trace(x[v:v + 1], strict=False)
    common = dict(vector=v, inputs=x[v], mismatches=int(bad_rows.size))
    for li, layer in enumerate(net.layers):
        sub = Network(net.layer_input_format(li), [layer])
        faults = [f for f in (g.restricted(li) for g in _faults) if f is not None]
        lt = tr.layers[li]
        got = NetworkSimulator(sub, form=form, engine=engine, pipeline=pipeline, runner=runner,
                               _faults=faults).run(lt.inputs)
        diff = np.nonzero(got[0] != lt.outputs[0])[0]
        if diff.size:
            k = int(diff[0])
            found = _locate_in_neuron(net, li, k, lt, engine, runner, _faults)
            if found is None:  # the neuron alone agrees: report the neuron's output
                return RTLDivergence(layer=li, neuron=k, what="activation", index=None,
                                     golden=int(lt.outputs[0, k]), rtl=int(got[0, k]),
                                     format=layer.out_format, **common)
            what, index, g, r, fmt, expr = found
            return RTLDivergence(layer=li, neuron=k, what=what, index=index, golden=g, rtl=r,
                                 format=fmt, expression=expr, **common)
    k = int(np.nonzero(rtl_y[v] != gold[v])[0][0])
    return RTLDivergence(layer=None, neuron=k, what="connection", index=None, golden=int(gold[v, k]),
                         rtl=int(rtl_y[v, k]), format=net.out_format, **common)


def _locate_in_neuron(net, li, k, lt, engine, runner, faults):
    layer = net.layers[li]
    one = Layer(layer.weights[k:k + 1], layer.bias[k:k + 1], weight_format=layer.weight_format,
                acc_format=layer.acc_format, product_format=layer.product_format,
                activation=layer.activation, tree=[layer.trees[k]], rounding=layer.rounding,
                name=layer.name)
    mine = [f for f in (g.restricted(li, k) for g in faults) if f is not None]
    hw, patch = apply_faults(one, mine, 0)
    unit = SpatialLayer(hw, net.layer_input_format(li), probe=True, _table_patch=patch)
    x = lt.inputs
    out = UnitSimulator(unit, engine=engine or NETWORK_ENGINES[0], runner=runner).run(
        {f"x__{j}": x[:, j] for j in range(layer.n_in)})
    tree = layer.trees[k]
    fused = unit.block is not None  # a fused block shows only its result (the sum)
    for j in range(0 if fused else layer.n_in):
        g, r = int(lt.products[0, k, j]), int(out[f"p__{j}"][0])
        if g != r:
            return "product", j, g, r, layer.product_format, ""
    for pos, (j, _l, _r) in enumerate([] if fused else tree.internal_nodes()):
        g, r = int(lt.nodes[k][0, pos]), int(out[f"n__{pos}"][0])
        if g != r:
            return "node", j, g, r, layer.acc_format, _node_expression(tree, j)
    g, r = int(lt.sums[0, k]), int(out["s__0"][0])
    if g != r:
        return "sum", None, g, r, layer.acc_format, ""
    g, r = int(lt.outputs[0, k]), int(out["y__0"][0])
    if g != r:
        return "activation", None, g, r, layer.out_format, ""
    return None
