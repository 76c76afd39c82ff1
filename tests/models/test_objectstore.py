"""The model store in object storage, against a real S3 API server (moto's, its own process):
publish order, verified pulls, the cache serving through an outage or a corrupted bucket."""

from __future__ import annotations

import json
import shutil

import boto3
import pytest
from click.testing import CliRunner

from pumpapi.cli import main
from pumpapi.errors import ArtifactCorrupted
from pumpapi.models.objectstore import ObjectStore, parse
from pumpapi.models.store import ModelStore

SPEC_READING = {
    "rotacao_motor_rpm": 1800,
    "pressao_oleo_bar": 4.5,
    "tensao_bateria_v": 24.1,
    "tensao_alternador_v": 27.8,
}


def _keys(location: str) -> list[str]:
    bucket, prefix = parse(location)
    listed = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for item in listed.get("Contents", [])]


@pytest.fixture
def local(tmp_path, xgboost_trained) -> ModelStore:
    """A writable copy of the session's trained xgboost store, with a second version."""
    root = tmp_path / "local"
    shutil.copytree(xgboost_trained.root, root)
    shutil.copytree(root / "xgboost" / "1", root / "xgboost" / "2")
    meta = json.loads((root / "xgboost" / "2" / "metadata.json").read_text())
    meta["version"] = "2"
    (root / "xgboost" / "2" / "metadata.json").write_text(json.dumps(meta))
    return ModelStore(root)


def test_push_writes_artifacts_then_metadata_then_the_pointer(bucket, local):
    remote = ObjectStore(bucket)
    calls = []
    client = remote.client
    original = client.put_object  # upload_file sends small files with it too

    def spy(**kwargs):
        calls.append(kwargs["Key"].rsplit("/", 1)[-1])
        return original(**kwargs)

    client.put_object = spy
    remote.push(local.resolve("xgboost", "1"))
    artifacts = set(local.resolve("xgboost", "1").metadata["files"])
    assert set(calls[: len(artifacts)]) == artifacts, calls
    assert calls[len(artifacts) :] == ["metadata.json", "aliases.json"]
    assert remote.versions("xgboost") == ["1"] and remote.aliases("xgboost") == {"latest": "1"}


def test_a_pull_is_verified_before_it_enters_the_cache(bucket, local, tmp_path):
    remote = ObjectStore(bucket)
    remote.push(local.resolve("xgboost", "1"))
    cache = ModelStore(tmp_path / "cache")
    pulled = remote.pull("xgboost", "1", cache)
    pulled.verify()
    # A corrupted object: the pull fails and leaves nothing in the cache.
    name, bucket_name = "model.ubj", parse(bucket)[0]
    key = f"{parse(bucket)[1]}/xgboost/2/{name}"
    remote.push(local.resolve("xgboost", "2"))
    boto3.client("s3").put_object(Bucket=bucket_name, Key=key, Body=b"not a model")
    with pytest.raises(ArtifactCorrupted, match="checksum mismatch"):
        remote.pull("xgboost", "2", cache)
    assert cache.versions("xgboost") == ["1"]
    assert not [p for p in (cache.root / "xgboost").iterdir() if p.name.startswith(".")]


def test_the_app_serves_from_the_bucket_and_keeps_serving_when_it_goes(
    bucket, local, tmp_path, make_app, monkeypatch
):
    ObjectStore(bucket).push(local.resolve("xgboost", "1"))
    cache = tmp_path / "cache"
    app = make_app(MODEL_STORE=bucket, MODEL_CACHE=str(cache), MODEL_FAMILIES=("xgboost",))
    client = app.test_client()
    assert client.post("/model/xgboost/predict", json=SPEC_READING).status_code == 200
    ready = client.get("/health/ready").get_json()["components"]
    assert ready["model:xgboost"]["version"] == "1" and ready["model_store"]["error"] is None
    # The object storage goes away (nothing listens there any more): the cached version
    # serves, and readiness says why.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    gone = make_app(MODEL_STORE=bucket, MODEL_CACHE=str(cache), MODEL_FAMILIES=("xgboost",))
    answer = gone.test_client().post("/model/xgboost/predict", json=SPEC_READING)
    assert answer.status_code == 200
    components = gone.test_client().get("/health/ready").get_json()["components"]
    assert components["model:xgboost"]["ready"] is True
    assert "unreachable" in components["model_store"]["error"]
    assert "serving the cached versions" in components["model_store"]["error"]


def test_a_rollback_in_the_bucket_wins_over_a_higher_cached_version(bucket, local, tmp_path):
    remote = ObjectStore(bucket)
    remote.push(local.resolve("xgboost", "1"))
    remote.push(local.resolve("xgboost", "2"))
    cache = ModelStore(tmp_path / "cache")
    remote.sync(cache, ["xgboost"])
    assert cache.resolve("xgboost").version == "2"
    remote.point("xgboost", "1", ["latest"])  # roll back
    report = remote.sync(cache, ["xgboost"])
    assert report.errors == []
    assert cache.resolve("xgboost").version == "1"


def test_a_corrupted_latest_leaves_the_cached_version_serving(bucket, local, tmp_path):
    remote = ObjectStore(bucket)
    remote.push(local.resolve("xgboost", "1"))
    cache = ModelStore(tmp_path / "cache")
    remote.sync(cache, ["xgboost"])
    remote.push(local.resolve("xgboost", "2"))
    bucket_name, prefix = parse(bucket)
    boto3.client("s3").put_object(
        Bucket=bucket_name, Key=f"{prefix}/xgboost/2/model.ubj", Body=b"corrupted"
    )
    report = remote.sync(cache, ["xgboost"])
    assert report.errors and "checksum mismatch" in report.errors[0]
    assert cache.resolve("xgboost").version == "1"


def test_commands_push_list_and_pull(bucket, local, tmp_path, s3_env):
    runner = CliRunner()
    pushed = runner.invoke(
        main, ["models", "push", "--store", str(local.root), "--to", bucket, "xgboost", "1"]
    )
    assert pushed.exit_code == 0, pushed.output
    listed = runner.invoke(main, ["models", "list", "--store", bucket, "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert [(r["family"], r["version"], r["aliases"]) for r in rows] == [
        ("xgboost", "1", ["latest"])
    ]
    target = tmp_path / "pulled"
    pulled = runner.invoke(
        main, ["models", "pull", "--store", str(target), "--from", bucket, "xgboost"]
    )
    assert pulled.exit_code == 0, pulled.output
    ModelStore(target).resolve("xgboost", "1").verify()
    missing = runner.invoke(
        main, ["models", "pull", "--store", str(target), "--from", bucket, "gru"]
    )
    assert missing.exit_code != 0 and "gru" in missing.output


def test_training_publishes_to_the_bucket(bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("PUMPAPI_MODEL_CACHE", str(tmp_path / "cache"))
    result = CliRunner().invoke(
        main,
        ["train", "xgboost", "--store", bucket, "--pumps", "60", "--steps", "20000"],
    )
    assert result.exit_code == 0, result.output
    remote = ObjectStore(bucket)
    assert remote.aliases("xgboost") == {"latest": "1"}
    assert any(key.endswith("xgboost/1/metadata.json") for key in _keys(bucket))
