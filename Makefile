# PumpAPI: `make serve` runs the service with a demo fleet and trained models; `make test` tests it.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: serve stack test lint format clean nginx

# One stamp per install profile: re-installs when the package metadata changes.
$(VENV)/.serve-installed: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[train]'
	touch $@

$(VENV)/.test-installed: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[train,test]'
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

lint: $(VENV)/.test-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint Dockerfile

format: $(VENV)/.test-installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
