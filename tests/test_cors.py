"""CORS (pumpapi.cors): off unless CORS_ORIGINS names the origins allowed."""

import pytest

ALLOWED = "https://dashboard.example.com"
OTHER = "https://elsewhere.example.org"
ALLOW_ORIGIN = "Access-Control-Allow-Origin"


def preflight(client, origin, path="/machine/telemetry"):
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Content-Type, X-API-Key",
        },
    )


def test_no_cors_headers_by_default(client):
    for response in (
        client.get("/health-check", headers={"Origin": ALLOWED}),
        preflight(client, ALLOWED),
    ):
        assert ALLOW_ORIGIN not in response.headers
        assert not any(h.startswith("Access-Control-") for h in response.headers.keys())


@pytest.mark.parametrize(
    "configured", [(ALLOWED,), f" {ALLOWED} , https://other-dashboard.example.com"]
)
def test_a_configured_origin_gets_cors_headers_and_another_does_not(make_app, configured):
    client = make_app(CORS_ORIGINS=configured, INGEST_API_KEYS=("k",)).test_client()

    answer = preflight(client, ALLOWED)
    # A preflight carries no API key: it must not be refused as unauthenticated.
    assert answer.status_code == 200
    assert answer.headers[ALLOW_ORIGIN] == ALLOWED
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]
    assert "x-api-key" in answer.headers["Access-Control-Allow-Headers"].lower()

    simple = client.get("/health-check", headers={"Origin": ALLOWED})
    assert simple.status_code == 200
    assert simple.headers[ALLOW_ORIGIN] == ALLOWED
    assert "X-Request-ID" in simple.headers["Access-Control-Expose-Headers"]

    for response in (
        preflight(client, OTHER),
        client.get("/health-check", headers={"Origin": OTHER}),
    ):
        assert ALLOW_ORIGIN not in response.headers


def test_the_key_is_still_required_on_the_request_itself(make_app):
    client = make_app(CORS_ORIGINS=(ALLOWED,), INGEST_API_KEYS=("k",)).test_client()
    response = client.post("/machine/telemetry", json={"readings": []}, headers={"Origin": ALLOWED})
    assert response.status_code == 401
    # The browser may read the refusal (and say why) rather than see an opaque CORS failure.
    assert response.headers[ALLOW_ORIGIN] == ALLOWED
