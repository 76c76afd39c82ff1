"""`pumpapi simulate` and `pumpapi serve` (what `make serve` runs), as a user runs them."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import requests
from click.testing import CliRunner

from pumpapi import db
from pumpapi.channels import CHANNEL_NAMES
from pumpapi.cli import main
from pumpapi.devtools.processes import free_port

ROOT = Path(__file__).resolve().parents[1]


def _count(url: str) -> int:
    with psycopg.connect(db.to_conninfo(url)) as conn:
        return conn.execute("SELECT count(*) FROM readings").fetchone()[0]


def test_simulate_writes_a_csv(tmp_path):
    out = tmp_path / "fleet.csv"
    result = CliRunner().invoke(
        main, ["simulate", "--pumps", "2", "--steps", "50", "--seed", "3", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 100
    assert set(rows[0]) == {"machine", "timestamp", *CHANNEL_NAMES}
    assert {r["machine"] for r in rows} == {"MOTOBOMBA-001", "MOTOBOMBA-002"}


def test_simulate_loads_the_database_idempotently(database_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    args = ["simulate", "--pumps", "3", "--steps", "40"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "120 readings" in first.output
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert "0 readings" in again.output
    assert _count(database_url) == 120


def test_simulate_without_a_database_says_what_to_do(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    result = CliRunner().invoke(main, ["simulate", "--pumps", "1", "--steps", "5"])
    assert result.exit_code != 0
    assert "DATABASE_URL is not set" in result.output


@pytest.mark.integration
def test_serve_prepares_everything_then_stops_cleanly(database_url, xgboost_trained, tmp_path):
    port = free_port()
    env = {
        "DATABASE_URL": database_url,
        "PUMPAPI_MODEL_STORE": str(xgboost_trained.root),
        "PUMPAPI_MODEL_FAMILIES": "xgboost",
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
    }
    args = [sys.executable, "-m", "pumpapi", "serve", "--bind", f"127.0.0.1:{port}"]
    args += ["--pumps", "3", "--days", "0.05", "--var-dir", str(tmp_path / "var")]
    log = (tmp_path / "serve.log").open("w+")
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while "Swagger UI" not in (tmp_path / "serve.log").read_text():
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        text = (tmp_path / "serve.log").read_text()
        assert f"http://127.0.0.1:{port}/docs" in text
        assert "loaded 216 readings of 3 simulated pumps" in text
        assert "xgboost version 1 in store, reusing it" in text
        ready = requests.get(f"http://127.0.0.1:{port}/health/ready", timeout=5)
        assert ready.status_code == 200, ready.text
        machines = requests.get(f"http://127.0.0.1:{port}/machines", timeout=5).json()
        assert machines["count"] == 3
        # Least privilege: the workers read as the SELECT-only role and write (telemetry, events,
        # the prediction log) as the writer, both pools opened by the workers' start hook; never
        # as DATABASE_URL's user.
        assert "serving as pumpapi_reader (SELECT only)" in text
        # (Polled: a test run just before may leave its closed sessions listed for a moment.)
        deadline = time.monotonic() + 10
        while True:
            with psycopg.connect(database_url) as conn:
                users = conn.execute(
                    "SELECT DISTINCT usename FROM pg_stat_activity"
                    " WHERE application_name = 'pumpapi'"
                ).fetchall()
            if sorted(users) == [("pumpapi_reader",), ("pumpapi_writer",)]:
                break
            assert time.monotonic() < deadline, users
            time.sleep(0.2)
        assert (tmp_path / "var" / "secrets").stat().st_mode & 0o077 == 0
        # What `make serve` prints as the API's address answers, with links.
        root = requests.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert root.status_code == 200 and root.json()["links"]["docs"] == "/docs"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=40)
        log.close()
    assert process.returncode == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/health", timeout=2)
