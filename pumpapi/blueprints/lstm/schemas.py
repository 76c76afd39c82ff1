"""Request and response schemas of the LSTM forecast endpoints."""

from __future__ import annotations

from marshmallow import fields, validate

from pumpapi.blueprints.fields import (
    evaluation_field,
    loaded_versions_field,
    machine_name_field,
    version_field,
    warnings_field,
)
from pumpapi.channels import CHANNEL_NAMES
from pumpapi.extensions.fastpath import FastSchema
from pumpapi.extensions.smorest import ResponseSchema, Schema, StrictFloat
from pumpapi.models.lstm import MAX_HORIZON, WINDOW

#: The message older clients match when a series is too short (SPEC).
TOO_SHORT = f"Input data must have at least {WINDOW} values"
#: Longest series accepted: only the last WINDOW values are read, so this only bounds the work
#: of validating a body.
MAX_SERIES_LENGTH = 10_000
#: Largest magnitude of a value: a window's spread (squares of its values) and forecast stay
#: far from the float64 limit (1.8e308), so every series the schema allows gets a forecast.
#: Any unit of a real signal is many orders of magnitude below.
MAX_MAGNITUDE = 1e150


def _horizon(location: str) -> fields.Integer:
    return fields.Integer(
        # A JSON body must hold a number; a query string is text that parses as a whole number.
        strict=location == "json",
        validate=validate.Range(min=1, max=MAX_HORIZON, error="Must be from {min} to {max}."),
        metadata={
            "description": f"Also forecast the next `horizon` values (1 to {MAX_HORIZON}), each "
            "predicted from a window that includes the previous predictions, so uncertainty "
            "grows with the step.",
            "example": 5,
        },
    )


class SeriesRequestSchema(FastSchema):
    """A series and how far to forecast it; `data` loads as a float64 array (a plainly valid
    body by the fast path its fields define)."""

    data = fields.List(
        StrictFloat(
            validate=validate.Range(
                min=-MAX_MAGNITUDE,
                max=MAX_MAGNITUDE,
                error="Values must be from {min:g} to {max:g}; send the signal in its own units.",
            )
        ),
        required=True,
        validate=[
            validate.Length(min=WINDOW, error=TOO_SHORT),
            validate.Length(
                max=MAX_SERIES_LENGTH, error="At most {max} values; only the last 60 are read."
            ),
        ],
        metadata={
            "description": f"The series, oldest first: at least {WINDOW} finite numbers, in any "
            f"unit and at any scale (oil pressure around 4 bar, a price in the hundreds; at "
            f"most {MAX_MAGNITUDE:g} in magnitude); the last {WINDOW} are read.",
            "example": [round(120.5 + 0.25 * i, 2) for i in range(WINDOW)],
        },
    )
    horizon = _horizon("json")


class VersionQuerySchema(Schema):
    version = version_field()


class ForecastResponseSchema(ResponseSchema):
    success = fields.Boolean(metadata={"example": True})
    prediction = fields.Float(
        metadata={"description": "The next value, in the series' unit.", "example": 135.5}
    )
    warnings = warnings_field()
    forecast = fields.List(
        fields.Float(),
        metadata={
            "description": "With `horizon`: the next `horizon` values (the first is `prediction`)."
        },
    )
    meta = fields.Dict(
        metadata={
            "description": "`given_values`, `used_values` (the last 60), `horizon`, "
            "`model_version`; from a pump also `machine`, `channel`, `unit`, `fetched_rows`, "
            "`last_timestamp`, `interval_seconds` and `forecast_timestamps`."
        }
    )


class ForecastMachineQuerySchema(Schema):
    machine_name = machine_name_field()
    version = version_field()
    channel = fields.String(
        required=True,
        validate=validate.OneOf(CHANNEL_NAMES, error="Must be one of: {choices}."),
        metadata={"description": "The telemetry channel to forecast.", "example": "Oil_P"},
    )
    horizon = _horizon("query")


class ForecasterInfoSchema(Schema):
    model_type = fields.String(metadata={"example": "Sequential"})
    library = fields.String(metadata={"example": "tensorflow.keras"})
    input_shape = fields.List(fields.Integer(allow_none=True), metadata={"example": [None, 60, 1]})
    output_shape = fields.List(fields.Integer(allow_none=True), metadata={"example": [None, 1]})
    timesteps = fields.Integer(metadata={"example": WINDOW})
    min_values = fields.Integer(metadata={"description": "Shortest series accepted."})
    max_horizon = fields.Integer()
    normalisation = fields.String(metadata={"description": "How any scale is handled."})
    skill_horizon = fields.Integer(
        allow_none=True,
        metadata={
            "description": "The longest horizon (steps ahead) up to which the forecast beats "
            "persistence on pumps never seen in training (MASE's 95 % interval below 1 at "
            "every horizon up to it; `metrics.horizons` has MASE per horizon). Beyond it, "
            "`forecast` values are no better than repeating the last value; 0: no skill.",
            "example": 10,
        },
    )
    skill_horizon_per_channel = fields.Dict(
        allow_none=True,
        metadata={
            "description": "The same per telemetry channel (a channel may lose its skill "
            "sooner than the average: e.g. Eng_RPM, whose set-point changes no window "
            "announces).",
            "example": {"Eng_RPM": 30, "Oil_P": 60},
        },
    )
    trained_ranges = fields.Dict(
        metadata={
            "description": "[min, max] of each channel in the training data, and of all "
            "channels pooled (`data`, for a posted series): a value read outside makes the "
            "answer carry an `OUT_OF_TRAINING_RANGE` warning."
        }
    )
    file_size_mb = fields.Float(metadata={"description": "Size of the Keras model file."})
    last_modified = fields.String(
        metadata={"description": "When the Keras model was written (UTC)."}
    )
    version = fields.String()
    created_at = fields.String()
    backend = fields.String(
        metadata={"description": "`litert` or `tensorflow` (PUMPAPI_TF_BACKEND)."}
    )
    served_artifact = fields.String()
    checksum = fields.Dict(
        metadata={"description": "sha256 of the served artifact, verified at load."}
    )
    metrics = fields.Dict(
        metadata={
            "description": "On held-out pumps never seen in training: MAE of the model and of "
            "the persistence forecast (next value = last value) per channel, and MASE (model "
            "MAE / persistence MAE; below 1 beats persistence)."
        }
    )
    training = fields.Dict()
    tags = fields.Dict()
    evaluation = evaluation_field("lstm")


class ForecasterInfoResponseSchema(Schema):
    success = fields.Boolean(metadata={"example": True})
    model_info = fields.Nested(ForecasterInfoSchema)
    versions = loaded_versions_field()
