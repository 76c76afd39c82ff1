"""The GRU health family's endpoints: /model/gru/{predict,info} and /machine/gru/predict."""

from __future__ import annotations

from pumpapi.blueprints.gru.routes import blp


def register_blueprints(api) -> None:
    api.register_blueprint(blp)
