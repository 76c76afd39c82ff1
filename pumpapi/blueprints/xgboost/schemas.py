"""Request and response schemas of the XGBoost failure-risk endpoints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import current_app
from marshmallow import ValidationError, fields, pre_load, validate

from pumpapi.blueprints.fields import (
    ReasonSchema,
    channel_field,
    evaluation_field,
    explain_field,
    loaded_versions_field,
    machine_name_field,
    version_field,
    warnings_field,
)
from pumpapi.channels import BY_NAME
from pumpapi.extensions.fastpath import OneOrMany
from pumpapi.extensions.smorest import ResponseSchema, Schema, StrictFloat
from pumpapi.models.xgboost import AT_RISK, FEATURE_CHANNELS, FEATURE_ORDER, HEALTHY


def _feature(name: str, example: float) -> StrictFloat:
    """A feature's field: the range and unit of the telemetry channel it is read from."""
    return channel_field(BY_NAME[FEATURE_CHANNELS[name]], example, cite_channel=True)


class RiskReadingSchema(Schema):
    """One reading of the four features, keyed by name; the order of keys does not matter."""

    rotacao_motor_rpm = _feature("rotacao_motor_rpm", 1800)
    pressao_oleo_bar = _feature("pressao_oleo_bar", 4.5)
    tensao_bateria_v = _feature("tensao_bateria_v", 24.1)
    tensao_alternador_v = _feature("tensao_alternador_v", 27.8)


class RiskBatchRequestSchema(Schema):
    """Several readings, answered in the same order."""

    instances = fields.List(
        fields.Nested(RiskReadingSchema),
        required=True,
        validate=validate.Length(min=1, error="Send at least one reading."),
        metadata={"description": "1 to MAX_BATCH_SIZE (default 10000) readings."},
    )

    @pre_load
    def limit_batch_size(self, data: Any, **kwargs: Any) -> Any:
        # Checked before the readings are validated one by one, so an oversized batch costs
        # nothing to refuse.
        limit = current_app.config["MAX_BATCH_SIZE"]
        instances = data.get("instances") if isinstance(data, Mapping) else None
        if isinstance(instances, list) and len(instances) > limit:
            raise ValidationError(
                f"At most {limit} readings per request; got {len(instances)}. Split the batch.",
                field_name="instances",
            )
        return data


_EXAMPLE = {
    "rotacao_motor_rpm": 1800,
    "pressao_oleo_bar": 4.5,
    "tensao_bateria_v": 24.1,
    "tensao_alternador_v": 27.8,
}
#: One reading, or a batch `{"instances": [reading, ...]}` (at most MAX_BATCH_SIZE), loaded as
#: rows in FEATURE_ORDER (`Rows`; `many` for a batch).
RISK_REQUEST = OneOrMany(
    "RiskPredictRequestSchema",
    RiskReadingSchema,
    RiskBatchRequestSchema,
    "instances",
    FEATURE_ORDER,
    "MAX_BATCH_SIZE",
    examples={
        "one reading": _EXAMPLE,
        "batch": {
            "instances": [
                _EXAMPLE,
                {
                    "rotacao_motor_rpm": 1750,
                    "pressao_oleo_bar": 0.8,
                    "tensao_bateria_v": 23.2,
                    "tensao_alternador_v": 23.4,
                },
            ]
        },
    },
)
#: The fast path of a reading: feature values as matrix rows, in FEATURE_ORDER.
READING = RISK_REQUEST.fast


class RiskExplanationSchema(Schema):
    method = fields.String(metadata={"example": "treeshap"})
    units = fields.String(metadata={"example": "log-odds"})
    bias = fields.Float(metadata={"description": "The booster's base margin."})
    margin = fields.Float(
        metadata={
            "description": "bias + the sum of the contributions: the booster's log-odds, whose "
            "logistic is its probability."
        }
    )
    contributions = fields.Dict(
        keys=fields.String(),
        values=fields.Float(),
        metadata={
            "description": "Per feature, exact TreeSHAP contribution in log-odds (positive "
            "raises the risk).",
            "example": {
                "rotacao_motor_rpm": 0.02,
                "pressao_oleo_bar": 1.35,
                "tensao_bateria_v": -0.04,
                "tensao_alternador_v": 0.11,
            },
        },
    )
    reasons = fields.List(
        fields.Nested(ReasonSchema),
        metadata={"description": "The features raising the risk, largest first (at most 3)."},
    )


class RiskResultSchema(Schema):
    prediction = fields.String(
        metadata={
            "description": f"`{HEALTHY}`, or `{AT_RISK}` when `probability` ≥ `threshold`.",
            "example": HEALTHY,
        }
    )
    probability = fields.Float(
        metadata={
            "description": "P(failure within `horizon_hours`), in [0, 1].",
            "example": 0.05,
        }
    )
    at_risk = fields.Boolean(metadata={"description": "`probability` ≥ `threshold`."})
    threshold = fields.Float(
        metadata={
            "description": "Decision threshold of this model version, chosen at training on "
            "validation pumps: the lowest expected cost of its `cost_policy` (docs/models.md).",
        }
    )
    horizon_hours = fields.Float(
        metadata={"description": "The model predicts a failure within this many hours."}
    )
    model_version = fields.String(metadata={"description": "Version of the model that answered."})
    timestamp = fields.String(
        metadata={
            "description": "When the prediction was made (UTC, ISO 8601).",
            "example": "2025-09-27T13:30:00Z",
        }
    )
    explanation = fields.Nested(
        RiskExplanationSchema, metadata={"description": "With `explain=true`: why."}
    )
    warnings = warnings_field()


class RiskPredictResponseSchema(ResponseSchema):
    success = fields.Boolean(metadata={"example": True})
    result = fields.Nested(RiskResultSchema, metadata={"description": "For one reading."})
    results = fields.List(
        fields.Nested(RiskResultSchema),
        metadata={"description": "For a batch: one result per reading, in order."},
    )


#: What /machine/predict answers from: the pump's recent window (default) or its latest reading.
ANSWERING_MODELS = ("window", "reading")


class RiskMachineQuerySchema(Schema):
    machine_name = machine_name_field()
    explain = explain_field()
    version = version_field()
    model = fields.String(
        load_default="window",
        validate=validate.OneOf(ANSWERING_MODELS),
        metadata={
            "description": "`window` (default): the window model, from the pump's latest "
            "readings of all eight channels (up to 48 h); `reading`: the reading model, from "
            "its latest reading's four features (what `/model/xgboost/predict` answers for "
            "it). A pump with fewer than an hour of readings, or a version without a window "
            "model, is answered by the reading model; `model` in the result says which."
        },
    )


class RiskReadingUsedSchema(Schema):
    timestamp = fields.String(
        metadata={
            "description": "Time of the reading (UTC, ISO 8601).",
            "example": "2025-09-27T13:29:00Z",
        }
    )
    features = fields.Nested(
        RiskReadingSchema, metadata={"description": "The values fed to the model."}
    )


class RiskWindowUsedSchema(Schema):
    first_timestamp = fields.String(
        metadata={"description": "Time of the window's oldest reading (UTC, ISO 8601)."}
    )
    last_timestamp = fields.String(
        metadata={"description": "Time of its newest reading (UTC, ISO 8601)."}
    )
    readings = fields.Integer(
        metadata={"description": "Readings in the window (at most 2,880: 48 h at one a minute)."}
    )


class MachineRiskResultSchema(RiskResultSchema):
    machine = fields.String(metadata={"example": "MOTOBOMBA-007"})
    model = fields.String(
        metadata={
            "description": "Which model answered: `window` (the pump's recent readings of all "
            "eight channels) or `reading` (its latest reading's four features).",
            "example": "window",
        }
    )
    reading = fields.Nested(
        RiskReadingUsedSchema,
        metadata={"description": "The latest reading of the pump."},
    )
    window = fields.Nested(
        RiskWindowUsedSchema,
        metadata={"description": "The readings the window model read (`model` = `window`)."},
    )


class MachineRiskResponseSchema(ResponseSchema):
    success = fields.Boolean(metadata={"example": True})
    result = fields.Nested(MachineRiskResultSchema)


class RiskFeatureInfoSchema(Schema):
    name = fields.String()
    channel = fields.String(metadata={"description": "Telemetry channel it is read from."})
    unit = fields.String()
    description = fields.String()
    minimum = fields.Float(metadata={"description": "Lowest accepted value."})
    maximum = fields.Float(metadata={"description": "Highest accepted value."})


class RiskPredictorInfoSchema(Schema):
    kind = fields.String(
        metadata={
            "description": "`tl2cgen`: the booster compiled into a shared library at training, "
            "checked equal to XGBoost at load; `xgboost`: XGBoost's `inplace_predict`.",
            "example": "tl2cgen",
        }
    )
    reason = fields.String(
        metadata={"description": "For `xgboost`: why the compiled library does not answer."}
    )
    max_abs_diff = fields.Float(
        metadata={
            "description": "For `tl2cgen`: largest |compiled - XGBoost| on the rows checked "
            "at load."
        }
    )
    checked_rows = fields.Integer(
        metadata={"description": "For `tl2cgen`: how many rows were checked at load."}
    )


class RiskModelInfoSchema(Schema):
    name = fields.String(metadata={"example": "xgboost-failure-risk"})
    family = fields.String(metadata={"example": "xgboost"})
    version = fields.String(metadata={"example": "1"})
    description = fields.String(allow_none=True)
    created_at = fields.String(metadata={"description": "When this version entered the store."})
    trained_at = fields.String(allow_none=True, metadata={"description": "When training started."})
    library = fields.Dict(metadata={"description": "`name` and `version` of the library."})
    tags = fields.Dict()
    metrics = fields.Dict(
        metadata={
            "description": "On held-out pumps never seen in training: roc_auc, pr_auc, brier, "
            "f1/precision/recall at `threshold`, base_rate; `baseline` holds the same for a "
            "logistic regression."
        }
    )
    trained_ranges = fields.Dict(
        metadata={"description": "Each feature's [min, max] in the training data."}
    )
    calibration = fields.Dict(allow_none=True)
    cost_policy = fields.Dict(allow_none=True)
    guards = fields.Dict(allow_none=True)
    evaluation = evaluation_field("xgboost")
    features = fields.List(fields.Nested(RiskFeatureInfoSchema))
    feature_order = fields.List(fields.String())
    labels = fields.Dict(metadata={"description": '`{"0": healthy label, "1": at-risk label}`.'})
    threshold = fields.Float()
    horizon = fields.Dict(metadata={"description": "Prediction horizon (`hours`)."})
    checksum = fields.Dict(metadata={"description": "sha256 of the artifact, verified at load."})
    file_size_mb = fields.Float()
    predictor = fields.Nested(
        RiskPredictorInfoSchema,
        metadata={"description": "What computes the probabilities (XGBOOST_PREDICTOR)."},
    )
    files = fields.Dict()
    hyperparameters = fields.Dict()
    training_data = fields.Dict(metadata={"description": "Pumps, rows and positives per split."})


class RiskInfoResponseSchema(Schema):
    success = fields.Boolean(metadata={"example": True})
    model_info = fields.Nested(RiskModelInfoSchema)
    versions = loaded_versions_field()
