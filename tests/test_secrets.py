"""Secrets (database passwords, API keys) never reach logs, error bodies or `pumpapi settings`."""

from __future__ import annotations

import logging

from click.testing import CliRunner

from pumpapi.cli import main

PASSWORD = "s3cr3t-db-pass"
INGEST_KEY = "ingest-key-5f1e"
READ_KEY = "read-key-77aa"


def test_settings_command_masks_every_secret(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg2://admin:{PASSWORD}@db:5434/Sync")
    monkeypatch.setenv("PUMPAPI_INGEST_DATABASE_URL", f"postgresql://w:{PASSWORD}@db/Sync")
    monkeypatch.setenv("PUMPAPI_INGEST_API_KEYS", INGEST_KEY)
    monkeypatch.setenv("PUMPAPI_READ_API_KEYS", READ_KEY)
    result = CliRunner().invoke(main, ["settings"])
    assert result.exit_code == 0, result.output
    for secret in (PASSWORD, INGEST_KEY, READ_KEY):
        assert secret not in result.output
    assert "host=db" in result.output  # the rest of the URL is still shown


def test_requests_with_keys_and_a_failing_database_log_no_secret(make_app, caplog):
    app = make_app(
        # Nothing listens there: every database call fails, and is logged.
        DATABASE_URL=f"postgresql://admin:{PASSWORD}@127.0.0.1:9/pumpapi",
        INGEST_API_KEYS=(INGEST_KEY,),
        READ_API_KEYS=(READ_KEY,),
        DB_CONNECT_TIMEOUT=1,
        DB_POOL_TIMEOUT=0.5,
    )
    client = app.test_client()
    caplog.set_level(logging.DEBUG)
    responses = [
        client.get("/machines", headers={"X-API-Key": READ_KEY}),
        client.get("/machines", headers={"X-API-Key": "wrong-" + READ_KEY}),
        client.get("/health/ready"),
        client.post(
            "/machine/telemetry",
            json={"readings": []},
            headers={"X-API-Key": INGEST_KEY},
        ),
    ]
    assert [r.status_code for r in responses[:2]] == [503, 403]
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert logged  # the failures were logged ...
    bodies = "\n".join(r.get_data(as_text=True) for r in responses)
    for secret in (PASSWORD, INGEST_KEY, READ_KEY):
        assert secret not in logged  # ... without a secret
        assert secret not in bodies
