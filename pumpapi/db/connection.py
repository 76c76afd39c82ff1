"""Connection strings, the one place where database failures become `DatabaseUnavailable`,
and the circuit breaker that answers them at once while PostgreSQL is known to be down."""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors as pgerrors
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import PoolTimeout

from pumpapi.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

_URL_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://")


def to_conninfo(url: str) -> str:
    """A libpq connection string from a libpq URL, a key=value string, or an SQLAlchemy-style
    URL such as `postgresql+psycopg2://admin:admin123@localhost:5434/SyncTelemetry`.

    SQLAlchemy adds `+driver` to the scheme; libpq does not know it, and the rest of the URL
    (user, password, host, port, database, query parameters) has the same syntax in both.
    Raises ValueError if the result is not something libpq can parse.
    """
    text = url.strip()
    match = _URL_SCHEME.match(text)
    if match:
        base = match.group("scheme").lower().partition("+")[0]
        if base not in ("postgresql", "postgres"):
            raise ValueError(
                f"DATABASE_URL must be a PostgreSQL URL (postgresql://…), not {base}://…"
            )
        text = "postgresql://" + text[match.end() :]
    try:
        conninfo_to_dict(text)
    except psycopg.ProgrammingError as exc:
        raise ValueError(
            f"DATABASE_URL is not a valid PostgreSQL connection string: {exc}"
        ) from exc
    return text


def describe(exc: BaseException) -> str:
    """First line of a driver error, for logs and readiness (libpq never puts passwords in it)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@contextmanager
def unavailable_on_error() -> Iterator[None]:
    """Turn every way the database can fail a request into `DatabaseUnavailable` (503 with
    Retry-After): server down or unreachable, pool exhausted, statement timeout, missing schema.

    Anything else (a bug in a query) stays an error of its own and is answered 500.
    """
    try:
        yield
    except pgerrors.QueryCanceled as exc:
        log.warning("database query cancelled: %s", describe(exc))
        raise DatabaseUnavailable(
            "The telemetry database took too long to answer; try again in a few seconds."
        ) from exc
    except PoolTimeout as exc:
        log.warning("no database connection available: %s", describe(exc))
        raise DatabaseUnavailable(
            "The telemetry database is not reachable now; try again in a few seconds."
        ) from exc
    except pgerrors.InsufficientPrivilege as exc:
        log.error("the database role lacks a privilege: %s", describe(exc))
        raise DatabaseUnavailable(
            "The database role this service connects as lacks a privilege; run "
            "`pumpapi db roles` after `pumpapi db init`."
        ) from exc
    except pgerrors.UndefinedTable as exc:
        log.error("telemetry schema missing: %s", describe(exc))
        raise DatabaseUnavailable(
            "The telemetry database has no schema yet; run `pumpapi db init`."
        ) from exc
    except psycopg.OperationalError as exc:
        log.warning("database unavailable: %s", describe(exc))
        raise DatabaseUnavailable(
            "The telemetry database is not reachable now; try again in a few seconds."
        ) from exc


def _is_outage(exc: BaseException) -> bool:
    """Whether a failure says the server is not reachable (no connection in time, connection
    refused or lost), as opposed to one slow statement or a missing schema."""
    if isinstance(exc, PoolTimeout):
        return True
    return isinstance(exc, psycopg.OperationalError) and not isinstance(exc, pgerrors.QueryCanceled)


def server_addresses(conninfo: str) -> list[tuple[int, Any]]:
    """Where the server of a connection string listens: (socket family, address) pairs, the
    way libpq reads host, hostaddr and port (unix socket directories included)."""
    params = conninfo_to_dict(conninfo)
    hosts = (params.get("hostaddr") or params.get("host") or "").split(",")
    ports = str(params.get("port") or "5432").split(",")
    addresses = []
    for index, host in enumerate(hosts):
        port = int(ports[index] if index < len(ports) else ports[-1] or 5432)
        if not host:
            # libpq's default: the socket directory Debian's and the upstream builds use.
            for directory in ("/var/run/postgresql", "/tmp"):
                addresses.append((socket.AF_UNIX, f"{directory}/.s.PGSQL.{port}"))
        elif host.startswith("/"):
            addresses.append((socket.AF_UNIX, f"{host}/.s.PGSQL.{port}"))
        else:
            addresses.append((socket.AF_UNSPEC, (host, port)))
    return addresses


def reachable(addresses: list[tuple[int, Any]], timeout: float) -> bool:
    """Whether something accepts connections at one of `addresses` (a TCP or unix-socket
    connect, no PostgreSQL handshake): refused at once by a stopped local server."""
    for family, address in addresses:
        try:
            if family == socket.AF_UNIX:
                with socket.socket(socket.AF_UNIX) as sock:
                    sock.settimeout(timeout)
                    sock.connect(address)
            else:
                with socket.create_connection(address, timeout=timeout):
                    pass
        except OSError:
            continue
        return True
    return False


class CircuitBreaker:
    """Whether this process knows PostgreSQL to be down; answers at once while it is.

    Closed (the normal state), requests use the pool. A failure saying the server cannot be
    reached (`trip`: no connection within the pool's timeout, connection refused or lost) opens
    it; from then on `check()` raises DatabaseUnavailable without touching the pool, so a sync
    worker is never held by a request that cannot succeed and model-only endpoints keep their
    throughput. While open, each request first knocks at the server's address (`knock`: a bare
    TCP or unix-socket connect, refused at once): once something accepts there, the
    breaker closes and that very request goes to the pool, so the first request after
    PostgreSQL's return succeeds. A knock that hangs (a host dropping packets) costs at most
    `knock_timeout`, and then requests fail at once for `quiet` seconds before the next knock.
    If the server accepts but still cannot serve (starting up), the request fails and trips the
    breaker again. One breaker per process: one inherited through fork starts closed.
    """

    def __init__(
        self,
        knock: Callable[[float], bool],
        knock_timeout: float = 0.2,
        quiet: float = 1.0,
        name: str = "database",
    ):
        self.knock = knock
        self.knock_timeout = knock_timeout
        self.quiet = quiet
        self.name = name
        self._lock = threading.Lock()
        self._open_since: float | None = None
        self._quiet_until = 0.0
        self._pid = os.getpid()

    def _own(self) -> None:
        if self._pid != os.getpid():  # forked: the parent's state is not this process's
            self._pid, self._open_since, self._quiet_until = os.getpid(), None, 0.0

    @property
    def is_open(self) -> bool:
        self._own()
        return self._open_since is not None

    def check(self) -> None:
        """Return if the request may use the database; raise DatabaseUnavailable at once if
        it is known to be down."""
        if self._open_since is None or not self.is_open:
            return
        now = time.monotonic()
        if now >= self._quiet_until:
            if self.knock(self.knock_timeout):
                self._close(now)
                return
            if time.monotonic() - now > self.knock_timeout / 2:
                self._quiet_until = time.monotonic() + self.quiet  # a hanging knock: pause
        raise DatabaseUnavailable(
            "The telemetry database is not reachable now; try again in a few seconds."
        )

    def _close(self, now: float) -> None:
        with self._lock:
            since, self._open_since, self._quiet_until = self._open_since, None, 0.0
        if since is not None:
            log.warning("%s reachable again after %.1f s", self.name, now - since)

    def trip(self, exc: BaseException) -> bool:
        """Open on an outage (returns whether it did); other failures leave it closed."""
        if not _is_outage(exc):
            return False
        self._own()
        with self._lock:
            if self._open_since is None:
                self._open_since = time.monotonic()
                log.warning(
                    "%s unreachable (%s): answering 503 at once until it accepts connections",
                    self.name,
                    describe(exc),
                )
        return True
