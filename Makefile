# PumpAPI: `make serve` runs the service with a demo fleet and trained models; `make test` tests it.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: serve stack test lint format clean nginx bench wrk

# One stamp per install profile, each with its extras of setup.cfg: re-installed when the
# package metadata changes.
EXTRAS_serve := train
EXTRAS_test  := train,test
EXTRAS_bench := train,bench

$(VENV)/.%-installed: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[$(EXTRAS_$*)]'
	touch $@

serve: $(VENV)/.serve-installed
	$(BIN)/pumpapi serve

# The production layout here: PostgreSQL, two gunicorn instances, nginx on :8080.
stack: $(VENV)/.serve-installed nginx
	$(BIN)/pumpapi stack

test: $(VENV)/.test-installed lint nginx
	$(BIN)/pytest

# Debian's nginx, for `make stack` and the integration tests; installed only when missing.
nginx:
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || \
		(apt-get install -y nginx || (apt-get update && apt-get install -y nginx))

# Every endpoint against a floor app under gunicorn, on a cached 10M-reading fleet (var/bench):
# writes bench/results/<date>.json and docs/benchmarks.md. See bench/run.py --help for options.
bench: $(VENV)/.bench-installed wrk
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# Debian's wrk (the load generator of `make bench`); installed only when missing.
wrk:
	@command -v wrk >/dev/null 2>&1 || \
		(apt-get install -y wrk || (apt-get update && apt-get install -y wrk))

lint: $(VENV)/.test-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint Dockerfile

format: $(VENV)/.test-installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
