"""POST /model/xgboost/predict, GET /model/xgboost/info and POST /machine/predict (SPEC)."""

from __future__ import annotations

import json
import re

import numpy as np
import psycopg
import pytest

from pumpapi import db
from pumpapi.channels import CHANNEL_NAMES
from pumpapi.db import copy_fleet
from pumpapi.models import window
from pumpapi.models.xgboost import AT_RISK, FEATURE_ORDER, HEALTHY
from tests.fixtures.db import pump_history
from tests.fixtures.xgboost import answers

PREDICT = "/model/xgboost/predict"
#: The SPEC example.
READING = {
    "rotacao_motor_rpm": 1800,
    "pressao_oleo_bar": 4.5,
    "tensao_bateria_v": 24.1,
    "tensao_alternador_v": 27.8,
}
#: A healthy running pump as the simulator makes them (battery charged, alternator charging).
NOMINAL = {
    "rotacao_motor_rpm": 1650,
    "pressao_oleo_bar": 4.3,
    "tensao_bateria_v": 25.8,
    "tensao_alternador_v": 28.0,
}
#: Running, but the alternator no longer charges and oil pressure is low.
FAILING = {
    "rotacao_motor_rpm": 1650,
    "pressao_oleo_bar": 1.2,
    "tensao_bateria_v": 23.6,
    "tensao_alternador_v": 23.7,
}
UTC_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _error(response, code: int) -> dict:
    assert response.status_code == code, response.get_data(as_text=True)
    body = response.get_json()
    assert body["success"] is False and body["code"] == code
    return body


def _post_raw(client, text: str):
    return client.post(PREDICT, data=text, content_type="application/json")


def _without_timestamp(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "timestamp"}


# -- POST /model/xgboost/predict: answers ---------------------------------------------------


def test_spec_example_answers_the_spec_shape(xgboost_client, xgboost_model):
    response = xgboost_client.post(PREDICT, json=READING)
    assert response.status_code == 200
    body = response.get_json()
    assert body["success"] is True
    result = body["result"]
    # SPEC answers this reading as healthy (tests/training/test_spec_examples.py checks that
    # on models trained at several sizes).
    assert result["prediction"] == HEALTHY
    assert 0 <= result["probability"] <= 1
    assert UTC_SECONDS.match(result["timestamp"])
    assert result["model_version"] == "1"
    assert result["horizon_hours"] == 24.0
    (expected,) = answers(xgboost_model, READING)
    assert result["probability"] == expected.probability


def test_label_follows_probability_and_threshold(xgboost_client, xgboost_model):
    healthy = xgboost_client.post(PREDICT, json=NOMINAL).get_json()["result"]
    failing = xgboost_client.post(PREDICT, json=FAILING).get_json()["result"]
    assert healthy["prediction"] == HEALTHY
    assert failing["prediction"] == AT_RISK
    for result in (
        healthy,
        failing,
        xgboost_client.post(PREDICT, json=READING).get_json()["result"],
    ):
        at_risk = result["probability"] >= xgboost_model.threshold
        assert result["at_risk"] is at_risk
        assert result["prediction"] == (AT_RISK if at_risk else HEALTHY)


def test_key_order_does_not_change_the_answer(xgboost_client):
    in_order = json.dumps(FAILING)
    reversed_keys = json.dumps(dict(reversed(list(FAILING.items()))))
    assert in_order != reversed_keys
    first = _post_raw(xgboost_client, in_order).get_json()["result"]
    second = _post_raw(xgboost_client, reversed_keys).get_json()["result"]
    assert _without_timestamp(first) == _without_timestamp(second)


def test_integers_and_floats_are_both_numbers(xgboost_client):
    as_floats = {k: float(v) for k, v in READING.items()}
    a = xgboost_client.post(PREDICT, json=READING).get_json()["result"]
    b = xgboost_client.post(PREDICT, json=as_floats).get_json()["result"]
    assert a["probability"] == b["probability"]


def test_batch_answers_results_in_order_equal_to_single_requests(xgboost_client):
    readings = [READING, FAILING, NOMINAL, {**NOMINAL, "pressao_oleo_bar": 0.4}, FAILING]
    response = xgboost_client.post(PREDICT, json={"instances": readings})
    assert response.status_code == 200
    body = response.get_json()
    assert body["success"] is True and "result" not in body
    singles = [xgboost_client.post(PREDICT, json=r).get_json()["result"] for r in readings]
    assert [_without_timestamp(r) for r in body["results"]] == [
        _without_timestamp(r) for r in singles
    ]


def test_batch_size_limits(make_app, xgboost_trained):
    app = make_app(
        MODEL_STORE=str(xgboost_trained.root), MODEL_FAMILIES=("xgboost",), MAX_BATCH_SIZE=3
    )
    client = app.test_client()
    assert client.post(PREDICT, json={"instances": [READING] * 3}).status_code == 200
    too_many = _error(client.post(PREDICT, json={"instances": [READING] * 4}), 422)
    assert "instances" in too_many["errors"]
    assert "At most 3 readings" in too_many["error"]
    empty = _error(client.post(PREDICT, json={"instances": []}), 422)
    assert "instances" in empty["errors"]


# -- POST /model/xgboost/predict: validation ------------------------------------------------


def test_missing_feature_names_the_missing_columns(xgboost_client):
    body = _error(
        xgboost_client.post(
            PREDICT, json={k: v for k, v in READING.items() if k != "tensao_bateria_v"}
        ),
        422,
    )
    assert body["error"] == "Colunas esperadas ['tensao_bateria_v'] não encontradas."
    assert body["errors"] == {"tensao_bateria_v": ["Missing data for required field."]}


def test_empty_object_names_every_column(xgboost_client):
    body = _error(xgboost_client.post(PREDICT, json={}), 422)
    assert body["error"].startswith("Colunas esperadas [")
    assert set(body["errors"]) == set(FEATURE_ORDER)


def test_unknown_field_is_rejected(xgboost_client):
    body = _error(xgboost_client.post(PREDICT, json={**READING, "temperatura": 80}), 422)
    assert body["errors"] == {"temperatura": ["Unknown field."]}


@pytest.mark.parametrize("value", ["4.5", True, None, [4.5], {"v": 4.5}])
def test_wrong_types_are_rejected_naming_the_field(xgboost_client, value):
    body = _error(xgboost_client.post(PREDICT, json={**READING, "pressao_oleo_bar": value}), 422)
    assert list(body["errors"]) == ["pressao_oleo_bar"]
    assert "pressao_oleo_bar" in body["error"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_rejected_naming_the_field(xgboost_client, literal):
    text = json.dumps(READING).replace("24.1", literal)
    body = _error(_post_raw(xgboost_client, text), 422)
    assert list(body["errors"]) == ["tensao_bateria_v"]
    assert "NaN and Infinity" in body["errors"]["tensao_bateria_v"][0]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rotacao_motor_rpm", -1),
        ("rotacao_motor_rpm", 50_000),
        ("pressao_oleo_bar", 25.0),
        ("tensao_bateria_v", -0.1),
        ("tensao_alternador_v", 1000),
    ],
)
def test_physically_impossible_values_are_rejected_with_the_range(xgboost_client, field, value):
    body = _error(xgboost_client.post(PREDICT, json={**READING, field: value}), 422)
    assert list(body["errors"]) == [field]
    assert "physical range" in body["errors"][field][0]


def test_range_limits_themselves_are_accepted(xgboost_client):
    stopped = {**READING, "rotacao_motor_rpm": 0, "pressao_oleo_bar": 0.0}
    assert xgboost_client.post(PREDICT, json=stopped).status_code == 200


def test_malformed_json_is_400(xgboost_client):
    body = _error(_post_raw(xgboost_client, '{"rotacao_motor_rpm": 1800,'), 400)
    assert body["error"] == "The request body is not valid JSON."


@pytest.mark.parametrize("text", ["[1800, 4.5, 24.1, 27.8]", '"reading"', "42", "null"])
def test_a_body_that_is_not_an_object_is_422(xgboost_client, text):
    body = _error(_post_raw(xgboost_client, text), 422)
    assert body["error"] == "The request body must be a JSON object."


def test_an_invalid_reading_in_a_batch_is_named_by_its_index(xgboost_client):
    body = _error(
        xgboost_client.post(
            PREDICT, json={"instances": [READING, {**READING, "pressao_oleo_bar": "x"}]}
        ),
        422,
    )
    assert body["errors"] == {"instances": {"1": {"pressao_oleo_bar": ["Not a valid number."]}}}


@pytest.mark.parametrize(
    "body",
    [{"instances": READING}, {"instances": [READING], "rotacao_motor_rpm": 1800}],
)
def test_malformed_batches_are_rejected(xgboost_client, body):
    assert "errors" in _error(xgboost_client.post(PREDICT, json=body), 422)


def test_get_on_predict_is_405_with_allow(xgboost_client):
    response = xgboost_client.get(PREDICT)
    _error(response, 405)
    assert "POST" in response.headers["Allow"]


# -- GET /model/xgboost/info ----------------------------------------------------------------


def test_info_names_the_model_its_dates_metrics_and_features(xgboost_client, xgboost_trained):
    response = xgboost_client.get("/model/xgboost/info")
    assert response.status_code == 200
    body = response.get_json()
    assert body["success"] is True
    info = body["model_info"]
    meta = xgboost_trained.report.metadata
    assert info["name"] == "xgboost-failure-risk"
    assert info["version"] == "1"
    assert info["created_at"] == meta["created_at"]
    assert info["trained_at"] == meta["trained_at"]
    assert info["tags"] == meta["tags"]
    assert info["metrics"]["roc_auc"] == meta["metrics"]["roc_auc"]
    assert info["metrics"]["baseline"]["model"] == "logistic_regression"
    assert [f["name"] for f in info["features"]] == list(FEATURE_ORDER)
    assert info["features"][1] == {
        "name": "pressao_oleo_bar",
        "channel": "Oil_P",
        "unit": "bar",
        "description": "oil pressure",
        "minimum": 0.0,
        "maximum": 20.0,
    }
    assert info["threshold"] == meta["threshold"]
    assert info["horizon"]["hours"] == 24.0
    assert info["library"]["name"] == "xgboost"
    assert len(info["checksum"]["value"]) == 64


def test_openapi_documents_both_request_shapes(xgboost_client):
    spec = xgboost_client.get("/openapi.json").get_json()
    operation = spec["paths"][PREDICT]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {
        "oneOf": [
            {"$ref": "#/components/schemas/RiskReading"},
            {"$ref": "#/components/schemas/RiskBatchRequest"},
        ]
    }
    reading = spec["components"]["schemas"]["RiskReading"]
    assert sorted(reading["required"]) == sorted(FEATURE_ORDER)
    assert reading["properties"]["rotacao_motor_rpm"]["maximum"] == 5000.0
    assert "threshold" in operation["description"]
    assert "/machine/predict" in spec["paths"]


# -- POST /machine/predict ------------------------------------------------------------------


@pytest.fixture
def machine_app(make_app, xgboost_trained, database_url):
    app = make_app(
        MODEL_STORE=str(xgboost_trained.root),
        MODEL_FAMILIES=("xgboost",),
        DATABASE_URL=database_url,
    )
    yield app
    db.store(app).close()


@pytest.mark.parametrize("query", ["&model=reading", ""])
def test_machine_predict_from_the_latest_reading_answers_like_the_posted_reading(
    machine_app, database_url, query
):
    """?model=reading, and any pump with less than an hour of readings (30 here): the reading
    model on the pump's latest reading, exactly /model/xgboost/predict's answer."""
    seventh = pump_history("MOTOBOMBA-007", 30, start="2025-09-27T13:00:00", seed=7)
    other = pump_history("MOTOBOMBA-008", 40, start="2025-09-27T14:00:00", seed=8)
    seventh.readings[-1] = [1650, 80, 1.2, 70, 5.0, 1.0, 23.6, 23.7]  # the FAILING reading
    copy_fleet(database_url, [seventh, other])
    client = machine_app.test_client()

    response = client.post(f"/machine/predict?machine_name=MOTOBOMBA-007{query}")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["success"] is True
    result = body["result"]
    assert result["machine"] == "MOTOBOMBA-007"
    assert result["model"] == "reading" and "window" not in result
    assert result["reading"] == {"timestamp": "2025-09-27T13:29:00Z", "features": FAILING}
    assert UTC_SECONDS.match(result["timestamp"])
    posted = client.post(PREDICT, json=FAILING).get_json()["result"]
    assert _without_timestamp(posted) == {
        k: v
        for k, v in _without_timestamp(result).items()
        if k not in ("machine", "reading", "model")
    }


def _window_pump(minutes: int = 600):
    pump = pump_history("MOTOBOMBA-007", minutes, start="2025-09-27T00:00:00", seed=3)
    # An oil leak over the last hours: the level falls and the pressure with it.
    pump.readings[-240:, 3] -= np.linspace(0, 25, 240)
    pump.readings[-240:, 2] -= np.linspace(0, 2.0, 240)
    return pump


def test_machine_predict_answers_from_the_pumps_recent_window(
    machine_app, database_url, xgboost_model
):
    pump = _window_pump()
    copy_fleet(database_url, [pump])
    body = machine_app.test_client().post("/machine/predict?machine_name=MOTOBOMBA-007")
    assert body.status_code == 200, body.get_json()
    result = body.get_json()["result"]
    assert result["model"] == "window"
    assert result["window"] == {
        "first_timestamp": "2025-09-27T00:00:00Z",
        "last_timestamp": "2025-09-27T09:59:00Z",
        "readings": 600,
    }
    assert result["reading"]["timestamp"] == "2025-09-27T09:59:00Z"
    expected = xgboost_model.window_result(pump.readings)
    assert result["probability"] == expected["probability"]
    assert result["threshold"] == xgboost_model.window.threshold
    assert result["at_risk"] == (result["probability"] >= result["threshold"])
    # The answer differs from the latest reading's alone: the window says more.
    reading = machine_app.test_client().post(
        "/machine/predict?machine_name=MOTOBOMBA-007&model=reading"
    )
    assert reading.get_json()["result"]["probability"] != result["probability"]


def test_the_window_reads_at_most_its_length(machine_app, database_url, xgboost_model):
    length = xgboost_model.window.length
    copy_fleet(database_url, [pump_history("MOTOBOMBA-007", length + 100, seed=5)])
    result = machine_app.test_client().post("/machine/predict?machine_name=MOTOBOMBA-007")
    assert result.get_json()["result"]["window"]["readings"] == length


def test_a_window_answer_explains_itself_per_channel(machine_app, database_url):
    copy_fleet(database_url, [_window_pump()])
    result = (
        machine_app.test_client()
        .post("/machine/predict?machine_name=MOTOBOMBA-007&explain=true")
        .get_json()["result"]
    )
    explanation = result["explanation"]
    assert set(explanation["contributions"]) <= {*CHANNEL_NAMES, "window"}
    total = explanation["bias"] + sum(explanation["contributions"].values())
    assert total == pytest.approx(explanation["margin"], abs=1e-4)
    # The margin is the calibrated log-odds of the probability answered.
    assert 1 / (1 + np.exp(-explanation["margin"])) == pytest.approx(
        result["probability"], abs=1e-4
    )
    for reason in explanation["reasons"]:
        assert reason["channel"] in CHANNEL_NAMES and reason["contribution"] > 0
        column = window.FEATURE_NAMES.index(reason["feature"])
        assert window.FEATURE_CHANNELS[column] == reason["channel"]


def test_an_unknown_answering_model_is_422_naming_it(machine_app):
    body = _error(
        machine_app.test_client().post("/machine/predict?machine_name=MOTOBOMBA-007&model=lstm"),
        422,
    )
    assert "model" in body["errors"]


def test_unknown_machine_is_404_with_the_spec_message(machine_app, database_url):
    copy_fleet(database_url, [pump_history("MOTOBOMBA-007", 3)])
    body = _error(
        machine_app.test_client().post("/machine/predict?machine_name=MOTOBOMBA-999"), 404
    )
    assert body["error"] == "Nenhum dado encontrado para a máquina: MOTOBOMBA-999"


def test_a_name_full_of_sql_and_quotes_is_just_an_unknown_pump(machine_app, database_url):
    copy_fleet(database_url, [pump_history("MOTOBOMBA-007", 3)])
    client = machine_app.test_client()
    name = "x'; DROP TABLE readings; --\""
    body = _error(client.post("/machine/predict", query_string={"machine_name": name}), 404)
    assert body["error"] == f"Nenhum dado encontrado para a máquina: {name}"
    assert client.post("/machine/predict?machine_name=MOTOBOMBA-007").status_code == 200
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 3


def test_missing_machine_name_is_422_naming_it(xgboost_client):
    body = _error(xgboost_client.post("/machine/predict"), 422)
    assert "machine_name" in body["errors"]
    assert "machine_name" in body["error"]


def test_overlong_machine_name_is_422(xgboost_client):
    body = _error(
        xgboost_client.post("/machine/predict", query_string={"machine_name": "M" * 65}), 422
    )
    assert "machine_name" in body["errors"]


def test_machine_predict_answers_503_fast_when_the_database_is_unreachable(
    make_app, xgboost_trained
):
    app = make_app(
        MODEL_STORE=str(xgboost_trained.root),
        MODEL_FAMILIES=("xgboost",),
        DATABASE_URL="postgresql://pumpapi@127.0.0.1:9/pumpapi",  # nothing listens on port 9
    )
    try:
        response = app.test_client().post("/machine/predict?machine_name=MOTOBOMBA-007")
    finally:
        db.store(app).close()
    _error(response, 503)
    assert response.headers["Retry-After"]


def test_machine_predict_answers_503_when_the_model_is_not_loaded(make_app, tmp_path):
    app = make_app(MODEL_STORE=str(tmp_path / "empty"), MODEL_FAMILIES=("xgboost",))
    body = _error(app.test_client().post("/machine/predict?machine_name=MOTOBOMBA-007"), 503)
    assert "pumpapi train xgboost" in body["error"]
