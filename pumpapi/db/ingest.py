"""Storing a validated batch of readings: the new ones, by binary COPY, in one transaction."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import psycopg
from flask import current_app
from psycopg import errors as pgerrors
from psycopg import sql

from pumpapi.channels import CHANNEL_COLUMNS
from pumpapi.db.connection import describe
from pumpapi.db.fleet import _COPY_HEADER, _COPY_TRAILER, CHUNK_ROWS, encode_copy_rows
from pumpapi.db.store import TelemetryStore
from pumpapi.errors import DatabaseUnavailable
from pumpapi.readings import TelemetryBatch

log = logging.getLogger(__name__)

# Why not `INSERT … SELECT … ON CONFLICT DO NOTHING` from a staging table for every batch: it
# costs twice the COPY it follows (measured by scripts/bench_ingest.py). A batch instead takes
# a lock per pump, reads which of its timestamps are stored (one index range scan per pump),
# drops them in numpy and COPYs only the new rows into `readings`. The staging table remains
# the fallback for a writer that does not take the lock (see `_copy_new_rows`).
#
# Ingestion may run under its own writer role (INGEST_DATABASE_URL) while the serving path
# reads with a read-only one (DATABASE_URL); see pumpapi/db/roles.sql. The lock is an advisory
# one because a row lock on `pumps` (FOR UPDATE) needs an UPDATE grant the writer has not.

_COLUMNS = sql.SQL(", ").join(map(sql.Identifier, ("pump_id", "ts", *CHANNEL_COLUMNS)))
STAGING_TABLE = "readings_ingest"
#: First half of the advisory lock key (pg_advisory_xact_lock(int, int)) of "storing readings
#: of pump <id>"; the second half is the pump's id. The two-key form never meets the one-key
#: form used by migrations (pumpapi.db.schema).
PUMP_LOCK_CLASS = 0x70756D70  # "pump"

CREATE_PUMPS_SQL = (
    "INSERT INTO pumps (name) SELECT unnest(%(names)s::text[]) ON CONFLICT (name) DO NOTHING"
    " RETURNING name"
)
PUMP_IDS_SQL = "SELECT name, id FROM pumps WHERE name = ANY(%(names)s::text[])"
#: Ids come sorted, so two batches sharing pumps take their locks in the same order and
#: cannot deadlock; the second waits for the first to commit, then sees its readings.
LOCK_PUMPS_SQL = (
    "SELECT pg_advisory_xact_lock(%(class)s, id) FROM unnest(%(ids)s::int[]) AS t(id) ORDER BY id"
)
#: Stored timestamps of each pump within the batch's range of that pump, as binary COPY.
#: LATERAL makes it one index range scan per pump whatever the planner guesses of the arrays
#: (a plain join of them was planned as a scan of all of `readings`).
STORED_SQL = (
    "COPY (SELECT b.id, r.ts"
    " FROM unnest(%(ids)s::int[], %(lo)s::timestamptz[], %(hi)s::timestamptz[]) AS b(id, lo, hi)"
    " CROSS JOIN LATERAL (SELECT ts FROM readings"
    " WHERE pump_id = b.id AND ts BETWEEN b.lo AND b.hi OFFSET 0) AS r)"
    " TO STDOUT (FORMAT BINARY)"
)
COPY_READINGS_SQL = sql.SQL("COPY readings ({cols}) FROM STDIN (FORMAT BINARY)").format(
    cols=_COLUMNS
)
CREATE_STAGING_SQL = sql.SQL(
    "CREATE TEMPORARY TABLE {staging} (LIKE readings) ON COMMIT DROP"
).format(staging=sql.Identifier(STAGING_TABLE))
COPY_STAGING_SQL = sql.SQL("COPY {staging} ({cols}) FROM STDIN (FORMAT BINARY)").format(
    staging=sql.Identifier(STAGING_TABLE), cols=_COLUMNS
)
INSERT_SQL = sql.SQL(
    "INSERT INTO readings ({cols}) SELECT {cols} FROM {staging} ORDER BY pump_id, ts"
    " ON CONFLICT (pump_id, ts) DO NOTHING"
).format(cols=_COLUMNS, staging=sql.Identifier(STAGING_TABLE))

# A binary COPY of (pump_id int4, ts timestamptz): field count, then (length, value) per field.
_STORED_ROW = np.dtype(
    [("nfields", ">i2"), ("id_len", ">i4"), ("id", ">i4"), ("ts_len", ">i4"), ("ts", ">i8")]
)
_COPY_SIGNATURE = _COPY_HEADER[:11]
# PostgreSQL's binary timestamps count microseconds from 2000-01-01 00:00 UTC.
_PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_PG_EPOCH_US = np.datetime64("2000-01-01T00:00:00", "us").astype(np.int64)


@dataclass(frozen=True)
class IngestResult:
    """What a batch did: readings received, newly stored, and already there (sent before, or
    twice in the batch); pumps seen for the first time."""

    received: int
    inserted: int
    new_machines: list[str]

    @property
    def already_stored(self) -> int:
        return self.received - self.inserted


class WriteNotAllowed(DatabaseUnavailable):
    """The database role cannot write telemetry (a read-only role given to ingestion)."""


def _copy_body(pump_ids: np.ndarray, micros: np.ndarray, values: np.ndarray) -> Iterator[bytes]:
    yield _COPY_HEADER
    for start in range(0, len(pump_ids), CHUNK_ROWS):
        stop = start + CHUNK_ROWS
        yield encode_copy_rows(
            pump_ids[start:stop], micros[start:stop].astype("datetime64[us]"), values[start:stop]
        )
    yield _COPY_TRAILER


def _parse_stored(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(pump ids, µs since 1970) of a binary COPY of (pump_id, ts)."""
    if not data.startswith(_COPY_SIGNATURE):
        raise ValueError("unexpected COPY output from PostgreSQL")
    start = 19 + int.from_bytes(data[15:19], "big")  # after the header and its extension area
    rows = np.frombuffer(data[start:-2], dtype=_STORED_ROW)
    return rows["id"].astype(np.int32), rows["ts"].astype(np.int64) + _PG_EPOCH_US


def _as_datetime(micros: np.int64) -> dt.datetime:
    return _PG_EPOCH + dt.timedelta(microseconds=int(micros - _PG_EPOCH_US))


def _stored_mask(
    conn: psycopg.Connection, pump_ids: np.ndarray, micros: np.ndarray, bounds: np.ndarray
) -> np.ndarray:
    """Which rows (sorted by pump, then time; `bounds` where each pump starts) are stored."""
    firsts, lasts = bounds[:-1], bounds[1:] - 1
    params = {
        "ids": pump_ids[firsts].tolist(),
        "lo": [_as_datetime(micros[i]) for i in firsts],
        "hi": [_as_datetime(micros[i]) for i in lasts],
    }
    with conn.cursor() as cur, cur.copy(STORED_SQL, params) as copy:
        data = b"".join(bytes(chunk) for chunk in copy)
    stored = np.zeros(len(pump_ids), dtype=bool)
    stored_ids, stored_micros = _parse_stored(data)
    if not len(stored_ids):
        return stored
    for pump, first, stop in zip(params["ids"], firsts, bounds[1:], strict=True):
        found = stored_micros[stored_ids == pump]
        if len(found):
            stored[first:stop] = np.isin(micros[first:stop], found)
    return stored


def _copy_new_rows(
    conn: psycopg.Connection, pump_ids: np.ndarray, micros: np.ndarray, values: np.ndarray
) -> int:
    """COPY rows believed new into `readings`; returns how many were stored.

    A writer that does not take the pumps' locks (`pumpapi db load`'s `load_history`, or a
    future one) can store one of them meanwhile; the unique key then refuses the COPY, and the
    rows go through a staging table and `INSERT … ON CONFLICT DO NOTHING` instead.
    """
    try:
        with conn.transaction(), conn.cursor() as cur, cur.copy(COPY_READINGS_SQL) as copy:
            for chunk in _copy_body(pump_ids, micros, values):
                copy.write(chunk)
        return len(pump_ids)
    except pgerrors.UniqueViolation as exc:
        log.info("readings stored meanwhile by another writer; merging: %s", describe(exc))
    conn.execute(CREATE_STAGING_SQL)
    with conn.cursor() as cur, cur.copy(COPY_STAGING_SQL) as copy:
        for chunk in _copy_body(pump_ids, micros, values):
            copy.write(chunk)
    inserted = max(conn.execute(INSERT_SQL).rowcount, 0)
    conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(STAGING_TABLE)))
    return inserted


def ingest_batch(
    conn: psycopg.Connection, batch: TelemetryBatch, *, statement_timeout_ms: int | None = None
) -> IngestResult:
    """Store a validated batch in one transaction: all of it or, on any error, none of it.

    A reading whose pump and timestamp are already stored is kept as stored (readings are
    immutable), so sending a batch again, whole or in part, is harmless; a reading sent twice
    in one batch is stored as first sent.
    """
    names, pump_index = np.unique(batch.machines.astype(str), return_inverse=True)
    name_list = names.tolist()  # sorted: concurrent batches lock new pumps in the same order
    micros = batch.timestamps.astype("datetime64[us]").astype(np.int64)
    with conn.transaction():
        if statement_timeout_ms is not None:
            conn.execute(
                "SELECT set_config('statement_timeout', %s, true)", (str(statement_timeout_ms),)
            )
        created = conn.execute(CREATE_PUMPS_SQL, {"names": name_list})
        new_machines = sorted(row[0] for row in created.fetchall())
        ids = dict(conn.execute(PUMP_IDS_SQL, {"names": name_list}).fetchall())
        id_of_name = np.array([ids[name] for name in name_list], dtype=np.int32)
        conn.execute(
            LOCK_PUMPS_SQL, {"class": PUMP_LOCK_CLASS, "ids": np.sort(id_of_name).tolist()}
        )
        pump_ids = id_of_name[pump_index]
        # Sorted by pump then time (then position, so the first of repeats comes first): the
        # index takes them in order, and each pump's rows are one slice.
        order = np.lexsort((np.arange(len(batch)), micros, pump_ids))
        pump_ids, micros = pump_ids[order], micros[order]
        keep = np.ones(len(batch), dtype=bool)
        keep[1:] = (pump_ids[1:] != pump_ids[:-1]) | (micros[1:] != micros[:-1])
        order, pump_ids, micros = order[keep], pump_ids[keep], micros[keep]
        bounds = np.flatnonzero(np.r_[True, pump_ids[1:] != pump_ids[:-1], True])
        new = ~_stored_mask(conn, pump_ids, micros, bounds)
        inserted = 0
        if new.any():
            inserted = _copy_new_rows(conn, pump_ids[new], micros[new], batch.values[order[new]])
    return IngestResult(len(batch), inserted, new_machines)


@contextmanager
def write_errors() -> Iterator[None]:
    """Errors only a writer meets, turned into 503s that say what to fix or retry."""
    try:
        yield
    except (pgerrors.InsufficientPrivilege, pgerrors.ReadOnlySqlTransaction) as exc:
        log.error("ingestion cannot write: %s", describe(exc))
        raise WriteNotAllowed(
            "The database role used for ingestion cannot write telemetry; set "
            "INGEST_DATABASE_URL to the writer role."
        ) from exc
    except (pgerrors.DeadlockDetected, pgerrors.SerializationFailure) as exc:
        log.warning("telemetry batch conflicted with another: %s", describe(exc))
        raise DatabaseUnavailable(
            "The batch conflicted with another one being stored; send it again."
        ) from exc


def store_batch(batch: TelemetryBatch, store: TelemetryStore | None = None) -> IngestResult:
    """Store a batch through the app's writer store; every database failure is a 503."""
    if store is None:
        from pumpapi.db import writer  # the package imports nothing of this module

        store = writer()
    timeout = int(current_app.config["INGEST_STATEMENT_TIMEOUT_MS"])

    def write(conn: psycopg.Connection) -> IngestResult:
        with write_errors():
            return ingest_batch(conn, batch, statement_timeout_ms=timeout)

    # Safe to run twice (`run` retries on a lost connection): readings already stored are
    # skipped, so a batch is stored once.
    result = store.run(write)
    log.info(
        "stored %d of %d readings (%d pumps, %d new)",
        result.inserted,
        result.received,
        len(set(batch.machines)),
        len(result.new_machines),
    )
    return result
