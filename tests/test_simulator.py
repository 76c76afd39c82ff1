"""Tests of the fleet simulator: determinism, shapes, physics, failures and the CSV writer."""

from __future__ import annotations

import csv
import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from pumpapi.channels import CHANNEL_NAMES, CHANNELS
from pumpapi.devtools.simulator import (
    DEFAULT_PHYSICS,
    FAULT_KINDS,
    HYDRAULIC_FAULTS,
    LUBRICATION_FAULTS,
    Fault,
    Physics,
    PumpHistory,
    iter_rows,
    simulate_fleet,
    write_csv,
)

COL = {name: i for i, name in enumerate(CHANNEL_NAMES)}
DAY_AT_60S = 1440
CRITICAL = DEFAULT_PHYSICS.critical_health


@pytest.fixture(scope="module")
def fleet() -> list[PumpHistory]:
    """Eight pumps for four weeks at 60 s: enough failures of every kind to test against."""
    return simulate_fleet(8, 40_000, seed=7)


def _same(a: PumpHistory, b: PumpHistory) -> bool:
    return (
        a.name == b.name
        and np.array_equal(a.timestamps, b.timestamps)
        and np.array_equal(a.readings, b.readings)
        and np.array_equal(a.lubrication_health, b.lubrication_health)
        and np.array_equal(a.hydraulic_health, b.hydraulic_health)
        and np.array_equal(a.running, b.running)
        and np.array_equal(a.failures, b.failures)
        and a.faults == b.faults
    )


def test_same_seed_same_fleet_and_other_seed_differs():
    first = simulate_fleet(3, 3_000, seed=5)
    again = simulate_fleet(3, 3_000, seed=5)
    other = simulate_fleet(3, 3_000, seed=6)

    assert all(_same(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0].readings, other[0].readings)


def test_a_pumps_history_does_not_depend_on_the_fleet_it_is_simulated_with():
    small = simulate_fleet(2, 3_000, seed=5)
    large = simulate_fleet(5, 3_000, seed=5)
    alone = simulate_fleet(1, 3_000, seed=5, first_index=2)

    assert _same(small[1], large[1])
    assert _same(small[1], alone[0])
    assert not np.array_equal(small[0].readings, small[1].readings)


def test_names_shapes_dtypes_and_timestamps():
    fleet = simulate_fleet(2, 500, seed=1, first_index=9)

    assert [p.name for p in fleet] == ["MOTOBOMBA-009", "MOTOBOMBA-010"]
    pump = fleet[0]
    assert pump.timestamps.dtype == np.dtype("datetime64[s]")
    assert pump.timestamps[0] == np.datetime64("2025-01-01T00:00:00")
    assert np.all(np.diff(pump.timestamps) == np.timedelta64(60, "s"))
    assert pump.readings.shape == (500, 8) and pump.readings.dtype == np.float64
    for truth in (pump.lubrication_health, pump.hydraulic_health):
        assert truth.shape == (500,) and truth.dtype == np.float64
    assert pump.running.shape == (500,) and pump.running.dtype == np.bool_
    assert np.issubdtype(pump.failures.dtype, np.integer)


def test_start_and_interval_are_honoured_and_taken_as_utc():
    brasilia = timezone(timedelta(hours=-3))
    aware = simulate_fleet(
        1, 10, seed=1, interval_s=600, start=datetime(2025, 3, 1, 12, tzinfo=brasilia)
    )
    naive = simulate_fleet(1, 10, seed=1, interval_s=600, start=datetime(2025, 3, 1, 15))

    assert aware[0].timestamps[0] == np.datetime64("2025-03-01T15:00:00")
    assert np.array_equal(aware[0].timestamps, naive[0].timestamps)
    assert np.all(np.diff(aware[0].timestamps) == np.timedelta64(600, "s"))


def test_readings_stay_in_physical_ranges_and_look_like_a_24v_diesel_pump(fleet):
    readings = np.concatenate([p.readings for p in fleet])
    running = np.concatenate([p.running for p in fleet])

    assert np.isfinite(readings).all()
    for i, channel in enumerate(CHANNELS):
        assert readings[:, i].min() >= channel.minimum, channel.name
        assert readings[:, i].max() <= channel.maximum, channel.name
    on, off = readings[running], readings[~running]
    assert (off[:, COL["Eng_RPM"]] == 0).all()
    assert np.percentile(off[:, COL["Oil_P"]], 99) < 0.5
    # Set-points spread per pump over 1300-2200 rpm (± 8 %): no pile-up at one capped value.
    assert 1300 <= np.median(on[:, COL["Eng_RPM"]]) <= 2200
    assert on[:, COL["Eng_RPM"]].max() < 2500
    assert 600 < on[:, COL["Eng_RPM"]].min()
    assert 75 < np.median(on[:, COL["Cool_T"]]) < 95
    assert 2.5 < np.median(on[:, COL["Oil_P"]]) < 5.5
    # A flat battery rests at about 23.0 V (battery_empty_v); noise and drift go a little lower.
    assert 22.5 < readings[:, COL["Bat_V"]].min() and readings[:, COL["Bat_V"]].max() < 26.5
    assert 27 <= np.median(on[:, COL["Char_V"]]) <= 28.5
    # Stopped, the alternator output falls to the battery voltage.
    gap = off[:, COL["Char_V"]] - off[:, COL["Bat_V"]]
    assert abs(np.median(gap)) < 0.1


def test_healthy_running_readings_look_like_the_spec_examples(fleet):
    """Battery ≈ 24-25.5 V, charging ≈ 27-28.5 V, oil ≈ 4-5 bar at 1800 rpm: the SPEC's XGBoost
    example (1800 rpm, 4.5 bar, 24.1 V, 27.8 V) is an ordinary healthy reading."""
    readings = np.concatenate([p.readings for p in fleet])
    running = np.concatenate([p.running for p in fleet])
    soon = np.concatenate([p.failure_within(DAY_AT_60S) for p in fleet])
    healthy = readings[running & ~soon]
    battery, charging = healthy[:, COL["Bat_V"]], healthy[:, COL["Char_V"]]
    assert 24.0 <= np.median(battery) <= 25.5
    assert np.percentile(battery, 1) < 24.1 < np.percentile(battery, 99)
    assert 23.5 < np.percentile(battery, 5) and np.percentile(battery, 95) < 26.0
    assert 27.0 <= np.median(charging) <= 28.5
    assert np.percentile(charging, 1) < 27.8 < np.percentile(charging, 99)
    # A working alternator is well above the battery; the few below are charging faults that
    # plateaued (they drain the battery without a failure within the day).
    assert np.median(charging - battery) > 2.0 and np.mean(charging - battery < 1.0) < 0.08
    rpm = healthy[:, COL["Eng_RPM"]]
    full_speed = healthy[(rpm >= 1750) & (rpm <= 1850), COL["Oil_P"]]
    assert 4.0 <= np.median(full_speed) <= 5.0


def test_health_is_within_0_and_100(fleet):
    for pump in fleet:
        for truth in (pump.lubrication_health, pump.hydraulic_health):
            assert truth.min() >= 0.0 and truth.max() <= 100.0


def test_health_lost_to_faults_is_the_gap_no_reading_shows_closed(fleet):
    """The oracle's ground truth: each index plus what faults took from it is the fresh state
    less wear (92–100 at a service, minus at most a few points a week); faults take from the
    index whose faults they are, and nothing when none is active."""
    p = DEFAULT_PHYSICS
    lost_any = False
    for pump in fleet:
        lost = pump.health_lost_to_faults()
        assert lost.shape == (len(pump.readings), 2) and lost.min() >= 0.0
        truth = np.stack([pump.lubrication_health, pump.hydraulic_health], axis=1)
        rest = (truth + lost)[truth > 0.0]  # where the index is not clipped at 0
        assert rest.max() <= p.fresh_health[1] + 1e-3
        assert rest.min() >= p.fresh_health[0] - 40.0
        severity = pump.fault_severity
        for k, group in enumerate((LUBRICATION_FAULTS, HYDRAULIC_FAULTS)):
            columns = [FAULT_KINDS.index(kind) for kind in group]
            assert np.all((lost[:, k] > 0) == (severity[:, columns].sum(axis=1) > 0))
        lost_any |= bool((lost > 10).any())
    assert lost_any
    with pytest.raises(ValueError, match="no fault severity"):
        PumpHistory(
            "hand-built", np.zeros(1), np.zeros((1, 8)), *[np.zeros(1)] * 3, [], []
        ).health_lost_to_faults()


def _only(kind: str | None) -> Physics:
    """Physics with a single fault kind, frequent and always progressing to failure."""
    rates = {k: (2.0 if k == kind else 0.0) for k in FAULT_KINDS}
    return dataclasses.replace(
        DEFAULT_PHYSICS,
        fault_rate_per_day=rates,
        plateau_probability=0.0,
        fault_hours_median=30.0,
        burn_in_days=0.0,  # the test compares the steps before a fault's onset
    )


#: Documented effect of each fault (docs/simulator.md): channel -> sign of (faulty - fault-free).
EFFECTS = {
    "oil_leak": {"Oil_L": -1, "Oil_P": -1},
    "overheating": {"Cool_T": +1, "Oil_P": -1},
    "cavitation": {"Succao": -1, "Recalque": -1, "Eng_RPM": +1},
    "charging_fault": {"Char_V": -1, "Bat_V": -1},
}


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_moves_its_channels_in_the_documented_direction(kind):
    faulty = simulate_fleet(1, 15_000, seed=3, physics=_only(kind))[0]
    clean = simulate_fleet(1, 15_000, seed=3, physics=_only(None))[0]
    assert clean.faults == [] and len(clean.failures) == 0
    first = faulty.failures[0]
    cause = next(f for f in faulty.faults if f.failure == first)
    assert cause.kind == kind

    # Until the onset, the two pumps are the same pump (same schedule, weather and noise);
    # until the failure they run the same schedule.
    assert np.array_equal(faulty.readings[: cause.onset], clean.readings[: cause.onset])
    assert np.array_equal(faulty.running[:first], clean.running[:first])
    span = np.arange(cause.onset, first)
    late = span[clean.running[span]]
    late = late[len(late) * 2 // 3 :]  # the last third of the running steps: a developed fault
    assert len(late) > 10
    diff = faulty.readings[late] - clean.readings[late]
    for name in CHANNEL_NAMES:
        shift = diff[:, COL[name]].mean()
        if name in EFFECTS[kind]:
            assert np.sign(shift) == EFFECTS[kind][name], (name, shift)
        else:
            assert np.array_equal(diff[:, COL[name]], np.zeros(len(late))), name
    if kind == "cavitation":  # and the discharge pressure turns noisy
        assert diff[:, COL["Recalque"]].std() > 3 * DEFAULT_PHYSICS.noise_sigma[COL["Recalque"]]
    lub_drop = clean.lubrication_health[late] - faulty.lubrication_health[late]
    hyd_drop = clean.hydraulic_health[late] - faulty.hydraulic_health[late]
    if kind in LUBRICATION_FAULTS:
        assert lub_drop.min() > 0 and np.allclose(hyd_drop, 0)
    elif kind in HYDRAULIC_FAULTS:
        assert hyd_drop.min() > 0 and np.allclose(lub_drop, 0)
    else:
        assert np.allclose(lub_drop, 0) and np.allclose(hyd_drop, 0)


def test_failures_follow_health_or_battery_crossing_the_critical_level(fleet):
    seen = set()
    for pump in fleet:
        assert np.array_equal(pump.failures, np.unique(pump.failures))
        caused = {f.failure: f.kind for f in pump.faults if f.failure is not None}
        assert set(caused) == set(pump.failures.tolist())
        worst = np.minimum(pump.lubrication_health, pump.hydraulic_health)
        # A pump never runs at or below the critical level: it fails there and stops.
        assert not (pump.running & (worst <= CRITICAL)).any()
        crossings = np.flatnonzero((worst[1:] <= CRITICAL) & (worst[:-1] > CRITICAL)) + 1
        assert set(crossings.tolist()) <= set(pump.failures.tolist())
        for step in pump.failures:
            kind = caused[step]
            seen.add(kind)
            assert not pump.running[step]
            if kind == "charging_fault":  # a failed start on a flat battery
                assert pump.battery_charge[step] < DEFAULT_PHYSICS.critical_soc
                assert not pump.running[step - 1]
            else:
                health = (
                    pump.lubrication_health if kind in LUBRICATION_FAULTS else pump.hydraulic_health
                )
                assert health[step] <= CRITICAL < health[step - 1]
            back = step + np.argmax(pump.running[step:])  # repaired and running again
            if pump.running[back]:
                assert worst[back] > CRITICAL
                assert pump.battery_charge[back] > DEFAULT_PHYSICS.critical_soc
    assert seen == set(FAULT_KINDS)


def test_failures_are_frequent_enough_to_learn_but_rare(fleet):
    """About 5-15% of running readings are followed by a failure within 24 h (60 s interval)."""
    running = np.concatenate([p.running for p in fleet])
    soon = np.concatenate([p.failure_within(DAY_AT_60S) for p in fleet])
    assert 0.05 <= soon[running].mean() <= 0.15


def test_steps_to_failure_and_failure_within_on_a_hand_built_history():
    n = 10
    pump = PumpHistory(
        name="MOTOBOMBA-001",
        timestamps=np.datetime64("2025-01-01T00:00:00") + np.arange(n) * np.timedelta64(60, "s"),
        readings=np.zeros((n, 8)),
        lubrication_health=np.full(n, 100.0),
        hydraulic_health=np.full(n, 100.0),
        running=np.ones(n, dtype=bool),
        faults=[Fault("oil_leak", 1, 3), Fault("cavitation", 4, 7)],
        failures=np.array([3, 7]),
    )
    inf = np.inf
    assert pump.steps_to_failure().tolist() == [3, 2, 1, 4, 3, 2, 1, inf, inf, inf]
    assert pump.failure_within(2).tolist() == [0, 1, 1, 0, 0, 1, 1, 0, 0, 0]
    assert pump.failure_within(0).tolist() == [0] * n
    assert pump.failure_within(100).tolist() == [1] * 7 + [0] * 3

    healthy = dataclasses.replace(pump, faults=[], failures=np.array([], dtype=np.int64))
    assert np.isinf(healthy.steps_to_failure()).all()
    assert not healthy.failure_within(100).any()


def test_iter_rows_yields_every_reading_with_aware_utc_timestamps():
    fleet = simulate_fleet(2, 30, seed=2)
    rows = list(iter_rows(fleet))

    assert len(rows) == 60
    machine, ts, values = rows[31]
    assert machine == "MOTOBOMBA-002"
    assert ts == datetime(2025, 1, 1, 0, 1, tzinfo=UTC)
    assert values == tuple(fleet[1].readings[1])


def test_write_csv_round_trips(tmp_path: Path):
    fleet = simulate_fleet(2, 40, seed=4)
    path = tmp_path / "fleet.csv"

    assert write_csv(fleet, path) == 80
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    assert header == ["machine", "timestamp", *CHANNEL_NAMES]
    assert len(rows) == 80
    assert rows[0][1] == "2025-01-01T00:00:00Z"
    for pump, chunk in ((fleet[0], rows[:40]), (fleet[1], rows[40:])):
        assert {r[0] for r in chunk} == {pump.name}
        stamps = [datetime.fromisoformat(r[1]) for r in chunk]
        assert all(s.tzinfo is not None and s.utcoffset() == timedelta(0) for s in stamps)
        assert np.array_equal(
            np.array([s.replace(tzinfo=None) for s in stamps], dtype="datetime64[s]"),
            pump.timestamps,
        )
        assert np.array_equal(np.array([r[2:] for r in chunk], dtype=float), pump.readings)


def test_tiny_histories_work():
    for n in (1, 2):
        pump = simulate_fleet(1, n, seed=0)[0]
        assert pump.readings.shape == (n, 8)


def test_every_parameter_is_documented():
    doc = (Path(__file__).parents[1] / "docs" / "simulator.md").read_text(encoding="utf-8")
    missing = [f.name for f in dataclasses.fields(Physics) if f"`{f.name}`" not in doc]
    assert missing == []


def test_set_points_spread_smoothly_with_no_cliff_at_1800_rpm():
    """Fault-free running speed has no edge at 1800 rpm (the old cap): as many readings just above
    it as just below, and pumps run anywhere from ~1200 to ~2350 rpm."""
    clean = simulate_fleet(40, 4_000, seed=11, physics=_only(None))
    rpm = np.concatenate([p.readings[p.running, COL["Eng_RPM"]] for p in clean])
    rpm = rpm[rpm > 1000]  # load, not idle
    below = ((rpm >= 1760) & (rpm < 1800)).sum()
    above = ((rpm >= 1800) & (rpm < 1840)).sum()
    assert below > 100 and 0.6 < above / below < 1.6
    assert np.percentile(rpm, 2) < 1400 and np.percentile(rpm, 98) > 2100
    nominal = [np.median(p.readings[p.running & (p.readings[:, 0] > 1000), 0]) for p in clean]
    assert np.ptp(nominal) > 500  # per-pump set-points, not one fleet-wide range


def test_a_failing_alternator_can_fall_below_the_battery():
    faulty = simulate_fleet(6, 15_000, seed=3, physics=_only("charging_fault"))
    below = [
        (p.readings[:, COL["Char_V"]] < p.readings[:, COL["Bat_V"]] - 1.0) & p.running
        for p in faulty
    ]
    assert sum(int(b.sum()) for b in below) > 50
    clean = simulate_fleet(6, 15_000, seed=3, physics=_only(None))
    for p in clean:  # a healthy alternator charges: always above the battery while running
        gap = p.readings[p.running, COL["Char_V"]] - p.readings[p.running, COL["Bat_V"]]
        assert np.percentile(gap, 1) > 1.0


def test_burn_in_starts_histories_in_steady_state():
    """With burn-in, the first day already has the long-run share of readings close to a failure
    and of active faults; without it, every pump starts fault-free."""
    n_pumps, day = 120, DAY_AT_60S
    burnt = simulate_fleet(n_pumps, 4 * day, seed=21)
    cold = simulate_fleet(
        n_pumps, 4 * day, seed=21, physics=dataclasses.replace(DEFAULT_PHYSICS, burn_in_days=0.0)
    )

    def active_at_start(fleet):
        return np.mean([any(f.onset <= 0 for f in p.faults) for p in fleet])

    assert active_at_start(cold) == 0.0
    assert active_at_start(burnt) > 0.1
    # Steady state: the first day's failure rate matches the last days'.
    first = np.mean([p.failure_within(day)[:day].mean() for p in burnt])
    later = np.mean([p.failure_within(day)[day : 3 * day].mean() for p in burnt])
    assert first > 0.5 * later
    assert np.mean([p.failure_within(day)[:day].mean() for p in cold]) < first
