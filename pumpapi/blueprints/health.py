"""Liveness, readiness, and the compatibility aliases older clients call."""

from __future__ import annotations

import os

from flask import current_app
from flask.views import MethodView
from marshmallow import fields

from pumpapi import db, models
from pumpapi.extensions.smorest import Blueprint, Schema

blp = Blueprint(
    "health",
    __name__,
    description="Liveness (/health) for restarts; readiness (/health/ready) for load balancers.",
)


class LivenessSchema(Schema):
    status = fields.String(metadata={"example": "ok"})
    message = fields.String(metadata={"example": "Service is healthy"})


class ComponentSchema(Schema):
    ready = fields.Boolean()
    version = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    load_seconds = fields.Float(allow_none=True)
    loaded_at = fields.Float(allow_none=True, metadata={"description": "Unix time of the load."})
    latency_ms = fields.Float(allow_none=True)


class ReadinessSchema(Schema):
    status = fields.String(metadata={"description": "`ready` or `not ready`"})
    ready = fields.Boolean()
    pid = fields.Integer(metadata={"description": "Process (gunicorn worker) that answered."})
    components = fields.Dict(
        keys=fields.String(),
        values=fields.Nested(ComponentSchema),
        metadata={"description": "`database` and `model:<family>`, each with its state."},
    )


@blp.route("/health")
class Liveness(MethodView):
    @blp.response(200, LivenessSchema)
    def get(self):
        """Liveness: the process answers

        Touches neither the database nor the models, so a PostgreSQL outage never restarts
        healthy processes. Container healthchecks use this.
        """
        return {"status": "ok", "message": "Service is healthy"}


def readiness() -> tuple[bool, dict]:
    components = {"database": db.store().check()}
    for family, status in models.registry().status().items():
        components[f"model:{family}"] = status.as_dict()
    ready = all(c["ready"] for c in components.values())
    sync = current_app.extensions.get("pumpapi.model_store_sync")
    if sync is not None:
        # The cached versions serve whatever the bucket's state: readiness depends on the
        # families above; this says what the last sync could not do.
        components["model_store"] = {
            "ready": True,
            "version": None,
            "error": "; ".join(sync.errors) or None,
        }
    return ready, components


@blp.route("/health/ready")
class Readiness(MethodView):
    @blp.response(200, ReadinessSchema)
    @blp.alt_response(503, schema=ReadinessSchema, description="A component is not ready.")
    def get(self):
        """Readiness: the database answers and every configured model is loaded

        Load balancers route traffic only to instances answering 200 here. The body names each
        component and, when one is not ready, why.
        """
        ready, components = readiness()
        body = {
            "status": "ready" if ready else "not ready",
            "ready": ready,
            "pid": os.getpid(),
            "components": components,
        }
        return body, (200 if ready else 503)


class IndexSchema(Schema):
    name = fields.String(metadata={"example": "PumpAPI"})
    description = fields.String()
    links = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={"description": "Where to go next: docs, OpenAPI, liveness, readiness, models."},
    )
    endpoints = fields.List(
        fields.String(), metadata={"description": "`METHOD /path` of every API endpoint."}
    )


#: Routes of the docs and of Flask itself, not listed among the API's endpoints.
_NOT_LISTED = frozenset({"static", "api-docs.openapi_json", "api-docs.openapi_swagger_ui"})


@blp.route("/")
class Index(MethodView):
    @blp.response(200, IndexSchema)
    def get(self):
        """Where to start: links to the docs, health and the API

        What `make serve` and `make stack` print as the API's address answers this.
        """
        endpoints = sorted(
            {
                f"{method} {rule.rule}"
                for rule in current_app.url_map.iter_rules()
                if rule.endpoint not in _NOT_LISTED and not rule.endpoint.startswith("swagger")
                for method in sorted(rule.methods or ())
                if method not in ("HEAD", "OPTIONS")
            }
        )
        return {
            "name": "PumpAPI",
            "description": "Failure risk and health of diesel motor pumps, from their telemetry.",
            "links": {
                "docs": "/docs",
                "openapi": "/openapi.json",
                "health": "/health",
                "ready": "/health/ready",
                "server": "/v2",
                "machines": "/machines",
            },
            "endpoints": endpoints,
        }


class HealthCheckSchema(Schema):
    status = fields.String(metadata={"example": "healthy"})


class PingSchema(Schema):
    ping = fields.String(metadata={"example": "pong"})


@blp.route("/health-check", methods=["GET", "POST"])
class HealthCheckAlias(MethodView):
    @blp.response(200, HealthCheckSchema)
    def get(self):
        """Compatibility alias of liveness for older clients"""
        return {"status": "healthy"}

    @blp.response(200, HealthCheckSchema)
    def post(self):
        """Compatibility alias of liveness for older clients (POST)"""
        return {"status": "healthy"}


@blp.route("/ping")
class Ping(MethodView):
    @blp.response(200, PingSchema)
    def get(self):
        """Compatibility alias of liveness for older clients"""
        return {"ping": "pong"}


def register_blueprints(api) -> None:
    api.register_blueprint(blp)
