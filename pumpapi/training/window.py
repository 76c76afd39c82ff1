"""Training of the failure-risk window model (what /machine/predict answers from), in the same run
and on the same pumps as the xgboost family's reading model.

Rows: the window statistics (`pumpapi.models.window.features`) of every `stride`-th reading of
each pump, over the readings up to it; label: a failure within the horizon after it. Fitted on
the train pumps, early-stopped on the validation pumps, calibrated (Platt) and given its decision
threshold from the same cost policy on the validation pumps, measured on the test pumps beside
the reading model's answers for the same readings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xgboost

from pumpapi.models import window
from pumpapi.models.xgboost import FEATURE_CHANNELS, FEATURE_ORDER
from pumpapi.training.decisions import calibrate, choose_cost_threshold, evaluate, fit_calibration

#: A window every this many readings (readings a minute apart give nearly the same window).
STRIDE = 15
HYPERPARAMETERS: dict[str, Any] = {
    "objective": "binary:logistic",
    "eval_metric": "logloss",
    "max_depth": 6,
    "eta": 0.05,
    "subsample": 0.8,
    "colsample_bytree": 0.5,
    "min_child_weight": 5,
    "tree_method": "hist",
    "max_bin": 128,
}
ROUNDS = 600
#: The window statistics that are the reading model's four features at the window's end
#: (`last_<channel>`), in FEATURE_ORDER: its answers for the same rows, for comparison.
LAST_FEATURES = [window.FEATURE_NAMES.index(f"last_{FEATURE_CHANNELS[f]}") for f in FEATURE_ORDER]
PATIENCE = 60


def window_rows(
    fleet: Sequence[Any], horizon_steps: int, stride: int = STRIDE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(statistics, labels, pump index) of every `stride`-th window of every pump of `fleet`
    (histories with `readings` and `failure_within`), from its RECENT-th reading on."""
    rows, labels, pumps = [], [], []
    for index, pump in enumerate(fleet):
        readings = np.asarray(pump.readings)
        ends = window.scored_ends(len(readings), stride)
        if len(ends) == 0:
            continue
        rows.append(window.features(readings, ends))
        labels.append(np.asarray(pump.failure_within(horizon_steps), dtype=np.int8)[ends])
        pumps.append(np.full(len(ends), index, dtype=np.int32))
    if not rows:
        return (
            np.empty((0, len(window.FEATURE_NAMES)), np.float32),
            np.empty(0, np.int8),
            np.empty(0, np.int32),
        )
    return np.vstack(rows), np.concatenate(labels), np.concatenate(pumps)


def fit(
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    seed: int,
    threads: int,
) -> xgboost.Booster:
    params = {**HYPERPARAMETERS, "seed": seed, "nthread": threads}
    names = list(window.FEATURE_NAMES)
    booster = xgboost.train(
        params,
        xgboost.DMatrix(train[0], label=train[1], feature_names=names),
        num_boost_round=ROUNDS,
        evals=[(xgboost.DMatrix(validation[0], label=validation[1], feature_names=names), "v")],
        early_stopping_rounds=PATIENCE,
        verbose_eval=False,
    )
    return booster[: booster.best_iteration + 1]


def train(
    rows: tuple[np.ndarray, np.ndarray, np.ndarray],
    pump_names: Sequence[str],
    splits: Mapping[str, Sequence[str]],
    *,
    seed: int,
    threads: int,
    policy: Mapping[str, float],
    reading_probabilities: np.ndarray | None = None,
) -> tuple[xgboost.Booster, dict[str, Any]]:
    """Fit, calibrate, choose the threshold and measure; returns the booster and its metadata
    (`window_model` of the version). `reading_probabilities`: the reading model's answers for
    the same rows, measured beside it on the test pumps."""
    features, labels, pumps = rows
    mask = {
        name: np.isin(pumps, [list(pump_names).index(p) for p in splits[name]])
        for name in ("train", "validation", "test")
    }
    if not labels[mask["train"]].any():
        raise ValueError("the training pumps never fail within the horizon")
    booster = fit(
        (features[mask["train"]], labels[mask["train"]]),
        (features[mask["validation"]], labels[mask["validation"]]),
        seed,
        threads,
    )

    def margins(subset: np.ndarray) -> np.ndarray:
        return booster.inplace_predict(features[subset], predict_type="margin").astype(np.float64)

    calibration = fit_calibration(labels[mask["validation"]], margins(mask["validation"]))
    threshold = choose_cost_threshold(
        labels[mask["validation"]], calibrate(margins(mask["validation"]), calibration), policy
    )
    test_labels = labels[mask["test"]]
    metrics = evaluate(test_labels, calibrate(margins(mask["test"]), calibration), threshold)
    if reading_probabilities is not None and test_labels.min() != test_labels.max():
        from sklearn.metrics import roc_auc_score

        metrics["reading_model_roc_auc_same_rows"] = round(
            float(roc_auc_score(test_labels, reading_probabilities[mask["test"]])), 4
        )
    meta = {
        "artifact": window.ARTIFACT,
        "artifact_format": "XGBoost UBJSON (Booster.save_model)",
        "window": window.WINDOW,
        "recent": window.RECENT,
        "min_readings": window.MIN_READINGS,
        "running_rpm": window.RUNNING_RPM,
        "feature_names": list(window.FEATURE_NAMES),
        "calibration": calibration,
        "threshold": round(float(threshold), 6),
        "hyperparameters": {**HYPERPARAMETERS, "seed": seed, "stride": STRIDE},
        "boosting_rounds": booster.num_boosted_rounds(),
        "metrics": {
            **metrics,
            "evaluated_on": f"held-out test pumps ({len(splits['test'])}), every {STRIDE}th "
            "reading's window",
        },
        "rows": {name: int(m.sum()) for name, m in mask.items()},
    }
    return booster, meta
