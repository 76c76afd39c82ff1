"""Request and response schemas of the GRU health endpoints."""

from __future__ import annotations

from marshmallow import fields, validate

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
from pumpapi.channels import CHANNEL_NAMES, CHANNELS
from pumpapi.extensions.fastpath import OneOrMany
from pumpapi.extensions.smorest import ResponseSchema, Schema
from pumpapi.models.gru import PADDING, WINDOW

#: The SPEC's example reading.
EXAMPLE_READING: dict[str, float] = {
    "Eng_RPM": 0.07,
    "Cool_T": 80,
    "Oil_P": 3.2,
    "Oil_L": 7.8,
    "Recalque": 4.0,
    "Succao": 1.1,
    "Bat_V": 26.4,
    "Char_V": 27.2,
}


#: One reading of the eight channels, keyed by name (the order of keys does not matter).
ChannelReadingSchema = Schema.from_dict(
    {c.name: channel_field(c, EXAMPLE_READING[c.name]) for c in CHANNELS},
    name="ChannelReadingSchema",
)


class WindowRequestSchema(Schema):
    """A window of consecutive readings, oldest first."""

    readings = fields.List(
        fields.Nested(ChannelReadingSchema),
        required=True,
        validate=validate.Length(
            min=1, max=WINDOW, error="Send between {min} and {max} readings (oldest first)."
        ),
        metadata={
            "description": f"1 to {WINDOW} consecutive readings, oldest first. Fewer than "
            f"{WINDOW} are padded by repeating the oldest one in front."
        },
    )


#: One reading, or a window `{"readings": [reading, ...]}`, loaded as an (n, 8) array in
#: CHANNEL_NAMES order (`Rows`): an object with `readings` is a window, anything else must be
#: one reading.
HEALTH_REQUEST = OneOrMany(
    "HealthRequestSchema",
    ChannelReadingSchema,
    WindowRequestSchema,
    "readings",
    CHANNEL_NAMES,
    WINDOW,
    examples={
        "one reading": EXAMPLE_READING,
        "a window": {
            "readings": [
                {**EXAMPLE_READING, "Eng_RPM": 1790.0, "Oil_P": 4.1},
                {**EXAMPLE_READING, "Eng_RPM": 1802.0, "Oil_P": 4.0},
            ]
        },
    },
)
#: The fast path of a reading (the eight channels as matrix rows).
READING = HEALTH_REQUEST.fast


class HealthIndicesSchema(Schema):
    lubrificacao = fields.Float(
        metadata={"description": "Lubrication health, 0–100.", "example": 73.32}
    )
    hidraulico = fields.Float(metadata={"description": "Hydraulic health, 0–100.", "example": 65.5})


class HealthStatusSchema(Schema):
    lubrificacao = fields.String(metadata={"example": "OK"})
    hidraulico = fields.String(metadata={"example": "ATENÇÃO"})


class WindowMetaSchema(Schema):
    timesteps = fields.Integer(metadata={"description": "Readings the model reads.", "example": 60})
    n_features = fields.Integer(metadata={"example": 8})
    feature_order = fields.List(
        fields.String(), metadata={"description": "Channel order of the model's input."}
    )
    given_rows = fields.Integer(metadata={"description": "Readings the answer is computed from."})
    padded_rows = fields.Integer(
        metadata={
            "description": "Readings added in front (copies of the oldest one) to fill "
            "the window; 0 when a full window was available."
        }
    )
    padding = fields.String(
        metadata={"description": "How the window was filled.", "example": PADDING}
    )
    engine_running = fields.Boolean(
        metadata={
            "description": "Whether the window's last reading is of a running engine "
            "(Eng_RPM ≥ 300). A stopped engine shows little of its health: from a stopped hour "
            "the indices err about twice as much as from a running one (docs/window-models.md); "
            "/machine/gru/predict answers a stopped pump from its last run.",
            "example": True,
        }
    )
    model_version = fields.String(metadata={"description": "Version of the model that answered."})


class MachineWindowMetaSchema(WindowMetaSchema):
    machine = fields.String(metadata={"example": "MOTOBOMBA-007"})
    fetched_rows = fields.Integer(
        metadata={"description": "Readings found in the database (at most `requested_time_steps`)."}
    )
    requested_time_steps = fields.Integer()
    first_timestamp = fields.String(metadata={"description": "Oldest reading used (UTC)."})
    last_timestamp = fields.String(metadata={"description": "Newest reading used (UTC)."})
    latest_timestamp = fields.String(
        metadata={"description": "The pump's newest reading (UTC): shows whether it is reporting."}
    )
    basis = fields.String(
        metadata={
            "description": "`latest`: the pump's latest readings; `last_run`: it is stopped, "
            "and the readings end at its last reading with the engine running (health does "
            "not change while it stands, and a stopped engine shows little of it).",
            "example": "latest",
        }
    )

    pump_baseline = fields.Nested(
        "PumpBaselineMetaSchema",
        allow_none=True,
        metadata={
            "description": "The pump's own week beside the window: null for a model version "
            'without a baseline network (docs/window-models.md, "A pump\'s own week").'
        },
    )


class PumpBaselineMetaSchema(Schema):
    used = fields.Boolean(
        metadata={
            "description": "Whether the indices were read with the pump's baseline (the "
            "baseline network answered). False when the pump had fewer than 300 readings at "
            "load (Eng_RPM ≥ 1000) in the 7 days before the window, or the window none at load: "
            "then the window alone answers, as on /model/gru/predict.",
            "example": True,
        }
    )
    values = fields.Dict(
        keys=fields.String(),
        values=fields.Float(),
        allow_none=True,
        metadata={
            "description": "The baseline: over the pump's at-load readings of the 7 days before "
            "the window, the 90th percentile of the load-normalised head, oil pressure and oil "
            "level and the 10th of the load-normalised coolant temperature (null when too few).",
            "example": {
                "head": 7.71,
                "oil_pressure": 4.66,
                "coolant": 81.2,
                "oil_level": 80.3,
            },
        },
    )
    reason = fields.String(
        allow_none=True,
        metadata={
            "description": "Why the baseline was not used (null when it was): "
            "`too_few_readings_at_load` (fewer than 300 in the week before the window), "
            "`window_not_at_load` (no reading of the window at load to compare with it), or "
            "`database_unavailable` (reading it failed: the window, already read, answers).",
            "example": None,
        },
    )


_INDEX_DESCRIPTION = (
    "Health of the lubrication (`lubrificacao`) and hydraulic (`hidraulico`) subsystems, 0 to 100 "
    "(100 = as new), two decimals."
)
_STATUS_DESCRIPTION = (
    "Band of each index: `OK` from 70 (no action), `ATENÇÃO` from 40 to below 70 (plan an "
    "inspection), `ALERTA` below 40 (act now). Taken from the rounded index."
)


class IndexExplanationSchema(Schema):
    contributions = fields.Dict(
        keys=fields.String(),
        values=fields.Float(),
        metadata={
            "description": "Per channel, the index points it accounts for: the index minus the "
            "index with that channel set to a healthy running pump's value over the whole "
            "window (negative: the channel lowers the index).",
            "example": {"Cool_T": -21.4, "Oil_P": -3.2, "Oil_L": 0.4},
        },
    )
    reasons = fields.List(
        fields.Nested(ReasonSchema),
        metadata={"description": "The channels lowering the index most (at most 3)."},
    )


class HealthExplanationSchema(Schema):
    method = fields.String(metadata={"example": "occlusion"})
    units = fields.String(metadata={"example": "index points"})
    lubrificacao = fields.Nested(IndexExplanationSchema)
    hidraulico = fields.Nested(IndexExplanationSchema)


class HealthResponseSchema(ResponseSchema):
    success = fields.Boolean(metadata={"example": True})
    indices = fields.Nested(HealthIndicesSchema, metadata={"description": _INDEX_DESCRIPTION})
    status = fields.Nested(HealthStatusSchema, metadata={"description": _STATUS_DESCRIPTION})
    warnings = warnings_field()
    explanation = fields.Nested(
        HealthExplanationSchema, metadata={"description": "With `explain=true`: why."}
    )
    meta = fields.Nested(WindowMetaSchema)


class MachineHealthResponseSchema(HealthResponseSchema):
    meta = fields.Nested(MachineWindowMetaSchema)


class HealthMachineQuerySchema(Schema):
    machine_name = machine_name_field()
    explain = explain_field()
    version = version_field()
    time_steps = fields.Integer(
        load_default=WINDOW,
        validate=validate.Range(
            min=1, max=WINDOW, error="Must be a whole number from {min} to {max}."
        ),
        metadata={
            "description": f"How many of the latest readings to use, 1 to {WINDOW} (default "
            f"{WINDOW}). Fewer are padded like a short posted window."
        },
    )


class HealthModelInfoSchema(Schema):
    model_type = fields.String(metadata={"example": "Sequential"})
    library = fields.String(metadata={"example": "tensorflow.keras"})
    input_shape = fields.List(fields.Integer(allow_none=True), metadata={"example": [None, 60, 8]})
    output_shape = fields.List(fields.Integer(allow_none=True), metadata={"example": [None, 2]})
    timesteps = fields.Integer(metadata={"example": 60})
    n_features = fields.Integer(metadata={"example": 8})
    file_size_mb = fields.Float(metadata={"description": "Size of the Keras model file."})
    last_modified = fields.String(
        metadata={
            "description": "When the Keras model file was written (UTC).",
            "example": "2025-09-26 10:47:28",
        }
    )
    scaler_class = fields.String(metadata={"example": "MinMaxScaler"})
    scaler_has_feature_names = fields.Boolean()
    scaler_n_features_in = fields.Integer(metadata={"example": 8})
    feature_order = fields.List(fields.String())
    outputs = fields.List(fields.String(), metadata={"description": "Order of the two outputs."})
    padding = fields.String(metadata={"description": "How short windows are filled."})
    trained_ranges = fields.Dict(
        metadata={
            "description": "Per channel, [min, max] of the training data: a value outside makes "
            "the answer carry an `OUT_OF_TRAINING_RANGE` warning."
        }
    )
    version = fields.String()
    created_at = fields.String(metadata={"description": "When this version entered the store."})
    backend = fields.String(
        metadata={"description": "`litert` or `tensorflow` (PUMPAPI_TF_BACKEND)."}
    )
    served_artifact = fields.String(metadata={"description": "The file that computes the answers."})
    checksum = fields.Dict(
        metadata={"description": "sha256 of the served artifact, verified at load."}
    )
    metrics = fields.Dict(
        metadata={
            "description": "Mean absolute error of each index (0–100 points) on held-out pumps "
            "never seen in training, beside the same for naive baselines."
        }
    )
    training = fields.Dict(metadata={"description": "Data, epochs and time of the training run."})
    tags = fields.Dict()
    band_calibration = fields.Dict(
        allow_none=True,
        metadata={
            "description": "Per index, the monotone map from the network's output to the served "
            "index (knots `raw` -> `served`), fitted on calibration pumps; null for versions "
            "trained without one."
        },
    )
    stopped_window_share = fields.Float(
        allow_none=True,
        metadata={
            "description": "Share of the training windows that ended with the engine stopped: "
            "a posted window that does is answered with an `ENGINE_STOPPED` warning; null for "
            "versions that did not record it (no such warning).",
            "example": 0.004,
        },
    )
    pump_baseline = fields.Dict(
        allow_none=True,
        metadata={
            "description": "The baseline network /machine/gru/predict answers with when the "
            "pump has a baseline: the baseline's definition (days, at-load speed, quantities, "
            "percentiles, the load normalisation fitted at training), the network's artifacts "
            "and its own band calibration; null for versions trained without one."
        },
    )
    evaluation = evaluation_field("gru")


class HealthInfoResponseSchema(Schema):
    success = fields.Boolean(metadata={"example": True})
    model_info = fields.Nested(HealthModelInfoSchema)
    versions = loaded_versions_field()
