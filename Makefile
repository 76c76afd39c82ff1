# PumpAPI: `make serve` runs the service with a demo fleet and trained models; `make test` tests it.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: serve stack test lint format clean nginx browser bench wrk containers wheels base-image image image-runtime \
        service-images compose-up compose-down

# One stamp per install profile, each with its extras of setup.cfg: re-installed when the
# package metadata changes.
EXTRAS_serve := train
EXTRAS_test  := train,test,eval
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

test: $(VENV)/.test-installed lint nginx browser containers
	$(BIN)/pytest

# Debian's nginx, for `make stack` and the integration tests; installed only when missing.
nginx:
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || \
		(apt-get install -y nginx || (apt-get update && apt-get install -y nginx))

# Debian's headless Chromium and its WebDriver, for the fleet pages' browser tests
# (tests/integration/test_fleet_browser.py); installed only when missing.
browser:
	@(command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1) || \
		(apt-get install -y chromium chromium-driver || \
		 (apt-get update && apt-get install -y chromium chromium-driver))

# Every endpoint against a floor app under gunicorn, on a cached 10M-reading fleet (var/bench):
# writes bench/results/<date>.json and docs/benchmarks.md. See bench/run.py --help for options.
bench: $(VENV)/.bench-installed wrk
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# Debian's wrk (the load generator of `make bench`); installed only when missing.
wrk:
	@command -v wrk >/dev/null 2>&1 || \
		(apt-get install -y wrk || (apt-get update && apt-get install -y wrk))

# Containers: podman (Debian's, with runc) unless CONTAINER names another engine (docker).
# Builds need no registry and no package index: the base image is debootstrapped from the Debian
# mirror, Python packages come from the wheelhouse in var/wheels. See "Container image" in README.
CONTAINER  ?= $(shell command -v podman 2>/dev/null || command -v docker 2>/dev/null || echo podman)
BASE_IMAGE ?= localhost/pumpapi-base:bookworm
IMAGE      ?= localhost/pumpapi
export CONTAINERS_CONF ?= $(CURDIR)/deploy/podman/containers.conf
BUILD = $(CONTAINER) build --network=host --build-arg BASE=$(BASE_IMAGE) \
        $(if $(findstring podman,$(CONTAINER)),--format docker)

# podman, runc and debootstrap from Debian's packages; installed only when missing.
containers:
	@command -v $(CONTAINER) >/dev/null 2>&1 && command -v debootstrap >/dev/null 2>&1 || \
		(apt-get install -y podman runc debootstrap || \
		 (apt-get update && apt-get install -y podman runc debootstrap))

# Every wheel the images install (serving and training), from PyPI or pip's cache.
wheels:
	$(PYTHON) -m pip wheel -q --wheel-dir var/wheels setuptools wheel '.[train]'
	rm -f var/wheels/pumpapi-*.whl

base-image: containers
	deploy/container/base-image.sh $(BASE_IMAGE) $(CONTAINER)

image-runtime: wheels base-image
	$(BUILD) --target runtime -t $(IMAGE):runtime .

# runtime, trainer, and baked (runtime + ./var/models) when var/models holds models.
image: image-runtime
	$(BUILD) --target trainer -t $(IMAGE):trainer .
	@if ls var/models/*/aliases.json >/dev/null 2>&1 || ls -d var/models/*/1 >/dev/null 2>&1; then \
		$(BUILD) --target baked -t $(IMAGE):baked . ; \
	else echo "no models in var/models: baked not built (make serve, or the trainer, makes them)"; fi
	$(CONTAINER) images --filter reference='$(IMAGE)'

# Offline stand-ins for the postgres and nginx images of docker-compose.yml (Debian's packages).
service-images: base-image
	$(BUILD) -f deploy/container/services.Containerfile --target postgres -t localhost/pumpapi-postgres:15 .
	$(BUILD) -f deploy/container/services.Containerfile --target nginx -t localhost/pumpapi-nginx:bookworm .

# docker-compose.yml on this machine's podman, offline (the images above, built locally).
COMPOSE_ENV = PUMPAPI_POSTGRES_IMAGE=localhost/pumpapi-postgres:15 \
              PUMPAPI_NGINX_IMAGE=localhost/pumpapi-nginx:bookworm \
              COMPOSE="$(BIN)/podman-compose" CONTAINER=$(CONTAINER)
compose-up: image service-images $(VENV)/.test-installed
	$(COMPOSE_ENV) deploy/container/compose-up.sh pumpapi

compose-down:
	$(COMPOSE_ENV) $(BIN)/podman-compose -p pumpapi down -v

lint: $(VENV)/.test-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint Dockerfile deploy/container/services.Containerfile

format: $(VENV)/.test-installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
