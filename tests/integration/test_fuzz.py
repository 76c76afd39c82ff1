"""The whole API fuzzed by schemathesis from its own /openapi.json: real gunicorn, real PostgreSQL.

`st run --checks all` with a fixed seed and a time bound. Zero failures allowed: no 500, no
answer outside its documented schema (e.g. Infinity), the documented status codes, content
types and headers, `Allow` on 405, schema-valid data accepted and invalid data refused, keys
enforced on ingestion.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pumpapi import db
from tests.fixtures.db import fresh_schema, pump_history
from tests.fixtures.gunicorn import GunicornServer

pytestmark = pytest.mark.integration

KEY = "fuzz-ingest-key"
#: Examples per operation and phase; with the coverage and stateful phases, > MIN_CASES cases.
MAX_EXAMPLES = 5
MIN_CASES = 2000
SEED = 20251203  # the same cases in CI as here: a failure is reproducible
MAX_SECONDS = 180  # the run's own time bound (fuzzing stops, what ran is checked)


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory, pg_cluster, xgboost_trained, keras_trained):
    """One gunicorn for the whole module, serving every family and a database with pumps."""
    store = tmp_path_factory.mktemp("fuzz-models")
    for trained in (xgboost_trained, keras_trained):
        shutil.copytree(trained.root, store, dirs_exist_ok=True)
    with fresh_schema(pg_cluster) as url:
        db.copy_fleet(
            db.to_conninfo(url),
            [pump_history(f"MOTOBOMBA-00{i}", 120, seed=i) for i in range(1, 4)],
        )
        server = GunicornServer(
            {
                "DATABASE_URL": url,
                "PUMPAPI_MODEL_STORE": str(store),
                "PUMPAPI_MODEL_FAMILIES": "xgboost,gru,lstm",
                "PUMPAPI_INGEST_API_KEYS": KEY,
                "PUMPAPI_ACCESS_LOG": "/dev/null",
            },
            tmp_path_factory.mktemp("fuzz-logs") / "gunicorn.log",
        )
        server.start()
        try:
            yield server
        finally:
            server.stop()


def test_api_answers_every_input_within_its_contract(fuzzed_server, tmp_path, capsys):
    """`st run --checks all` (the schemathesis CLI, every phase: examples, coverage, fuzzing,
    stateful), a fixed seed and a time bound: zero failures over at least MIN_CASES cases."""
    report = tmp_path / "events.ndjson"
    command = [
        str(Path(sys.executable).parent / "st"),
        f"--config-file={Path(__file__).parent / 'schemathesis.toml'}",
        "run",
        f"{fuzzed_server.url}/openapi.json",
        "--checks=all",
        f"--max-examples={MAX_EXAMPLES}",
        f"--seed={SEED}",
        f"--max-time={MAX_SECONDS}",
        "--workers=1",
        f"--header=X-API-Key: {KEY}",
        "--report=ndjson",
        f"--report-ndjson-path={report}",
        "--no-color",
    ]
    # Run from tmp_path: schemathesis keeps a cache (.schemathesis/) in its working directory.
    run = subprocess.run(
        command, capture_output=True, text=True, timeout=MAX_SECONDS + 120, cwd=tmp_path
    )
    cases = _cases(report)
    with capsys.disabled():
        print(f"\nschemathesis --checks all, seed {SEED}: {cases} cases, exit {run.returncode}")
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    assert cases >= MIN_CASES, run.stdout[-5000:]


def _cases(report: Path) -> int:
    """Test cases the run sent, from its NDJSON event stream (one ScenarioFinished each)."""
    count = 0
    for line in report.read_text().splitlines():
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if finished:
            count += len((finished.get("recorder") or {}).get("cases") or {})
    return count


def test_a_method_not_allowed_says_which_are(fuzzed_server):
    import requests

    for path in ("/machine/telemetry", "/model/xgboost/predict", "/health"):
        response = requests.delete(f"{fuzzed_server.url}{path}", timeout=5)
        assert response.status_code == 405
        assert response.headers["Allow"]
        assert response.json()["success"] is False
