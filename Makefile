# Two commands do everything: `make demo` (install + main job) and `make test` (install + tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-slow test-all lint bench clean

install: $(STAMP)

# torch is pinned here (CPU build); pyproject.toml declares the supported range.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: install
	$(BIN)/sbdenoise demo --output demo_output

# Tests run on every core (pytest-xdist), a test file per worker (its fixtures built once).
PYTEST := $(BIN)/python -m pytest -n auto --maxprocesses 8 --dist loadfile

# The fast set (a few minutes on 2 cores); test-slow: the end-to-end ones (simulation runs
# killed and resumed, dask clusters, torchrun, the demo), about 15 min on 2 cores.
test: install
	$(PYTEST)

test-slow: install
	$(PYTEST) -m slow

test-all: install
	$(PYTEST) -m ''

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: install
	$(BIN)/python benchmarks/baselines.py

clean:
	rm -rf $(VENV) demo_output .pytest_cache
