# Two entry points for a fresh machine: `make test` and `make search`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# torch is pinned here (not in setup.cfg) so pip takes the CPU build on disk instead of a multi-GB CUDA one.
TORCH_PIN ?= torch==2.13.0

.PHONY: install test wheel-check search bench bench-compare clean

$(VENV)/.installed: setup.cfg pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH_PIN)
	$(PIP) install -q -e '.[test,ray]'
	touch $@

install: $(VENV)/.installed

# tests/ includes tests/test_wheel.py, so CI (.ci/run -> make test) also checks the wheel.
test: install
	$(PY) -m pytest -q tests benchmarks --benchmark-disable

# Build the wheel offline, install it (--no-deps) into a fresh venv that borrows $(VENV)'s
# dependencies, and run `gnnlat describe` and a one-epoch `gnnlat search` from an empty directory.
wheel-check: install
	$(PY) -m pytest -q tests/test_wheel.py

search: install
	$(PY) cli.py search --lam 0.2

BENCH_THRESHOLD ?= mean:25%
bench: install
	$(PY) -m pytest -q benchmarks --benchmark-only --benchmark-autosave --benchmark-storage=.benchmarks

bench-compare: install
	$(PY) -m pytest -q benchmarks --benchmark-only --benchmark-storage=.benchmarks --benchmark-compare --benchmark-compare-fail=$(BENCH_THRESHOLD)

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks build dist *.egg-info
