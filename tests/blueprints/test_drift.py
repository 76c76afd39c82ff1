"""GET /model/<family>/drift: recent inputs against the training reference, end to end on the
real PostgreSQL (the prediction log for traffic, the readings for telemetry)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from pumpapi.db import predictions
from pumpapi.models.store import ModelStore
from pumpapi.observability.metrics import FEATURE_PSI


@pytest.fixture
def app(logged_fleet_app):
    return logged_fleet_app


def _like_training(ref: dict, size: int, rng: np.random.Generator) -> np.ndarray:
    """Values drawn from a reference's own bins: what training saw."""
    edges = [ref["range"][0], *ref["edges"], ref["range"][1]]
    shares = np.array(ref["fractions"])
    bins = rng.choice(len(shares), size, p=shares / shares.sum())
    return np.array([rng.uniform(edges[b], max(edges[b], edges[b + 1])) for b in bins])


def _traffic(client, stored: dict, size: int, rng, **override) -> None:
    columns = {name: _like_training(ref, size, rng) for name, ref in stored.items()}
    instances = [
        {name: round(float(values[i]), 3) for name, values in columns.items()} | override
        for i in range(size)
    ]
    answer = client.post("/model/xgboost/predict", json={"instances": instances})
    assert answer.status_code == 200, answer.get_json()


def test_traffic_like_training_is_stable_and_a_shift_is_significant(app, all_families_root):
    client = app.test_client()
    stored = ModelStore(all_families_root).resolve("xgboost").metadata["reference"]["inputs"]
    assert set(stored) == {
        "rotacao_motor_rpm", "pressao_oleo_bar", "tensao_bateria_v", "tensao_alternador_v"
    }  # fmt: skip
    rng = np.random.default_rng(5)
    _traffic(client, stored, 1_000, rng)
    predictions.of(app).flush()
    before = client.get("/model/xgboost/drift")
    assert before.status_code == 200, before.get_json()
    body = before.get_json()
    assert body["source"] == "traffic" and body["family"] == "xgboost"
    psi = {i["feature"]: i for i in body["inputs"]}
    assert all(i["observations"] == 1_000 for i in psi.values())
    assert all(i["psi"] < 0.1 and i["reading"] == "stable" for i in psi.values()), psi
    assert FEATURE_PSI.labels("xgboost", "pressao_oleo_bar")._value.get() < 0.1

    # Oil pressure now reads 9 bar on every request: that input alone drifts.
    since = dt.datetime.now(dt.UTC).isoformat()
    _traffic(client, stored, 1_000, rng, pressao_oleo_bar=9.0)
    predictions.of(app).flush()
    after = client.get("/model/xgboost/drift", query_string={"since": since}).get_json()
    psi = {i["feature"]: i for i in after["inputs"]}
    assert psi["pressao_oleo_bar"]["reading"] == "significant"
    assert psi["pressao_oleo_bar"]["bins"][-1]["observed"] == 1.0
    assert psi["rotacao_motor_rpm"]["reading"] == "stable"
    assert FEATURE_PSI.labels("xgboost", "pressao_oleo_bar")._value.get() > 0.25


def test_window_families_read_the_stored_telemetry(app):
    client = app.test_client()
    for family in ("gru", "lstm"):
        answer = client.get(f"/model/{family}/drift")
        assert answer.status_code == 200, answer.get_json()
        body = answer.get_json()
        assert body["source"] == "telemetry"
        inputs = {i["feature"]: i for i in body["inputs"]}
        assert set(inputs) == {"Eng_RPM", "Cool_T", "Oil_P", "Oil_L", "Recalque", "Succao",
                               "Bat_V", "Char_V"}  # fmt: skip
        assert all(i["observations"] == 270 and i["psi"] >= 0 for i in inputs.values())
    # xgboost's features are channels too: its drift can be read from telemetry.
    telemetry = client.get("/model/xgboost/drift?source=telemetry").get_json()
    assert {i["feature"]: i["observations"] for i in telemetry["inputs"]} == {
        "rotacao_motor_rpm": 270, "pressao_oleo_bar": 270, "tensao_bateria_v": 270,
        "tensao_alternador_v": 270,
    }  # fmt: skip
    # A period without readings: no observation, no PSI.
    empty = client.get(
        "/model/gru/drift", query_string={"since": "2001-01-01T00:00:00Z",
                                          "until": "2001-01-02T00:00:00Z"}
    ).get_json()  # fmt: skip
    assert all(i["observations"] == 0 and i["psi"] is None for i in empty["inputs"])


def test_errors_name_what_is_wrong(app):
    client = app.test_client()
    assert client.get("/model/nope/drift").status_code == 404
    unknown = client.get("/model/xgboost/drift?version=99")
    assert unknown.status_code == 404 and "99" in unknown.get_json()["error"]
    bad = client.get("/model/xgboost/drift?source=somewhere")
    assert bad.status_code == 422 and "source" in bad.get_json()["errors"]
