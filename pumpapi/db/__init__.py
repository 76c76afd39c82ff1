"""The telemetry store in PostgreSQL: pumps, their readings, the schema, and bulk loading.

`init_app` puts a `TelemetryStore` in `app.extensions["pumpapi.db"]`; `store()` returns the
current app's. Each process (gunicorn worker) opens its own connection pool, after fork.
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
    "copy_fleet",
    "init_app",
    "migrate",
    "store",
    "to_conninfo",
    "unavailable_on_error",
]


def init_app(app: Flask) -> TelemetryStore:
    """Attach a (not yet opened) TelemetryStore to the app."""
    telemetry = TelemetryStore(app.config)
    app.extensions["pumpapi.db"] = telemetry
    return telemetry


def store() -> TelemetryStore:
    """The current app's TelemetryStore."""
    return current_app.extensions["pumpapi.db"]
