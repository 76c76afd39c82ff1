"""PostgreSQL stopped and restarted under a running store: fast 503s, then recovery by itself."""

import time
from contextlib import contextmanager

import pytest

from pumpapi import settings
from pumpapi.db import TelemetryStore, copy_fleet
from pumpapi.errors import DatabaseUnavailable
from tests.fixtures.db import pump_history

FAST = 1.5  # seconds: the most a request may wait while the database is down


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
    # Every request while it is down fails fast, not only the first one.
    with within(FAST):
        status = store.check()
    assert status["ready"] is False and "not reachable" in status["error"]
    with within(FAST), pytest.raises(DatabaseUnavailable):
        store.latest_reading("MOTOBOMBA-007")
    with within(FAST), pytest.raises(DatabaseUnavailable):
        store.latest_window("MOTOBOMBA-007", 60)
    with within(FAST), pytest.raises(DatabaseUnavailable):
        store.machines()

    private_cluster.start()
    # The very first call after the restart succeeds: no reset, no retry by the caller.
    assert store.latest_reading("MOTOBOMBA-007") == before
    assert store.check()["ready"] is True


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
