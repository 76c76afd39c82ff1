# PumpAPI image. Targets:
#   runtime (default): gunicorn + the serving dependencies; models mounted at /models.
#   baked:             runtime with ./var/models copied in (immutable, self-contained image).
#   trainer:           runtime + the `train` extra, for the one-shot job (schema, fleet, training).
# Every dependency installs from wheels. Only the trainer has a compiler: gcc builds the xgboost
# family's compiled predictor (tl2cgen) at publish; the serving images only load it.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY setup.cfg pyproject.toml README.md ./
COPY pumpapi ./pumpapi
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --only-binary=:all: --no-binary=pumpapi .

FROM python:3.11-slim-bookworm AS serving
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PUMPAPI_BIND=0.0.0.0:8000 \
    PUMPAPI_MODEL_STORE=/models \
    PUMPAPI_LOG_FORMAT=json \
    PROMETHEUS_MULTIPROC_DIR=/tmp/pumpapi-metrics
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
# Load balancers use /health/ready instead.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]
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
RUN /opt/venv/bin/pip install --no-cache-dir --only-binary=:all: --no-binary=pumpapi "/src[train]"
USER 10001:10001
ENTRYPOINT ["pumpapi"]
CMD ["--help"]

# Last, so that a plain `docker build .` gives the serving image.
FROM serving AS runtime
