"""POST and GET /machine/events: failures and maintenance, stored whole and once, read back."""

from __future__ import annotations

import psycopg
import pytest

from pumpapi import db

KEY = "test-ingest-key"
AUTH = {"X-API-Key": KEY}
FAILURE = {
    "machine": "MOTOBOMBA-007",
    "timestamp": "2025-09-27T13:30:00Z",
    "kind": "failure",
    "cause": "oil_leak",
}
INSPECTION = {
    "machine": "MOTOBOMBA-007",
    "timestamp": "2025-09-28T09:00:00Z",
    "kind": "inspection",
    "lubrificacao": 92.0,
    "hidraulico": 85.5,
    "note": "after the seal was replaced",
}
OIL_CHANGE = {
    "machine": "MOTOBOMBA-001",
    "timestamp": "2025-09-20T08:00:00-03:00",
    "kind": "oil_change",
}


def count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]


@pytest.fixture
def app(make_app, database_url):
    app = make_app(DATABASE_URL=database_url, INGEST_API_KEYS=(KEY,))
    yield app
    db.store(app).close()


@pytest.fixture
def client(app):
    return app.test_client()


def test_a_batch_is_stored_and_read_back_oldest_first(client, database_url):
    response = client.post(
        "/machine/events", json={"events": [INSPECTION, FAILURE, OIL_CHANGE]}, headers=AUTH
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "success": True,
        "received": 3,
        "inserted": 3,
        "already_stored": 0,
        "new_machines": ["MOTOBOMBA-001", "MOTOBOMBA-007"],
    }
    events = client.get("/machine/events").get_json()["events"]
    assert [(e["machine"], e["kind"]) for e in events] == [
        ("MOTOBOMBA-001", "oil_change"),
        ("MOTOBOMBA-007", "failure"),
        ("MOTOBOMBA-007", "inspection"),
    ]
    assert events[0]["timestamp"] == "2025-09-20T11:00:00Z"  # stored in UTC
    assert events[1]["cause"] == "oil_leak" and events[1]["lubrificacao"] is None
    assert events[2]["lubrificacao"] == 92.0 and events[2]["note"] == INSPECTION["note"]


def test_sending_a_batch_again_stores_nothing_twice(client, database_url):
    batch = {"events": [FAILURE, INSPECTION]}
    client.post("/machine/events", json=batch, headers=AUTH)
    again = client.post("/machine/events", json=batch, headers=AUTH).get_json()
    assert again["inserted"] == 0 and again["already_stored"] == 2 and again["new_machines"] == []
    assert count(database_url) == 2


def test_one_pump_and_a_time_window(client):
    client.post("/machine/events", json={"events": [FAILURE, INSPECTION, OIL_CHANGE]}, headers=AUTH)
    one = client.get("/machine/events?machine_name=MOTOBOMBA-007").get_json()
    assert {e["machine"] for e in one["events"]} == {"MOTOBOMBA-007"} and one["count"] == 2
    window = client.get(
        "/machine/events?since=2025-09-27T00:00:00Z&until=2025-09-28T09:00:00Z"
    ).get_json()
    assert [e["kind"] for e in window["events"]] == ["failure"]  # until is exclusive
    assert client.get("/machine/events?machine_name=MOTOBOMBA-999").get_json()["events"] == []


@pytest.mark.parametrize(
    ("event", "field", "words"),
    [
        ({**FAILURE, "cause": None}, "cause", "Field may not be null"),
        ({k: v for k, v in FAILURE.items() if k != "cause"}, "cause", "needs its cause"),
        ({**OIL_CHANGE, "cause": "oil_leak"}, "cause", "Only a failure or a repair"),
        ({**FAILURE, "lubrificacao": 50}, "lubrificacao", "Only an inspection"),
        ({**INSPECTION, "hidraulico": 101}, "hidraulico", "between 0 and 100"),
        ({**FAILURE, "kind": "explosion"}, "kind", "Must be one of"),
        ({**FAILURE, "timestamp": "2025-09-27T13:30:00"}, "timestamp", "timezone"),
        ({**FAILURE, "timestamp": "2999-01-01T00:00:00Z"}, "timestamp", "check the pump's clock"),
        ({**FAILURE, "machine": ""}, "machine", "between 1 and 64"),
        ({**FAILURE, "pressure": 3}, "pressure", "Unknown field"),
    ],
)
def test_an_invalid_event_names_its_row_and_field_and_nothing_is_stored(
    client, database_url, event, field, words
):
    response = client.post("/machine/events", json={"events": [INSPECTION, event]}, headers=AUTH)
    body = response.get_json()
    assert response.status_code == 422, body
    assert words.lower() in " ".join(body["errors"]["events"]["1"][field]).lower()
    assert "'events'" in body["error"]
    assert count(database_url) == 0


def test_writing_needs_the_ingest_key_and_reading_does_not(client):
    missing = client.post("/machine/events", json={"events": [FAILURE]})
    assert missing.status_code == 401
    assert missing.get_json()["error"].startswith("Sending events requires an API key")
    wrong = client.post("/machine/events", json={"events": [FAILURE]}, headers={"X-API-Key": "x"})
    assert wrong.status_code == 403
    assert client.get("/machine/events").status_code == 200


def test_reading_needs_a_read_key_when_reads_are_guarded(make_app, database_url):
    app = make_app(DATABASE_URL=database_url, INGEST_API_KEYS=(KEY,), READ_API_KEYS=("r",))
    client = app.test_client()
    try:
        assert client.get("/machine/events").status_code == 401
        assert client.get("/machine/events", headers={"X-API-Key": "r"}).status_code == 200
        # A read key does not write.
        write = client.post(
            "/machine/events", json={"events": [FAILURE]}, headers={"X-API-Key": "r"}
        )
        assert write.status_code == 403
    finally:
        db.store(app).close()


def test_too_many_events_is_422_before_any_is_read(make_app, database_url):
    app = make_app(DATABASE_URL=database_url, INGEST_API_KEYS=(KEY,), INGEST_MAX_BATCH_SIZE=2)
    try:
        response = app.test_client().post(
            "/machine/events", json={"events": [FAILURE] * 3}, headers=AUTH
        )
        assert response.status_code == 422 and "At most 2 events" in response.get_json()["error"]
    finally:
        db.store(app).close()


def test_postgresql_unavailable_is_503(make_app):
    client = make_app(
        DATABASE_URL="postgresql://nobody@127.0.0.1:1/none", INGEST_API_KEYS=(KEY,)
    ).test_client()
    response = client.post("/machine/events", json={"events": [FAILURE]}, headers=AUTH)
    assert response.status_code == 503 and "Retry-After" in response.headers
    assert client.get("/machine/events").status_code == 503


def test_a_nul_in_the_pump_name_finds_no_events_instead_of_a_500(client):
    # Found by schemathesis: PostgreSQL text cannot hold NUL, so no pump has such a name.
    response = client.get("/machine/events", query_string={"machine_name": "MOTO\x00BOMBA"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["events"] == []
