"""The telemetry store in PostgreSQL: pumps, their readings, and each worker's connection pool.

INTERFACE STUB — to be implemented (see TelemetryStore docstrings).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app


class TelemetryStore:
    """Reads and writes pump telemetry through a psycopg connection pool (one per process)."""

    def __init__(self, config: dict[str, Any]):
        self.config = config

    def check(self) -> dict[str, Any]:
        """Readiness of the database: {"ready": bool, "error": str | None}."""
        if not self.config.get("DATABASE_URL"):
            return {"ready": False, "error": "DATABASE_URL is not set"}
        return {"ready": False, "error": "not implemented"}


def init_app(app: Flask) -> TelemetryStore:
    store = TelemetryStore(app.config)
    app.extensions["pumpapi.db"] = store
    return store


def store() -> TelemetryStore:
    return current_app.extensions["pumpapi.db"]
