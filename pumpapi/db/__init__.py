"""The telemetry store in PostgreSQL: pumps, their readings, the schema, and bulk loading.

One lifecycle for every connection an app holds: `init_app` attaches a reader store
(DATABASE_URL: the read-only role in production) and a writer store (INGEST_DATABASE_URL: the
writer role, for telemetry, events; the reader's store itself when unset), both created closed.
Each gunicorn worker opens them after fork (`open_worker`, post_worker_init) and closes them
at exit (`close_worker`, worker_exit: the prediction log's last flush first). `store()` and
`writer()` are the typed ways to reach them.
"""

from __future__ import annotations

from flask import Flask, current_app

from pumpapi.db.connection import to_conninfo, unavailable_on_error
from pumpapi.db.fleet import copy_fleet
from pumpapi.db.schema import migrate
from pumpapi.db.store import Reading, TelemetryStore, Window

__all__ = [
    "Reading",
    "TelemetryStore",
    "Window",
    "close_worker",
    "copy_fleet",
    "init_app",
    "migrate",
    "open_worker",
    "store",
    "to_conninfo",
    "unavailable_on_error",
    "writer",
]

_READER = "pumpapi.db"
_WRITER = "pumpapi.db.writer"


def init_app(app: Flask) -> TelemetryStore:
    """Attach the app's (not yet opened) reader and writer stores; returns the reader."""
    reader = TelemetryStore(app.config)
    url = app.config.get("INGEST_DATABASE_URL")
    app.extensions[_READER] = reader
    app.extensions[_WRITER] = TelemetryStore({**app.config, "DATABASE_URL": url}) if url else reader
    return reader


def store(app: Flask | None = None) -> TelemetryStore:
    """The reader store of `app` (default: the current app)."""
    return (app or current_app).extensions[_READER]


def writer(app: Flask | None = None) -> TelemetryStore:
    """The store writes go through (telemetry, events) of `app` (default: the current app)."""
    return (app or current_app).extensions[_WRITER]


def _stores(app: Flask) -> tuple[TelemetryStore, ...]:
    """The app's distinct stores; none for an app without them (the benchmark's floor app runs
    under the same gunicorn configuration)."""
    if _READER not in app.extensions:
        return ()
    reader, write = store(app), writer(app)
    return (reader,) if write is reader else (reader, write)


def open_worker(app: Flask) -> None:
    """Open this process's pools (after fork; idempotent, never raises: a database that is
    down answers 503 on the endpoints that need it and is reconnected to when back)."""
    for each in _stores(app):
        each.open()


def close_worker(app: Flask) -> None:
    """Write what the prediction log still holds, then close this process's pools."""
    stores = _stores(app)
    if not stores:
        return
    from pumpapi.db import predictions

    predictions.of(app).close()
    for each in stores:
        each.close()
