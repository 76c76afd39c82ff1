"""/model/lstm/predict (POST and GET with a body), /model/lstm/info, /machine/lstm/predict."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pumpapi.channels import CHANNEL_NAMES
from pumpapi.db import copy_fleet
from tests.fixtures.db import pump_history

PREDICT = "/model/lstm/predict"
MACHINE = "/machine/lstm/predict"
TOO_SHORT = "Input data must have at least 60 values"


def series(n: int = 60, level: float = 120.5, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    return (level + np.cumsum(rng.normal(0, 0.5, n))).round(2).tolist()


def _error(response, code: int) -> dict:
    assert response.status_code == code, response.get_json()
    body = response.get_json()
    assert body["success"] is False and body["code"] == code
    return body


@pytest.fixture
def client(keras_app):
    return keras_app.test_client()


def test_a_series_of_60_values_answers_the_next_value(client):
    data = series()
    response = client.post(PREDICT, json={"data": data})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["success"] is True
    assert isinstance(body["prediction"], float) and math.isfinite(body["prediction"])
    # In the series' own unit: near its latest values, not in some normalised space.
    assert abs(body["prediction"] - data[-1]) < 10 * np.std(data)
    assert "forecast" not in body
    assert body["meta"]["given_values"] == 60 and body["meta"]["used_values"] == 60


def test_get_with_a_json_body_answers_like_post(client):
    data = series(75, level=4.1)
    posted = client.post(PREDICT, json={"data": data}).get_json()
    response = client.open(PREDICT, method="GET", json={"data": data})
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == posted


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_fewer_than_60_values_is_422_with_the_spec_message(client, method):
    body = _error(client.open(PREDICT, method=method, json={"data": series(59)}), 422)
    assert TOO_SHORT in body["error"]
    assert body["errors"] == {"data": [TOO_SHORT]}


def test_a_horizon_also_answers_that_many_next_values(client):
    body = client.post(PREDICT, json={"data": series(), "horizon": 5}).get_json()
    assert len(body["forecast"]) == 5 and body["forecast"][0] == body["prediction"]
    assert body["meta"]["horizon"] == 5


@pytest.mark.parametrize("horizon", [0, -1, 61, "5", 2.5, None])
def test_a_bad_horizon_is_422_naming_it(client, horizon):
    body = _error(client.post(PREDICT, json={"data": series(), "horizon": horizon}), 422)
    assert "horizon" in body["errors"]


@pytest.mark.parametrize("bad", ["121.0", None, True, [1.0]])
def test_a_value_that_is_not_a_number_is_422(client, bad):
    data = series()
    data[10] = bad
    body = _error(client.post(PREDICT, json={"data": data}), 422)
    assert "data" in body["errors"]


def test_infinity_is_422(client):
    raw = '{"data": [' + ", ".join(["1.0"] * 59 + ["Infinity"]) + "]}"
    body = _error(client.post(PREDICT, data=raw, content_type="application/json"), 422)
    assert "data" in body["errors"]


def test_missing_data_or_an_unknown_field_is_422(client):
    assert "data" in _error(client.post(PREDICT, json={}), 422)["errors"]
    body = _error(client.post(PREDICT, json={"data": series(), "values": [1]}), 422)
    assert "values" in body["errors"]


def test_info_answers_the_model_and_its_metrics_against_persistence(client):
    body = client.get("/model/lstm/info").get_json()
    info = body["model_info"]
    assert body["success"] is True
    assert info["input_shape"] == [None, 60, 1] and info["timesteps"] == 60
    assert set(info["metrics"]["per_channel"]) == set(CHANNEL_NAMES)
    assert {"mae", "mae_persistence", "mase"} <= set(info["metrics"]["per_channel"]["Oil_P"])
    assert len(info["checksum"]["sha256"]) == 64


def test_openapi_documents_get_and_post_with_the_short_series_message(client):
    spec = client.get("/openapi.json").get_json()
    path = spec["paths"][PREDICT]
    assert {"get", "post"} <= set(path)
    assert TOO_SHORT in path["post"]["description"]
    assert spec["components"]["schemas"]["SeriesRequest"]["properties"]["data"]["minItems"] == 60


# -- POST /machine/lstm/predict against PostgreSQL ---------------------------------------------


def test_machine_predict_forecasts_a_channel_from_the_latest_readings(keras_db_app, database_url):
    pump = pump_history("MOTOBOMBA-007", 100, start="2025-09-27T12:00:00", seed=7)
    copy_fleet(database_url, [pump])
    client = keras_db_app.test_client()
    response = client.post(f"{MACHINE}?machine_name=MOTOBOMBA-007&channel=Oil_P&horizon=3")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    meta = body["meta"]
    assert (meta["machine"], meta["channel"], meta["unit"]) == ("MOTOBOMBA-007", "Oil_P", "bar")
    assert meta["fetched_rows"] == 60 and meta["interval_seconds"] == 60.0
    assert meta["last_timestamp"] == "2025-09-27T13:39:00Z"
    assert meta["forecast_timestamps"] == [
        "2025-09-27T13:40:00Z",
        "2025-09-27T13:41:00Z",
        "2025-09-27T13:42:00Z",
    ]
    oil = pump.readings[-60:, CHANNEL_NAMES.index("Oil_P")].tolist()
    posted = client.post(PREDICT, json={"data": oil, "horizon": 3}).get_json()
    assert (posted["prediction"], posted["forecast"]) == (body["prediction"], body["forecast"])


def test_machine_predict_with_fewer_than_60_readings_is_422(keras_db_app, database_url):
    copy_fleet(database_url, [pump_history("MOTOBOMBA-007", 20)])
    client = keras_db_app.test_client()
    response = client.post(f"{MACHINE}?machine_name=MOTOBOMBA-007&channel=Oil_P")
    body = _error(response, 422)
    assert TOO_SHORT in body["error"] and "20" in body["error"]


def test_machine_predict_of_an_unknown_pump_is_404_with_the_spec_message(
    keras_db_app, database_url
):
    copy_fleet(database_url, [pump_history("MOTOBOMBA-007", 3)])
    client = keras_db_app.test_client()
    response = client.post(f"{MACHINE}?machine_name=MOTOBOMBA-999&channel=Oil_P")
    assert _error(response, 404)["error"] == "Nenhum dado encontrado para a máquina: MOTOBOMBA-999"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"machine_name": "M-1", "channel": "Oil_Q"}, "channel"),
        ({"machine_name": "M-1"}, "channel"),
        ({"channel": "Oil_P"}, "machine_name"),
        ({"machine_name": "M-1", "channel": "Oil_P", "horizon": "abc"}, "horizon"),
        ({"machine_name": "M-1", "channel": "Oil_P", "horizon": "0"}, "horizon"),
    ],
)
def test_bad_machine_queries_are_422_naming_the_parameter(client, query, field):
    body = _error(client.post(MACHINE, query_string=query), 422)
    assert field in body["errors"]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_the_seed_002_route_answers_exactly_like_the_family_route(client, method):
    data = series(61, level=30.0, seed=4)
    seed = client.open("/predict", method=method, json={"data": data})
    assert seed.status_code == 200, seed.get_json()
    assert seed.get_json() == client.post(PREDICT, json={"data": data}).get_json()
    assert isinstance(seed.get_json()["prediction"], float)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_the_seed_002_route_refuses_a_short_series_with_its_message(client, method):
    body = _error(client.open("/predict", method=method, json={"data": series(10)}), 422)
    assert TOO_SHORT in body["error"]


def test_the_documented_value_range_is_the_accepted_one(keras_app):
    """Every series the OpenAPI schema allows gets a forecast; beyond its documented magnitude
    a value is refused by name (schemathesis found 1e300 refused by an undocumented rule)."""
    client = keras_app.test_client()
    items = client.get("/openapi.json").get_json()["components"]["schemas"]["SeriesRequest"]
    items = items["properties"]["data"]["items"]
    assert items["maximum"] == 1e150 and items["minimum"] == -1e150
    for extreme in (1e150, -1e150):
        series = [1.0] * 59 + [extreme]
        answer = client.post("/model/lstm/predict", json={"data": series})
        assert answer.status_code == 200, answer.get_json()
        assert math.isfinite(answer.get_json()["prediction"])
    refused = client.post("/model/lstm/predict", json={"data": [1.0] * 59 + [1e300]})
    assert refused.status_code == 422 and "data" in refused.get_json()["errors"]


def test_a_series_inside_the_training_data_carries_no_warning(client):
    low, high = client.get("/model/lstm/info").get_json()["model_info"]["trained_ranges"]["data"]
    body = client.post(PREDICT, json={"data": series(level=(low + high) / 2, seed=5)}).get_json()
    assert body["warnings"] == []


def test_a_series_outside_the_training_data_is_warned_about(client):
    low, high = client.get("/model/lstm/info").get_json()["model_info"]["trained_ranges"]["data"]
    data = series(level=high * 100 + 1000, seed=6)
    body = client.post(PREDICT, json={"data": data}).get_json()
    assert body["warnings"] == [
        {
            "code": "OUT_OF_TRAINING_RANGE",
            "field": "data",
            "value": max(data[-60:]),
            "trained_range": [low, high],
        }
    ]
    assert math.isfinite(body["prediction"])
