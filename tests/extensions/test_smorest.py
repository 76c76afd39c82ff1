"""OpenAPI document, offline Swagger UI, and the strict number field."""

import math

import marshmallow as ma
import pytest

from pumpapi.extensions.smorest import Schema, StrictFloat


def test_openapi_json_is_served_and_describes_the_error_envelope(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    assert "/health" in spec["paths"]
    assert set(spec["components"]["schemas"]["Error"]["properties"]) >= {
        "success",
        "error",
        "code",
        "status",
        "errors",
    }


def test_swagger_ui_loads_its_assets_from_the_app(client):
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/openapi.json" in html
    # Every script and stylesheet the page references is served by the app itself.
    for asset in ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"):
        assert f"/docs/assets/{asset}" in html
        response = client.get(f"/docs/assets/{asset}")
        assert response.status_code == 200, asset
        assert len(response.data) > 1000
    assert "http://" not in html and "https://" not in html


class _Reading(Schema):
    value = StrictFloat(required=True)


@pytest.mark.parametrize("value", [1, 1.5, -3.0, 0])
def test_strict_float_accepts_json_numbers(value):
    assert _Reading().load({"value": value}) == {"value": float(value)}


@pytest.mark.parametrize("value", ["1.5", True, None, [1], {"a": 1}, math.nan, math.inf, -math.inf])
def test_strict_float_rejects_everything_else(value):
    with pytest.raises(ma.ValidationError) as info:
        _Reading().load({"value": value})
    assert "value" in info.value.messages


def test_schema_rejects_unknown_fields():
    with pytest.raises(ma.ValidationError) as info:
        _Reading().load({"value": 1, "extra": 2})
    assert "extra" in info.value.messages


def test_request_schemas_are_built_once_not_per_request(app, monkeypatch):
    # webargs builds an instance of a schema class on every request (~60 µs); the project's
    # Blueprint hands it one instance instead.
    from flask.views import MethodView

    from pumpapi.extensions.smorest import Blueprint

    built = []

    class Counted(Schema):
        value = StrictFloat(required=True)

        def __init__(self, *args, **kwargs):
            built.append(1)
            super().__init__(*args, **kwargs)

    blp = Blueprint("counted", __name__)

    @blp.route("/counted")
    class View(MethodView):
        @blp.arguments(Counted)
        def post(self, body):
            return {"value": body["value"]}

    app.extensions["pumpapi.api"].register_blueprint(blp)
    before = len(built)
    client = app.test_client()
    for value in (1, 2, 3):
        assert client.post("/counted", json={"value": value}).get_json() == {"value": value}
    assert len(built) == before


def test_the_openapi_document_is_valid_with_every_family(make_app):
    """openapi-spec-validator on the document as served (every family's routes in it):
    every $ref resolves (DEFAULT_ERROR once pointed at #/components/schemas/None)."""
    from openapi_spec_validator import validate

    app = make_app(MODEL_FAMILIES=("xgboost", "gru", "lstm"))
    document = app.test_client().get("/openapi.json").get_json()
    validate(document)
    default_error = document["components"]["responses"]["DEFAULT_ERROR"]
    assert default_error["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
