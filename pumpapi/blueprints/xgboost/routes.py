"""Failure risk (XGBoost): from a posted reading, a batch, or a pump's latest reading."""

from __future__ import annotations

from typing import Any

import numpy as np
from flask.views import MethodView

from pumpapi import db, models
from pumpapi.blueprints.fields import PredictQuerySchema
from pumpapi.channels import CHANNEL_NAMES
from pumpapi.errors import InvalidInput
from pumpapi.extensions.json import utc_iso
from pumpapi.extensions.smorest import Blueprint
from pumpapi.models.timing import timed_inference
from pumpapi.models.window import MIN_READINGS
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
        """Failure risk of a pump, from its recent readings in the telemetry database

        P(failure within `horizon_hours`) of the pump, answered by the **window model** from
        its latest readings of all eight channels (up to 2,880: 48 h at one a minute): the
        last running hour against the whole window, trends and spreads — what an oil leak,
        overheating, cavitation or a failing alternator show over hours, which no single
        reading does (docs/models.md compares the two models on pumps never seen). `model` in
        the result names the model that answered, and `window` the readings it read;
        `reading` is the pump's latest reading (timestamp and the four features), so a stale
        pump (one that stopped reporting) is visible to the caller. `?model=reading` answers
        from that latest reading alone, exactly as `/model/xgboost/predict` would. A pump with
        less than an hour of readings, or a version without a window model, is answered by the
        reading model. `warnings` are the latest reading's features outside the training
        data's range. `explain=true` adds `explanation`: for the window model, the TreeSHAP
        contributions of its window statistics summed per channel, and the channels raising
        the risk most, each named by its strongest statistic.
        """
        model = _model()
        machine = query["machine_name"]
        window_model = model.window if query["model"] == "window" else None
        if window_model is not None:
            recent = db.store().latest_values(machine, window_model.length)
            latest_values = dict(zip(CHANNEL_NAMES, recent.values[-1].tolist(), strict=True))
            latest_timestamp = recent.last_timestamp
        else:
            reading = db.store().latest_reading(machine)
            latest_values, latest_timestamp = reading.values, reading.timestamp
        try:
            features = model.features_of_reading(latest_values)
        except MissingChannel as missing:
            raise InvalidInput(
                f"The latest reading of {machine} ({utc_iso(latest_timestamp)}) has no "
                f"valid {missing.channel} value; no prediction can be made from it."
            ) from None
        if window_model is not None and len(recent) >= MIN_READINGS:
            with timed_inference(model):
                result = model.window_result(recent.values, query["explain"])
            result["model"] = "window"
            result["window"] = {
                "first_timestamp": utc_iso(recent.first_timestamp),
                "last_timestamp": utc_iso(recent.last_timestamp),
                "readings": len(recent),
            }
        else:
            row = np.array([[features[name] for name in model.feature_order]])
            (result,) = _results(model, row, query["explain"])
            result["model"] = "reading"
        result["machine"] = machine
        result["reading"] = {"timestamp": utc_iso(latest_timestamp), "features": features}
        return {"success": True, "result": result}
