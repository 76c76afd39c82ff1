"""/model/gru/predict, /model/gru/info and /machine/gru/predict, as clients call them."""

from __future__ import annotations

import pytest

from pumpapi import db
from pumpapi.channels import CHANNEL_NAMES
from pumpapi.db import copy_fleet
from pumpapi.errors import DatabaseUnavailable
from tests.fixtures.db import NOMINAL, pump_history

PREDICT = "/model/gru/predict"
MACHINE = "/machine/gru/predict"
#: The SPEC's example reading.
READING = {
    "Eng_RPM": 0.07,
    "Cool_T": 80,
    "Oil_P": 3.2,
    "Oil_L": 7.8,
    "Recalque": 4.0,
    "Succao": 1.1,
    "Bat_V": 26.4,
    "Char_V": 27.2,
}
BANDS = {"OK", "ATENÇÃO", "ALERTA"}


def nominal_reading(**changes: float) -> dict[str, float]:
    return {**dict(zip(CHANNEL_NAMES, NOMINAL.tolist(), strict=True)), **changes}


def _error(response, code: int) -> dict:
    assert response.status_code == code, response.get_json()
    body = response.get_json()
    assert body["success"] is False and body["code"] == code
    return body


def _band(value: float) -> str:
    return "OK" if value >= 70 else "ATENÇÃO" if value >= 40 else "ALERTA"


@pytest.fixture
def client(keras_app):
    return keras_app.test_client()


def test_the_spec_example_reading_answers_the_spec_shape(client):
    response = client.post(PREDICT, json=READING)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["success"] is True
    assert set(body["indices"]) == set(body["status"]) == {"lubrificacao", "hidraulico"}
    for name, value in body["indices"].items():
        assert 0.0 <= value <= 100.0 and round(value, 2) == value
        assert body["status"][name] == _band(value)
    meta = body["meta"]
    assert (meta["timesteps"], meta["n_features"]) == (60, 8)
    assert meta["feature_order"] == list(CHANNEL_NAMES)
    assert (meta["given_rows"], meta["padded_rows"]) == (1, 59)
    assert meta["padding"] == "repeat-oldest"


def test_the_order_of_keys_does_not_change_the_answer(client):
    reversed_reading = dict(reversed(list(READING.items())))
    first = client.post(PREDICT, json=READING).get_json()
    assert client.post(PREDICT, json=reversed_reading).get_json() == first


def test_one_reading_answers_like_a_window_of_that_reading(client):
    single = client.post(PREDICT, json=READING).get_json()
    window = client.post(PREDICT, json={"readings": [READING] * 60}).get_json()
    assert window["indices"] == single["indices"]
    assert (window["meta"]["given_rows"], window["meta"]["padded_rows"]) == (60, 0)


def test_a_short_window_is_padded_and_says_so(client):
    readings = [nominal_reading(Oil_P=4.0 + i / 100) for i in range(10)]
    body = client.post(PREDICT, json={"readings": readings}).get_json()
    assert (body["meta"]["given_rows"], body["meta"]["padded_rows"]) == (10, 50)
    padded = [readings[0]] * 50 + readings
    assert client.post(PREDICT, json={"readings": padded}).get_json()["indices"] == body["indices"]


@pytest.mark.parametrize("count", [0, 61])
def test_a_window_of_0_or_more_than_60_readings_is_422(client, count):
    body = _error(client.post(PREDICT, json={"readings": [READING] * count}), 422)
    assert "readings" in body["errors"]


def test_a_missing_channel_names_the_missing_columns(client):
    reading = {k: v for k, v in READING.items() if k not in ("Oil_P", "Char_V")}
    body = _error(client.post(PREDICT, json=reading), 422)
    assert "Colunas esperadas" in body["error"] and "não encontradas" in body["error"]
    assert set(body["errors"]) == {"Oil_P", "Char_V"}


@pytest.mark.parametrize(
    ("field", "value"),
    [("Oil_P", "3.2"), ("Oil_P", True), ("Oil_P", None), ("Cool_T", 900.0), ("Eng_RPM", -5)],
)
def test_a_channel_that_is_not_a_physical_number_is_422_naming_it(client, field, value):
    body = _error(client.post(PREDICT, json={**READING, field: value}), 422)
    assert field in body["errors"]


def test_nan_is_422(client):
    raw = '{"Eng_RPM": NaN, "Cool_T": 80, "Oil_P": 3.2, "Oil_L": 7.8, "Recalque": 4.0, ' + (
        '"Succao": 1.1, "Bat_V": 26.4, "Char_V": 27.2}'
    )
    body = _error(client.post(PREDICT, data=raw, content_type="application/json"), 422)
    assert "Eng_RPM" in body["errors"]


def test_an_unknown_field_is_422(client):
    body = _error(client.post(PREDICT, json={**READING, "Oil_Q": 1.0}), 422)
    assert "Oil_Q" in body["errors"]


def test_a_bad_reading_inside_a_window_is_422(client):
    readings = [READING, {**READING, "Bat_V": "high"}]
    body = _error(client.post(PREDICT, json={"readings": readings}), 422)
    assert "readings" in body["errors"]


def test_info_answers_the_seed_fields_plus_version_metrics_and_checksum(client):
    response = client.get("/model/gru/info")
    assert response.status_code == 200
    body = response.get_json()
    info = body["model_info"]
    assert body["success"] is True
    seed_fields = {
        "model_type": "Functional",
        "library": "tensorflow.keras",
        "input_shape": [None, 60, 8],
        "output_shape": [None, 2],
        "timesteps": 60,
        "n_features": 8,
        "scaler_class": "MinMaxScaler",
        "scaler_has_feature_names": False,
        "scaler_n_features_in": 8,
        "feature_order": list(CHANNEL_NAMES),
    }
    assert {k: info[k] for k in seed_fields} == seed_fields
    assert {"file_size_mb", "last_modified", "version", "metrics", "checksum"} <= set(info)
    assert len(info["checksum"]["sha256"]) == 64


def test_not_serving_the_family_is_404_and_not_loaded_is_503(make_app, tmp_path):
    assert _error(make_app().test_client().post(PREDICT, json=READING), 404)
    app = make_app(MODEL_STORE=str(tmp_path / "empty"), MODEL_FAMILIES=("gru",))
    response = app.test_client().get("/model/gru/info")
    body = _error(response, 503)
    assert "pumpapi train gru" in body["error"] and response.headers["Retry-After"]


def test_openapi_documents_both_request_forms_and_the_bands(client):
    spec = client.get("/openapi.json").get_json()
    operation = spec["paths"][PREDICT]["post"]
    body = operation["requestBody"]["content"]["application/json"]
    assert len(body["schema"]["oneOf"]) == 2 and set(body["examples"]) == {
        "one reading",
        "a window",
    }
    assert "ATENÇÃO" in operation["description"] and "padded" in operation["description"]
    assert {p["name"] for p in spec["paths"][MACHINE]["post"]["parameters"]} == {
        "machine_name",
        "time_steps",
        "explain",
        "version",
    }


# -- POST /machine/gru/predict against PostgreSQL ----------------------------------------------


def test_machine_predict_reads_the_latest_60_readings(keras_db_app, database_url):
    pump = pump_history("MOTOBOMBA-007", 90, start="2025-09-27T12:00:00", seed=7)
    copy_fleet(database_url, [pump, pump_history("MOTOBOMBA-008", 90, seed=8)])
    client = keras_db_app.test_client()
    response = client.post(f"{MACHINE}?machine_name=MOTOBOMBA-007")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    meta = body["meta"]
    assert meta["machine"] == "MOTOBOMBA-007"
    assert (meta["fetched_rows"], meta["requested_time_steps"], meta["timesteps"]) == (
        90 - 30,
        60,
        60,
    )
    assert (meta["given_rows"], meta["padded_rows"]) == (60, 0)
    assert (meta["first_timestamp"], meta["last_timestamp"]) == (
        "2025-09-27T12:30:00Z",
        "2025-09-27T13:29:00Z",
    )
    assert meta["n_features"] == 8 and meta["feature_order"] == list(CHANNEL_NAMES)
    latest = [dict(zip(CHANNEL_NAMES, row, strict=True)) for row in pump.readings[-60:].tolist()]
    posted = client.post(PREDICT, json={"readings": latest}).get_json()
    assert posted["indices"] == body["indices"] and posted["status"] == body["status"]


def test_a_stopped_pump_is_answered_from_its_last_run(keras_db_app, database_url):
    # 90 readings running, then 40 stopped (engine at 0 rpm, no oil pressure, no head): health
    # does not change while it stands, and the stopped hour shows little of it.
    pump = pump_history("MOTOBOMBA-007", 130, start="2025-09-27T12:00:00", seed=7)
    stopped = pump.readings[90:]
    for name in ("Eng_RPM", "Oil_P"):
        stopped[:, CHANNEL_NAMES.index(name)] = 0.0
    stopped[:, CHANNEL_NAMES.index("Recalque")] = 1.5
    copy_fleet(database_url, [pump])
    client = keras_db_app.test_client()
    body = client.post(f"{MACHINE}?machine_name=MOTOBOMBA-007").get_json()
    meta = body["meta"]
    assert meta["basis"] == "last_run"
    assert (meta["first_timestamp"], meta["last_timestamp"], meta["latest_timestamp"]) == (
        "2025-09-27T12:30:00Z",
        "2025-09-27T13:29:00Z",
        "2025-09-27T14:09:00Z",
    )
    assert (meta["fetched_rows"], meta["given_rows"]) == (60, 60)
    last_run = [dict(zip(CHANNEL_NAMES, r, strict=True)) for r in pump.readings[30:90].tolist()]
    posted = client.post(PREDICT, json={"readings": last_run}).get_json()
    assert posted["indices"] == body["indices"]
    stopped_hour = [dict(zip(CHANNEL_NAMES, r, strict=True)) for r in pump.readings[-60:].tolist()]
    from_stopped_hour = client.post(PREDICT, json={"readings": stopped_hour}).get_json()
    assert from_stopped_hour["indices"] != body["indices"]
    # Each answer says whether the window it read ends with the engine running.
    assert from_stopped_hour["meta"]["engine_running"] is False
    assert meta["engine_running"] is True and posted["meta"]["engine_running"] is True
    # The stopped hour is answered, and warned about: few training windows ended stopped.
    share = client.get("/model/gru/info").get_json()["model_info"]["stopped_window_share"]
    assert {
        "code": "ENGINE_STOPPED",
        "field": "Eng_RPM",
        "value": 0.0,
        "trained_share": share,
    } in from_stopped_hour["warnings"]
    assert 0.0 <= share < 0.05
    assert all(w["code"] != "ENGINE_STOPPED" for w in body["warnings"] + posted["warnings"])
    # A running pump is answered from its latest readings, and says so.
    copy_fleet(database_url, [pump_history("MOTOBOMBA-008", 90, seed=8)])
    running = client.post(f"{MACHINE}?machine_name=MOTOBOMBA-008").get_json()["meta"]
    assert running["basis"] == "latest"
    assert running["last_timestamp"] == running["latest_timestamp"]


def test_a_pump_with_a_week_behind_it_is_answered_with_its_baseline(
    keras_db_app, database_url, monkeypatch
):
    """The pump's own week (at-load percentiles, pumpapi.models.baseline) is read beside the
    window: `meta.pump_baseline` says so and gives it; a pump with a few hours of readings is
    answered by the window alone, as a posted window is."""
    import numpy as np

    from pumpapi.models import baseline as definition

    pump = pump_history("MOTOBOMBA-007", 2 * 1440, start="2025-09-20T00:00:00", seed=7)
    copy_fleet(database_url, [pump, pump_history("MOTOBOMBA-008", 90, seed=8)])
    client = keras_db_app.test_client()
    meta = client.post(f"{MACHINE}?machine_name=MOTOBOMBA-007").get_json()["meta"]
    assert meta["pump_baseline"]["used"] is True
    model = keras_db_app.extensions["pumpapi.models"].get("gru")
    monkeypatch.setattr(definition, "SUBSAMPLE", 1)  # serving reads every reading
    start = np.array([len(pump.readings) - 60])
    expected = model.baseline.normalisation.at_window_starts(pump.readings, start)[0]
    got = [meta["pump_baseline"]["values"][name] for name in definition.QUANTITIES]
    np.testing.assert_allclose(got, expected, atol=1e-4)
    body = client.post(f"{MACHINE}?machine_name=MOTOBOMBA-007").get_json()
    served = model.indices(pump.readings[np.newaxis, -60:], baselines=expected[np.newaxis])[0]
    assert list(body["indices"].values()) == pytest.approx(served.tolist(), abs=0.01)
    assert meta["pump_baseline"]["reason"] is None
    short = client.post(f"{MACHINE}?machine_name=MOTOBOMBA-008").get_json()["meta"]
    assert short["pump_baseline"] == {
        "used": False,
        "values": None,
        "reason": "too_few_readings_at_load",
    }
    # Reading the baseline fails (a statement timeout, the server gone after the window was
    # read): the window in hand answers alone, and says why, rather than a 503.
    store = db.store(keras_db_app)

    def fails(*args):
        raise DatabaseUnavailable("statement timeout")

    monkeypatch.setattr(store, "pump_baselines", fails)
    degraded = client.post(f"{MACHINE}?machine_name=MOTOBOMBA-007")
    assert degraded.status_code == 200
    assert degraded.get_json()["meta"]["pump_baseline"] == {
        "used": False,
        "values": None,
        "reason": "database_unavailable",
    }
    alone = model.indices(pump.readings[np.newaxis, -60:])[0]
    assert list(degraded.get_json()["indices"].values()) == pytest.approx(alone.tolist(), abs=0.01)
    # /model/gru/info describes the baseline network and its definition.
    info = client.get("/model/gru/info").get_json()["model_info"]["pump_baseline"]
    assert info["days"] == 7 and info["quantities"] == list(definition.QUANTITIES)
    assert info["artifacts"]["litert"] == "pump_baseline.tflite"
    served = model.version.metadata["files"]["pump_baseline.tflite"]["sha256"]
    assert info["checksum"] == {"file": "pump_baseline.tflite", "sha256": served}


def test_a_pump_that_never_ran_is_answered_from_its_latest_readings(keras_db_app, database_url):
    pump = pump_history("MOTOBOMBA-009", 20, seed=9)
    pump.readings[:, CHANNEL_NAMES.index("Eng_RPM")] = 0.0
    copy_fleet(database_url, [pump])
    meta = keras_db_app.test_client().post(f"{MACHINE}?machine_name=MOTOBOMBA-009").get_json()
    assert meta["meta"]["basis"] == "latest" and meta["meta"]["fetched_rows"] == 20


def test_machine_predict_with_fewer_readings_still_answers_and_says_so(keras_db_app, database_url):
    copy_fleet(database_url, [pump_history("MOTOBOMBA-007", 12)])
    client = keras_db_app.test_client()
    response = client.post(f"{MACHINE}?machine_name=MOTOBOMBA-007&time_steps=30")
    assert response.status_code == 200, response.get_json()
    meta = response.get_json()["meta"]
    assert (meta["fetched_rows"], meta["requested_time_steps"]) == (12, 30)
    assert (meta["given_rows"], meta["padded_rows"]) == (12, 48)


def test_machine_predict_of_an_unknown_pump_is_404_with_the_spec_message(
    keras_db_app, database_url
):
    copy_fleet(database_url, [pump_history("MOTOBOMBA-007", 3)])
    body = _error(keras_db_app.test_client().post(f"{MACHINE}?machine_name=MOTOBOMBA-999"), 404)
    assert body["error"] == "Nenhum dado encontrado para a máquina: MOTOBOMBA-999"


@pytest.mark.parametrize(
    "time_steps", ["0", "-5", "abc", "1.5", "1e3", "61", "99999999999999999999"]
)
def test_bad_time_steps_are_422_naming_the_parameter(client, time_steps):
    response = client.post(MACHINE, query_string={"machine_name": "M-1", "time_steps": time_steps})
    body = _error(response, 422)
    assert "time_steps" in body["errors"] and "time_steps" in body["error"]


def test_machine_name_is_required(client):
    body = _error(client.post(MACHINE), 422)
    assert "machine_name" in body["errors"]


def test_machine_predict_answers_503_when_the_database_is_unreachable(make_app, keras_trained):
    app = make_app(
        MODEL_STORE=str(keras_trained.root),
        MODEL_FAMILIES=("gru",),
        DATABASE_URL="postgresql://pumpapi@127.0.0.1:9/pumpapi",  # nothing listens on port 9
    )
    try:
        response = app.test_client().post(f"{MACHINE}?machine_name=MOTOBOMBA-007")
    finally:
        db.store(app).close()
    _error(response, 503)
    assert response.headers["Retry-After"]


def _inside_training(client) -> dict[str, float]:
    """A reading at the middle of each channel's trained range (from /model/gru/info)."""
    ranges = client.get("/model/gru/info").get_json()["model_info"]["trained_ranges"]
    assert sorted(ranges) == sorted(CHANNEL_NAMES)
    return {name: round((low + high) / 2, 2) for name, (low, high) in ranges.items()}


def test_a_reading_inside_the_training_data_carries_no_warning(client):
    body = client.post("/model/gru/predict", json=_inside_training(client)).get_json()
    assert body["warnings"] == []


def test_a_reading_outside_the_training_data_is_warned_about_and_not_ok(client):
    reading = _inside_training(client) | {"Oil_P": 20.0, "Recalque": 60.0}
    response = client.post("/model/gru/predict", json={"readings": [reading] * 60})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    ranges = client.get("/model/gru/info").get_json()["model_info"]["trained_ranges"]
    assert body["warnings"] == [
        {
            "code": "OUT_OF_TRAINING_RANGE",
            "field": name,
            "value": value,
            "trained_range": ranges[name],
        }
        for name, value in (("Oil_P", 20.0), ("Recalque", 60.0))
    ]
    assert "OK" not in body["status"].values()
    schema = client.get("/openapi.json").get_json()["components"]["schemas"]
    assert "warnings" in schema["HealthResponse"]["properties"]
