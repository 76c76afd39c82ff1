"""Observability: request ids, Prometheus metrics and one structured log line per request.

`init_app` wires the per-request hooks. Metrics live in `metrics` (prometheus_client, in
multiprocess mode under gunicorn), logging configuration and the request log line in `logs`.
"""

from __future__ import annotations

import os
import re
import time

from flask import Flask, Response, g, request

from pumpapi.observability import logs

REQUEST_ID_HEADER = "X-Request-ID"
# A client-given id is echoed only if it is short and plain: it ends up in logs and headers.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")


def request_id() -> str:
    """The current request's id (given by the client or nginx, or generated here)."""
    return g.get("request_id") or "-"


def _incoming_request_id() -> str:
    given = request.headers.get(REQUEST_ID_HEADER)
    if given and _VALID_REQUEST_ID.match(given):
        return given
    return os.urandom(16).hex()  # 128 random bits, as uuid4 has (~0.5 µs; uuid4 ~5 µs)


def init_app(app: Flask) -> None:
    """Give every request an id (echoed in X-Request-ID), time it, count it and log it."""
    metrics_enabled = bool(app.config["METRICS_ENABLED"])
    if metrics_enabled:
        from pumpapi.observability import metrics

        metrics.init_app(app)

    @app.before_request
    def _start() -> None:
        g.request_id = _incoming_request_id()
        g.request_started = time.perf_counter()
        if metrics_enabled:
            metrics.request_started()
            g.request_in_flight = True

    @app.after_request
    def _finish(response: Response) -> Response:
        started = g.get("request_started")
        if started is None:  # a before_request hook failed before ours ran
            g.request_id = _incoming_request_id()
            started = time.perf_counter()
        response.headers[REQUEST_ID_HEADER] = g.request_id
        duration = time.perf_counter() - started
        route = request.url_rule.rule if request.url_rule is not None else None
        if metrics_enabled:
            metrics.request_finished(request.method, route, response.status_code, duration)
        logs.log_request(
            request_id=g.request_id,
            method=request.method,
            route=route,
            path=request.path,
            status=response.status_code,
            duration=duration,
        )
        return response

    @app.teardown_request
    def _leave(_exc: BaseException | None) -> None:
        # Teardown runs whatever happened, so the in-flight gauge never drifts upwards.
        if metrics_enabled and g.pop("request_in_flight", False):
            metrics.request_left()
