"""Liveness, readiness and the compatibility aliases (SPEC)."""


def test_health_is_the_spec_body(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "message": "Service is healthy"}


def test_health_check_alias_answers_get_and_post(client):
    for method in (client.get, client.post):
        response = method("/health-check")
        assert response.status_code == 200
        assert response.get_json() == {"status": "healthy"}


def test_ping(client):
    assert client.get("/ping").get_json() == {"ping": "pong"}


def test_readiness_without_database_is_503_and_says_why(client):
    response = client.get("/health/ready")
    assert response.status_code == 503
    body = response.get_json()
    assert body["ready"] is False
    assert body["components"]["database"]["ready"] is False
    assert "DATABASE_URL" in body["components"]["database"]["error"]


def test_readiness_reports_a_configured_family_missing_from_the_store(make_app):
    client = make_app(MODEL_FAMILIES=("xgboost",)).test_client()
    body = client.get("/health/ready").get_json()
    component = body["components"]["model:xgboost"]
    assert component["ready"] is False
    assert "pumpapi train xgboost" in component["error"]
