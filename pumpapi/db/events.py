"""Failures and maintenance of each pump (the `events` table): stored idempotently, read back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg

#: What can happen to a pump, as the `events.kind` column admits it.
EVENT_KINDS: tuple[str, ...] = ("failure", "repair", "oil_change", "battery_replaced", "inspection")
#: Why a pump failed (the simulator's fault kinds, and `other` for a real fleet's rest).
FAILURE_CAUSES: tuple[str, ...] = (
    "oil_leak",
    "overheating",
    "cavitation",
    "charging_fault",
    "other",
)
#: The columns of an event beside its pump, in the order they are written and read.
COLUMNS: tuple[str, ...] = ("ts", "kind", "cause", "lubrificacao", "hidraulico", "note")
#: Most events one read answers.
MAX_READ = 10_000


@dataclass(frozen=True)
class Event:
    machine: str
    timestamp: dt.datetime
    kind: str
    cause: str | None = None
    lubrificacao: float | None = None
    hidraulico: float | None = None
    note: str | None = None

    def as_row(self) -> tuple[Any, ...]:
        return (
            self.machine,
            self.timestamp,
            self.kind,
            self.cause,
            self.lubrificacao,
            self.hidraulico,
            self.note,
        )


@dataclass(frozen=True)
class EventsResult:
    received: int
    inserted: int
    new_machines: list[str]

    @property
    def already_stored(self) -> int:
        return self.received - self.inserted


_CREATE_PUMPS = (
    "INSERT INTO pumps (name) SELECT unnest(%(names)s::text[]) ON CONFLICT (name) DO NOTHING"
    " RETURNING name"
)
# One statement for the whole batch: the events as arrays, joined to their pumps' ids.
_INSERT = (
    "INSERT INTO events (pump_id, ts, kind, cause, lubrificacao, hidraulico, note)"
    " SELECT p.id, e.ts, e.kind, e.cause, e.lubrificacao, e.hidraulico, e.note"
    " FROM unnest(%(machines)s::text[], %(ts)s::timestamptz[], %(kinds)s::text[],"
    " %(causes)s::text[], %(lub)s::float8[], %(hyd)s::float8[], %(notes)s::text[])"
    " AS e(machine, ts, kind, cause, lubrificacao, hidraulico, note)"
    " JOIN pumps p ON p.name = e.machine"
    " ON CONFLICT (pump_id, ts, kind) DO NOTHING"
)


def store_events(conn: psycopg.Connection, events: Sequence[Event]) -> EventsResult:
    """Store a batch in one transaction: every event or none. An event whose pump, time and
    kind are already stored is kept as stored (so a batch can be sent again); a pump not seen
    before is registered."""
    names = sorted({e.machine for e in events})
    columns = list(zip(*(e.as_row() for e in events), strict=True))
    with conn.transaction():
        created = conn.execute(_CREATE_PUMPS, {"names": names}).fetchall()
        cursor = conn.execute(
            _INSERT,
            {
                "machines": list(columns[0]),
                "ts": list(columns[1]),
                "kinds": list(columns[2]),
                "causes": list(columns[3]),
                "lub": list(columns[4]),
                "hyd": list(columns[5]),
                "notes": list(columns[6]),
            },
        )
        inserted = cursor.rowcount
    return EventsResult(len(events), inserted, sorted(name for (name,) in created))


_READ = (
    "SELECT p.name, e.ts, e.kind, e.cause, e.lubrificacao, e.hidraulico, e.note"
    " FROM events e JOIN pumps p ON p.id = e.pump_id"
    " WHERE (%(machine)s::text IS NULL OR p.name = %(machine)s)"
    " AND (%(since)s::timestamptz IS NULL OR e.ts >= %(since)s)"
    " AND (%(until)s::timestamptz IS NULL OR e.ts < %(until)s)"
    " ORDER BY e.ts, p.name, e.kind LIMIT %(limit)s"
)


def read_events(
    conn: psycopg.Connection,
    machine: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = MAX_READ,
) -> list[Event]:
    """Events oldest first, of one pump or all, in [since, until)."""
    rows = conn.execute(
        _READ, {"machine": machine, "since": since, "until": until, "limit": limit}
    ).fetchall()
    return [Event(*row) for row in rows]


#: How often the simulated maintenance team inspects a pump and writes down its condition.
INSPECTION_INTERVAL = dt.timedelta(hours=12)


def simulated_events(history: Any) -> list[Event]:
    """The events of a simulated pump history (the demo fleet's labels): each failure step with
    the fault that caused it (`other` when none did), and an inspection every
    INSPECTION_INTERVAL measuring both health indices (the simulator's ground truth, rounded as a
    technician would write it down)."""
    timestamps = history.timestamps
    if len(timestamps) == 0:
        return []

    def moment(step: int) -> dt.datetime:
        at = timestamps[step].astype("datetime64[us]").astype(dt.datetime)
        return at.replace(tzinfo=dt.UTC)

    events = []
    faults = {fault.failure: fault.kind for fault in getattr(history, "faults", []) or []}
    failures = getattr(history, "failures", None)
    for step in sorted({int(s) for s in (failures if failures is not None else ())}):
        if 0 <= step < len(timestamps):
            events.append(
                Event(history.name, moment(step), "failure", cause=faults.get(step) or "other")
            )
    lubrication = getattr(history, "lubrication_health", None)
    hydraulic = getattr(history, "hydraulic_health", None)
    if lubrication is not None and hydraulic is not None:
        interval = np.timedelta64(INSPECTION_INTERVAL)
        due = timestamps[0] + interval
        for step in np.searchsorted(timestamps, np.arange(due, timestamps[-1], interval)):
            events.append(
                Event(
                    history.name,
                    moment(int(step)),
                    "inspection",
                    lubrificacao=round(float(lubrication[step]), 1),
                    hidraulico=round(float(hydraulic[step]), 1),
                )
            )
    return sorted(events, key=lambda e: e.timestamp)
