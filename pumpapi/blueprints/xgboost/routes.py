"""Failure risk (XGBoost): from a posted reading, a batch, or a pump's latest reading."""

from __future__ import annotations

from typing import Any

import numpy as np
from flask.views import MethodView

from pumpapi import db, models
from pumpapi.blueprints.fields import PredictQuerySchema
from pumpapi.errors import InvalidInput
from pumpapi.extensions.json import utc_iso
from pumpapi.extensions.smorest import Blueprint
from pumpapi.models.timing import timed_inference
from pumpapi.models.xgboost import FailureRiskModel, MissingChannel

from .schemas import (
    RISK_REQUEST,
    MachineRiskResponseSchema,
    RiskInfoResponseSchema,
    RiskMachineQuerySchema,
    RiskPredictResponseSchema,
)

FAMILY = "xgboost"

blp = Blueprint(
    "xgboost",
    __name__,
    description="Failure risk: the probability that a pump fails within the model's horizon "
    "(24 h by default), from one reading of engine speed, oil pressure, battery and alternator "
    "voltage.",
)


def _model() -> FailureRiskModel:
    return models.requested(FAMILY)  # ?version=; 404 unknown, 503 not loaded


def _results(model: FailureRiskModel, rows: np.ndarray, explain: bool) -> list[dict[str, Any]]:
    with timed_inference(model):
        return model.results(rows, explain)


@blp.route("/model/xgboost/predict")
class Predict(MethodView):
    @blp.body(RISK_REQUEST)
    @blp.arguments(PredictQuerySchema, location="query")
    @blp.response(200, RiskPredictResponseSchema)
    @blp.alt_response(422, description="A field is missing, unknown, not a number or out of range.")
    @blp.alt_response(503, description="The model is not loaded (see /health/ready).")
    def post(self, body, query):
        """Failure risk of one reading, or of a batch

        Send one reading of the four features, keyed by name in any order:
        `rotacao_motor_rpm` (engine speed, rpm), `pressao_oleo_bar` (oil pressure, bar),
        `tensao_bateria_v` (battery voltage, V) and `tensao_alternador_v` (alternator voltage, V).
        The answer's `probability` is P(failure within `horizon_hours`), and `prediction` is
        `Risco de Falha Iminente` when it reaches the model's `threshold` (chosen at training
        for the lowest expected cost of its `cost_policy`: docs/models.md), `Operação Saudável`
        otherwise. The probability is calibrated; readings no healthy running pump gives (no
        oil pressure or a dead alternator while running, a battery below 21 V) are never
        answered healthy. `warnings` lists the features outside the training data's range
        (`OUT_OF_TRAINING_RANGE`, with the trained [min, max]); empty otherwise.

        A batch `{"instances": [reading, ...]}` (1 to MAX_BATCH_SIZE readings) is answered with
        `results`, one per reading, in the same order. Values outside a sensor's physical range,
        NaN, Infinity, strings and unknown fields are rejected with 422 naming the field.

        With `?explain=true` each result also has `explanation`: the booster's exact
        per-feature `contributions` (TreeSHAP, in log-odds; with `bias` they sum to `margin`,
        whose logistic is the booster's probability) and `reasons`, the features raising the
        risk, largest first, in words (e.g. "pressão do óleo baixa: 1.1 bar").
        """
        model = _model()
        results = _results(model, model.rows_of_features(body.rows), query["explain"])
        if body.many:
            return {"success": True, "results": results}
        return {"success": True, "result": results[0]}


@blp.route("/model/xgboost/info")
class Info(MethodView):
    @blp.response(200, RiskInfoResponseSchema)
    @blp.alt_response(503, description="The model is not loaded (see /health/ready).")
    def get(self):
        """Which failure-risk model answers, and how good it is

        Name, version, creation and training dates, tags, the features (names, channels, units,
        accepted ranges), decision threshold and horizon, the sha256 of the artifact, and the
        metrics measured on held-out pumps never seen in training (ROC-AUC, PR-AUC, Brier
        score, F1 at the threshold, base rate), beside those of a logistic-regression baseline.
        """
        return {
            "success": True,
            "model_info": _model().info(),
            "versions": models.registry().versions(FAMILY),
        }


@blp.route("/machine/predict")
class MachinePredict(MethodView):
    @blp.arguments(RiskMachineQuerySchema, location="query")
    @blp.response(200, MachineRiskResponseSchema)
    @blp.alt_response(404, description="The pump is unknown or has no readings.")
    @blp.alt_response(422, description="`machine_name` is missing or too long.")
    @blp.alt_response(503, description="PostgreSQL or the model is unavailable; retry later.")
    def post(self, query):
        """Failure risk of a pump, from its latest reading in the telemetry database

        The same answer as `/model/xgboost/predict`, computed from the pump's most recent
        reading (`Eng_RPM`, `Oil_P`, `Bat_V`, `Char_V`). The result also names the `machine` and
        the `reading` it used: its timestamp and the four feature values, so a stale reading
        (a pump that stopped reporting) is visible to the caller. A reading of a stopped pump
        (engine speed and oil pressure at 0) is a valid input: the model is trained on stopped
        readings too, and answers the risk observed for idle pumps. `explain=true` adds the
        `explanation` described on `/model/xgboost/predict`.
        """
        model = _model()
        machine = query["machine_name"]
        reading = db.store().latest_reading(machine)
        try:
            features = model.features_of_reading(reading.values)
        except MissingChannel as missing:
            raise InvalidInput(
                f"The latest reading of {machine} ({utc_iso(reading.timestamp)}) has no "
                f"valid {missing.channel} value; no prediction can be made from it."
            ) from None
        row = np.array([[features[name] for name in model.feature_order]])
        (result,) = _results(model, row, query["explain"])
        result["machine"] = reading.machine
        result["reading"] = {"timestamp": utc_iso(reading.timestamp), "features": features}
        return {"success": True, "result": result}
