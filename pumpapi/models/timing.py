"""Timing of prediction calls: the one hook every family blueprint wraps its model call in."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import g, has_request_context

from pumpapi.models.base import Model


@dataclass
class Inference:
    """What the request's model calls were: the prediction log records it with the answer."""

    family: str
    version: str
    seconds: float


@contextmanager
def timed_inference(model: Model) -> Iterator[None]:
    """Record how long the wrapped prediction took, by family, version and outcome
    (`ok`, or `error` when it raised), in the inference latency histogram; in a request, note
    it on `g.inference` for the prediction log."""
    from pumpapi.observability import metrics  # prometheus_client: imported once, on first use

    started = time.perf_counter()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    finally:
        seconds = time.perf_counter() - started
        version = model.version.version
        metrics.observe_inference(model.family, version, seconds, outcome)
        if outcome == "ok" and has_request_context():
            noted = g.get("inference")
            if noted is None:
                g.inference = Inference(model.family, version, seconds)
            else:
                noted.seconds += seconds
