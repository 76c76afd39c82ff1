"""GET /machines, and the database component of /health/ready (pumpapi.blueprints.machines)."""

import datetime as dt
import time

import psycopg

from pumpapi import db
from pumpapi.db import copy_fleet
from pumpapi.db.schema import migrations
from tests.fixtures.db import pump_history

RECENT = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=10)


def test_machines_lists_each_pump_with_its_latest_reading(db_app, database_url):
    fleet = [
        pump_history("MOTOBOMBA-007", 10, start=RECENT, step_s=60, seed=7),
        pump_history("MOTOBOMBA-001", 4, start="2025-09-27T13:00:00", step_s=600, seed=1),
    ]
    copy_fleet(database_url, fleet)
    response = db_app.test_client().get("/machines")
    assert response.status_code == 200
    body = response.get_json()
    assert body["success"] is True and body["count"] == 2
    first, seventh = body["machines"]
    assert first == {
        "machine": "MOTOBOMBA-001",
        "first_timestamp": "2025-09-27T13:00:00Z",
        "latest_timestamp": "2025-09-27T13:30:00Z",
        "age_seconds": first["age_seconds"],
        "latest_reading": dict(
            zip(
                ["Eng_RPM", "Cool_T", "Oil_P", "Oil_L", "Recalque", "Succao", "Bat_V", "Char_V"],
                fleet[1].readings[-1].tolist(),
                strict=True,
            )
        ),
    }
    assert first["age_seconds"] > 86_400  # a pump that stopped reporting long ago shows it
    assert seventh["machine"] == "MOTOBOMBA-007"
    assert 60 <= seventh["age_seconds"] < 600  # newest reading: 1 minute ago, plus test time


def test_a_pump_without_readings_is_listed_with_nulls(db_app, database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO pumps (name) VALUES ('MOTOBOMBA-042')")
    body = db_app.test_client().get("/machines").get_json()
    assert body["count"] == 1
    assert body["machines"][0] == {
        "machine": "MOTOBOMBA-042",
        "first_timestamp": None,
        "latest_timestamp": None,
        "age_seconds": None,
        "latest_reading": None,
    }


def test_an_empty_database_lists_no_pumps(db_app):
    body = db_app.test_client().get("/machines").get_json()
    assert body == {"success": True, "count": 0, "machines": []}


def test_without_database_machines_is_503_with_retry_after(client):
    response = client.get("/machines")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.get_json() == {
        "success": False,
        "error": "DATABASE_URL is not set",
        "code": 503,
        "status": "Service Unavailable",
    }


def test_database_down_answers_503_fast_and_recovers(
    make_app, private_database_url, private_cluster
):
    copy_fleet(private_database_url, [pump_history("MOTOBOMBA-007", 3)])
    app = make_app(DATABASE_URL=private_database_url)
    client = app.test_client()
    try:
        assert client.get("/machines").status_code == 200
        assert client.get("/health/ready").status_code == 200
        private_cluster.stop()

        started = time.perf_counter()
        response = client.get("/machines")
        assert time.perf_counter() - started <= 1.5
        assert response.status_code == 503
        assert response.content_type == "application/json"
        assert int(response.headers["Retry-After"]) > 0
        body = response.get_json()
        assert body["success"] is False and body["code"] == 503
        assert "try again" in body["error"]

        started = time.perf_counter()
        ready = client.get("/health/ready")
        assert time.perf_counter() - started <= 1.5
        assert ready.status_code == 503
        database = ready.get_json()["components"]["database"]
        assert database["ready"] is False and "not reachable" in database["error"]

        private_cluster.start()
        recovered = client.get("/machines")  # the first request after the restart
        assert recovered.status_code == 200
        assert recovered.get_json()["machines"][0]["machine"] == "MOTOBOMBA-007"
        ready = client.get("/health/ready")
        assert ready.status_code == 200
        database = ready.get_json()["components"]["database"]
        assert database["ready"] is True and database["error"] is None
        assert database["version"] == migrations()[-1][0]  # the schema version
    finally:
        db.store(app).close()


def test_readiness_reports_a_database_without_schema(make_app, empty_database_url):
    app = make_app(DATABASE_URL=empty_database_url)
    try:
        response = app.test_client().get("/health/ready")
        assert response.status_code == 503
        assert "pumpapi db init" in response.get_json()["components"]["database"]["error"]
    finally:
        db.store(app).close()


def test_machines_is_documented(client):
    spec = client.get("/openapi.json").get_json()
    operation = spec["paths"]["/machines"]["get"]
    assert operation["summary"].startswith("The pumps")
    assert {"200", "503"} <= set(operation["responses"])
