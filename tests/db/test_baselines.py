"""Pump baselines read from PostgreSQL are the numpy definition's (pumpapi.models.baseline)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from pumpapi import settings
from pumpapi.db import TelemetryStore, copy_fleet
from pumpapi.devtools.simulator import simulate_fleet
from pumpapi.models import baseline
from pumpapi.models.baseline import READINGS_PER_DAY, LoadNormalisation

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def fleet(database_url):
    """Three simulated pumps, nine days at one reading a minute, in the database."""
    pumps = simulate_fleet(3, 9 * READINGS_PER_DAY, seed=11, start=START)
    copy_fleet(database_url, pumps)
    return pumps


def test_the_database_baseline_is_the_numpy_one_over_every_reading(
    database_url, fleet, monkeypatch
):
    store = TelemetryStore({**settings.defaults(), "DATABASE_URL": database_url})
    normalisation = LoadNormalisation(1.98, 0.89, 0.019)
    start_at = 8 * READINGS_PER_DAY + 17  # a window starting on the ninth day
    starts = {p.name: START + dt.timedelta(minutes=start_at) for p in fleet}
    try:
        found = store.pump_baselines(normalisation, starts)
    finally:
        store.close()
    # Serving reads every reading of the week; training every SUBSAMPLE-th (same definition).
    monkeypatch.setattr(baseline, "SUBSAMPLE", 1)
    for pump in fleet:
        expected = normalisation.at_window_starts(pump.readings, np.array([start_at]))[0]
        assert np.isfinite(expected).all()
        np.testing.assert_allclose(found[pump.name], expected, rtol=1e-9)


def test_a_pump_without_a_week_at_load_has_no_baseline(database_url, fleet):
    store = TelemetryStore({**settings.defaults(), "DATABASE_URL": database_url})
    try:
        # A window starting at the first reading: nothing before it.
        found = store.pump_baselines(LoadNormalisation(2.0, 1.3, 0.02), {fleet[0].name: START})
    finally:
        store.close()
    assert found == {fleet[0].name: None}
