"""Training of the LSTM forecaster on every channel of a simulated fleet, against persistence."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pumpapi.channels import CHANNEL_NAMES
from pumpapi.models import reference, support
from pumpapi.models.lstm import (
    NORMALISATION_METHOD,
    SERIES_INPUT,
    WINDOW,
    denormalise,
    normalise,
    targets,
)
from pumpapi.models.store import ModelStore, ModelVersion
from pumpapi.training.keras import (
    fit_early_stopping,
    publish,
    run_record,
    run_summary,
    seeded_split,
)

log = logging.getLogger(__name__)
FAMILY = "lstm"


@dataclass(frozen=True)
class LSTMTrainingConfig:
    """Data and model sizes of one training run; the defaults train in well under a minute."""

    pumps: int = 16
    steps: int = 4 * 1440  # four days at one reading a minute
    validation_pumps: int = 2
    held_out_pumps: int = 4
    stride: int = 20  # minutes between consecutive training windows of a pump's channel
    units: int = 32
    epochs: int = 20
    batch_size: int = 256
    learning_rate: float = 3e-3
    patience: int = 3
    seed: int = 42


@dataclass
class SeriesWindows:
    """Windows of WINDOW values (n, 60), the value that followed each (n,), and its channel."""

    windows: np.ndarray
    following: np.ndarray
    channel: np.ndarray

    def __len__(self) -> int:
        return len(self.windows)


def series_windows(fleet: Sequence[Any], stride: int) -> SeriesWindows:
    """Every `stride`-th window of each channel of each pump, with the next value."""
    windows, following, channel = [], [], []
    for pump in fleet:
        readings = np.asarray(pump.readings, dtype=np.float64)
        starts = np.arange(0, len(readings) - WINDOW, stride)
        index = starts[:, np.newaxis] + np.arange(WINDOW + 1)
        for c in range(readings.shape[1]):
            block = readings[index, c]
            windows.append(block[:, :WINDOW])
            following.append(block[:, WINDOW])
            channel.append(np.full(len(starts), c))
    return SeriesWindows(
        np.concatenate(windows), np.concatenate(following), np.concatenate(channel)
    )


def build_model(units: int, learning_rate: float) -> Any:
    """LSTM over the normalised window, then a linear output: the next step's change."""
    import keras

    model = keras.Sequential(
        [
            keras.Input((WINDOW, 1), name="series"),
            # Four-value blocks: 15 recurrent steps instead of 60 train and run faster; the
            # filters weigh each position, so the last value still stands out.
            keras.layers.Conv1D(units, 4, strides=4, activation="relu", name="blocks"),
            keras.layers.LSTM(units, name="lstm"),
            # Starts as the persistence forecast (no change) and learns what beats it.
            keras.layers.Dense(1, kernel_initializer="zeros", name="change"),
        ],
        name="lstm_forecaster",
    )
    # Huber with a small knee is close to the absolute error, the metric: a squared loss lets
    # the jumps of pumps starting and stopping (which no window announces) pull every forecast
    # back toward the window's mean.
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=keras.losses.Huber(0.02))
    return model


def forecast_metrics(predicted: np.ndarray, data: SeriesWindows) -> dict[str, Any]:
    """MAE of the model and of persistence (next = last) per channel, and MASE.

    MASE is the model's MAE over persistence's on the same windows: below 1 beats persistence.
    The overall MASE pools the channels by their persistence-scaled errors, so that no channel
    weighs more for being measured in bigger units.
    """
    persistence = data.windows[:, -1]
    model_error = np.abs(predicted - data.following)
    naive_error = np.abs(persistence - data.following)
    per_channel: dict[str, Any] = {}
    ratios = []
    for c, name in enumerate(CHANNEL_NAMES):
        mask = data.channel == c
        model_mae = float(model_error[mask].mean())
        naive_mae = float(naive_error[mask].mean())
        mase = model_mae / naive_mae if naive_mae > 0 else None
        if mase is not None:
            ratios.append(mase)
        per_channel[name] = {
            "mae": round(model_mae, 5),
            "mae_persistence": round(naive_mae, 5),
            "mase": None if mase is None else round(mase, 4),
        }
    # No channel to compare on (persistence exact everywhere): nothing was beaten.
    mase = round(float(np.mean(ratios)), 4) if ratios else None
    return {
        "mase": mase,
        # Beaten on average and on every channel: a mean below 1 hid Eng_RPM's 1.17.
        "beats_persistence": mase is not None and mase < 1.0 and max(ratios) < 1.0,
        "per_channel": per_channel,
        "windows": len(data),
    }


def horizon_skill(next_values: Any, fleet: Sequence[Any], stride: int = 120) -> dict[str, Any]:
    """MASE per horizon (the forecast fed its own predictions, as the service answers
    `horizon`) on `fleet`, and `skill_horizon`: the longest horizon up to which every MASE's
    bootstrap interval over pumps lies below 1 (0: no skill even one step ahead)."""
    from pumpapi.evaluation.lstm import (
        HORIZONS,
        mase_with_interval,
        recursive_forecast,
        skill_horizons,
    )
    from pumpapi.evaluation.lstm import series_windows as horizon_windows

    longest = max(HORIZONS)
    data = horizon_windows(fleet, stride, longest)
    paths = recursive_forecast(next_values, data.windows, longest)
    per_horizon, skill, skilled, full = {}, 0, True, {}
    for h in HORIZONS:
        result = full[str(h)] = mase_with_interval(
            np.abs(paths[:, h - 1] - data.following[:, h - 1]),
            np.abs(data.windows[:, -1] - data.following[:, h - 1]),
            data.channel,
            data.pump,
        )
        per_horizon[str(h)] = result["overall"]
        high = result["overall"]["ci"][1]
        skilled = skilled and high is not None and high < 1.0
        skill = h if skilled else skill
    return {
        "mase_per_horizon": per_horizon,
        "skill_horizon": skill,
        "skill_horizon_per_channel": skill_horizons(full),
        "windows": len(data),
    }


def train_lstm(
    store: ModelStore,
    config: LSTMTrainingConfig = LSTMTrainingConfig(),
    fleet: Sequence[Any] | None = None,
    described: Mapping[str, Any] | None = None,
) -> ModelVersion:
    """Simulate a fleet (or take `fleet`, from where `described` says), train on some pumps'
    channels, measure on others, publish a version."""
    started = time.perf_counter()
    split = seeded_split(config, fleet, described)
    train, validation, test = split.windows(series_windows, config.stride)

    model = build_model(config.units, config.learning_rate)
    train_inputs, _ = normalise(train.windows)
    validation_inputs, _ = normalise(validation.windows)
    fit = fit_early_stopping(
        model,
        (train_inputs, targets(train.windows, train.following)),
        (validation_inputs, targets(validation.windows, validation.following)),
        config,
    )
    test_inputs, test_scale = normalise(test.windows)
    outputs = np.asarray(model.predict(test_inputs, batch_size=2048, verbose=0))
    metrics = forecast_metrics(denormalise(test.windows, outputs, test_scale), test)
    log.info("lstm held-out MASE %.3f", metrics["mase"])

    def next_values(windows: np.ndarray) -> np.ndarray:
        inputs, scale = normalise(windows)
        return denormalise(windows, model.predict_on_batch(inputs), scale)

    metrics["horizons"] = horizon_skill(next_values, split.held_out)

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
            "name": "lstm-series-forecaster",
            "description": "Next value of any telemetry series from its last 60 values, "
            "each window taken relative to its last value, in units of its own noise.",
            "timesteps": WINDOW,
            "normalisation_method": NORMALISATION_METHOD,
            # Each channel's distribution in the train pumps' readings, for drift.
            "reference": reference.build(train_channels),
            # [min, max] of each channel in the same readings, and of all of them pooled (a
            # posted series, whose channel is not known): beyond, answers carry a warning.
            "trained_ranges": support.describe(
                {SERIES_INPUT: np.concatenate(list(train_channels.values())), **train_channels}
            ),
            "metrics": metrics,
            "training": run_record(
                split, (train, validation, test), fit, started, config, channels=list(CHANNEL_NAMES)
            ),
        },
    )


def summary(metadata: dict[str, Any]) -> list[str]:
    """Held-out MAE against persistence per channel, MASE, and the run's size and time."""
    metrics = metadata["metrics"]
    lines = [f"{'held-out pumps':<14}{'MAE':>12}{'persistence':>14}{'MASE':>8}"]
    for name, row in metrics["per_channel"].items():
        mase = "n/a" if row["mase"] is None else f"{row['mase']:.3f}"
        lines.append(f"{name:<14}{row['mae']:>12.4f}{row['mae_persistence']:>14.4f}{mase:>8}")
    verdict = "beats" if metrics["beats_persistence"] else "does NOT beat"
    mase = "n/a" if metrics["mase"] is None else f"{metrics['mase']:.3f}"
    lines.append(f"MASE over channels {mase}: the model {verdict} persistence")
    horizons = metrics.get("horizons")
    if horizons:
        lines.append(
            "MASE per horizon "
            + ", ".join(f"h={h}: {v['value']}" for h, v in horizons["mase_per_horizon"].items())
            + f"; skill up to h={horizons['skill_horizon']}"
        )
    lines.append(run_summary(metadata["training"]))
    return lines
