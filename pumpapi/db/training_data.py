"""Pump histories read back from PostgreSQL: a real fleet's telemetry and events, in the shape
training reads from the simulator (`pumpapi train FAMILY --source db`).

Memory: one pump at a time is read through a server-side cursor, in blocks, into float32
arrays sized by a count first, so the peak is the fleet's readings as float32 (32 bytes a
reading: 320 MB for 10 M readings) plus one block — never Python tuples for the whole fleet.

Labels, from the events table:

- failures (xgboost): each `failure` event is placed at the first reading at or after it; a
  reading is labelled positive when a failure follows it within the horizon, as in simulation.
- health (gru): the indices are known where an `inspection` measured them. Between two
  inspections of a pump with no failure or repair in between, the index moves linearly from one
  measurement to the next (wear is gradual); a `repair` resets both indices to 100 (and a
  `failure` of a cause sets its index to 0: the part has failed). Readings outside such a
  stretch carry no health label (NaN) and no window of them is trained on.
- the series itself (lstm): nothing else is needed.

`running` is derived, not stored: the engine turns faster than RUNNING_RPM.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from pumpapi.channels import CHANNEL_COLUMNS

#: Rows fetched from the server per round trip.
BLOCK = 50_000
#: Engine speed above which a pump counts as running.
RUNNING_RPM = 300.0
#: What each failure cause says about the health indices (the failed part's index is 0).
CAUSE_INDEX = {
    "oil_leak": "lubrificacao",
    "overheating": "lubrificacao",
    "cavitation": "hidraulico",
}
INDICES = ("lubrificacao", "hidraulico")


@dataclass
class StoredHistory:
    """One pump's readings and labels as stored: what training reads of a simulated pump."""

    name: str
    timestamps: np.ndarray  # datetime64[us], UTC
    readings: np.ndarray  # float32, (n, 8), CHANNEL_NAMES order
    failures: np.ndarray  # int64 reading indices of failure events
    lubrication_health: np.ndarray  # float32, NaN where no inspection defines it
    hydraulic_health: np.ndarray
    causes: list[str] = field(default_factory=list)

    @property
    def running(self) -> np.ndarray:
        return self.readings[:, 0] > RUNNING_RPM

    def steps_to_failure(self) -> np.ndarray:
        steps = np.arange(len(self.timestamps))
        nxt = np.searchsorted(self.failures, steps, side="right")
        out = np.full(len(steps), np.inf)
        has_next = nxt < len(self.failures)
        out[has_next] = self.failures[nxt[has_next]] - steps[has_next]
        return out

    def failure_within(self, horizon_steps: int) -> np.ndarray:
        """Whether a failure event happens in (t, t + horizon_steps] for each reading t."""
        return self.steps_to_failure() <= horizon_steps


@dataclass(frozen=True)
class Selection:
    """Which part of the database a training run reads; recorded in the version's metadata."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    pumps: Sequence[str] | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "pumps": list(self.pumps) if self.pumps else "all",
        }


_WINDOW = sql.SQL(
    " AND (%(since)s::timestamptz IS NULL OR ts >= %(since)s)"
    " AND (%(until)s::timestamptz IS NULL OR ts < %(until)s)"
)


def _pumps(conn: psycopg.Connection, selection: Selection) -> list[tuple[int, str]]:
    rows = conn.execute(
        "SELECT id, name FROM pumps WHERE %(names)s::text[] IS NULL OR name = ANY(%(names)s)"
        " ORDER BY name",
        {"names": list(selection.pumps) if selection.pumps else None},
    ).fetchall()
    if selection.pumps:
        missing = set(selection.pumps) - {name for _, name in rows}
        if missing:
            raise ValueError(f"no such pump in the database: {', '.join(sorted(missing))}")
    return rows


def _readings(
    conn: psycopg.Connection, pump_id: int, params: dict
) -> tuple[np.ndarray, np.ndarray]:
    (count,) = conn.execute(
        sql.SQL("SELECT count(*) FROM readings WHERE pump_id = %(pump)s{w}").format(w=_WINDOW),
        {**params, "pump": pump_id},
    ).fetchone()
    timestamps = np.empty(count, dtype="datetime64[us]")
    readings = np.empty((count, len(CHANNEL_COLUMNS)), dtype=np.float32)
    query = sql.SQL(
        "SELECT (extract(epoch FROM ts) * 1000000)::int8, {cols} FROM readings"
        " WHERE pump_id = %(pump)s{w} ORDER BY ts"
    ).format(cols=sql.SQL(", ").join(map(sql.Identifier, CHANNEL_COLUMNS)), w=_WINDOW)
    filled = 0
    with conn.cursor(name=f"pumpapi_history_{pump_id}") as cursor:
        cursor.itersize = BLOCK
        cursor.execute(query, {**params, "pump": pump_id})
        while rows := cursor.fetchmany(BLOCK):
            block = np.array(rows, dtype=np.float64)[: count - filled]
            timestamps[filled : filled + len(block)] = block[:, 0].astype(np.int64)
            readings[filled : filled + len(block)] = block[:, 1:]
            filled += len(block)
    return timestamps[:filled], readings[:filled]


def _at(timestamps: np.ndarray, moment: dt.datetime) -> int:
    """The index of the first reading at or after `moment`."""
    utc = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return int(np.searchsorted(timestamps, np.datetime64(utc, "us")))


def _health(timestamps: np.ndarray, events: list[tuple], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each index per reading from the pump's events (see the module's docstring)."""
    out = {}
    for index in INDICES:
        anchors: list[tuple[int, float, bool]] = []  # (reading, value, starts a new stretch)
        for ts, kind, cause, lub, hyd in events:
            at = _at(timestamps, ts)
            measured = {"lubrificacao": lub, "hidraulico": hyd}[index]
            if kind == "inspection" and measured is not None:
                anchors.append((at, float(measured), False))
            elif kind == "repair":
                anchors.append((at, 100.0, True))
            elif kind == "failure":
                if CAUSE_INDEX.get(cause) == index:
                    anchors.append((at, 0.0, False))
                anchors.append((at, np.nan, True))  # nothing is known across a failure
        values = np.full(n, np.nan, dtype=np.float32)
        anchors.sort(key=lambda a: a[0])
        for (start, low_value, _), (end, high_value, breaks) in zip(
            anchors, anchors[1:], strict=False
        ):
            if breaks or np.isnan(low_value) or np.isnan(high_value) or end <= start:
                continue
            end = min(end, n - 1)
            values[start : end + 1] = np.linspace(low_value, high_value, end - start + 1)
        out[index] = values
    return out["lubrificacao"], out["hidraulico"]


def read_fleet(
    conn: psycopg.Connection, selection: Selection = Selection()
) -> Iterator[StoredHistory]:
    """Each selected pump's history with its labels, one pump at a time."""
    params = {"since": selection.since, "until": selection.until}
    for pump_id, name in _pumps(conn, selection):
        timestamps, readings = _readings(conn, pump_id, params)
        if len(timestamps) == 0:
            continue
        events = conn.execute(
            sql.SQL(
                "SELECT ts, kind, cause, lubrificacao, hidraulico FROM events"
                " WHERE pump_id = %(pump)s{w} ORDER BY ts"
            ).format(w=_WINDOW),
            {**params, "pump": pump_id},
        ).fetchall()
        failures = sorted({_at(timestamps, ts) for ts, kind, *_ in events if kind == "failure"})
        lubrication, hydraulic = _health(timestamps, events, len(timestamps))
        yield StoredHistory(
            name=name,
            timestamps=timestamps,
            readings=readings,
            failures=np.asarray([f for f in failures if f < len(timestamps)], dtype=np.int64),
            lubrication_health=lubrication,
            hydraulic_health=hydraulic,
            causes=[cause for _, kind, cause, *_ in events if kind == "failure"],
        )
