"""The LSTM forecaster: any scale, horizons, short series, LiteRT against Keras."""

from __future__ import annotations

import numpy as np
import pytest

from pumpapi.channels import CHANNEL_NAMES
from pumpapi.errors import InvalidInput
from pumpapi.models.lstm import (
    FLAT_TAIL,
    INPUT_CLIP,
    JUMP_HOLD_METHOD,
    LEGACY_METHOD,
    MAX_HORIZON,
    MIN_VALUES_AFTER_JUMP,
    NOISE_METHOD,
    SPREAD_SHARE_FLOOR,
    TARGET_CLIP,
    WINDOW,
    SeriesForecaster,
    denormalise,
    normalise,
    since_last_jump,
    targets,
    window_spread,
)
from pumpapi.models.store import ModelStore
from tests.fixtures.tensorflow import loaded_model


def loaded(store: ModelStore) -> SeriesForecaster:
    return loaded_model(store, "lstm")


def noisy_series(n: int = 80, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sin(np.arange(n) / 7.0) + rng.normal(0, 0.2, n)


def test_fewer_than_60_values_are_refused_with_the_spec_message(keras_trained):
    model = loaded(keras_trained.store)
    with pytest.raises(InvalidInput, match="Input data must have at least 60 values") as caught:
        model.forecast(np.ones(59))
    assert "data" in caught.value.errors


def test_the_forecast_follows_the_series_scale_and_level(keras_trained):
    # One model for oil pressures around 4 bar and series in the hundreds: forecasting
    # a * x + b gives a * forecast(x) + b.
    model = loaded(keras_trained.store)
    series = noisy_series()
    base = model.forecast(series, horizon=3)
    scaled = model.forecast(250.0 * series + 400.0, horizon=3)
    assert scaled.prediction == pytest.approx(250.0 * base.prediction + 400.0, rel=1e-5)
    assert scaled.forecast == pytest.approx([250.0 * v + 400.0 for v in base.forecast], rel=1e-5)


def test_only_the_last_60_values_are_read(keras_trained):
    model = loaded(keras_trained.store)
    series = noisy_series(200)
    assert model.forecast(series).prediction == model.forecast(series[-WINDOW:]).prediction
    assert model.forecast(series).used_values == WINDOW


def test_a_flat_series_is_forecast_flat(keras_trained):
    result = loaded(keras_trained.store).forecast(np.full(60, 4.2), horizon=5)
    assert result.forecast == pytest.approx([4.2] * 5, abs=1e-4)


def test_a_horizon_gives_that_many_values_starting_with_the_prediction(keras_trained):
    result = loaded(keras_trained.store).forecast(noisy_series(), horizon=7)
    assert len(result.forecast) == 7
    assert result.forecast[0] == result.prediction
    assert loaded(keras_trained.store).forecast(noisy_series()).forecast is None


@pytest.mark.parametrize("horizon", [0, -1, MAX_HORIZON + 1])
def test_a_horizon_out_of_range_is_invalid_input(keras_trained, horizon):
    with pytest.raises(InvalidInput, match="horizon"):
        loaded(keras_trained.store).forecast(noisy_series(), horizon=horizon)


def test_non_finite_values_are_invalid_input(keras_trained):
    series = noisy_series()
    series[-3] = np.nan
    with pytest.raises(InvalidInput, match="finite"):
        loaded(keras_trained.store).forecast(series)


def test_targets_and_denormalise_are_inverse_for_changes_within_the_clip():
    windows = np.stack([noisy_series(WINDOW, seed=s) * 30 + 100 for s in range(5)])
    following = windows[:, -1] + np.array([-3.0, -1.0, 0.0, 2.0, 5.0])
    _, scale = normalise(windows)
    change = targets(windows, following)
    assert np.all(np.abs(change) < TARGET_CLIP)
    assert denormalise(windows, change, scale) == pytest.approx(following, rel=1e-6)


def test_a_jump_no_window_announces_is_clipped_as_a_target():
    windows = np.zeros((1, WINDOW))
    windows[0, ::2] = 1.0  # noise of about one unit
    assert targets(windows, np.array([500.0]))[0] == TARGET_CLIP


def test_normalised_windows_end_at_zero_in_noise_units_at_any_scale():
    windows = np.stack([noisy_series(WINDOW) * 0.05 + 4.0, noisy_series(WINDOW) * 80 + 900])
    inputs, scale = normalise(windows)
    assert inputs.shape == (2, WINDOW, 1) and inputs.dtype == np.float32
    assert np.all(inputs[:, -1, 0] == 0.0)
    assert inputs[0] == pytest.approx(inputs[1], abs=1e-4)
    steps = np.abs(np.diff(windows, axis=1))
    assert scale == pytest.approx(1.4826 * np.median(steps, axis=1) / np.sqrt(2))


def test_a_start_in_the_window_keeps_the_noise_as_the_unit():
    rng = np.random.default_rng(3)
    window = np.r_[np.zeros(30), 1500 + rng.normal(0, 5, 30)].round()
    inputs, scale = normalise(window[np.newaxis], NOISE_METHOD)
    # The unit is the noise, floored at 5 % of the spread (here ~37 rpm), not the jump's spread
    # (~750 rpm), which would make the running noise invisible; the jump itself is clipped.
    assert scale[0] == pytest.approx(SPREAD_SHARE_FLOOR * window.std())
    assert inputs.min() == -INPUT_CLIP
    # Versions with the jump hold: the stopped half is held at the first running value, so the
    # model reads a running pump's series (and the same unit), not the jump.
    held, held_scale = normalise(window[np.newaxis], JUMP_HOLD_METHOD)
    assert held_scale == pytest.approx(scale)
    assert held.min() > -INPUT_CLIP
    np.testing.assert_allclose(held[0, :31, 0], held[0, 30, 0])
    np.testing.assert_allclose(held[0, 30:, 0], inputs[0, 30:, 0], atol=1e-6)
    # Versions since: the unit is the running engine's noise, measured after the start (the
    # stopped half's exact zeros made the whole window's noise 0, and the floor 37 rpm).
    after, after_scale = normalise(window[np.newaxis])
    running = window[30:]
    expected = 1.4826 * np.median(np.abs(np.diff(running))) / np.sqrt(2)
    assert after_scale[0] == pytest.approx(max(expected, SPREAD_SHARE_FLOOR * running.std()))
    assert 3.0 < after_scale[0] < 8.0
    np.testing.assert_allclose(after[0, 30:, 0], held[0, 30:, 0] * scale[0] / after_scale[0])


def test_too_few_values_after_a_jump_keep_the_whole_windows_unit():
    rng = np.random.default_rng(5)
    window = np.r_[1500 + rng.normal(0, 5, WINDOW - 3).round(), np.zeros(3)]
    assert window_spread(window[np.newaxis]) == pytest.approx(
        window_spread(window[np.newaxis], NOISE_METHOD)
    )
    assert MIN_VALUES_AFTER_JUMP > 3


def test_only_the_last_jump_is_held_and_noise_is_never_a_jump():
    rng = np.random.default_rng(4)
    noisy = 4.0 + rng.normal(0, 0.05, WINDOW)
    np.testing.assert_array_equal(since_last_jump(noisy[np.newaxis], np.array([0.05]))[0], noisy)
    # Idle, start, stop: only what precedes the last jump (the stop) is held.
    series = np.r_[np.full(20, 800.0), np.full(20, 1800.0), np.zeros(20)]
    held = since_last_jump(series[np.newaxis], np.array([5.0]))[0]
    np.testing.assert_array_equal(held, np.zeros(WINDOW))


def test_legacy_versions_are_served_with_the_spread_they_were_trained_with():
    windows = np.stack([noisy_series(WINDOW) * 80 + 900])
    _, scale = normalise(windows, LEGACY_METHOD)
    assert scale == pytest.approx(windows.std(axis=1))


def test_a_series_that_stopped_moving_is_forecast_to_stay(keras_trained):
    model = loaded(keras_trained.store)
    series = np.r_[1500 + np.random.default_rng(0).normal(0, 5, 57).round(), np.zeros(FLAT_TAIL)]
    assert model.forecast(series, horizon=3).forecast == [0.0, 0.0, 0.0]


def test_litert_outputs_match_keras_within_1e_5(keras_trained):
    import keras

    stored = keras_trained.store.resolve("lstm")
    model = loaded(keras_trained.store)
    reference = keras.models.load_model(stored.file("model.keras"), compile=False)
    inputs, _ = normalise(np.stack([noisy_series(WINDOW, seed=s) for s in range(16)]))
    expected = np.asarray(reference.predict_on_batch(inputs))
    served = np.concatenate([model.runner(x[np.newaxis]) for x in inputs])
    assert np.max(np.abs(served - expected)) <= 1e-5
    # A batch resizes the interpreter's input and answers the same.
    assert np.max(np.abs(model.runner(inputs) - expected)) <= 1e-5


def test_info_describes_the_model_and_its_held_out_metrics(keras_trained):
    info = loaded(keras_trained.store).info()
    assert info["input_shape"] == [None, 60, 1]
    assert info["output_shape"] == [None, 1]
    assert (info["timesteps"], info["min_values"], info["max_horizon"]) == (60, 60, MAX_HORIZON)
    assert info["backend"] == "litert" and info["served_artifact"] == "model.tflite"
    assert set(info["metrics"]) >= {"mase", "beats_persistence", "per_channel"}


def test_info_says_beyond_which_horizon_the_forecast_has_no_skill(keras_trained):
    info = loaded(keras_trained.store).info()
    horizons = info["metrics"]["horizons"]
    assert info["skill_horizon"] == horizons["skill_horizon"]
    assert set(info["skill_horizon_per_channel"]) == set(CHANNEL_NAMES)
    mase = horizons["mase_per_horizon"]
    assert list(mase) == ["1", "2", "5", "10", "20", "30", "60"]
    # The skill horizon is the last horizon whose interval lies below 1, every shorter one too.
    below = [int(h) for h, v in mase.items() if v["ci"][1] is not None and v["ci"][1] < 1.0]
    expected = 0
    for h in (1, 2, 5, 10, 20, 30, 60):
        if h not in below:
            break
        expected = h
    assert info["skill_horizon"] == expected
