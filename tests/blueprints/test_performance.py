"""GET /model/<family>/performance: the prediction log joined with later events and readings,
end to end on the real PostgreSQL."""

from __future__ import annotations

import datetime as dt

import numpy as np
import psycopg
import pytest

from pumpapi.channels import CHANNEL_NAMES
from pumpapi.db import predictions
from pumpapi.db.performance import roc_auc
from tests.fixtures.inference import WRITER_KEY as KEY


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def app(logged_fleet_app):
    return logged_fleet_app


def test_risk_is_labelled_by_later_failures_and_elapsed_horizons(app, database_url):
    client = app.test_client()
    answers = {
        pump: client.post(f"/machine/predict?machine_name={pump}").get_json()["result"]
        for pump in ("MOTOBOMBA-001", "MOTOBOMBA-002", "MOTOBOMBA-003")
    }
    predictions.of(app).flush()
    # Nothing is known yet: no failure, and the 24 h horizon has not passed.
    first = client.get("/model/xgboost/performance").get_json()["versions"][0]["realized"]
    assert first == {"predictions": 3, "labelled": 0}
    # Pump 1 fails within the horizon; pumps 2 and 3's predictions are two days old by now.
    now = dt.datetime.now(dt.UTC)
    event = {"machine": "MOTOBOMBA-001", "timestamp": _iso(now + dt.timedelta(hours=1)),
             "kind": "failure", "cause": "oil_leak"}  # fmt: skip
    assert (
        client.post(
            "/machine/events", json={"events": [event]}, headers={"X-API-Key": KEY}
        ).status_code
        == 200
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT prediction_log_partitions(current_date - 3, 3)")
        conn.execute(
            "UPDATE predictions SET ts = ts - interval '2 days' WHERE machine <> 'MOTOBOMBA-001'"
        )
    body = client.get("/model/xgboost/performance").get_json()
    (version,) = body["versions"]
    realized = version["realized"]
    assert realized["predictions"] == 3 and realized["labelled"] == 3 and realized["failures"] == 1
    probability = {p: a["probability"] for p, a in answers.items()}
    failed, others = probability["MOTOBOMBA-001"], ("MOTOBOMBA-002", "MOTOBOMBA-003")
    # The failed pump ranked above each healthy one (ties count half).
    expected = np.mean(
        [(failed > probability[p]) + 0.5 * (failed == probability[p]) for p in others]
    )
    assert realized["roc_auc"] == pytest.approx(expected)
    brier = np.mean([(failed - 1) ** 2, *(probability[p] ** 2 for p in others)])
    assert realized["brier"] == pytest.approx(brier)
    assert sum(b["predictions"] for b in realized["calibration"]) == 3
    assert version["offline"]["roc_auc"] is not None  # the training metrics beside
    assert version["version"] == answers["MOTOBOMBA-001"]["model_version"]


def test_forecasts_meet_the_reading_that_followed(app):
    client = app.test_client()
    forecast = client.post("/machine/lstm/predict?machine_name=MOTOBOMBA-002&channel=Oil_P")
    assert forecast.status_code == 200, forecast.get_json()
    meta = forecast.get_json()["meta"]
    predictions.of(app).flush()
    assert client.get("/model/lstm/performance").get_json()["versions"][0]["realized"] == {
        "predictions": 1, "labelled": 0,
    }  # fmt: skip
    last = dt.datetime.fromisoformat(meta["last_timestamp"].replace("Z", "+00:00"))
    reading = {"machine": "MOTOBOMBA-002", "timestamp": _iso(last + dt.timedelta(minutes=1)),
               **dict.fromkeys(CHANNEL_NAMES, 1.0), "Oil_P": 4.2, "Eng_RPM": 1800.0}  # fmt: skip
    stored = client.post(
        "/machine/telemetry", json={"readings": [reading]}, headers={"X-API-Key": KEY}
    )
    assert stored.status_code == 200, stored.get_json()
    realized = client.get("/model/lstm/performance").get_json()["versions"][0]["realized"]
    assert realized["labelled"] == 1
    assert realized["mae"] == pytest.approx(abs(forecast.get_json()["prediction"] - 4.2))
    assert realized["per_channel"]["Oil_P"]["labelled"] == 1


def test_health_meets_the_inspections_that_followed(app):
    client = app.test_client()
    answer = client.post("/machine/gru/predict?machine_name=MOTOBOMBA-003").get_json()
    predictions.of(app).flush()
    soon = _iso(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5))
    inspection = {"machine": "MOTOBOMBA-003", "timestamp": soon, "kind": "inspection",
                  "lubrificacao": 80.0, "hidraulico": 55.0}  # fmt: skip
    client.post("/machine/events", json={"events": [inspection]}, headers={"X-API-Key": KEY})
    realized = client.get("/model/gru/performance").get_json()["versions"][0]["realized"]
    assert realized["labelled"] == 1
    indices = answer["indices"]
    assert realized["mae_lubrificacao"] == pytest.approx(abs(indices["lubrificacao"] - 80.0))
    assert realized["mae_hidraulico"] == pytest.approx(abs(indices["hidraulico"] - 55.0))


def test_unknown_family_is_404_and_filters_apply(app):
    client = app.test_client()
    assert client.get("/model/bert/performance").status_code == 404
    client.post("/machine/predict?machine_name=MOTOBOMBA-001")
    predictions.of(app).flush()
    assert client.get("/model/xgboost/performance?version=999").get_json()["versions"] == []
    later = _iso(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    assert client.get(f"/model/xgboost/performance?since={later}").get_json()["versions"] == []


@pytest.mark.parametrize("path", ["performance", "drift"])
def test_a_version_holding_a_nul_is_422_naming_the_field(app, path):
    """No version name holds a NUL, and PostgreSQL text cannot: found by the fuzzer as a 500
    (the value reached the prediction log's query)."""
    response = app.test_client().get(f"/model/xgboost/{path}?version=1%00")
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["success"] is False and "version" in str(body)


def test_a_pinned_version_holding_a_nul_is_422_too(app):
    response = app.test_client().post("/machine/predict?machine_name=MOTOBOMBA-001&version=1%00")
    assert response.status_code == 422, response.get_json()


@pytest.mark.parametrize(
    ("scores", "labels", "expected"),
    [
        ([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 0.75),
        ([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1], 0.5),  # ties count half
        ([0.2, 0.9], [1, 1], None),  # one class: undefined
    ],
)
def test_roc_auc(scores, labels, expected):
    assert roc_auc(np.array(scores), np.array(labels, dtype=bool)) == expected
