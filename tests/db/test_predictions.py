"""The prediction log: every prediction written to PostgreSQL off the request path, by day
partition, dropped and counted (never failing a prediction) while PostgreSQL is down."""

from __future__ import annotations

import datetime as dt
import os
import signal
import time

import psycopg
import pytest
import requests

from pumpapi import db
from pumpapi.db import copy_fleet, predictions, to_conninfo
from tests.fixtures.db import pump_history

READING = {
    "rotacao_motor_rpm": 1800,
    "pressao_oleo_bar": 4.5,
    "tensao_bateria_v": 24.1,
    "tensao_alternador_v": 27.8,
}
LOW_OIL = {**READING, "pressao_oleo_bar": 0.7}


def rows(url: str) -> list[dict]:
    with psycopg.connect(url) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute("SELECT * FROM predictions ORDER BY ts, row_index").fetchall()


@pytest.fixture
def logged_app(make_app, all_families_root, database_url):
    """Every family, a database with one pump, and a prediction log flushed by the test."""
    copy_fleet(to_conninfo(database_url), [pump_history("MOTOBOMBA-001", 90)])
    app = make_app(
        MODEL_STORE=str(all_families_root),
        MODEL_FAMILIES=("xgboost", "gru", "lstm"),
        DATABASE_URL=database_url,
        PREDICTION_LOG=True,
        PREDICTION_LOG_FLUSH_SECONDS=3600,  # the test flushes
    )
    yield app
    predictions.of(app).close()
    db.store(app).close()


def test_every_family_route_and_batch_row_is_recorded(logged_app, database_url):
    client = logged_app.test_client()
    log = predictions.of(logged_app)
    single = client.post("/model/xgboost/predict", json=READING, headers={"X-Request-ID": "r-1"})
    batch = client.post("/model/xgboost/predict", json={"instances": [READING, LOW_OIL]})
    machine = client.post("/machine/predict?machine_name=MOTOBOMBA-001")
    health = client.post("/machine/gru/predict?machine_name=MOTOBOMBA-001&time_steps=30")
    forecast = client.post("/model/lstm/predict", json={"data": [4.0 + i / 100 for i in range(60)]})
    v2 = client.post(
        "/v2/models/xgboost/infer",
        json={"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 4],
                          "data": [1800, 4.5, 24.1, 27.8]}]},
    )  # fmt: skip
    for answer in (single, batch, machine, health, forecast, v2):
        assert answer.status_code == 200, answer.get_json()
    client.post("/model/xgboost/predict", json={**READING, "pressao_oleo_bar": 99})  # 422
    assert log.flush() == 7
    found = rows(database_url)
    assert [(r["family"], r["route"], r["row_index"]) for r in found] == [
        ("xgboost", "/model/xgboost/predict", 0),
        ("xgboost", "/model/xgboost/predict", 0),
        ("xgboost", "/model/xgboost/predict", 1),
        ("xgboost", "/machine/predict", 0),
        ("gru", "/machine/gru/predict", 0),
        ("lstm", "/model/lstm/predict", 0),
        ("xgboost", "/v2/models/<name>/infer", 0),
    ]
    first = found[0]
    assert first["request_id"] == "r-1" and first["inputs"] == READING
    assert first["output"]["result"]["probability"] == single.get_json()["result"]["probability"]
    assert first["version"] == single.get_json()["result"]["model_version"]
    assert first["latency_ms"] > 0
    # A batch: one row per reading, each with its own result.
    assert found[2]["inputs"] == LOW_OIL
    assert found[2]["output"] == batch.get_json()["results"][1]
    assert found[3]["machine"] == "MOTOBOMBA-001"
    assert found[4]["inputs"] == {"query": {"machine_name": "MOTOBOMBA-001", "time_steps": "30"}}
    assert found[4]["output"]["indices"] == health.get_json()["indices"]


def test_a_client_string_postgresql_cannot_store_never_loses_the_flush(logged_app, database_url):
    """jsonb refuses the escape \\u0000 and text refuses NUL: one such string (an inference
    protocol id is echoed back) must not make COPY drop every row written with it."""
    client = logged_app.test_client()
    log = predictions.of(logged_app)
    v2 = client.post(
        "/v2/models/xgboost/infer",
        json={"id": "a\u0000b", "inputs": [{"name": "features", "datatype": "FP32",
              "shape": [1, 4], "data": [1800, 4.5, 24.1, 27.8]}]},
    )  # fmt: skip
    assert v2.status_code == 200, v2.get_json()
    client.post("/model/xgboost/predict", json=READING)
    assert log.flush() == 2 and log.dropped == 0
    found = rows(database_url)
    assert found[0]["inputs"]["id"] == "a\ufffdb" and found[0]["output"]["id"] == "a\ufffdb"
    assert found[1]["inputs"] == READING


def test_rows_land_in_the_day_partition_and_old_partitions_are_dropped(logged_app, database_url):
    client = logged_app.test_client()
    log = predictions.of(logged_app)
    client.post("/model/xgboost/predict", json=READING)
    log.flush()
    today = dt.datetime.now(dt.UTC).date()
    with psycopg.connect(database_url, autocommit=True) as conn:
        partition = conn.execute("SELECT tableoid::regclass::text FROM predictions").fetchone()[0]
        assert partition == f"predictions_{today:%Y%m%d}"
        # An old day (as if the service had run 40 days ago), then retention at 30 days.
        conn.execute(
            "SELECT prediction_log_partitions(%s::date, 1)", (today - dt.timedelta(days=40),)
        )
        conn.execute(
            "INSERT INTO predictions (ts, request_id, family, version, route, inputs, output,"
            " latency_ms) VALUES (now() - interval '40 days', 'old', 'xgboost', '1', '/x',"
            " '{}', '{}', 1)"
        )
    log._partitions_day = None  # as on the next day
    client.post("/model/xgboost/predict", json=READING)
    log.flush()
    with psycopg.connect(database_url) as conn:
        names = {
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = 'predictions'::regclass"
            )
        }
        assert f"predictions_{today - dt.timedelta(days=40):%Y%m%d}" not in names
        assert f"predictions_{today + dt.timedelta(days=1):%Y%m%d}" in names  # made ahead
        assert conn.execute("SELECT count(*) FROM predictions").fetchone()[0] == 2


def test_postgresql_down_drops_and_counts_and_never_fails_a_prediction(make_app, xgboost_trained):
    from prometheus_client import REGISTRY

    app = make_app(
        MODEL_STORE=str(xgboost_trained.root),
        MODEL_FAMILIES=("xgboost",),
        DATABASE_URL="postgresql://nobody@127.0.0.1:1/none",
        PREDICTION_LOG=True,
        PREDICTION_LOG_FLUSH_SECONDS=3600,
        PREDICTION_LOG_BUFFER=4,
    )
    log = predictions.of(app)
    before = REGISTRY.get_sample_value("pumpapi_prediction_log_dropped_total") or 0.0
    client = app.test_client()
    for _ in range(6):
        assert client.post("/model/xgboost/predict", json=READING).status_code == 200
    log.flush()  # whatever the thread has not tried yet: PostgreSQL is down, nothing raises
    assert log.dropped == 6 and log.written == 0
    after = REGISTRY.get_sample_value("pumpapi_prediction_log_dropped_total")
    assert after - before == 6
    log.close()


def test_a_full_buffer_drops_its_oldest_entries():
    log = predictions.PredictionLog(
        {"PREDICTION_LOG": True, "DATABASE_URL": "postgresql://x@127.0.0.1:1/x",
         "PREDICTION_LOG_BUFFER": 3}
    )  # fmt: skip
    log._pid = os.getpid()  # as if its thread were running: nothing flushes behind the test
    for i in range(5):
        log.record(
            predictions.Entry(
                time.time(), f"r{i}", None, "xgboost", "1", "/x", b"{}", {}, b"{}", 1.0
            )
        )
    assert log.dropped == 2
    assert [e.request_id for e in log._buffer] == ["r2", "r3", "r4"]


def test_off_or_without_a_database_nothing_is_hooked(make_app, xgboost_trained, database_url):
    off = make_app(DATABASE_URL=database_url, PREDICTION_LOG=False)
    assert predictions.of(off).enabled is False
    no_db = make_app(PREDICTION_LOG=True)
    assert predictions.of(no_db).enabled is False


def test_a_stopping_worker_writes_what_it_holds(gunicorn_server, all_families_root, database_url):
    """Through real gunicorn: flushes every hour, yet SIGTERM leaves nothing unwritten."""
    server = gunicorn_server(
        {
            "DATABASE_URL": database_url,
            "PUMPAPI_MODEL_STORE": str(all_families_root),
            "PUMPAPI_MODEL_FAMILIES": "xgboost",
            "PUMPAPI_PREDICTION_LOG": "true",
            "PUMPAPI_PREDICTION_LOG_FLUSH_SECONDS": "3600",
        }
    )
    sent = 20
    for _ in range(sent):
        answer = requests.post(f"{server.url}/model/xgboost/predict", json=READING, timeout=10)
        assert answer.status_code == 200
    assert rows(database_url) == []  # still buffered in the workers
    os.kill(server.process.pid, signal.SIGTERM)
    server.process.wait(timeout=30)
    deadline = time.monotonic() + 5
    while len(rows(database_url)) < sent and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(rows(database_url)) == sent


def test_the_candidate_scores_a_sample_off_the_response_path(
    make_app, tmp_path, all_families_root, database_url
):
    import json
    import shutil

    root = tmp_path / "store"
    shutil.copytree(all_families_root, root)
    shutil.copytree(root / "xgboost" / "1", root / "xgboost" / "2")
    meta = json.loads((root / "xgboost" / "2" / "metadata.json").read_text())
    (root / "xgboost" / "2" / "metadata.json").write_text(json.dumps({**meta, "version": "2"}))
    (root / "xgboost" / "aliases.json").write_text('{"latest": "1", "candidate": "2"}')
    app = make_app(
        MODEL_STORE=str(root),
        MODEL_FAMILIES=("xgboost",),
        DATABASE_URL=database_url,
        READ_API_KEYS=("reader",),  # the replay is admitted without the client's key
        PREDICTION_LOG=True,
        PREDICTION_LOG_FLUSH_SECONDS=3600,
        SHADOW_SHARE=1.0,
    )
    log = predictions.of(app)
    try:
        client = app.test_client()
        key = {"X-API-Key": "reader"}
        batch = {"instances": [READING, LOW_OIL]}
        answers = [
            client.post("/model/xgboost/predict", json=READING, headers=key),
            client.post("/model/xgboost/predict", json=batch, headers=key),
        ]
        assert [a.headers["X-Model-Version"] for a in answers] == ["1", "1"]
        # A request pinned to the candidate is not shadowed again.
        pinned = client.post("/model/xgboost/predict?version=candidate", json=READING, headers=key)
        assert pinned.headers["X-Model-Version"] == "2"
        log.flush()
        assert log.run_shadows() == 2
        log.flush()
        found = rows(database_url)
        production = [(r["request_id"], r["row_index"]) for r in found if not r["shadow"]]
        shadow = [(r["request_id"], r["row_index"]) for r in found if r["shadow"]]
        assert {r["version"] for r in found if r["shadow"]} == {"2"}
        assert sorted(shadow) == sorted(production[:3])  # beside the two shadowed requests
        assert len(found) == 3 + 1 + 3  # production rows, the pinned one, the shadow rows
    finally:
        log.close()
        db.store(app).close()


def test_rows_without_a_pump_cost_no_index_insert_for_it(logged_app, database_url):
    """The pump index is partial: the /model/* routes' rows (no machine) are not in it."""
    with psycopg.connect(database_url) as conn:
        definition = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'predictions_machine_ts'"
        ).fetchone()[0]
    assert definition.endswith("WHERE (machine IS NOT NULL)")
