"""The XGBoost failure-risk family's endpoints: /model/xgboost/{predict,info}, /machine/predict."""

from __future__ import annotations

from pumpapi.blueprints.xgboost.routes import blp


def register_blueprints(api) -> None:
    api.register_blueprint(blp)
