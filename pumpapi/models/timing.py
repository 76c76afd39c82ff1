"""Timing of prediction calls: the one hook every family blueprint wraps its model call in."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from pumpapi.models.base import Model


@contextmanager
def timed_inference(model: Model) -> Iterator[None]:
    """Record how long the wrapped prediction took, by family, version and outcome
    (`ok`, or `error` when it raised), in the inference latency histogram."""
    from pumpapi.observability import metrics  # prometheus_client: imported once, on first use

    started = time.perf_counter()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    finally:
        metrics.observe_inference(
            model.family, model.version.version, time.perf_counter() - started, outcome
        )
