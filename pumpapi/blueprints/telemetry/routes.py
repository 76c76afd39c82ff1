"""POST /machine/telemetry: a batch of readings of one or many pumps, stored once each."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask.views import MethodView
from werkzeug.exceptions import BadRequest

from pumpapi import auth, limits, readings
from pumpapi.db import ingest
from pumpapi.errors import InvalidInput
from pumpapi.extensions import views
from pumpapi.extensions.smorest import Blueprint

from .schemas import CSV_EXAMPLE, EXAMPLE_READING, IngestResponseSchema, TelemetryBatchSchema

JSON = "application/json"
CSV = "text/csv"

blp = Blueprint(
    "telemetry",
    __name__,
    description="Sending pumps' readings to the telemetry database (needs an API key).",
)


def _json_body() -> Any:
    data = request.get_data(cache=True)
    if not data:
        raise BadRequest("The request body is empty: send a batch of readings.")
    # NaN/Infinity literals are read, so that they are refused as a value of a field (422)
    # like everywhere in the API; only broken syntax (or nesting too deep) is a 400.
    try:
        return limits.read_json(data)
    except ValueError:
        raise BadRequest("Failed to decode JSON object.") from None


def _batch() -> readings.TelemetryBatch:
    limit = int(current_app.config["INGEST_MAX_BATCH_SIZE"])
    if request.mimetype == CSV:
        return readings.from_csv(request.get_data(cache=True).decode("utf-8"), limit)
    body = _json_body()
    if not isinstance(body, dict):
        raise InvalidInput(
            'The request body must be a JSON object: {"readings": [...]}.',
            {"_schema": ["Invalid input type."]},
        )
    errors: dict[str, list[str]] = {
        str(k)[:100]: ["Unknown field."] for k in body if k != "readings"
    }
    if "readings" not in body:
        errors["readings"] = ["Missing data for required field."]
    if errors:
        raise InvalidInput(
            'Send the readings as {"readings": [...]}; '
            + "; ".join(f"'{k}': {v[0]}" for k, v in errors.items()),
            errors,
        )
    return readings.from_records(body["readings"], limit)


@blp.route("/machine/telemetry")
@views.declare(
    api_keys="INGEST_API_KEYS",
    purpose="Sending telemetry",
    media_types=(JSON, CSV),
    body_limit="INGEST_MAX_CONTENT_LENGTH",
)
class Telemetry(MethodView):
    @blp.doc(
        security=[{auth.SECURITY_SCHEME: []}],
        requestBody={
            "required": True,
            "content": {
                JSON: {
                    "schema": TelemetryBatchSchema,
                    "example": {"readings": [EXAMPLE_READING]},
                },
                CSV: {
                    "schema": {"type": "string"},
                    "example": CSV_EXAMPLE,
                },
            },
        },
    )
    @blp.response(200, IngestResponseSchema)
    @blp.alt_response(400, description="The body is not valid JSON, CSV or UTF-8.")
    @blp.alt_response(401, description="No API key in X-API-Key.")
    @blp.alt_response(403, description="The API key does not allow ingestion.")
    @blp.alt_response(413, description="The body is larger than INGEST_MAX_CONTENT_LENGTH.")
    @blp.alt_response(415, description="The body is neither application/json nor text/csv.")
    @blp.alt_response(422, description="A reading is invalid: nothing of the batch was stored.")
    @blp.alt_response(503, description="PostgreSQL is unavailable or too slow; send it again.")
    def post(self):
        """Store a batch of readings of one or many pumps

        Send `{"readings": [{"machine", "timestamp", "Eng_RPM", "Cool_T", "Oil_P", "Oil_L",
        "Recalque", "Succao", "Bat_V", "Char_V"}, ...]}` as `application/json`, or the same
        columns as `text/csv` with a header line (any column order). Timestamps are ISO 8601
        with a timezone; channels are finite numbers within their physical ranges (see
        `/machines` and the reading schema); a pump not seen before is registered.

        The batch is stored whole or not at all: if any reading is invalid the answer is 422,
        naming each row (counted from 0) and field at fault, and nothing is written. Storing is
        idempotent: a reading whose pump and timestamp are already stored is kept as it was and
        counted in `already_stored`, so a batch can safely be sent again after a timeout.
        Requires an API key in `X-API-Key`.
        """
        result = ingest.store_batch(_batch())
        return {
            "success": True,
            "received": result.received,
            "inserted": result.inserted,
            "already_stored": result.already_stored,
            "new_machines": result.new_machines,
        }
