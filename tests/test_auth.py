"""API keys (pumpapi.auth): constant-time matching; reads open unless READ_API_KEYS is set."""

from pumpapi.auth import key_matches


def test_key_matches_only_a_whole_configured_key():
    keys = ("alpha-key", "beta-key")
    assert key_matches("beta-key", keys)
    assert not key_matches("beta", keys)
    assert not key_matches("beta-key ", keys)
    assert not key_matches("beta-key", ())
    assert not key_matches("\udcff", keys)  # undecodable header bytes do not crash


def test_reads_are_open_by_default(client):
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/model/xgboost/info").status_code == 404  # not served: no 401


def test_read_keys_close_reads_but_not_health_or_docs(make_app):
    client = make_app(READ_API_KEYS=("reader-key",), INGEST_API_KEYS=("writer-key",)).test_client()
    closed = client.get("/model/xgboost/info")
    assert closed.status_code == 401 and closed.get_json()["success"] is False
    assert client.get("/model/xgboost/info", headers={"X-API-Key": "nope"}).status_code == 403
    for key in ("reader-key", "writer-key"):
        assert client.get("/model/xgboost/info", headers={"X-API-Key": key}).status_code == 404
    for path in ("/health", "/health-check", "/ping", "/openapi.json", "/docs"):
        assert client.get(path).status_code == 200, path


def test_a_reader_key_cannot_ingest(make_app):
    client = make_app(READ_API_KEYS=("reader-key",), INGEST_API_KEYS=("writer-key",)).test_client()
    response = client.post(
        "/machine/telemetry", json={"readings": []}, headers={"X-API-Key": "reader-key"}
    )
    assert response.status_code == 403


def test_keys_are_masked_by_the_settings_command(runner, monkeypatch):
    monkeypatch.setenv("PUMPAPI_INGEST_API_KEYS", "very-secret-key")
    monkeypatch.setenv("PUMPAPI_INGEST_DATABASE_URL", "postgresql://writer:pw123@db/telemetry")
    from pumpapi.cli import main

    result = runner.invoke(main, ["settings"])
    assert result.exit_code == 0, result.output
    assert "very-secret-key" not in result.output and "pw123" not in result.output
    assert "PUMPAPI_INGEST_API_KEYS" in result.output
