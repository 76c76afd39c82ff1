"""FailureRiskModel: features by name, batch = singles, the booster's fast path, info, loading."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import xgboost

from pumpapi.errors import InvalidInput
from pumpapi.models.registry import ModelRegistry
from pumpapi.models.store import ModelStore, sha256_of
from pumpapi.models.xgboost import AT_RISK, FEATURE_ORDER, HEALTHY, FailureRiskModel
from pumpapi.telemetry import CHANNEL_NAMES

READING = {
    "rotacao_motor_rpm": 1800.0,
    "pressao_oleo_bar": 4.5,
    "tensao_bateria_v": 24.1,
    "tensao_alternador_v": 27.8,
}


def _fleet_rows(trained, limit: int = 5000) -> np.ndarray:
    """Real readings of the simulated fleet (running and stopped), as model rows."""
    columns = [CHANNEL_NAMES.index(c) for c in ("Eng_RPM", "Oil_P", "Bat_V", "Char_V")]
    rows = np.concatenate([pump.readings[:, columns] for pump in trained.fleet[:5]])
    return rows[:: max(1, len(rows) // limit)]


def _records(rows: np.ndarray) -> list[dict[str, float]]:
    return [dict(zip(FEATURE_ORDER, map(float, row), strict=True)) for row in rows]


def _at_risk_reading(model: FailureRiskModel, trained) -> dict[str, float]:
    rows = _fleet_rows(trained)
    return _records(rows[[int(np.argmax(model.predict(rows)))]])[0]


def test_loaded_with_one_prediction_thread(xgboost_model):
    config = json.loads(xgboost_model.booster.save_config())
    assert config["learner"]["generic_param"]["nthread"] == "1"
    assert xgboost_model.ready


def test_key_order_never_changes_the_answer(xgboost_model, xgboost_trained):
    reading = _at_risk_reading(xgboost_model, xgboost_trained)
    reversed_keys = dict(reversed(list(reading.items())))
    assert list(reversed_keys) != list(reading)
    assert xgboost_model.assess(reversed_keys) == xgboost_model.assess(reading)
    # ... while moving values between features does change it: the model reads names. (Engine
    # speed and oil pressure: every failure mode in the simulator moves one of them.)
    swapped = {**reading, "rotacao_motor_rpm": reading["pressao_oleo_bar"]}
    swapped["pressao_oleo_bar"] = reading["rotacao_motor_rpm"]
    assert xgboost_model.assess(swapped) != xgboost_model.assess(reading)


def test_rows_follow_feature_order_whatever_the_key_order(xgboost_model):
    shuffled = {k: READING[k] for k in ("tensao_alternador_v", "rotacao_motor_rpm",
                                        "tensao_bateria_v", "pressao_oleo_bar")}  # fmt: skip
    rows = xgboost_model.rows_from_records(shuffled)
    assert rows.tolist() == [[1800.0, 4.5, 24.1, 27.8]]


def test_batch_equals_singles(xgboost_model, xgboost_trained):
    records = _records(_fleet_rows(xgboost_trained, limit=200))
    batch = xgboost_model.assess(records)
    assert batch == [xgboost_model.assess(record)[0] for record in records]
    assert {a.prediction for a in batch} == {HEALTHY, AT_RISK}


def test_inplace_predict_equals_booster_predict_on_a_dmatrix(xgboost_model, xgboost_trained):
    rows = _fleet_rows(xgboost_trained)
    fast = xgboost_model.predict(rows)
    reference = xgboost_model.booster.predict(
        xgboost.DMatrix(rows, feature_names=list(FEATURE_ORDER))
    )
    np.testing.assert_allclose(fast, reference, rtol=1e-6, atol=1e-7)
    assert fast.shape == (len(rows),)
    assert ((fast >= 0) & (fast <= 1)).all()


def test_label_follows_the_stored_threshold(xgboost_model, xgboost_trained):
    threshold = np.float32(xgboost_trained.report.metadata["threshold"])
    assert xgboost_model.threshold == xgboost_trained.report.metadata["threshold"]
    at, below = xgboost_model.classify(np.array([threshold, np.nextafter(threshold, 0)]))
    assert (at.prediction, at.at_risk) == (AT_RISK, True)
    assert (below.prediction, below.at_risk) == (HEALTHY, False)


def test_probabilities_are_short_decimals_of_the_float32_output(xgboost_model):
    (assessment,) = xgboost_model.classify(np.array([0.05], dtype=np.float32))
    assert assessment.probability == 0.05


def test_missing_feature_names_the_column(xgboost_model):
    incomplete = {k: v for k, v in READING.items() if k != "pressao_oleo_bar"}
    with pytest.raises(InvalidInput, match=r"Colunas esperadas \['pressao_oleo_bar'\]"):
        xgboost_model.rows_from_records(incomplete)


def test_predict_rejects_rows_of_the_wrong_width(xgboost_model):
    with pytest.raises(ValueError, match="expected rows of 4 features"):
        xgboost_model.predict(np.zeros((2, 3)))


def test_info_answers_what_the_info_endpoint_needs(xgboost_model, xgboost_trained):
    info = xgboost_model.info()
    meta = xgboost_trained.report.metadata
    assert info["name"] == "xgboost-failure-risk"
    assert info["version"] == "1"
    assert info["created_at"] == meta["created_at"]
    assert info["trained_at"] == meta["trained_at"]
    assert info["tags"]["fixture"] == "tiny"
    assert info["metrics"]["roc_auc"] == meta["metrics"]["roc_auc"]
    assert info["library"] == {"name": "xgboost", "version": xgboost.__version__}
    assert [f["name"] for f in info["features"]] == list(FEATURE_ORDER)
    assert [f["channel"] for f in info["features"]] == ["Eng_RPM", "Oil_P", "Bat_V", "Char_V"]
    assert info["threshold"] == meta["threshold"]
    assert info["horizon"]["hours"] == 24.0
    artifact = xgboost_trained.root / "xgboost" / "1" / "model.ubj"
    assert info["checksum"] == {"algorithm": "sha256", "file": "model.ubj",
                                "value": sha256_of(artifact)}  # fmt: skip


def test_load_refuses_metadata_whose_feature_order_disagrees_with_the_booster(
    tmp_path, xgboost_trained
):
    root = tmp_path / "models"
    shutil.copytree(xgboost_trained.root, root)
    metadata_file = root / "xgboost" / "1" / "metadata.json"
    metadata = json.loads(metadata_file.read_text())
    metadata["feature_order"] = list(reversed(metadata["feature_order"]))
    metadata_file.write_text(json.dumps(metadata))
    registry = ModelRegistry(ModelStore(root), {"PREDICT_THREADS": 1})
    status = registry.load("xgboost")
    assert not status.ready
    assert "differ from the metadata's feature_order" in status.error


def test_serving_works_without_scikit_learn(xgboost_trained):
    """The serving image has no scikit-learn: loading and predicting must not need it."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["sklearn"] = None  # any import of it now fails
        from pumpapi import create_app
        app = create_app({{"MODEL_STORE": {str(xgboost_trained.root)!r},
                          "MODEL_FAMILIES": ("xgboost",), "TESTING": True}})
        client = app.test_client()
        response = client.post("/model/xgboost/predict", json={READING!r})
        assert response.status_code == 200, response.get_json()
        assert client.get("/model/xgboost/info").status_code == 200
        assert "pumpapi.training.xgboost" not in sys.modules
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
