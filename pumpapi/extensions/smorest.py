"""flask-smorest subclassed once for the project: Api, Blueprint, Schema, strict numbers."""

from __future__ import annotations

import math
from http import HTTPStatus
from pathlib import Path
from typing import Any

import flask
import flask_smorest
import flask_swagger_ui
import marshmallow as ma
from marshmallow import fields
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser, is_json_request

from pumpapi import errors, limits
from pumpapi.extensions import views

# swagger-ui's dist/ ships inside flask-swagger-ui: served by the app, so /docs works offline.
SWAGGER_UI_DIST = Path(flask_swagger_ui.__file__).parent / "dist"
SWAGGER_UI_ASSETS = "/docs/assets/"

OPENAPI_CONFIG = {
    "API_TITLE": "PumpAPI",
    "API_VERSION": "1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "/docs",
    "OPENAPI_SWAGGER_UI_URL": SWAGGER_UI_ASSETS,
    "API_SPEC_OPTIONS": {
        "info": {
            "description": "Inference service of a fleet of diesel motor pumps: failure risk "
            "(XGBoost), lubrication and hydraulic health (GRU), signal forecasts (LSTM), "
            "computed from a posted reading or from a pump's telemetry in PostgreSQL. "
            "Every error is JSON: {success: false, error, code, status, errors}."
        }
    },
}


class Api(flask_smorest.Api):
    """The project's Api: errors go through the one envelope of `pumpapi.errors`."""

    #: Every error response of the document refers to the envelope, registered as "Error" by
    #: `init_app` (None made flask-smorest refer to `#/components/schemas/None`).
    ERROR_SCHEMA = "Error"

    def handle_http_exception(self, error):
        return errors.handle_http_exception(error)


class Parser(FlaskParser):
    """webargs' Flask parser, reading JSON bodies with `pumpapi.limits.read_json` (orjson,
    ~4× the standard library; NaN literals still reach validation, which names the field)."""

    def _raw_load_json(self, req: flask.Request) -> Any:
        if not is_json_request(req):
            return webargs_core.missing
        return limits.read_json(req.get_data(cache=True))


class Blueprint(flask_smorest.Blueprint):
    """The project's Blueprint: request bodies read by `Parser`, schemas built once."""

    def body(self, declared: Any):
        """The request body of a view from one declaration (`fastpath.OneOrMany`): loaded by
        its schema, documented as its `request_body()` (`oneOf` one record or a list)."""

        def decorator(view):
            view = self.doc(requestBody=declared.request_body())(view)
            return self.arguments(declared.schema)(view)

        return decorator

    ARGUMENTS_PARSER = Parser()

    def arguments(self, schema: Any, **kwargs: Any):
        """flask-smorest's `arguments`, also recording on the method that it reads a JSON body
        (pumpapi.extensions.views: limits refuses other media types for it)."""
        # Given a schema class, webargs builds an instance on every request (its fields are
        # deep-copied); schemas hold no per-request state, so one instance serves all.
        if isinstance(schema, type):
            schema = schema()
        decorate = super().arguments(schema, **kwargs)
        json_body = kwargs.get("location", "json") == "json"

        def decorator(func):
            wrapped = decorate(func)
            if json_body:
                setattr(wrapped, views.JSON_BODY, True)
            return wrapped

        return decorator


class Schema(ma.Schema):
    """Base schema: unknown fields are an error, never silently dropped."""

    class Meta:
        unknown = ma.RAISE


class ResponseSchema(Schema):
    """The schema of a successful answer that its view builds as plain JSON types, in exactly
    this shape: it documents the answer, and the answer is sent as built.

    marshmallow's dump works value by value (for a batch of 1,000 results, far more than the
    model: bench/notes.md, "Figures behind the code"). When the app
    is testing, dump does its work and checks that it changes nothing, so every test request
    verifies the answer against its documented shape.
    """

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        if not flask.current_app.testing:
            return obj
        dumped = super().dump(obj, many=many)
        if dumped != obj:
            raise AssertionError(
                f"{type(self).__name__}: the view's answer is not in its documented shape:\n"
                f"sent   {obj!r}\ndumped {dumped!r}"
            )
        return dumped


class StrictFloat(fields.Float):
    """A JSON number only: no strings, no booleans, no NaN or Infinity."""

    default_error_messages = {
        "invalid": "Not a valid number.",
        "special": "NaN and Infinity are not accepted; send a finite number.",
    }

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("allow_nan", False)
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.make_error("special")
        return super()._deserialize(value, attr, data, **kwargs)


class ErrorEnvelopeSchema(Schema):
    """The error body of every non-2xx answer."""

    success = fields.Boolean(metadata={"description": "Always false."})
    error = fields.String(metadata={"description": "One sentence a person can act on."})
    code = fields.Integer(metadata={"description": "The HTTP status code."})
    status = fields.String(metadata={"description": "The HTTP status phrase."})
    errors = fields.Dict(
        metadata={"description": "Messages per field at fault, when fields are at fault."}
    )


def init_app(app: flask.Flask) -> Api:
    """Create the Api for this app (never at import time) and serve Swagger UI's assets."""
    for key, value in OPENAPI_CONFIG.items():
        app.config.setdefault(key, value)
    assets = flask.Blueprint(
        "swagger_ui_assets",
        __name__,
        static_folder=str(SWAGGER_UI_DIST),
        static_url_path=SWAGGER_UI_ASSETS.rstrip("/"),
    )
    app.register_blueprint(assets)
    api = Api(app)
    api.spec.components.schema("Error", schema=ErrorEnvelopeSchema)
    for code in (400, 404, 405, 413, 422, 500, 503):
        api.spec.components.response(
            str(code),
            {
                "description": HTTPStatus(code).phrase,
                "content": {"application/json": {"schema": "Error"}},
            },
        )
    return api
