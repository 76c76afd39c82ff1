"""Deterministic simulator of a fleet of diesel motor pumps: telemetry, true health, failures.

The physics (every equation and parameter) is documented in docs/simulator.md; `Physics` holds the
parameters with their defaults. A pump's history is generated one operating segment at a time (a
run, a stop, a repair, a maintenance visit: a few hundred per pump), each segment vectorised over
its steps, so 200 pumps x 50,000 steps take seconds rather than minutes.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
from scipy.signal import lfilter

from pumpapi.channels import CHANNEL_NAMES, CHANNELS

FAULT_KINDS: tuple[str, ...] = ("oil_leak", "overheating", "cavitation", "charging_fault")
#: Faults that lower each health index (the charging fault lowers neither: it drains the battery).
LUBRICATION_FAULTS: tuple[str, ...] = ("oil_leak", "overheating")
HYDRAULIC_FAULTS: tuple[str, ...] = ("cavitation",)
#: The faults of each health index, in (lubrication, hydraulic) order.
INDEX_FAULTS: tuple[tuple[str, ...], ...] = (LUBRICATION_FAULTS, HYDRAULIC_FAULTS)

#: Used when `start` is not given: a fixed instant, so that a seed alone fixes every reading.
DEFAULT_START = datetime(2025, 1, 1, tzinfo=UTC)

_OIL, _HEAT, _CAV, _CHARGE = range(len(FAULT_KINDS))
_KIND_INDEX = {kind: i for i, kind in enumerate(FAULT_KINDS)}
_DAY_S = 86_400.0
_HOUR_S = 3_600.0


@dataclass(frozen=True)
class Physics:
    """Every parameter of the simulator (units in the names; see docs/simulator.md).

    A `(low, high)` pair is the uniform range a per-pump (or per-event) value is drawn from.
    """

    # Operating regime: duty cycle and load.
    initial_running_probability: float = 0.6
    run_hours_median: tuple[float, float] = (3.0, 12.0)
    run_hours_sigma: float = 0.7
    stop_hours_median: tuple[float, float] = (1.0, 6.0)
    stop_hours_sigma: float = 1.0
    warmup_idle_minutes: tuple[float, float] = (2.0, 8.0)
    cooldown_idle_minutes: tuple[float, float] = (1.0, 5.0)
    idle_rpm: tuple[float, float] = (750.0, 850.0)
    rpm_setpoint: tuple[float, float] = (1300.0, 2200.0)
    rpm_setpoint_spread: float = 0.08
    load_change_hours_mean: float = 2.0
    reference_rpm: float = 1800.0
    # Thermal.
    ambient_mean_c: tuple[float, float] = (18.0, 30.0)
    ambient_daily_amplitude_c: float = 6.0
    ambient_day_sigma_c: float = 2.5
    ambient_tau_days: float = 3.0
    thermostat_c: tuple[float, float] = (80.0, 88.0)
    load_heating_c_per_krpm: float = 20.0
    load_heating_reference_rpm: float = 1500.0
    ambient_gain: float = 0.25
    ambient_reference_c: float = 25.0
    warmup_tau_minutes: float = 10.0
    cooldown_tau_minutes: float = 45.0
    overheating_max_c: float = 40.0
    # Lubrication.
    oil_pressure_bar: tuple[float, float] = (4.2, 5.2)
    oil_pressure_rpm_exponent: float = 1.3
    oil_reference_temperature_c: float = 88.0
    oil_viscosity_per_c: float = 0.012
    oil_viscosity_factor: tuple[float, float] = (0.75, 1.5)
    oil_level_pct: tuple[float, float] = (78.0, 88.0)
    oil_consumption_pct_per_hour: float = 0.02
    oil_circulation_drop_pct: float = 3.0
    oil_leak_max_drop_pct: float = 70.0
    oil_starvation_level_pct: float = 60.0
    oil_wear_pressure_loss: float = 0.004
    # Hydraulics.
    pump_head_bar: tuple[float, float] = (5.0, 10.0)
    suction_friction_bar: float = 0.25
    reservoir_head_bar: tuple[float, float] = (0.3, 1.2)
    reservoir_sigma_bar: float = 0.15
    reservoir_tau_days: float = 3.0
    drawdowns_per_day: float = 1 / 12
    drawdown_hours: tuple[float, float] = (6.0, 36.0)
    drawdown_depth_bar: tuple[float, float] = (0.4, 1.0)
    discharge_static_bar: tuple[float, float] = (0.8, 2.5)
    cavitation_vacuum_bar: float = -0.85
    cavitation_head_loss: float = 0.35
    cavitation_noise_bar: float = 1.0
    cavitation_rpm_rise: float = 60.0
    cavitation_rpm_jitter: float = 50.0
    hydraulic_wear_head_loss: float = 0.002
    # Electrical (24 V system).
    battery_empty_v: float = 23.0
    battery_span_v: float = 2.5
    battery_capacity: tuple[float, float] = (0.4, 1.0)
    charging_voltage_fraction: tuple[float, float] = (0.03, 0.2)
    regulator_v: tuple[float, float] = (27.6, 28.4)
    charge_tau_hours: float = 8.0
    standby_drain_tau_days: float = 5.0
    crank_soc_drop: float = 0.02
    charging_fault_gain: float = 1.4
    charging_fault_floor_v: tuple[float, float] = (0.0, 24.0)
    critical_soc: float = 0.1
    initial_charge: tuple[float, float] = (0.85, 1.0)
    # Faults.
    fault_rate_per_day: dict[str, float] = field(
        default_factory=lambda: {
            "oil_leak": 0.06,
            "overheating": 0.06,
            "cavitation": 0.06,
            "charging_fault": 0.043,
        }
    )
    pump_fault_rate_sigma: float = 0.4
    fault_hours_median: float = 90.0
    fault_hours_sigma: float = 0.6
    fault_growth_exponent: tuple[float, float] = (1.0, 2.0)
    plateau_probability: float = 0.2
    plateau_severity: tuple[float, float] = (0.25, 0.6)
    # Health, maintenance and repair.
    critical_health: float = 20.0
    fresh_health: tuple[float, float] = (92.0, 100.0)
    lubrication_wear_per_hour: tuple[float, float] = (0.02, 0.06)
    hydraulic_wear_per_hour: tuple[float, float] = (0.01, 0.05)
    maintenance_interval_days: tuple[float, float] = (10.0, 20.0)
    maintenance_jitter: float = 0.2
    maintenance_hours: tuple[float, float] = (2.0, 6.0)
    repair_hours_median: float = 8.0
    repair_hours_sigma: float = 0.6
    # Burn-in: simulated before the first reading and dropped, so a history starts in steady state.
    burn_in_days: float = 10.0
    # Sensors, in CHANNEL_NAMES order.
    noise_sigma: tuple[float, ...] = (5.0, 0.4, 0.06, 0.5, 0.08, 0.03, 0.04, 0.06)
    drift_sigma: tuple[float, ...] = (0.0, 0.8, 0.06, 1.0, 0.1, 0.03, 0.04, 0.04)
    drift_tau_days: float = 10.0
    resolution_decimals: tuple[int, ...] = (0, 1, 2, 1, 2, 3, 2, 2)


DEFAULT_PHYSICS = Physics()


@dataclass
class Fault:
    """One degradation process of a pump."""

    kind: str
    onset: int
    failure: int | None


@dataclass
class PumpHistory:
    """Everything simulated for one pump: readings, ground truth and the failure events."""

    name: str
    timestamps: np.ndarray
    readings: np.ndarray
    lubrication_health: np.ndarray
    hydraulic_health: np.ndarray
    running: np.ndarray
    faults: list[Fault]
    failures: np.ndarray
    #: Battery state of charge in [0, 1] (ground truth behind Bat_V); None in hand-built histories.
    battery_charge: np.ndarray | None = None
    #: Severity in [0, 1] of each fault kind (n, FAULT_KINDS order; float32) at every reading:
    #: the ground truth an evaluation's oracle knows. None in hand-built histories.
    fault_severity: np.ndarray | None = None

    def health_lost_to_faults(self) -> np.ndarray:
        """Points each index (lubrication, hydraulic; n, 2) has lost to faults at every reading:
        100 × the summed severity of LUBRICATION_FAULTS / HYDRAULIC_FAULTS. The rest of the
        gap to 100 is the fresh state and wear, which no reading shows."""
        if self.fault_severity is None:
            raise ValueError(f"{self.name}: no fault severity recorded")
        kinds = [[FAULT_KINDS.index(k) for k in group] for group in INDEX_FAULTS]
        return np.stack(
            [100.0 * self.fault_severity[:, k].sum(axis=1, dtype=np.float64) for k in kinds],
            axis=1,
        )

    def steps_to_failure(self) -> np.ndarray:
        """Steps from each reading to the next failure event strictly after it; inf if none.

        At the failure step itself the failure has happened, so the next one counts; this makes
        `steps_to_failure() <= h` exactly `failure_within(h)`.
        """
        n = len(self.timestamps)
        steps = np.arange(n)
        failures = np.sort(np.asarray(self.failures, dtype=np.int64))
        nxt = np.searchsorted(failures, steps, side="right")
        out = np.full(n, np.inf)
        has_next = nxt < len(failures)
        out[has_next] = failures[nxt[has_next]] - steps[has_next]
        return out

    def failure_within(self, horizon_steps: int) -> np.ndarray:
        """Whether a failure event happens in (t, t + horizon_steps] for each reading t."""
        return self.steps_to_failure() <= horizon_steps


@dataclass
class _Degradation:
    """An active fault: severity = ceiling * min(running hours since onset / hours, 1)**exponent."""

    fault: Fault
    hours: float
    exponent: float
    ceiling: float
    progress_h: float = 0.0

    def severity(self, progress_h: np.ndarray | float) -> np.ndarray:
        return self.ceiling * np.minimum(np.asarray(progress_h) / self.hours, 1.0) ** self.exponent


def _relax(target: np.ndarray, start: float, rate: float) -> np.ndarray:
    """First-order lag y[t] = y[t-1] + rate * (target[t] - y[t-1]) from y[-1] = start."""
    if len(target) == 0:
        return target
    out, _ = lfilter([rate], [1.0, rate - 1.0], target, zi=[(1.0 - rate) * start])
    return out


def _lag_rate(interval_s: float, tau_s: float) -> float:
    return float(1.0 - np.exp(-interval_s / tau_s))


def _ar1_knots(rng: np.random.Generator, count: int, sigma: float, rho: float) -> np.ndarray:
    """A stationary AR(1) series of `count` knots with standard deviation sigma."""
    shocks = rng.standard_normal(count) * sigma * np.sqrt(1.0 - rho * rho)
    shocks[0] = rng.standard_normal() * sigma
    return lfilter([1.0], [1.0, -rho], shocks)


class _PumpSimulation:
    """Generates one pump's history segment by segment; see simulate_pump."""

    def __init__(self, n: int, rng: np.random.Generator, interval_s: int, start_s: int, p: Physics):
        self.n, self.p, self.interval_s = n, p, interval_s
        self.dt_h = interval_s / _HOUR_S
        self.steps_per_hour = _HOUR_S / interval_s
        # Independent streams, so that e.g. a pump with faults switched off keeps the same
        # schedule, weather and sensor noise until its first failure (the tests rely on it).
        pump_rng, self.schedule_rng, self.fault_rng, env_rng, self.noise_rng = rng.spawn(5)
        self._draw_pump(pump_rng)
        self.ambient, self.reservoir = self._environment(env_rng, start_s)
        self.drift = self._drift(env_rng)

        self.running = np.zeros(n, dtype=bool)
        self.rpm = np.zeros(n)
        self.severity = np.zeros((len(FAULT_KINDS), n))
        self.lubrication = np.zeros(n)
        self.hydraulic = np.zeros(n)
        self.wear_h = np.zeros(n)
        self.oil_fill = np.zeros(n)
        self.charge = np.zeros(n)
        self.coolant = np.zeros(n)
        self.faults: list[Fault] = []
        self.failures: list[int] = []

        self.k_warm = _lag_rate(interval_s, p.warmup_tau_minutes * 60)
        self.k_cool = _lag_rate(interval_s, p.cooldown_tau_minutes * 60)
        self.k_charge = _lag_rate(interval_s, p.charge_tau_hours * _HOUR_S)
        self.k_discharge = _lag_rate(interval_s, p.standby_drain_tau_days * _DAY_S)

    # -- draws -------------------------------------------------------------------------------

    def _draw_pump(self, rng: np.random.Generator) -> None:
        """Per-pump constants and the state at step 0 (mid-way through a maintenance interval)."""
        p = self.p
        u = rng.uniform
        self.run_median_h = u(*p.run_hours_median)
        self.stop_median_h = u(*p.stop_hours_median)
        self.thermostat = u(*p.thermostat_c)
        self.oil_pressure = u(*p.oil_pressure_bar)
        self.head = u(*p.pump_head_bar)
        self.static_discharge = u(*p.discharge_static_bar)
        self.regulator = u(*p.regulator_v)
        self.lub_wear_rate = u(*p.lubrication_wear_per_hour)
        self.hyd_wear_rate = u(*p.hydraulic_wear_per_hour)
        self.maintenance_days = u(*p.maintenance_interval_days)
        self.ambient_mean = u(*p.ambient_mean_c)
        self.reservoir_mean = u(*p.reservoir_head_bar)
        multiplier = rng.lognormal(0.0, p.pump_fault_rate_sigma)
        steps_per_day = _DAY_S / self.interval_s
        self.fault_rate = {  # expected onsets per step
            kind: p.fault_rate_per_day.get(kind, 0.0) * multiplier / steps_per_day
            for kind in FAULT_KINDS
        }
        self.running_now = bool(rng.uniform() < p.initial_running_probability)
        self.fresh_lub = u(*p.fresh_health)
        self.fresh_hyd = u(*p.fresh_health)
        self.oil_fill_now = u(*p.oil_level_pct)
        # Step 0 falls somewhere in the first half of a maintenance interval, at a typical duty.
        self.wear_now = u(0.0, 0.5) * self.maintenance_days * 24 * 0.6
        self.charge_now = u(*p.initial_charge)
        self.next_maintenance = int(u(0.2, 1.0) * self.maintenance_days * steps_per_day)
        # Drawn last, so that the draws above do not depend on them.
        self.capacity = u(*p.battery_capacity)
        self.charging_fraction = u(*p.charging_voltage_fraction)
        self.rpm_nominal = u(*p.rpm_setpoint)
        self.charging_floor = u(*p.charging_fault_floor_v)
        self.charge_now *= self.capacity
        self.active: dict[int, _Degradation] = {}
        self.next_onset = {kind: self._draw_onset(0, kind) for kind in range(len(FAULT_KINDS))}

    def _draw_onset(self, now: int, kind: int) -> int:
        rate = self.fault_rate[FAULT_KINDS[kind]]
        if rate <= 0:
            return np.iinfo(np.int64).max
        return now + int(self.fault_rng.exponential(1.0 / rate))

    def _steps(self, hours: float) -> int:
        return max(1, round(hours * self.steps_per_hour))

    def _environment(self, rng: np.random.Generator, start_s: int) -> tuple[np.ndarray, np.ndarray]:
        """Ambient temperature (daily cycle + weather) and reservoir head (with drawdowns)."""
        p, n = self.p, self.n
        seconds = start_s + np.arange(n, dtype=np.float64) * self.interval_s
        hour_of_day = (seconds % _DAY_S) / _HOUR_S
        days = (seconds - start_s) / _DAY_S
        knots = np.arange(int(days[-1]) + 2, dtype=np.float64)
        weather = _ar1_knots(
            rng, len(knots), p.ambient_day_sigma_c, np.exp(-1 / p.ambient_tau_days)
        )
        ambient = (
            self.ambient_mean
            + p.ambient_daily_amplitude_c * np.sin(2 * np.pi * (hour_of_day - 9.0) / 24.0)
            + np.interp(days, knots, weather)
        )
        quarter = np.arange(int(days[-1] * 4) + 2, dtype=np.float64) / 4
        level = _ar1_knots(
            rng, len(quarter), p.reservoir_sigma_bar, np.exp(-0.25 / p.reservoir_tau_days)
        )
        reservoir = self.reservoir_mean + np.interp(days, quarter, level)
        # Drawdowns: the reservoir runs low for hours, so suction falls as in early cavitation.
        for _ in range(rng.poisson(p.drawdowns_per_day * (days[-1] + 1 / 24))):
            begin = rng.uniform(0.0, days[-1] + 1 / 24)
            length = rng.uniform(*p.drawdown_hours) / 24
            depth = rng.uniform(*p.drawdown_depth_bar)
            inside = (days >= begin) & (days < begin + length)
            reservoir[inside] -= depth * np.sin(np.pi * (days[inside] - begin) / length)
        return ambient, np.maximum(reservoir, -0.3)

    def _drift(self, rng: np.random.Generator) -> np.ndarray:
        """Slow sensor drift per channel: AR(1) at daily knots, interpolated."""
        p = self.p
        days = np.arange(self.n, dtype=np.float64) * self.interval_s / _DAY_S
        knots = np.arange(int(days[-1]) + 2, dtype=np.float64)
        rho = np.exp(-1 / p.drift_tau_days)
        return np.stack(
            [np.interp(days, knots, _ar1_knots(rng, len(knots), s, rho)) for s in p.drift_sigma],
            axis=1,
        )

    # -- state -------------------------------------------------------------------------------

    def _health_now(self) -> tuple[np.ndarray, float, float]:
        severity = np.zeros(len(FAULT_KINDS))
        for kind, d in self.active.items():
            severity[kind] = d.severity(d.progress_h)
        return severity, *self._health(severity, self.wear_now)

    def _health(self, severity: np.ndarray, wear_h: np.ndarray | float):
        lub = (
            self.fresh_lub
            - self.lub_wear_rate * wear_h
            - 100.0 * (severity[_OIL] + severity[_HEAT])
        )
        hyd = self.fresh_hyd - self.hyd_wear_rate * wear_h - 100.0 * severity[_CAV]
        return np.clip(lub, 0.0, 100.0), np.clip(hyd, 0.0, 100.0)

    def _activate(self, before: int) -> None:
        """Start every pending fault whose onset is before step `before`."""
        p = self.p
        for kind in range(len(FAULT_KINDS)):
            onset = self.next_onset[kind]
            if kind in self.active or onset >= before:
                continue
            rng = self.fault_rng
            fault = Fault(FAULT_KINDS[kind], int(onset), None)
            plateau = rng.uniform() < p.plateau_probability
            ceiling = rng.uniform(*p.plateau_severity) if plateau else 1.0
            self.active[kind] = _Degradation(
                fault,
                hours=float(rng.lognormal(np.log(p.fault_hours_median), p.fault_hours_sigma)),
                exponent=float(rng.uniform(*p.fault_growth_exponent)),
                ceiling=float(ceiling),
            )
            self.faults.append(fault)
            self.next_onset[kind] = np.iinfo(np.int64).max

    # -- segments ----------------------------------------------------------------------------

    def _stopped(self, a: int, e: int, *, faults_may_start: bool) -> None:
        """Engine off over [a, e): health frozen, battery drains (standby load), coolant cools."""
        if faults_may_start:
            self._activate(e)
        severity, lub, hyd = self._health_now()
        self.severity[:, a:e] = severity[:, None]
        self.lubrication[a:e], self.hydraulic[a:e] = lub, hyd
        self.wear_h[a:e] = self.wear_now
        self.oil_fill[a:e] = self.oil_fill_now
        self.charge[a:e] = _relax(np.zeros(e - a), self.charge_now, self.k_discharge)
        self.coolant[a:e] = _relax(self.ambient[a:e], self.coolant_now, self.k_cool)
        self.charge_now, self.coolant_now = self.charge[e - 1], self.coolant[e - 1]

    def _rpm_profile(self, length: int, *, cooldown: bool) -> np.ndarray:
        """Warm-up idle, load set-points changing every ~2 h, cool-down idle before a stop."""
        p, rng = self.p, self.schedule_rng
        mean = max(1.0, p.load_change_hours_mean * self.steps_per_hour)
        pieces = int(length / mean) + 2
        ends = np.cumsum(np.maximum(1, rng.exponential(mean, pieces).astype(np.int64)))
        ends[-1] = max(ends[-1], length)  # rare: the drawn pieces fall short of the run
        spread = self.rpm_nominal * p.rpm_setpoint_spread
        setpoints = rng.uniform(self.rpm_nominal - spread, self.rpm_nominal + spread, len(ends))
        rpm = setpoints[np.searchsorted(ends, np.arange(length), side="right")]
        idle = rng.uniform(*p.idle_rpm)
        warm = round(rng.uniform(*p.warmup_idle_minutes) * 60 / self.interval_s)
        cool = round(rng.uniform(*p.cooldown_idle_minutes) * 60 / self.interval_s)
        rpm[: min(warm, length)] = idle
        if cooldown and cool and length > warm + cool:
            rpm[-cool:] = idle
        return rpm

    def _run(self, a: int, e: int) -> int | None:
        """Engine on over [a, e); returns the failure step if a health index crosses critical."""
        p, length = self.p, e - a
        # A run cut by the end of the simulation has no cool-down idle: the pump is still working.
        rpm = self._rpm_profile(length, cooldown=e < self.n)
        self._activate(e)
        steps = np.arange(1, length + 1, dtype=np.float64)
        severity = np.zeros((len(FAULT_KINDS), length))
        progress = {}
        for kind, d in self.active.items():
            # Hours of running since the onset, counting the step itself as run.
            since = np.clip(steps - max(d.fault.onset - a, 0), 0.0, None) * self.dt_h
            progress[kind] = d.progress_h + since
            severity[kind] = d.severity(progress[kind])
        wear = self.wear_now + steps * self.dt_h
        lub, hyd = self._health(severity, wear)
        crossed = (lub <= p.critical_health) | (hyd <= p.critical_health)
        j = int(np.argmax(crossed)) if crossed.any() else length
        end = a + j  # the failure step (if any) is not run: the engine trips there
        for kind, d in list(self.active.items()):
            if d.fault.onset >= end:  # would begin after the failure: not started after all
                del self.active[kind]
                self.faults = [f for f in self.faults if f is not d.fault]
                self.next_onset[kind] = d.fault.onset
        last = min(j, length - 1)  # on failure, the state kept is the one that crossed
        for kind, d in self.active.items():
            d.progress_h = float(progress[kind][last])
        self.wear_now = float(wear[last])

        self.running[a:end] = True
        self.rpm[a:end] = rpm[:j]
        self.severity[:, a:end] = severity[:, :j]
        self.lubrication[a:end], self.hydraulic[a:end] = lub[:j], hyd[:j]
        self.wear_h[a:end] = wear[:j]
        self.oil_fill[a:end] = self.oil_fill_now
        s_charge = severity[_CHARGE, :j]
        target = self.capacity * np.clip(1.0 - p.charging_fault_gain * s_charge, 0.0, 1.0)
        self.charge[a:end] = _relax(target, self.charge_now, self.k_charge)
        heat = (
            self.thermostat
            + p.load_heating_c_per_krpm * (rpm[:j] - p.load_heating_reference_rpm) / 1000.0
            + p.ambient_gain * (self.ambient[a:end] - p.ambient_reference_c)
            + p.overheating_max_c * severity[_HEAT, :j]
        )
        self.coolant[a:end] = _relax(heat, self.coolant_now, self.k_warm)
        if j:
            self.charge_now, self.coolant_now = self.charge[end - 1], self.coolant[end - 1]
        if j == length:
            return None
        cause = None
        if lub[j] <= p.critical_health:
            kinds = [_KIND_INDEX[k] for k in LUBRICATION_FAULTS]
        else:
            kinds = [_KIND_INDEX[k] for k in HYDRAULIC_FAULTS]
        candidates = [k for k in kinds if k in self.active]
        if candidates:
            cause = max(candidates, key=lambda k: severity[k, j])
        return self._fail(end, cause)

    def _fail(self, step: int, cause: int | None) -> int:
        self.failures.append(step)
        if cause is not None:
            self.active[cause].fault.failure = step
        return step

    def _service(self, now: int) -> None:
        """Maintenance or repair done at `now`: faults fixed, oil topped up, battery charged."""
        p, u = self.p, self.schedule_rng.uniform
        for kind in list(self.active):
            del self.active[kind]
            self.next_onset[kind] = self._draw_onset(now, kind)
        for kind, onset in self.next_onset.items():
            if onset < now:  # would have begun while the pump was in the workshop
                self.next_onset[kind] = self._draw_onset(now, kind)
        self.wear_now = 0.0
        self.charge_now = self.capacity
        self.oil_fill_now = u(*p.oil_level_pct)
        self.fresh_lub = u(*p.fresh_health)
        self.fresh_hyd = u(*p.fresh_health)
        jitter = 1.0 + u(-p.maintenance_jitter, p.maintenance_jitter)
        self.next_maintenance = now + self._steps(self.maintenance_days * 24 * jitter)

    def _downtime(self, a: int, hours: float) -> int:
        e = min(a + self._steps(hours), self.n)
        self._stopped(a, e, faults_may_start=False)
        if e < self.n:
            self._service(e)
        return e

    def simulate(self) -> None:
        """Walk the history: stops, starts (which may fail), runs, maintenance, repairs."""
        p, rng, n = self.p, self.schedule_rng, self.n
        initially_running = self.running_now
        self.coolant_now = float(self.thermostat if initially_running else self.ambient[0])
        t, running = 0, initially_running
        while t < n:
            if t >= self.next_maintenance:
                t = self._downtime(t, rng.uniform(*p.maintenance_hours))
                running = True
                continue
            if not running:
                hours = rng.lognormal(np.log(self.stop_median_h), p.stop_hours_sigma)
                e = min(t + self._steps(hours), self.next_maintenance, n)
                self._stopped(t, e, faults_may_start=True)
                t, running = e, True
                continue
            if t > 0 or not initially_running:  # a start: cranking takes charge, may not start
                self.charge_now = max(self.charge_now - p.crank_soc_drop, 0.0)
                if self.charge_now < p.critical_soc:
                    charging = _CHARGE if _CHARGE in self.active else None
                    self._fail(t, charging)
                    t = self._downtime(t, self._repair_hours())
                    continue
            hours = rng.lognormal(np.log(self.run_median_h), p.run_hours_sigma)
            e = min(t + self._steps(hours), self.next_maintenance, n)
            failed = self._run(t, e)
            if failed is not None:
                t = self._downtime(failed, self._repair_hours())
                continue
            t, running = e, False

    def _repair_hours(self) -> float:
        p = self.p
        return float(
            self.schedule_rng.lognormal(np.log(p.repair_hours_median), p.repair_hours_sigma)
        )

    # -- sensors -----------------------------------------------------------------------------

    def readings(self) -> np.ndarray:
        """The eight channels from the physical state, with drift, noise, clipping, resolution."""
        p, r = self.p, self.running
        s = self.severity
        z = self.noise_rng.standard_normal((self.n, len(CHANNELS)))
        sigma = np.asarray(p.noise_sigma)
        speed = self.rpm / p.reference_rpm
        lub_wear = self.lub_wear_rate * self.wear_h
        hyd_wear = self.hyd_wear_rate * self.wear_h

        rpm = np.where(
            r,
            self.rpm
            + p.cavitation_rpm_rise * s[_CAV]
            + (sigma[0] + p.cavitation_rpm_jitter * s[_CAV] ** 2) * z[:, 0],
            0.0,
        )
        coolant = self.coolant + sigma[1] * z[:, 1] + self.drift[:, 1]
        level = (
            self.oil_fill
            - p.oil_consumption_pct_per_hour * self.wear_h
            - p.oil_leak_max_drop_pct * s[_OIL]
        )
        starvation = np.clip(
            1.0 - np.maximum(p.oil_starvation_level_pct - level, 0.0) / p.oil_starvation_level_pct,
            0.0,
            1.0,
        )
        viscosity = np.clip(
            1.0 + p.oil_viscosity_per_c * (p.oil_reference_temperature_c - self.coolant),
            *p.oil_viscosity_factor,
        )
        oil_pressure = (
            r
            * self.oil_pressure
            * speed**p.oil_pressure_rpm_exponent
            * viscosity
            * starvation
            * (1.0 - p.oil_wear_pressure_loss * lub_wear)
        )
        oil_pressure = oil_pressure + sigma[2] * z[:, 2] + self.drift[:, 2]
        oil_level = level - r * p.oil_circulation_drop_pct + sigma[3] * z[:, 3] + self.drift[:, 3]

        suction_running = self.reservoir - p.suction_friction_bar * speed**2
        suction = np.where(
            r, (1.0 - s[_CAV]) * suction_running + s[_CAV] * p.cavitation_vacuum_bar, self.reservoir
        )
        discharge = np.where(
            r,
            suction
            + self.head
            * speed**2
            * (1.0 - p.cavitation_head_loss * s[_CAV])
            * (1.0 - p.hydraulic_wear_head_loss * hyd_wear),
            np.maximum(self.reservoir, 0.0) + self.static_discharge,
        )
        discharge = (
            discharge
            + (sigma[4] + r * p.cavitation_noise_bar * s[_CAV] ** 2) * z[:, 4]
            + self.drift[:, 4]
        )
        suction = suction + sigma[5] * z[:, 5] + self.drift[:, 5]

        # Rest (open-circuit) voltage, pulled toward the regulator while the alternator charges.
        rest = p.battery_empty_v + p.battery_span_v * self.charge
        # A failing alternator's output falls from the regulator toward the pump's fault floor
        # (a worn regulator or diode, a broken belt or wire: below the battery, down to 0 V); the
        # battery's terminal voltage is pulled up only while the output is above its rest voltage.
        output = self.regulator - s[_CHARGE] * (self.regulator - self.charging_floor)
        battery = rest + r * self.charging_fraction * np.maximum(output - rest, 0.0)
        alternator = np.where(r, output, battery)
        battery = battery + sigma[6] * z[:, 6] + self.drift[:, 6]
        alternator = alternator + sigma[7] * z[:, 7] + self.drift[:, 7]

        out = np.stack(
            [rpm, coolant, oil_pressure, oil_level, discharge, suction, battery, alternator], axis=1
        )
        for i, channel in enumerate(CHANNELS):
            column = np.clip(out[:, i], channel.minimum, channel.maximum)
            out[:, i] = np.round(column, p.resolution_decimals[i])
        return out


def _utc_seconds(start: datetime | None) -> int:
    start = DEFAULT_START if start is None else start
    if start.tzinfo is None:  # naive datetimes are taken as UTC
        start = start.replace(tzinfo=UTC)
    return int(start.timestamp())


def simulate_pump(
    name: str,
    n_steps: int,
    rng: np.random.Generator,
    *,
    interval_s: int = 60,
    start: datetime | None = None,
    physics: Physics = DEFAULT_PHYSICS,
) -> PumpHistory:
    """Simulate one pump for `n_steps` readings, one every `interval_s` seconds from `start`."""
    if n_steps < 1:
        raise ValueError("n_steps must be at least 1")
    if interval_s < 1:
        raise ValueError("interval_s must be at least 1 second")
    start_s = _utc_seconds(start)
    # Burn-in: the pump has been working for `burn_in_days` before the first reading, so faults,
    # wear and battery charge are already at their long-run mix at step 0 (docs/simulator.md).
    burn = round(physics.burn_in_days * _DAY_S / interval_s)
    sim = _PumpSimulation(n_steps + burn, rng, interval_s, start_s - burn * interval_s, physics)
    sim.simulate()
    readings = sim.readings()[burn:]
    timestamps = np.datetime64(start_s, "s") + np.arange(n_steps) * np.timedelta64(interval_s, "s")
    failures = np.asarray(sim.failures, dtype=np.int64) - burn
    # A fault that began during the burn-in has a negative onset; one that ended in it is gone.
    faults = [
        Fault(f.kind, f.onset - burn, None if f.failure is None else f.failure - burn)
        for f in sim.faults
        if f.failure is None or f.failure >= burn
    ]
    return PumpHistory(
        name=name,
        timestamps=timestamps,
        readings=readings,
        lubrication_health=sim.lubrication[burn:],
        hydraulic_health=sim.hydraulic[burn:],
        running=sim.running[burn:],
        faults=faults,
        failures=failures[failures >= 0],
        battery_charge=sim.charge[burn:],
        fault_severity=np.ascontiguousarray(sim.severity[:, burn:].T, dtype=np.float32),
    )


def pump_name(index: int) -> str:
    """The fleet's name for pump number `index` (1-based), e.g. MOTOBOMBA-007."""
    return f"MOTOBOMBA-{index:03d}"


def simulate_fleet(
    n_pumps: int,
    n_steps: int,
    *,
    seed: int = 0,
    interval_s: int = 60,
    start: datetime | None = None,
    first_index: int = 1,
    physics: Physics = DEFAULT_PHYSICS,
) -> list[PumpHistory]:
    """Simulate pumps first_index … first_index + n_pumps - 1.

    Pump i draws from SeedSequence(seed, spawn_key=(i,)), the i-th child of the seed, so its history
    depends only on (seed, i, n_steps, interval_s, start, physics), not on which other pumps are
    simulated with it.
    """
    fleet = []
    for index in range(first_index, first_index + n_pumps):
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(index,))))
        fleet.append(
            simulate_pump(
                pump_name(index),
                n_steps,
                rng,
                interval_s=interval_s,
                start=start,
                physics=physics,
            )
        )
    return fleet


def iter_rows(
    fleet: Iterable[PumpHistory],
) -> Iterator[tuple[str, datetime, tuple[float, ...]]]:
    """(machine, timezone-aware UTC timestamp, 8 channel values) for every reading of the fleet."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for pump in fleet:
        seconds = pump.timestamps.astype("datetime64[s]").astype(np.int64).tolist()
        for s, values in zip(seconds, pump.readings.tolist(), strict=True):
            yield pump.name, epoch + timedelta(seconds=s), tuple(values)


def write_csv(fleet: Iterable[PumpHistory], path: str | os.PathLike[str]) -> int:
    """Write `machine,timestamp,<channels>` (timestamps ISO 8601 UTC with Z); returns data rows."""
    rows = 0
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(("machine", "timestamp", *CHANNEL_NAMES))
        for pump in fleet:
            stamps = np.char.add(np.datetime_as_string(pump.timestamps, unit="s"), "Z").tolist()
            columns = pump.readings.T.tolist()
            writer.writerows(zip([pump.name] * len(stamps), stamps, *columns, strict=True))
            rows += len(stamps)
    return rows
