"""Realized performance: logged predictions joined with what happened afterwards.

- xgboost: a prediction about a pump (`/machine/predict`) is labelled once its horizon has
  passed or the pump failed within it (a `failure` event): ROC-AUC, precision and recall at the
  threshold it answered with, Brier score and calibration by decile of the predicted probability.
- lstm: a forecast of a pump's channel (`/machine/lstm/predict`) against the reading that
  followed it: MAE, and MASE against persistence (the last value).
- gru: an `inspection` event with a measured condition against the pump's latest health
  prediction in the day before it: MAE per index.

Per version, with the number of labelled predictions; shadow answers are left out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from pumpapi.channels import CHANNEL_COLUMNS, CHANNEL_NAMES

#: How long before an inspection a health prediction still describes the pump.
INSPECTION_WINDOW = dt.timedelta(hours=24)

_WHERE = sql.SQL(
    " AND NOT p.shadow AND p.machine IS NOT NULL"
    " AND (%(version)s::text IS NULL OR p.version = %(version)s)"
    " AND (%(since)s::timestamptz IS NULL OR p.ts >= %(since)s)"
    " AND (%(until)s::timestamptz IS NULL OR p.ts < %(until)s)"
)
_COLUMNS = sql.SQL(", ").join(sql.Identifier("r", c) for c in CHANNEL_COLUMNS)

_RISK = sql.SQL(
    "SELECT p.version, (p.output #>> '{{result,probability}}')::float8,"
    " (p.output #>> '{{result,threshold}}')::float8,"
    " EXISTS (SELECT 1 FROM events e JOIN pumps pu ON pu.id = e.pump_id"
    "  WHERE pu.name = p.machine AND e.kind = 'failure' AND e.ts > p.ts"
    "  AND e.ts <= p.ts + %(horizon)s * interval '1 hour') AS failed,"
    " p.ts + %(horizon)s * interval '1 hour' <= now() AS elapsed"
    " FROM predictions p WHERE p.family = 'xgboost' AND p.route = '/machine/predict'{where}"
).format(where=_WHERE)

_FORECAST = sql.SQL(
    "SELECT p.version, p.inputs #>> '{{query,channel}}', (p.output ->> 'prediction')::float8,"
    " last.*, nxt.*"
    " FROM predictions p JOIN pumps pu ON pu.name = p.machine"
    " LEFT JOIN LATERAL (SELECT {cols} FROM readings r WHERE r.pump_id = pu.id"
    "  AND r.ts = (p.output #>> '{{meta,last_timestamp}}')::timestamptz) AS last ON true"
    " LEFT JOIN LATERAL (SELECT {cols} FROM readings r WHERE r.pump_id = pu.id"
    "  AND r.ts > (p.output #>> '{{meta,last_timestamp}}')::timestamptz"
    "  ORDER BY r.ts LIMIT 1) AS nxt ON true"
    " WHERE p.family = 'lstm' AND p.route = '/machine/lstm/predict'{where}"
).format(cols=_COLUMNS, where=_WHERE)

_HEALTH = sql.SQL(
    "SELECT p.version, e.lubrificacao, e.hidraulico,"
    " (p.output #>> '{{indices,lubrificacao}}')::float8,"
    " (p.output #>> '{{indices,hidraulico}}')::float8"
    " FROM events e JOIN pumps pu ON pu.id = e.pump_id"
    " CROSS JOIN LATERAL (SELECT * FROM predictions p WHERE p.family = 'gru'"
    "  AND p.machine = pu.name AND p.ts <= e.ts AND p.ts > e.ts - %(window)s{where}"
    "  ORDER BY p.ts DESC LIMIT 1) AS p"
    " WHERE e.kind = 'inspection'"
).format(where=_WHERE)


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """ROC-AUC as the Mann-Whitney statistic (ties count half); None without both classes."""
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if not positives or not negatives:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    # Tied scores share the mean of their ranks.
    unique, inverse = np.unique(scores, return_inverse=True)
    if len(unique) < len(scores):
        ranks = np.bincount(inverse, ranks)[inverse] / np.bincount(inverse)[inverse]
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _risk(rows: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    labelled = [r for r in rows if r[3] or r[4]]
    figures: dict[str, Any] = {"predictions": len(rows), "labelled": len(labelled)}
    if not labelled:
        return figures
    probability = np.array([r[1] for r in labelled])
    threshold = np.array([r[2] for r in labelled])
    failed = np.array([bool(r[3]) for r in labelled])
    flagged = probability >= threshold
    true_positives = int((flagged & failed).sum())
    deciles = np.minimum((probability * 10).astype(int), 9)
    figures |= {
        "failures": int(failed.sum()),
        "roc_auc": roc_auc(probability, failed),
        "brier": float(np.mean((probability - failed) ** 2)),
        "precision": true_positives / int(flagged.sum()) if flagged.any() else None,
        "recall": true_positives / int(failed.sum()) if failed.any() else None,
        "calibration": [
            {
                "bin": [d / 10, (d + 1) / 10],
                "predictions": int((deciles == d).sum()),
                "mean_predicted": float(probability[deciles == d].mean()),
                "observed_rate": float(failed[deciles == d].mean()),
            }
            for d in range(10)
            if (deciles == d).any()
        ],
    }
    return figures


def _forecast(rows: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    width = len(CHANNEL_NAMES)
    errors, naive, by_channel = [], [], {}
    for row in rows:
        channel, predicted = row[1], row[2]
        if channel not in CHANNEL_NAMES:
            continue
        i = CHANNEL_NAMES.index(channel)
        last, following = row[3 + i], row[3 + width + i]
        if last is None or following is None:
            continue  # the reading that follows has not arrived yet
        errors.append(abs(predicted - following))
        naive.append(abs(last - following))
        by_channel.setdefault(channel, ([], []))
        by_channel[channel][0].append(errors[-1])
        by_channel[channel][1].append(naive[-1])
    figures: dict[str, Any] = {"predictions": len(rows), "labelled": len(errors)}
    if errors:
        figures |= {
            "mae": float(np.mean(errors)),
            "persistence_mae": float(np.mean(naive)),
            "mase": _ratio(errors, naive),
            "per_channel": {
                c: {"labelled": len(e), "mae": float(np.mean(e)), "mase": _ratio(e, n)}
                for c, (e, n) in sorted(by_channel.items())
            },
        }
    return figures


def _ratio(errors: Sequence[float], naive: Sequence[float]) -> float | None:
    return float(np.mean(errors) / np.mean(naive)) if np.mean(naive) > 0 else None


def _health(rows: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    figures: dict[str, Any] = {"labelled": len(rows)}
    for index, measured, predicted in (("lubrificacao", 1, 3), ("hidraulico", 2, 4)):
        pairs = [(r[measured], r[predicted]) for r in rows if r[measured] is not None]
        if pairs:
            figures[f"mae_{index}"] = float(np.mean([abs(m - p) for m, p in pairs]))
            figures[f"labelled_{index}"] = len(pairs)
    return figures


def realized(
    conn: psycopg.Connection,
    family: str,
    *,
    version: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    horizon_hours: float = 24.0,
) -> dict[str, dict[str, Any]]:
    """Per version, the family's realized figures (see the module)."""
    params = {
        "version": version,
        "since": since,
        "until": until,
        "horizon": horizon_hours,
        "window": INSPECTION_WINDOW,
    }
    query, summarise = {
        "xgboost": (_RISK, _risk),
        "lstm": (_FORECAST, _forecast),
        "gru": (_HEALTH, _health),
    }[family]
    rows = conn.execute(query, params).fetchall()
    by_version: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        by_version.setdefault(row[0], []).append(row)
    return {v: summarise(found) for v, found in sorted(by_version.items(), key=lambda i: i[0])}
