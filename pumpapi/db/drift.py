"""Recent values of a model's inputs, for drift against its training reference.

Two sources:

- `traffic`: what the model was asked, from the prediction log — a logged request's inputs where
  they carry the input by name (a reading sent to `/model/xgboost/predict`, each row of a batch,
  a reading sent to `/model/gru/predict`), or the reading `/machine/predict` answered from.
- `telemetry`: the pumps' readings stored in the period, for inputs that are telemetry channels
  (every gru and lstm input; xgboost's features through their channels). What `/machine/*`
  routes read, whether or not anyone asked yet.

The most recent `limit` rows of the period are read: enough for deciles, bounded in memory.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import numpy as np
import psycopg
from psycopg import sql

from pumpapi.channels import BY_NAME

SOURCES = ("traffic", "telemetry")
#: Most rows read per request.
LIMIT = 100_000


def channel_of(name: str, feature_channels: Mapping[str, str]) -> str | None:
    """The telemetry channel an input is, if any: a channel's own name, or a feature's."""
    if name in BY_NAME:
        return name
    return feature_channels.get(name)


def _period(since: dt.datetime, until: dt.datetime | None) -> dict:
    return {"since": since, "until": until}


def traffic_values(
    conn: psycopg.Connection,
    family: str,
    names: Sequence[str],
    since: dt.datetime,
    until: dt.datetime | None = None,
    version: str | None = None,
    limit: int = LIMIT,
) -> dict[str, np.ndarray]:
    """Each named input's values in the requests the family answered (shadow answers left out)."""
    source = sql.SQL("COALESCE(p.output #> '{result,reading,features}', p.inputs)")
    columns = sql.SQL(", ").join(
        sql.SQL(
            "CASE WHEN jsonb_typeof({source} -> {name}) = 'number'"
            " THEN ({source} ->> {name})::float8 END"
        ).format(source=source, name=sql.Literal(name))
        for name in names
    )
    query = sql.SQL(
        "SELECT {columns} FROM predictions p WHERE p.family = %(family)s AND NOT p.shadow"
        " AND (%(version)s::text IS NULL OR p.version = %(version)s)"
        " AND p.ts >= %(since)s AND (%(until)s::timestamptz IS NULL OR p.ts < %(until)s)"
        " ORDER BY p.ts DESC LIMIT %(limit)s"
    ).format(columns=columns)
    rows = conn.execute(
        query, {"family": family, "version": version, "limit": limit, **_period(since, until)}
    ).fetchall()
    return _columns(names, rows)


def telemetry_values(
    conn: psycopg.Connection,
    channels: Mapping[str, str],
    since: dt.datetime,
    until: dt.datetime | None = None,
    limit: int = LIMIT,
) -> dict[str, np.ndarray]:
    """Each input's values in the readings stored in the period; `channels` maps input names to
    telemetry channel names. Every pump weighs the same: the most recent limit/pumps readings of
    each, read through the readings' (pump, time) key."""
    names = list(channels)
    columns = sql.SQL(", ").join(sql.Identifier("r", BY_NAME[channels[n]].column) for n in names)
    query = sql.SQL(
        "SELECT {columns} FROM pumps pu CROSS JOIN LATERAL ("
        " SELECT * FROM readings r WHERE r.pump_id = pu.id AND r.ts >= %(since)s"
        " AND (%(until)s::timestamptz IS NULL OR r.ts < %(until)s)"
        " ORDER BY r.ts DESC LIMIT %(per_pump)s) AS r"
    ).format(columns=columns)
    (pumps,) = conn.execute("SELECT count(*) FROM pumps").fetchone()
    per_pump = max(1, limit // max(1, pumps))
    rows = conn.execute(query, {"per_pump": per_pump, **_period(since, until)}).fetchall()
    return _columns(names, rows)


def _columns(names: Sequence[str], rows: list[tuple]) -> dict[str, np.ndarray]:
    table = np.array(rows, dtype=np.float64).reshape(len(rows), len(names))
    return {name: table[:, i][np.isfinite(table[:, i])] for i, name in enumerate(names)}
