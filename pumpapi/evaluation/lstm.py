"""Evaluation of the LSTM forecaster on a fleet it never saw, against persistence per horizon.

Windows of 60 values are cut from every channel of every pump of an independent fleet; the
served forecast (`SeriesForecaster.next_values`, fed its own predictions for later steps) is
compared with what followed, and with persistence (every later value = the last one).

MASE is the model's MAE over persistence's on the same windows; overall, the mean of the
channels' MASE (no channel weighs more for its unit). Intervals: 95 % percentile bootstrap over
pumps (a pump brings all its windows of every channel; pumpapi.evaluation.stats). The contract
is pumpapi.evaluation's. Windows "with a start or stop" are those
whose pump changed between running and stopped within the window or at the forecast step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pumpapi.channels import CHANNEL_NAMES
from pumpapi.evaluation import stats
from pumpapi.models.lstm import WINDOW

#: Minutes between consecutive windows of a pump's channel at h = 1, and for the horizons.
STRIDE = 30
HORIZON_STRIDE = 240
HORIZONS: tuple[int, ...] = (1, 2, 5, 10, 20, 30, 60)
RESAMPLES = stats.DEFAULT_RESAMPLES
MASE_GOAL = 0.8


@dataclass
class SeriesWindows:
    """Windows (n, 60), the values that followed (n, H), channel (n,), pump (n,), and whether
    the pump started or stopped within the window or the H steps after it (n,), and whether it
    did so between the window's last value and the next (n,): a jump no window announces."""

    windows: np.ndarray
    following: np.ndarray
    channel: np.ndarray
    pump: np.ndarray
    switching: np.ndarray
    at_step: np.ndarray

    def __len__(self) -> int:
        return len(self.windows)


def series_windows(fleet: Sequence[Any], stride: int, horizon: int = 1) -> SeriesWindows:
    """Every `stride`-th window of every channel of every pump, with the `horizon` values after."""
    windows, following, channel, pump, switching, at_step = [], [], [], [], [], []
    for number, history in enumerate(fleet):
        readings = np.asarray(history.readings, dtype=np.float64)
        running = np.asarray(history.running, dtype=bool)
        starts = np.arange(0, len(readings) - WINDOW - horizon + 1, stride)
        index = starts[:, np.newaxis] + np.arange(WINDOW + horizon)
        state = running[index]
        switched = state.any(axis=1) & ~state.all(axis=1)
        jumps_next = state[:, WINDOW - 1] != state[:, WINDOW]
        for c in range(readings.shape[1]):
            block = readings[index, c]
            windows.append(block[:, :WINDOW])
            following.append(block[:, WINDOW:])
            channel.append(np.full(len(starts), c))
            pump.append(np.full(len(starts), number))
            switching.append(switched)
            at_step.append(jumps_next)
    return SeriesWindows(
        np.concatenate(windows),
        np.concatenate(following),
        np.concatenate(channel),
        np.concatenate(pump),
        np.concatenate(switching),
        np.concatenate(at_step),
    )


def recursive_forecast(
    next_values: Callable[[np.ndarray], np.ndarray], windows: np.ndarray, horizon: int
) -> np.ndarray:
    """(n, horizon) forecasts, each step from a window holding the previous predictions (as the
    service answers `horizon`)."""
    window = np.asarray(windows, dtype=np.float64).copy()
    out = np.empty((len(window), horizon))
    for step in range(horizon):
        out[:, step] = np.concatenate(
            [next_values(window[i : i + 8192]) for i in range(0, len(window), 8192)]
        )
        window = np.concatenate([window[:, 1:], out[:, step : step + 1]], axis=1)
    return out


def mase_with_interval(
    model_error: np.ndarray,
    naive_error: np.ndarray,
    channel: np.ndarray,
    pump: np.ndarray,
    resamples: int = RESAMPLES,
    seed: int = 0,
    n_pumps: int | None = None,
) -> dict[str, Any]:
    """MASE per channel and overall (mean over channels), with bootstrap intervals over pumps
    ({"value", "ci"}, pumpapi.evaluation.stats)."""
    pumps = n_pumps or int(pump.max()) + 1
    statistics: dict[str, stats.Statistic] = {}
    ratios = []
    for c, name in enumerate(CHANNEL_NAMES):
        mask = channel == c
        num = stats.per_pump_sums(model_error[mask], pump[mask], pumps)
        den = stats.per_pump_sums(naive_error[mask], pump[mask], pumps)
        if den.sum() > 0:
            statistics[name] = stats.ratio(num, den)
            ratios.append(statistics[name])
    statistics["overall"] = lambda w: float(np.nanmean([r(w) for r in ratios]))
    result = stats.bootstrap(statistics, pumps, resamples=resamples, seed=seed)
    overall = result.pop("overall")
    empty = {"value": None, "ci": [None, None]}
    return {"overall": overall, "per_channel": {n: result.get(n, empty) for n in CHANNEL_NAMES}}


def skill_horizons(per_horizon: dict[str, Any]) -> dict[str, int]:
    """Per channel, the longest horizon up to which its MASE interval lies wholly below 1
    (every shorter horizon's too); 0 if not even one step ahead."""
    out = {}
    for name in CHANNEL_NAMES:
        skill = 0
        for h in sorted(per_horizon, key=int):
            high = per_horizon[h]["per_channel"][name]["ci"][1]
            if high is None or high >= 1.0:
                break
            skill = int(h)
        out[name] = skill
    return out


def evaluate(
    model: Any,
    *,
    fleets: Callable[[str], Sequence[Any]],
    scenarios: list[str],
    resamples: int,
    seed: int,
    stride: int = STRIDE,
    horizon_stride: int = HORIZON_STRIDE,
    horizons: Sequence[int] = HORIZONS,
) -> dict[str, Any]:
    """Per scenario (pumpapi.evaluation's contract): MASE at h = 1 (all windows, those with a
    start or stop, steady ones), MASE per horizon, and `skill_horizon`: the last horizon whose
    interval lies wholly below 1, every shorter one's too (0: none)."""
    results: dict[str, Any] = {}
    goals: list[dict[str, Any]] = []
    plots: dict[str, Any] = {}
    for scenario in scenarios:
        fleet = fleets(scenario)
        n_pumps = len(fleet)
        one = series_windows(fleet, stride, 1)
        predicted = recursive_forecast(model.next_values, one.windows, 1)[:, 0]
        model_error = np.abs(predicted - one.following[:, 0])
        naive_error = np.abs(one.windows[:, -1] - one.following[:, 0])

        everything, switching, steady, in_window, at_step = (
            mase_with_interval(
                model_error[mask],
                naive_error[mask],
                one.channel[mask],
                one.pump[mask],
                resamples,
                seed,
                n_pumps,
            )
            for mask in (
                np.ones(len(one), dtype=bool),
                one.switching,
                ~one.switching,
                one.switching & ~one.at_step,
                one.at_step,
            )
        )

        longest = max(horizons)
        far = series_windows(fleet, horizon_stride, longest)
        paths = recursive_forecast(model.next_values, far.windows, longest)
        per_horizon: dict[str, Any] = {}
        skill_horizon, skilled = 0, True
        for h in sorted(horizons):
            result = mase_with_interval(
                np.abs(paths[:, h - 1] - far.following[:, h - 1]),
                np.abs(far.windows[:, -1] - far.following[:, h - 1]),
                far.channel,
                far.pump,
                resamples,
                seed,
                n_pumps,
            )
            per_horizon[str(h)] = result
            high = result["overall"]["ci"][1]
            skilled = skilled and high is not None and high < 1.0
            skill_horizon = h if skilled else skill_horizon
        per_channel_skill = skill_horizons(per_horizon)
        results[scenario] = {
            "rows": len(one),
            "pumps": n_pumps,
            "windows_with_start_or_stop": int(one.switching.sum()),
            "windows_with_start_or_stop_at_forecast_step": int(one.at_step.sum()),
            "horizon_windows": len(far),
            "metrics": {
                "mase": everything["overall"],
                "mase_per_channel": everything["per_channel"],
                "mase_with_start_or_stop": switching["overall"],
                "mase_per_channel_with_start_or_stop": switching["per_channel"],
                "mase_start_or_stop_in_window": in_window["overall"],
                "mase_per_channel_start_or_stop_in_window": in_window["per_channel"],
                "mase_start_or_stop_at_forecast_step": at_step["overall"],
                "mase_per_channel_start_or_stop_at_forecast_step": at_step["per_channel"],
                "mase_steady": steady["overall"],
                "mase_per_channel_steady": steady["per_channel"],
                "mase_per_horizon": {h: r["overall"] for h, r in per_horizon.items()},
                "mase_per_horizon_per_channel": {
                    h: r["per_channel"] for h, r in per_horizon.items()
                },
                "skill_horizon": skill_horizon,
                "skill_horizon_per_channel": per_channel_skill,
            },
            "baselines": {"persistence": {"mase": {"value": 1.0, "ci": [1.0, 1.0]}}},
        }
        if scenario == scenarios[0]:
            plots["skill_vs_horizon"] = {
                h: {"mase": r["overall"]["value"], "ci": r["overall"]["ci"]}
                for h, r in per_horizon.items()
            }
        worst = max(
            (v for v in everything["per_channel"].values() if v["value"] is not None),
            key=lambda v: v["value"],
        )
        worst_switching = max(
            (v for v in switching["per_channel"].values() if v["value"] is not None),
            key=lambda v: v["value"],
        )
        goals += [
            stats.goal(
                f"MASE < {MASE_GOAL} overall",
                scenario,
                everything["overall"]["value"] < MASE_GOAL,
                mase=everything["overall"],
            ),
            stats.goal(
                "MASE < 1 on every channel",
                scenario,
                worst["value"] < 1.0,
                per_channel=everything["per_channel"],
            ),
            stats.goal(
                "MASE < 1 on every channel, windows with a start or stop",
                scenario,
                worst_switching["value"] < 1.0,
                per_channel=switching["per_channel"],
            ),
            stats.goal(
                "skill per horizon reported, with the horizon beyond which there is none",
                scenario,
                True,
                skill_horizon=skill_horizon,
            ),
        ]
    return {"scenarios": results, "goals": goals, "plots": plots}


def card(result: dict[str, Any], plot_dir, link_prefix: str) -> tuple[str, list]:
    """The lstm section of the model card: MASE per scenario, per channel (all windows, those
    with a start or stop, steady ones) and per horizon, with the skill-vs-horizon plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pumpapi.evaluation.card import fmt

    scenarios = result["scenarios"]
    first = next(iter(scenarios))
    lines = [
        "### Per scenario (MASE against persistence: below 1 beats it)",
        "",
        "| scenario | MASE | windows with a start or stop | steady windows | skill up to h = |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, s in scenarios.items():
        m = s["metrics"]
        lines.append(
            f"| {name} | {fmt(m['mase'])} | {fmt(m['mase_with_start_or_stop'])} | "
            f"{fmt(m['mase_steady'])} | {m['skill_horizon']} |"
        )
    m = scenarios[first]["metrics"]
    lines += [
        "",
        f"### Per channel ({first}, h = 1)",
        "",
        "Windows with a start or stop split into those where it happened within the window and "
        "those where it happens between the window's last value and the one forecast (no "
        "history announces it: persistence and the model both miss it, by about as much).",
        "",
        "| channel | all windows | with a start or stop | … within the window | "
        "… at the forecast step | steady | skill up to h = |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for channel, value in m["mase_per_channel"].items():
        lines.append(
            f"| {channel} | {fmt(value)} | "
            f"{fmt(m['mase_per_channel_with_start_or_stop'].get(channel))} | "
            f"{fmt(m['mase_per_channel_start_or_stop_in_window'].get(channel))} | "
            f"{fmt(m['mase_per_channel_start_or_stop_at_forecast_step'].get(channel))} | "
            f"{fmt(m['mase_per_channel_steady'].get(channel))} | "
            f"{m['skill_horizon_per_channel'].get(channel, '–')} |"
        )
    lines += [
        "",
        f"### Per horizon ({first}, recursive forecasts)",
        "",
        "| h (readings ahead) | MASE |",
        "| --- | --- |",
    ]
    horizon = m["mase_per_horizon"]
    for h, value in horizon.items():
        lines.append(f"| {h} | {fmt(value)} |")

    steps = [int(h) for h in horizon]
    values = [horizon[h]["value"] for h in horizon]
    low = [v - (horizon[h]["ci"][0] or v) for h, v in zip(horizon, values, strict=True)]
    high = [(horizon[h]["ci"][1] or v) - v for h, v in zip(horizon, values, strict=True)]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.errorbar(steps, values, yerr=[low, high], marker="o", capsize=3, label="lstm")
    ax.axhline(1.0, color="k", ls="--", lw=1, label="persistence")
    ax.set(xscale="log", xlabel="readings ahead (h)", ylabel="MASE", title="Skill vs horizon")
    ax.legend()
    fig.tight_layout()
    path = plot_dir / "lstm-skill-vs-horizon.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    lines += ["", f"![skill vs horizon]({link_prefix}{path.name})", ""]
    return "\n".join(lines), [path]
