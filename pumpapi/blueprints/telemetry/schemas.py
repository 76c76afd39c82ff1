"""Schemas of telemetry ingestion: the batch as documented, and the answer.

The batch itself is validated by `pumpapi.readings` (columnar, for speed); `ReadingSchema` here
describes the same rules for the OpenAPI document.
"""

from __future__ import annotations

from marshmallow import fields, validate

from pumpapi.extensions.smorest import ResponseSchema, Schema, StrictFloat
from pumpapi.readings import FIELDS
from pumpapi.telemetry import CHANNELS, MACHINE_NAME_MAX_LENGTH

EXAMPLE_READING = {
    "machine": "MOTOBOMBA-007",
    "timestamp": "2025-09-27T13:30:00Z",
    **{c.name: c.nominal for c in CHANNELS},
}

CSV_EXAMPLE = ",".join(FIELDS) + "\n" + ",".join(str(EXAMPLE_READING[f]) for f in FIELDS) + "\n"

ReadingSchema = Schema.from_dict(
    {
        "machine": fields.String(
            required=True,
            validate=validate.Length(min=1, max=MACHINE_NAME_MAX_LENGTH),
            metadata={"description": "The pump's name; a new name registers the pump."},
        ),
        "timestamp": fields.AwareDateTime(
            required=True,
            metadata={
                "description": "When it was read: ISO 8601 with a timezone, from 1990 to at "
                "most one day ahead of the server's clock."
            },
        ),
        **{
            c.name: StrictFloat(
                required=True,
                validate=validate.Range(min=c.minimum, max=c.maximum),
                metadata={"description": f"{c.description} [{c.unit}]"},
            )
            for c in CHANNELS
        },
    },
    name="TelemetryReadingSchema",
)


class TelemetryBatchSchema(Schema):
    readings = fields.List(
        fields.Nested(ReadingSchema),
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "1 to INGEST_MAX_BATCH_SIZE (default 50000) readings."},
    )


class IngestResponseSchema(ResponseSchema):
    success = fields.Boolean(metadata={"example": True})
    received = fields.Integer(metadata={"description": "Readings in the batch."})
    inserted = fields.Integer(metadata={"description": "Readings stored by this request."})
    already_stored = fields.Integer(
        metadata={
            "description": "Readings whose pump and timestamp were already stored (or repeated "
            "in the batch): kept as stored, not counted twice."
        }
    )
    new_machines = fields.List(
        fields.String(), metadata={"description": "Pumps registered by this batch."}
    )
