"""Window statistics of a pump's recent readings, for the failure-risk window model.

`/machine/predict` answers from the pump's history, not from one reading: the faults build up
over hours (an oil leak lowers the level, overheating raises the coolant above what the load
explains, cavitation pulls the suction down and makes it noisy, a failing alternator lets the
battery sag), so the model reads statistics of the last `WINDOW` readings (48 h at one reading a
minute) of all eight channels: the latest values, the last hour against the whole window while
running, the spread of the last hour, trends, and speed-normalised pressures. One function,
`features`, computes them for training, evaluation and serving, on any number of window ends of
one pump's readings at once (cumulative sums: a fleet's windows cost seconds, one window
a fraction of a millisecond).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter1d, minimum_filter1d

from pumpapi.channels import CHANNEL_NAMES

#: Readings a window holds (48 h at one a minute), and the recent part compared with it.
WINDOW = 2880
RECENT = 60
#: Fewer readings than this and the window model does not answer (the reading model does).
MIN_READINGS = RECENT
#: A reading is of a running engine above this speed (idle is 750-850 rpm).
RUNNING_RPM = 300.0
#: Speed that pressures are normalised to, and the exponents of oil pressure and pump head.
REFERENCE_RPM = 1800.0

_RPM, _COOL, _OILP, _OILL, _RECALQUE, _SUCCAO, _BAT, _CHAR = range(len(CHANNEL_NAMES))


def _columns() -> tuple[tuple[str, str | None], ...]:
    """(statistic, the channel it describes) of every column `features` returns, in order."""
    per_channel = (
        "last",
        "recent_running_mean",
        "window_running_mean",
        "recent_minus_window",
        "six_running_hours_mean",
        "recent_minus_six_hours",
        "recent_running_std",
        "window_slope_per_day",
        "running_slope_per_running_hour",
    )
    columns: list[tuple[str, str | None]] = [
        (f"{statistic}_{c}", c) for statistic in per_channel for c in CHANNEL_NAMES
    ]
    columns += [
        ("recent_running_min_Succao", "Succao"),
        ("recent_running_max_Cool_T", "Cool_T"),
        ("window_max_Oil_L", "Oil_L"),
        ("last_minus_window_max_Oil_L", "Oil_L"),
        ("recent_Oil_P_at_reference_rpm", "Oil_P"),
        ("window_Oil_P_at_reference_rpm", "Oil_P"),
        ("recent_Recalque_at_reference_rpm", "Recalque"),
        ("window_Recalque_at_reference_rpm", "Recalque"),
        ("recent_Char_V_minus_Bat_V", "Char_V"),
        ("window_min_Bat_V", "Bat_V"),
        ("last_hour_running_fraction", "Eng_RPM"),
        ("readings_since_running", "Eng_RPM"),
        ("window_running_fraction", "Eng_RPM"),
        ("readings", None),
    ]
    return tuple(columns)


COLUMNS = _columns()
FEATURE_NAMES: tuple[str, ...] = tuple(name for name, _ in COLUMNS)
#: The channel each column describes (None: the window itself).
FEATURE_CHANNELS: tuple[str | None, ...] = tuple(channel for _, channel in COLUMNS)


def _windowed(cumulative: np.ndarray, ends: np.ndarray, length: int) -> np.ndarray:
    """Sums over (end - length, end] from a cumulative sum with a leading zero row."""
    starts = np.maximum(ends + 1 - length, 0)
    return cumulative[ends + 1] - cumulative[starts]


def _leading_zero_cumsum(values: np.ndarray) -> np.ndarray:
    out = np.zeros((len(values) + 1, *values.shape[1:]), dtype=np.float64)
    np.cumsum(values, axis=0, out=out[1:])
    return out


def features(readings: np.ndarray, ends: np.ndarray | None = None) -> np.ndarray:
    """The window statistics (columns `FEATURE_NAMES`) of the windows of `readings` (n, 8 in
    CHANNEL_NAMES order, oldest first, one a minute) ending at each index of `ends` (default:
    the last reading). A window holds the `WINDOW` readings up to its end, fewer at the start of
    a history. Statistics of running readings are NaN where there are none (the model reads
    missing values as such)."""
    x = np.asarray(readings, dtype=np.float64)
    n = len(x)
    ends = np.array([n - 1]) if ends is None else np.asarray(ends, dtype=np.int64)
    running = (x[:, _RPM] > RUNNING_RPM).astype(np.float64)
    xr = x * running[:, None]
    c_run = _leading_zero_cumsum(running)
    c_xr = _leading_zero_cumsum(xr)
    c_xr2 = _leading_zero_cumsum(xr * x)
    steps = np.arange(n, dtype=np.float64)
    c_x = _leading_zero_cumsum(x)
    c_t = _leading_zero_cumsum(steps)
    c_t2 = _leading_zero_cumsum(steps * steps)
    c_tx = _leading_zero_cumsum(x * steps[:, None])

    with np.errstate(invalid="ignore", divide="ignore"):
        count = np.minimum(ends + 1, WINDOW).astype(np.float64)
        recent_count = np.minimum(ends + 1, RECENT).astype(np.float64)
        run_window = _windowed(c_run, ends, WINDOW)
        # The last running hour: the RECENT latest running readings of the window (a stopped
        # pump shows its faults only while it ran).
        ran = c_run[ends + 1]

        def first_of_last_running(k: int) -> np.ndarray:
            first = np.searchsorted(c_run, np.maximum(ran - k, 0), side="right") - 1
            return np.maximum(first, np.maximum(ends + 1 - WINDOW, 0))

        first = first_of_last_running(RECENT)
        run_recent = ran - c_run[first]

        def recent(cumulative: np.ndarray) -> np.ndarray:
            return cumulative[ends + 1] - cumulative[first]

        first6 = first_of_last_running(6 * RECENT)
        six_hours_mean = (c_xr[ends + 1] - c_xr[first6]) / (ran - c_run[first6])[:, None]

        recent_mean = recent(c_xr) / run_recent[:, None]
        window_mean = _windowed(c_xr, ends, WINDOW) / run_window[:, None]
        recent_var = recent(c_xr2) / run_recent[:, None] - recent_mean**2
        last_ran = first_running_gap(running, ends)
        recent_std = np.sqrt(np.maximum(recent_var, 0.0))
        # Least-squares slope of every reading over the window, per day.
        st, st2 = _windowed(c_t, ends, WINDOW), _windowed(c_t2, ends, WINDOW)
        sx, stx = _windowed(c_x, ends, WINDOW), _windowed(c_tx, ends, WINDOW)
        denominator = count * st2 - st * st
        slope = (count[:, None] * stx - st[:, None] * sx) / denominator[:, None] * 1440.0
        slope[denominator <= 0] = 0.0

        # Least-squares slope of the running readings against running time (the clock faults
        # grow with), per running hour.
        u = np.cumsum(running) * running
        ru, ru2 = (
            _windowed(_leading_zero_cumsum(u), ends, WINDOW),
            _windowed(_leading_zero_cumsum(u * u), ends, WINDOW),
        )
        rx = _windowed(c_xr, ends, WINDOW)
        rux = _windowed(_leading_zero_cumsum(xr * u[:, None]), ends, WINDOW)
        rden = run_window * ru2 - ru * ru
        running_slope = (run_window[:, None] * rux - ru[:, None] * rx) / rden[:, None] * 60.0
        running_slope[rden <= 0] = np.nan

        succao = np.where(running > 0, x[:, _SUCCAO], np.inf)
        cool = np.where(running > 0, x[:, _COOL], -np.inf)
        recent_min_succao = _trailing(minimum_filter1d, succao, RECENT)[ends]
        recent_max_cool = _trailing(maximum_filter1d, cool, RECENT)[ends]
        window_max_oil_level = _trailing(maximum_filter1d, x[:, _OILL], WINDOW)[ends]
        window_min_battery = _trailing(minimum_filter1d, x[:, _BAT], WINDOW)[ends]
        recent_min_succao[~np.isfinite(recent_min_succao)] = np.nan
        recent_max_cool[~np.isfinite(recent_max_cool)] = np.nan

        def at_reference(channel: int, exponent: float, means: np.ndarray) -> np.ndarray:
            return means[:, channel] / (means[:, _RPM] / REFERENCE_RPM) ** exponent

        last = x[ends]
        columns = [
            last,
            recent_mean,
            window_mean,
            recent_mean - window_mean,
            six_hours_mean,
            recent_mean - six_hours_mean,
            recent_std,
            slope,
            running_slope,
            recent_min_succao[:, None],
            recent_max_cool[:, None],
            window_max_oil_level[:, None],
            (last[:, _OILL] - window_max_oil_level)[:, None],
            at_reference(_OILP, 1.3, recent_mean)[:, None],
            at_reference(_OILP, 1.3, window_mean)[:, None],
            at_reference(_RECALQUE, 2.0, recent_mean)[:, None],
            at_reference(_RECALQUE, 2.0, window_mean)[:, None],
            (recent_mean[:, _CHAR] - recent_mean[:, _BAT])[:, None],
            window_min_battery[:, None],
            (_windowed(c_run, ends, RECENT) / recent_count)[:, None],
            last_ran[:, None],
            (run_window / count)[:, None],
            count[:, None],
        ]
    return np.hstack(columns).astype(np.float32)


def _trailing(filter1d, values: np.ndarray, length: int) -> np.ndarray:
    """The filter over each value and the `length - 1` before it (scipy centres its windows:
    shifted so that each output sees only the past)."""
    if len(values) == 0:
        return values
    size = min(length, len(values))
    origin = (size - 1) // 2  # the window [i - size + 1, i]
    return filter1d(values, size=size, origin=origin, mode="nearest")


def scored_ends(readings: int, stride: int) -> np.ndarray:
    """The window ends training and evaluation score in a history of `readings`: every
    `stride`-th reading from the first with MIN_READINGS before it (what the service answers)."""
    return np.arange(MIN_READINGS - 1, readings, stride)


def first_running_gap(running: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Readings from the last running reading up to each end (0 when running at the end; the
    window's length when it never ran)."""
    index = np.where(running > 0, np.arange(len(running)), -1)
    latest = np.maximum.accumulate(index)[ends]
    return np.minimum(np.where(latest >= 0, ends - latest, WINDOW), WINDOW).astype(np.float64)


#: Each statistic in words (the first prefix that matches), for the reasons of an answer.
STATISTIC_WORDS: tuple[tuple[str, str], ...] = (
    ("last_minus_window_max", "última leitura abaixo do máximo da janela"),
    ("last_hour_running_fraction", "fração da última hora em funcionamento"),
    ("last_", "última leitura"),
    ("recent_running_mean", "média da última hora em funcionamento"),
    ("recent_running_std", "oscilação (desvio padrão) na última hora em funcionamento"),
    ("recent_running_min", "mínimo da última hora em funcionamento"),
    ("recent_running_max", "máximo da última hora em funcionamento"),
    ("recent_minus_window", "última hora em funcionamento menos a média da janela"),
    ("recent_minus_six_hours", "última hora menos as últimas 6 h em funcionamento"),
    ("six_running_hours_mean", "média das últimas 6 h em funcionamento"),
    ("window_running_mean", "média em funcionamento nas últimas 48 h"),
    ("window_slope_per_day", "tendência nas últimas 48 h, por dia"),
    ("running_slope_per_running_hour", "tendência em funcionamento, por hora de funcionamento"),
    ("recent_Char_V_minus_Bat_V", "alternador menos bateria na última hora em funcionamento"),
    ("recent_", "na última hora em funcionamento, à rotação de referência"),
    ("window_", "nas últimas 48 h"),
    ("readings_since_running", "leituras desde a última em funcionamento"),
)

#: The window model's artifact in an xgboost version (XGBoost UBJSON, beside model.ubj).
ARTIFACT = "window.ubj"


class WindowRiskModel:
    """The booster reading `features` of a pump's recent window, with its own Platt
    calibration and decision threshold (stored in the version's metadata, `window_model`)."""

    def __init__(self, booster, meta: dict, threads: int = 1):
        names = tuple(meta["feature_names"])
        if names != FEATURE_NAMES:
            raise ValueError(
                "the stored window model reads other window statistics than this service "
                "computes; train the xgboost family again"
            )
        booster.set_param({"nthread": threads})
        self.booster = booster
        self.length = int(meta["window"])
        self.calibration = (float(meta["calibration"]["a"]), float(meta["calibration"]["b"]))
        self.threshold = float(meta["threshold"])

    def margins(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(
            self.booster.inplace_predict(rows, predict_type="margin"), dtype=np.float64
        ).reshape(-1)

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        """Calibrated P(failure within the horizon) of each row of window statistics."""
        a, b = self.calibration
        return (1.0 / (1.0 + np.exp(-np.clip(a * self.margins(rows) + b, -50, 50)))).astype(
            np.float32
        )

    def explain(self, row: np.ndarray) -> dict:
        """TreeSHAP of one window's statistics, calibrated (scaled by the Platt slope, like the
        reading model's) and summed per channel: `contributions` by channel, `reasons` the
        channels raising the risk most, each named by its strongest statistic."""
        import xgboost

        from pumpapi.models.attribution import channel_words

        a, b = self.calibration
        contributions = self.booster.predict(
            # One thread: an OpenMP pool started in a forked worker after the master used one
            # can hang (gunicorn preloads the booster in the master).
            xgboost.DMatrix(
                np.asarray(row, dtype=np.float32).reshape(1, -1),
                feature_names=list(FEATURE_NAMES),
                nthread=1,
            ),
            pred_contribs=True,
        )[0].astype(np.float64)
        per_feature, bias = contributions[:-1] * a, float(contributions[-1] * a + b)
        by_channel: dict[str, float] = {}
        strongest: dict[str, int] = {}
        for index, channel in enumerate(FEATURE_CHANNELS):
            key = channel or "window"
            by_channel[key] = by_channel.get(key, 0.0) + float(per_feature[index])
            if key not in strongest or per_feature[index] > per_feature[strongest[key]]:
                strongest[key] = index
        reasons = []
        for key, total in sorted(by_channel.items(), key=lambda item: -item[1])[:3]:
            if total <= 0 or key == "window":
                continue
            index = strongest[key]
            value = float(row[index])
            noun, unit, decimals = channel_words(key)
            statistic = FEATURE_NAMES[index]
            phrase = next(
                (words for prefix, words in STATISTIC_WORDS if statistic.startswith(prefix)),
                statistic,
            )
            shown = f"{value:.{decimals + 1}f} {unit}" if np.isfinite(value) else "sem dado"
            reasons.append(
                {
                    "feature": statistic,
                    "channel": key,
                    "value": round(value, 4) if np.isfinite(value) else None,
                    "contribution": round(total, 4),
                    "text": f"{noun}, {phrase}: {shown}",
                }
            )
        return {
            "method": "treeshap (window statistics, summed per channel)",
            "units": "log-odds",
            "bias": round(bias, 6),
            "margin": round(bias + float(per_feature.sum()), 6),
            "contributions": {key: round(value, 6) for key, value in by_channel.items()},
            "reasons": reasons,
        }
