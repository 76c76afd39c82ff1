"""Evaluation of the LSTM forecaster on a fleet it never saw, against persistence per horizon.

Windows of 60 values are cut from every channel of every pump of an independent fleet; the
served forecast (`SeriesForecaster.next_values`, fed its own predictions for later steps) is
compared with what followed, and with persistence (every later value = the last one).

MASE is the model's MAE over persistence's on the same windows; overall, the mean of the
channels' MASE (no channel weighs more for its unit). Intervals: 95 % percentile bootstrap over
pumps (a pump brings all its windows of every channel). Windows "with a start or stop" are those
whose pump changed between running and stopped within the window or at the forecast step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pumpapi.models.lstm import WINDOW
from pumpapi.telemetry import CHANNEL_NAMES

#: Seed of the default evaluation fleet: never used by training (whose default is 42).
EVALUATION_SEED = 20_260_702
PUMPS = 60
DAYS = 4
#: Minutes between consecutive windows of a pump's channel at h = 1, and for the horizons.
STRIDE = 30
HORIZON_STRIDE = 240
HORIZONS: tuple[int, ...] = (1, 2, 5, 10, 20, 30, 60)
RESAMPLES = 1000
MASE_GOAL = 0.8


@dataclass
class SeriesWindows:
    """Windows (n, 60), the values that followed (n, H), channel (n,), pump (n,), and whether
    the pump started or stopped within the window or the H steps after it (n,)."""

    windows: np.ndarray
    following: np.ndarray
    channel: np.ndarray
    pump: np.ndarray
    switching: np.ndarray

    def __len__(self) -> int:
        return len(self.windows)


def series_windows(fleet: Sequence[Any], stride: int, horizon: int = 1) -> SeriesWindows:
    """Every `stride`-th window of every channel of every pump, with the `horizon` values after."""
    windows, following, channel, pump, switching = [], [], [], [], []
    for number, history in enumerate(fleet):
        readings = np.asarray(history.readings, dtype=np.float64)
        running = np.asarray(history.running, dtype=bool)
        starts = np.arange(0, len(readings) - WINDOW - horizon + 1, stride)
        index = starts[:, np.newaxis] + np.arange(WINDOW + horizon)
        state = running[index]
        switched = state.any(axis=1) & ~state.all(axis=1)
        for c in range(readings.shape[1]):
            block = readings[index, c]
            windows.append(block[:, :WINDOW])
            following.append(block[:, WINDOW:])
            channel.append(np.full(len(starts), c))
            pump.append(np.full(len(starts), number))
            switching.append(switched)
    return SeriesWindows(
        np.concatenate(windows),
        np.concatenate(following),
        np.concatenate(channel),
        np.concatenate(pump),
        np.concatenate(switching),
    )


def recursive_forecast(
    next_values: Callable[[np.ndarray], np.ndarray], windows: np.ndarray, horizon: int
) -> np.ndarray:
    """(n, horizon) forecasts, each step from a window holding the previous predictions (as the
    service answers `horizon`)."""
    window = np.asarray(windows, dtype=np.float64).copy()
    out = np.empty((len(window), horizon))
    for step in range(horizon):
        out[:, step] = np.concatenate(
            [next_values(window[i : i + 8192]) for i in range(0, len(window), 8192)]
        )
        window = np.concatenate([window[:, 1:], out[:, step : step + 1]], axis=1)
    return out


def mase_with_interval(
    model_error: np.ndarray,
    naive_error: np.ndarray,
    channel: np.ndarray,
    pump: np.ndarray,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """MASE per channel and overall (mean over channels), with bootstrap intervals over pumps."""
    pumps = int(pump.max()) + 1
    channels = len(CHANNEL_NAMES)
    cell = pump * channels + channel
    num = np.bincount(cell, weights=model_error, minlength=pumps * channels).reshape(pumps, -1)
    den = np.bincount(cell, weights=naive_error, minlength=pumps * channels).reshape(pumps, -1)
    counts = np.random.default_rng(seed).multinomial(
        pumps, np.full(pumps, 1.0 / pumps), size=resamples
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        point = num.sum(axis=0) / den.sum(axis=0)
        boot = (counts @ num) / (counts @ den)  # (resamples, channels)
    defined = den.sum(axis=0) > 0

    def interval(values: np.ndarray, estimate: float) -> dict[str, float | None]:
        values = values[np.isfinite(values)]
        if not np.isfinite(estimate) or values.size == 0:
            return {"value": None, "low": None, "high": None}
        return {
            "value": round(float(estimate), 4),
            "low": round(float(np.percentile(values, 2.5)), 4),
            "high": round(float(np.percentile(values, 97.5)), 4),
        }

    per_channel = {name: interval(boot[:, c], point[c]) for c, name in enumerate(CHANNEL_NAMES)}
    overall = interval(np.nanmean(boot[:, defined], axis=1), float(np.mean(point[defined])))
    return {"overall": overall, "per_channel": per_channel}


def evaluate(
    next_values: Callable[[np.ndarray], np.ndarray],
    fleet: Sequence[Any],
    *,
    stride: int = STRIDE,
    horizon_stride: int = HORIZON_STRIDE,
    horizons: Sequence[int] = HORIZONS,
    seed: int = 0,
) -> dict[str, Any]:
    """MASE at h = 1 (all windows, and those with a start or stop), MASE per horizon, and the
    horizon beyond which the model has no skill (`skill_horizon`: the last h whose interval
    lies wholly below 1, every shorter one too)."""
    one = series_windows(fleet, stride, 1)
    predicted = recursive_forecast(next_values, one.windows, 1)[:, 0]
    model_error = np.abs(predicted - one.following[:, 0])
    naive_error = np.abs(one.windows[:, -1] - one.following[:, 0])
    h1 = mase_with_interval(model_error, naive_error, one.channel, one.pump, seed=seed)
    s = one.switching
    switching = mase_with_interval(
        model_error[s], naive_error[s], one.channel[s], one.pump[s], seed=seed
    )
    steady = mase_with_interval(
        model_error[~s], naive_error[~s], one.channel[~s], one.pump[~s], seed=seed
    )

    longest = max(horizons)
    far = series_windows(fleet, horizon_stride, longest)
    paths = recursive_forecast(next_values, far.windows, longest)
    per_horizon = {}
    skill_horizon = 0
    still_skilled = True
    for h in sorted(horizons):
        result = mase_with_interval(
            np.abs(paths[:, h - 1] - far.following[:, h - 1]),
            np.abs(far.windows[:, -1] - far.following[:, h - 1]),
            far.channel,
            far.pump,
            seed=seed,
        )
        per_horizon[str(h)] = result
        high = result["overall"]["high"]
        if still_skilled and high is not None and high < 1.0:
            skill_horizon = h
        else:
            still_skilled = False
    worst_channel = max(v["value"] for v in h1["per_channel"].values() if v["value"] is not None)
    worst_switching = max(
        v["value"] for v in switching["per_channel"].values() if v["value"] is not None
    )
    return {
        "fleet": {
            "pumps": len(fleet),
            "windows": len(one),
            "windows_with_start_or_stop": int(s.sum()),
            "horizon_windows": len(far),
        },
        "h1": h1,
        "h1_with_start_or_stop": switching,
        "h1_steady": steady,
        "per_horizon": per_horizon,
        "skill_horizon": skill_horizon,
        "goals": {
            "mase_below_0_8": h1["overall"]["value"] < MASE_GOAL,
            "every_channel_below_1": worst_channel < 1.0,
            "every_channel_below_1_with_start_or_stop": worst_switching < 1.0,
        },
        "confidence": "95 % percentile bootstrap over pumps",
    }
