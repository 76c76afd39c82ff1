"""FailureRiskModel: features by name, batch = singles, the booster's fast path, info, loading."""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import xgboost

from pumpapi.channels import BY_NAME, CHANNEL_NAMES
from pumpapi.models import compiled
from pumpapi.models.compiled import TOLERANCE
from pumpapi.models.registry import ModelRegistry
from pumpapi.models.store import ModelStore, sha256_of
from pumpapi.models.xgboost import (
    AT_RISK,
    FEATURE_CHANNELS,
    FEATURE_ORDER,
    HEALTHY,
    FailureRiskModel,
    json_numbers,
)
from pumpapi.training import xgboost as training
from tests.fixtures.xgboost import answers

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


def test_key_order_never_changes_the_answer(xgboost_model, xgboost_trained):
    reading = _at_risk_reading(xgboost_model, xgboost_trained)
    reversed_keys = dict(reversed(list(reading.items())))
    assert list(reversed_keys) != list(reading)
    assert answers(xgboost_model, reversed_keys) == answers(xgboost_model, reading)
    # ... while moving values between features does change it: the model reads names. (Engine
    # speed and oil pressure: every failure mode in the simulator moves one of them.)
    swapped = {**reading, "rotacao_motor_rpm": reading["pressao_oleo_bar"]}
    swapped["pressao_oleo_bar"] = reading["rotacao_motor_rpm"]
    assert answers(xgboost_model, swapped) != answers(xgboost_model, reading)


def test_rows_follow_the_versions_feature_order(xgboost_model):
    spec_order = np.array([[1800.0, 4.5, 24.1, 27.8]])  # FEATURE_ORDER, as the schemas give it
    assert xgboost_model.rows_of_features(spec_order).tolist() == spec_order.tolist()
    xgboost_model.feature_order = tuple(reversed(FEATURE_ORDER))
    assert xgboost_model.rows_of_features(spec_order).tolist() == [[27.8, 24.1, 4.5, 1800.0]]


def test_stored_readings_give_each_feature_from_its_channel(xgboost_model):
    from pumpapi.channels import CHANNEL_NAMES
    from pumpapi.models.xgboost import MissingChannel

    values = {name: float(i) for i, name in enumerate(CHANNEL_NAMES)}
    row = xgboost_model.rows_of_readings(np.array([[values[c] for c in CHANNEL_NAMES]]))
    expected = [values[xgboost_model.feature_channels[f]] for f in xgboost_model.feature_order]
    assert row.tolist() == [expected]
    assert list(xgboost_model.features_of_reading(values).values()) == expected
    with pytest.raises(MissingChannel) as missing:
        xgboost_model.features_of_reading({**values, "Oil_P": float("nan")})
    assert missing.value.channel == "Oil_P"


def test_batch_equals_singles(xgboost_model, xgboost_trained):
    records = _records(_fleet_rows(xgboost_trained, limit=200))
    batch = answers(xgboost_model, records)
    assert batch == [answers(xgboost_model, record)[0] for record in records]
    assert {a.prediction for a in batch} == {HEALTHY, AT_RISK}


def test_predict_equals_booster_predict_on_a_dmatrix(xgboost_model, xgboost_trained):
    rows = _fleet_rows(xgboost_trained)
    fast = xgboost_model.predictor(rows)
    reference = xgboost_model.booster.predict(
        xgboost.DMatrix(rows, feature_names=list(FEATURE_ORDER))
    )
    assert np.abs(fast.astype(np.float64) - reference).max() <= TOLERANCE
    # What is answered: the trees' probabilities with the linear part, calibrated and guarded.
    answered = xgboost_model.predict(rows)
    expected, _ = xgboost_model.postprocess(rows, reference)
    assert np.abs(answered.astype(np.float64) - expected).max() <= 1e-5
    assert answered.shape == (len(rows),) and answered.dtype == np.float32
    assert ((answered >= 0) & (answered <= 1)).all()


def test_label_follows_the_stored_threshold(xgboost_model, xgboost_trained):
    threshold = np.float32(xgboost_trained.report.metadata["threshold"])
    assert xgboost_model.threshold == xgboost_trained.report.metadata["threshold"]
    at, below = xgboost_model.classify(np.array([threshold, np.nextafter(threshold, 0)]))
    assert (at.prediction, at.at_risk) == (AT_RISK, True)
    assert (below.prediction, below.at_risk) == (HEALTHY, False)


def test_probabilities_are_short_decimals_of_the_float32_output(xgboost_model):
    (assessment,) = xgboost_model.classify(np.array([0.05], dtype=np.float32))
    assert assessment.probability == 0.05


def test_json_numbers_are_what_str_gives_each_float32():
    values = np.random.default_rng(5).random(20_000).astype(np.float32)
    edges = [0.0, 1.0, 0.05, 0.1, 1e-8, np.finfo(np.float32).tiny, 1e-45, 0.99999994]
    values = np.concatenate([values, np.array(edges, dtype=np.float32)])
    got = json_numbers(values)
    assert all(type(v) is float for v in got)
    assert got == [float(str(v)) for v in values]


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


# -- the predictor: compiled library (tl2cgen) or XGBoost --------------------------------------


def _random_rows(n: int, seed: int) -> np.ndarray:
    """Readings drawn uniformly over every feature's accepted range."""
    ranges = [BY_NAME[FEATURE_CHANNELS[name]] for name in FEATURE_ORDER]
    return np.random.default_rng(seed).uniform(
        [c.minimum for c in ranges], [c.maximum for c in ranges], size=(n, len(ranges))
    )


def _diff(model: FailureRiskModel, rows: np.ndarray) -> float:
    return float(np.abs(model.predictor(rows) - model.booster.inplace_predict(rows)).max())


def _store_copy(tmp_path, xgboost_trained):
    root = tmp_path / "models"
    shutil.copytree(xgboost_trained.root, root)
    return root, root / "xgboost" / "1"


def _edit_metadata(version_dir, edit) -> None:
    path = version_dir / "metadata.json"
    metadata = json.loads(path.read_text())
    edit(metadata)
    path.write_text(json.dumps(metadata))


def _load(root, **config) -> tuple[ModelRegistry, object]:
    registry = ModelRegistry(ModelStore(root), {"PREDICT_THREADS": 1, **config})
    return registry, registry.load("xgboost")


@pytest.fixture(scope="module")
def uncompiled_root(tmp_path_factory, xgboost_trained):
    """The same fleet published without a compiled library, as versions before it were."""
    store = ModelStore(tmp_path_factory.mktemp("xgboost-uncompiled"))
    options = dataclasses.replace(xgboost_trained.options, compile_predictor=False)
    training.train(options, store, fleet=xgboost_trained.fleet)
    return store.root


def test_the_published_library_answers_and_info_says_so(xgboost_model, xgboost_client):
    assert xgboost_model.predictor.kind == "tl2cgen"
    info = xgboost_model.info()["predictor"]
    assert info["kind"] == "tl2cgen" and "reason" not in info
    assert 0 <= info["max_abs_diff"] <= TOLERANCE and info["checked_rows"] > 500
    body = xgboost_client.get("/model/xgboost/info").get_json()
    assert body["model_info"]["predictor"] == info


@pytest.mark.parametrize("seed", [1, 2])
def test_compiled_equals_xgboost_on_random_batches_of_1000(xgboost_model, seed):
    rows = _random_rows(1000, seed)
    probabilities = xgboost_model.predict(rows)
    assert probabilities.shape == (1000,) and probabilities.dtype == np.float32
    assert _diff(xgboost_model, rows) <= TOLERANCE


def test_compiled_equals_xgboost_on_fleet_readings(xgboost_model, xgboost_trained):
    assert _diff(xgboost_model, _fleet_rows(xgboost_trained)) <= TOLERANCE


def test_compiled_equals_xgboost_one_row_at_a_time(xgboost_model, xgboost_trained):
    rows = np.vstack([_random_rows(100, 3), _fleet_rows(xgboost_trained, limit=100)])
    batch = xgboost_model.predictor(rows)
    for i, row in enumerate(rows):
        one = xgboost_model.predictor(row[None, :])  # the library's own one-row entry point
        assert one.shape == (1,) and one.dtype == np.float32
        reference = xgboost_model.booster.inplace_predict(row[None, :])
        assert abs(float(one[0]) - float(reference[0])) <= TOLERANCE
        assert one[0] == batch[i]  # the same trees, summed in the same order


def test_probe_set_spans_every_range_and_the_library_equals_xgboost_on_it(xgboost_model):
    probe = compiled.probe_rows(FEATURE_ORDER, FEATURE_CHANNELS)
    assert 300 <= len(probe) <= 1000
    for j, name in enumerate(FEATURE_ORDER):
        channel = BY_NAME[FEATURE_CHANNELS[name]]
        assert probe[:, j].min() == channel.minimum and probe[:, j].max() == channel.maximum
        assert len(np.unique(probe[:, j])) > compiled.SWEEP_POINTS
    assert (probe == [1800.0, 4.5, np.float32(24.1), np.float32(27.8)]).all(axis=1).any()
    np.testing.assert_array_equal(probe, compiled.probe_rows(FEATURE_ORDER, FEATURE_CHANNELS))
    assert _diff(xgboost_model, probe) <= TOLERANCE


def test_split_rows_sit_on_and_beside_every_threshold(xgboost_model):
    booster = xgboost_model.booster
    base = compiled.typical_rows(FEATURE_ORDER, FEATURE_CHANNELS)
    rows = compiled.split_rows(booster, base)
    trees = json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]["model"]["trees"]
    root = next(t for t in trees if t["left_children"][0] != -1)  # a tree that splits
    feature, threshold = root["split_indices"][0], root["split_conditions"][0]
    at = np.float32(threshold)
    for value in (np.nextafter(at, np.float32(-np.inf)), at, np.nextafter(at, np.float32(np.inf))):
        assert (rows[:, feature] == value).sum() >= len(base)
    assert _diff(xgboost_model, rows) <= TOLERANCE


def test_concurrent_threads_get_what_one_thread_gets(xgboost_model):
    rows = [_random_rows(1 + i % 7, seed=i) for i in range(200)]
    expected = [xgboost_model.predict(r) for r in rows]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(xgboost_model.predict, rows))
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_array_equal(e, g)


def _predict_and_send(model: FailureRiskModel, rows: np.ndarray, sender) -> None:
    sender.send(model.predict(rows))
    sender.close()


def test_a_forked_child_predicts_with_the_library_loaded_before_fork(xgboost_model):
    """gunicorn's preload: loaded (and warmed up) in the master, used in the workers."""
    rows = _random_rows(50, 4)
    expected = xgboost_model.predict(rows)
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_predict_and_send, args=(xgboost_model, rows, sender))
    child.start()
    try:
        assert receiver.poll(60), "the forked child did not answer (hung in the library?)"
        got = receiver.recv()
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0
    np.testing.assert_array_equal(got, expected)


def test_a_version_published_without_the_library_is_served_by_xgboost(uncompiled_root, caplog):
    meta = json.loads((uncompiled_root / "xgboost" / "1" / "metadata.json").read_text())
    assert "compiled_predictor" not in meta and "predictor.so" not in meta["files"]
    registry, status = _load(uncompiled_root)
    assert status.ready
    model = registry.get("xgboost")
    assert model.predictor.kind == "xgboost"
    assert "has no compiled predictor" in model.info()["predictor"]["reason"]
    rows = _random_rows(100, 5)
    np.testing.assert_array_equal(model.predictor(rows), model.booster.inplace_predict(rows))


def test_compiled_mode_fails_the_load_naming_why(uncompiled_root, make_app):
    registry, status = _load(uncompiled_root, XGBOOST_PREDICTOR="compiled")
    assert not status.ready
    assert "XGBOOST_PREDICTOR=compiled" in status.error
    assert "has no compiled predictor" in status.error
    app = make_app(
        MODEL_STORE=str(uncompiled_root), MODEL_FAMILIES=("xgboost",), XGBOOST_PREDICTOR="compiled"
    )
    ready = app.test_client().get("/health/ready").get_json()
    assert "has no compiled predictor" in ready["components"]["model:xgboost"]["error"]


def test_xgboost_mode_never_uses_the_library(xgboost_trained):
    registry, status = _load(xgboost_trained.root, XGBOOST_PREDICTOR="xgboost")
    model = registry.get("xgboost")
    assert model.predictor.kind == "xgboost"
    assert model.info()["predictor"] == {"kind": "xgboost", "reason": "XGBOOST_PREDICTOR=xgboost"}
    rows = _random_rows(100, 6)
    np.testing.assert_array_equal(model.predictor(rows), model.booster.inplace_predict(rows))


def test_compiled_mode_serves_the_library_when_it_is_usable(xgboost_trained):
    registry, status = _load(xgboost_trained.root, XGBOOST_PREDICTOR="compiled")
    assert status.ready and registry.get("xgboost").predictor.kind == "tl2cgen"


def test_an_unknown_mode_fails_the_load(xgboost_trained):
    registry, status = _load(xgboost_trained.root, XGBOOST_PREDICTOR="fastest")
    assert not status.ready and "expected one of auto, xgboost, compiled" in status.error


def test_a_tampered_library_is_refused_by_its_checksum(tmp_path, xgboost_trained):
    root, version = _store_copy(tmp_path, xgboost_trained)
    library = version / "predictor.so"
    data = bytearray(library.read_bytes())
    data[-10] ^= 0xFF
    library.write_bytes(bytes(data))
    registry, status = _load(root)
    assert not status.ready
    assert "checksum mismatch for predictor.so" in status.error


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (
            lambda m: m["compiled_predictor"].update(platform="linux-sparc64"),
            "compiled for linux-sparc64",
        ),
        (
            lambda m: m["compiled_predictor"].update(tl2cgen_version="0.3.1"),
            "built with tl2cgen 0.3.1",
        ),
        (lambda m: m["files"].pop("predictor.so"), "not among its checksummed files"),
    ],
    ids=["platform", "tl2cgen-version", "unlisted"],
)
def test_a_library_this_process_cannot_trust_leaves_xgboost_answering(
    tmp_path, xgboost_trained, edit, reason
):
    root, version = _store_copy(tmp_path, xgboost_trained)
    _edit_metadata(version, edit)
    registry, status = _load(root)
    assert status.ready
    predictor = registry.get("xgboost").predictor
    assert predictor.kind == "xgboost" and reason in predictor.reason
    _, strict = _load(root, XGBOOST_PREDICTOR="compiled")
    assert not strict.ready and reason in strict.error


def test_a_library_that_answers_differently_is_refused_with_an_error(
    tmp_path, xgboost_trained, caplog
):
    """A library built from other trees (here: three fitted to random labels) passes its
    checksum but not the comparison with the booster."""
    root, version = _store_copy(tmp_path, xgboost_trained)
    rng = np.random.default_rng(0)
    rows = _random_rows(500, 9)
    booster = xgboost.train(
        {"objective": "binary:logistic", "max_depth": 3, "nthread": 1},
        xgboost.DMatrix(
            rows, label=rng.integers(0, 2, len(rows)), feature_names=list(FEATURE_ORDER)
        ),
        3,
    )
    other = tmp_path / "other.so"
    assert training.compile_predictor(booster, other) is not None
    shutil.copyfile(other, version / "predictor.so")
    _edit_metadata(
        version,
        lambda m: m["files"]["predictor.so"].update(sha256=sha256_of(version / "predictor.so")),
    )
    with caplog.at_level(logging.ERROR, logger="pumpapi.models.compiled"):
        registry, status = _load(root)
    assert status.ready
    predictor = registry.get("xgboost").predictor
    assert predictor.kind == "xgboost" and "differs from XGBoost by up to" in predictor.reason
    assert any("differs from XGBoost" in r.getMessage() for r in caplog.records)
    _, strict = _load(root, XGBOOST_PREDICTOR="compiled")
    assert not strict.ready and "differs from XGBoost" in strict.error
