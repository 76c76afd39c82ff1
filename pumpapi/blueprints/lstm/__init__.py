"""The LSTM forecaster's endpoints: /model/lstm/{predict,info} and /machine/lstm/predict."""

from __future__ import annotations

from pumpapi.blueprints.lstm.routes import blp


def register_blueprints(api) -> None:
    api.register_blueprint(blp)
