# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.pomona-installed
export POMONA_HOME ?= $(CURDIR)/.pomona
SCALE ?= small

.PHONY: install demo test test-fast bench clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo ">> installing Pomona into $(VENV) (exact pins from constraints.txt)"
	$(BIN)/python -m pip install -q --upgrade pip==25.2
	$(BIN)/python -m pip install -q torch==2.13.0 -c constraints.txt
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/pomona demo --scale $(SCALE)

test: install
	$(BIN)/python -m pytest -n 2 --durations=15

test-fast: install
	$(BIN)/python -m pytest -n 2 -m "not slow"

bench: install
	$(BIN)/python benchmarks/features_bench.py

clean:
	rm -rf $(POMONA_HOME)
