"""Prometheus metrics of the service, correct across gunicorn workers.

Under gunicorn, config/gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR before the app is
imported: every process then writes its samples to files there, `GET /metrics` aggregates them,
and a dead worker's gauges are dropped (`mark_process_dead` in `child_exit`). Without it (tests,
`flask run`) the samples live in this process. Label values are bounded: a route *template*
(never a raw path or a pump name), a known method, a status code, a model family and version.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, Response, current_app
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Route label of requests that matched no route (404, or 405 on an unknown method).
UNMATCHED = "<unmatched>"
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})

# Requests answer in a few ms; a window of the DB or a batch can take a second or more.
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_INFERENCE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)

HTTP_REQUESTS = Counter(
    "pumpapi_http_requests_total",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "pumpapi_http_request_duration_seconds",
    "Time to answer a request in the app (nginx and queueing excluded).",
    ["route", "method", "status"],
    buckets=_REQUEST_BUCKETS,
)
IN_FLIGHT = Gauge(
    "pumpapi_http_requests_in_flight",
    "Requests being handled now, over the live workers.",
    multiprocess_mode="livesum",
)
INFERENCE_LATENCY = Histogram(
    "pumpapi_inference_duration_seconds",
    "Time spent in a model's prediction call, by family, version and outcome.",
    ["family", "version", "outcome"],
    buckets=_INFERENCE_BUCKETS,
)
MODEL_LOADED = Gauge(
    "pumpapi_model_loaded",
    "1 if the family's model is loaded and serving (version label), 0 if its load failed.",
    ["family", "version"],
    multiprocess_mode="max",
)
FEATURE_PSI = Gauge(
    "pumpapi_feature_psi",
    "Population stability index of an input's recent values against its training reference "
    "(0.1 moderate, 0.25 significant shift), as last computed by /model/<family>/drift.",
    ["family", "feature"],
    multiprocess_mode="mostrecent",
)
DB_POOL_CONNECTIONS = Gauge(
    "pumpapi_db_pool_connections",
    "Database connections of the live workers' pools: open, idle (available), max.",
    ["state"],
    multiprocess_mode="livesum",
)
DB_POOL_WAITING = Gauge(
    "pumpapi_db_pool_requests_waiting",
    "Requests waiting for a database connection now.",
    multiprocess_mode="livesum",
)
DB_POOL_REQUESTS = Counter(
    "pumpapi_db_pool_requests_total",
    "Connections lent by the pools to requests.",
)
DB_POOL_ERRORS = Counter(
    "pumpapi_db_pool_errors_total",
    "Database pool failures: request_failed (no connection in time), connect_failed, "
    "connection_lost, returned_bad.",
    ["kind"],
)

# psycopg_pool stat name -> our error kind (counters: reset by each pop_stats()).
_POOL_ERROR_STATS = {
    "requests_errors": "request_failed",
    "connections_errors": "connect_failed",
    "connections_lost": "connection_lost",
    "returns_bad": "returned_bad",
}


def multiprocess_dir() -> str | None:
    """The multiprocess directory, if this process writes its samples to files."""
    return os.environ.get(MULTIPROC_ENV) or None


def route_label(route: str | None) -> str:
    return route if route is not None else UNMATCHED


def method_label(method: str) -> str:
    return method if method in _METHODS else "OTHER"


def request_started() -> None:
    IN_FLIGHT.inc()


def request_left() -> None:
    IN_FLIGHT.dec()


#: The labelled children of each route, method and status seen: prometheus_client's
#: `labels()` takes a lock and builds a key on every call, a visible share of a request.
_REQUEST_CHILDREN: dict[tuple[str | None, str, int], tuple[Any, Any]] = {}
_INFERENCE_CHILDREN: dict[tuple[str, str, str], Any] = {}


def request_finished(
    method: str, route: str | None, status: int, seconds: float, telemetry: Any = None
) -> None:
    """Count and time one answered request; refresh this worker's database pool gauges from
    `telemetry` (the app's TelemetryStore, if it has one)."""
    key = (route, method_label(method), status)  # bounded: routes, known methods, statuses
    children = _REQUEST_CHILDREN.get(key)
    if children is None:
        labels = (route_label(route), key[1], str(status))
        children = HTTP_REQUESTS.labels(*labels), HTTP_LATENCY.labels(*labels)
        _REQUEST_CHILDREN[key] = children
    children[0].inc()
    children[1].observe(seconds)
    _record_pool(telemetry)


PREDICTION_LOG_DROPPED = Counter(
    "pumpapi_prediction_log_dropped_total",
    "Predictions the prediction log could not record (PostgreSQL down, buffer full).",
)


def prediction_log_dropped(rows: int) -> None:
    """Count rows of the prediction log that were dropped (see pumpapi.db.predictions)."""
    PREDICTION_LOG_DROPPED.inc(rows)


def observe_inference(family: str, version: str, seconds: float, outcome: str = "ok") -> None:
    """Record one prediction call of a model (see pumpapi.models.timing)."""
    key = (family, version, outcome)
    child = _INFERENCE_CHILDREN.get(key)
    if child is None:
        child = _INFERENCE_CHILDREN[key] = INFERENCE_LATENCY.labels(*key)
    child.observe(seconds)


def _record_pool(telemetry: Any) -> None:
    stats = telemetry.pop_pool_stats() if telemetry is not None else None
    if not stats:
        return
    size, available = stats.get("pool_size", 0), stats.get("pool_available", 0)
    DB_POOL_CONNECTIONS.labels("open").set(size)
    DB_POOL_CONNECTIONS.labels("idle").set(available)
    DB_POOL_CONNECTIONS.labels("max").set(stats.get("pool_max", 0))
    DB_POOL_WAITING.set(stats.get("requests_waiting", 0))
    if stats.get("requests_num"):
        DB_POOL_REQUESTS.inc(stats["requests_num"])
    for stat, kind in _POOL_ERROR_STATS.items():
        if stats.get(stat):
            DB_POOL_ERRORS.labels(kind).inc(stats[stat])


def record_models(registry: Any) -> None:
    """Set the model load gauges from a ModelRegistry's status."""
    for family, status in registry.status().items():
        MODEL_LOADED.labels(family, status.version or "none").set(1 if status.ready else 0)


def exposition() -> tuple[bytes, str]:
    """The metrics of every process of this instance in the Prometheus text format."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    """Drop a dead worker's live gauges (gunicorn's child_exit hook calls this)."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)


def metrics_view() -> Response:
    """GET /metrics: Prometheus text format (not in the OpenAPI document; internal only)."""
    models = current_app.extensions.get("pumpapi.models")
    if models is not None:
        record_models(models)
    body, content_type = exposition()
    return Response(body, content_type=content_type)


def init_app(app: Flask) -> None:
    """Serve /metrics and publish the models' load status."""
    app.add_url_rule("/metrics", "metrics", metrics_view, methods=["GET"])
    models = app.extensions.get("pumpapi.models")
    if models is not None:
        record_models(models)
