"""Training of the xgboost family: dataset by channel name, split by pump, threshold from
validation pumps, metrics on held-out pumps, the published version, and `pumpapi train`."""

from __future__ import annotations

import dataclasses
import json
import logging
import platform
import sys
from dataclasses import dataclass

import numpy as np
import pytest
import xgboost

from pumpapi.channels import CHANNEL_NAMES
from pumpapi.models import compiled
from pumpapi.models.store import ModelStore, sha256_of
from pumpapi.models.xgboost import FEATURE_ORDER, LABELS
from pumpapi.training import decisions
from pumpapi.training import xgboost as training
from tests.fixtures.xgboost import TINY_OPTIONS, tiny_fleet

METRIC_KEYS = {"roc_auc", "pr_auc", "brier", "f1", "precision", "recall", "threshold", "base_rate"}


@dataclass
class FakePump:
    """The part of simulator.PumpHistory that training reads."""

    name: str
    readings: np.ndarray
    running: np.ndarray
    failures: tuple[int, ...] = ()

    def failure_within(self, horizon_steps: int) -> np.ndarray:
        steps = np.arange(len(self.readings))
        within = np.zeros(len(steps), dtype=bool)
        for f in self.failures:
            within |= (steps < f) & (f - steps <= horizon_steps)
        return within


def fake_pump(name: str, n: int = 10, failures: tuple[int, ...] = ()) -> FakePump:
    # Channel k holds 10*k + step, so every column can be traced back to its channel.
    readings = np.arange(len(CHANNEL_NAMES))[None, :] * 10.0 + np.arange(n)[:, None]
    running = np.arange(n) % 2 == 0
    return FakePump(name, readings, running, failures)


def test_dataset_takes_features_by_channel_name():
    dataset = training.build_dataset([fake_pump("P1", n=3)], horizon_steps=1)
    channel = {name: CHANNEL_NAMES.index(c) for name, c in
               {"rotacao_motor_rpm": "Eng_RPM", "pressao_oleo_bar": "Oil_P",
                "tensao_bateria_v": "Bat_V", "tensao_alternador_v": "Char_V"}.items()}  # fmt: skip
    expected = [[10.0 * channel[name] + step for name in FEATURE_ORDER] for step in range(3)]
    assert dataset.features.tolist() == expected


def test_dataset_labels_failures_within_the_horizon_and_can_drop_stopped_readings():
    pump = fake_pump("P1", n=10, failures=(6,))
    dataset = training.build_dataset([pump], horizon_steps=2)
    assert dataset.labels.tolist() == [0, 0, 0, 0, 1, 1, 0, 0, 0, 0]
    running_only = training.build_dataset([pump], horizon_steps=2, include_stopped=False)
    assert len(running_only) == 5
    assert running_only.labels.tolist() == [0, 0, 1, 0, 0]  # steps 0, 2, 4, 6, 8


def test_split_is_by_pump_stratified_and_deterministic():
    fleet = [fake_pump(f"P{i:02d}", failures=(5,) if i < 10 else ()) for i in range(30)]
    dataset = training.build_dataset(fleet, horizon_steps=3)
    splits = training.split_pumps(dataset, 0.2, 0.2, seed=3)
    assert training.split_pumps(dataset, 0.2, 0.2, seed=3) == splits
    assert training.split_pumps(dataset, 0.2, 0.2, seed=4) != splits
    names = [name for split in splits.values() for name in split]
    assert sorted(names) == sorted(p.name for p in fleet)  # every pump, each exactly once
    assert [len(splits[s]) for s in training.SPLITS] == [18, 6, 6]
    failing = {f"P{i:02d}" for i in range(10)}
    assert [len(failing & set(splits[s])) for s in training.SPLITS] == [6, 2, 2]


def test_split_of_a_tiny_fleet_leaves_no_split_empty():
    dataset = training.build_dataset([fake_pump(f"P{i}") for i in range(3)], horizon_steps=1)
    splits = training.split_pumps(dataset, 0.2, 0.2, seed=0)
    assert all(len(splits[s]) == 1 for s in training.SPLITS)
    with pytest.raises(ValueError, match="at least 3 pumps"):
        training.split_pumps(dataset.of_pumps(["P0", "P1"]), 0.2, 0.2, seed=0)


def test_evaluate_reports_every_metric_and_none_for_undefined_aucs():
    labels = np.array([0, 0, 0, 1])
    metrics = decisions.evaluate(labels, np.array([0.1, 0.2, 0.3, 0.9]), threshold=0.5)
    assert METRIC_KEYS <= set(metrics)
    assert metrics["roc_auc"] == metrics["pr_auc"] == metrics["f1"] == 1.0
    assert metrics["brier"] == pytest.approx((0.01 + 0.04 + 0.09 + 0.01) / 4)
    assert metrics["base_rate"] == 0.25 and metrics["positives"] == 1 and metrics["rows"] == 4
    single_class = decisions.evaluate(np.zeros(3, dtype=int), np.array([0.1, 0.2, 0.3]), 0.5)
    assert single_class["roc_auc"] is None and single_class["pr_auc"] is None


# -- a real run (the session's tiny fleet) --------------------------------------------------


def test_published_splits_are_disjoint_and_cover_the_fleet(xgboost_trained):
    splits = xgboost_trained.report.metadata["training_data"]["splits"]
    pumps = {name: set(splits[name]["pumps"]) for name in training.SPLITS}
    assert not pumps["train"] & pumps["validation"]
    assert not pumps["train"] & pumps["test"]
    assert not pumps["validation"] & pumps["test"]
    assert set().union(*pumps.values()) == {p.name for p in xgboost_trained.fleet}
    for name in training.SPLITS:
        assert splits[name]["positives"] > 0, f"no failure among the {name} pumps"


def test_held_out_pumps_are_never_fitted_on(monkeypatch, tmp_path):
    seen: dict[str, list[str]] = {}
    real_booster, real_baseline = training.fit_booster, training.fit_baseline

    def spy_booster(train, validation, *args, **kwargs):
        seen["booster"], seen["early_stopping"] = train.pump_names(), validation.pump_names()
        return real_booster(train, validation, *args, **kwargs)

    def spy_baseline(train, *args, **kwargs):
        seen["baseline"] = train.pump_names()
        return real_baseline(train, *args, **kwargs)

    monkeypatch.setattr(training, "fit_booster", spy_booster)
    monkeypatch.setattr(training, "fit_baseline", spy_baseline)
    report = training.train(TINY_OPTIONS, ModelStore(tmp_path), fleet=tiny_fleet())
    splits = report.metadata["training_data"]["splits"]
    assert seen["booster"] == seen["baseline"] == splits["train"]["pumps"]
    assert seen["early_stopping"] == splits["validation"]["pumps"]
    assert not set(seen["booster"]) & set(splits["test"]["pumps"])


def test_threshold_is_chosen_on_validation_pumps(xgboost_trained):
    meta = xgboost_trained.report.metadata
    booster = xgboost.Booster()
    booster.load_model(xgboost_trained.store.resolve("xgboost").file("model.ubj"))
    dataset = training.build_dataset(xgboost_trained.fleet, meta["horizon"]["steps"])
    validation = dataset.of_pumps(meta["training_data"]["splits"]["validation"]["pumps"])
    calibrated = decisions.calibrate(
        training.margins_of(booster, validation, meta["linear_margin"]), meta["calibration"]
    )
    expected = decisions.choose_cost_threshold(validation.labels, calibrated, meta["cost_policy"])
    assert meta["threshold"] == pytest.approx(expected, abs=1e-6)
    assert meta["metrics"]["threshold"] == meta["threshold"]


def test_metrics_on_held_out_pumps_beat_chance_beside_the_baseline(xgboost_trained):
    metrics = xgboost_trained.report.metadata["metrics"]
    assert METRIC_KEYS <= set(metrics)
    assert METRIC_KEYS <= set(metrics["baseline"])
    assert metrics["baseline"]["model"] == "logistic_regression"
    assert metrics["roc_auc"] > 0.5
    assert metrics["pr_auc"] > metrics["base_rate"]  # better than a constant guess
    assert 0 < metrics["brier"] < metrics["base_rate"]  # better than predicting 0 everywhere
    test_split = xgboost_trained.report.metadata["training_data"]["splits"]["test"]
    assert metrics["rows"] == metrics["baseline"]["rows"] == test_split["rows"]
    assert metrics["positives"] == test_split["positives"]


def test_metadata_describes_the_model(xgboost_trained):
    meta = xgboost_trained.report.metadata
    assert meta["library"] == {"name": "xgboost", "version": xgboost.__version__}
    assert meta["feature_order"] == list(FEATURE_ORDER)
    assert meta["feature_channels"] == {
        "rotacao_motor_rpm": "Eng_RPM",
        "pressao_oleo_bar": "Oil_P",
        "tensao_bateria_v": "Bat_V",
        "tensao_alternador_v": "Char_V",
    }
    assert meta["labels"] == LABELS == {"0": "Operação Saudável", "1": "Risco de Falha Iminente"}
    assert 0 < meta["threshold"] < 1
    assert meta["horizon"] == {"hours": 24.0, "steps": 1440, "interval_s": 60}
    data = meta["training_data"]
    assert data["simulator"] == {"pumps": 40, "steps": 8000, "interval_s": 60, "seed": 14}
    assert sum(data["splits"][s]["rows"] for s in training.SPLITS) == 40 * 8000
    assert meta["tags"]["fixture"] == "tiny" and meta["tags"]["target"] == "failure_within_24h"
    assert meta["hyperparameters"]["max_depth"] == training.DEFAULT_HYPERPARAMETERS["max_depth"]
    assert meta["trained_at"]


def test_artifact_is_xgboost_ubjson_that_reloads_identically(xgboost_trained):
    path = xgboost_trained.store.resolve("xgboost").file("model.ubj")
    assert path.read_bytes()[:1] == b"{"  # UBJSON object, not a pickle (b"\x80")
    booster = xgboost.Booster()
    booster.load_model(path)
    assert booster.feature_names == list(FEATURE_ORDER)
    assert (
        booster.num_boosted_rounds()
        == xgboost_trained.report.metadata["metrics"]["boosting_rounds"]
    )


def test_the_compiled_predictor_is_published_checksummed_and_described(xgboost_trained):
    import tl2cgen
    import treelite

    meta = xgboost_trained.report.metadata
    entry = meta["compiled_predictor"]
    library = xgboost_trained.store.resolve("xgboost").file(entry["file"])
    assert entry["file"] == "predictor.so" and library.is_file()
    assert meta["files"]["predictor.so"]["sha256"] == sha256_of(library)
    assert entry["tl2cgen_version"] == tl2cgen.__version__
    assert entry["treelite_version"] == treelite.__version__
    assert entry["platform"] == f"{sys.platform}-{platform.machine()}"
    assert 0 <= entry["max_abs_diff_vs_xgboost"] <= compiled.TOLERANCE
    booster = xgboost.Booster()
    booster.load_model(library.with_name("model.ubj"))
    rows = compiled.check_rows(booster, FEATURE_ORDER, meta["feature_channels"])
    assert entry["probe_rows"] == len(rows)
    # The measurement is the library's: recomputed here, it gives the same figure.
    predictor = compiled.CompiledPredictor(library)
    diff = compiled.max_abs_diff(predictor(rows), booster.inplace_predict(rows))
    assert diff == entry["max_abs_diff_vs_xgboost"]


def test_without_a_compiler_the_version_is_published_without_the_library(
    xgboost_trained, tmp_path, monkeypatch, caplog
):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no gcc to be found
    with caplog.at_level(logging.WARNING, logger="pumpapi.training.xgboost"):
        report = training.train(
            xgboost_trained.options, ModelStore(tmp_path / "store"), fleet=xgboost_trained.fleet
        )
    assert "compiled_predictor" not in report.metadata
    assert sorted(report.metadata["files"]) == ["model.ubj", "window.ubj"]
    assert not (tmp_path / "store" / "xgboost" / "1" / "predictor.so").exists()
    assert any("without a compiled predictor" in r.getMessage() for r in caplog.records)


def test_compiling_can_be_turned_off(xgboost_trained, tmp_path):
    options = dataclasses.replace(
        xgboost_trained.options, compile_predictor=False, window_model=False
    )
    report = training.train(options, ModelStore(tmp_path), fleet=xgboost_trained.fleet)
    assert "compiled_predictor" not in report.metadata and "window_model" not in report.metadata
    assert list(report.metadata["files"]) == ["model.ubj"]


def test_a_library_that_differs_from_the_booster_is_not_published(
    xgboost_trained, tmp_path, monkeypatch, caplog
):
    booster = xgboost.Booster()
    booster.load_model(xgboost_trained.store.resolve("xgboost").file("model.ubj"))
    real = compiled.CompiledPredictor

    class Shifted(real):
        def __call__(self, rows):
            return super().__call__(rows) + np.float32(1e-5)

    monkeypatch.setattr(training, "CompiledPredictor", Shifted)
    path = tmp_path / "predictor.so"
    with caplog.at_level(logging.WARNING, logger="pumpapi.training.xgboost"):
        assert training.compile_predictor(booster, path) is None
    assert not path.exists()
    assert any("differs from XGBoost" in r.getMessage() for r in caplog.records)


def test_training_without_failures_is_refused(tmp_path):
    fleet = [fake_pump(f"P{i}", n=50) for i in range(6)]
    with pytest.raises(ValueError, match="never fail"):
        training.train(TINY_OPTIONS, ModelStore(tmp_path), fleet=fleet)
    assert ModelStore(tmp_path).versions("xgboost") == []


# -- the command line -----------------------------------------------------------------------


def test_train_command_publishes_a_version_and_models_commands_show_it(runner, tmp_path):
    store = tmp_path / "models"
    result = runner.invoke(
        args=[
            "train",
            "xgboost",
            "--store",
            str(store),
            "--pumps",
            "60",
            "--steps",
            "10000",
            "--tag",
            "owner=tests",
        ]  # fmt: skip
    )
    assert result.exit_code == 0, result.output
    assert "xgboost version 1 published" in result.output
    assert "logistic regression" in result.output

    listed = runner.invoke(args=["models", "list", "--store", str(store)])
    assert listed.exit_code == 0, listed.output
    assert "xgboost" in listed.output and "latest" in listed.output and "roc_auc=" in listed.output

    shown = runner.invoke(args=["models", "show", "xgboost", "--store", str(store)])
    assert shown.exit_code == 0, shown.output
    metadata = json.loads(shown.output)
    assert metadata["version"] == "1" and metadata["integrity"] == "ok"
    assert metadata["tags"]["owner"] == "tests"
    assert metadata["training_data"]["simulator"]["pumps"] == 60


def test_train_command_rejects_a_malformed_tag(runner, tmp_path):
    result = runner.invoke(
        args=["train", "xgboost", "--store", str(tmp_path), "--tag", "no-equals-sign"]
    )
    assert result.exit_code == 2
    assert "KEY=VALUE" in result.output


def test_the_window_model_is_published_checksummed_and_measured(xgboost_trained):
    from pumpapi.models import window

    stored = xgboost_trained.store.resolve("xgboost")
    meta = stored.metadata["window_model"]
    assert meta["artifact"] == "window.ubj"
    assert stored.metadata["files"]["window.ubj"]["sha256"] == sha256_of(stored.file("window.ubj"))
    assert meta["feature_names"] == list(window.FEATURE_NAMES)
    assert meta["window"] == window.WINDOW and meta["calibration"]["method"] == "platt"
    # Split like the reading model's pumps (no extra ones: the fixture's fleet was given).
    reading_splits = stored.metadata["training_data"]["splits"]
    assert meta["training_data"]["beyond_the_reading_models"] == 0
    assert meta["training_data"]["splits"] == {
        name: len(split["pumps"]) for name, split in reading_splits.items()
    }
    metrics = meta["metrics"]
    assert metrics["roc_auc"] > metrics["reading_model_roc_auc_same_rows"]


def test_simulated_training_gives_the_window_model_more_pumps_of_the_same_seed(tmp_path):
    options = dataclasses.replace(TINY_OPTIONS, pumps=12, steps=3_000)
    fleet = training.simulate(options)
    extra = training.simulate(options, first_index=13, pumps=6)
    assert [p.name for p in fleet][-1] == "MOTOBOMBA-012"
    assert [p.name for p in extra][0] == "MOTOBOMBA-013"
    # The same pump whichever run simulates it.
    again = training.simulate(options, first_index=12, pumps=1)[0]
    np.testing.assert_array_equal(again.readings, fleet[-1].readings)
