"""A pump's baseline (pumpapi.models.baseline): its definition in numpy, and the process cache."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pytest

from pumpapi.channels import CHANNEL_NAMES
from pumpapi.db import baselines as cached
from pumpapi.models import baseline
from pumpapi.models.baseline import (
    AT_LOAD_RPM,
    DAYS,
    READINGS_PER_DAY,
    SUBSAMPLE,
    BaselineScale,
    LoadNormalisation,
    _quantiles,
)

C = {name: i for i, name in enumerate(CHANNEL_NAMES)}


def synthetic(n: int, rng: np.random.Generator, rpm: np.ndarray | None = None) -> np.ndarray:
    """Readings that follow known load laws: head ∝ speed², oil pressure ∝ speed^1.3, coolant
    +0.02 °C per rpm, with a little noise."""
    rpm = rng.uniform(1100, 1900, n) if rpm is None else rpm
    speed = rpm / 1800.0
    readings = np.zeros((n, len(CHANNEL_NAMES)))
    readings[:, C["Eng_RPM"]] = rpm
    readings[:, C["Succao"]] = -0.2 + rng.normal(0, 0.01, n)
    readings[:, C["Recalque"]] = readings[:, C["Succao"]] + 8.0 * speed**2 + rng.normal(0, 0.02, n)
    readings[:, C["Oil_P"]] = 4.5 * speed**1.3 + rng.normal(0, 0.02, n)
    readings[:, C["Cool_T"]] = 80.0 + 0.02 * (rpm - 1500) + rng.normal(0, 0.1, n)
    readings[:, C["Oil_L"]] = 80.0 + rng.normal(0, 0.2, n)
    readings[:, C["Bat_V"]], readings[:, C["Char_V"]] = 12.6, 13.8
    return readings


def test_the_quantiles_are_numpys_nanquantile_row_by_row():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(40, 4, 200))
    values[values > 1.2] = np.nan
    values[5, 1] = np.nan  # a row with no finite value
    values[6, 2, 1:] = np.nan  # one value only
    values[6, 2, 0] = 0.5
    q = np.array([0.9, 0.9, 0.1, 0.9])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.stack([np.nanquantile(values[:, j], q[j], axis=1) for j in range(4)], axis=1)
    got = _quantiles(values, q)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert np.isnan(got[5, 1]) and got[6, 2] == values[6, 2, 0]


def test_the_load_normalisation_is_fitted_from_the_readings():
    fitted = LoadNormalisation.fit(synthetic(20_000, np.random.default_rng(1)))
    assert fitted.head_exponent == pytest.approx(2.0, abs=0.05)
    assert fitted.oil_pressure_exponent == pytest.approx(1.3, abs=0.05)
    assert fitted.coolant_slope == pytest.approx(0.02, abs=0.002)
    # Normalised, the quantities no longer move with the speed.
    quantities = fitted.quantities(synthetic(5_000, np.random.default_rng(2)))
    assert quantities[:, :3].std(axis=0) == pytest.approx([0.03, 0.02, 0.1], abs=0.03)


def test_off_load_readings_have_no_quantities():
    readings = synthetic(3, np.random.default_rng(3), rpm=np.array([0.0, 800.0, AT_LOAD_RPM]))
    quantities = LoadNormalisation(2.0, 1.3, 0.02).quantities(readings)
    assert np.isnan(quantities[:2]).all() and np.isfinite(quantities[2]).all()


def test_the_baseline_is_the_week_before_the_window_and_not_the_window():
    rng = np.random.default_rng(4)
    n = 9 * READINGS_PER_DAY
    readings = synthetic(n, rng)
    normalisation = LoadNormalisation(2.0, 1.3, 0.02)
    start = 8 * READINGS_PER_DAY
    before = normalisation.at_window_starts(readings, np.array([start]))[0]
    # Direct: every SUBSAMPLE-th reading of the DAYS before the start.
    week = normalisation.quantities(readings[::SUBSAMPLE])
    first = (start - DAYS * READINGS_PER_DAY) // SUBSAMPLE
    week = week[first : start // SUBSAMPLE]
    expected = [
        np.quantile(week[:, 0], 0.9),
        np.quantile(week[:, 1], 0.9),
        np.quantile(week[:, 2], 0.1),
        np.quantile(week[:, 3], 0.9),
    ]
    np.testing.assert_allclose(before, expected, rtol=1e-12)
    # A fault from the window's start on (coolant +10 °C) does not move that window's
    # baseline: the window is compared with the pump's week, not with itself.
    hot = readings.copy()
    hot[start:, C["Cool_T"]] += 10.0
    np.testing.assert_allclose(normalisation.at_window_starts(hot, np.array([start]))[0], before)


def test_a_pump_with_too_few_hours_at_load_has_no_baseline():
    rng = np.random.default_rng(5)
    readings = synthetic(2 * READINGS_PER_DAY, rng)
    readings[:, C["Eng_RPM"]] = 800.0  # idling ...
    readings[600:800, C["Eng_RPM"]] = 1500.0  # ... but for 200 minutes at load
    normalisation = LoadNormalisation(2.0, 1.3, 0.02)
    found = normalisation.at_window_starts(readings, np.array([100, 1000]))
    assert np.isnan(found).all()
    readings[600:1000, C["Eng_RPM"]] = 1500.0  # 400 minutes at load
    assert np.isfinite(normalisation.at_window_starts(readings, np.array([1100]))).all()


def test_the_block_is_the_departure_from_the_baseline_and_the_baseline_in_sds():
    scale = BaselineScale((8.0, 4.5, 80.0, 80.0), (1.0, 0.5, 2.0, 4.0))
    block = scale.block(np.array([[8.0, 4.0, 84.0, 80.0]]), np.array([[9.0, 4.5, 80.0, 84.0]]))
    np.testing.assert_allclose(block, [[-1.0, -1.0, 2.0, -1.0, 1.0, 0.0, 0.0, 1.0]])


def test_the_cache_reads_a_pump_again_only_an_hour_of_windows_later(monkeypatch):
    asked: list[list[str]] = []

    def read(query, params):
        asked.append(list(params["names"]))
        return [(name, 500, 8.0, 4.5, 80.0, 80.0) for name in params["names"]]

    cache = cached.BaselineCache()
    normalisation = LoadNormalisation(2.0, 1.3, 0.02)
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    first = cache.get(read, normalisation, {"P1": t0, "P2": t0})
    assert asked == [["P1", "P2"]] and first["P1"].tolist() == [8.0, 4.5, 80.0, 80.0]
    cache.get(read, normalisation, {"P1": t0 + dt.timedelta(minutes=59)})
    assert len(asked) == 1  # kept
    cache.get(read, normalisation, {"P1": t0 + cached.REFRESH, "P2": t0})
    assert asked[1] == ["P1"]  # only the pump whose hour passed
    cache.get(read, normalisation, {"P2": t0 - dt.timedelta(minutes=1)})
    assert asked[2] == ["P2"]  # an earlier window than the one kept
    # Another version's normalisation is another baseline.
    cache.get(read, LoadNormalisation(1.9, 1.3, 0.02), {"P2": t0})
    assert asked[3] == ["P2"]
    # Many pumps: in queries of CHUNK.
    monkeypatch.setattr(cached, "CHUNK", 2)
    asked.clear()
    cache.get(read, normalisation, {f"Q{i}": t0 for i in range(5)})
    assert [len(a) for a in asked] == [2, 2, 1]


def test_an_hour_later_a_fleet_is_read_again_a_chunk_at_a_time_oldest_first(monkeypatch):
    """Baselines past REFRESH are still used, and read again CHUNK pumps a call (the oldest
    first, beside pumps never read, in the same queries); past STALE_AFTER they must be read."""
    version = iter(range(1000))
    asked: list[list[str]] = []

    def read(query, params):
        asked.append(list(params["names"]))
        n = next(version)
        return [(name, 500, float(n), 4.5, 80.0, 80.0) for name in params["names"]]

    monkeypatch.setattr(cached, "CHUNK", 3)
    cache = cached.BaselineCache()
    norm = LoadNormalisation(2.0, 1.3, 0.02)
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    minute = dt.timedelta(minutes=1)
    cache.get(read, norm, {"A": t0, "B": t0 + minute, "C": t0 + 2 * minute})
    cache.get(read, norm, {"D": t0 + 3 * minute, "E": t0 + 4 * minute})
    asked.clear()
    later = t0 + cached.REFRESH + 10 * minute
    pumps = {name: later for name in "ABCDE"}
    first = cache.get(read, norm, pumps)
    assert asked == [["A", "B", "C"]]  # the three kept longest; D and E served as kept
    assert [first[n][0] for n in "ABCDE"] == [2.0, 2.0, 2.0, 1.0, 1.0]
    cache.get(read, norm, pumps | {"F": later})
    assert asked[1] == ["F", "D", "E"]  # a pump never read, and the room left in its query
    assert len(cache.get(read, norm, pumps)) == 5 and len(asked) == 2  # all fresh again
    # Past STALE_AFTER, a kept baseline is not used: all are read, in chunks.
    cache.get(read, norm, {name: later + cached.STALE_AFTER for name in "ABCDE"})
    assert [len(a) for a in asked[2:]] == [3, 2]


def test_the_cache_answers_none_for_a_pump_with_too_few_readings():
    def read(query, params):
        return [("P1", baseline.MIN_AT_LOAD_READINGS - 1, 8.0, 4.5, 80.0, 80.0)]

    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    found = cached.BaselineCache().get(read, LoadNormalisation(2, 1.3, 0.02), {"P1": t0, "P9": t0})
    assert found == {"P1": None, "P9": None}
