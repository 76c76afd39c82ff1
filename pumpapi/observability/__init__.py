"""Observability: request ids, Prometheus metrics and one structured log line per request.

`init_app` wires the per-request hooks. Metrics live in `metrics` (prometheus_client, in
multiprocess mode under gunicorn), logging configuration and the request log line in `logs`.
"""

from __future__ import annotations

import os
import re
import time

from flask import Flask, Request, Response, g, request

from pumpapi import db
from pumpapi.observability import logs

REQUEST_ID_HEADER = "X-Request-ID"
# A client-given id is echoed only if it is short and plain: it ends up in logs and headers.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")


def request_id() -> str:
    """The current request's id (given by the client or nginx, or generated here)."""
    return g.get("request_id") or "-"


def _incoming_request_id(req: Request) -> str:
    given = req.headers.get(REQUEST_ID_HEADER)
    if given and _VALID_REQUEST_ID.match(given):
        return given
    return os.urandom(16).hex()  # 128 random bits, as uuid4 has, at a tenth of its cost


def init_app(app: Flask) -> None:
    """Give every request an id (echoed in X-Request-ID), time it, count it and log it.

    The hooks read the request, app and `g` objects once each: every attribute read through
    Flask's context-local proxies costs time, and a request would make a few dozen."""
    metrics_enabled = bool(app.config["METRICS_ENABLED"])
    if metrics_enabled:
        from pumpapi.observability import metrics

        metrics.init_app(app)

    @app.before_request
    def _start() -> None:
        state = g._get_current_object()
        state.request_id = _incoming_request_id(request._get_current_object())
        state.request_started = time.perf_counter()
        if metrics_enabled:
            metrics.request_started()
            state.request_in_flight = True

    @app.after_request
    def _finish(response: Response) -> Response:
        state = g._get_current_object()
        req = request._get_current_object()
        started = state.get("request_started")
        if started is None:  # a before_request hook failed before ours ran
            state.request_id = _incoming_request_id(req)
            started = time.perf_counter()
        response.headers[REQUEST_ID_HEADER] = state.request_id
        duration = time.perf_counter() - started
        route = req.url_rule.rule if req.url_rule is not None else None
        if metrics_enabled:
            metrics.request_finished(
                req.method,
                route,
                response.status_code,
                duration,
                db.store(app),
            )
        if logs.request_log_enabled():
            logs.log_request(
                request_id=state.request_id,
                method=req.method,
                route=route,
                path=req.path,
                status=response.status_code,
                duration=duration,
            )
        return response

    @app.teardown_request
    def _leave(_exc: BaseException | None) -> None:
        # Teardown runs whatever happened, so the in-flight gauge never drifts upwards.
        if metrics_enabled and g.pop("request_in_flight", False):
            metrics.request_left()
