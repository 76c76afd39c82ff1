"""Storing a validated batch of readings: binary COPY into a staging table, then one idempotent
`INSERT … ON CONFLICT DO NOTHING`, all in one transaction.

Ingestion may run under its own writer role (INGEST_DATABASE_URL) while the serving path reads
with a read-only one (DATABASE_URL); see pumpapi/db/roles.sql.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import psycopg
from flask import Flask, current_app
from psycopg import errors as pgerrors
from psycopg import sql

from pumpapi.db.connection import describe
from pumpapi.db.fleet import _COPY_HEADER, _COPY_TRAILER, CHUNK_ROWS, encode_copy_rows
from pumpapi.db.store import TelemetryStore
from pumpapi.errors import DatabaseUnavailable
from pumpapi.readings import TelemetryBatch
from pumpapi.telemetry import CHANNEL_COLUMNS

log = logging.getLogger(__name__)

_COLUMNS = sql.SQL(", ").join(map(sql.Identifier, ("pump_id", "ts", *CHANNEL_COLUMNS)))
STAGING_TABLE = "readings_ingest"

CREATE_PUMPS_SQL = (
    "INSERT INTO pumps (name) SELECT unnest(%(names)s::text[]) ON CONFLICT (name) DO NOTHING"
    " RETURNING name"
)
PUMP_IDS_SQL = "SELECT name, id FROM pumps WHERE name = ANY(%(names)s::text[])"
CREATE_STAGING_SQL = sql.SQL(
    "CREATE TEMPORARY TABLE {staging} (LIKE readings) ON COMMIT DROP"
).format(staging=sql.Identifier(STAGING_TABLE))
COPY_SQL = sql.SQL("COPY {staging} ({cols}) FROM STDIN (FORMAT BINARY)").format(
    staging=sql.Identifier(STAGING_TABLE), cols=_COLUMNS
)
#: Rows go in primary-key order: two batches overlapping each other then take their row locks
#: in the same order and cannot deadlock.
INSERT_SQL = sql.SQL(
    "INSERT INTO readings ({cols}) SELECT {cols} FROM {staging} ORDER BY pump_id, ts"
    " ON CONFLICT (pump_id, ts) DO NOTHING"
).format(cols=_COLUMNS, staging=sql.Identifier(STAGING_TABLE))


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


def ingest_batch(
    conn: psycopg.Connection, batch: TelemetryBatch, *, statement_timeout_ms: int | None = None
) -> IngestResult:
    """Store a validated batch in one transaction: all of it or, on any error, none of it.

    A reading whose pump and timestamp are already stored is kept as stored (readings are
    immutable), so sending a batch again, whole or in part, is harmless.
    """
    names, pump_index = np.unique(batch.machines.astype(str), return_inverse=True)
    name_list = names.tolist()  # sorted: concurrent batches lock new pumps in the same order
    with conn.transaction():
        if statement_timeout_ms is not None:
            conn.execute(
                "SELECT set_config('statement_timeout', %s, true)", (str(statement_timeout_ms),)
            )
        created = conn.execute(CREATE_PUMPS_SQL, {"names": name_list})
        new_machines = sorted(row[0] for row in created.fetchall())
        ids = dict(conn.execute(PUMP_IDS_SQL, {"names": name_list}).fetchall())
        pump_ids = np.array([ids[name] for name in name_list], dtype=np.int32)[pump_index]
        conn.execute(CREATE_STAGING_SQL)
        with conn.cursor() as cur, cur.copy(COPY_SQL) as copy:
            copy.write(_COPY_HEADER)
            for start in range(0, len(batch), CHUNK_ROWS):
                stop = start + CHUNK_ROWS
                copy.write(
                    encode_copy_rows(
                        pump_ids[start:stop],  # one id per row (numpy broadcasts a scalar too)
                        batch.timestamps[start:stop],
                        batch.values[start:stop],
                    )
                )
            copy.write(_COPY_TRAILER)
        inserted = max(conn.execute(INSERT_SQL).rowcount, 0)
    return IngestResult(len(batch), inserted, new_machines)


@contextmanager
def _write_errors() -> Iterator[None]:
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


def init_app(app: Flask) -> TelemetryStore:
    """The store ingestion writes through: its own (writer role) when INGEST_DATABASE_URL is
    set, otherwise the serving store. Created closed; each process opens it on first use."""
    url = app.config.get("INGEST_DATABASE_URL")
    if url:
        writer = TelemetryStore({**app.config, "DATABASE_URL": url})
    else:
        writer = app.extensions["pumpapi.db"]
    app.extensions["pumpapi.ingest"] = writer
    return writer


def writer() -> TelemetryStore:
    """The current app's writer store."""
    return current_app.extensions["pumpapi.ingest"]


def store_batch(batch: TelemetryBatch, store: TelemetryStore | None = None) -> IngestResult:
    """Store a batch through the app's writer store; every database failure is a 503."""
    store = store or writer()
    timeout = int(current_app.config["INGEST_STATEMENT_TIMEOUT_MS"])
    with store.connection() as conn, _write_errors():
        result = ingest_batch(conn, batch, statement_timeout_ms=timeout)
    log.info(
        "stored %d of %d readings (%d pumps, %d new)",
        result.inserted,
        result.received,
        len(set(batch.machines)),
        len(result.new_machines),
    )
    return result
