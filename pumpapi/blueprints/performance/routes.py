"""GET /model/<family>/performance: logged predictions against what happened, per version."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import fields, validate

from pumpapi import db, models
from pumpapi.db.performance import realized
from pumpapi.errors import ModelNotFound
from pumpapi.extensions.smorest import Blueprint, ResponseSchema, Schema

FAMILIES = ("xgboost", "gru", "lstm")

blp = Blueprint(
    "performance",
    __name__,
    description="Realized performance: the prediction log joined with what happened later "
    "(failure events, the readings that followed, inspections), per model version, beside "
    "the figures measured offline at training.",
)


class PerformanceQuerySchema(Schema):
    version = fields.String(
        validate=validate.Length(min=1, max=32),
        metadata={"description": "One version (number); every logged version by default."},
    )
    since = fields.AwareDateTime(metadata={"description": "Predictions from this time."})
    until = fields.AwareDateTime(metadata={"description": "Predictions before this time."})


class VersionPerformanceSchema(Schema):
    version = fields.String()
    realized = fields.Dict(
        metadata={
            "description": "xgboost: predictions, labelled, failures, roc_auc, brier, "
            "precision and recall at the threshold, calibration by decile; lstm: labelled, "
            "mae, persistence_mae, mase, per_channel; gru: labelled, mae per index against "
            "inspections."
        }
    )
    offline = fields.Dict(
        allow_none=True,
        metadata={"description": "The version's metrics measured at training (metadata)."},
    )


class PerformanceResponseSchema(ResponseSchema):
    success = fields.Boolean(metadata={"example": True})
    family = fields.String(metadata={"example": "xgboost"})
    versions = fields.List(fields.Nested(VersionPerformanceSchema))


def _offline(family: str, version: str) -> dict | None:
    try:
        return models.registry().store.resolve(family, version).metadata.get("metrics")
    except Exception:  # a version no longer in the store: its realized figures still stand
        return None


@blp.route("/model/<family>/performance")
class Performance(MethodView):
    @blp.arguments(PerformanceQuerySchema, location="query")
    @blp.response(200, PerformanceResponseSchema)
    @blp.alt_response(404, description="No such model family.")
    @blp.alt_response(503, description="PostgreSQL is unavailable; retry later.")
    def get(self, query, family):
        """How right each version has been, from the prediction log

        xgboost: each prediction about a pump is labelled once its horizon (24 h) has passed or
        the pump failed within it. lstm: each forecast of a pump's channel against the reading
        that followed. gru: each inspection with a measured condition against the pump's latest
        health prediction in the day before it. Shadow answers are left out. `offline` holds the
        figures measured on held-out pumps at training.
        """
        if family not in FAMILIES:
            raise ModelNotFound(f"No model family '{family}'; families: {', '.join(FAMILIES)}.")
        found = db.store().run(
            lambda conn: realized(
                conn, family, version=query.get("version"), since=query.get("since"),
                until=query.get("until"),
            )
        )  # fmt: skip
        return {
            "success": True,
            "family": family,
            "versions": [
                {"version": v, "realized": figures, "offline": _offline(family, v)}
                for v, figures in found.items()
            ],
        }
