# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.pomona-installed
export POMONA_HOME ?= $(CURDIR)/.pomona
# OpenMP threads that find their core busy sleep instead of spinning: with two test workers on two
# cores, LightGBM's spinning threads made a fit 6x slower (1.7 s against 10.6 s beside one busy process).
export OMP_WAIT_POLICY ?= PASSIVE
SCALE ?= small

.PHONY: install redis demo lint test test-fast test-heavy bench clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo ">> installing Pomona into $(VENV) (exact pins from constraints.txt)"
	$(BIN)/python -m pip install -q --upgrade pip==25.2
	$(BIN)/python -m pip install -q torch==2.13.0 -c constraints.txt
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# The suite also runs the online store against a real redis-server on loopback.
redis:
	@command -v redis-server >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo ">> installing redis-server (apt-get)"; apt-get update -qq >/dev/null && apt-get install -y -qq redis-server >/dev/null; \
	  else echo ">> redis-server not found: install it (apt-get install redis-server / brew install redis) for the Redis test"; fi; }

demo: install
	$(BIN)/pomona demo --scale $(SCALE)

# The house rule set is in pyproject.toml ([tool.ruff]); `make test` runs it first.
lint: install
	$(BIN)/ruff check .

test: install redis lint
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=15 -m "not heavy"

# Real-data checks of more than 10 minutes each (M4 Hourly's default forecasting job).
test-heavy: install
	$(BIN)/python -m pytest -m heavy -v

test-fast: install
	$(BIN)/python -m pytest -n 2 -m "not slow and not heavy"

bench: install
	$(BIN)/python benchmarks/features_bench.py

clean:
	rm -rf $(POMONA_HOME)
