"""Connection strings, and the one place where database failures become `DatabaseUnavailable`."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

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
