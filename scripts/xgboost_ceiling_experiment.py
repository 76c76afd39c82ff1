"""Experiment (not served): how much do the failure-risk model's four features carry?

Issue 10 asks the reading model for ROC-AUC ≥ logistic regression + 0.02; it reads +0.013. Is
the training fleet the limit? This fits an unconstrained gradient-boosted tree ensemble and a
logistic regression on ten times the training pumps (1,200 by default, simulated with seeds
no version uses) and scores them, beside the served version and its own regression, on the
evaluation seed's fleets (in distribution; 60 and 240 pumps), as `pumpapi evaluate` rows them.

    .venv/bin/python scripts/xgboost_ceiling_experiment.py var/models 1200

What it measured: docs/models.md ("xgboost: what four features of one reading can reach").
About 10 minutes here (the tree ensemble's 1,000 rounds on 4.8 million rows).
"""

from __future__ import annotations

import sys
import time

import numpy as np


def main(store: str, pumps: int) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler

    from pumpapi.devtools.simulator import simulate_fleet
    from pumpapi.evaluation import fleets, load_model
    from pumpapi.evaluation.xgboost import Rows, logistic_from_metadata
    from pumpapi.models.store import ModelStore

    started = time.time()
    model = load_model(ModelStore(store), "xgboost", config={})
    columns, horizon = model.channel_columns, int(model.metadata["horizon"]["steps"])
    parts = [
        Rows(simulate_fleet(200, 20_000, seed=9_100 + chunk), columns, horizon)
        for chunk in range(pumps // 200)
    ]
    x = np.concatenate([p.features for p in parts])
    y = np.concatenate([p.labels for p in parts])
    print(f"{len(x):,} training rows, {y.mean():.4f} positive", flush=True)
    trees = HistGradientBoostingClassifier(
        max_iter=1000, learning_rate=0.05, max_leaf_nodes=31, early_stopping=True, random_state=0
    ).fit(x, y)
    scaler = StandardScaler().fit(x)
    regression = LogisticRegression(max_iter=1000).fit(scaler.transform(x), y)
    own_regression = logistic_from_metadata(model.metadata)
    for n in (60, 240):
        rows = Rows(simulate_fleet(n, 20_000, seed=fleets.DEFAULT_SEED), columns, horizon)

        def auc(p: np.ndarray, labels: np.ndarray = rows.labels) -> float:
            return round(float(roc_auc_score(labels, p)), 4)

        print(
            f"{n} pumps: served {auc(model.predict(rows.features))}, "
            f"its regression {auc(own_regression(rows.features))}, "
            f"regression on {pumps} pumps "
            f"{auc(regression.predict_proba(scaler.transform(rows.features))[:, 1])}, "
            f"tree ensemble on {pumps} pumps {auc(trees.predict_proba(rows.features)[:, 1])}",
            flush=True,
        )
    print(f"{time.time() - started:.0f} s")


if __name__ == "__main__":
    arguments = sys.argv[1:]
    main(arguments[0] if arguments else "var/models", int(arguments[1]) if arguments[1:] else 1200)
