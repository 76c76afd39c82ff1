"""PostgreSQL stopped and restarted under a running store: fast 503s, then recovery by itself."""

import time
from contextlib import contextmanager

import pytest

from pumpapi import settings
from pumpapi.db import TelemetryStore, copy_fleet
from pumpapi.errors import DatabaseUnavailable
from tests.fixtures.db import pump_history

FAST = 1.5  # seconds: the most a request may wait while the database is down
BREAKER_OPEN = 0.05  # seconds: the most once the store knows it is down (circuit open)
RECOVERY = 2.0  # seconds the first request after PostgreSQL's return may take


@contextmanager
def within(seconds):
    started = time.perf_counter()
    yield
    elapsed = time.perf_counter() - started
    assert elapsed <= seconds, f"took {elapsed:.2f} s"


@pytest.fixture
def store(private_database_url):
    copy_fleet(private_database_url, [pump_history("MOTOBOMBA-007", 20)])
    telemetry = TelemetryStore({**settings.defaults(), "DATABASE_URL": private_database_url})
    yield telemetry
    telemetry.close()


def test_stopped_database_answers_unavailable_fast_then_recovers_alone(store, private_cluster):
    before = store.latest_reading("MOTOBOMBA-007")
    assert store.check()["ready"] is True

    private_cluster.stop()
    # The first request to find it down waits at most the pool's timeout and opens the
    # breaker; every one after answers at once (no worker held while it is known down).
    with within(FAST):
        status = store.check()
    assert status["ready"] is False and "not reachable" in status["error"]
    assert store.breaker.is_open
    for call in (
        lambda: store.latest_reading("MOTOBOMBA-007"),
        lambda: store.latest_window("MOTOBOMBA-007", 60),
        store.machines,
    ):
        with within(BREAKER_OPEN), pytest.raises(DatabaseUnavailable):
            call()
    with within(BREAKER_OPEN):
        assert store.check()["ready"] is False

    private_cluster.start()
    # The very first call after the restart succeeds: no reset, no retry by the caller (the
    # breaker finds the server accepting connections again and lets it through).
    started = time.perf_counter()
    assert store.latest_reading("MOTOBOMBA-007") == before
    assert time.perf_counter() - started <= RECOVERY
    assert store.check()["ready"] is True
    assert not store.breaker.is_open


def test_a_store_opened_while_the_database_is_down_starts_working_when_it_is_up(
    private_database_url, private_cluster
):
    copy_fleet(private_database_url, [pump_history("MOTOBOMBA-001", 5)])
    private_cluster.stop()
    store = TelemetryStore({**settings.defaults(), "DATABASE_URL": private_database_url})
    try:
        with within(FAST):
            store.open()  # a worker booting during the outage must boot
        with within(FAST), pytest.raises(DatabaseUnavailable):
            store.latest_reading("MOTOBOMBA-001")
        private_cluster.start()
        assert store.latest_reading("MOTOBOMBA-001").machine == "MOTOBOMBA-001"
    finally:
        store.close()
