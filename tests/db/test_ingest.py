"""Storing validated batches (pumpapi.db.ingest): once each, counted, all or nothing."""

import threading
import time

import numpy as np
import psycopg
import pytest

from pumpapi import readings
from pumpapi.channels import CHANNEL_NAMES
from pumpapi.db import ingest
from pumpapi.db.ingest import PUMP_LOCK_CLASS, ingest_batch
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


def test_repeats_inside_a_batch_keep_the_first_sent_across_pumps(database_url):
    first = records("MOTOBOMBA-007", 3) + records("MOTOBOMBA-001", 2)
    repeats = records("MOTOBOMBA-007", 3, value_shift=1.0) + records("MOTOBOMBA-001", 1, 0, 1.0)
    with psycopg.connect(database_url, autocommit=True) as conn:
        result = ingest_batch(conn, batch(first + repeats + first[:1]))
    assert (result.received, result.inserted, result.already_stored) == (10, 5, 5)
    rows = stored(database_url)
    assert len(rows) == 5
    # The repeats' values (shifted by 1) were not stored.
    assert all(rpm < NOMINAL[0] + 1 for _, _, rpm, _ in rows)


def test_partial_overlap_stores_only_the_gaps(database_url):
    odd_minutes = [r for i, r in enumerate(records("MOTOBOMBA-007", 20)) if i % 2]
    with psycopg.connect(database_url, autocommit=True) as conn:
        ingest_batch(conn, batch(odd_minutes + records("MOTOBOMBA-007", 1, start_minute=100)))
        # Minutes 0..29 of 007: the 10 odd ones up to 19 are stored; 001 is new altogether.
        result = ingest_batch(
            conn, batch(records("MOTOBOMBA-007", 30, value_shift=1.0) + records("MOTOBOMBA-001", 5))
        )
    assert (result.inserted, result.already_stored) == (25, 10)
    rows = stored(database_url)
    assert len(rows) == 5 + 31  # 001: 5; 007: minutes 0..29 and 100
    by_minute = {ts.minute + 60 * ts.hour: rpm for name, ts, rpm, _ in rows if name.endswith("7")}
    assert len(by_minute) == 31
    # Stored readings kept their values; the gaps got the new batch's.
    assert all((by_minute[m] < NOMINAL[0] + 1) == (m % 2 == 1 and m < 20) for m in range(30))


def test_concurrent_batches_of_the_same_pump_store_each_reading_once(database_url):
    name = "MOTOBOMBA-042"
    first, second = batch(records(name, 60)), batch(records(name, 60, start_minute=30))
    results, errors = [], []
    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute("INSERT INTO pumps (name) VALUES (%s)", (name,))
        pump_id = holder.execute("SELECT id FROM pumps WHERE name = %s", (name,)).fetchone()[0]
        # Both batches start while the pump is locked, so that they really meet.
        holder.execute("BEGIN")
        holder.execute("SELECT pg_advisory_xact_lock(%s, %s)", (PUMP_LOCK_CLASS, pump_id))

        def send(b):
            try:
                with psycopg.connect(database_url, autocommit=True) as conn:
                    results.append(ingest_batch(conn, b))
            except Exception as exc:  # reported below, in the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=send, args=(b,)) for b in (first, second)]
        for thread in threads:
            thread.start()
        waiting_query = (
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND classid = %s::oid AND objid = %s::oid"
        )
        deadline = time.monotonic() + 30
        while holder.execute(waiting_query, (PUMP_LOCK_CLASS, pump_id)).fetchone()[0] < 2:
            assert time.monotonic() < deadline, "the batches never waited for the pump's lock"
            time.sleep(0.01)
        holder.execute("COMMIT")
        for thread in threads:
            thread.join(60)
    assert not errors
    assert sorted(r.inserted for r in results) == [30, 60]
    assert sum(r.already_stored for r in results) == 30
    with psycopg.connect(database_url) as conn:
        count, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT ts) FROM readings"
        ).fetchone()
    assert count == distinct == 90


def test_concurrent_batches_creating_the_same_pumps_do_not_fail(database_url):
    names = [f"MOTOBOMBA-{i:03d}" for i in range(5)]
    batches = [
        batch([r for name in names for r in records(name, 40, start_minute=start)])
        for start in (0, 20)
    ]
    barrier = threading.Barrier(2)
    results, errors = [], []

    def send(b):
        try:
            with psycopg.connect(database_url, autocommit=True) as conn:
                barrier.wait(30)
                results.append(ingest_batch(conn, b))
        except Exception as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(b,)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert sum(r.inserted for r in results) == 5 * 60
    assert sum(r.already_stored for r in results) == 5 * 20
    assert sorted(n for r in results for n in r.new_machines) == names
    assert len(stored(database_url)) == 5 * 60


def test_a_batch_failing_during_the_copy_leaves_nothing(database_url, monkeypatch):
    real_body = ingest._copy_body

    def failing_body(*args):
        chunks = real_body(*args)
        yield next(chunks)  # the header
        yield next(chunks)  # every row
        raise RuntimeError("the client went away mid-COPY")

    monkeypatch.setattr(ingest, "_copy_body", failing_body)
    with psycopg.connect(database_url, autocommit=True) as conn:
        with pytest.raises(RuntimeError):
            ingest_batch(conn, batch(records("MOTOBOMBA-007", 50)))
        assert conn.execute("SELECT count(*) FROM pumps").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 0
    monkeypatch.undo()
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert ingest_batch(conn, batch(records("MOTOBOMBA-007", 50))).inserted == 50


def test_a_batch_inside_a_rolled_back_transaction_leaves_nothing(database_url):
    class Abandon(Exception):
        pass

    with psycopg.connect(database_url, autocommit=True) as conn:
        with pytest.raises(Abandon), conn.transaction():
            assert ingest_batch(conn, batch(records("MOTOBOMBA-007", 20))).inserted == 20
            raise Abandon
        assert conn.execute("SELECT count(*) FROM pumps").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 0


def test_readings_stored_meanwhile_by_a_writer_without_the_lock_are_merged(database_url):
    """A writer that does not take the pump's lock (e.g. the fleet loader) stored a reading
    between the check and the COPY: the COPY's unique violation falls back to ON CONFLICT."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        ingest_batch(conn, batch(records("MOTOBOMBA-007", 1, start_minute=5)))
        pump_id = conn.execute("SELECT id FROM pumps").fetchone()[0]
        fresh = batch(records("MOTOBOMBA-007", 10))
        micros = fresh.timestamps.astype(np.int64)
        with conn.transaction():
            inserted = ingest._copy_new_rows(
                conn, np.full(10, pump_id, dtype=np.int32), micros, fresh.values
            )
        assert inserted == 9
        assert conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 10
        # The staging table of the fallback is gone: the next batch can use it again.
        assert ingest_batch(conn, batch(records("MOTOBOMBA-007", 12))).inserted == 2
