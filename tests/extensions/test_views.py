"""Request policies: declared where a view is registered, collected once per app."""

from __future__ import annotations

import pytest
from flask import Flask

from pumpapi.extensions import views


@pytest.fixture
def policies(app):
    return app.extensions["pumpapi.view_policies"]


def test_every_registered_route_and_method_has_a_policy(app, policies):
    for rule in app.url_map.iter_rules():
        for method in rule.methods:
            assert (rule.endpoint, method) in policies


def test_declared_policies_are_collected(policies):
    telemetry = policies[("telemetry.Telemetry", "POST")]
    assert telemetry.api_keys_setting == "INGEST_API_KEYS"
    assert telemetry.api_keys_purpose == "Sending telemetry"
    assert telemetry.body_limit_setting == "INGEST_MAX_CONTENT_LENGTH"
    assert set(telemetry.accepted_media_types) == {"application/json", "text/csv"}
    assert policies[("events.StoreEvents", "POST")].api_keys_purpose == "Sending events"
    assert policies[("fleet.login", "POST")].accepted_media_types == (
        "application/x-www-form-urlencoded",
    )
    assert any(p.reads_raw_body for (endpoint, _), p in policies.items() if "inference" in endpoint)


def test_a_json_body_is_recorded_per_method_by_the_blueprint(policies):
    assert policies[("xgboost.Predict", "POST")].reads_json_body
    assert not policies[("machines.Machines", "GET")].reads_json_body
    # Query arguments are not a body.
    assert not policies[("xgboost.MachinePredict", "POST")].reads_json_body


def test_an_undeclared_view_has_the_empty_policy():
    app = Flask(__name__)
    app.add_url_rule("/plain", "plain", lambda: "ok")

    @app.route("/declared", methods=["POST"])
    @views.declare(api_keys="SOME_KEYS", purpose="Doing it", media_types=("text/plain",))
    def declared():
        return "ok"

    table = views.collect(app)
    assert table[("plain", "GET")] == views.ViewPolicy()
    assert table[("declared", "POST")] == views.ViewPolicy(
        api_keys_setting="SOME_KEYS",
        accepted_media_types=("text/plain",),
        api_keys_purpose="Doing it",
    )
    with app.test_request_context("/nowhere"):
        from flask import request

        assert views.policy(app, request) == views.ViewPolicy()
