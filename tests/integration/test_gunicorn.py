"""The service as it runs: real gunicorn with config/gunicorn.conf.py and a real PostgreSQL."""

from __future__ import annotations

import time

import psutil
import pytest
import requests

from pumpapi import db
from tests.fixtures.db import pump_history

pytestmark = pytest.mark.integration

SPEC_READING = {
    "rotacao_motor_rpm": 1800,
    "pressao_oleo_bar": 4.5,
    "tensao_bateria_v": 24.1,
    "tensao_alternador_v": 27.8,
}


def _load_pumps(url: str, *names: str) -> None:
    db.copy_fleet(
        db.to_conninfo(url), [pump_history(name, 120, seed=i) for i, name in enumerate(names)]
    )


@pytest.fixture
def served(gunicorn_server, xgboost_trained, database_url):
    _load_pumps(database_url, "MOTOBOMBA-001", "MOTOBOMBA-007")
    return gunicorn_server(
        {
            "DATABASE_URL": database_url,
            "PUMPAPI_MODEL_STORE": str(xgboost_trained.root),
            "PUMPAPI_MODEL_FAMILIES": "xgboost",
        }
    )


def test_ready_with_database_and_model(served):
    response = requests.get(f"{served.url}/health/ready", timeout=5)
    assert response.status_code == 200, response.text
    components = response.json()["components"]
    assert components["database"]["ready"] is True
    assert components["model:xgboost"]["ready"] is True


def test_spec_examples_through_gunicorn(served):
    assert requests.get(f"{served.url}/health", timeout=5).json() == {
        "status": "ok",
        "message": "Service is healthy",
    }
    assert requests.get(f"{served.url}/ping", timeout=5).json() == {"ping": "pong"}
    assert requests.post(f"{served.url}/health-check", timeout=5).json() == {"status": "healthy"}

    body = requests.post(f"{served.url}/model/xgboost/predict", json=SPEC_READING, timeout=5).json()
    assert body["success"] is True
    assert body["result"]["prediction"] in {"Operação Saudável", "Risco de Falha Iminente"}
    assert 0.0 <= body["result"]["probability"] <= 1.0
    assert body["result"]["timestamp"].endswith("Z")

    response = requests.post(
        f"{served.url}/machine/predict", params={"machine_name": "MOTOBOMBA-007"}, timeout=5
    )
    assert response.status_code == 200, response.text
    assert response.json()["result"]["prediction"] in {
        "Operação Saudável",
        "Risco de Falha Iminente",
    }
    assert response.json()["result"]["model"] == "window"
    # The window model's explanation in a forked worker (an OpenMP pool started there after the
    # master used one hangs: every XGBoost call of a request runs on one thread).
    explained = requests.post(
        f"{served.url}/machine/predict",
        params={"machine_name": "MOTOBOMBA-007", "explain": "true"},
        timeout=5,
    )
    assert explained.status_code == 200, explained.text
    assert explained.json()["result"]["explanation"]["contributions"]

    response = requests.post(
        f"{served.url}/machine/predict", params={"machine_name": "MOTOBOMBA-999"}, timeout=5
    )
    assert response.status_code == 404
    assert response.json() == {
        "success": False,
        "error": "Nenhum dado encontrado para a máquina: MOTOBOMBA-999",
        "code": 404,
        "status": "Not Found",
    }

    machines = requests.get(f"{served.url}/machines", timeout=5).json()["machines"]
    assert [m["machine"] for m in machines] == ["MOTOBOMBA-001", "MOTOBOMBA-007"]


def test_docs_are_served_by_the_app(served):
    html = requests.get(f"{served.url}/docs", timeout=5).text
    assert "/docs/assets/swagger-ui-bundle.js" in html
    asset = requests.get(f"{served.url}/docs/assets/swagger-ui-bundle.js", timeout=5)
    assert asset.status_code == 200 and len(asset.content) > 100_000
    spec = requests.get(f"{served.url}/openapi.json", timeout=5).json()
    assert {"/model/xgboost/predict", "/machine/predict", "/health/ready"} <= set(spec["paths"])


def test_models_load_once_in_the_master_and_pools_open_in_the_workers(served, pg_cluster):
    # Traffic on both workers, so each has used its pool.
    for _ in range(20):
        requests.post(
            f"{served.url}/machine/predict", params={"machine_name": "MOTOBOMBA-001"}, timeout=5
        ).raise_for_status()
    workers = served.wait_for_workers(2)
    # preload_app: the model was loaded once, in the master, before fork: every worker reports
    # the very same load (one load per worker would differ; one per request would change).
    loads: dict[int, set[float]] = {}
    deadline = time.monotonic() + 20
    while set(loads) != workers and time.monotonic() < deadline:
        body = requests.get(f"{served.url}/health/ready", timeout=5).json()
        loads.setdefault(body["pid"], set()).add(body["components"]["model:xgboost"]["loaded_at"])
    assert set(loads) == workers
    assert len(set().union(*loads.values())) == 1

    def pg_sockets(pid: int) -> int:
        return sum(
            1
            for c in psutil.Process(pid).net_connections(kind="tcp")
            if c.raddr and c.raddr.port == pg_cluster.port
        )

    # No database socket in the master (it would be shared by every forked worker) ...
    assert pg_sockets(served.process.pid) == 0
    # ... and each worker has its own pool.
    assert all(pg_sockets(pid) >= 1 for pid in workers)


def test_postgres_outage_degrades_only_database_endpoints_and_recovers(
    gunicorn_server, xgboost_trained, private_cluster, private_database_url
):
    _load_pumps(private_database_url, "MOTOBOMBA-007")
    server = gunicorn_server(
        {
            "DATABASE_URL": private_database_url,
            "PUMPAPI_MODEL_STORE": str(xgboost_trained.root),
            "PUMPAPI_MODEL_FAMILIES": "xgboost",
        }
    )
    machine = f"{server.url}/machine/predict?machine_name=MOTOBOMBA-007"
    assert requests.post(machine, timeout=5).status_code == 200

    private_cluster.stop()
    for _ in range(4):  # both workers, several times: none hangs
        started = time.monotonic()
        response = requests.post(machine, timeout=10)
        elapsed = time.monotonic() - started
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"]
        assert response.json()["success"] is False
        assert elapsed <= 1.5, f"503 took {elapsed:.2f} s"
    ready = requests.get(f"{server.url}/health/ready", timeout=10)
    assert ready.status_code == 503
    assert ready.json()["components"]["database"]["ready"] is False
    # Endpoints that do not need the database are unaffected.
    assert requests.get(f"{server.url}/health", timeout=5).status_code == 200
    predict = requests.post(f"{server.url}/model/xgboost/predict", json=SPEC_READING, timeout=5)
    assert predict.status_code == 200

    private_cluster.start()
    # The first request after PostgreSQL is back succeeds on every worker: no restart, no wait.
    for _ in range(4):
        assert requests.post(machine, timeout=5).status_code == 200
