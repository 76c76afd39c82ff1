"""Connection strings and the mapping of database failures to 503 (pumpapi.db.connection)."""

import os
import socket
import time

import psycopg
import pytest
from psycopg import errors as pgerrors
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import PoolTimeout

from pumpapi.db import to_conninfo, unavailable_on_error
from pumpapi.db.connection import CircuitBreaker, server_addresses
from pumpapi.errors import DatabaseUnavailable

SEED_URL = "postgresql+psycopg2://admin:admin123@localhost:5434/SyncTelemetry"


def test_sqlalchemy_url_becomes_the_same_libpq_parameters():
    assert conninfo_to_dict(to_conninfo(SEED_URL)) == {
        "user": "admin",
        "password": "admin123",
        "host": "localhost",
        "port": "5434",
        "dbname": "SyncTelemetry",
    }


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://pumpapi@127.0.0.1:5433/pumpapi",
        "postgresql://u:p%40ss@db.example:5432/tele?sslmode=require&application_name=x",
        "host=127.0.0.1 port=5433 dbname=pumpapi user=pumpapi",
    ],
)
def test_libpq_urls_and_keyword_strings_pass_unchanged(url):
    assert to_conninfo(url) == url


@pytest.mark.parametrize(
    "url, expected",
    [
        ("postgres://a@h/d", {"user": "a", "host": "h", "dbname": "d"}),
        (
            "postgresql+psycopg://a:b@h:1/d",
            {"user": "a", "password": "b", "host": "h", "port": "1", "dbname": "d"},
        ),  # noqa: E501
        ("  POSTGRESQL+asyncpg://a@h/d  ", {"user": "a", "host": "h", "dbname": "d"}),
    ],
)
def test_other_postgres_schemes_and_drivers(url, expected):
    assert conninfo_to_dict(to_conninfo(url)) == expected


@pytest.mark.parametrize(
    "url",
    ["mysql://a@h/d", "sqlite:///x.db", "not a connection string", "postgresql://h/d?bogus=1"],
)
def test_what_libpq_cannot_use_is_a_value_error(url):
    with pytest.raises(ValueError):
        to_conninfo(url)


@pytest.mark.parametrize(
    "error, phrase",
    [
        (pgerrors.QueryCanceled("canceling statement due to statement timeout"), "too long"),
        (PoolTimeout("couldn't get a connection after 1.00 sec"), "not reachable"),
        (psycopg.OperationalError("connection refused"), "not reachable"),
        (pgerrors.AdminShutdown("terminating connection"), "not reachable"),
        (pgerrors.UndefinedTable('relation "readings" does not exist'), "pumpapi db init"),
        # Serving runs as the reader: a table a migration added without its grant is a 503
        # that says what to run, not a 500.
        (pgerrors.InsufficientPrivilege("permission denied for table x"), "pumpapi db roles"),
    ],
)
def test_database_failures_become_database_unavailable(error, phrase):
    with pytest.raises(DatabaseUnavailable, match=phrase) as caught, unavailable_on_error():
        raise error
    assert caught.value.status_code == 503
    assert caught.value.__cause__ is error


def test_query_bugs_are_not_disguised_as_outages():
    with pytest.raises(pgerrors.SyntaxError), unavailable_on_error():
        raise pgerrors.SyntaxError("syntax error at or near")


class Knocks:
    """The breaker's knock, answering from a script: False (refused) until told otherwise."""

    def __init__(self, hang: float = 0.0):
        self.up, self.hang, self.calls = False, hang, 0

    def __call__(self, timeout: float) -> bool:
        self.calls += 1
        time.sleep(min(self.hang, timeout))
        return self.up


def test_breaker_opens_on_an_outage_only_and_answers_at_once():
    breaker = CircuitBreaker(Knocks())
    breaker.check()  # closed: nothing raised
    assert not breaker.trip(pgerrors.QueryCanceled("statement timeout"))  # slow, not down
    assert not breaker.trip(pgerrors.UndefinedTable("no readings"))
    assert not breaker.is_open
    assert breaker.trip(PoolTimeout("no connection in 1 s"))
    started = time.perf_counter()
    for _ in range(100):
        with pytest.raises(DatabaseUnavailable, match="not reachable"):
            breaker.check()
    assert time.perf_counter() - started < 0.05  # 100 answers, no wait for a pool


def test_breaker_lets_the_first_request_through_once_the_server_accepts():
    knocks = Knocks()
    breaker = CircuitBreaker(knocks)
    breaker.trip(psycopg.OperationalError("server closed the connection"))
    with pytest.raises(DatabaseUnavailable):
        breaker.check()
    knocks.up = True
    breaker.check()  # this request goes to the pool
    assert not breaker.is_open
    calls = knocks.calls
    breaker.check()
    assert knocks.calls == calls  # closed: no knock


def test_a_hanging_knock_is_paid_once_per_quiet_period():
    knocks = Knocks(hang=1.0)
    breaker = CircuitBreaker(knocks, knock_timeout=0.05, quiet=60)
    breaker.trip(psycopg.OperationalError("connection timed out"))
    for _ in range(20):
        with pytest.raises(DatabaseUnavailable):
            breaker.check()
    assert knocks.calls == 1


def test_a_breaker_inherited_through_fork_starts_closed(monkeypatch):
    breaker = CircuitBreaker(Knocks())
    breaker.trip(psycopg.OperationalError("connection refused"))
    assert breaker.is_open
    monkeypatch.setattr(os, "getpid", lambda: -1)  # as seen from a forked child
    assert not breaker.is_open
    breaker.check()


def test_server_addresses_read_like_libpq():
    assert server_addresses("postgresql://u@127.0.0.1:5433/db") == [
        (socket.AF_UNSPEC, ("127.0.0.1", 5433))
    ]
    assert server_addresses("host=/run/pg port=5999 dbname=x") == [
        (socket.AF_UNIX, "/run/pg/.s.PGSQL.5999")
    ]
