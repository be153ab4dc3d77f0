"""Local pytest settings for tests/hdl.

Tests marked ``slow`` (the amaranth.sim exhaustive sweeps, which the Verilator tests repeat much
faster) run only when selected with ``-m slow`` (or any ``-m`` expression naming ``slow``), as
the marker's description in pyproject.toml says.
"""

import sys
from pathlib import Path

import pytest

# hdl_testing.py lives next to the tests; make it importable however pytest was started
sys.path.insert(0, str(Path(__file__).parent))


def pytest_collection_modifyitems(config, items):
    if "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow sweep: run with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
