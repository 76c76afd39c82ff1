"""The loop of issue 12 end to end, on the real PostgreSQL and gunicorn: a fleet with its events
in the database, a model trained from it, served; predictions logged; a failure reported later
labels them (realized performance); traffic that shifts raises drift."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pytest
import requests

from pumpapi.db import copy_fleet, to_conninfo
from pumpapi.models.store import ModelStore
from tests.fixtures.xgboost import tiny_fleet

pytestmark = pytest.mark.integration

KEY = "loop-writer-key"


def _eventually(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def test_train_from_the_database_serve_learn_what_happened_and_see_drift(
    runner, tmp_path, database_url, gunicorn_server, monkeypatch
):
    fleet = tiny_fleet()
    copy_fleet(to_conninfo(database_url), fleet)
    monkeypatch.setenv("DATABASE_URL", database_url)
    store = tmp_path / "models"
    trained = runner.invoke(args=["train", "xgboost", "--source", "db", "--store", str(store)])
    assert trained.exit_code == 0, trained.output
    metadata = ModelStore(store).resolve("xgboost").metadata
    assert metadata["training_data"]["source"]["pumps"] == len(fleet)

    server = gunicorn_server(
        {
            "DATABASE_URL": database_url,
            "PUMPAPI_MODEL_STORE": str(store),
            "PUMPAPI_MODEL_FAMILIES": "xgboost",
            "PUMPAPI_INGEST_API_KEYS": KEY,
            "PUMPAPI_PREDICTION_LOG_FLUSH_SECONDS": "0.2",
        }
    )
    pumps = [p.name for p in fleet[:6]]
    answers = {}
    for name in pumps:
        answer = requests.post(
            f"{server.url}/machine/predict", params={"machine_name": name}, timeout=5
        )
        assert answer.status_code == 200, answer.text
        answers[name] = answer.json()["result"]

    # Later, the first pump fails: its prediction is labelled at once (the others' horizons
    # have not passed yet, so they wait).
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat()
    failure = {"machine": pumps[0], "kind": "failure", "cause": "oil_leak", "timestamp": later}
    posted = requests.post(f"{server.url}/machine/events", json={"events": [failure]},
                           headers={"X-API-Key": KEY}, timeout=5)  # fmt: skip
    assert posted.status_code == 200, posted.text

    def realized():
        body = requests.get(f"{server.url}/model/xgboost/performance", timeout=5).json()
        versions = body.get("versions") or [{}]
        figures = versions[0].get("realized", {})
        return figures if figures.get("predictions") == len(pumps) else None

    figures = _eventually(realized)
    assert figures is not None, "the predictions never reached the log"
    assert figures["labelled"] == 1 and figures["failures"] == 1

    # Traffic like the training data is stable; then oil pressure reads 9 bar on every request.
    reference = metadata["reference"]["inputs"]
    rng = np.random.default_rng(3)

    def batch(**override):
        rows = []
        for _ in range(500):
            row = {}
            for name, ref in reference.items():
                edges = [ref["range"][0], *ref["edges"], ref["range"][1]]
                shares = np.array(ref["fractions"])
                b = rng.choice(len(shares), p=shares / shares.sum())
                row[name] = round(float(rng.uniform(edges[b], max(edges[b], edges[b + 1]))), 3)
            rows.append(row | override)
        answer = requests.post(f"{server.url}/model/xgboost/predict", json={"instances": rows},
                               timeout=10)  # fmt: skip
        assert answer.status_code == 200, answer.text

    def drift(since: str, expected_rows: int):
        def read():
            body = requests.get(f"{server.url}/model/xgboost/drift", params={"since": since},
                                timeout=5).json()  # fmt: skip
            found = {i["feature"]: i for i in body.get("inputs", [])}
            rows = found.get("pressao_oleo_bar", {}).get("observations")
            return found if rows == expected_rows else None

        return _eventually(read)

    start = dt.datetime.now(dt.UTC).isoformat()
    batch()
    steady = drift(start, 500)
    assert steady is not None
    assert steady["pressao_oleo_bar"]["reading"] == "stable", steady["pressao_oleo_bar"]["psi"]
    shifted_at = dt.datetime.now(dt.UTC).isoformat()
    batch(pressao_oleo_bar=9.0)
    shifted = drift(shifted_at, 500)
    assert shifted is not None
    assert shifted["pressao_oleo_bar"]["reading"] == "significant"
    assert shifted["rotacao_motor_rpm"]["reading"] == "stable"
    print(
        "learning loop:", {"trained_on": metadata["training_data"]["source"]["readings"],
                           "realized": figures, "psi_steady": steady["pressao_oleo_bar"]["psi"],
                           "psi_shifted": shifted["pressao_oleo_bar"]["psi"]}
    )  # fmt: skip
    metrics = requests.get(f"{server.url}/metrics", timeout=5).text
    assert 'pumpapi_feature_psi{family="xgboost",feature="pressao_oleo_bar"}' in metrics
