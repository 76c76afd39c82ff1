"""Bulk loading of pump histories (e.g. a simulated fleet) into the telemetry store with COPY."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Protocol

import numpy as np
import psycopg
from psycopg import sql

from pumpapi.channels import CHANNEL_COLUMNS, CHANNEL_NAMES
from pumpapi.db.connection import to_conninfo

log = logging.getLogger(__name__)

#: Rows encoded and sent per COPY write: bounds memory whatever the history's length.
CHUNK_ROWS = 100_000
# PostgreSQL's binary timestamps count microseconds from 2000-01-01 00:00 UTC.
_PG_EPOCH_US = np.datetime64("2000-01-01T00:00:00", "us").astype(np.int64)
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)
_COLUMNS = ("pump_id", "ts", *CHANNEL_COLUMNS)

# One binary COPY tuple, byte for byte: field count, then (length, value) per field, big-endian.
_ROW = np.dtype(
    [
        ("nfields", ">i2"),
        ("pump_id_len", ">i4"),
        ("pump_id", ">i4"),
        ("ts_len", ">i4"),
        ("ts", ">i8"),
    ]
    + [field for c in CHANNEL_COLUMNS for field in ((f"{c}_len", ">i4"), (c, ">f8"))]
)


class PumpHistory(Protocol):
    """What `copy_fleet` needs of a pump's history (the simulator's PumpHistory has it)."""

    name: str
    timestamps: np.ndarray  # datetime64, UTC, shape (n,)
    readings: np.ndarray  # float64, shape (n, 8), columns in CHANNEL_NAMES order


def encode_copy_rows(pump_id: int, timestamps: np.ndarray, readings: np.ndarray) -> bytes:
    """The rows of one pump as the body of a binary COPY (no header or trailer).

    Built with numpy in one pass: a history of a million rows takes milliseconds to encode,
    where a Python loop over rows would take seconds.
    """
    n = len(timestamps)
    rows = np.empty(n, dtype=_ROW)
    rows["nfields"] = len(_COLUMNS)
    rows["pump_id_len"] = 4
    rows["pump_id"] = pump_id
    rows["ts_len"] = 8
    rows["ts"] = timestamps.astype("datetime64[us]").astype(np.int64) - _PG_EPOCH_US
    for i, column in enumerate(CHANNEL_COLUMNS):
        rows[f"{column}_len"] = 8
        rows[column] = readings[:, i]
    return rows.tobytes()


def _validated(history: PumpHistory) -> tuple[np.ndarray, np.ndarray]:
    timestamps = np.asarray(history.timestamps)
    readings = np.asarray(history.readings, dtype=np.float64)
    if not np.issubdtype(timestamps.dtype, np.datetime64):
        raise TypeError(f"{history.name}: timestamps must be numpy datetime64 (UTC)")
    if timestamps.ndim != 1 or readings.shape != (len(timestamps), len(CHANNEL_NAMES)):
        raise ValueError(
            f"{history.name}: expected timestamps (n,) and readings (n, {len(CHANNEL_NAMES)}) "
            f"in the order {', '.join(CHANNEL_NAMES)}; got {timestamps.shape} and {readings.shape}"
        )
    return timestamps, readings


def _copy(conn: psycopg.Connection, table: str, pump_id: int, history: PumpHistory) -> int:
    timestamps, readings = _validated(history)
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, _COLUMNS))
    )
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.write(_COPY_HEADER)
        for start in range(0, len(timestamps), CHUNK_ROWS):
            stop = start + CHUNK_ROWS
            copy.write(encode_copy_rows(pump_id, timestamps[start:stop], readings[start:stop]))
        copy.write(_COPY_TRAILER)
    return len(timestamps)


def load_history(conn: psycopg.Connection, history: PumpHistory) -> int:
    """Load one pump's history in one transaction; returns the readings inserted.

    A pump new to the database gets its rows by COPY straight into `readings`. A pump already
    there (a re-run, or a load that stopped half-way) goes through a temporary staging table and
    `INSERT … ON CONFLICT DO NOTHING`, so readings already stored are kept and never duplicated.
    """
    with conn.transaction():
        created = conn.execute(
            "INSERT INTO pumps (name) VALUES (%s) ON CONFLICT (name) DO NOTHING RETURNING id",
            (history.name,),
        ).fetchone()
        if created is not None:
            # Nobody else can see this pump before we commit, so it has no readings yet.
            return _copy(conn, "readings", created[0], history)
        existing = conn.execute("SELECT id FROM pumps WHERE name = %s", (history.name,)).fetchone()
        if existing is None:
            raise RuntimeError(f"pump {history.name!r} was deleted while being loaded")
        conn.execute("CREATE TEMPORARY TABLE readings_staging (LIKE readings) ON COMMIT DROP")
        _copy(conn, "readings_staging", existing[0], history)
        columns = sql.SQL(", ").join(map(sql.Identifier, _COLUMNS))
        inserted = conn.execute(
            sql.SQL(
                "INSERT INTO readings ({cols}) SELECT {cols} FROM readings_staging "
                "ON CONFLICT (pump_id, ts) DO NOTHING"
            ).format(cols=columns)
        )
        return max(inserted.rowcount, 0)


@contextmanager
def _connection(conninfo_or_conn: str | psycopg.Connection) -> Iterator[psycopg.Connection]:
    if isinstance(conninfo_or_conn, psycopg.Connection):
        yield conninfo_or_conn
        return
    with psycopg.connect(to_conninfo(conninfo_or_conn)) as conn:
        yield conn


def copy_fleet(conninfo_or_conn: str | psycopg.Connection, fleet: Iterable[PumpHistory]) -> int:
    """Bulk-load pump histories with binary COPY, and their failures as events; returns the
    readings inserted.

    Idempotent: loading the same fleet again inserts nothing. Each pump is committed on its own
    (unless the connection given is inside a transaction, which then decides), so an interrupted
    load keeps what it did and a re-run completes it. Ends with ANALYZE so that the planner
    knows the new table sizes at once.
    """
    from pumpapi.db.events import simulated_events, store_events

    total = 0
    with _connection(conninfo_or_conn) as conn:
        for history in fleet:
            inserted = load_history(conn, history)
            log.info("loaded %d readings of %s", inserted, history.name)
            total += inserted
            # A simulated pump's failures are its labels, stored like a real fleet's events.
            events = simulated_events(history)
            if events:
                store_events(conn, events)
        if total:
            with conn.transaction():
                conn.execute("ANALYZE pumps, readings")
    return total
