"""Training of the GRU health model on a simulated fleet, evaluated on pumps it never saw."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pumpapi.channels import CHANNEL_NAMES
from pumpapi.models import reference, support
from pumpapi.models.gru import INDICES, OK_FROM, WINDOW
from pumpapi.models.scaling import SCALER_FILE, MinMaxScaling
from pumpapi.models.store import ModelStore, ModelVersion
from pumpapi.training.keras import (
    fit_early_stopping,
    publish,
    run_record,
    run_summary,
    seeded_split,
)

log = logging.getLogger(__name__)
FAMILY = "gru"


@dataclass(frozen=True)
class GRUTrainingConfig:
    """Data and model sizes of one training run; the defaults train in well under a minute."""

    # Faults (what moves the indices most) are rare: many pumps over a month, sampled every two
    # hours, show the model more of them than a few pumps sampled every minute, for the same cost.
    pumps: int = 60
    steps: int = 30 * 1440  # thirty days at one reading a minute
    validation_pumps: int = 6
    held_out_pumps: int = 10
    stride: int = 120  # minutes between consecutive training windows of a pump
    units: int = 32
    epochs: int = 30
    batch_size: int = 128
    learning_rate: float = 3e-3
    patience: int = 6
    seed: int = 42
    # Windows of a pump below OK (either index) weigh this much more in the loss: they are a
    # few percent of the windows, and the ones an answer must not miss.
    degraded_weight: float = 1.0


@dataclass
class Windows:
    """Windows of readings (n, 60, 8) and the health at each window's last reading (n, 2), 0–1."""

    inputs: np.ndarray
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.inputs)


def health_windows(fleet: Sequence[Any], stride: int) -> Windows:
    """Every `stride`-th window of WINDOW consecutive readings of each pump, with the simulator's
    ground-truth lubrication and hydraulic health at the window's last reading (scaled to 0–1)."""
    inputs, targets = [], []
    for pump in fleet:
        readings = np.asarray(pump.readings, dtype=np.float64)
        health = np.stack([pump.lubrication_health, pump.hydraulic_health], axis=1) / 100.0
        ends = np.arange(WINDOW - 1, len(readings), stride)
        starts = ends - WINDOW + 1
        # A stored fleet's indices are known only where inspections define them (NaN elsewhere).
        known = np.isfinite(health[ends]).all(axis=1)
        starts, ends = starts[known], ends[known]
        windows = [readings[s : s + WINDOW] for s in starts]
        inputs.append(np.stack(windows) if windows else np.empty((0, WINDOW, readings.shape[1])))
        targets.append(health[ends])
    return Windows(np.concatenate(inputs), np.concatenate(targets).astype(np.float32))


def build_model(units: int, learning_rate: float) -> Any:
    """A GRU over the window beside the window's summary (each channel's mean, min, max and
    latest reading), then the two indices through a sigmoid (0–1, i.e. 0–100 %).

    The summary branch gives the network directly what a gradient-boosted regressor on window
    statistics reads (which beat the GRU alone): a fault shows mostly as a level (oil level,
    coolant temperature, suction) held over the window; the recurrent branch adds the
    dynamics (noise, trends, a start or a stop). Only built-in layers, so the LiteRT
    conversion stays built-in ops (min is the max of the negated window)."""
    import keras

    readings = keras.Input((WINDOW, len(CHANNEL_NAMES)), name="readings")
    # Four-minute blocks: 15 recurrent steps instead of 60 train and run faster, and the
    # filters still see the spread within each block (noise is a cavitation sign).
    blocks = keras.layers.Conv1D(units, 4, strides=4, activation="relu", name="blocks")(readings)
    sequence = keras.layers.GRU(units, name="gru")(blocks)
    mean = keras.layers.GlobalAveragePooling1D(name="mean")(readings)
    high = keras.layers.GlobalMaxPooling1D(name="max")(readings)
    low = keras.layers.GlobalMaxPooling1D(name="neg_min")(
        keras.layers.Rescaling(-1.0, name="negated")(readings)
    )
    latest = keras.layers.Flatten(name="latest")(
        keras.layers.Cropping1D((WINDOW - 1, 0), name="last_reading")(readings)
    )
    merged = keras.layers.Concatenate(name="summary")([sequence, mean, high, low, latest])
    hidden = keras.layers.Dense(2 * units, activation="relu", name="hidden")(merged)
    hidden = keras.layers.Dense(units, activation="relu", name="hidden2")(hidden)
    health = keras.layers.Dense(len(INDICES), activation="sigmoid", name="health")(hidden)
    model = keras.Model(readings, health, name="gru_health")
    # Huber with a 1-point knee, nearly the absolute error: the metric is MAE, and most windows
    # are of healthy pumps; a squared loss pulls every answer toward the fleet's mean.
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.Huber(delta=0.01),
        metrics=["mae"],
    )
    return model


def _mae(predicted: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """Mean absolute error per index, in index points (0–100)."""
    errors = np.abs(predicted - actual).mean(axis=0) * 100.0
    return {name: round(float(e), 3) for name, e in zip(INDICES, errors, strict=True)}


def baselines(train: Windows, test: Windows, scaler: MinMaxScaling) -> dict[str, Any]:
    """Naive answers to beat: the training mean and median (the best constant for MAE), and a
    linear fit on the latest reading."""
    from sklearn.linear_model import Ridge

    mean = train.targets.mean(axis=0)
    median = np.median(train.targets, axis=0)
    latest_train = scaler.transform(train.inputs[:, -1, :])
    latest_test = scaler.transform(test.inputs[:, -1, :])
    ridge = Ridge(alpha=1.0).fit(latest_train, train.targets)
    return {
        "training_mean": {"mae": _mae(np.broadcast_to(mean, test.targets.shape), test.targets)},
        "training_median": {"mae": _mae(np.broadcast_to(median, test.targets.shape), test.targets)},
        "linear_latest_reading": {
            "mae": _mae(np.clip(ridge.predict(latest_test), 0, 1), test.targets)
        },
    }


def train_gru(
    store: ModelStore,
    config: GRUTrainingConfig = GRUTrainingConfig(),
    fleet: Sequence[Any] | None = None,
    described: Mapping[str, Any] | None = None,
) -> ModelVersion:
    """Simulate a fleet (or take `fleet`, from where `described` says), train on some pumps,
    measure on others, publish a new store version.

    The MinMaxScaler is fitted on the training pumps' readings only; validation pumps stop the
    training early; held-out pumps are used once, for the metrics in the metadata.
    """
    started = time.perf_counter()
    split = seeded_split(config, fleet, described)
    train, validation, test = split.windows(health_windows, config.stride)

    from sklearn.preprocessing import MinMaxScaler

    fitted = MinMaxScaler().fit(np.concatenate([p.readings for p in split.train]))
    scaler = MinMaxScaling.from_sklearn(fitted, CHANNEL_NAMES)

    model = build_model(config.units, config.learning_rate)
    degraded = (train.targets < OK_FROM / 100.0).any(axis=1)
    fit = fit_early_stopping(
        model,
        (scaler.transform(train.inputs).astype(np.float32), train.targets),
        (scaler.transform(validation.inputs).astype(np.float32), validation.targets),
        config,
        sample_weight=np.where(degraded, config.degraded_weight, 1.0).astype(np.float32),
    )
    test_inputs = scaler.transform(test.inputs).astype(np.float32)
    predicted = np.asarray(model.predict(test_inputs, batch_size=1024, verbose=0))
    metrics = {
        "held_out": {"mae": _mae(predicted, test.targets), "windows": len(test)},
        "baselines": baselines(train, test, scaler),
        "unit": "index points (0–100)",
    }
    log.info("gru held-out MAE %s", metrics["held_out"]["mae"])

    train_channels = {
        name: np.concatenate([p.readings[:, c] for p in split.train])
        for c, name in enumerate(CHANNEL_NAMES)
    }
    return publish(
        store,
        FAMILY,
        model,
        test_inputs[:64],
        {
            "name": "gru-health-indices",
            "description": "Lubrication and hydraulic health (0–100) from 60 readings × 8 "
            "channels, MinMax-scaled with the training pumps' ranges.",
            "timesteps": WINDOW,
            "n_features": len(CHANNEL_NAMES),
            "feature_order": list(CHANNEL_NAMES),
            "outputs": list(INDICES),
            "scaler": SCALER_FILE,
            # Each channel's distribution in the train pumps' readings, for drift.
            "reference": reference.build(train_channels),
            # Each channel's [min, max] over the same readings: inputs beyond are answered with
            # a warning (and the scaler's range, which is the same, clips them).
            "trained_ranges": support.describe(train_channels),
            "metrics": metrics,
            "training": run_record(split, (train, validation, test), fit, started, config),
        },
        texts={SCALER_FILE: json.dumps(scaler.to_json(), indent=2)},
    )


def summary(metadata: dict[str, Any]) -> list[str]:
    """Held-out MAE of the model beside its baselines, and the run's size and time, as lines."""
    metrics = metadata["metrics"]
    rows = [("gru", metrics["held_out"]["mae"])]
    rows += [(name, result["mae"]) for name, result in metrics["baselines"].items()]
    lines = [f"{'MAE on held-out pumps':<24}" + "".join(f"{i:>14}" for i in INDICES)]
    lines += [f"{name:<24}" + "".join(f"{mae[i]:>14.2f}" for i in INDICES) for name, mae in rows]
    lines.append(run_summary(metadata["training"]))
    return lines
