"""Evaluation of the GRU health indices on a fleet it never saw, against the trivial answers.

Every `stride` minutes of every pump of an independent fleet (simulated with a seed training
never uses), the served answer (`HealthIndexModel.indices`: clipped inputs, capped indices) is
compared with the simulator's true health at that reading. The window answered is the one
`/machine/gru/predict` reads (the latest hour, or a stopped pump's last running hour); the
latest hour as a client would post it to `/model/gru/predict` is scored too (`posted_windows`).
Every figure comes with a bootstrap confidence interval over pumps (pumpapi.evaluation.stats):
the windows of one pump are not independent (a fault lasts days), pumps are. The contract is
pumpapi.evaluation's.

Baselines, fitted on the version's training pumps (simulated again from its metadata):
- `constant`: the training windows' median index (the best constant for the MAE);
- `window_statistics_gbm`: a gradient-boosted regressor on per-channel window statistics
  (mean, spread, min, max, last value, last minus first), one per index.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pumpapi.channels import CHANNEL_NAMES, CHANNELS
from pumpapi.evaluation import stats
from pumpapi.models.baseline import LoadNormalisation
from pumpapi.models.gru import (
    ATTENTION_FROM,
    INDICES,
    OK_FROM,
    WINDOW,
    machine_inputs,
    running,
    windows_ending,
)

#: Minutes between consecutive evaluated windows of a pump (as training's).
STRIDE = 120
#: The goals of issue 10 (index points; shares of windows).
MAE_GOAL = 4.0
ALERT_RECALL_GOAL = 0.8
ATTENTION_RECALL_GOAL = 0.9


@dataclass
class FleetWindows:
    """At each evaluated reading: the window `/machine/gru/predict` answers from (n, 60, 8;
    `machine_windows`), the latest 60 readings as a client would post them (n, 60, 8), the true
    indices (n, 2) in 0–100, the pump (n,), whether it was running (n,), and the points each
    index had lost to faults there (n, 2; None unless the simulator recorded the faults'
    severity): what the oracle baseline knows."""

    inputs: np.ndarray
    posted: np.ndarray
    truth: np.ndarray
    pump: np.ndarray
    running: np.ndarray
    lost_to_faults: np.ndarray | None = None
    #: The pump's baseline at each machine window's start (n, 4; NaN rows without one;
    #: pumpapi.models.baseline), for a version with a baseline network; else None.
    baselines: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.inputs)


def fleet_windows(
    fleet: Sequence[Any], stride: int = STRIDE, normalisation: LoadNormalisation | None = None
) -> FleetWindows:
    """Every `stride`-th reading of each pump (from the first full window), with both windows,
    its true health, running state, (when known) the health lost to faults, and (with a
    `normalisation`) the pump's baseline at the machine window's start."""
    inputs, posted, truth, pump, states, lost, baselines = [], [], [], [], [], [], []
    for number, history in enumerate(fleet):
        readings = np.asarray(history.readings, dtype=np.float64)
        ends = np.arange(WINDOW - 1, len(readings), stride)
        window, baseline = machine_inputs(readings, ends, normalisation)
        inputs.append(window)
        baselines.append(baseline)
        posted.append(windows_ending(readings, ends))
        truth.append(
            np.stack([history.lubrication_health[ends], history.hydraulic_health[ends]], axis=1)
        )
        pump.append(np.full(len(ends), number))
        # As the route decides: from Eng_RPM (the simulator's `running` is the same here).
        states.append(running(readings[ends]))
        if getattr(history, "fault_severity", None) is not None:
            lost.append(history.health_lost_to_faults()[ends])
    arrays = map(np.concatenate, (inputs, posted, truth, pump, states))
    return FleetWindows(
        *arrays,
        np.concatenate(lost) if len(lost) == len(fleet) else None,
        np.concatenate(baselines) if normalisation is not None else None,
    )


def window_statistics(inputs: np.ndarray) -> np.ndarray:
    """Per-channel statistics of each window (n, 60, 8) -> (n, 48): mean, standard deviation,
    min, max, last value, last minus first."""
    return np.concatenate(
        [
            inputs.mean(axis=1),
            inputs.std(axis=1),
            inputs.min(axis=1),
            inputs.max(axis=1),
            inputs[:, -1, :],
            inputs[:, -1, :] - inputs[:, 0, :],
        ],
        axis=1,
    )


def fit_baselines(
    train: FleetWindows, seed: int = 0, served_bands: Callable[[np.ndarray], Any] | None = None
) -> dict[str, Callable[[FleetWindows], Any]]:
    """The trivial answers and the ceiling, fitted on `train`: name -> windows -> indices (n, 2).

    `oracle_faults_known` knows the health every fault has taken at the reading (what no
    window shows exactly) and answers the training windows' median of the rest (fresh state
    and wear, which no reading shows): the floor of the MAE and the ceiling of the recalls an
    answer from the readings can reach. `oracle_served_bands` is the same answer through the
    version's band calibration (`served_bands`): what the served decision rule would catch
    with the faults known. Both only when the fleets recorded their faults' severity."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    median = np.median(train.truth, axis=0)
    features = window_statistics(train.inputs)
    regressors = [
        HistGradientBoostingRegressor(loss="absolute_error", max_iter=200, random_state=seed).fit(
            features, train.truth[:, k]
        )
        for k in range(len(INDICES))
    ]

    def gbm(data: FleetWindows) -> np.ndarray:
        stats = window_statistics(data.inputs)
        return np.clip(np.stack([r.predict(stats) for r in regressors], axis=1), 0.0, 100.0)

    out: dict[str, Callable[[FleetWindows], Any]] = {
        "constant": lambda data: np.broadcast_to(median, (len(data), len(INDICES))),
        "window_statistics_gbm": gbm,
    }
    if train.lost_to_faults is not None:
        rest = np.median(train.truth + train.lost_to_faults, axis=0)

        def oracle(data: FleetWindows) -> np.ndarray:
            return np.clip(rest - data.lost_to_faults, 0.0, 100.0)

        out["oracle_faults_known"] = oracle
        if served_bands is not None:
            out["oracle_served_bands"] = lambda data: served_bands(oracle(data))
    return out


#: Bins of the true index (points) within which stopped and running windows are compared.
MIX_BINS = np.arange(0.0, 101.0, 10.0)


def at_running_mix(
    errors: np.ndarray, truth: np.ndarray, is_running: np.ndarray, pump: np.ndarray, n_pumps: int
) -> stats.Statistic:
    """The stopped windows' MAE as if they had the running windows' mix of true health: per
    10-point bin of the true index, the stopped windows' MAE, weighted by the running windows'
    share in that bin (bins without a stopped window left out, the shares renormalised).
    Failed pumps stand for repair, so more stopped windows are degraded, and degraded windows
    err more on either state: this compares the two states on like windows."""
    bins = np.clip(np.digitize(truth, MIX_BINS[1:-1]), 0, len(MIX_BINS) - 2)
    one_hot = bins[np.newaxis] == np.arange(len(MIX_BINS) - 1)[:, np.newaxis]  # (bins, rows)

    def sums(values: np.ndarray) -> np.ndarray:  # (bins, pumps)
        return np.stack([stats.per_pump_sums(values * b, pump, n_pumps) for b in one_hot])

    stopped = ~is_running
    error_sums, stopped_counts = sums(errors * stopped), sums(stopped.astype(np.float64))
    running_counts = sums(is_running.astype(np.float64))

    def statistic(w: np.ndarray) -> float:
        err, n, r = error_sums @ w, stopped_counts @ w, running_counts @ w
        has = (n > 0) & (r > 0)
        if not has.any():
            return float("nan")
        share = r[has] / r[has].sum()
        return float(share @ (err[has] / n[has]))

    return statistic


def _statistics(
    predicted: np.ndarray, data: FleetWindows, n_pumps: int
) -> dict[str, stats.Statistic]:
    """Per index: MAE (all windows, running, stopped, stopped at the running mix), recall of
    ALERTA and of ATENÇÃO-or-worse, and the share of truly OK windows answered below OK (false
    alarms), as pooled ratios."""
    predicted = np.asarray(predicted, dtype=np.float64)
    errors = np.abs(predicted - data.truth)
    ones = np.ones(len(data))

    def per_pump(values: np.ndarray) -> np.ndarray:
        return stats.per_pump_sums(np.asarray(values, dtype=np.float64), data.pump, n_pumps)

    out: dict[str, stats.Statistic] = {}
    for k, name in enumerate(INDICES):
        truth, answer = data.truth[:, k], predicted[:, k]
        alert, attention = truth < ATTENTION_FROM, truth < OK_FROM
        pairs = {
            "mae": (errors[:, k], ones),
            "mae_running": (errors[:, k] * data.running, data.running),
            "mae_stopped": (errors[:, k] * ~data.running, ~data.running),
            "recall_alerta": (alert & (answer < ATTENTION_FROM), alert),
            "recall_atencao_or_worse": (attention & (answer < OK_FROM), attention),
            "false_alarms_on_ok": (~attention & (answer < OK_FROM), ~attention),
        }
        for metric, (num, den) in pairs.items():
            out[f"{name}.{metric}"] = stats.ratio(per_pump(num), per_pump(den))
        out[f"{name}.mae_stopped_at_running_mix"] = at_running_mix(
            errors[:, k], truth, data.running, data.pump, n_pumps
        )
    return out


def _nested(flat: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{"lubrificacao.mae": x} -> {"lubrificacao": {"mae": x}}."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in flat.items():
        index, metric = key.split(".", 1)
        out.setdefault(index, {})[metric] = value
    return out


def score(
    predicted: np.ndarray, data: FleetWindows, *, resamples: int, seed: int
) -> dict[str, Any]:
    """The metrics of `_statistics` with bootstrap intervals over pumps."""
    n_pumps = int(data.pump.max()) + 1
    flat = stats.bootstrap(
        _statistics(predicted, data, n_pumps), n_pumps, resamples=resamples, seed=seed
    )
    return _nested(flat)


def impossible_windows() -> dict[str, np.ndarray]:
    """Windows no healthy pump shows, which must never be rated OK (issue 10's behaviour)."""
    nominal = np.array([c.nominal for c in CHANNELS])
    suction = CHANNEL_NAMES.index("Succao")
    cavitating = np.repeat(nominal[np.newaxis], WINDOW, axis=0)
    cavitating[:, suction] = -0.8
    return {
        "every_channel_at_its_maximum": np.repeat(
            np.array([[c.maximum for c in CHANNELS]]), WINDOW, axis=0
        ),
        "suction_at_minus_0_8_bar": cavitating,
    }


def training_fleet(metadata: dict[str, Any]) -> list[Any]:
    """The pumps the version was trained on (its metadata's simulator run and train pumps),
    simulated again with the current simulator: the baselines learn from the same pumps."""
    from pumpapi.devtools.simulator import simulate_fleet

    run = metadata["training"]["simulator"]
    names = set(metadata["training"]["pumps"]["train"])
    fleet = simulate_fleet(run["pumps"], run["steps"], seed=run["seed"])
    return [p for p in fleet if p.name in names]


def evaluate(
    model: Any,
    *,
    fleets: Callable[[str], Sequence[Any]],
    scenarios: list[str],
    resamples: int,
    seed: int,
    stride: int = STRIDE,
    baseline_fleet: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """The served model (`model.indices`) against its baselines on each scenario's fleet
    (pumpapi.evaluation's contract). Baselines are fitted on the version's training pumps
    (or `baseline_fleet`)."""
    train = fleet_windows(
        baseline_fleet if baseline_fleet is not None else training_fleet(model.metadata), stride
    )
    calibration = getattr(model, "calibration", None)
    baselines = fit_baselines(
        train, seed=seed, served_bands=calibration.apply if calibration is not None else None
    )
    results: dict[str, Any] = {}
    goals: list[dict[str, Any]] = []
    plots: dict[str, Any] = {}
    extended = getattr(model, "baseline", None)
    for scenario in scenarios:
        data = fleet_windows(
            fleets(scenario), stride, extended.normalisation if extended is not None else None
        )
        predicted = _batched(model.indices, data.inputs, data.baselines)
        ours = score(predicted, data, resamples=resamples, seed=seed)
        without = None
        if extended is not None:  # the same windows answered by the network alone
            alone = _batched(model.indices, data.inputs)
            alone = score(alone, data, resamples=resamples, seed=seed)
            without = {name: {"mae": alone[name]["mae"]} for name in INDICES}
            without["answered_with_baseline"] = round(
                float(model.with_baseline(data.inputs, data.baselines).mean()), 4
            )
        # What /model/gru/predict answers for the latest hour as posted (stopped: little shows).
        posted = score(_batched(model.indices, data.posted), data, resamples=resamples, seed=seed)
        theirs = {
            name: score(answer(data), data, resamples=resamples, seed=seed)
            for name, answer in baselines.items()
            if data.lost_to_faults is not None or not name.startswith("oracle")
        }
        results[scenario] = {
            "rows": len(data),
            "pumps": int(data.pump.max()) + 1,
            "stride_minutes": stride,
            "running_share": round(float(data.running.mean()), 3),
            "windows_alerta": {
                n: int((data.truth[:, k] < ATTENTION_FROM).sum()) for k, n in enumerate(INDICES)
            },
            "windows_atencao_or_worse": {
                n: int((data.truth[:, k] < OK_FROM).sum()) for k, n in enumerate(INDICES)
            },
            "metrics": ours,
            "posted_windows": {
                name: {k: posted[name][k] for k in ("mae", "mae_running", "mae_stopped")}
                for name in INDICES
            },
            "baselines": theirs,
            # For a version with a baseline network: the machine windows without the pump's
            # baseline (what its network alone answers), and the share answered with one.
            "without_pump_baseline": without,
        }
        if scenario == scenarios[0]:
            keep = np.random.default_rng(seed).choice(
                len(data), min(2000, len(data)), replace=False
            )
            plots["predicted_vs_true"] = {
                name: {
                    "true": np.round(data.truth[keep, k], 2).tolist(),
                    "predicted": np.round(predicted[keep, k], 2).tolist(),
                }
                for k, name in enumerate(INDICES)
            }
        for name in INDICES:
            m, const, gbm = (
                ours[name],
                theirs["constant"][name],
                theirs["window_statistics_gbm"][name],
            )
            # The ceiling beside each goal it bounds (when the fleet recorded its faults).
            oracle = theirs.get("oracle_faults_known", {}).get(name, {})
            served_oracle = theirs.get("oracle_served_bands", {}).get(name, oracle)

            goals += [
                stats.goal(
                    f"{name}: MAE ≤ {MAE_GOAL}",
                    scenario,
                    m["mae"]["value"] <= MAE_GOAL,
                    mae=m["mae"],
                    **_ceiling("mae", oracle),
                ),
                stats.goal(
                    f"{name}: recall of ALERTA ≥ {ALERT_RECALL_GOAL}",
                    scenario,
                    (m["recall_alerta"]["value"] or 0) >= ALERT_RECALL_GOAL,
                    recall=m["recall_alerta"],
                    **_ceiling("recall_alerta", served_oracle),
                ),
                stats.goal(
                    f"{name}: recall of ATENÇÃO-or-worse ≥ {ATTENTION_RECALL_GOAL}",
                    scenario,
                    (m["recall_atencao_or_worse"]["value"] or 0) >= ATTENTION_RECALL_GOAL,
                    recall=m["recall_atencao_or_worse"],
                    **_ceiling("recall_atencao_or_worse", served_oracle),
                ),
                stats.goal(
                    f"{name}: MAE below the constant's",
                    scenario,
                    m["mae"]["value"] < const["mae"]["value"],
                    model=m["mae"],
                    constant=const["mae"],
                ),
                stats.goal(
                    f"{name}: MAE below the window-statistics GBM's",
                    scenario,
                    m["mae"]["value"] < gbm["mae"]["value"],
                    model=m["mae"],
                    window_statistics_gbm=gbm["mae"],
                ),
                # Judged on like windows (at_running_mix): which pumps stand is not the model's.
                stats.goal(
                    f"{name}: stopped-pump windows no worse than running ones",
                    scenario,
                    (m["mae_stopped_at_running_mix"]["value"] or 0)
                    <= (m["mae_running"]["ci"][1] or 0),
                    stopped_at_running_mix=m["mae_stopped_at_running_mix"],
                    running=m["mae_running"],
                    stopped=m["mae_stopped"],
                ),
            ]
    behaviour = {}
    for name, window in impossible_windows().items():
        answer = _batched(model.indices, window[np.newaxis])[0]
        behaviour[name] = {
            index: round(float(v), 2) for index, v in zip(INDICES, answer, strict=True)
        }
    goals.append(
        stats.goal(
            "impossible windows never rated OK",
            "behaviour",
            all(v < OK_FROM for per_index in behaviour.values() for v in per_index.values()),
            **behaviour,
        )
    )
    return {"scenarios": results, "impossible_windows": behaviour, "goals": goals, "plots": plots}


def _ceiling(metric: str, oracle: dict[str, Any]) -> dict[str, Any]:
    """A goal's measured `ceiling`: the oracle's `metric`, when it was scored."""
    return {"ceiling": oracle[metric]} if metric in oracle else {}


def _batched(
    indices: Callable[..., np.ndarray],
    inputs: np.ndarray,
    baselines: np.ndarray | None = None,
    size: int = 4096,
) -> np.ndarray:
    """`indices` of `inputs` (with their `baselines`, if any) in batches of `size`."""
    return np.concatenate(
        [
            np.asarray(
                indices(inputs[i : i + size])
                if baselines is None
                else indices(inputs[i : i + size], baselines=baselines[i : i + size])
            )
            for i in range(0, len(inputs), size)
        ]
    )


def card(result: dict[str, Any], plot_dir, link_prefix: str) -> tuple[str, list]:
    """The gru section of the model card: per scenario and index, the served answer beside
    the baselines and the posted hour; the impossible windows; predicted against true indices."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pumpapi.evaluation.card import fmt

    lines = [
        "### Per scenario (MAE in index points; recall and false alarms as shares of windows)",
        "",
        "`/machine/gru/predict` answers a stopped pump from its last running hour; `posted` is "
        "the latest hour as a client would post it to `/model/gru/predict`.",
        "",
        "| scenario | index | MAE | running | stopped | stopped, at the running mix | "
        "constant | window-statistics GBM | oracle, faults known | recall ALERTA | "
        "recall ATENÇÃO-or-worse | false alarms | MAE, posted hour |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, s in result["scenarios"].items():
        for index in INDICES:
            m, b = s["metrics"][index], s["baselines"]
            oracle = b.get("oracle_faults_known", {}).get(index, {})
            lines.append(
                f"| {name} | {index} | {fmt(m['mae'])} | {fmt(m['mae_running'])} | "
                f"{fmt(m['mae_stopped'])} | {fmt(m.get('mae_stopped_at_running_mix'))} | "
                f"{fmt(b['constant'][index]['mae'])} | "
                f"{fmt(b['window_statistics_gbm'][index]['mae'])} | {fmt(oracle.get('mae'))} | "
                f"{fmt(m['recall_alerta'])} | {fmt(m['recall_atencao_or_worse'])} | "
                f"{fmt(m['false_alarms_on_ok'])} | "
                f"{fmt(s.get('posted_windows', {}).get(index, {}).get('mae'))} |"
            )
    alone = [(n, s["without_pump_baseline"]) for n, s in result["scenarios"].items()]
    if any(without for _, without in alone):
        lines += [
            "",
            "### The pump's own week",
            "",
            "`/machine/gru/predict` reads the pump's baseline (its at-load readings of the 7 days "
            "before the window) beside the window where it has one; the same windows answered by "
            "the window alone (the network `/model/gru/predict` serves) for comparison.",
            "",
            "| scenario | answered with the baseline | MAE lubrificacao | window alone | "
            "MAE hidraulico | window alone |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {name} | {without['answered_with_baseline']:.1%} | "
            + " | ".join(
                f"{fmt(result['scenarios'][name]['metrics'][i]['mae'])} | {fmt(without[i]['mae'])}"
                for i in INDICES
            )
            + " |"
            for name, without in alone
            if without
        ]
    ceilings = [
        (name, index, s["baselines"]["oracle_served_bands"][index])
        for name, s in result["scenarios"].items()
        if "oracle_served_bands" in s["baselines"]
        for index in INDICES
    ]
    if ceilings:
        lines += [
            "",
            "### Ceiling: the served bands with every fault known",
            "",
            "`oracle_served_bands`: the true health lost to faults, the training windows' median "
            "for the rest (fresh state and wear, which no reading shows), through the version's "
            "band calibration: what the served decision rule would catch if the network read "
            "every fault exactly.",
            "",
            "| scenario | index | recall ALERTA | recall ATENÇÃO-or-worse | false alarms |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {name} | {index} | {fmt(o['recall_alerta'])} | "
            f"{fmt(o['recall_atencao_or_worse'])} | {fmt(o['false_alarms_on_ok'])} |"
            for name, index, o in ceilings
        ]
    lines += ["", "### Impossible windows (must never read OK)", ""]
    lines += [
        f"- {name.replace('_', ' ')}: "
        + ", ".join(f"{index} {value}" for index, value in answer.items())
        for name, answer in result.get("impossible_windows", {}).items()
    ]
    files = []
    pairs = result.get("plots", {}).get("predicted_vs_true")
    if pairs:
        fig, axes = plt.subplots(1, len(pairs), figsize=(10, 4.5))
        for ax, (index, points) in zip(axes, pairs.items(), strict=True):
            ax.scatter(points["true"], points["predicted"], s=4, alpha=0.3)
            ax.plot([0, 100], [0, 100], "k--", lw=1)
            for bound in (ATTENTION_FROM, OK_FROM):
                ax.axhline(bound, color="grey", lw=0.5)
                ax.axvline(bound, color="grey", lw=0.5)
            ax.set(xlim=(0, 100), ylim=(0, 100), xlabel="true", ylabel="served", title=index)
        fig.suptitle(f"Predicted vs true ({next(iter(result['scenarios']))}, 2,000 windows)")
        fig.tight_layout()
        path = plot_dir / "gru-predicted-vs-true.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        files.append(path)
        lines += ["", f"![predicted vs true]({link_prefix}{path.name})"]
    return "\n".join(lines) + "\n", files
