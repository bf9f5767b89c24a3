# Uptally: `make run` serves on SQLite; `make test` runs lint, types and every test.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
# Local development only: `make run` binds to loopback with this admin token unless
# you set your own. Never use it on a reachable address.
UPTALLY_ADMIN_TOKEN ?= dev-admin-token
export UPTALLY_ADMIN_TOKEN

.PHONY: run test test-faults lint typecheck pytest bench bench-fold bench-probes bench-http bench-allin bench-box bench-scale bench-scale-quick bench-assignments clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Uptally needs Python 3.11 or newer; set PYTHON=python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

run: $(VENV)/.installed  ## serve on SQLite (./uptally.db) at http://127.0.0.1:8000
	@echo "Uptally on http://$(HOST):$(PORT)/docs  (admin token: $$UPTALLY_ADMIN_TOKEN)"
	$(BIN)/uptally serve --host $(HOST) --port $(PORT) --sample

lint: $(VENV)/.installed-test  ## ruff lint and format check
	$(BIN)/ruff check app probes tests bench
	$(BIN)/ruff format --check app probes tests bench

typecheck: $(VENV)/.installed-test  ## mypy --strict on app/ and probes/
	$(BIN)/mypy

# Three workers: the end-to-end tests spend most of their time waiting on real
# 10-second check intervals, so the rest of the suite runs beside them.
PYTEST_WORKERS ?= 3

pytest: $(VENV)/.installed-test  ## the test suite, on SQLite and PostgreSQL
	$(BIN)/pytest -n $(PYTEST_WORKERS) -m "not faults" $(PYTEST_ARGS)

test-faults: $(VENV)/.installed-test  ## cut and hang PostgreSQL under a real server (about a minute)
	$(BIN)/pytest -m faults -v $(PYTEST_ARGS)

test: lint typecheck pytest  ## everything CI runs

bench: $(VENV)/.installed-test  ## SLA engine benchmarks; results go to bench/results/
	$(BIN)/python -m bench.run

bench-fold: $(VENV)/.installed-test  ## folding and state-change benchmark; results in bench/results/fold.md
	$(BIN)/python -m bench.fold

bench-probes: $(VENV)/.installed-test  ## probe throughput benchmark (about 4 minutes)
	$(BIN)/python -m bench.probes

bench-http: $(VENV)/.installed-test  ## CPU per HTTP check for each candidate HTTP engine (about 12 minutes)
	$(BIN)/python -m bench.http_engines

bench-allin: $(VENV)/.installed-test  ## CPU per check: uptally serve vs blackbox_exporter vs aiohttp (apt: prometheus-blackbox-exporter)
	$(BIN)/python -m bench.scale allin --rate 500 1000 --seconds 60

bench-box: $(VENV)/.installed-test  ## 2,000 checks/s on the whole box: two uptally serve processes, one database (about 8 minutes)
	$(BIN)/python -m bench.scale allin --rate 2000 --seconds 60 --rounds 2 --processes 2 --name allin-box

bench-scale: $(VENV)/.installed-test  ## the 100,000-monitor scale run (10 minutes of load, plus creating the monitors)
	$(BIN)/python -m bench.scale run --monitors 100000 --interval 60 --minutes 10 --create-sample 1000

bench-scale-quick: $(VENV)/.installed-test  ## the scale run small: 5,000 monitors for 2 minutes
	$(BIN)/python -m bench.scale run --quick

bench-assignments: $(VENV)/.installed-test  ## agents' assignments at 50,000 and 100,000 monitors
	$(BIN)/python -m bench.assignments

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
