"""Request and response schemas of the events endpoints (failures and maintenance)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import current_app
from marshmallow import ValidationError, fields, pre_load, validate, validates_schema

from pumpapi.blueprints.fields import pump_field, reading_time_field
from pumpapi.channels import MACHINE_NAME_MAX_LENGTH
from pumpapi.db.events import EVENT_KINDS, FAILURE_CAUSES
from pumpapi.extensions.smorest import ResponseSchema, Schema, StrictFloat

EXAMPLE_EVENTS = [
    {
        "machine": "MOTOBOMBA-007",
        "timestamp": "2025-09-27T13:30:00Z",
        "kind": "failure",
        "cause": "oil_leak",
    },
    {
        "machine": "MOTOBOMBA-007",
        "timestamp": "2025-09-28T09:00:00Z",
        "kind": "inspection",
        "lubrificacao": 92,
        "hidraulico": 85,
        "note": "after the seal was replaced",
    },
]


def _index() -> StrictFloat:
    return StrictFloat(
        validate=validate.Range(min=0, max=100, error="Must be between {min} and {max}."),
        metadata={"description": "Inspection only: the measured condition, 0 (failed) to 100."},
    )


class EventSchema(Schema):
    machine = pump_field(example="MOTOBOMBA-007")
    timestamp = reading_time_field(description="When it happened: ISO 8601 with a timezone.")
    kind = fields.String(
        required=True,
        validate=validate.OneOf(EVENT_KINDS, error="Must be one of: {choices}."),
        metadata={"description": "What happened.", "example": "failure"},
    )
    cause = fields.String(
        validate=validate.OneOf(FAILURE_CAUSES, error="Must be one of: {choices}."),
        metadata={"description": "Required for a failure (why it failed); allowed on a repair."},
    )
    lubrificacao = _index()
    hidraulico = _index()
    note = fields.String(validate=validate.Length(max=500))

    @validates_schema
    def _coherent(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        kind = data.get("kind")
        if kind == "failure" and "cause" not in data:
            raise ValidationError("A failure needs its cause.", field_name="cause")
        if "cause" in data and kind not in ("failure", "repair"):
            raise ValidationError("Only a failure or a repair has a cause.", field_name="cause")
        for index in ("lubrificacao", "hidraulico"):
            if index in data and kind != "inspection":
                raise ValidationError("Only an inspection measures a condition.", index)


class EventsBatchSchema(Schema):
    events = fields.List(
        fields.Nested(EventSchema),
        required=True,
        validate=validate.Length(min=1, error="Send at least one event."),
        metadata={"description": "1 to INGEST_MAX_BATCH_SIZE events, of one or many pumps."},
    )

    @pre_load
    def _limit(self, data: Any, **kwargs: Any) -> Any:
        limit = int(current_app.config["INGEST_MAX_BATCH_SIZE"])
        events = data.get("events") if isinstance(data, Mapping) else None
        if isinstance(events, list) and len(events) > limit:
            raise ValidationError(
                f"At most {limit} events per request; got {len(events)}. Split the batch.",
                field_name="events",
            )
        return data


class EventsQuerySchema(Schema):
    machine_name = fields.String(
        validate=validate.Length(min=1, max=MACHINE_NAME_MAX_LENGTH),
        metadata={"description": "One pump's events; every pump's when left out."},
    )
    since = fields.AwareDateTime(metadata={"description": "From this time (inclusive)."})
    until = fields.AwareDateTime(metadata={"description": "Before this time."})


class StoredEventSchema(Schema):
    machine = fields.String()
    timestamp = fields.String(metadata={"description": "UTC, ISO 8601."})
    kind = fields.String()
    cause = fields.String(allow_none=True)
    lubrificacao = fields.Float(allow_none=True)
    hidraulico = fields.Float(allow_none=True)
    note = fields.String(allow_none=True)


class EventsResponseSchema(ResponseSchema):
    success = fields.Boolean(metadata={"example": True})
    count = fields.Integer()
    truncated = fields.Boolean(
        metadata={"description": "More events match: narrow `since`/`until` to see them."}
    )
    events = fields.List(fields.Nested(StoredEventSchema))


class EventsStoredSchema(ResponseSchema):
    success = fields.Boolean(metadata={"example": True})
    received = fields.Integer()
    inserted = fields.Integer()
    already_stored = fields.Integer(
        metadata={"description": "Events whose pump, time and kind were already stored."}
    )
    new_machines = fields.List(fields.String())
