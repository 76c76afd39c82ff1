"""`TelemetryStore`: pumps and their latest readings, through one connection pool per process."""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import psycopg
from psycopg import errors as pgerrors
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from pumpapi.channels import CHANNEL_COLUMNS, CHANNEL_NAMES, MACHINE_NAME_MAX_LENGTH
from pumpapi.db.baselines import BaselineCache
from pumpapi.db.connection import (
    CircuitBreaker,
    describe,
    reachable,
    server_addresses,
    to_conninfo,
    unavailable_on_error,
)
from pumpapi.db.schema import migrations
from pumpapi.errors import DatabaseUnavailable, InvalidInput, MachineNotFound
from pumpapi.models.baseline import LoadNormalisation

log = logging.getLogger(__name__)


def _channels(alias: str) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(alias, column) for column in CHANNEL_COLUMNS)


#: The latest `steps` readings of one pump, oldest first. The lateral subquery is a backward
#: scan of readings' primary key (pump_id, ts) that stops after `steps` rows. Composed once,
#: into text: psycopg would compose it again on every execution.
LATEST_READINGS_SQL = (
    sql.SQL(
        "SELECT r.ts, {channels} FROM pumps AS p"
        " CROSS JOIN LATERAL ("
        "SELECT * FROM readings WHERE readings.pump_id = p.id"
        " ORDER BY readings.ts DESC LIMIT %(steps)s"
        ") AS r"
        " WHERE p.name = %(machine)s"
        " ORDER BY r.ts"
    )
    .format(channels=_channels("r"))
    .as_string()
)

#: A pump's (`p`) latest `steps` readings up to its last with the engine running.
_LAST_RUN_ROWS = sql.SQL(
    "SELECT * FROM readings WHERE readings.pump_id = p.id AND readings.ts <= ("
    "SELECT run.ts FROM readings AS run WHERE run.pump_id = p.id"
    " AND run.eng_rpm >= %(running_rpm)s ORDER BY run.ts DESC LIMIT 1"
    ") ORDER BY readings.ts DESC LIMIT %(steps)s"
)

#: A pump's latest readings packed into one value: their count, first and last times, and the
#: eight channels of each (oldest first) as big-endian float8, NaN for a missing value. One row
#: to decode instead of thousands of tuples (the window model reads 2,880 readings a request).
LATEST_PACKED_SQL = (
    sql.SQL(
        "SELECT count(*), min(r.ts), max(r.ts),"
        " string_agg({packed}, ''::bytea ORDER BY r.ts) FROM pumps AS p"
        " CROSS JOIN LATERAL ("
        "SELECT * FROM readings WHERE readings.pump_id = p.id"
        " ORDER BY readings.ts DESC LIMIT %(steps)s"
        ") AS r"
        " WHERE p.name = %(machine)s"
    )
    .format(
        packed=sql.SQL(" || ").join(
            sql.SQL("float8send(coalesce({}, 'NaN'))").format(sql.Identifier("r", column))
            for column in CHANNEL_COLUMNS
        )
    )
    .as_string()
)

#: Every pump with its first and latest reading: two primary-key lookups per pump, whatever the
#: number of readings (no count(*) over the table).
MACHINES_SQL = (
    sql.SQL(
        "SELECT p.name, p.created_at, first.ts, last.ts, {channels} FROM pumps AS p"
        " LEFT JOIN LATERAL ("
        "SELECT * FROM readings WHERE readings.pump_id = p.id ORDER BY readings.ts DESC LIMIT 1"
        ") AS last ON true"
        " LEFT JOIN LATERAL ("
        "SELECT readings.ts FROM readings WHERE readings.pump_id = p.id"
        " ORDER BY readings.ts LIMIT 1"
        ") AS first ON true"
        " ORDER BY p.name"
    )
    .format(channels=_channels("last"))
    .as_string()
)

#: Every pump's latest `steps` readings (the fleet page's health windows): one backward scan of
#: the primary key per pump, like LATEST_READINGS_SQL. Numbers only (the time as epoch
#: seconds), so that the rows become one numpy array at once.
LATEST_WINDOWS_SQL = (
    sql.SQL(
        "SELECT p.id, extract(epoch FROM r.ts)::float8, {channels} FROM pumps AS p"
        " CROSS JOIN LATERAL ("
        "SELECT * FROM readings WHERE readings.pump_id = p.id"
        " ORDER BY readings.ts DESC LIMIT %(steps)s"
        ") AS r"
        " ORDER BY p.id, r.ts"
    )
    .format(channels=_channels("r"))
    .as_string()
)

#: The latest `steps` readings up to the last running reading (`eng_rpm` at least
#: %(running_rpm)s) of each pump named, in one query: a stopped pump's last run. Per pump, two
#: backward scans of the primary key: to the last running reading, then `steps` rows from it.
LAST_RUN_WINDOWS_SQL = (
    sql.SQL(
        "SELECT p.id, extract(epoch FROM r.ts)::float8, {channels} FROM pumps AS p"
        " CROSS JOIN LATERAL ({rows}) AS r"
        " WHERE p.name = ANY(%(machines)s)"
        " ORDER BY p.id, r.ts"
    )
    .format(channels=_channels("r"), rows=_LAST_RUN_ROWS)
    .as_string()
)

#: Each pump's latest reading at or before each of `points`, none older than `within`: one
#: primary-key lookup per pump and point, whatever the number of readings.
READINGS_AT_SQL = (
    sql.SQL(
        "SELECT p.id, extract(epoch FROM r.ts)::float8, {channels} FROM pumps AS p"
        " CROSS JOIN unnest(%(points)s::timestamptz[]) AS t(point)"
        " CROSS JOIN LATERAL ("
        "SELECT * FROM readings WHERE readings.pump_id = p.id AND readings.ts <= t.point"
        " AND readings.ts > t.point - %(within)s ORDER BY readings.ts DESC LIMIT 1"
        ") AS r"
        " ORDER BY p.id, r.ts"
    )
    .format(channels=_channels("r"))
    .as_string()
)

#: One pump's readings in [since, until), oldest first.
READINGS_BETWEEN_SQL = (
    sql.SQL(
        "SELECT r.ts, {channels} FROM pumps AS p JOIN readings AS r ON r.pump_id = p.id"
        " WHERE p.name = %(machine)s AND r.ts >= %(since)s AND r.ts < %(until)s"
        " ORDER BY r.ts LIMIT %(limit)s"
    )
    .format(channels=_channels("r"))
    .as_string()
)

SCHEMA_VERSION_SQL = "SELECT max(name) FROM schema_migrations"
#: Seconds a request waits for a pooled connection before checking that the server listens.
FIRST_WAIT = 0.05


@dataclass(frozen=True)
class Reading:
    """One reading of a pump: its UTC timestamp and the eight channels by SPEC name."""

    machine: str
    timestamp: dt.datetime
    values: dict[str, float]


@dataclass(frozen=True, eq=False)
class Window:
    """The latest readings of a pump, oldest first: `values[i]` is the reading at
    `timestamps[i]`, its columns in CHANNEL_NAMES order (the order window models expect)."""

    machine: str
    timestamps: list[dt.datetime]
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.timestamps)


@dataclass(frozen=True)
class PackedWindow:
    """A pump's latest readings without a timestamp each: `values` (oldest first, columns
    CHANNEL_NAMES), the first and last readings' times."""

    machine: str
    first_timestamp: dt.datetime
    last_timestamp: dt.datetime
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.values)


def _utc(value: dt.datetime) -> dt.datetime:
    # Sessions run with TimeZone=UTC; this only guards against a server that overrides it.
    return value.astimezone(dt.UTC)


def _window(machine: str, rows: list[Any]) -> Window:
    """A Window from rows of (ts, *channels), oldest first."""
    values = np.array([row[1:] for row in rows], dtype=np.float64)
    return Window(
        machine, [_utc(row[0]) for row in rows], values.reshape(len(rows), len(CHANNEL_NAMES))
    )


T = TypeVar("T")


def _connection_lost(cause: BaseException | None) -> bool:
    """Whether a failure means the connection itself is gone (the server restarted or ended
    it), rather than no connection in time or a statement that took too long."""
    return isinstance(cause, psycopg.OperationalError) and not isinstance(
        cause, PoolTimeout | pgerrors.QueryCanceled
    )


def _checked_machine(machine: str) -> str:
    """A name that cannot exist (empty, too long, NUL which PostgreSQL text cannot hold) is an
    unknown pump, answered without a query."""
    if not machine or len(machine) > MACHINE_NAME_MAX_LENGTH or "\x00" in machine:
        shown = machine.replace("\x00", "")
        if len(shown) > MACHINE_NAME_MAX_LENGTH:
            shown = shown[:MACHINE_NAME_MAX_LENGTH] + "…"
        raise MachineNotFound(shown)
    return machine


class TelemetryStore:
    """Reads and writes pump telemetry through a psycopg connection pool (one per process).

    The pool is opened by `open()` (each gunicorn worker calls it after fork) or lazily on the
    first query; a pool inherited through fork is abandoned, never used. Every way the database
    can fail becomes `DatabaseUnavailable` (503 with Retry-After): the first request to find
    PostgreSQL down waits up to DB_POOL_TIMEOUT seconds and opens the circuit `breaker`, the
    next ones are answered at once until the server accepts connections again; then the first
    request succeeds: a connection the server closed is found dead, the pool checked, the read
    retried once (`run`).
    """

    def __init__(self, config: Mapping[str, Any]):
        self.config = config
        self._pool: ConnectionPool | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        #: Whether a connection was asked for since the pool statistics were last read.
        self._asked = False
        #: Open while PostgreSQL is known to be down (pumpapi.db.connection.CircuitBreaker).
        self.breaker = CircuitBreaker(self._knock)
        self._addresses: list | None = None
        names = [name for name, _ in migrations()]
        self.expected_schema: str | None = names[-1] if names else None
        self._baselines = BaselineCache()

    # -- pool lifecycle ------------------------------------------------------------------------

    def _conninfo(self) -> str:
        url = self.config.get("DATABASE_URL")
        if not url:
            raise DatabaseUnavailable("DATABASE_URL is not set")
        try:
            return to_conninfo(url)
        except ValueError as exc:
            raise DatabaseUnavailable(str(exc)) from exc

    def _new_pool(self) -> ConnectionPool:
        config = self.config
        conninfo = self._conninfo()
        # Keep the `options` the URL may carry (e.g. a search_path): ours are added after them.
        options = " ".join(
            part
            for part in (
                conninfo_to_dict(conninfo).get("options"),
                f"-c statement_timeout={int(config['DB_STATEMENT_TIMEOUT_MS'])}",
                "-c TimeZone=UTC",
            )
            if part
        )
        return ConnectionPool(
            conninfo,
            open=False,
            name=f"pumpapi-{os.getpid()}",
            min_size=int(config["DB_POOL_MIN_SIZE"]),
            max_size=int(config["DB_POOL_MAX_SIZE"]),
            # Fail a request fast while PostgreSQL is down instead of queueing it for 30 s ...
            timeout=float(config["DB_POOL_TIMEOUT"]),
            # ... and never stop trying: a failed connection attempt is dropped at once, and the
            # next request asks for a new one, so recovery needs no restart.
            reconnect_timeout=0,
            # No check before lending a connection (a round trip on every request): a
            # connection broken by a server restart is caught by `run`, which retries.
            kwargs={
                "connect_timeout": int(config["DB_CONNECT_TIMEOUT"]),
                "options": options,
                "application_name": "pumpapi",
                # A read is one statement: no BEGIN/COMMIT round trips. Writes that must be
                # atomic use `with conn.transaction():`.
                "autocommit": True,
            },
        )

    def open(self) -> None:
        """Open this process's pool (idempotent). Never raises: without DATABASE_URL or with
        PostgreSQL down, the queries answer DatabaseUnavailable instead."""
        with self._lock:
            if self._pool is not None and self._pid == os.getpid():
                return
            # A pool inherited from the parent shares its sockets: drop it without closing them.
            self._pool = None
            try:
                pool = self._new_pool()
            except DatabaseUnavailable as exc:
                log.warning("telemetry database not configured: %s", exc.message)
                return
            pool.open(wait=False)
            self._pool, self._pid = pool, os.getpid()

    def close(self) -> None:
        """Close this process's pool (a pool inherited through fork is only forgotten)."""
        with self._lock:
            pool, self._pool = self._pool, None
            if pool is not None and self._pid == os.getpid():
                pool.close(timeout=5)

    def pop_pool_stats(self) -> dict[str, int] | None:
        """This process's pool statistics, counters since the previous call (psycopg_pool
        `pop_stats()`); None without an open pool, or when no connection was asked for since
        the last call (then nothing but the pool's own reconnections can have changed, and
        those are counted at the next request that uses the database). The metrics read it
        after each request; skipping it spares the others that work."""
        pool = self._pool
        if pool is None or self._pid != os.getpid() or not self._asked:
            return None
        self._asked = False
        return pool.pop_stats()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection; any database failure inside becomes DatabaseUnavailable."""
        if self._pool is None or self._pid != os.getpid():
            self.open()
        self._asked = True
        pool = self._pool
        if pool is None:
            self._conninfo()  # raises the reason (not set, or not valid)
            raise DatabaseUnavailable("The telemetry database is not configured.")
        with unavailable_on_error():
            conn = self._getconn(pool)
            try:
                with conn:  # commit or roll back; a pooled connection is not closed
                    yield conn
            finally:
                pool.putconn(conn)

    def _getconn(self, pool: ConnectionPool) -> psycopg.Connection:
        """A connection within the pool's timeout; but when none comes within FIRST_WAIT and
        nothing listens at the server's address (PostgreSQL stopped), PoolTimeout at once
        instead of after the whole timeout: the breaker opens on the first request, not a
        second later, and the worker serves model-only requests meanwhile."""
        try:
            return pool.getconn(timeout=FIRST_WAIT)
        except PoolTimeout:
            if not self._knock(self.breaker.knock_timeout):
                raise
        return pool.getconn(timeout=max(float(pool.timeout) - FIRST_WAIT, FIRST_WAIT))

    def run(self, work: Callable[[psycopg.Connection], T]) -> T:
        """`work(conn)` on a pooled connection; every database failure is DatabaseUnavailable.

        A connection the server closed (a restart) fails `work`: the pool's idle connections
        are then checked, the dead ones replaced, and `work` runs once more, so the first
        request after PostgreSQL is back succeeds. (The pool could check each connection
        before lending it instead, at the cost of a round trip on every request.) `work`
        must be safe to run twice: a read, or an
        idempotent write.
        """
        self.breaker.check()  # PostgreSQL known down: 503 at once, no wait for the pool
        try:
            with self.connection() as conn:
                return work(conn)
        except DatabaseUnavailable as caught:
            exc = caught
            if self._pool is None or not _connection_lost(exc.__cause__):
                self._trip(exc)
                raise
        if not self._knock(self.breaker.knock_timeout):
            # Nothing listens there any more (PostgreSQL stopped): the pool would wait its
            # whole timeout for a connection that cannot come. Open the breaker now.
            self._trip(exc)
            raise exc
        log.warning("a database connection was lost; checking the pool and trying once more")
        self._pool.check()
        try:
            with self.connection() as conn:
                return work(conn)
        except DatabaseUnavailable as exc:
            self._trip(exc)
            raise

    def _trip(self, exc: DatabaseUnavailable) -> None:
        if exc.__cause__ is not None:
            self.breaker.trip(exc.__cause__)

    def _knock(self, timeout: float) -> bool:
        """Whether the server's address accepts connections (the breaker's cheap probe)."""
        if self._addresses is None:
            self._addresses = server_addresses(self._conninfo())
        return reachable(self._addresses, timeout)

    # -- queries -------------------------------------------------------------------------------

    def check(self) -> dict[str, Any]:
        """Readiness of the database: {"ready", "error", "version" (schema), "latency_ms"}.

        Never raises; while PostgreSQL is down it answers within about DB_POOL_TIMEOUT seconds.
        """
        started = time.perf_counter()
        status: dict[str, Any] = {"ready": False, "error": None, "version": None}
        try:
            row = self.run(lambda conn: conn.execute(SCHEMA_VERSION_SQL).fetchone())
        except DatabaseUnavailable as exc:
            cause = f" ({describe(exc.__cause__)})" if exc.__cause__ is not None else ""
            status["error"] = exc.message + cause
        except Exception as exc:  # readiness must answer, whatever went wrong
            log.exception("database readiness check failed")
            status["error"] = f"{type(exc).__name__}: {describe(exc)}"
        else:
            version = row[0] if row else None
            status["version"] = version
            if version is None or (self.expected_schema and version < self.expected_schema):
                status["error"] = (
                    f"The schema is at {version or 'nothing'}, this release needs "
                    f"{self.expected_schema}; run `pumpapi db init`."
                )
            else:
                status["ready"] = True
        status["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
        return status

    def _latest_rows(self, machine: str, steps: int) -> list[tuple[Any, ...]]:
        _checked_machine(machine)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise InvalidInput(f"The number of readings must be a positive integer, not {steps!r}.")
        params = {"steps": steps, "machine": machine}
        # Binary results: floats and timestamps decoded without parsing text.
        rows = self.run(
            lambda conn: conn.execute(LATEST_READINGS_SQL, params, binary=True).fetchall()
        )
        if not rows:
            raise MachineNotFound(machine)
        return rows

    def latest_reading(self, machine: str) -> Reading:
        """The newest reading of a pump; MachineNotFound if the pump is unknown or has none."""
        ts, *values = self._latest_rows(machine, 1)[-1]
        return Reading(machine, _utc(ts), dict(zip(CHANNEL_NAMES, map(float, values), strict=True)))

    def latest_window(self, machine: str, steps: int) -> Window:
        """Up to `steps` newest readings of a pump, oldest first (fewer if it has fewer)."""
        return _window(machine, self._latest_rows(machine, steps))

    def latest_values(self, machine: str, steps: int) -> PackedWindow:
        """Up to `steps` newest readings of a pump as one (n, 8) array (oldest first, columns
        CHANNEL_NAMES) with the times of the first and last: no timestamp per reading is
        decoded. MachineNotFound if the pump is unknown or has no readings."""
        _checked_machine(machine)
        params = {"steps": int(steps), "machine": machine}
        count, first, last, packed = self.run(
            lambda conn: conn.execute(LATEST_PACKED_SQL, params, binary=True).fetchone()
        )
        if not count:
            raise MachineNotFound(machine)
        values = np.frombuffer(packed, dtype=">f8").astype(np.float64)
        return PackedWindow(
            machine, _utc(first), _utc(last), values.reshape(count, len(CHANNEL_NAMES))
        )

    def machines(self) -> list[dict[str, Any]]:
        """Every pump, by name, with its first and latest reading times and latest values
        (None when it has no readings yet)."""
        rows = self.run(lambda conn: conn.execute(MACHINES_SQL).fetchall())
        result = []
        for name, created_at, first_ts, last_ts, *values in rows:
            latest = None
            if last_ts is not None:
                latest = dict(zip(CHANNEL_NAMES, map(float, values), strict=True))
            result.append(
                {
                    "machine": name,
                    "created_at": _utc(created_at),
                    "first_timestamp": _utc(first_ts) if first_ts is not None else None,
                    "latest_timestamp": _utc(last_ts) if last_ts is not None else None,
                    "latest_reading": latest,
                }
            )
        return result

    def _numbers_by_pump(
        self, query: str, params: Mapping[str, Any]
    ) -> dict[str, tuple[list[dt.datetime], np.ndarray]]:
        """Rows (pump id, epoch seconds, 8 channels) of `query` by pump name: their times and
        (n, 8) values. All numbers, read binary into one array (faster than decoding timestamps
        and grouping tuples: bench/notes.md)."""

        def read(conn: psycopg.Connection) -> tuple[list[tuple], list[tuple]]:
            names = conn.execute("SELECT id, name FROM pumps").fetchall()
            return names, conn.execute(query, params, binary=True).fetchall()

        names, rows = self.run(read)
        by_id = dict(names)
        table = np.array(rows, dtype=np.float64).reshape(len(rows), 2 + len(CHANNEL_NAMES))
        ids = table[:, 0].astype(np.int64)
        found = {}
        for part in np.split(np.arange(len(ids)), np.flatnonzero(np.diff(ids)) + 1):
            if len(part):
                micros = np.round(table[part, 1] * 1e6).astype("datetime64[us]")
                times = [m.replace(tzinfo=dt.UTC) for m in micros.tolist()]
                found[by_id[int(ids[part[0]])]] = (times, table[part, 2:])
        return found

    def latest_windows(self, steps: int) -> dict[str, Window]:
        """Every pump's latest `steps` readings (fewer if it has fewer; pumps without readings
        are left out), by name, in one query."""
        found = self._numbers_by_pump(LATEST_WINDOWS_SQL, {"steps": steps})
        return {name: Window(name, times, values) for name, (times, values) in found.items()}

    def last_run_windows(
        self, steps: int, running_rpm: float, machines: list[str]
    ) -> dict[str, Window]:
        """Up to `steps` readings of each pump named, oldest first, ending at its last reading
        with the engine running (Eng_RPM ≥ `running_rpm`), by name, in one query (pumps that
        never ran in their readings are left out)."""
        params = {"steps": int(steps), "running_rpm": float(running_rpm), "machines": machines}
        found = self._numbers_by_pump(LAST_RUN_WINDOWS_SQL, params)
        return {name: Window(name, times, values) for name, (times, values) in found.items()}

    def pump_baselines(
        self, normalisation: LoadNormalisation, starts: Mapping[str, dt.datetime]
    ) -> dict[str, np.ndarray | None]:
        """Each named pump's baseline (pumpapi.models.baseline: 4 values, None without enough
        at-load readings) for a window starting at its start, in one query for the pumps this
        process has not kept (pumpapi.db.baselines)."""
        for name in starts:
            _checked_machine(name)
        return self._baselines.get(
            lambda query, params: self.run(lambda conn: conn.execute(query, params).fetchall()),
            normalisation,
            starts,
        )

    def readings_at(
        self, points: list[dt.datetime], within: dt.timedelta
    ) -> dict[str, tuple[list[dt.datetime], np.ndarray]]:
        """Each pump's latest reading at or before each point, none older than `within`: by
        pump, the times of the readings found and their values (columns CHANNEL_NAMES)."""
        return self._numbers_by_pump(READINGS_AT_SQL, {"points": points, "within": within})

    def readings_between(
        self, machine: str, since: dt.datetime, until: dt.datetime, limit: int = 20_000
    ) -> Window:
        """One pump's readings in [since, until), oldest first (at most `limit`; empty when
        it has none there)."""
        _checked_machine(machine)
        params = {"machine": machine, "since": since, "until": until, "limit": limit}
        rows = self.run(
            lambda conn: conn.execute(READINGS_BETWEEN_SQL, params, binary=True).fetchall()
        )
        return _window(machine, rows)
