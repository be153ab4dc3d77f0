"""Suite-wide pytest hooks.

A test that counts something worth reading after the run (mismatches of a bench comparison, the
number of blocks it compared) records it with ``record_property("tally", "one line")``; the
lines are printed in a ``tallies`` section at the end of the run, in test order. This works
under pytest-xdist too (``-s`` does not: a worker's standard output never reaches the
terminal), so ``make test-gpu-models`` ends with the per-model mismatch counts.
"""

from __future__ import annotations

_TALLIES = []


def pytest_runtest_logreport(report):
    if report.when == "call":
        _TALLIES.extend((report.nodeid, value) for name, value in report.user_properties
                        if name == "tally")


def pytest_terminal_summary(terminalreporter):
    if _TALLIES:
        terminalreporter.section("tallies")
        for nodeid, line in sorted(_TALLIES):
            terminalreporter.write_line(str(line))
