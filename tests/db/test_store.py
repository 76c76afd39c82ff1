"""TelemetryStore (pumpapi.db.store): latest readings, windows, machines, readiness, pools."""

import datetime as dt
import os
import time

import numpy as np
import psycopg
import pytest

from pumpapi import db, settings
from pumpapi.channels import CHANNEL_NAMES, MACHINE_NAME_MAX_LENGTH
from pumpapi.db import Reading, TelemetryStore, Window, copy_fleet
from pumpapi.db.schema import migrations
from pumpapi.errors import DatabaseUnavailable, InvalidInput, MachineNotFound
from tests.fixtures.db import pump_history

INJECTION = "x'; DROP TABLE readings; --"


def make_store(url, **overrides):
    return TelemetryStore({**settings.defaults(), "DATABASE_URL": url, **overrides})


@pytest.fixture
def fleet():
    return [
        pump_history("MOTOBOMBA-007", 50, seed=7),
        pump_history("MOTOBOMBA-001", 30, seed=1, start="2025-09-28T06:00:00", step_s=300),
    ]


@pytest.fixture
def store(database_url, fleet):
    copy_fleet(database_url, fleet)
    telemetry = make_store(database_url)
    yield telemetry
    telemetry.close()


def utc(moment: np.datetime64) -> dt.datetime:
    return moment.astype("datetime64[us]").item().replace(tzinfo=dt.UTC)


def test_latest_reading_is_the_newest_row_with_its_exact_values(store, fleet):
    pump = fleet[0]
    reading = store.latest_reading("MOTOBOMBA-007")
    assert isinstance(reading, Reading)
    assert reading.machine == "MOTOBOMBA-007"
    assert reading.timestamp == utc(pump.timestamps[-1])
    assert reading.timestamp.utcoffset() == dt.timedelta(0)
    assert list(reading.values) == list(CHANNEL_NAMES)
    assert list(reading.values.values()) == pump.readings[-1].tolist()


def test_pool_statistics_are_read_only_after_the_database_was_used(store):
    assert store.pop_pool_stats() is None  # no pool yet
    store.latest_reading("MOTOBOMBA-007")
    stats = store.pop_pool_stats()
    assert stats is not None and stats["requests_num"] == 1 and stats["pool_size"] >= 1
    assert store.pop_pool_stats() is None  # nothing asked of the database since
    store.latest_reading("MOTOBOMBA-007")
    store.latest_reading("MOTOBOMBA-001")
    assert store.pop_pool_stats()["requests_num"] == 2


def test_a_connection_the_server_ended_is_replaced_and_the_read_succeeds(store, database_url):
    before = store.latest_reading("MOTOBOMBA-007")
    # Every connection of the store's pool is ended by the server, as a restart would.
    with psycopg.connect(database_url, autocommit=True) as admin:
        ended = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = 'pumpapi' AND pid <> pg_backend_pid()"
        ).fetchone()[0]
    assert ended >= 1
    assert store.latest_reading("MOTOBOMBA-007") == before  # no error reaches the caller
    assert store.pop_pool_stats()["connections_lost"] >= 1  # found dead and replaced


def test_a_statement_timeout_is_not_retried(store, monkeypatch):
    calls = []

    def slow(conn):
        calls.append(conn)
        conn.execute("SET statement_timeout = 50")
        try:
            conn.execute("SELECT pg_sleep(1)")
        finally:
            conn.execute("RESET statement_timeout")

    with pytest.raises(DatabaseUnavailable):
        store.run(slow)
    assert len(calls) == 1


def test_latest_window_is_oldest_first_in_channel_order(store, fleet):
    pump = fleet[1]
    window = store.latest_window("MOTOBOMBA-001", 5)
    assert isinstance(window, Window) and len(window) == 5
    assert window.values.dtype == np.float64 and window.values.shape == (5, 8)
    np.testing.assert_array_equal(window.values, pump.readings[-5:])
    assert window.timestamps == [utc(t) for t in pump.timestamps[-5:]]
    assert all(t.tzinfo is not None and t.utcoffset() == dt.timedelta(0) for t in window.timestamps)
    assert window.timestamps == sorted(window.timestamps)


def test_a_window_longer_than_the_history_returns_what_there_is(store, fleet):
    window = store.latest_window("MOTOBOMBA-001", 60)
    assert len(window) == 30 and window.values.shape == (30, 8)
    np.testing.assert_array_equal(window.values, fleet[1].readings)


def test_one_step_window_matches_latest_reading(store):
    window = store.latest_window("MOTOBOMBA-007", 1)
    reading = store.latest_reading("MOTOBOMBA-007")
    assert window.timestamps == [reading.timestamp]
    assert window.values[0].tolist() == list(reading.values.values())


def test_unknown_pump_and_pump_without_readings_are_not_found(store, database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO pumps (name) VALUES ('MOTOBOMBA-NEW')")
    for name in ("MOTOBOMBA-999", "MOTOBOMBA-NEW", "motobomba-007"):
        with pytest.raises(MachineNotFound) as caught:
            store.latest_reading(name)
        assert caught.value.message == f"Nenhum dado encontrado para a máquina: {name}"
        with pytest.raises(MachineNotFound):
            store.latest_window(name, 10)
        with pytest.raises(MachineNotFound):
            store.latest_values(name, 10)


@pytest.mark.parametrize("steps", [1, 5, 30, 2880])
def test_the_packed_read_gives_the_same_readings_as_the_window(store, fleet, steps):
    """One row holding every value (the window model reads 2,880 readings a request)."""
    window = store.latest_window("MOTOBOMBA-001", steps)
    packed = store.latest_values("MOTOBOMBA-001", steps)
    assert len(packed) == len(window) == min(steps, 30)
    assert packed.values.dtype == np.float64 and packed.values.shape == window.values.shape
    np.testing.assert_array_equal(packed.values, window.values)
    assert (packed.first_timestamp, packed.last_timestamp) == (
        window.timestamps[0],
        window.timestamps[-1],
    )


def test_a_name_full_of_sql_is_just_an_unknown_pump(store, database_url):
    for name in (INJECTION, "' OR '1'='1", 'MOTOBOMBA-007" --', "%(machine)s", "%s; SELECT 1"):
        with pytest.raises(MachineNotFound):
            store.latest_reading(name)
        with pytest.raises(MachineNotFound):
            store.latest_window(name, 3)
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 80


def test_a_pump_whose_name_has_quotes_is_found(database_url):
    name = 'O\'Brien "pump"; --'
    copy_fleet(database_url, [pump_history(name, 3)])
    store = make_store(database_url)
    try:
        assert store.latest_reading(name).machine == name
        assert [m["machine"] for m in store.machines()] == [name]
    finally:
        store.close()


@pytest.mark.parametrize("name", ["", "M" * (MACHINE_NAME_MAX_LENGTH + 1), "MOTO\x00BOMBA"])
def test_impossible_names_are_not_found_without_asking_the_database(name):
    store = make_store(None)  # no database at all: a query would be a 503, not a 404
    with pytest.raises(MachineNotFound) as caught:
        store.latest_reading(name)
    assert len(caught.value.message) < 200 and "\x00" not in caught.value.message


@pytest.mark.parametrize("steps", [0, -5, True, 2.5, "60"])
def test_window_length_must_be_a_positive_integer(store, steps):
    with pytest.raises(InvalidInput):
        store.latest_window("MOTOBOMBA-007", steps)


def test_machines_lists_each_pump_with_first_and_latest_reading(store, fleet, database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO pumps (name) VALUES ('MOTOBOMBA-000')")
    machines = store.machines()
    assert [m["machine"] for m in machines] == ["MOTOBOMBA-000", "MOTOBOMBA-001", "MOTOBOMBA-007"]
    empty, first, seventh = machines
    assert empty["latest_timestamp"] is None and empty["latest_reading"] is None
    assert empty["first_timestamp"] is None
    assert first["first_timestamp"] == utc(fleet[1].timestamps[0])
    assert first["latest_timestamp"] == utc(fleet[1].timestamps[-1])
    assert seventh["latest_timestamp"] == utc(fleet[0].timestamps[-1])
    assert list(seventh["latest_reading"].values()) == fleet[0].readings[-1].tolist()


def test_check_reports_ready_with_the_schema_version(database_url):
    store = make_store(database_url)
    try:
        status = store.check()
    finally:
        store.close()
    assert status["ready"] is True and status["error"] is None
    assert status["version"] == migrations()[-1][0]


def test_check_without_a_schema_says_to_run_db_init(empty_database_url):
    store = make_store(empty_database_url)
    try:
        status = store.check()
        assert status["ready"] is False
        assert "pumpapi db init" in status["error"]
        with pytest.raises(DatabaseUnavailable, match="pumpapi db init"):
            store.latest_reading("MOTOBOMBA-007")
    finally:
        store.close()


def test_without_database_url_queries_are_unavailable_and_check_says_why():
    store = make_store(None)
    assert store.check()["ready"] is False
    assert store.check()["error"] == "DATABASE_URL is not set"
    with pytest.raises(DatabaseUnavailable, match="^DATABASE_URL is not set$"):
        store.latest_reading("MOTOBOMBA-007")
    with pytest.raises(DatabaseUnavailable):
        store.machines()


def test_an_invalid_database_url_is_reported_not_raised():
    store = make_store("mysql://root@localhost/pumps")
    store.open()  # what a gunicorn worker does at boot: must not crash it
    status = store.check()
    assert status["ready"] is False and "PostgreSQL URL" in status["error"]


def test_a_slow_query_hits_the_statement_timeout(database_url, fleet):
    copy_fleet(database_url, fleet)
    store = make_store(database_url, DB_STATEMENT_TIMEOUT_MS=200)
    try:
        store.latest_reading("MOTOBOMBA-007")
        with psycopg.connect(database_url) as locker:
            # Another session holds the table: the store's query waits until its timeout.
            locker.execute("LOCK TABLE readings IN ACCESS EXCLUSIVE MODE")
            started = time.perf_counter()
            with pytest.raises(DatabaseUnavailable, match="too long"):
                store.latest_reading("MOTOBOMBA-007")
            assert time.perf_counter() - started < 1.5
            locker.rollback()
        assert store.latest_reading("MOTOBOMBA-007").machine == "MOTOBOMBA-007"
    finally:
        store.close()


def test_open_is_idempotent_and_close_then_use_reopens(store):
    store.open()
    pool = store._pool
    store.open()
    assert store._pool is pool
    store.close()
    assert store._pool is None
    assert store.latest_reading("MOTOBOMBA-007").machine == "MOTOBOMBA-007"
    assert store._pool is not None and store._pool is not pool


def _sessions(store, n):
    """Backend pids of `n` pooled connections held at once (so each one is used)."""
    with store.connection() as a, store.connection() as b:
        held = [a, b][:n]
        return sorted(c.execute("SELECT pg_backend_pid()").fetchone()[0] for c in held)


def test_a_forked_child_gets_its_own_pool_and_leaves_the_parents_alone(database_url, fleet):
    copy_fleet(database_url, fleet)
    store = make_store(database_url, DB_POOL_MIN_SIZE=2, DB_POOL_MAX_SIZE=2)
    try:
        store.open()
        store._pool.wait(timeout=10)
        parent_pool, parent_sessions = store._pool, _sessions(store, 2)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child, like a gunicorn worker: must not touch the parent's sessions
            code = 1
            try:
                reading = store.latest_reading("MOTOBOMBA-007")
                fresh = store._pool is not parent_pool
                fresh = fresh and not set(_sessions(store, 2)) & set(parent_sessions)
                os.write(write_end, f"{reading.timestamp.isoformat()} {fresh}".encode())
                store.close()
                code = 0
            finally:
                os._exit(code)
        os.close(write_end)
        _, status = os.waitpid(pid, 0)
        answer = os.read(read_end, 200).decode()
        os.close(read_end)
        assert os.waitstatus_to_exitcode(status) == 0
        assert answer == f"{utc(fleet[0].timestamps[-1]).isoformat()} True"
        # The parent goes on with the same pool and the same server sessions, none lost: the
        # child neither used nor closed them.
        assert store._pool is parent_pool
        assert _sessions(store, 2) == parent_sessions
        assert store._pool.get_stats().get("connections_lost", 0) == 0
    finally:
        store.close()


def test_the_app_holds_one_store_reachable_through_store(db_app):
    with db_app.app_context():
        assert db.store() is db.store(db_app)
        assert isinstance(db.store(), TelemetryStore)
        assert db.store().check()["ready"] is True
