"""The Open Inference Protocol (V2 REST) for every model family: /v2/..."""

from __future__ import annotations

from pumpapi.blueprints.inference.routes import blp, health_blp


def register_blueprints(api) -> None:
    api.register_blueprint(health_blp)
    api.register_blueprint(blp)
