"""Storing validated batches (pumpapi.db.ingest): once each, counted, all or nothing."""

import numpy as np
import psycopg
import pytest

from pumpapi import readings
from pumpapi.db.ingest import ingest_batch
from pumpapi.telemetry import CHANNEL_NAMES
from tests.fixtures.db import NOMINAL


def records(machine, n, start_minute=0, value_shift=0.0):
    return [
        {
            "machine": machine,
            "timestamp": f"2025-09-27T{divmod(start_minute + i, 60)[0]:02d}:"
            f"{divmod(start_minute + i, 60)[1]:02d}:00Z",
            **dict(zip(CHANNEL_NAMES, (NOMINAL + value_shift + i * 0.001).tolist(), strict=True)),
        }
        for i in range(n)
    ]


def batch(rows):
    return readings.from_records(rows, 100_000)


def stored(url):
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT p.name, r.ts, r.eng_rpm, r.char_v FROM readings r"
            " JOIN pumps p ON p.id = r.pump_id ORDER BY p.name, r.ts"
        ).fetchall()


def test_a_batch_is_stored_once_and_the_answer_counts_what_was_new(database_url):
    rows = records("MOTOBOMBA-007", 30) + records("MOTOBOMBA-001", 20)
    with psycopg.connect(database_url, autocommit=True) as conn:
        first = ingest_batch(conn, batch(rows))
        again = ingest_batch(conn, batch(rows))
        # A batch overlapping what is stored adds only the new readings.
        overlap = ingest_batch(conn, batch(records("MOTOBOMBA-007", 40)))
    assert (first.received, first.inserted, first.already_stored) == (50, 50, 0)
    assert first.new_machines == ["MOTOBOMBA-001", "MOTOBOMBA-007"]
    assert (again.inserted, again.already_stored, again.new_machines) == (0, 50, [])
    assert (overlap.inserted, overlap.already_stored) == (10, 30)
    rows_stored = stored(database_url)
    assert len(rows_stored) == 60
    name, ts, rpm, char_v = rows_stored[0]
    assert (name, ts.isoformat(), rpm, char_v) == (
        "MOTOBOMBA-001",
        "2025-09-27T00:00:00+00:00",
        NOMINAL[0],
        NOMINAL[7],
    )


def test_a_reading_already_stored_keeps_its_first_values(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        ingest_batch(conn, batch(records("MOTOBOMBA-007", 1)))
        result = ingest_batch(conn, batch(records("MOTOBOMBA-007", 1, value_shift=1.0)))
    assert result.inserted == 0 and result.already_stored == 1
    assert stored(database_url)[0][2] == NOMINAL[0]


def test_the_same_reading_twice_in_one_batch_is_stored_once(database_url):
    rows = records("MOTOBOMBA-007", 3)
    with psycopg.connect(database_url, autocommit=True) as conn:
        result = ingest_batch(conn, batch(rows + rows[:2]))
    assert (result.received, result.inserted, result.already_stored) == (5, 3, 2)


def test_timestamps_with_offsets_are_stored_as_the_same_instant(database_url):
    utc = records("MOTOBOMBA-007", 1)
    brasilia = [{**utc[0], "timestamp": "2025-09-26T21:00:00-03:00"}]
    with psycopg.connect(database_url, autocommit=True) as conn:
        ingest_batch(conn, batch(utc))
        assert ingest_batch(conn, batch(brasilia)).already_stored == 1


def test_a_batch_failing_in_the_database_stores_nothing_of_itself(database_url):
    good = batch(records("MOTOBOMBA-007", 10))
    # Bypass validation: a name the pumps table refuses, in the same batch as good readings.
    bad = readings.TelemetryBatch(
        np.array(["MOTOBOMBA-007"] * 10 + ["X" * 65], dtype=object),
        np.concatenate([good.timestamps, good.timestamps[:1] + np.timedelta64(1, "D")]),
        np.vstack([good.values, good.values[:1]]),
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.CheckViolation):
            ingest_batch(conn, bad)
        assert conn.execute("SELECT count(*) FROM pumps").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 0
        # ... and the connection is usable again (no staging table left behind).
        assert ingest_batch(conn, good).inserted == 10


def test_a_statement_timeout_cancels_the_whole_batch(database_url):
    with (
        psycopg.connect(database_url, autocommit=True) as locker,
        psycopg.connect(database_url, autocommit=True) as conn,
    ):
        with locker.transaction():
            locker.execute("LOCK TABLE readings IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(psycopg.errors.QueryCanceled):
                ingest_batch(conn, batch(records("MOTOBOMBA-007", 5)), statement_timeout_ms=200)
        assert conn.execute("SELECT count(*) FROM pumps").fetchone()[0] == 0
        # The timeout was local to that transaction.
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == "0"
