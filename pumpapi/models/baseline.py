"""A pump's baseline: what its own at-load readings of the week before a window looked like.

An hour of readings cannot tell a fault's +4 °C of coolant from a thermostat that opens 4 °C
later, nor a leak's lower oil level from a lower fill: pumps differ more than early faults
move them. The pump's own week can. At a window starting at time t, over the pump's readings
in [t − 7 days, t) with the engine at load (Eng_RPM ≥ AT_LOAD_RPM), the baseline is, of four
load-normalised quantities (`LoadNormalisation`):

- the 90th percentile of the head, (Recalque − Succao) / (rpm / 1800)^a;
- the 90th percentile of the oil pressure, Oil_P / (rpm / 1800)^b;
- the 10th percentile of the coolant, Cool_T − c · (rpm − 1500);
- the 90th percentile of the oil level, Oil_L;

each the pump at its best that week (faults lower head, oil pressure and level, raise the
coolant). The gru's baseline network reads the window's mean of each quantity minus the
baseline and the baseline itself (`BaselineScale.block`). The exponents a, b and the slope c are
fitted at training on the training pumps' readings (`LoadNormalisation.fit`) and recorded in
the version: a real fleet's pumps need not follow the simulator's laws.

The same definition is computed in numpy for training and evaluation (`at_window_starts`, from
a pump's readings at one a minute) and in SQL for serving (pumpapi.db.baselines, `BASELINES_SQL`).
docs/window-models.md ("A pump's own week") says what it gains and costs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from pumpapi.channels import CHANNEL_NAMES

#: Days of a pump's history before a window that make its baseline.
DAYS = 7
#: Readings per day in the fleets training and evaluation simulate (one a minute).
READINGS_PER_DAY = 1440
#: Engine speed from which a reading is at load (idle is 750–850 rpm).
AT_LOAD_RPM = 1000.0
#: Fewest at-load readings in the week for a baseline (five hours at one a minute); a pump
#: with fewer is answered without one.
MIN_AT_LOAD_READINGS = 300
#: Training and evaluation take every SUBSAMPLE-th reading of the week (the percentiles move by
#: far less than a sensor's noise); serving takes them all.
SUBSAMPLE = 10
#: The quantities, and the percentile of each that is the baseline (a pump at its best).
QUANTITIES = ("head", "oil_pressure", "coolant", "oil_level")
PERCENTILES = (0.9, 0.9, 0.1, 0.9)
#: Reference speeds of the normalisation (any would do: they only set the units).
REFERENCE_RPM = 1800.0
COOLANT_REFERENCE_RPM = 1500.0

_C = {name: i for i, name in enumerate(CHANNEL_NAMES)}


@dataclass(frozen=True)
class LoadNormalisation:
    """How the head, the oil pressure and the coolant move with engine speed at load."""

    head_exponent: float
    oil_pressure_exponent: float
    coolant_slope: float  # °C per rpm

    @classmethod
    def fit(cls, readings: np.ndarray) -> LoadNormalisation:
        """Least squares over at-load readings (n, 8): log head and log oil pressure against
        log(rpm / 1800), coolant against rpm."""
        readings = np.asarray(readings, dtype=np.float64)
        rpm = readings[:, _C["Eng_RPM"]]
        head = readings[:, _C["Recalque"]] - readings[:, _C["Succao"]]
        oil = readings[:, _C["Oil_P"]]
        load = (rpm >= AT_LOAD_RPM) & (head > 0) & (oil > 0)
        speed = np.log(rpm[load] / REFERENCE_RPM)
        return cls(
            head_exponent=round(float(np.polyfit(speed, np.log(head[load]), 1)[0]), 4),
            oil_pressure_exponent=round(float(np.polyfit(speed, np.log(oil[load]), 1)[0]), 4),
            coolant_slope=round(
                float(np.polyfit(rpm[load], readings[load, _C["Cool_T"]], 1)[0]), 5
            ),
        )

    def quantities(self, readings: np.ndarray) -> np.ndarray:
        """The four quantities (…, 4) of readings (…, 8); NaN where the engine is not at load."""
        readings = np.asarray(readings, dtype=np.float64)
        rpm = readings[..., _C["Eng_RPM"]]
        speed = np.maximum(rpm, 1.0) / REFERENCE_RPM
        values = np.stack(
            [
                (readings[..., _C["Recalque"]] - readings[..., _C["Succao"]])
                / speed**self.head_exponent,
                readings[..., _C["Oil_P"]] / speed**self.oil_pressure_exponent,
                readings[..., _C["Cool_T"]] - self.coolant_slope * (rpm - COOLANT_REFERENCE_RPM),
                readings[..., _C["Oil_L"]],
            ],
            axis=-1,
        )
        return np.where((rpm >= AT_LOAD_RPM)[..., np.newaxis], values, np.nan)

    def window_means(self, windows: np.ndarray) -> np.ndarray:
        """Each window's (n, 60, 8) mean of the quantities over its at-load readings (n, 4);
        NaN for a window without one."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a window never at load
            return np.nanmean(self.quantities(windows), axis=1)

    def at_window_starts(self, readings: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """The baseline (len(starts), 4) of one pump's readings (one a minute, oldest first)
        for windows starting at each of `starts` (reading indices), from every SUBSAMPLE-th
        reading of the DAYS before; NaN rows where it had too few at-load readings."""
        sampled = self.quantities(np.asarray(readings)[::SUBSAMPLE])
        span = DAYS * READINGS_PER_DAY // SUBSAMPLE
        padded = np.concatenate([np.full((span, len(QUANTITIES)), np.nan), sampled])
        # Window k of the view covers sampled[k - span, k): the week before reading k·SUBSAMPLE.
        weeks = np.lib.stride_tricks.sliding_window_view(padded, span, axis=0)
        stops = np.minimum(-(-np.asarray(starts) // SUBSAMPLE), len(sampled))
        chosen = _quantiles(weeks[stops], np.array(PERCENTILES))  # of (n, 4, span)
        enough = np.isfinite(weeks[stops, 0, :]).sum(axis=1) >= MIN_AT_LOAD_READINGS // SUBSAMPLE
        return np.where(enough[:, np.newaxis], chosen, np.nan)

    def to_json(self) -> dict[str, float]:
        return {
            "head_exponent": self.head_exponent,
            "oil_pressure_exponent": self.oil_pressure_exponent,
            "coolant_slope": self.coolant_slope,
        }


def _quantiles(values: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Quantile `q[j]` of `values[i, j, :]` over its finite entries, interpolated linearly as
    numpy's default and PostgreSQL's percentile_cont: np.nanquantile, without its slow loop
    over rows (a fifth of a second per pump's windows against a few milliseconds)."""
    ordered = np.sort(values, axis=2)  # NaN last
    count = np.isfinite(values).sum(axis=2)
    position = q * np.maximum(count - 1, 0)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, np.maximum(count - 1, 0))
    below = np.take_along_axis(ordered, low[..., np.newaxis], axis=2)[..., 0]
    above = np.take_along_axis(ordered, high[..., np.newaxis], axis=2)[..., 0]
    return np.where(count > 0, below + (position - low) * (above - below), np.nan)


@dataclass(frozen=True)
class BaselineScale:
    """The training baselines' mean and standard deviation per quantity: the network reads the
    baseline and the window's departure from it in these units."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, baselines: np.ndarray) -> BaselineScale:
        known = baselines[np.isfinite(baselines).all(axis=1)]
        if not len(known):  # no pump with a week: no baseline network is trained either
            return cls((0.0,) * len(QUANTITIES), (1.0,) * len(QUANTITIES))
        return cls(
            tuple(round(float(v), 5) for v in known.mean(axis=0)),
            tuple(round(float(max(v, 1e-6)), 5) for v in known.std(axis=0)),
        )

    def block(self, means: np.ndarray, baselines: np.ndarray) -> np.ndarray:
        """The network's second input (n, 8): the windows' means minus their baselines, then the
        baselines, both in training standard deviations."""
        mean, std = np.array(self.mean), np.array(self.std)
        return np.concatenate([(means - baselines) / std, (baselines - mean) / std], axis=1).astype(
            np.float32
        )


#: Columns of the network's second input (`BaselineScale.block`).
BLOCK_WIDTH = 2 * len(QUANTITIES)


@dataclass(frozen=True)
class PumpBaseline:
    """What a version with a baseline network records (metadata `pump_baseline`)."""

    normalisation: LoadNormalisation
    scale: BaselineScale

    @classmethod
    def from_metadata(cls, found: dict[str, Any]) -> PumpBaseline:
        return cls(LoadNormalisation(**found["normalisation"]), BaselineScale(**found["scale"]))

    def describe(self) -> dict[str, Any]:
        """The metadata (and /model/gru/info) record of the definition."""
        return {
            "days": DAYS,
            "at_load_rpm": AT_LOAD_RPM,
            "min_at_load_readings": MIN_AT_LOAD_READINGS,
            "quantities": list(QUANTITIES),
            "percentiles": list(PERCENTILES),
            "normalisation": self.normalisation.to_json(),
            "scale": {"mean": list(self.scale.mean), "std": list(self.scale.std)},
        }

    def rows(self, windows: np.ndarray, baselines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Which windows (n, 60, 8) the baseline network answers — those with a baseline
        (n, 4; NaN rows without) and an at-load reading — and its second input for them
        (`BaselineScale.block`): at training and when serving."""
        means = self.normalisation.window_means(windows)
        usable = np.isfinite(baselines).all(axis=1) & np.isfinite(means).all(axis=1)
        return usable, self.scale.block(means[usable], baselines[usable])
