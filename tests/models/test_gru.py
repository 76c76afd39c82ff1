"""The GRU health family: bands, padding, scaling, LiteRT against Keras, backends, loading."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from pumpapi.channels import BY_NAME, CHANNEL_NAMES, CHANNELS
from pumpapi.errors import InvalidInput
from pumpapi.models.gru import (
    RUNNING_FROM_RPM,
    WINDOW,
    HealthIndexModel,
    answered_windows,
    pad_window,
    status_band,
)
from pumpapi.models.registry import ModelRegistry
from pumpapi.models.scaling import SCALER_FILE, MinMaxScaling
from pumpapi.models.store import ModelStore
from pumpapi.models.support import MARGIN
from tests.fixtures.tensorflow import LITERT_CONFIG, loaded_model


def random_windows(n: int, seed: int = 0, steps: int = WINDOW) -> np.ndarray:
    """Windows of readings spread over each channel's physical range."""
    rng = np.random.default_rng(seed)
    low = np.array([c.minimum for c in CHANNELS])
    high = np.array([c.maximum for c in CHANNELS])
    return low + rng.random((n, steps, len(CHANNELS))) * (high - low)


def loaded(store: ModelStore, config=LITERT_CONFIG) -> HealthIndexModel:
    return loaded_model(store, "gru", config)


def trained_windows(model: HealthIndexModel, n: int, seed: int = 0) -> np.ndarray:
    """Windows of readings spread over each channel's range in the training data."""
    rng = np.random.default_rng(seed)
    low, high = model.scaler.data_min, model.scaler.data_max
    return low + rng.random((n, WINDOW, len(CHANNELS))) * (high - low)


class FixedScores:
    """Stands in for the LiteRT runner: always the same 0–1 outputs."""

    backend = "litert"

    def __init__(self, *scores: float):
        self.scores = np.array([scores], dtype=np.float32)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.scores


@pytest.mark.parametrize(
    ("value", "band"),
    [
        (100.0, "OK"),
        (70.0, "OK"),
        (69.99, "ATENÇÃO"),
        (40.0, "ATENÇÃO"),
        (39.99, "ALERTA"),
        (0.0, "ALERTA"),
    ],
)
def test_status_bands_follow_the_spec_at_their_edges(value, band):
    assert status_band(value) == band


@pytest.mark.parametrize(
    ("scores", "indices", "status"),
    [
        ((0.70, 0.40), (70.0, 40.0), ("OK", "ATENÇÃO")),
        ((0.6999, 0.3999), (69.99, 39.99), ("ATENÇÃO", "ALERTA")),
        # 69.996 shows as 70.0: the band is that of the number the client reads.
        ((0.69996, 0.0), (70.0, 0.0), ("OK", "ALERTA")),
    ],
)
def test_assessment_rounds_the_index_then_bands_it(keras_trained, scores, indices, status):
    model = loaded(keras_trained.store)
    model.runner = FixedScores(*scores)
    model.healthy_means = {}  # the band of the number, not the guard (tested below)
    result = model.assess(trained_windows(model, 1)[0])
    assert result.warnings == []
    assert tuple(result.indices.values()) == indices
    assert tuple(result.status.values()) == status
    assert tuple(result.indices) == ("lubrificacao", "hidraulico")


def test_a_window_unlike_any_healthy_training_window_is_never_ok(keras_trained):
    # The network would rate it 95 (OK) on both indices; a window inside every healthy range
    # keeps that, one with a channel's mean beyond them is answered ATENÇÃO for that index.
    model = loaded(keras_trained.store)
    model.runner = FixedScores(0.95, 0.95)
    low, high = model.healthy_means["hidraulico"]
    lub_low, lub_high = model.healthy_means["lubrificacao"]
    inside = np.repeat(((np.maximum(low, lub_low) + np.minimum(high, lub_high)) / 2)[None], 60, 0)
    assert model.indices(inside[None])[0] == pytest.approx([95.0, 95.0])
    suction = CHANNEL_NAMES.index("Succao")
    unlike = inside.copy()
    unlike[:, suction] = low[suction] - 0.05  # within the trained range, below healthy pumps'
    assert model.trained.columns_warnings(unlike, CHANNEL_NAMES) == []
    lub, hyd = model.indices(unlike[None])[0]
    assert hyd < 70.0
    assert lub == pytest.approx(95.0) or unlike[0, suction] < lub_low[suction]
    # The answer says why: the channel, its window mean and the healthy windows' range of it.
    assessment = model.assess(unlike)
    assert assessment.status["hidraulico"] == "ATENÇÃO"
    assert {
        "code": "BEYOND_HEALTHY_WINDOWS",
        "field": "Succao",
        "value": pytest.approx(unlike[0, suction]),
        "trained_range": [low[suction], high[suction]],
        "index": "hidraulico",
    } in assessment.warnings
    assert model.assess(inside).warnings == []


def test_one_reading_is_padded_to_a_steady_window():
    reading = np.arange(8, dtype=np.float64)[np.newaxis]
    window, padded = pad_window(reading)
    assert window.shape == (WINDOW, 8) and padded == WINDOW - 1
    assert (window == reading).all()


def test_a_short_window_repeats_its_oldest_reading_in_front():
    readings = np.arange(10 * 8, dtype=np.float64).reshape(10, 8)
    window, padded = pad_window(readings)
    assert padded == 50
    assert (window[:50] == readings[0]).all()
    assert (window[50:] == readings).all()


def test_a_full_window_is_untouched_and_a_longer_one_keeps_its_latest_readings():
    readings = np.arange(75 * 8, dtype=np.float64).reshape(75, 8)
    window, padded = pad_window(readings[-WINDOW:])
    assert padded == 0 and (window == readings[-WINDOW:]).all()
    window, padded = pad_window(readings)
    assert padded == 0 and (window == readings[-WINDOW:]).all()


def test_an_empty_window_is_invalid_input():
    with pytest.raises(InvalidInput):
        pad_window(np.empty((0, 8)))


def test_assess_reports_given_and_padded_rows(keras_trained):
    model = loaded(keras_trained.store)
    result = model.assess(random_windows(1, steps=12)[0])
    assert (result.given_rows, result.padded_rows) == (12, 48)
    assert all(0.0 <= v <= 100.0 for v in result.indices.values())


def test_a_window_with_the_wrong_number_of_channels_is_invalid_input(keras_trained):
    model = loaded(keras_trained.store)
    with pytest.raises(InvalidInput, match="8 channels"):
        model.assess(np.zeros((60, 7)))


def test_minmax_scaling_is_sklearns_transform_and_survives_json():
    from sklearn.preprocessing import MinMaxScaler

    data = random_windows(1, seed=3)[0]
    fitted = MinMaxScaler().fit(data)
    scaling = MinMaxScaling.from_json(
        json.loads(json.dumps(MinMaxScaling.from_sklearn(fitted, CHANNEL_NAMES).to_json()))
    )
    probe = random_windows(1, seed=4)[0]
    assert np.array_equal(scaling.transform(probe), fitted.transform(probe))
    assert scaling.n_features_in == 8 and scaling.feature_names == CHANNEL_NAMES


def test_the_scaler_file_holds_numbers_fitted_on_training_pumps(keras_trained):
    document = json.loads(keras_trained.store.resolve("gru").file(SCALER_FILE).read_text())
    assert document["class"] == "MinMaxScaler"
    assert document["feature_names"] == list(CHANNEL_NAMES)
    assert all(isinstance(v, float) for v in document["data_min"] + document["data_max"])


def test_litert_outputs_match_keras_within_1e_5(keras_trained):
    import keras

    stored = keras_trained.store.resolve("gru")
    model = loaded(keras_trained.store)
    reference = keras.models.load_model(stored.file("model.keras"), compile=False)
    windows = trained_windows(model, 32, seed=1)
    scaled = model.scaler.transform(windows).astype(np.float32)
    expected = np.asarray(reference.predict_on_batch(scaled))
    served = np.concatenate([model.scores(w[np.newaxis]) for w in windows])
    assert model.runner.backend == "litert"
    assert np.max(np.abs(served - expected)) <= 1e-5


def test_the_tensorflow_backend_answers_like_litert(keras_trained):
    litert = loaded(keras_trained.store)
    tensorflow = loaded(keras_trained.store, {**LITERT_CONFIG, "TF_BACKEND": "tensorflow"})
    windows = random_windows(4, seed=2)
    assert tensorflow.runner.backend == "tensorflow"
    assert np.max(np.abs(tensorflow.scores(windows) - litert.scores(windows))) <= 1e-5


def test_an_unknown_backend_is_refused_at_load(keras_trained):
    with pytest.raises(ValueError, match="TF_BACKEND"):
        loaded(keras_trained.store, {**LITERT_CONFIG, "TF_BACKEND": "onnx"})


def test_info_has_the_seed_fields_and_the_served_checksum(keras_trained):
    info = loaded(keras_trained.store).info()
    stored = keras_trained.store.resolve("gru")
    assert info["model_type"] == "Functional"
    assert info["library"] == "tensorflow.keras"
    assert info["input_shape"] == [None, 60, 8]
    assert info["output_shape"] == [None, 2]
    assert (info["timesteps"], info["n_features"]) == (60, 8)
    assert info["scaler_class"] == "MinMaxScaler"
    assert info["scaler_has_feature_names"] is False
    assert info["scaler_n_features_in"] == 8
    assert info["feature_order"] == list(CHANNEL_NAMES)
    assert isinstance(info["file_size_mb"], float)
    assert len(info["last_modified"]) == len("2025-09-26 10:47:28")
    assert info["checksum"]["sha256"] == stored.metadata["files"]["model.tflite"]["sha256"]
    assert info["version"] == "1"
    assert set(info["metrics"]["held_out"]["mae"]) == {"lubrificacao", "hidraulico"}


def test_a_tampered_scaler_is_refused_by_the_registry(keras_trained, tmp_path):
    root = tmp_path / "store"
    shutil.copytree(keras_trained.root, root)
    scaler = root / "gru" / "1" / SCALER_FILE
    scaler.write_text(scaler.read_text().replace("MinMaxScaler", "StandardScaler"))
    registry = ModelRegistry(ModelStore(root), LITERT_CONFIG)
    status = registry.load("gru")
    assert not status.ready and "checksum mismatch" in status.error


def test_a_version_without_litert_artifact_asks_for_the_tensorflow_backend(keras_trained, tmp_path):
    root = tmp_path / "store"
    shutil.copytree(keras_trained.root, root)
    metadata_file = root / "gru" / "1" / "metadata.json"
    metadata = json.loads(metadata_file.read_text())
    metadata["artifacts"]["litert"] = None
    metadata["litert_error"] = "ConverterError: unsupported op"
    metadata_file.write_text(json.dumps(metadata))
    registry = ModelRegistry(ModelStore(root), LITERT_CONFIG)
    status = registry.load("gru")
    assert not status.ready
    assert "PUMPAPI_TF_BACKEND=tensorflow" in status.error and "unsupported op" in status.error
    tensorflow = {**LITERT_CONFIG, "TF_BACKEND": "tensorflow"}
    assert ModelRegistry(ModelStore(root), tensorflow).load("gru").ready


def run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_serving_both_families_through_litert_never_imports_tensorflow(keras_trained):
    out = run_python(
        f"""
        import sys
        from pumpapi import create_app
        app = create_app({{"MODEL_STORE": {str(keras_trained.root)!r},
                          "MODEL_FAMILIES": ("gru", "lstm"), "DATABASE_URL": None}})
        client = app.test_client()
        reading = {{"Eng_RPM": 1800, "Cool_T": 80, "Oil_P": 3.2, "Oil_L": 7.8,
                   "Recalque": 4.0, "Succao": 1.1, "Bat_V": 26.4, "Char_V": 27.2}}
        assert client.post("/model/gru/predict", json=reading).status_code == 200
        series = {{"data": list(range(60))}}
        assert client.post("/model/lstm/predict", json=series).status_code == 200
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")))
        """
    )
    assert out == "[]"


def test_the_tensorflow_backend_loads_nothing_of_tensorflow_before_the_first_prediction(
    keras_trained,
):
    # What a gunicorn master does (create_app: load + warmup) must not start TensorFlow: a TF
    # runtime created before fork hangs every worker. (Its answers: see the test above.)
    out = run_python(
        f"""
        import sys
        from pumpapi import create_app
        from pumpapi.models import registry
        app = create_app({{"MODEL_STORE": {str(keras_trained.root)!r}, "TF_BACKEND": "tensorflow",
                          "MODEL_FAMILIES": ("gru", "lstm"), "DATABASE_URL": None}})
        with app.app_context():
            ready = [registry().status()[family].ready for family in ("gru", "lstm")]
        print(ready, sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")))
        """
    )
    assert out == "[True, True] []"


def test_the_runner_follows_batch_shapes_as_they_change(keras_trained):
    model = loaded(keras_trained.store)
    windows = np.random.default_rng(3).uniform(0.2, 0.8, size=(3, WINDOW, 8)).astype(np.float32)
    one_by_one = [model.runner(windows[i : i + 1]) for i in range(3)]
    # 3, then 1, then 2, then 1 window: the input is resized each time the shape changes.
    np.testing.assert_allclose(model.runner(windows), np.vstack(one_by_one), atol=1e-6)
    np.testing.assert_array_equal(model.runner(windows[:1]), one_by_one[0])
    np.testing.assert_allclose(model.runner(windows[1:]), np.vstack(one_by_one[1:]), atol=1e-6)
    np.testing.assert_array_equal(model.runner(windows[2:]), one_by_one[2])


def test_a_window_outside_the_training_data_is_warned_about_and_never_ok(keras_trained):
    model = loaded(keras_trained.store)
    model.runner = FixedScores(0.99, 0.99)  # whatever the network says: it never saw this pump
    window = trained_windows(model, 1)[0]
    window[-1] = [c.maximum for c in CHANNELS]  # every channel at its physical maximum
    result = model.assess(window)
    fields = [w["field"] for w in result.warnings if w["code"] == "OUT_OF_TRAINING_RANGE"]
    assert fields == [c for c in CHANNEL_NAMES if BY_NAME[c].maximum > model.trained.ranges[c][1]]
    assert "Oil_P" in fields and "Recalque" in fields
    oil = next(w for w in result.warnings if w["field"] == "Oil_P")
    assert oil["code"] == "OUT_OF_TRAINING_RANGE" and oil["value"] == 20.0
    assert oil["trained_range"] == list(model.trained.ranges["Oil_P"])
    assert set(result.status.values()) == {"ATENÇÃO"}
    assert max(result.indices.values()) < 70


def test_a_window_is_capped_exactly_where_it_is_warned_about(keras_trained):
    """Within the warnings' margin beyond a trained extreme (sample noise: pumpapi.models.support)
    a value neither warns nor caps; beyond it, both. A capped answer always says why."""
    model = loaded(keras_trained.store)
    model.runner = FixedScores(0.95, 0.95)
    low, high = model.healthy_means["hidraulico"]
    lub_low, lub_high = model.healthy_means["lubrificacao"]
    window = np.repeat(((np.maximum(low, lub_low) + np.minimum(high, lub_high)) / 2)[None], 60, 0)
    channel = CHANNEL_NAMES.index("Char_V")
    trained_low, trained_high = model.trained.ranges["Char_V"]
    slack = MARGIN * (trained_high - trained_low)

    def answered(value):
        changed = window.copy()
        changed[-1, channel] = value
        return model.assess(changed)

    at_edge = answered(trained_high)
    assert at_edge.warnings == [] and at_edge.indices == {"lubrificacao": 95.0, "hidraulico": 95.0}
    within = answered(trained_high + 0.5 * slack)
    assert within.warnings == [] and within.indices == at_edge.indices
    beyond = answered(trained_high + 1.5 * slack)
    assert [w["field"] for w in beyond.warnings] == ["Char_V"]
    assert max(beyond.indices.values()) < 70


def test_the_network_sees_out_of_range_values_clipped_to_the_training_range(keras_trained):
    model = loaded(keras_trained.store)
    window = trained_windows(model, 1)[0]
    beyond = window.copy()
    beyond[:, 4] = 59.0  # Recalque far above any training value
    at_edge = window.copy()
    at_edge[:, 4] = model.scaler.data_max[4]
    assert np.allclose(model.scores(beyond[np.newaxis]), model.scores(at_edge[np.newaxis]))


def test_a_window_ending_stopped_is_answered_with_a_warning_only_when_the_version_knows(
    keras_trained,
):
    """ENGINE_STOPPED: the version's share of training windows that ended stopped is recorded
    at training; a window whose last reading is stopped carries it (indices answered, not
    capped), a running one does not, and a version without the record warns of nothing."""
    model = loaded(keras_trained.store)
    model.runner = FixedScores(0.95, 0.95)
    model.healthy_means = {}
    share = keras_trained.gru.metadata["stopped_window_share"]
    assert model.stopped_share == share and 0.0 <= share < 0.05
    window = trained_windows(model, 1)[0]
    rpm = CHANNEL_NAMES.index("Eng_RPM")
    window[:, rpm] = 1500.0
    assert all(w["code"] != "ENGINE_STOPPED" for w in model.assess(window).warnings)
    window[-5:, rpm] = 0.0
    stopped = model.assess(window)
    assert {
        "code": "ENGINE_STOPPED",
        "field": "Eng_RPM",
        "value": 0.0,
        "trained_share": share,
    } in stopped.warnings
    assert stopped.status == {"lubrificacao": "OK", "hidraulico": "OK"}
    model.stopped_share = None  # a version trained before the share was recorded
    assert all(w["code"] != "ENGINE_STOPPED" for w in model.assess(window).warnings)


def nominal_window(model: HealthIndexModel) -> np.ndarray:
    """A running pump's hour at its nominal values (at load)."""
    window = np.repeat(np.array([[c.nominal for c in CHANNELS]]), WINDOW, axis=0)
    return np.clip(window, model.scaler.data_min, model.scaler.data_max)


def test_with_a_pump_baseline_the_baseline_network_answers_it_through_its_own_bands(
    keras_trained,
):
    """The baseline network reads the window beside the pump's baseline (LiteRT against its
    Keras model within 1e-5); without a usable baseline (none, NaN, no reading at load) the
    network alone answers, exactly as /model/gru/predict would."""
    import keras

    model = loaded(keras_trained.store)
    assert model.baseline is not None and model.baseline_runner.backend == "litert"
    windows = np.stack([nominal_window(model)] * 3)
    rpm = CHANNEL_NAMES.index("Eng_RPM")
    windows[2, :, rpm] = 800.0  # idling: not at load, no departure from the baseline to read
    means = model.baseline.normalisation.window_means(windows)
    baselines = means.copy()
    baselines[0, 2] -= 4.0  # the pump ran 4 °C cooler in its week than in this hour
    baselines[1] = np.nan  # too few readings at load in its week
    assert model.with_baseline(windows, baselines).tolist() == [True, False, False]
    alone = model.indices(windows)
    both = model.indices(windows, baselines=baselines)
    np.testing.assert_array_equal(both[1:], alone[1:])
    stored = keras_trained.store.resolve("gru")
    reference = keras.models.load_model(stored.file("pump_baseline.keras"), compile=False)
    block = model.baseline.scale.block(means[:1], baselines[:1])
    scaled = np.clip(model.scaler.transform(windows[:1]), 0, 1).astype(np.float32)
    expected = np.asarray(reference.predict_on_batch([scaled, block]))
    assert np.max(np.abs(model.baseline_runner(scaled, block) - expected)) <= 1e-5
    served = model.baseline_calibration.apply(np.clip(expected, 0, 1) * 100.0)
    capped = np.minimum(served, 69.99) if model._beyond_healthy(windows[:1]).any() else served
    np.testing.assert_allclose(both[0], capped[0], atol=1e-3)
    # assess says which network answered.
    assert model.assess(windows[0], baselines[0]).used_baseline is True
    assert model.assess(windows[0]).used_baseline is False
    assert model.assess(windows[0], baselines[1]).used_baseline is False


def test_the_tensorflow_backend_runs_the_baseline_network_like_litert(keras_trained):
    litert = loaded(keras_trained.store)
    tensorflow = loaded(keras_trained.store, {**LITERT_CONFIG, "TF_BACKEND": "tensorflow"})
    windows = np.stack([nominal_window(litert)] * 2)
    baselines = litert.baseline.normalisation.window_means(windows) + [[0.5, 0.1, -3.0, 2.0]]
    assert tensorflow.baseline_runner.backend == "tensorflow"
    np.testing.assert_allclose(
        tensorflow.indices(windows, baselines=baselines),
        litert.indices(windows, baselines=baselines),
        atol=1e-3,
    )


def test_a_version_without_a_baseline_network_answers_from_the_window_alone(
    keras_trained, tmp_path
):
    """Versions trained before the baseline network (or on histories too short for one) have
    no `pump_baseline` artifacts: a baseline given is ignored."""
    root = tmp_path / "store"
    shutil.copytree(keras_trained.root, root)
    path = root / "gru" / "1" / "metadata.json"
    meta = json.loads(path.read_text())
    meta["pump_baseline"] = {"artifacts": None, "skipped": "too few windows"}
    path.write_text(json.dumps(meta))
    model = loaded(ModelStore(root))
    window = nominal_window(model)
    baseline = np.array([7.7, 4.6, 82.0, 80.0])  # a usable baseline of a healthy pump
    assert model.baseline is None and model.info()["pump_baseline"]["artifacts"] is None
    assessment = model.assess(window, baseline)
    assert assessment.used_baseline is False
    assert assessment.indices == model.assess(window).indices


def test_a_stopped_pump_is_answered_from_its_last_run_and_a_running_one_from_its_latest():
    """The rule /machine/gru/predict and the fleet table share: only the stopped pumps' last
    runs are read, and a stopped pump that never ran keeps its latest window."""

    class Hour:
        def __init__(self, rpm: float):
            self.values = np.full((WINDOW, len(CHANNEL_NAMES)), rpm)

    running, stopped, never_ran = Hour(1500.0), Hour(0.0), Hour(RUNNING_FROM_RPM - 1)
    last_run = Hour(1400.0)
    asked = []

    def last_runs(names):
        asked.append(sorted(names))
        return {"B": last_run}

    answered = answered_windows({"A": running, "B": stopped, "C": never_ran}, last_runs)
    assert asked == [["B", "C"]]
    assert answered == {
        "A": (running, "latest"),
        "B": (last_run, "last_run"),
        "C": (never_ran, "latest"),
    }
    # Nobody stopped: nothing else is read.
    assert answered_windows({"A": running}, last_runs) == {"A": (running, "latest")}
    assert len(asked) == 1
