"""/metrics and the request log of a real gunicorn with two workers."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.integration.load import READING

pytestmark = pytest.mark.integration

REQUESTS = 60


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus text format (0 if absent)."""
    for line in text.splitlines():
        match = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if found == labels:
            return float(match.group(3))
    return 0.0


def test_metrics_and_logs_add_up_across_two_workers(gunicorn_server, xgboost_trained):
    server = gunicorn_server(
        {"PUMPAPI_MODEL_STORE": str(xgboost_trained.root), "PUMPAPI_MODEL_FAMILIES": "xgboost"},
        workers=2,
    )
    url = f"{server.url}/model/xgboost/predict"

    def predict(i: int) -> int:
        headers = {"X-Request-ID": f"obs-{i}"}
        return requests.post(url, json=READING, headers=headers, timeout=10).status_code

    with ThreadPoolExecutor(6) as pool:
        assert set(pool.map(predict, range(REQUESTS))) == {200}
    assert requests.get(f"{server.url}/machines/nope/x", timeout=5).status_code == 404

    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    request_lines = [line for line in lines if line["logger"] == "pumpapi.request"]
    predictions = [line for line in request_lines if line["route"] == "/model/xgboost/predict"]
    assert len(predictions) == REQUESTS
    assert {line["request_id"] for line in predictions} == {f"obs-{i}" for i in range(REQUESTS)}
    for line in predictions:
        assert line["status"] == 200 and line["method"] == "POST"
        assert line["duration_ms"] > 0 and line["worker_pid"] in server.worker_pids()
    pids = {line["worker_pid"] for line in predictions}
    assert len(pids) == 2, "the load reached only one worker"

    # Scraping hits one worker; the counts are those of both.
    text = requests.get(f"{server.url}/metrics", timeout=5).text
    labels = {"route": "/model/xgboost/predict", "method": "POST", "status": "200"}
    assert _sample(text, "pumpapi_http_requests_total", **labels) == REQUESTS
    assert _sample(text, "pumpapi_http_request_duration_seconds_count", **labels) == REQUESTS
    inference = {"family": "xgboost", "version": "1", "outcome": "ok"}
    assert _sample(text, "pumpapi_inference_duration_seconds_count", **inference) == REQUESTS
    # Unknown paths share one bounded label, never the raw path.
    unmatched = {"route": "<unmatched>", "method": "GET", "status": "404"}
    assert _sample(text, "pumpapi_http_requests_total", **unmatched) == 1
    assert "/machines/nope/x" not in text
    assert _sample(text, "pumpapi_model_loaded", family="xgboost", version="1") == 1
    # Only the scrape itself is in flight.
    assert _sample(text, "pumpapi_http_requests_in_flight") == 1
