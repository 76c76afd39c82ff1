"""The model lifecycle end to end: trained into a bucket on a real S3 API server (moto's own
process), served by two instances through nginx, promoted and rolled back under load with no
failed request, pinned per request, and still serving when the bucket goes away."""

from __future__ import annotations

import time
from collections import Counter

import boto3
import pytest
import requests
from click.testing import CliRunner

from pumpapi.cli import main
from tests.fixtures.nginx import start_nginx, stop_nginx
from tests.fixtures.objectstore import S3Server
from tests.integration.test_promotion import READING, Load

pytestmark = pytest.mark.integration


@pytest.fixture
def own_s3(tmp_path, monkeypatch):
    """An S3 server of this test's own, which the test may stop."""
    server = S3Server(tmp_path / "moto.log")
    server.start()
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    boto3.client("s3").create_bucket(Bucket="models")
    yield server
    server.stop()


def _run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_train_serve_promote_roll_back_and_survive_the_bucket(
    own_s3, gunicorn_server, tmp_path, monkeypatch
):
    bucket = "s3://models/production"
    monkeypatch.setenv("PUMPAPI_MODEL_CACHE", str(tmp_path / "trainer-cache"))
    for _ in range(2):
        _run("train", "xgboost", "--store", bucket, "--pumps", "60", "--steps", "20000")
    _run("models", "promote", "xgboost", "1", "--store", bucket)  # latest: 1
    _run("models", "promote", "xgboost", "2", "--alias", "candidate", "--store", bucket)
    instances = [
        gunicorn_server(
            {
                "PUMPAPI_MODEL_STORE": bucket,
                "PUMPAPI_MODEL_CACHE": str(tmp_path / f"cache-{n}"),
                "PUMPAPI_MODEL_FAMILIES": "xgboost",
                "PUMPAPI_MODEL_WATCH_SECONDS": "1",
            },
            workers=1,
        )
        for n in range(2)
    ]
    nginx, runtime = start_nginx(instances, "pumpapi-nginx-")
    url = f"http://{nginx.config.listen}"
    try:
        pinned = requests.post(f"{url}/model/xgboost/predict?version=candidate", json=READING)
        assert pinned.status_code == 200 and pinned.headers["X-Model-Version"] == "2"
        with Load(url) as load:
            time.sleep(1.0)
            started = time.monotonic()
            _run("models", "promote", "xgboost", "2", "--store", bucket)
            swap = load.wait_for("2", started)
            started = time.monotonic()
            _run("models", "promote", "xgboost", "1", "--store", bucket)
            rollback = load.wait_for("1", started)
            # The object storage goes away: both instances keep serving their cache.
            own_s3.stop()
            time.sleep(3)
        ready = requests.get(f"{url}/health/ready").json()
        assert "unreachable" not in str(ready)  # readiness at start had the bucket; still 200
        statuses = Counter(status for _, status, _ in load.answers)
        versions = Counter(version for *_, version in load.answers)
        print(
            f"\nlifecycle through nginx: {sum(statuses.values())} requests, {statuses}, "
            f"versions {versions}, swap {swap:.1f} s, rollback {rollback:.1f} s"
        )
        assert set(statuses) == {200}, statuses
        assert swap < 30 and rollback < 30
        # A new instance started while the bucket is gone has nothing cached: not ready, and
        # readiness says why; one with a cache serves it.
        cached = gunicorn_server(
            {
                "PUMPAPI_MODEL_STORE": bucket,
                "PUMPAPI_MODEL_CACHE": str(tmp_path / "cache-0"),
                "PUMPAPI_MODEL_FAMILIES": "xgboost",
                "PUMPAPI_MODEL_WATCH_SECONDS": "0",
            }
        )
        body = requests.get(f"{cached.url}/health/ready").json()
        assert body["components"]["model:xgboost"]["ready"] is True
        assert "unreachable" in body["components"]["model_store"]["error"]
        answer = requests.post(f"{cached.url}/model/xgboost/predict", json=READING)
        assert answer.status_code == 200 and answer.headers["X-Model-Version"] == "1"
    finally:
        stop_nginx(nginx, runtime)
