"""Evaluation of the GRU health indices on a fleet it never saw, against the trivial answers.

Windows are cut from every pump of an independent fleet (simulated with a seed training never
uses) every `stride` minutes; the served answer (`HealthIndexModel.indices`: clipped inputs,
capped indices) is compared with the simulator's true health at each window's last reading.
Every figure comes with a bootstrap confidence interval over pumps: the windows of one pump are
not independent (a fault lasts days), pumps are.

Baselines, fitted on a fleet simulated like training's (its seed and size):
- `constant`: the training windows' median index (the best constant for the MAE);
- `window_statistics_gbm`: a gradient-boosted regressor on per-channel window statistics
  (mean, spread, min, max, last value, last minus first), one per index.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pumpapi.models.gru import ATTENTION_FROM, INDICES, OK_FROM, WINDOW
from pumpapi.telemetry import CHANNEL_NAMES, CHANNELS

#: Seed of the default evaluation fleet: never used by training (whose default is 42).
EVALUATION_SEED = 20_260_701
#: Pumps and days of the default evaluation fleet.
PUMPS = 60
DAYS = 30
#: Minutes between consecutive evaluated windows of a pump (as training's).
STRIDE = 120
#: Bootstrap resamples of the pumps.
RESAMPLES = 1000
#: The goals of issue 10 (index points; shares of windows).
MAE_GOAL = 4.0
ALERT_RECALL_GOAL = 0.8
ATTENTION_RECALL_GOAL = 0.9


@dataclass
class FleetWindows:
    """Windows (n, 60, 8), true indices (n, 2) in 0–100, the pump of each (n,), and whether the
    pump was running at the window's last reading (n,)."""

    inputs: np.ndarray
    truth: np.ndarray
    pump: np.ndarray
    running: np.ndarray

    def __len__(self) -> int:
        return len(self.inputs)


def fleet_windows(fleet: Sequence[Any], stride: int = STRIDE) -> FleetWindows:
    """Every `stride`-th full window of each pump, with its true health and running state."""
    inputs, truth, pump, running = [], [], [], []
    for number, history in enumerate(fleet):
        readings = np.asarray(history.readings, dtype=np.float64)
        ends = np.arange(WINDOW - 1, len(readings), stride)
        index = ends[:, np.newaxis] - np.arange(WINDOW - 1, -1, -1)
        inputs.append(readings[index])
        truth.append(
            np.stack([history.lubrication_health[ends], history.hydraulic_health[ends]], axis=1)
        )
        pump.append(np.full(len(ends), number))
        running.append(np.asarray(history.running, dtype=bool)[ends])
    return FleetWindows(
        np.concatenate(inputs),
        np.concatenate(truth),
        np.concatenate(pump),
        np.concatenate(running),
    )


def bootstrap_ratio(
    numerator: np.ndarray,
    denominator: np.ndarray,
    pump: np.ndarray,
    resamples: int = RESAMPLES,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float | None]:
    """sum(numerator) / sum(denominator) over windows (a mean, a recall…) with a percentile
    bootstrap interval over pumps: pumps are drawn with replacement, each bringing all its
    windows. None where the denominator is empty."""
    pumps = int(pump.max()) + 1 if len(pump) else 0
    num = np.bincount(pump, weights=numerator, minlength=pumps)
    den = np.bincount(pump, weights=denominator, minlength=pumps)
    if den.sum() <= 0:
        return {"value": None, "low": None, "high": None}
    counts = np.random.default_rng(seed).multinomial(
        pumps, np.full(pumps, 1.0 / pumps), size=resamples
    )
    totals = counts @ den
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = (counts @ num) / totals
    ratios = ratios[totals > 0]
    tail = (1.0 - level) / 2 * 100
    return {
        "value": round(float(num.sum() / den.sum()), 4),
        "low": round(float(np.percentile(ratios, tail)), 4),
        "high": round(float(np.percentile(ratios, 100 - tail)), 4),
    }


def window_statistics(inputs: np.ndarray) -> np.ndarray:
    """Per-channel statistics of each window (n, 60, 8) -> (n, 48): mean, standard deviation,
    min, max, last value, last minus first."""
    return np.concatenate(
        [
            inputs.mean(axis=1),
            inputs.std(axis=1),
            inputs.min(axis=1),
            inputs.max(axis=1),
            inputs[:, -1, :],
            inputs[:, -1, :] - inputs[:, 0, :],
        ],
        axis=1,
    )


def fit_baselines(train: FleetWindows, seed: int = 0) -> dict[str, Callable[[np.ndarray], Any]]:
    """The trivial answers, fitted on `train`: name -> windows (n, 60, 8) -> indices (n, 2)."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    median = np.median(train.truth, axis=0)
    features = window_statistics(train.inputs)
    regressors = [
        HistGradientBoostingRegressor(loss="absolute_error", max_iter=300, random_state=seed).fit(
            features, train.truth[:, k]
        )
        for k in range(len(INDICES))
    ]

    def gbm(inputs: np.ndarray) -> np.ndarray:
        stats = window_statistics(inputs)
        return np.clip(np.stack([r.predict(stats) for r in regressors], axis=1), 0.0, 100.0)

    return {
        "constant": lambda inputs: np.broadcast_to(median, (len(inputs), len(INDICES))),
        "window_statistics_gbm": gbm,
    }


def score(predicted: np.ndarray, data: FleetWindows, seed: int = 0) -> dict[str, Any]:
    """MAE per index (all windows, running, stopped) and recall of the bad bands, each with its
    bootstrap interval over pumps."""
    predicted = np.asarray(predicted, dtype=np.float64)
    errors = np.abs(predicted - data.truth)
    ones = np.ones(len(data))
    result: dict[str, Any] = {}
    for k, name in enumerate(INDICES):
        truth, answer = data.truth[:, k], predicted[:, k]
        alert, attention = truth < ATTENTION_FROM, truth < OK_FROM
        result[name] = {
            "mae": bootstrap_ratio(errors[:, k], ones, data.pump, seed=seed),
            "mae_running": bootstrap_ratio(
                errors[:, k] * data.running, data.running * 1.0, data.pump, seed=seed
            ),
            "mae_stopped": bootstrap_ratio(
                errors[:, k] * ~data.running, ~data.running * 1.0, data.pump, seed=seed
            ),
            "recall_alerta": bootstrap_ratio(
                alert & (answer < ATTENTION_FROM), alert * 1.0, data.pump, seed=seed
            ),
            "recall_atencao_or_worse": bootstrap_ratio(
                attention & (answer < OK_FROM), attention * 1.0, data.pump, seed=seed
            ),
            "false_alarms_on_ok": bootstrap_ratio(
                ~attention & (answer < OK_FROM), ~attention * 1.0, data.pump, seed=seed
            ),
            "windows_alerta": int(alert.sum()),
            "windows_atencao_or_worse": int(attention.sum()),
        }
    return result


def impossible_windows() -> dict[str, np.ndarray]:
    """Windows no healthy pump shows, which must never be rated OK (issue 10's behaviour)."""
    nominal = np.array([c.nominal for c in CHANNELS])
    suction = CHANNEL_NAMES.index("Succao")
    cavitating = np.repeat(nominal[np.newaxis], WINDOW, axis=0)
    cavitating[:, suction] = -0.8
    return {
        "every_channel_at_its_maximum": np.repeat(
            np.array([[c.maximum for c in CHANNELS]]), WINDOW, axis=0
        ),
        "suction_at_minus_0_8_bar": cavitating,
    }


def evaluate(
    indices: Callable[[np.ndarray], np.ndarray],
    fleet: Sequence[Any],
    baseline_fleet: Sequence[Any],
    *,
    stride: int = STRIDE,
    seed: int = 0,
) -> dict[str, Any]:
    """The served model (`indices`: windows -> (n, 2) in 0–100) against its baselines on
    `fleet`, baselines fitted on `baseline_fleet`; goals checked on the point estimates and on
    the intervals' pessimistic ends."""
    data = fleet_windows(fleet, stride)
    baselines = fit_baselines(fleet_windows(baseline_fleet, stride), seed=seed)
    model_scores = score(_batched(indices, data.inputs), data, seed=seed)
    baseline_scores = {
        name: score(answer(data.inputs), data, seed=seed) for name, answer in baselines.items()
    }
    behaviour = {}
    for name, window in impossible_windows().items():
        answer = _batched(indices, window[np.newaxis])[0]
        behaviour[name] = {
            index: {"value": round(float(v), 2), "ok": bool(v >= OK_FROM)}
            for index, v in zip(INDICES, answer, strict=True)
        }
    goals = {}
    for name in INDICES:
        ours = model_scores[name]
        goals[name] = {
            "mae_at_most_4": ours["mae"]["value"] <= MAE_GOAL,
            "recall_alerta_at_least_0_8": (ours["recall_alerta"]["value"] or 0)
            >= ALERT_RECALL_GOAL,
            "recall_atencao_or_worse_at_least_0_9": (ours["recall_atencao_or_worse"]["value"] or 0)
            >= ATTENTION_RECALL_GOAL,
            "beats_constant": ours["mae"]["value"]
            < baseline_scores["constant"][name]["mae"]["value"],
            "beats_window_statistics_gbm": ours["mae"]["value"]
            < baseline_scores["window_statistics_gbm"][name]["mae"]["value"],
            "stopped_no_worse_than_running": (ours["mae_stopped"]["value"] or 0)
            <= (ours["mae_running"]["high"] or 0),
        }
    goals["impossible_windows_never_ok"] = not any(
        v["ok"] for per_index in behaviour.values() for v in per_index.values()
    )
    return {
        "fleet": {
            "pumps": len(fleet),
            "windows": len(data),
            "stride_minutes": stride,
            "running_share": round(float(data.running.mean()), 3),
        },
        "model": model_scores,
        "baselines": baseline_scores,
        "impossible_windows": behaviour,
        "goals": goals,
        "confidence": "95 % percentile bootstrap over pumps",
    }


def _batched(
    indices: Callable[[np.ndarray], np.ndarray], inputs: np.ndarray, size: int = 4096
) -> np.ndarray:
    return np.concatenate(
        [np.asarray(indices(inputs[i : i + size])) for i in range(0, len(inputs), size)]
    )
