"""Schemas of telemetry ingestion: the batch as documented, and the answer.

The batch itself is validated by `pumpapi.readings` (columnar, for speed); `ReadingSchema` here
states the same rules for the OpenAPI document from the same declarations (the channels' ranges,
`readings.machine_problem`, `readings.moment_problem`), and tests/test_readings.py checks on
random batches that the two accept and refuse the same readings.
"""

from __future__ import annotations

from marshmallow import fields, validate

from pumpapi.blueprints.fields import channel_field, pump_field, reading_time_field
from pumpapi.channels import CHANNELS
from pumpapi.extensions.smorest import ResponseSchema, Schema
from pumpapi.readings import FIELDS

EXAMPLE_READING = {
    "machine": "MOTOBOMBA-007",
    "timestamp": "2025-09-27T13:30:00Z",
    **{c.name: c.nominal for c in CHANNELS},
}

CSV_EXAMPLE = ",".join(FIELDS) + "\n" + ",".join(str(EXAMPLE_READING[f]) for f in FIELDS) + "\n"

ReadingSchema = Schema.from_dict(
    {
        "machine": pump_field(description="The pump's name; a new name registers the pump."),
        "timestamp": reading_time_field(
            description="When it was read: ISO 8601 with a timezone, from 1990 to at most one "
            "day ahead of the server's clock."
        ),
        **{c.name: channel_field(c, c.nominal) for c in CHANNELS},
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
