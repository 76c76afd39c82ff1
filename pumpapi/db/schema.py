"""Schema migrations: numbered SQL files applied once each, in order, recorded in the database."""

from __future__ import annotations

import logging
from importlib import resources

import psycopg

log = logging.getLogger(__name__)

MIGRATIONS_PACKAGE = "pumpapi.db.migrations"
#: Arbitrary but fixed key of the advisory lock that serialises concurrent `migrate` calls
#: (two workers, or `pumpapi db init` run twice at once).
MIGRATION_LOCK_KEY = 0x50554D50  # "PUMP"


def migrations() -> list[tuple[str, str]]:
    """(name, sql) of every migration shipped with the package, in the order they apply."""
    folder = resources.files(MIGRATIONS_PACKAGE)
    files = sorted(f for f in folder.iterdir() if f.name.endswith(".sql"))
    return [(f.name.removesuffix(".sql"), f.read_text(encoding="utf-8")) for f in files]


def applied_migrations(conn: psycopg.Connection) -> list[str]:
    """Names already applied to this database, oldest first ([] if it has no schema)."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return []
    rows = conn.execute("SELECT name FROM schema_migrations ORDER BY name").fetchall()
    return [name for (name,) in rows]


def migrate(conn: psycopg.Connection) -> list[str]:
    """Apply the migrations this database lacks; returns their names ([] when up to date).

    All of it runs in one transaction holding an advisory lock, so it is idempotent, safe to run
    from several processes at once, and leaves no half-applied schema behind.
    """
    applied: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = set(applied_migrations(conn))
        for name, text in migrations():
            if name in done:
                continue
            conn.execute(text)  # a whole file: several statements, no parameters
            conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (name,))
            applied.append(name)
            log.info("applied migration %s", name)
    return applied
