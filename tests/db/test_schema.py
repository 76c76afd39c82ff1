"""Schema migrations (pumpapi.db.schema): applied once, in order, safely in parallel."""

import threading

import psycopg

from pumpapi.channels import CHANNEL_COLUMNS
from pumpapi.db import migrate
from pumpapi.db.schema import applied_migrations, migrations

ALL = [name for name, _ in migrations()]


def _columns(conn, table):
    rows = conn.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
        " WHERE table_name = %s ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return {name: (kind, nullable) for name, kind, nullable in rows}


def test_migrate_applies_everything_once_then_nothing(empty_database_url):
    names = [name for name, _ in migrations()]
    assert names[0] == "0001_initial" and names == sorted(names)
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        assert applied_migrations(conn) == []
        assert migrate(conn) == names
        assert migrate(conn) == []
        assert applied_migrations(conn) == names


def test_initial_schema_has_pumps_and_readings_keyed_by_pump_and_time(database_url):
    with psycopg.connect(database_url) as conn:
        readings = _columns(conn, "readings")
        assert list(readings) == ["pump_id", "ts", *CHANNEL_COLUMNS]
        assert readings["ts"] == ("timestamp with time zone", "NO")
        assert all(readings[c] == ("double precision", "NO") for c in CHANNEL_COLUMNS)
        assert set(_columns(conn, "pumps")) == {"id", "name", "created_at"}
        (key,) = conn.execute(
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index"
            " WHERE indrelid = 'readings'::regclass AND indisprimary"
        ).fetchone()
        assert key.endswith("USING btree (pump_id, ts)")


def test_migrate_inside_a_caller_transaction_commits_with_it(empty_database_url):
    with psycopg.connect(empty_database_url) as conn:  # not autocommit
        assert migrate(conn) == ALL
        conn.commit()
    with psycopg.connect(empty_database_url) as conn:
        assert applied_migrations(conn) == ALL


def test_two_processes_migrating_at_once_apply_each_migration_once(empty_database_url):
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            with psycopg.connect(empty_database_url, autocommit=True) as conn:
                barrier.wait(timeout=10)
                results.append(migrate(conn))
        except Exception as exc:  # collected: a thread's exception would be lost
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(results) == [[], ALL]


def test_deleting_a_pump_deletes_its_readings_and_no_other(database_url):
    from pumpapi import db
    from tests.fixtures.db import pump_history

    conninfo = db.to_conninfo(database_url)
    db.copy_fleet(conninfo, [pump_history("MOTOBOMBA-001", 30), pump_history("MOTOBOMBA-002", 20)])
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("DELETE FROM pumps WHERE name = 'MOTOBOMBA-001'")
        left = conn.execute(
            "SELECT p.name, count(*) FROM readings r JOIN pumps p ON p.id = r.pump_id GROUP BY 1"
        ).fetchall()
        orphans = conn.execute(
            "SELECT count(*) FROM readings WHERE pump_id NOT IN (SELECT id FROM pumps)"
        ).fetchone()[0]
    assert left == [("MOTOBOMBA-002", 20)]
    assert orphans == 0
