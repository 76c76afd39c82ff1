"""LSTM family: the next value (or next h values) of any telemetry series, at any scale."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pumpapi.errors import InvalidInput
from pumpapi.models.litert import KerasFamilyModel
from pumpapi.models.support import TrainedRanges

#: Values the model reads: the last 60 of the series (one hour of one-a-minute telemetry).
WINDOW = 60
#: Longest forecast answered: each step feeds the previous prediction back in, so errors grow.
MAX_HORIZON = 60
#: A flat window has no spread to scale by; this floor (relative to its level) keeps the
#: scaled values finite and the forecast at the last value.
RELATIVE_SCALE_FLOOR = 1e-6
#: The unit of a window is its step-to-step noise, but at least this share of its standard
#: deviation (a quantised series whose steps are mostly 0 would otherwise blow up).
SPREAD_SHARE_FLOOR = 0.05
#: Inputs are clipped to this many units from the last value: a start or stop in the window is
#: a jump of hundreds of noise units, which says "a jump happened" at any size.
INPUT_CLIP = 30.0
#: Training targets are clipped to this many units: a pump starting or stopping is a jump no
#: history announces, and must not dominate the loss.
TARGET_CLIP = 10.0
#: The name of the trained range of any posted series (every channel's values pooled): the
#: request field the series is sent in.
SERIES_INPUT = "data"
#: A series whose last FLAT_TAIL values are identical has stopped moving (a stopped engine
#: reads exactly 0 rpm): its forecast is that value. Noisy sensors repeat a value
#: FLAT_TAIL times in a row almost never, and after a stop in the window, the window's spread
#: (the model's unit) is that of the stop, so any output but zero misses a value that is exact.
FLAT_TAIL = 3
NORMALISATION = (
    "each window of 60 values is taken relative to its last value and divided by its "
    "step-to-step noise (robust, floored by 5 % of its standard deviation; after its last jump "
    "of more than 8 units, a start or stop, the noise of the values after it), the values "
    "before that jump held at the first value after it, clipped to ±30; the model predicts the "
    "next step's change in those units"
)


#: How windows are scaled, recorded in each version's metadata (`normalisation_method`):
#: "noise-after-jump" (this module's), "noise-since-jump" (versions trained before the unit was
#: measured after the jump), "noise" (before the jump hold) or "spread" (before that: the
#: window's standard deviation, inputs unclipped), which a version without the key was
#: trained with.
NORMALISATION_METHOD = "noise-after-jump"
#: Versions trained before the unit was measured after the window's last jump.
JUMP_HOLD_METHOD = "noise-since-jump"
#: Versions trained before the jump hold read whole windows in noise units.
NOISE_METHOD = "noise"
LEGACY_METHOD = "spread"
METHODS = (NORMALISATION_METHOD, JUMP_HOLD_METHOD, NOISE_METHOD, LEGACY_METHOD)
#: Methods that hold the values before a window's last jump (since_last_jump).
HOLDING_METHODS = (NORMALISATION_METHOD, JUMP_HOLD_METHOD)
#: A step larger than this many noise units is a start or a stop: what came before it says
#: nothing of the next value (idling before a start is not where the engine is heading).
JUMP_UNITS = 8.0
#: With at least this many values after a window's last jump, the unit is their noise.
MIN_VALUES_AFTER_JUMP = 6


def last_jump(windows: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Per window, the index of the last value before its last jump (a step of more than
    JUMP_UNITS × `scale`), or -1 if it has none."""
    jumped = np.abs(np.diff(windows, axis=-1)) > JUMP_UNITS * scale[:, np.newaxis]
    width = windows.shape[-1]
    return np.where(jumped.any(axis=-1), width - 2 - np.argmax(jumped[:, ::-1], axis=-1), -1)


def since_last_jump(windows: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Each window with the values before its last jump held at the first value after it: the
    model then reads a pump that just started or stopped as a series at its new level, and
    follows it from there instead of pulling the forecast back towards the old one."""
    return _held(windows, last_jump(windows, scale))


def _held(windows: np.ndarray, last: np.ndarray) -> np.ndarray:
    """`windows` with the values up to index `last` (per window) held at the one after it."""
    first_after = windows[np.arange(len(windows)), last + 1]
    held = np.arange(windows.shape[-1])[np.newaxis, :] <= last[:, np.newaxis]
    return np.where(held, first_after[:, np.newaxis], windows)


def _noise(windows: np.ndarray, floor: np.ndarray, kept: np.ndarray | None = None) -> np.ndarray:
    """1.4826 × the median absolute first difference / √2, floored by SPREAD_SHARE_FLOOR of
    the standard deviation and by `floor`; of the values `kept` (a mask ending each row, as
    after a jump) when given. Not np.nanmedian: on windows this small it is ten times slower
    than the sort, on the path of every forecast."""
    steps = np.abs(np.diff(windows, axis=-1))
    if kept is None:
        median, spread = np.median(steps, axis=-1), windows.std(axis=-1)
    else:
        # A step is kept when the value it starts from is (the mask is a row's tail).
        counted = kept[:, :-1].sum(axis=-1)
        ordered = np.sort(np.where(kept[:, :-1], steps, np.inf), axis=-1)
        rows = np.arange(len(windows))
        median = (ordered[rows, (counted - 1) // 2] + ordered[rows, counted // 2]) / 2.0
        n = kept.sum(axis=-1)
        mean = np.where(kept, windows, 0.0).sum(axis=-1) / n
        deviations = np.where(kept, windows - mean[:, np.newaxis], 0.0)
        spread = np.sqrt((deviations**2).sum(axis=-1) / n)
    noise = 1.4826 * median / np.sqrt(2.0)
    return np.maximum(np.maximum(noise, SPREAD_SHARE_FLOOR * spread), floor)


def _units(windows: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Each window's unit (window_spread) and, for the methods that hold the values before a
    window's last jump, the index of the last value before it (judged by the whole window's
    noise; -1 without a jump), None for the others: both from one pass over the steps."""
    floor = RELATIVE_SCALE_FLOOR * (1.0 + np.abs(windows.mean(axis=-1)))
    if method == LEGACY_METHOD:
        return np.maximum(windows.std(axis=-1), floor), None
    scale = _noise(windows, floor)
    if method not in HOLDING_METHODS:
        return scale, None
    last = last_jump(windows, scale)
    if method == NORMALISATION_METHOD:
        after = np.arange(windows.shape[-1])[np.newaxis, :] > last[:, np.newaxis]
        measured = after.sum(axis=-1) >= MIN_VALUES_AFTER_JUMP
        if measured.any():
            scale[measured] = _noise(windows[measured], floor[measured], after[measured])
    return scale, last


def window_spread(windows: np.ndarray, method: str = NORMALISATION_METHOD) -> np.ndarray:
    """The unit the model works in, per window (rows of `windows`): its step-to-step noise
    (1.4826 × the median absolute first difference, / √2 for one value's noise), floored by a
    share of its standard deviation and by RELATIVE_SCALE_FLOOR of its level; since
    "noise-after-jump", the noise of the values after the window's last jump when there are
    MIN_VALUES_AFTER_JUMP of them.

    Not the window's standard deviation (the "spread" method of older versions): with a start
    or stop in the window, that is the jump's size, and the noise the forecast must smooth
    shrinks to nothing in it. Nor, after a start, the whole window's noise: its steps are
    mostly the stopped engine's exact zeros, and the unit fell to 5 % of the jump's spread,
    some forty times the running engine's noise."""
    return _units(np.asarray(windows, dtype=np.float64), method)[0]


def normalise(
    windows: np.ndarray, method: str = NORMALISATION_METHOD
) -> tuple[np.ndarray, np.ndarray]:
    """Model inputs (batch, WINDOW, 1) float32 for windows (batch, WINDOW), and each one's scale.

    Scale-free by construction: a series of pressures around 4 bar and one of prices in the
    hundreds are the same shape to the model once taken relative to their last value and
    divided by their noise. Centring on the last value (rather than the mean) makes "no
    change", the persistence forecast, the model's zero.
    """
    windows = np.asarray(windows, dtype=np.float64)
    scale, last = _units(windows, method)
    if last is not None:
        windows = _held(windows, last)
    inputs = (windows - windows[:, -1:]) / scale[:, np.newaxis]
    if method != LEGACY_METHOD:
        inputs = np.clip(inputs, -INPUT_CLIP, INPUT_CLIP)
    return inputs[..., np.newaxis].astype(np.float32), scale


def targets(windows: np.ndarray, following: np.ndarray) -> np.ndarray:
    """Training targets: the change from each window's last value to the value that followed,
    in the window's units, clipped to ±TARGET_CLIP."""
    windows = np.asarray(windows, dtype=np.float64)
    scale = window_spread(windows)
    change = (np.asarray(following, dtype=np.float64) - windows[:, -1]) / scale
    return np.clip(change, -TARGET_CLIP, TARGET_CLIP).astype(np.float32)


def denormalise(windows: np.ndarray, outputs: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Next values in the series' units from the model's outputs (batch, 1)."""
    return windows[:, -1] + np.asarray(outputs, dtype=np.float64).reshape(-1) * scale


@dataclass(frozen=True)
class Forecast:
    """The next value of a series and, when a horizon was asked, the next `horizon` values."""

    prediction: float
    forecast: list[float] | None
    used_values: int
    #: The values read lie outside the training data (pumpapi.models.support); empty if not.
    warnings: list[dict[str, Any]] = field(default_factory=list)


class SeriesForecaster(KerasFamilyModel):
    """Runs the LSTM (LiteRT by default) on the latest 60 values of a series."""

    family = "lstm"
    timesteps = WINDOW
    n_features = 1
    n_outputs = 1

    trained: TrainedRanges
    method: str

    def load(self) -> None:
        self.trained = TrainedRanges.from_metadata(self.metadata)
        self.method = self.metadata.get("normalisation_method", LEGACY_METHOD)
        if self.method not in METHODS:
            raise ValueError(f"unknown normalisation_method {self.method!r}")
        super().load()

    def next_values(self, windows: np.ndarray) -> np.ndarray:
        """The value following each window (batch, WINDOW), in the windows' own units."""
        windows = np.asarray(windows, dtype=np.float64)
        inputs, scale = normalise(windows, self.method)
        following = denormalise(windows, self.runner(inputs), scale)
        flat = (windows[:, -FLAT_TAIL:] == windows[:, -1:]).all(axis=1)
        following[flat] = windows[flat, -1]
        return following

    def forecast(
        self, series: np.ndarray, horizon: int | None = None, channel: str | None = None
    ) -> Forecast:
        """The next value of `series` (oldest first, ≥ 60 values); with `horizon`, the next
        `horizon` values, each predicted from a window that includes the previous predictions.

        The 60 values read are checked against the training data's range: of `channel` when the
        series is a known telemetry channel (warned under its name), else of every channel's
        values pooled (warned as `data`)."""
        series = np.asarray(series, dtype=np.float64).reshape(-1)
        if series.size < WINDOW:
            raise InvalidInput(
                f"Input data must have at least {WINDOW} values; got {series.size}.",
                errors={"data": [f"Input data must have at least {WINDOW} values"]},
            )
        if not np.all(np.isfinite(series)):
            raise InvalidInput("Every value of the series must be a finite number.")
        if horizon is not None and not 1 <= horizon <= MAX_HORIZON:
            raise InvalidInput(
                f"horizon must be between 1 and {MAX_HORIZON}.",
                errors={"horizon": [f"Must be between 1 and {MAX_HORIZON}."]},
            )
        window = series[-WINDOW:].copy()
        steps = horizon or 1
        values: list[float] = []
        for _ in range(steps):
            following = float(self.next_values(window[np.newaxis])[0])
            values.append(following)
            window = np.append(window[1:], following)
        if not np.all(np.isfinite(values)):
            # Values near the float limits overflow once normalised: refuse rather than answer
            # null (found by the schemathesis run, tests/integration/test_fuzz.py).
            raise InvalidInput(
                "The series is too large to forecast: its values overflow; send values in the "
                "signal's own units.",
                errors={"data": ["Values too large to forecast."]},
            )
        read = series[-WINDOW:]
        if channel is not None and self.trained.range_of(channel) is not None:
            flagged = self.trained.check(channel, read)
        else:
            flagged = self.trained.check(SERIES_INPUT, read)
        return Forecast(
            prediction=values[0],
            forecast=values if horizon is not None else None,
            used_values=WINDOW,
            warnings=[flagged] if flagged else [],
        )

    def _horizons(self) -> dict[str, Any]:
        return self.metadata.get("metrics", {}).get("horizons") or {}

    def input_info(self) -> dict[str, Any]:
        return {
            "min_values": WINDOW,
            "max_horizon": MAX_HORIZON,
            "normalisation": NORMALISATION,
            "trained_ranges": self.trained.describe(),
            # Beyond this many steps ahead the forecast is no better than repeating the last
            # value (None: a version trained before it was measured).
            "skill_horizon": self._horizons().get("skill_horizon"),
            "skill_horizon_per_channel": self._horizons().get("skill_horizon_per_channel"),
        }
