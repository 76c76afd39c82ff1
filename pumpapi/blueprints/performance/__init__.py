"""How right each served version has been: /model/<family>/performance."""

from __future__ import annotations

from pumpapi.blueprints.performance.routes import blp


def register_blueprints(api) -> None:
    api.register_blueprint(blp)
