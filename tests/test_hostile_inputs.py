"""Inputs that once reached a 500: each answers a JSON 4xx naming what is wrong, and the app
keeps answering afterwards (through nginx: tests/integration/test_fault_isolation.py)."""

from __future__ import annotations

import json
import shutil

import pytest

HUGE = "9" * 5000  # beyond the standard library's 4,300-digit limit
READING = {"rotacao_motor_rpm": 1800, "pressao_oleo_bar": 4.5, "tensao_bateria_v": 24.1,
           "tensao_alternador_v": 27.8}  # fmt: skip
KEY = "hostile-key"


@pytest.fixture
def every_family(make_app, xgboost_trained, keras_trained, tmp_path):
    store = tmp_path / "store"
    for trained in (xgboost_trained, keras_trained):
        shutil.copytree(trained.root, store, dirs_exist_ok=True)
    return make_app(
        MODEL_STORE=str(store), MODEL_FAMILIES=("xgboost", "gru", "lstm"), INGEST_API_KEYS=(KEY,)
    ).test_client()


def _assert_envelope(response, code):
    assert response.status_code == code, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["success"] is False and body["code"] == code and body["error"]
    return body


XGBOOST_HUGE = READING | {"rotacao_motor_rpm": 0}
HOSTILE = {
    "xgboost-huge-integer": (
        "/model/xgboost/predict",
        json.dumps(XGBOOST_HUGE).replace('"rotacao_motor_rpm": 0', f'"rotacao_motor_rpm": {HUGE}'),
    ),
    "gru-huge-integer": ("/model/gru/predict", f'{{"Eng_RPM": {HUGE}}}'),
    "lstm-huge-integer": ("/model/lstm/predict", f'{{"data": [{", ".join([HUGE] * 60)}]}}'),
    "xgboost-lone-surrogate-key": ("/model/xgboost/predict", '{"\\ud800": 1}'),
    "gru-lone-surrogate-key": ("/model/gru/predict", '{"\\ud800": 1}'),
    "lstm-lone-surrogate-key": ("/model/lstm/predict", '{"\\udfff": 1}'),
}


@pytest.mark.parametrize("path, body", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_bodies_answer_400(every_family, path, body):
    response = every_family.post(path, data=body, content_type="application/json")
    error = _assert_envelope(response, 400)["error"]
    assert "number" in error or "surrogate" in error
    assert every_family.post("/model/xgboost/predict", json=READING).status_code == 200


def test_a_lone_surrogate_in_a_machine_name_answers_400_before_the_database(every_family):
    body = ('{"readings": [{"machine": "MOTOBOMBA-\\ud800", "timestamp": "2025-09-27T13:30:00Z",'
            ' "Eng_RPM": 1800.0, "Cool_T": 82.0, "Oil_P": 4.5, "Oil_L": 78.0, "Recalque": 6.0,'
            ' "Succao": 1.1, "Bat_V": 24.6, "Char_V": 27.8}]}')  # fmt: skip
    response = every_family.post(
        "/machine/telemetry", data=body, content_type="application/json", headers={"X-API-Key": KEY}
    )
    assert "surrogate" in _assert_envelope(response, 400)["error"]


def test_a_valid_surrogate_pair_is_still_a_character(every_family):
    # "😀" escaped as a pair: an unknown field (422), named in the answer, not a 400.
    response = every_family.post(
        "/model/xgboost/predict", data='{"\\ud83d\\ude00": 1}', content_type="application/json"
    )
    body = _assert_envelope(response, 422)
    assert "😀" in body["errors"]


def test_the_413_names_the_limit_of_the_endpoint(make_app):
    client = make_app(MAX_CONTENT_LENGTH=1024, INGEST_MAX_CONTENT_LENGTH=4096,
                      INGEST_API_KEYS=(KEY,)).test_client()  # fmt: skip
    small = client.post("/model/xgboost/predict", data=b"x" * 2000, content_type="application/json")
    assert "1 KiB (1024 bytes)" in _assert_envelope(small, 413)["error"]
    ingest = client.post("/machine/telemetry", data=b"x" * 5000, content_type="application/json",
                         headers={"X-API-Key": KEY})  # fmt: skip
    assert "4 KiB (4096 bytes)" in _assert_envelope(ingest, 413)["error"]


def test_root_links_to_the_docs_health_and_api(client):
    response = client.get("/")
    assert response.status_code == 200
    body = response.get_json()
    assert body["links"]["docs"] == "/docs" and body["links"]["ready"] == "/health/ready"
    for link in body["links"].values():
        assert client.get(link).status_code in (200, 503), link  # 503: nothing ready here
    assert "POST /model/xgboost/predict" in body["endpoints"]
