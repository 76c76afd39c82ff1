"""Request fields the routes share: a channel's value within its range, a pump's name, the
model version asked for, `explain` and the reasons of an answer."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate

from pumpapi import readings
from pumpapi.channels import MACHINE_NAME_MAX_LENGTH, Channel
from pumpapi.extensions.smorest import Schema, StrictFloat


def channel_field(channel: Channel, example: float, *, cite_channel: bool = False) -> StrictFloat:
    """A required, finite number within the physical range of `channel`.

    `cite_channel` names the channel in the description: for a field named otherwise (a model's
    feature read from that channel).
    """
    cited = f" (telemetry channel `{channel.name}`)" if cite_channel else ""
    return StrictFloat(
        required=True,
        validate=validate.Range(
            min=channel.minimum,
            max=channel.maximum,
            error=f"Must be between {{min}} and {{max}} {channel.unit}: the physical range of "
            f"{channel.name} ({channel.description}).",
        ),
        metadata={
            "description": f"{channel.description.capitalize()} [{channel.unit}]{cited}, "
            f"{channel.minimum:g} to {channel.maximum:g}.",
            "example": example,
        },
    )


def _rule(problem_of):
    """A marshmallow validator from a function saying what is wrong with a value (or None)."""

    def check(value):
        problem = problem_of(value)
        if problem:
            raise ValidationError(problem)

    return check


def pump_field(**metadata) -> fields.String:
    """The pump a reading or an event belongs to: the rule ingestion applies
    (`readings.machine_problem`), stated once."""
    length = validate.Length(min=1, max=MACHINE_NAME_MAX_LENGTH)  # documented in OpenAPI

    def problem(name: str) -> str | None:
        return readings.machine_problem(name) if 1 <= len(name) <= length.max else None

    return fields.String(required=True, validate=[length, _rule(problem)], metadata=metadata)


def reading_time_field(**metadata) -> fields.AwareDateTime:
    """When a reading or an event happened: ISO 8601 with a timezone, within the clock rule
    ingestion applies (`readings.moment_problem`), stated once."""
    return fields.AwareDateTime(
        required=True,
        validate=_rule(lambda moment: readings.moment_problem(moment, readings.latest_moment())),
        error_messages={
            "invalid": "Not a valid datetime: send ISO 8601, e.g. 2025-09-27T13:30:00Z.",
            "invalid_awareness": "The timestamp has no timezone; add one (e.g. Z or -03:00).",
        },
        metadata=metadata,
    )


def machine_name_field() -> fields.String:
    """The required `machine_name` of a /machine/... query: the pump's name."""
    return fields.String(
        required=True,
        validate=validate.Length(min=1, max=MACHINE_NAME_MAX_LENGTH),
        metadata={"description": "The pump's name.", "example": "MOTOBOMBA-007"},
    )


def version_field(description: str | None = None) -> fields.String:
    """`?version=`: a model version (a number or an alias) — by default the one that answers.
    No version name holds a NUL (nor can PostgreSQL text, where the prediction log keeps them):
    such a value is a 422 naming the field, not a lookup."""
    return fields.String(
        validate=[
            validate.Length(min=1, max=32),
            validate.Regexp(r"^[^\x00]*$", error="Must not contain a NUL character."),
        ],
        metadata={
            "description": description
            or "The model version to answer with: a number, or an alias (`latest`, "
            "`production`, `candidate`). Default: `latest`. Unknown: 404; in the store but "
            "not loaded here: 503. The answer's X-Model-Version header names the version.",
            "example": "latest",
        },
    )


class LoadedVersionSchema(Schema):
    version = fields.String(metadata={"example": "3"})
    aliases = fields.List(fields.String(), metadata={"example": ["latest", "production"]})
    created_at = fields.String(allow_none=True)


def loaded_versions_field() -> fields.List:
    """The versions of a family this instance serves (an info answer's `versions`)."""
    return fields.List(
        fields.Nested(LoadedVersionSchema),
        metadata={
            "description": "Every version loaded here, with its aliases: `?version=` on the "
            "predict routes picks one; `model_info` describes the one asked for (default "
            "`latest`)."
        },
    )


class TrainingRangeWarningSchema(Schema):
    """One input outside what the answering model was trained on (pumpapi.models.support)."""

    code = fields.String(
        metadata={
            "description": "`OUT_OF_TRAINING_RANGE`: a value outside the training data. gru "
            "only, `BEYOND_HEALTHY_WINDOWS`: the window's mean of `field` lies beyond every "
            "training window rated OK on `index` (`value` is that mean, `trained_range` the "
            "healthy windows' range of it); that index is answered at most 69.99 (ATENÇÃO). "
            "gru only, `ENGINE_STOPPED`: the window ends with the engine stopped (`field` "
            "Eng_RPM, `value` its last reading), which few training windows did "
            "(`trained_share`); a stopped hour shows little of health, and "
            "`/machine/gru/predict` answers a stopped pump from its last running hour.",
            "example": "OUT_OF_TRAINING_RANGE",
        }
    )
    field = fields.String(
        metadata={"description": "The input, by its request name.", "example": "Oil_P"}
    )
    value = fields.Float(
        metadata={"description": "The value furthest outside the range.", "example": 18.0}
    )
    trained_range = fields.List(
        fields.Float(),
        metadata={
            "description": "[smallest, largest] value of this input in the training data.",
            "example": [0.0, 7.1],
        },
    )
    trained_share = fields.Float(
        metadata={
            "description": "gru, `ENGINE_STOPPED` only: the share of training windows that "
            "ended with the engine stopped.",
            "example": 0.004,
        }
    )
    index = fields.String(
        metadata={
            "description": "gru, `BEYOND_HEALTHY_WINDOWS` only: the index the warning caps.",
            "example": "hidraulico",
        }
    )


def warnings_field() -> fields.List:
    """An answer's `warnings`: inputs outside the model's training data (SPEC)."""
    return fields.List(
        fields.Nested(TrainingRangeWarningSchema),
        metadata={
            "description": "Inputs outside the range the model was trained on (the answer is "
            "then an extrapolation): one entry per input, with the value furthest outside and "
            "the trained [min, max]. Empty when every input lies within it."
        },
    )


def explain_field() -> fields.Boolean:
    """`explain`: ask for the reasons of an answer (costs nothing when not asked)."""
    return fields.Boolean(
        load_default=False,
        metadata={
            "description": "Also answer why: per-feature contributions and the top reasons "
            "in words."
        },
    )


class PredictQuerySchema(Schema):
    """The query of a predict route that takes a body: explain, and the version to answer."""

    explain = explain_field()
    version = version_field()


class ReasonSchema(Schema):
    feature = fields.String(metadata={"example": "pressao_oleo_bar"})
    channel = fields.String(metadata={"example": "Oil_P"})
    value = fields.Float(metadata={"example": 1.1})
    contribution = fields.Float(
        metadata={"description": "What this input adds to the answer (see `units`)."}
    )
    text = fields.String(
        metadata={"example": "pressão do óleo baixa: 1.1 bar (referência 4.5 bar)"}
    )


def evaluation_field(family: str) -> fields.Dict:
    """`evaluation` on /model/<family>/info: what `pumpapi evaluate` recorded in the version."""
    return fields.Dict(
        allow_none=True,
        metadata={
            "description": f"`pumpapi evaluate {family}` on independent simulated fleets: per "
            "scenario, each metric as {value, ci: [lo, hi]} (95 % bootstrap over pumps) beside "
            "the baselines', and the goals met or not; null until evaluated."
        },
    )
