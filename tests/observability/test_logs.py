"""Request ids and the structured request log."""

from __future__ import annotations

import io
import json
import logging
import logging.config

import pytest

from pumpapi.observability import logs


def test_request_id_is_passed_through_or_generated(client):
    assert client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == (
        "abc-123"
    )
    generated = client.get("/health").headers["X-Request-ID"]
    assert len(generated) == 32 and generated != client.get("/health").headers["X-Request-ID"]
    # Something that does not look like an id is not echoed into headers and logs.
    odd = client.get("/health", headers={"X-Request-ID": 'a b"{}' * 40}).headers["X-Request-ID"]
    assert len(odd) == 32


def test_one_log_line_per_request_with_its_fields(client, caplog):
    with caplog.at_level(logging.INFO, logger=logs.REQUEST_LOGGER):
        client.get("/health", headers={"X-Request-ID": "req-1"})
        client.get("/machines/unknown/path")
    first, second = [r for r in caplog.records if r.name == logs.REQUEST_LOGGER]
    assert (first.request_id, first.route, first.status, first.method) == (
        "req-1",
        "/health",
        200,
        "GET",
    )
    assert first.duration_ms >= 0 and isinstance(first.worker_pid, int)
    assert second.route is None and second.status == 404


def _configured(fmt: str) -> tuple[logging.Logger, io.StringIO]:
    config = logs.logging_config(fmt)
    stream = io.StringIO()
    config["handlers"]["console"]["stream"] = stream
    previous = logging.root.handlers[:], logging.root.level
    logging.config.dictConfig(config)
    return previous, stream


def _restore(previous) -> None:
    handlers, level = previous
    logging.root.handlers[:] = handlers
    logging.root.setLevel(level)


def test_json_lines_carry_fields_and_tracebacks(client):
    previous, stream = _configured("json")
    try:
        client.get("/health", headers={"X-Request-ID": "req-json"})
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("pumpapi.errors").exception("Unhandled error on GET /x")
    finally:
        _restore(previous)
    request_line, error_line = (json.loads(line) for line in stream.getvalue().splitlines())
    assert request_line["request_id"] == "req-json"
    assert {"time", "level", "logger", "pid", "route", "status", "duration_ms", "worker_pid"} <= (
        set(request_line)
    )
    assert error_line["level"] == "ERROR"
    assert "Traceback" in error_line["exc_info"] and "RuntimeError: boom" in error_line["exc_info"]


def test_text_format_for_development(client):
    previous, stream = _configured("text")
    try:
        client.get("/health")
    finally:
        _restore(previous)
    line = stream.getvalue().strip()
    assert "GET /health 200" in line and not line.startswith("{")


def test_unknown_log_format_is_refused():
    with pytest.raises(ValueError, match="log format"):
        logs.logging_config("xml")
