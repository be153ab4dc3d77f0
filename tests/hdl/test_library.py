"""hdl.library: each distinct unit of a spatial network is one Verilog module, instantiated."""

import re
import sys
from pathlib import Path

from ulpflow.hdl.library import library_verilog
from ulpflow.hdl.network import NetworkTop
from ulpflow.hdl.verilog import to_verilog

sys.path.insert(0, str(Path(__file__).parents[1] / "sim"))
import netcases  # noqa: E402


def _verilog(top):
    return to_verilog(top, "net") + library_verilog(top)


def test_each_distinct_unit_is_one_module():
    net = netcases.e4m3_d1()
    top = NetworkTop(net, "spatial")
    text = _verilog(top)
    cells = re.findall(r"^module (ulpcell\d+_\w+)", text, re.M)
    assert len(cells) == len(set(cells)) == len(top.cell_library) > 0
    # one instance per multiplier (a weight × an input), per tree node and per activation
    layers = net.layers
    units = sum(l.n_out * l.n_in + sum(t.n_nodes for t in l.trees) + l.n_out for l in layers)
    instances = re.findall(r"^\s+(ulpcell\d+_[a-z]+) \S+\s+\(", text, re.M)
    assert len(instances) == units
    assert set(instances) == set(cells)
    # fewer modules than units: the adders of a format share a cell, as do a layer's activations
    assert len(cells) < units
    # the cell library is what makes the difference: without it every unit is a module
    flat_top = NetworkTop(net, "spatial", cells=False)
    assert flat_top.cell_library is None
    flat = to_verilog(flat_top, "net")
    assert len(re.findall(r"^module ", flat, re.M)) > units
    folded = NetworkTop(net, "folded")
    folded._MustUse__silence = True  # only asked for its (absent) cells
    assert library_verilog(folded) == ""


def test_cells_stall_with_the_pipeline():
    """Every cell with registers has an enable port, driven by the top's stall."""
    top = NetworkTop(netcases.e4m3_d1(), "spatial")
    text = _verilog(top)
    clocked = [n for n, body in re.findall(r"^module (ulpcell\d+_\w+)\(([^)]*)\)", text, re.M) if "clk" in body]
    assert clocked
    for name in clocked:
        header = re.search(rf"^module {name}\(([^)]*)\)", text, re.M).group(1)
        assert "en" in [p.strip() for p in header.split(",")]
