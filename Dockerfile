# PumpAPI image. Targets:
#   runtime (default): gunicorn + the serving dependencies; models mounted at /models.
#   baked:             runtime with ./var/models copied in (immutable, self-contained image).
#   trainer:           runtime + the `train` extra, for the one-shot job (schema, fleet, training).
# Only the trainer has a compiler: gcc builds the xgboost family's compiled predictor (tl2cgen) at
# publish; the serving images only load it.
#
# Offline builds (no registry, no package index): BASE is any Debian bookworm image with python3
# and python3-venv (`make base-image` makes one with debootstrap), and Python packages install only
# from the wheelhouse `make wheels` leaves in var/wheels (pip --no-index). Without a wheelhouse in
# the context, the same file builds online from PyPI: `docker build .` works as usual.
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY setup.cfg pyproject.toml README.md ./
COPY pumpapi ./pumpapi
# The context is bind-mounted, not copied: the wheelhouse never becomes a layer.
RUN --mount=type=bind,target=/context \
    python3 -m venv /opt/venv \
    && if [ -d /context/var/wheels ]; then set -- --no-index --find-links /context/var/wheels; fi \
    && /opt/venv/bin/pip install --no-cache-dir "$@" --only-binary=:all: --no-binary=pumpapi .

FROM ${BASE} AS serving
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PUMPAPI_BIND=0.0.0.0:8000 \
    PUMPAPI_MODEL_STORE=/models \
    PUMPAPI_LOG_FORMAT=json \
    PROMETHEUS_MULTIPROC_DIR=/tmp/pumpapi-metrics \
    PUMPAPI_MODEL_CACHE=/tmp/pumpapi-model-cache
RUN groupadd --system --gid 10001 pumpapi \
    && useradd --system --uid 10001 --gid pumpapi --no-create-home --shell /usr/sbin/nologin pumpapi \
    && mkdir -p /models /tmp/pumpapi-metrics \
    && chown pumpapi:pumpapi /models /tmp/pumpapi-metrics
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY config/gunicorn.conf.py config/gunicorn.conf.py
COPY wsgi.py wsgi.py
USER 10001:10001
EXPOSE 8000
# Liveness only (the process answers): a database outage must not restart healthy containers.
# Load balancers use /health/ready instead. PUMPAPI_BIND's port, so a different bind still checks.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ['PUMPAPI_BIND'].rsplit(':', 1)[1]; urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=2)"]
ENTRYPOINT ["gunicorn", "-c", "config/gunicorn.conf.py"]
CMD ["wsgi:app"]

FROM serving AS baked
COPY --chown=10001:10001 var/models /models

FROM serving AS trainer
USER 0:0
# Debian's gcc of the same base image: libraries it builds load in the runtime image.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src /src
RUN --mount=type=bind,target=/context \
    if [ -d /context/var/wheels ]; then set -- --no-index --find-links /context/var/wheels; fi \
    && /opt/venv/bin/pip install --no-cache-dir "$@" --only-binary=:all: --no-binary=pumpapi "/src[train]"
USER 10001:10001
ENTRYPOINT ["pumpapi"]
CMD ["--help"]

# Last, so that a plain `docker build .` gives the serving image.
FROM serving AS runtime
