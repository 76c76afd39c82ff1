"""Prometheus metrics in one process (the multiprocess case: tests/integration)."""

from __future__ import annotations

from prometheus_client import REGISTRY

from pumpapi.observability import metrics
from tests.integration.load import READING


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_requests_counted_by_route_template_method_and_status(client):
    labels = {"route": "/health", "method": "GET", "status": "200"}
    before = _value("pumpapi_http_requests_total", **labels)
    for _ in range(3):
        client.get("/health")
    assert _value("pumpapi_http_requests_total", **labels) == before + 3
    assert _value("pumpapi_http_request_duration_seconds_count", **labels) == before + 3

    before = _value("pumpapi_http_requests_total", route="<unmatched>", method="GET", status="404")
    client.get("/MOTOBOMBA-007/anything")
    assert (
        _value("pumpapi_http_requests_total", route="<unmatched>", method="GET", status="404")
        == before + 1
    )
    assert _value("pumpapi_http_requests_in_flight") == 0


def test_metrics_endpoint_serves_prometheus_text(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    assert b"pumpapi_http_requests_total" in response.data


def test_metrics_can_be_switched_off(make_app):
    assert make_app(METRICS_ENABLED=False).test_client().get("/metrics").status_code == 404


def test_inference_latency_and_model_status(xgboost_client):
    labels = {"family": "xgboost", "version": "1", "outcome": "ok"}
    before = _value("pumpapi_inference_duration_seconds_count", **labels)
    assert xgboost_client.post("/model/xgboost/predict", json=READING).status_code == 200
    assert _value("pumpapi_inference_duration_seconds_count", **labels) == before + 1
    assert _value("pumpapi_model_loaded", family="xgboost", version="1") == 1


class _Telemetry:
    """A stand-in TelemetryStore returning psycopg_pool-style statistics."""

    def __init__(self, stats):
        self.stats = stats

    def pop_pool_stats(self):
        return self.stats


def test_pool_statistics_become_gauges_and_error_counters():
    before = _value("pumpapi_db_pool_errors_total", kind="request_failed")
    metrics._record_pool(
        _Telemetry(
            {"pool_size": 3, "pool_available": 1, "pool_max": 4, "requests_waiting": 2},
        )
    )
    metrics._record_pool(
        _Telemetry({"pool_size": 3, "pool_max": 4, "requests_errors": 2, "requests_num": 5})
    )
    assert _value("pumpapi_db_pool_connections", state="open") == 3
    assert _value("pumpapi_db_pool_connections", state="max") == 4
    assert _value("pumpapi_db_pool_errors_total", kind="request_failed") == before + 2
    metrics._record_pool(_Telemetry(None))  # no pool: nothing changes, nothing fails


def test_metrics_need_no_read_key(make_app):
    # Prometheus carries no API key; nginx keeps /metrics to internal networks instead.
    client = make_app(READ_API_KEYS=("reader-key",), INGEST_API_KEYS=("writer-key",)).test_client()
    assert client.get("/model/xgboost/info").status_code == 401  # reads do need the key
    response = client.get("/metrics")
    assert response.status_code == 200
    assert b"pumpapi_http_requests_total" in response.data
