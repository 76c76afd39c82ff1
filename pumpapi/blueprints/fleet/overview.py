"""What the fleet pages show, computed by the API's own store and models (no second copy).

`fleet_overview` answers the fleet table: each pump's latest reading, its failure risk with the
decision and top reason (xgboost, TreeSHAP), both health indices with their bands (gru), and a
risk trend over the last day: the hourly means of what the prediction log recorded about the
pump where it holds some, else computed on demand from the readings at hourly points (a bounded
budget: TREND_POINTS lookups per pump, one batch prediction for the fleet).

`pump_detail` answers a pump's page, `model_panels` the models page. A part that cannot be
computed (PostgreSQL down, a family not loaded) is reported as such, never raised, so the rest
of the page renders.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from pumpapi.channels import BY_NAME, CHANNEL_NAMES
from pumpapi.db import TelemetryStore, Window
from pumpapi.db.events import read_events
from pumpapi.db.history import answers_about, risk_by_hour
from pumpapi.errors import PumpAPIError
from pumpapi.models.attribution import health_explanation
from pumpapi.models.gru import (
    INDICES,
    RUNNING_FROM_RPM,
    WINDOW,
    HealthIndexModel,
    answered_windows,
    last_run_ends,
    running,
    status_band,
)
from pumpapi.models.lstm import MAX_HORIZON, SeriesForecaster
from pumpapi.models.registry import ModelRegistry
from pumpapi.models.xgboost import FailureRiskModel

log = logging.getLogger(__name__)

#: A pump whose latest reading is older than this stands out (readings come once a minute).
STALE_AFTER = dt.timedelta(minutes=15)
#: The trend of the fleet table: one point an hour over the last day.
TREND_POINTS = 24
TREND_STEP = dt.timedelta(hours=1)
#: Windows a pump's page offers, in hours, and its default.
WINDOW_HOURS = (1, 6, 24, 72, 168)
DEFAULT_HOURS = 24
#: Most points a telemetry chart draws (bucket means beyond), and risk/health history points.
CHART_POINTS = 600
HISTORY_POINTS = 48
#: The channel forecast by default on a pump's page.
DEFAULT_CHANNEL = "Oil_P"
FAMILIES = ("xgboost", "gru", "lstm")

T = TypeVar("T")


@dataclass
class Outcome:
    """What could not be computed, by part ("database", "xgboost", ...), in words."""

    problems: dict[str, str] = field(default_factory=dict)

    def attempt(self, part: str, work: Callable[[], T]) -> T | None:
        """`work()`, or None with the reason noted under `part` when the API would answer an
        error (database unavailable, model not ready, ...)."""
        try:
            return work()
        except PumpAPIError as exc:
            self.problems.setdefault(part, exc.message)
            return None


def _model(registry: ModelRegistry, family: str) -> Any:
    return registry.get(family)


@dataclass
class PumpRow:
    machine: str
    latest_timestamp: dt.datetime | None
    age_seconds: float | None
    stale: bool
    risk: float | None = None
    at_risk: bool | None = None
    decision: str | None = None
    reason: str | None = None
    health: dict[str, float] = field(default_factory=dict)
    bands: dict[str, str] = field(default_factory=dict)
    trend: list[tuple[dt.datetime, float]] = field(default_factory=list)
    #: `log` (the prediction log) or `readings` (computed on demand).
    trend_source: str | None = None

    @property
    def worst_band(self) -> str | None:
        order = ("ALERTA", "ATENÇÃO", "OK")
        found = [b for b in order if b in self.bands.values()]
        return found[0] if found else None


@dataclass
class FleetOverview:
    rows: list[PumpRow]
    outcome: Outcome
    threshold: float | None
    models: dict[str, dict[str, Any]]


def served_models(registry: ModelRegistry) -> dict[str, dict[str, Any]]:
    """Per family: whether it serves, the version, its aliases, or why not (no database)."""
    found = {}
    for family, status in registry.status().items():
        found[family] = {
            "ready": status.ready,
            "version": status.version,
            "error": status.error,
            "versions": registry.versions(family) if status.ready else [],
        }
    return found


def fleet_overview(
    store: TelemetryStore,
    registry: ModelRegistry,
    now: dt.datetime,
    hourly_cache: HourlyReadings | None = None,
) -> FleetOverview:
    """The fleet table, riskiest first (see the module)."""
    outcome = Outcome()
    models = served_models(registry)
    machines = outcome.attempt("database", store.machines) or []
    rows = []
    for machine in machines:
        latest = machine["latest_timestamp"]
        age = (now - latest).total_seconds() if latest is not None else None
        rows.append(
            PumpRow(
                machine=machine["machine"],
                latest_timestamp=latest,
                age_seconds=age,
                stale=latest is None or now - latest > STALE_AFTER,
            )
        )
    by_name = {row.machine: row for row in rows}
    readings = {m["machine"]: m["latest_reading"] for m in machines if m["latest_reading"]}
    risk: FailureRiskModel | None = outcome.attempt("xgboost", lambda: _model(registry, "xgboost"))
    if risk is not None and readings:
        names = sorted(readings)
        latest_rows = risk.rows_of_readings(
            np.array([[readings[n][c] for c in CHANNEL_NAMES] for n in names])
        )
        for name, result in zip(names, risk.results(latest_rows, explain=True), strict=True):
            row = by_name[name]
            row.risk, row.decision, row.at_risk = (
                result["probability"],
                result["prediction"],
                result["at_risk"],
            )
            reasons = result["explanation"]["reasons"]
            row.reason = reasons[0]["text"] if reasons else None
        _trends(store, risk, rows, machines, now, outcome, hourly_cache or HourlyReadings())
    health: HealthIndexModel | None = outcome.attempt("gru", lambda: _model(registry, "gru"))
    if health is not None and readings:
        latest = outcome.attempt("database", lambda: store.latest_windows(WINDOW)) or {}
        # As /machine/gru/predict answers (a stopped pump from its last running hour); a
        # failed read of those leaves the stopped pumps their latest hour.
        answered = answered_windows(
            latest,
            lambda stopped: (
                outcome.attempt(
                    "database", lambda: store.last_run_windows(WINDOW, RUNNING_FROM_RPM, stopped)
                )
                or {}
            ),
        )
        windows = {name: window for name, (window, _) in answered.items()}
        starts = {name: window.timestamps[0] for name, window in windows.items()}
        baselines = _baselines(store, health, starts, outcome)
        for name, window in windows.items():
            assessment = health.assess(window.values, baselines.get(name))
            by_name[name].health = assessment.indices
            by_name[name].bands = assessment.status
    rows.sort(key=lambda r: (-(r.risk if r.risk is not None else -1.0), r.machine))
    return FleetOverview(rows, outcome, risk.threshold if risk else None, models)


def _baselines(
    store: TelemetryStore,
    health: HealthIndexModel,
    starts: dict[str, dt.datetime],
    outcome: Outcome | None = None,
) -> dict[str, np.ndarray | None]:
    """The pumps' baselines for windows starting at `starts` (pumpapi.db.baselines), as
    /machine/gru/predict reads them, for a version with a baseline network; {} without one, or
    (with an `outcome`) while the database fails: then the window alone answers."""
    if health.baseline is None or not starts:
        return {}
    read = lambda: store.pump_baselines(health.baseline.normalisation, starts)  # noqa: E731
    return (outcome.attempt("database", read) or {}) if outcome is not None else read()


def _trends(
    store: TelemetryStore,
    model: FailureRiskModel,
    rows: list[PumpRow],
    machines: list[dict[str, Any]],
    now: dt.datetime,
    outcome: Outcome,
    hourly_cache: HourlyReadings,
) -> None:
    """Each row's risk over the last day: logged where the log holds two hours or more of it,
    else the model on the pump's reading at each past hour and its latest one."""
    since = now - TREND_POINTS * TREND_STEP
    logged = outcome.attempt("database", lambda: store.run(lambda c: risk_by_hour(c, since)))
    missing = []
    for row in rows:
        points = (logged or {}).get(row.machine, [])
        if len(points) >= 2:
            row.trend, row.trend_source = points, "log"
        elif row.latest_timestamp is not None:
            missing.append(row)
    if not missing:
        return
    hourly = hourly_cache.readings(store, now, outcome) if hourly_cache else {}
    latest = {m["machine"]: m["latest_reading"] for m in machines if m["latest_reading"]}
    wanted = []
    for row in missing:
        times, values = hourly.get(row.machine, ([], []))
        # The pump's latest reading is the trend's newest point (it is already at hand).
        recent = row.latest_timestamp > now - TREND_POINTS * TREND_STEP
        if row.machine in latest and recent and row.latest_timestamp not in times:
            times = [*times, row.latest_timestamp]
            values = [*values, [latest[row.machine][c] for c in CHANNEL_NAMES]]
        if times:
            wanted.append((row, times, values))
    if not wanted:
        return
    stacked = np.array([v for _, _, values in wanted for v in values], dtype=np.float64)
    probabilities = model.predict(model.rows_of_readings(stacked)).tolist()
    start = 0
    for row, times, values in wanted:
        row.trend = list(zip(times, probabilities[start : start + len(values)], strict=True))
        row.trend_source = "readings"
        start += len(values)


class HourlyReadings:
    """Each pump's reading at the top of each past hour of the last day, remembered by the
    worker: past hours do not change, so their 23 × pumps primary-key lookups are made again
    only when an hour enters the day or its entry is older than REFRESH (a reading stored
    late then shows). One per process (app.extensions), filled on demand."""

    REFRESH = dt.timedelta(minutes=10)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: hour -> (when read, {pump: (reading time, 8 values)})
        self._hours: dict[dt.datetime, tuple[dt.datetime, dict[str, tuple[dt.datetime, Any]]]] = {}

    def readings(
        self, store: TelemetryStore, now: dt.datetime, outcome: Outcome
    ) -> dict[str, tuple[list[dt.datetime], list[Any]]]:
        """By pump, the times and values of its readings at the past hours of the day."""
        top = now.replace(minute=0, second=0, microsecond=0)
        hours = [top - k * TREND_STEP for k in range(TREND_POINTS - 2, -1, -1)]
        with self._lock:
            self._hours = {h: e for h, e in self._hours.items() if h in hours}
            stale = [
                h for h in hours if h not in self._hours or now - self._hours[h][0] > self.REFRESH
            ]
        if stale:
            found = outcome.attempt("database", lambda: store.readings_at(stale, TREND_STEP))
            if found is None:
                return {}
            fresh: dict[dt.datetime, dict[str, tuple[dt.datetime, Any]]] = {h: {} for h in stale}
            for name, (times, values) in found.items():
                for moment, value in zip(times, values, strict=True):
                    hour = moment.replace(minute=0, second=0, microsecond=0)
                    fresh.setdefault(hour if hour == moment else hour + TREND_STEP, {})[name] = (
                        moment,
                        value,
                    )
            with self._lock:
                for hour in stale:
                    self._hours[hour] = (now, fresh.get(hour, {}))
        by_pump: dict[str, tuple[list[dt.datetime], list[Any]]] = {}
        with self._lock:
            for hour in hours:
                for name, (moment, value) in self._hours.get(hour, (now, {}))[1].items():
                    times, values = by_pump.setdefault(name, ([], []))
                    times.append(moment)
                    values.append(value)
        return by_pump


def sparkline(points: list[tuple[dt.datetime, float]], now: dt.datetime) -> str:
    """SVG polyline points of a risk trend on a 100 × 20 box: x the last day, y the risk."""
    if not points:
        return ""
    span = (TREND_POINTS * TREND_STEP).total_seconds()
    start = now - TREND_POINTS * TREND_STEP
    coordinates = []
    for moment, value in points:
        x = min(100.0, max(0.0, (moment - start).total_seconds() / span * 100.0))
        y = 20.0 - min(1.0, max(0.0, value)) * 20.0
        coordinates.append(f"{x:.1f},{y:.1f}")
    if len(coordinates) == 1:
        coordinates.append(coordinates[0])
    return " ".join(coordinates)


# -- a pump's page ---------------------------------------------------------------------------


def _epoch(moments: list[dt.datetime]) -> list[float]:
    return [m.timestamp() for m in moments]


def _downsample(window: Window, points: int) -> tuple[list[float], np.ndarray]:
    """Bucket means of a window's readings (at most `points` buckets), and their times."""
    n = len(window)
    if n <= points:
        return _epoch(window.timestamps), window.values
    edges = np.linspace(0, n, points + 1).astype(int)
    times = np.array(_epoch(window.timestamps))
    buckets = list(zip(edges[:-1], edges[1:], strict=True))
    means = np.array([window.values[a:b].mean(axis=0) for a, b in buckets])
    centres = [float(times[a:b].mean()) for a, b in buckets]
    return centres, means


def _series(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else round(float(v), 4) for v in values]


def pump_detail(
    store: TelemetryStore,
    registry: ModelRegistry,
    machine: str,
    hours: int,
    channel: str,
) -> dict[str, Any]:
    """A pump's page: telemetry over `hours` up to its latest reading, risk and health over
    it (computed at HISTORY_POINTS points, and as logged), the LSTM forecast of `channel`
    with the band it would make the pump cross and when, its events, and why now.
    Raises MachineNotFound for an unknown pump, DatabaseUnavailable while PostgreSQL is down."""
    outcome = Outcome()
    latest = store.latest_reading(machine)  # 404 unknown pump, 503 database down
    until = latest.timestamp + dt.timedelta(microseconds=1)
    since = until - dt.timedelta(hours=hours)
    window = store.readings_between(machine, since - dt.timedelta(minutes=WINDOW), until)
    shown = np.array([t >= since for t in window.timestamps], dtype=bool)
    kept = [t for t, s in zip(window.timestamps, shown, strict=True) if s]
    visible = Window(machine, kept, window.values[shown])
    times, values = _downsample(visible, CHART_POINTS)
    detail: dict[str, Any] = {
        "machine": machine,
        "latest": latest,
        "hours": hours,
        "channel": channel,
        "since": since,
        "until": until,
        "telemetry": {
            "t": times,
            **{c: _series(values[:, i]) for i, c in enumerate(CHANNEL_NAMES)},
        },
    }
    # Risk and health at evenly spaced points of the window, from the readings up to each.
    offset = len(window) - len(visible)
    points = (
        np.unique(np.linspace(offset, len(window) - 1, HISTORY_POINTS).astype(int))
        if len(visible)
        else np.array([], dtype=int)
    )
    history: dict[str, Any] = {"t": [window.timestamps[i].timestamp() for i in points]}
    risk: FailureRiskModel | None = outcome.attempt("xgboost", lambda: _model(registry, "xgboost"))
    if risk is not None and len(points):
        history["risk"] = _series(risk.predict(risk.rows_of_readings(window.values[points])))
        detail["threshold"] = risk.threshold
        (latest,) = risk.results(risk.rows_of_readings(window.values[-1:]), explain=True)
        detail["risk"] = {"assessment": latest, "reasons": latest["explanation"]["reasons"]}
    health: HealthIndexModel | None = outcome.attempt("gru", lambda: _model(registry, "gru"))
    if health is not None and len(points):
        # As /machine/gru/predict answers: at a point where the pump stands, from its last
        # running reading before (among those read).
        ends = last_run_ends(running(window.values), points, timesteps=1)
        # Every point with the pump's baseline of the latest one: a week's percentile moves
        # little within the hours shown, and the last point is /machine/gru/predict's answer.
        firsts = [max(0, e - WINDOW + 1) for e in ends]
        start = window.timestamps[firsts[-1]]
        baseline = _baselines(store, health, {machine: start}, outcome).get(machine)
        assessed = [
            health.assess(window.values[f : e + 1], baseline)
            for f, e in zip(firsts, ends, strict=True)
        ]
        for index in INDICES:
            history[index] = [a.indices[index] for a in assessed]
        explanation = health_explanation(health, window.values[firsts[-1] : ends[-1] + 1])
        detail["health"] = {
            "assessment": assessed[-1],
            "reasons": {i: explanation[i]["reasons"] for i in INDICES},
        }
    detail["history"] = history
    logged = outcome.attempt(
        "database", lambda: store.run(lambda c: answers_about(c, machine, since, until))
    )
    detail["logged"] = {
        name: {"t": _epoch([p[0] for p in found]), "v": [p[1] for p in found]}
        for name, found in (logged or {}).items()
    }
    forecaster: SeriesForecaster | None = outcome.attempt("lstm", lambda: _model(registry, "lstm"))
    if forecaster is not None:
        detail["forecast"] = outcome.attempt(
            "lstm", lambda: _forecast(store, forecaster, risk, health, machine, channel)
        )
    events = outcome.attempt(
        "database",
        lambda: store.run(
            lambda c: read_events(c, machine, since, until + dt.timedelta(hours=1), limit=500)
        ),
    )
    detail["events"] = events or []
    detail["outcome"] = outcome
    return detail


def _forecast(
    store: TelemetryStore,
    forecaster: SeriesForecaster,
    risk: FailureRiskModel | None,
    health: HealthIndexModel | None,
    machine: str,
    channel: str,
) -> dict[str, Any]:
    """The next MAX_HORIZON values of `channel` (LSTM), and the first band the pump would cross
    if the channel went that way while the others held their latest values: the failure-risk
    decision (xgboost) or a health index's band (gru)."""
    window = store.latest_window(machine, WINDOW)
    column = CHANNEL_NAMES.index(channel)
    result = forecaster.forecast(window.values[:, column], MAX_HORIZON)
    gaps = np.diff(_epoch(window.timestamps))
    interval = float(np.median(gaps)) if len(gaps) else 60.0
    last = window.timestamps[-1]
    times = [(last + dt.timedelta(seconds=interval * (s + 1))) for s in range(MAX_HORIZON)]
    future = np.repeat(window.values[-1:], MAX_HORIZON, axis=0)
    future[:, column] = result.forecast
    crossing = None
    if risk is not None:
        now_at_risk = risk.classify(risk.predict(risk.rows_of_readings(window.values[-1:])))[0]
        ahead = risk.classify(risk.predict(risk.rows_of_readings(future)))
        for step, assessment in enumerate(ahead):
            if assessment.at_risk and not now_at_risk.at_risk:
                crossing = {
                    "what": "failure risk",
                    "from": now_at_risk.prediction,
                    "to": assessment.prediction,
                    "at": times[step],
                    "minutes": round((times[step] - last).total_seconds() / 60),
                }
                break
    if health is not None:
        baseline = _baselines(store, health, {machine: window.timestamps[0]}).get(machine)
        current = health.assess(window.values, baseline).status
        combined = np.concatenate([window.values, future])
        for step in range(MAX_HORIZON):
            if crossing is not None and times[step] >= crossing["at"]:
                break
            ahead = health.assess(combined[: len(window) + step + 1], baseline).status
            worse = [i for i in INDICES if _rank(ahead[i]) > _rank(current[i])]
            if worse:
                crossing = {
                    "what": f"saúde: {worse[0]}",
                    "from": current[worse[0]],
                    "to": ahead[worse[0]],
                    "at": times[step],
                    "minutes": round((times[step] - last).total_seconds() / 60),
                }
                break
    return {
        "channel": channel,
        "unit": BY_NAME[channel].unit,
        "t": _epoch(times),
        "values": [round(float(v), 4) for v in result.forecast],
        "recent_t": _epoch(window.timestamps),
        "recent": _series(window.values[:, column]),
        "version": forecaster.version.version,
        "crossing": crossing,
    }


def _rank(band: str) -> int:
    return {"OK": 0, "ATENÇÃO": 1, "ALERTA": 2}[band]


def band_of(value: float | None) -> str | None:
    """The SPEC band of a health index (None for none)."""
    return None if value is None else status_band(value)
