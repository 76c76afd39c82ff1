"""POST /machine/telemetry and `pumpapi telemetry load` (pumpapi.blueprints.telemetry)."""

import csv
import io
import json

import psycopg
import pytest

from pumpapi import db
from pumpapi.readings import FIELDS

KEY = "test-ingest-key"
AUTH = {"X-API-Key": KEY}
READING = {
    "machine": "MOTOBOMBA-007",
    "timestamp": "2025-09-27T13:30:00Z",
    "Eng_RPM": 1800.0,
    "Cool_T": 82.0,
    "Oil_P": 4.5,
    "Oil_L": 78.0,
    "Recalque": 6.0,
    "Succao": 1.1,
    "Bat_V": 24.6,
    "Char_V": 27.8,
}


def readings(n, machine="MOTOBOMBA-007"):
    return [
        {
            **READING,
            "machine": machine,
            "timestamp": f"2025-09-27T13:{i:02d}:00Z",
            "Oil_P": 4 + i / 100,
        }
        for i in range(n)
    ]


def as_csv(rows, fields=FIELDS):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(fields)
    writer.writerows([row[f] for f in fields] for row in rows)
    return out.getvalue()


def count(url):
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM readings").fetchone()[0]


@pytest.fixture
def ingest_app(make_app, database_url):
    app = make_app(DATABASE_URL=database_url, INGEST_API_KEYS=("another-key", KEY))
    yield app
    db.store(app).close()


@pytest.fixture
def client(ingest_app):
    return ingest_app.test_client()


def test_json_batch_is_stored_then_resent_without_duplicates(client, database_url):
    body = {"readings": readings(5) + readings(3, "MOTOBOMBA-001")}
    first = client.post("/machine/telemetry", json=body, headers=AUTH)
    assert first.status_code == 200, first.get_json()
    assert first.get_json() == {
        "success": True,
        "received": 8,
        "inserted": 8,
        "already_stored": 0,
        "new_machines": ["MOTOBOMBA-001", "MOTOBOMBA-007"],
    }
    again = client.post("/machine/telemetry", json=body, headers=AUTH).get_json()
    assert (again["inserted"], again["already_stored"], again["new_machines"]) == (0, 8, [])
    assert count(database_url) == 8
    latest = client.get("/machines").get_json()["machines"][1]
    assert latest["latest_timestamp"] == "2025-09-27T13:04:00Z"
    assert latest["latest_reading"]["Oil_P"] == pytest.approx(4.04)


def test_csv_batch_with_columns_in_any_order_is_stored(client, database_url):
    fields = list(reversed(FIELDS))
    response = client.post(
        "/machine/telemetry",
        data=as_csv(readings(4), fields),
        content_type="text/csv; charset=utf-8",
        headers=AUTH,
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["inserted"] == 4
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT max(oil_p) FROM readings").fetchone()[0] == pytest.approx(4.03)


@pytest.mark.parametrize(
    ("headers", "status", "words"),
    [({}, 401, "X-API-Key"), ({"X-API-Key": "wrong"}, 403, "does not allow")],
)
def test_ingestion_needs_a_configured_key(client, database_url, headers, status, words):
    response = client.post("/machine/telemetry", json={"readings": readings(1)}, headers=headers)
    assert response.status_code == status
    assert words in response.get_json()["error"]
    assert count(database_url) == 0


@pytest.mark.parametrize("headers", [AUTH, {}], ids=["with-a-key", "without-a-key"])
def test_without_configured_keys_nobody_can_ingest(make_app, headers):
    response = (
        make_app()
        .test_client()
        .post("/machine/telemetry", json={"readings": readings(1)}, headers=headers)
    )
    # 403 saying it is disabled, with or without a key: never "send a key", which cannot work.
    assert response.status_code == 403
    error = response.get_json()["error"]
    assert "disabled" in error and "no API key is configured" in error
    assert "send it" not in error


def test_one_invalid_row_rejects_the_batch_naming_rows_and_fields(client, database_url):
    rows = readings(6)
    rows[2]["Oil_P"] = 250.0  # beyond the sensor's range
    rows[4]["Cool_T"] = "hot"
    del rows[5]["Bat_V"]
    rows[5]["Colour"] = "red"
    response = client.post("/machine/telemetry", json={"readings": rows}, headers=AUTH)
    assert response.status_code == 422
    body = response.get_json()
    assert body["errors"]["readings"] == {
        "2": {"Oil_P": [body["errors"]["readings"]["2"]["Oil_P"][0]]},
        "4": {"Cool_T": ["Not a valid number."]},
        "5": {"Bat_V": ["Missing data for required field."], "Colour": ["Unknown field."]},
    }
    assert "between 0 and 20 bar" in body["errors"]["readings"]["2"]["Oil_P"][0]
    assert "rows 2, 4, 5" in body["error"] and "nothing was stored" in body["error"]
    assert count(database_url) == 0


def test_nan_literal_and_naive_timestamp_are_field_errors(client):
    text = json.dumps({"readings": readings(2)}).replace("1800.0", "NaN", 1)
    rows_naive = readings(1)
    rows_naive[0]["timestamp"] = "2025-09-27T13:30:00"
    nan = client.post(
        "/machine/telemetry", data=text, content_type="application/json", headers=AUTH
    )
    naive = client.post("/machine/telemetry", json={"readings": rows_naive}, headers=AUTH)
    assert (
        nan.status_code == 422
        and "finite" in nan.get_json()["errors"]["readings"]["0"]["Eng_RPM"][0]
    )
    assert naive.status_code == 422
    assert "timezone" in naive.get_json()["errors"]["readings"]["0"]["timestamp"][0]


def test_csv_errors_name_the_row(client):
    text = as_csv(readings(3)).replace("82.0", "nan", 1) + "MOTOBOMBA-007,2025-09-27T14:00:00Z,1\n"
    response = client.post("/machine/telemetry", data=text, content_type="text/csv", headers=AUTH)
    assert response.status_code == 422
    errors = response.get_json()["errors"]["readings"]
    assert set(errors) == {"0", "3"}
    assert errors["3"] == {"_schema": ["Expected 10 values, got 3."]}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"readings": []}, "at least one"),
        ({"readings": "all of them"}, "must be a list"),
        ({}, "Missing data"),
        ({"readings": readings(1), "extra": 1}, "Unknown field"),
        ([READING], "JSON object"),
    ],
)
def test_malformed_batches_are_422(client, body, words):
    response = client.post("/machine/telemetry", json=body, headers=AUTH)
    assert response.status_code == 422
    assert words in json.dumps(response.get_json())


def test_batch_size_and_body_limits(make_app, database_url):
    app = make_app(
        DATABASE_URL=database_url,
        INGEST_API_KEYS=(KEY,),
        INGEST_MAX_BATCH_SIZE=3,
        INGEST_MAX_CONTENT_LENGTH=5000,
        MAX_CONTENT_LENGTH=100,  # other endpoints' limit does not apply to batches
    )
    client = app.test_client()
    too_many = client.post("/machine/telemetry", json={"readings": readings(4)}, headers=AUTH)
    assert too_many.status_code == 422 and "At most 3" in too_many.get_json()["error"]
    assert (
        client.post("/machine/telemetry", json={"readings": readings(3)}, headers=AUTH).status_code
        == 200
    )
    huge = client.post("/machine/telemetry", data="x" * 6000, content_type="text/csv", headers=AUTH)
    assert huge.status_code == 413
    assert "5000 bytes" in huge.get_json()["error"]
    db.store(app).close()


def test_wrong_content_type_is_415_and_get_is_405(client):
    response = client.post(
        "/machine/telemetry", data=json.dumps({"readings": readings(1)}), headers=AUTH
    )
    assert response.status_code == 415
    assert "application/json or text/csv" in response.get_json()["error"]
    not_allowed = client.get("/machine/telemetry", headers=AUTH)
    assert not_allowed.status_code == 405 and "POST" in not_allowed.headers["Allow"]


def test_the_endpoint_is_documented_with_its_key(client):
    spec = client.get("/openapi.json").get_json()
    operation = spec["paths"]["/machine/telemetry"]["post"]
    assert operation["security"] == [{"ApiKeyAuth": []}]
    assert set(operation["requestBody"]["content"]) == {"application/json", "text/csv"}
    assert spec["components"]["securitySchemes"]["ApiKeyAuth"]["name"] == "X-API-Key"


def test_cli_load_csv_then_json_is_idempotent(ingest_app, database_url, tmp_path):
    runner = ingest_app.test_cli_runner()
    csv_file = tmp_path / "readings.csv"
    csv_file.write_text(as_csv(readings(10)))
    json_file = tmp_path / "readings.json"
    json_file.write_text(json.dumps({"readings": readings(12)}))
    first = runner.invoke(args=["telemetry", "load", str(csv_file)])
    assert first.exit_code == 0, first.output
    assert "Stored 10 of 10 readings (0 already stored)" in first.output
    second = runner.invoke(args=["telemetry", "load", str(json_file)])
    assert "Stored 2 of 12 readings (10 already stored)" in second.output
    assert count(database_url) == 12


def test_cli_load_of_an_invalid_file_stores_nothing(ingest_app, database_url, tmp_path):
    rows = readings(3)
    rows[1]["Bat_V"] = -5
    path = tmp_path / "bad.csv"
    path.write_text(as_csv(rows))
    result = ingest_app.test_cli_runner().invoke(args=["telemetry", "load", str(path)])
    assert result.exit_code == 1
    assert "row 1" in result.output and "Bat_V" in result.output
    assert count(database_url) == 0


def _row_by_row(monkeypatch, records):
    """The batch as the row-by-row path validates it (the one that names faults)."""
    from pumpapi import readings as module

    with monkeypatch.context() as patch:
        patch.setattr(module, "_valid_records", lambda records: None)
        return module.from_records(records, 100_000)


def test_the_columnar_check_reads_valid_batches_as_the_row_by_row_one(monkeypatch):
    from pumpapi import readings as module

    varied = readings(30) + readings(30, machine="MOTOBOMBA-001")  # repeated timestamps
    varied[0] = {**varied[0], "timestamp": "2025-09-27T10:00:00.123456-03:00", "Eng_RPM": 0}
    varied[1] = {**varied[1], "timestamp": "2025-09-27 13:01:00+00:00", "Cool_T": -40}
    fast = module._valid_records(varied)
    assert fast is not None  # all valid: the columnar check accepted them
    slow = _row_by_row(monkeypatch, varied)
    assert fast.machines.tolist() == slow.machines.tolist()
    assert fast.timestamps.tolist() == slow.timestamps.tolist()
    assert fast.values.tolist() == slow.values.tolist()
    assert str(fast.timestamps[0]) == "2025-09-27T13:00:00.123456"


@pytest.mark.parametrize(
    "change",
    [
        {"Eng_RPM": True},
        {"Eng_RPM": "1800"},
        {"Eng_RPM": 10**400},
        {"Eng_RPM": float("nan")},
        {"Eng_RPM": float("inf")},
        {"Oil_P": -1.0},
        {"Char_V": 1e9},
        {"machine": ""},
        {"machine": ["MOTOBOMBA-007"]},
        {"machine": "MOTOBOMBA-007 "},
        {"timestamp": "2025-09-27T13:30:00"},
        {"timestamp": "yesterday"},
        {"timestamp": 1727443800},
        {"timestamp": "1989-12-31T23:59:59Z"},
        {"timestamp": "2999-01-01T00:00:00Z"},
        {"extra": 1},
    ],
)
def test_the_columnar_check_passes_every_doubt_to_the_row_by_row_one(change):
    from pumpapi import readings as module

    rows = readings(5)
    rows[3] = {**rows[3], **change}
    assert module._valid_records(rows) is None
    with pytest.raises(module.BatchRejected) as caught:
        module.from_records(rows, 100)
    assert list(caught.value.errors["readings"]) == ["3"]


def test_a_missing_field_or_a_row_that_is_no_object_is_named(monkeypatch):
    from pumpapi import readings as module

    rows = readings(4)
    del rows[1]["Bat_V"]
    rows[2] = ["not", "a", "reading"]
    assert module._valid_records(rows) is None
    with pytest.raises(module.BatchRejected) as caught:
        module.from_records(rows, 100)
    assert sorted(caught.value.errors["readings"]) == ["1", "2"]
