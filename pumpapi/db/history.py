"""What was answered about each pump: its risk and health predictions in the prediction log."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg

#: Hourly mean of the failure risk answered about each pump (`/machine/predict`), shadow
#: answers left out; read through the index on (machine, ts).
_RISK_BY_HOUR = (
    "SELECT machine, date_trunc('hour', ts) AS hour,"
    " avg((output #>> '{result,probability}')::float8)"
    " FROM predictions WHERE machine IS NOT NULL AND ts >= %(since)s"
    " AND family = 'xgboost' AND route = '/machine/predict' AND NOT shadow"
    " GROUP BY 1, 2 ORDER BY 1, 2"
)

#: One pump's logged risk and health answers in a period, oldest first.
_ANSWERS = (
    "SELECT ts, family, (output #>> '{result,probability}')::float8,"
    " (output #>> '{indices,lubrificacao}')::float8, (output #>> '{indices,hidraulico}')::float8"
    " FROM predictions WHERE machine = %(machine)s AND ts >= %(since)s AND ts < %(until)s"
    " AND NOT shadow AND ((family = 'xgboost' AND route = '/machine/predict')"
    " OR (family = 'gru' AND route = '/machine/gru/predict'))"
    " ORDER BY ts LIMIT %(limit)s"
)


def risk_by_hour(
    conn: psycopg.Connection, since: dt.datetime
) -> dict[str, list[tuple[dt.datetime, float]]]:
    """By pump, the hourly mean of the failure risk answered about it since `since`."""
    found: dict[str, list[tuple[dt.datetime, float]]] = {}
    for machine, hour, probability in conn.execute(_RISK_BY_HOUR, {"since": since}):
        if probability is not None:
            found.setdefault(machine, []).append((hour, float(probability)))
    return found


def answers_about(
    conn: psycopg.Connection,
    machine: str,
    since: dt.datetime,
    until: dt.datetime,
    limit: int = 5_000,
) -> dict[str, list[tuple[dt.datetime, float]]]:
    """One pump's logged answers in [since, until): `risk`, `lubrificacao` and `hidraulico`,
    each a list of (time, value), oldest first."""
    series: dict[str, list[Any]] = {"risk": [], "lubrificacao": [], "hidraulico": []}
    params = {"machine": machine, "since": since, "until": until, "limit": limit}
    for ts, family, probability, lubrication, hydraulic in conn.execute(_ANSWERS, params):
        if family == "xgboost" and probability is not None:
            series["risk"].append((ts, probability))
        elif family == "gru":
            if lubrication is not None:
                series["lubrificacao"].append((ts, lubrication))
            if hydraulic is not None:
                series["hidraulico"].append((ts, hydraulic))
    return series
