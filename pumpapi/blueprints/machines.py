"""The pumps in the telemetry database: /machines."""

from __future__ import annotations

import datetime as dt

from flask.views import MethodView
from marshmallow import fields

from pumpapi import db
from pumpapi.channels import CHANNELS
from pumpapi.extensions.json import utc_iso
from pumpapi.extensions.smorest import Blueprint, Schema

blp = Blueprint(
    "machines",
    __name__,
    description="The pumps known to the telemetry database, and how fresh their data is.",
)


class UtcTimestamp(fields.DateTime):
    """An aware datetime written as ISO 8601 in UTC with a `Z`, like every timestamp of the API."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        # Unlike the answers' own timestamps, stored ones keep any fraction of a second.
        return utc_iso(value, timespec="auto")


ChannelValuesSchema = Schema.from_dict(
    {
        c.name: fields.Float(metadata={"description": f"{c.description} [{c.unit}]"})
        for c in CHANNELS
    },
    name="ChannelValuesSchema",
)


class MachineSchema(Schema):
    machine = fields.String(metadata={"example": "MOTOBOMBA-007"})
    first_timestamp = UtcTimestamp(
        allow_none=True, metadata={"description": "Time of its oldest reading (null if none)."}
    )
    latest_timestamp = UtcTimestamp(
        allow_none=True, metadata={"description": "Time of its newest reading (null if none)."}
    )
    age_seconds = fields.Float(
        allow_none=True,
        metadata={"description": "Seconds from its newest reading to now: a stale pump shows."},
    )
    latest_reading = fields.Nested(
        ChannelValuesSchema,
        allow_none=True,
        metadata={"description": "The eight channels of its newest reading (null if none)."},
    )


class MachinesSchema(Schema):
    success = fields.Boolean(metadata={"example": True})
    count = fields.Integer(metadata={"description": "Number of pumps listed."})
    machines = fields.List(fields.Nested(MachineSchema))


@blp.route("/machines")
class Machines(MethodView):
    @blp.response(200, MachinesSchema)
    @blp.alt_response(503, description="PostgreSQL is unavailable; retry later.")
    def get(self):
        """The pumps, with the time and values of their latest reading

        Every pump in the telemetry database, sorted by name, with the times of its oldest and
        newest readings, how old the newest one is (`age_seconds`), and its eight channels.
        A pump registered without readings is listed with nulls. Use these names as
        `machine_name` in the `/machine/...` endpoints.
        """
        now = dt.datetime.now(dt.UTC)
        machines = db.store().machines()
        for machine in machines:
            latest = machine["latest_timestamp"]
            machine["age_seconds"] = (
                round((now - latest).total_seconds(), 3) if latest is not None else None
            )
        return {"success": True, "count": len(machines), "machines": machines}


def register_blueprints(api) -> None:
    api.register_blueprint(blp)
