"""The window statistics the failure-risk window model reads (pumpapi.models.window)."""

from __future__ import annotations

import numpy as np
import pytest

from pumpapi.channels import CHANNEL_NAMES, CHANNELS
from pumpapi.models import window

NOMINAL = np.array([c.nominal for c in CHANNELS])
COLUMN = {name: i for i, name in enumerate(window.FEATURE_NAMES)}


def running_pump(minutes: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    readings = NOMINAL + rng.normal(0, 0.02, size=(minutes, len(CHANNELS))) * NOMINAL
    return readings


def test_every_column_is_named_and_tied_to_a_channel():
    out = window.features(running_pump(200))
    assert out.shape == (1, len(window.FEATURE_NAMES))
    assert len(set(window.FEATURE_NAMES)) == len(window.FEATURE_NAMES)
    assert set(window.FEATURE_CHANNELS) - {None} == set(CHANNEL_NAMES)


def test_many_ends_at_once_equal_each_window_alone():
    readings = running_pump(window.WINDOW + 500, seed=1)
    readings[700:900, 0] = 0.0  # a stop
    ends = np.array([59, 800, window.WINDOW - 1, window.WINDOW + 499])
    together = window.features(readings, ends)
    for row, end in zip(together, ends, strict=True):
        alone = window.features(readings[max(0, end + 1 - window.WINDOW) : end + 1])[0]
        np.testing.assert_allclose(row, alone, rtol=2e-4, atol=2e-4)


def test_statistics_match_their_definitions():
    readings = running_pump(300, seed=2)
    readings[:, 1] += np.linspace(0, 6, 300)  # coolant rising 6 °C over 300 minutes
    (row,) = window.features(readings)
    last_hour = readings[-window.RECENT :]
    for i, name in enumerate(CHANNEL_NAMES):
        assert row[COLUMN[f"last_{name}"]] == pytest.approx(readings[-1, i], rel=1e-5)
        assert row[COLUMN[f"recent_running_mean_{name}"]] == pytest.approx(
            last_hour[:, i].mean(), rel=1e-5
        )
        assert row[COLUMN[f"recent_running_std_{name}"]] == pytest.approx(
            last_hour[:, i].std(), rel=1e-2, abs=1e-3
        )
    slope = np.polyfit(np.arange(300), readings[:, 1], 1)[0] * 1440
    assert row[COLUMN["window_slope_per_day_Cool_T"]] == pytest.approx(slope, rel=1e-3)
    assert row[COLUMN["readings"]] == 300


def test_a_stopped_pump_is_read_from_its_last_running_hour():
    readings = running_pump(240, seed=3)
    readings[:180, 1] = 110.0  # overheating while it ran
    readings[180:, 0] = 0.0  # then stopped for an hour, cooling down
    readings[180:, 1] = 40.0
    (row,) = window.features(readings)
    assert row[COLUMN["recent_running_mean_Cool_T"]] == pytest.approx(110.0)
    assert row[COLUMN["readings_since_running"]] == 60
    assert row[COLUMN["last_hour_running_fraction"]] == 0.0


def test_a_leak_lowers_the_level_below_the_windows_maximum():
    healthy, leaking = running_pump(600, seed=4), running_pump(600, seed=4)
    leaking[:, 3] -= np.linspace(0, 20, 600)
    (h,) = window.features(healthy)
    (leak,) = window.features(leaking)
    assert (
        leak[COLUMN["last_minus_window_max_Oil_L"]] < h[COLUMN["last_minus_window_max_Oil_L"]] - 15
    )
    assert leak[COLUMN["window_slope_per_day_Oil_L"]] < -40  # 20 % in 10 h
