"""Probabilities and decisions of a binary classifier, shared by the xgboost family's models
(the reading model and the window model): Platt calibration, the decision threshold of a cost
policy and the metrics on held-out pumps."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def fit_calibration(labels: np.ndarray, margins: np.ndarray) -> dict[str, Any]:
    """Platt scaling of the booster's log-odds on validation pumps: p = σ(a·margin + b).

    Linear in the log-odds, so the TreeSHAP contributions scaled by `a` (and the bias mapped by
    a·bias + b) still sum exactly to the calibrated log-odds (pumpapi.models.attribution)."""
    from sklearn.linear_model import LogisticRegression

    if labels.min() == labels.max():
        return {"method": "platt", "a": 1.0, "b": 0.0, "fitted_on": "identity (one class)"}
    fit = LogisticRegression(C=1e6, max_iter=1000).fit(margins.reshape(-1, 1), labels)
    return {
        "method": "platt",
        "a": round(float(fit.coef_[0, 0]), 8),
        "b": round(float(fit.intercept_[0]), 8),
        "fitted_on": "validation pumps",
    }


def calibrate(margins: np.ndarray, calibration: Mapping[str, Any]) -> np.ndarray:
    z = float(calibration["a"]) * np.asarray(margins, dtype=np.float64) + float(calibration["b"])
    return 1.0 / (1.0 + np.exp(-z))


def choose_cost_threshold(
    labels: np.ndarray, probabilities: np.ndarray, policy: Mapping[str, float]
) -> float:
    """The threshold (at risk when p >= threshold) minimising missed · FN + false_alarm · FP."""
    order = np.argsort(-probabilities, kind="stable")
    p, y = probabilities[order], labels[order].astype(np.float64)
    fp = np.cumsum(1.0 - y)  # alarms on the first k+1 rows
    fn = y.sum() - np.cumsum(y)
    cost = policy["false_alarm"] * fp + policy["missed_failure"] * fn
    last = np.r_[p[1:] != p[:-1], True]  # a threshold can only sit between distinct scores
    cost = np.where(last, cost, np.inf)
    k = int(np.argmin(cost))
    if cost[k] >= policy["missed_failure"] * y.sum():  # never alarming is cheaper
        return float(min(1.0, p[0] + 1e-6))
    return float(p[k])


def evaluate(labels: np.ndarray, probabilities: np.ndarray, threshold: float) -> dict[str, Any]:
    """ROC-AUC, PR-AUC (average precision), Brier score, and F1/precision/recall at the
    threshold. The AUCs are None when the rows hold a single class."""
    from sklearn.metrics import (
        average_precision_score,
        brier_score_loss,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    predicted = probabilities >= threshold
    both_classes = labels.min() != labels.max()
    return {
        "roc_auc": round(float(roc_auc_score(labels, probabilities)), 6) if both_classes else None,
        "pr_auc": (
            round(float(average_precision_score(labels, probabilities)), 6)
            if both_classes
            else None
        ),
        "brier": round(float(brier_score_loss(labels, probabilities)), 6),
        "f1": round(float(f1_score(labels, predicted, zero_division=0)), 6),
        "precision": round(float(precision_score(labels, predicted, zero_division=0)), 6),
        "recall": round(float(recall_score(labels, predicted, zero_division=0)), 6),
        "threshold": round(float(threshold), 6),
        "base_rate": round(float(labels.mean()), 6),
        "rows": int(len(labels)),
        "positives": int(labels.sum()),
    }
