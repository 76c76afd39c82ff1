"""Training of the GRU health model: windows, split by pump, scaler, baselines, artifacts, CLI."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
from click.testing import CliRunner

from pumpapi.devtools import simulator
from pumpapi.models import litert
from pumpapi.models.gru import BandCalibration
from pumpapi.models.scaling import SCALER_FILE
from pumpapi.models.store import ModelStore
from pumpapi.training.commands import train
from pumpapi.training.gru import (
    INDICES,
    MAX_FALSE_ALARMS,
    MAX_MAE_COST,
    REJOIN,
    build_model,
    fit_band_calibration,
    health_windows,
)


@dataclass
class History:
    name: str
    readings: np.ndarray
    lubrication_health: np.ndarray
    hydraulic_health: np.ndarray


def test_each_window_is_paired_with_the_health_at_its_last_reading():
    n = 200
    readings = np.repeat(np.arange(n, dtype=np.float64)[:, np.newaxis], 8, axis=1)
    pump = History("P", readings, np.linspace(100, 0, n), np.linspace(50, 60, n))
    windows = health_windows([pump], stride=30)
    ends = np.arange(59, n, 30)
    assert windows.inputs.shape == (len(ends), 60, 8)
    assert (windows.inputs[:, -1, 0] == ends).all() and (windows.inputs[:, 0, 0] == ends - 59).all()
    assert windows.targets[:, 0] == pytest.approx(pump.lubrication_health[ends] / 100)
    assert windows.targets[:, 1] == pytest.approx(pump.hydraulic_health[ends] / 100)


def test_a_stopped_pumps_window_is_its_last_run_with_the_health_of_now():
    # Running (1,000 rpm) for 100 readings, stopped for 100, running again for 100: a window
    # ending while stopped is the hour ending at the last running reading (what
    # /machine/gru/predict answers from), its target the health at the window's own reading.
    n = 300
    readings = np.zeros((n, 8))
    readings[:, 1] = np.arange(n)
    readings[:100, 0] = readings[200:, 0] = 1000.0
    pump = History("P", readings, np.linspace(100, 0, n), np.linspace(50, 60, n))
    windows = health_windows([pump], stride=30)
    ends = np.arange(59, n, 30)
    last = np.where((ends >= 100) & (ends < 200), 99, ends)
    assert (windows.inputs[:, -1, 1] == last).all()
    assert (windows.inputs[:, 0, 1] == last - 59).all()
    assert windows.targets[:, 0] == pytest.approx(pump.lubrication_health[ends] / 100)


def test_the_band_calibration_buys_recall_within_its_false_alarm_and_mae_budgets():
    rng = np.random.default_rng(0)
    truth = rng.uniform(0, 100, (4000, 2))
    # A network that reads every degraded index 8 points too healthy: ALERTA and ATENÇÃO
    # windows near the bounds are missed.
    network = np.clip(truth + 8 + rng.normal(0, 2, truth.shape), 0, 100)
    fitted = fit_band_calibration(network, truth)
    served = BandCalibration.from_metadata({"band_calibration": fitted}).apply(network)
    for k, name in enumerate(INDICES):
        knots = fitted[name]
        assert knots["raw"] == sorted(knots["raw"]) and knots["served"] == sorted(knots["served"])
        for bound in (40, 70):
            band = knots["calibration"][f"below_{bound}"]
            below = truth[:, k] < bound
            assert (served[below, k] < bound).mean() > (network[below, k] < bound).mean()
            assert band["recall"]["served"] == pytest.approx(
                (served[below, k] < bound).mean(), abs=1e-3
            )
            assert band["false_alarms"]["served"] <= MAX_FALSE_ALARMS + 0.01
        cost = (
            np.abs(served[:, k] - truth[:, k]).mean() - np.abs(network[:, k] - truth[:, k]).mean()
        )
        assert cost <= MAX_MAE_COST + 1e-9
    # Order is kept: a window the network rates worse is never served better.
    grid = np.linspace(0, 100, 501)[:, np.newaxis].repeat(2, axis=1)
    assert (
        np.diff(BandCalibration.from_metadata({"band_calibration": fitted}).apply(grid), axis=0)
        >= 0
    ).all()


def test_only_answers_near_a_moved_boundary_move():
    """Above a moved boundary the map rejoins the identity (REJOIN): a healthy pump the
    network rates 90 is served 90, not pulled down with the boundary; below the rejoin the
    order is kept."""
    rng = np.random.default_rng(0)
    truth = rng.uniform(0, 100, (4000, 2))
    network = np.clip(truth + 8 + rng.normal(0, 2, truth.shape), 0, 100)
    fitted = fit_band_calibration(network, truth)
    calibration = BandCalibration.from_metadata({"band_calibration": fitted})
    for k, name in enumerate(INDICES):
        raw, served = fitted[name]["raw"], fitted[name]["served"]
        knot = raw[served.index(69.99)]
        assert knot > 70  # the boundary moved...
        rejoin = 70 + REJOIN * (knot - 70)
        above = np.linspace(rejoin, 100, 50)[:, np.newaxis].repeat(2, axis=1)
        assert calibration.apply(above)[:, k] == pytest.approx(above[:, k])  # ...far above: not
        near = np.array([[knot - 0.5] * 2, [(knot + rejoin) / 2] * 2])
        assert (calibration.apply(near)[:, k] < near[:, k]).all()  # near it: lowered


def test_a_network_that_already_catches_the_bands_is_served_as_it_is():
    truth = np.random.default_rng(1).uniform(0, 100, (2000, 2))
    network = np.clip(truth - 3.0, 0, 100)  # errs on the side of caution
    fitted = fit_band_calibration(network, truth)
    served = BandCalibration.from_metadata({"band_calibration": fitted}).apply(network)
    assert served == pytest.approx(network)
    # A version trained before the calibration existed is served as its network answers.
    assert BandCalibration.from_metadata({}).apply(network) == pytest.approx(network)


def test_the_run_splits_by_pump_and_fits_the_scaler_on_training_pumps_only(keras_trained):
    meta = keras_trained.gru.metadata
    pumps = meta["training"]["pumps"]
    train_names, others = set(pumps["train"]), set(pumps["validation"]) | set(pumps["held_out"])
    assert train_names and pumps["held_out"] and not train_names & others
    config = meta["training"]["config"]
    fleet = simulator.simulate_fleet(config["pumps"], config["steps"], seed=config["seed"])
    trained_on = np.concatenate([p.readings for p in fleet if p.name in train_names])
    scaler = json.loads(keras_trained.store.resolve("gru").file(SCALER_FILE).read_text())
    assert scaler["data_min"] == trained_on.min(axis=0).tolist()
    assert scaler["data_max"] == trained_on.max(axis=0).tolist()


def test_the_metadata_holds_held_out_mae_beside_baselines(keras_trained):
    metrics = keras_trained.gru.metadata["metrics"]
    assert set(metrics["held_out"]["mae"]) == set(INDICES)
    assert set(metrics["baselines"]) == {
        "training_mean",
        "training_median",
        "linear_latest_reading",
    }
    for baseline in metrics["baselines"].values():
        assert all(0 <= baseline["mae"][i] <= 100 for i in INDICES)


def test_the_published_litert_artifact_was_checked_against_keras(keras_trained):
    meta = keras_trained.gru.metadata
    assert meta["artifacts"] == {"keras": "model.keras", "litert": "model.tflite"}
    baseline_files = {"pump_baseline.keras", "pump_baseline.tflite"}
    assert set(meta["files"]) == {"model.keras", "model.tflite", SCALER_FILE} | baseline_files
    assert meta["litert_check"]["max_abs_diff"] <= 1e-5
    # The baseline network (two inputs) is checked the same way.
    extended = meta["pump_baseline"]
    assert extended["artifacts"] == {
        "keras": "pump_baseline.keras",
        "litert": "pump_baseline.tflite",
    }
    assert extended["input_shape"] == [[None, 60, 8], [None, 8]]
    assert extended["litert_check"]["max_abs_diff"] <= 1e-5


def test_a_model_litert_cannot_convert_is_published_for_the_tensorflow_backend(
    tmp_path, monkeypatch
):
    def refuse(model):
        raise RuntimeError("TensorList ops are not builtin")

    monkeypatch.setattr(litert, "convert_keras", refuse)
    with ModelStore(tmp_path).new_version("gru") as draft:
        meta = litert.write_keras_artifacts(draft, build_model(4, 1e-3), np.zeros((2, 60, 8)))
    assert meta["artifacts"]["litert"] is None and "TensorList" in meta["litert_error"]
    assert not draft.file("model.tflite").exists() and draft.file("model.keras").exists()


def test_a_litert_artifact_that_answers_differently_is_never_published(tmp_path, monkeypatch):
    class Drifting(litert.LiteRTRunner):
        def __call__(self, batch):
            return super().__call__(batch) + 1e-3

    monkeypatch.setattr(litert, "LiteRTRunner", Drifting)
    store = ModelStore(tmp_path)
    with pytest.raises(RuntimeError, match="differs from the Keras model"):
        with store.new_version("gru") as draft:
            litert.write_keras_artifacts(draft, build_model(4, 1e-3), np.zeros((2, 60, 8)))
    assert store.versions("gru") == []


def test_pumpapi_train_gru_publishes_a_version_and_prints_its_metrics(tmp_path):
    # Fewer pumps than the defaults' 30 validation and 10 held-out (make bench trains on 20):
    # both shrink in proportion, half the pumps left to train on.
    args = ["gru", "--store", str(tmp_path), "--pumps", "20", "--steps", "300", "--epochs", "1"]
    result = CliRunner().invoke(train, args)
    assert result.exit_code == 0, result.output
    assert "gru version 1 published" in result.output
    assert "training_median" in result.output and "lubrificacao" in result.output
    training = ModelStore(tmp_path).resolve("gru").metadata["training"]
    assert training["epochs_run"] == 1
    split = training["pumps"]
    assert (len(split["train"]), len(split["validation"]), len(split["held_out"])) == (11, 7, 2)


def test_pumpapi_train_gru_refuses_a_fleet_too_small_to_split(tmp_path):
    result = CliRunner().invoke(train, ["gru", "--store", str(tmp_path), "--pumps", "2"])
    assert result.exit_code != 0 and "cannot give" in result.output
    assert ModelStore(tmp_path).versions("gru") == []
