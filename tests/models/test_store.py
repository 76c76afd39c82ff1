"""The model store (atomic versions, latest, checksums) and the registry that loads from it."""

from __future__ import annotations

import json
import shutil

import pytest

from pumpapi.errors import ArtifactCorrupted, ModelNotFound, ModelNotReady
from pumpapi.models.registry import ModelRegistry
from pumpapi.models.store import METADATA_FILE, ModelStore, sha256_of


def _publish(store: ModelStore, family: str = "demo", payload: bytes = b"weights") -> str:
    with store.new_version(family) as draft:
        draft.file("model.bin").write_bytes(payload)
        draft.metadata["threshold"] = 0.5
    return draft.version


def test_new_version_is_invisible_until_complete(tmp_path):
    store = ModelStore(tmp_path)
    with store.new_version("demo") as draft:
        draft.file("model.bin").write_bytes(b"weights")
        # Half-written: readers see no version at all.
        assert store.versions("demo") == []
        with pytest.raises(ModelNotFound):
            store.resolve("demo")
    assert draft.version == "1"
    stored = store.resolve("demo")
    assert stored.version == "1"
    assert stored.path == tmp_path / "demo" / "1"
    assert stored.metadata["family"] == "demo"
    assert stored.metadata["created_at"]
    assert stored.metadata["files"]["model.bin"] == {
        "sha256": sha256_of(stored.file("model.bin")),
        "bytes": 7,
    }
    stored.verify()


def test_failed_write_leaves_nothing_behind(tmp_path):
    store = ModelStore(tmp_path)
    with pytest.raises(RuntimeError), store.new_version("demo") as draft:
        draft.file("model.bin").write_bytes(b"half")
        raise RuntimeError("training crashed")
    assert store.versions("demo") == []
    assert list((tmp_path / "demo").iterdir()) == []


def test_latest_is_the_highest_version_numerically(tmp_path):
    store = ModelStore(tmp_path)
    for i in range(11):
        _publish(store, payload=f"v{i}".encode())
    assert store.versions("demo")[-3:] == ["9", "10", "11"]
    assert store.resolve("demo").version == "11"
    assert store.resolve("demo", "2").version == "2"
    assert store.families() == ["demo"]


def test_unknown_family_or_version_is_model_not_found(tmp_path):
    store = ModelStore(tmp_path)
    with pytest.raises(ModelNotFound, match="pumpapi train demo"):
        store.resolve("demo")
    _publish(store)
    with pytest.raises(ModelNotFound, match="available: 1"):
        store.resolve("demo", "7")


def test_checksum_mismatch_and_missing_file_are_detected(tmp_path):
    store = ModelStore(tmp_path)
    _publish(store)
    stored = store.resolve("demo")
    stored.file("model.bin").write_bytes(b"tampered")
    with pytest.raises(ArtifactCorrupted, match="checksum mismatch for model.bin"):
        stored.verify()
    stored.file("model.bin").unlink()
    with pytest.raises(ArtifactCorrupted, match="model.bin is missing"):
        stored.verify()


def test_unreadable_metadata_is_artifact_corrupted(tmp_path):
    store = ModelStore(tmp_path)
    _publish(store)
    (tmp_path / "demo" / "1" / METADATA_FILE).write_text("{not json")
    with pytest.raises(ArtifactCorrupted, match="unreadable metadata.json"):
        store.resolve("demo")


# -- the registry, with the real xgboost family ---------------------------------------------


@pytest.fixture
def corrupted_store(tmp_path, xgboost_trained):
    """A copy of the trained store whose artifact no longer matches its sha256."""
    root = tmp_path / "models"
    shutil.copytree(xgboost_trained.root, root)
    artifact = root / "xgboost" / "1" / "model.ubj"
    data = bytearray(artifact.read_bytes())
    data[-10] ^= 0xFF
    artifact.write_bytes(bytes(data))
    return root


def test_registry_loads_latest_and_serves_it(xgboost_trained):
    registry = ModelRegistry(xgboost_trained.store, {"PREDICT_THREADS": 1})
    status = registry.load("xgboost")
    assert status.ready and status.version == "1" and status.error is None
    assert registry.get("xgboost").version.version == "1"


def test_corrupted_artifact_leaves_the_family_not_ready_with_the_reason(corrupted_store):
    registry = ModelRegistry(ModelStore(corrupted_store), {"PREDICT_THREADS": 1})
    status = registry.load("xgboost")
    assert not status.ready
    assert "checksum mismatch for model.ubj" in status.error
    with pytest.raises(ModelNotReady, match="checksum mismatch"):
        registry.get("xgboost")


def test_family_not_configured_is_not_found(xgboost_trained):
    registry = ModelRegistry(xgboost_trained.store, {})
    with pytest.raises(ModelNotFound):
        registry.get("xgboost")


def test_readiness_reports_the_corrupted_model_and_predict_answers_503(make_app, corrupted_store):
    app = make_app(MODEL_STORE=str(corrupted_store), MODEL_FAMILIES=("xgboost",))
    client = app.test_client()

    ready = client.get("/health/ready")
    assert ready.status_code == 503
    component = ready.get_json()["components"]["model:xgboost"]
    assert component["ready"] is False
    assert "checksum mismatch" in component["error"]

    response = client.post(
        "/model/xgboost/predict",
        json={
            "rotacao_motor_rpm": 1800,
            "pressao_oleo_bar": 4.5,
            "tensao_bateria_v": 24.1,
            "tensao_alternador_v": 27.8,
        },
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    body = response.get_json()
    assert body["success"] is False and body["code"] == 503
    assert "checksum mismatch" in body["error"]
    assert client.get("/model/xgboost/info").status_code == 503


def test_empty_store_answers_503_naming_the_training_command(make_app, tmp_path):
    app = make_app(MODEL_STORE=str(tmp_path / "empty"), MODEL_FAMILIES=("xgboost",))
    response = app.test_client().get("/model/xgboost/info")
    assert response.status_code == 503
    assert "pumpapi train xgboost" in response.get_json()["error"]


def test_metadata_is_plain_json_with_every_file_checksummed(xgboost_trained):
    version_dir = xgboost_trained.root / "xgboost" / "1"
    metadata = json.loads((version_dir / METADATA_FILE).read_text())
    files = {p.name for p in version_dir.iterdir()} - {METADATA_FILE}
    assert set(metadata["files"]) == files == {"model.ubj", "predictor.so", "window.ubj"}
    assert not any(name.endswith((".pkl", ".pickle", ".joblib")) for name in files)
