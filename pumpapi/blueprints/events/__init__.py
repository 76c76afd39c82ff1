"""Failures and maintenance of each pump: /machine/events."""

from __future__ import annotations

from pumpapi.blueprints.events.routes import blp


def register_blueprints(api) -> None:
    api.register_blueprint(blp)
