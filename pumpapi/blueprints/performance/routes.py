"""How a model fares in production, per family: GET /model/<family>/performance (logged
predictions against what happened) and GET /model/<family>/drift (recent inputs against the
training data)."""

from __future__ import annotations

import datetime as dt

from flask.views import MethodView
from marshmallow import fields, validate

from pumpapi import db, models
from pumpapi.blueprints.fields import version_field
from pumpapi.db import drift
from pumpapi.db.performance import realized
from pumpapi.errors import ModelNotFound, ModelNotReady
from pumpapi.extensions.smorest import Blueprint, ResponseSchema, Schema
from pumpapi.models import reference
from pumpapi.observability.metrics import FEATURE_PSI

FAMILIES = ("xgboost", "gru", "lstm")

blp = Blueprint(
    "performance",
    __name__,
    description="Realized performance: the prediction log joined with what happened later "
    "(failure events, the readings that followed, inspections), per model version, beside "
    "the figures measured offline at training; and drift: recent inputs against the training "
    "data's distribution (population stability index per input).",
)


class PerformanceQuerySchema(Schema):
    version = version_field(
        "One version: performance reads every logged version by default, drift the latest."
    )
    since = fields.AwareDateTime(
        metadata={"description": "From this time (drift: 24 h ago by default)."}
    )
    until = fields.AwareDateTime(metadata={"description": "Before this time (now)."})


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


def measure_performance(
    family: str,
    version: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> dict:
    """Each logged version's realized figures beside its offline ones: what
    GET /model/<family>/performance answers, and what the fleet's models page charts."""
    if family not in FAMILIES:
        raise ModelNotFound(f"No model family '{family}'; families: {', '.join(FAMILIES)}.")
    found = db.store().run(
        lambda conn: realized(conn, family, version=version, since=since, until=until)
    )
    return {
        "success": True,
        "family": family,
        "versions": [
            {"version": v, "realized": figures, "offline": _offline(family, v)}
            for v, figures in found.items()
        ],
    }


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
        return measure_performance(
            family, query.get("version"), query.get("since"), query.get("until")
        )


#: Where each family's recent inputs are read by default: xgboost's requests carry its named
#: features; the window families read telemetry (their logged inputs are windows or series).
DEFAULT_SOURCE = {"xgboost": "traffic", "gru": "telemetry", "lstm": "telemetry"}
DEFAULT_PERIOD = dt.timedelta(hours=24)


class DriftQuerySchema(PerformanceQuerySchema):
    source = fields.String(
        validate=validate.OneOf(drift.SOURCES),
        metadata={
            "description": "traffic: the inputs of logged predictions (xgboost's default); "
            "telemetry: the pumps' stored readings (gru's and lstm's default)."
        },
    )


class DriftBinSchema(Schema):
    low = fields.Float(allow_none=True)
    high = fields.Float(allow_none=True)
    expected = fields.Float(metadata={"description": "Share of training values in the bin."})
    observed = fields.Float(metadata={"description": "Share of recent values in the bin."})


class InputDriftSchema(Schema):
    feature = fields.String(metadata={"example": "pressao_oleo_bar"})
    psi = fields.Float(allow_none=True, metadata={"example": 0.04})
    reading = fields.String(
        allow_none=True,
        metadata={"description": "stable (< 0.1), moderate (< 0.25) or significant."},
    )
    observations = fields.Integer()
    bins = fields.List(fields.Nested(DriftBinSchema))


class DriftResponseSchema(ResponseSchema):
    success = fields.Boolean(metadata={"example": True})
    family = fields.String(metadata={"example": "xgboost"})
    version = fields.String(metadata={"example": "3"})
    source = fields.String(metadata={"example": "traffic"})
    since = fields.String()
    until = fields.String(allow_none=True)
    inputs = fields.List(fields.Nested(InputDriftSchema))


def measure_drift(
    family: str,
    version: str | None = None,
    source: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> dict:
    """The drift answer of a family's version (latest by default): PSI of each input's recent
    values against its training reference. What GET /model/<family>/drift answers, and what
    the fleet's models page charts."""
    if family not in FAMILIES:
        raise ModelNotFound(f"No model family '{family}'; families: {', '.join(FAMILIES)}.")
    model = models.registry().get(family, version)
    metadata = model.metadata
    stored = (metadata.get("reference") or {}).get("inputs")
    if not stored:
        raise ModelNotReady(
            f"Version {model.version.version} of {family} has no reference distribution "
            "(trained before drift was recorded): retrain it to measure drift."
        )
    source = source or DEFAULT_SOURCE[family]
    since = since or dt.datetime.now(dt.UTC) - DEFAULT_PERIOD
    feature_channels = metadata.get("feature_channels") or {}
    if source == "traffic":
        names = list(stored)
        values = db.store().run(
            lambda conn: drift.traffic_values(
                conn, family, names, since, until, version=model.version.version
            )
        )
    else:
        channels = {n: c for n in stored if (c := drift.channel_of(n, feature_channels))}
        values = db.store().run(lambda conn: drift.telemetry_values(conn, channels, since, until))
    inputs = []
    for name, ref in stored.items():
        if name not in values:
            continue
        compared = reference.compare(ref, values[name])
        if compared["psi"] is not None:
            FEATURE_PSI.labels(family, name).set(compared["psi"])
        inputs.append({"feature": name, **compared})
    return {
        "success": True,
        "family": family,
        "version": model.version.version,
        "source": source,
        "since": since.isoformat(),
        "until": until.isoformat() if until else None,
        "inputs": inputs,
    }


@blp.route("/model/<family>/drift")
class Drift(MethodView):
    @blp.arguments(DriftQuerySchema, location="query")
    @blp.response(200, DriftResponseSchema)
    @blp.alt_response(404, description="No such model family or version.")
    @blp.alt_response(503, description="PostgreSQL, or the model, is unavailable.")
    def get(self, query, family):
        """How far recent inputs have moved from the training data

        For each input of the version (latest by default): the population stability index of
        its recent values against the quantile bins of its training values stored at training,
        read the usual way (below 0.1 stable, 0.1–0.25 moderate, above significant), with the
        bins side by side. Also exported as the gauge `pumpapi_feature_psi{family,feature}`.
        """
        return measure_drift(
            family, query.get("version"), query.get("source"), query.get("since"),
            query.get("until"),
        )  # fmt: skip
