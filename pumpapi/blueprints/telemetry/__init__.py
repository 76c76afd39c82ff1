"""Telemetry ingestion: POST /machine/telemetry (JSON or CSV), and `pumpapi telemetry load`."""

from __future__ import annotations

from pumpapi import auth
from pumpapi.blueprints.telemetry.routes import blp


def register_blueprints(api) -> None:
    api.spec.components.security_scheme(
        auth.SECURITY_SCHEME,
        {
            "type": "apiKey",
            "in": "header",
            "name": auth.HEADER,
            "description": "One of the keys configured in INGEST_API_KEYS (or READ_API_KEYS).",
        },
    )
    api.register_blueprint(blp)
