"""POST /machine/events (failures and maintenance, with the ingest key) and GET to read them."""

from __future__ import annotations

from flask.views import MethodView

from pumpapi import auth, db
from pumpapi.db import ingest
from pumpapi.db.events import MAX_READ, Event, read_events, store_events
from pumpapi.extensions import views
from pumpapi.extensions.json import utc_iso
from pumpapi.extensions.smorest import Blueprint

from .schemas import (
    EXAMPLE_EVENTS,
    EventsBatchSchema,
    EventsQuerySchema,
    EventsResponseSchema,
    EventsStoredSchema,
)

blp = Blueprint(
    "events",
    __name__,
    description="What happened to each pump: failures with their cause, repairs, oil changes, "
    "battery replacements and inspections. The labels the models are trained on and judged "
    "against.",
)


def _stored(event: Event) -> dict:
    return {
        "machine": event.machine,
        "timestamp": utc_iso(event.timestamp),
        "kind": event.kind,
        "cause": event.cause,
        "lubrificacao": event.lubrificacao,
        "hidraulico": event.hidraulico,
        "note": event.note,
    }


@blp.route("/machine/events", endpoint="StoreEvents", methods=["POST"])
@views.declare(api_keys="INGEST_API_KEYS", purpose="Sending events")
class StoreEvents(MethodView):
    @blp.arguments(EventsBatchSchema, example={"events": EXAMPLE_EVENTS})
    @blp.response(200, EventsStoredSchema)
    @blp.doc(security=[{auth.SECURITY_SCHEME: []}])
    @blp.alt_response(401, description="No API key in X-API-Key.")
    @blp.alt_response(403, description="The API key does not allow writing.")
    @blp.alt_response(422, description="An event is invalid: nothing of the batch was stored.")
    @blp.alt_response(503, description="PostgreSQL is unavailable; send it again.")
    def post(self, body):
        """Store a batch of failures and maintenance actions

        `{"events": [{"machine", "timestamp", "kind", ...}, ...]}`: `kind` is `failure` (with
        its `cause`: `oil_leak`, `overheating`, `cavitation`, `charging_fault` or `other`),
        `repair` (optionally with the `cause` repaired), `oil_change`, `battery_replaced` or
        `inspection` (optionally with the measured `lubrificacao` and `hidraulico`, 0 to 100);
        `note` is free text. The batch is stored whole or not at all: an invalid event is
        answered 422 naming its row (from 0) and field. Idempotent: an event whose pump, time
        and kind are stored is kept as it was and counted in `already_stored`. Requires an
        ingest key in `X-API-Key`.
        """
        events = [Event(**event) for event in body["events"]]

        def write(conn):
            with ingest.write_errors():
                return store_events(conn, events)

        # Safe to run twice (`run` retries on a lost connection): stored events are skipped.
        result = db.writer().run(write)
        return {
            "success": True,
            "received": result.received,
            "inserted": result.inserted,
            "already_stored": result.already_stored,
            "new_machines": result.new_machines,
        }


@blp.route("/machine/events", endpoint="ReadEvents", methods=["GET"])
class ReadEvents(MethodView):
    """Reading events is a read like any other (READ_API_KEYS when set)."""

    @blp.arguments(EventsQuerySchema, location="query")
    @blp.response(200, EventsResponseSchema)
    @blp.alt_response(422, description="A bad `machine_name`, `since` or `until`.")
    @blp.alt_response(503, description="PostgreSQL is unavailable; retry later.")
    def get(self, query):
        """Failures and maintenance, oldest first

        Of one pump (`machine_name`) or every pump, from `since` (inclusive) to `until`
        (exclusive), at most 10,000 a request (`truncated` says when more match).
        """
        found = db.store().run(
            lambda conn: read_events(
                conn, query.get("machine_name"), query.get("since"), query.get("until"),
                MAX_READ + 1,
            )
        )  # fmt: skip
        return {
            "success": True,
            "count": min(len(found), MAX_READ),
            "truncated": len(found) > MAX_READ,
            "events": [_stored(e) for e in found[:MAX_READ]],
        }
