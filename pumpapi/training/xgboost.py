"""Training of the `xgboost` failure-risk family on a simulated fleet, split by pump.

Data
    `pumpapi.devtools.simulator.simulate_fleet(pumps, steps, seed=seed)`: one reading per
    minute per pump. Each reading gives the four features of SPEC, taken by channel name:
    `rotacao_motor_rpm` (Eng_RPM), `pressao_oleo_bar` (Oil_P), `tensao_bateria_v` (Bat_V),
    `tensao_alternador_v` (Char_V).
Label
    1 when the pump has a failure event within the next `horizon_hours` (24 h by default), as the
    simulator's ground truth `failure_within(horizon_steps)` says; 0 otherwise.
Stopped pumps
    Readings taken while the pump is stopped are kept (`include_stopped=True`). Clients ask for
    the risk of whatever reading they have, and `/machine/predict` answers from a pump's latest
    reading, which is often a stopped one. A model that never saw a stopped pump would read its
    zero engine speed and zero oil pressure as a lubrication failure, and raise false alarms for
    every idle pump; trained with them, it answers the risk actually observed for idle pumps.
Split
    By pump, never by reading: train, validation and held-out test pumps (60/20/20 by default),
    drawn separately among pumps that fail and pumps that do not, so that each split has both.
    The booster is fitted on train pumps only (early stopping on validation pumps); its
    probabilities are calibrated on validation pumps (Platt scaling of the booster's log-odds,
    two JSON numbers applied at serving); the decision threshold is the one minimising the
    cost policy's expected cost on validation pumps; every reported metric is measured on the
    held-out pumps, never used for any choice.
Physics
    Risk is constrained non-increasing in oil pressure, battery and alternator voltage (XGBoost
    monotone constraints): at a given speed, less oil pressure or charge never means less risk.
    Readings no healthy running engine produces (running with no oil pressure, alternator below
    12 V while running, a battery below any 24 V battery's rest voltage) are answered at least
    `GUARD_PROBABILITY` whatever the trees say (`guards` in the metadata, applied at serving):
    they are rare or absent in training, where trees only extrapolate flat from what they saw.
Decision policy
    `cost_policy`: a missed failure (no alarm, failure within the horizon) costs
    `missed_failure`, a false alarm costs `false_alarm` (docs/models.md). The threshold minimises
    their sum on validation pumps; the decisions are checked to cost less than always answering
    healthy.
Baseline
    A logistic regression (standardised features) fitted, thresholded and evaluated the same
    way: its metrics sit beside the booster's in the metadata (`metrics.baseline`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import xgboost

from pumpapi.channels import CHANNEL_NAMES
from pumpapi.models import reference, support, window
from pumpapi.models.compiled import (
    COMPILED_ARTIFACT,
    TOLERANCE,
    CompiledPredictor,
    check_rows,
    current_platform,
    difference_from_booster,
)
from pumpapi.models.store import ModelStore
from pumpapi.models.xgboost import ARTIFACT, FEATURE_CHANNELS, FEATURE_ORDER, LABELS, NAME
from pumpapi.training import window as window_training
from pumpapi.training.decisions import (
    calibrate,
    choose_cost_threshold,
    evaluate,
    fit_calibration,
)

log = logging.getLogger(__name__)

FAMILY = "xgboost"
SPLITS = ("train", "validation", "test")

#: Shallow trees, early-stopped on validation pumps: four features need few interactions, and
#: the probabilities stay calibrated (no class weights) so that the Brier score means something.
DEFAULT_HYPERPARAMETERS: dict[str, Any] = {
    "objective": "binary:logistic",
    "eval_metric": "logloss",
    "tree_method": "hist",
    "max_depth": 3,
    "learning_rate": 0.1,
    "subsample": 0.8,
    "min_child_weight": 20,
    "reg_lambda": 1.0,
    "max_bin": 256,
    # FEATURE_ORDER: rpm, oil, battery, alternator. Risk is non-increasing in oil pressure
    # and in both voltages (more pressure or charge never means more risk); speed is free
    # (idle, load and cavitation's rise all matter). On independent fleets this ranks as well
    # as the unconstrained trees and holds up better under shift (docs/models.md).
    "monotone_constraints": "(0,-1,-1,-1)",
    "num_boost_round": 300,
    "early_stopping_rounds": 25,
}


#: The decision policy (docs/models.md): a missed failure costs 5 false alarms. A false alarm is
#: a technician's visit that finds nothing; a missed failure is an unplanned stop (a repair of
#: ~8 h, the water not pumped, and the damage of running to failure).
DEFAULT_COST_POLICY: dict[str, float] = {"missed_failure": 5.0, "false_alarm": 1.0}
#: What the guards answer at least (above any threshold the policy can choose).
GUARD_PROBABILITY = 0.5
#: Readings no running pump produces, each naming the feature it is about (see the docstring).
GUARDS: list[dict[str, Any]] = [
    {
        "name": "running_without_oil_pressure",
        "feature": "pressao_oleo_bar",
        "when": {"rotacao_motor_rpm": [500.0, None], "pressao_oleo_bar": [None, 0.5]},
        "reason": "engine running (>= 500 rpm) with oil pressure below 0.5 bar",
    },
    {
        "name": "alternator_dead_while_running",
        "feature": "tensao_alternador_v",
        "when": {"rotacao_motor_rpm": [500.0, None], "tensao_alternador_v": [None, 12.0]},
        "reason": "engine running (>= 500 rpm) with the alternator below 12 V",
    },
    {
        "name": "battery_below_rest_voltage",
        "feature": "tensao_bateria_v",
        "when": {"tensao_bateria_v": [None, 21.0]},
        "reason": "battery below 21 V: no charged or discharged 24 V battery rests there",
    },
]


class PumpHistory(Protocol):
    """What training reads from the simulator for one pump."""

    name: str
    readings: np.ndarray
    running: np.ndarray

    def failure_within(self, horizon_steps: int) -> np.ndarray: ...


@dataclass(frozen=True)
class TrainingOptions:
    """Everything that decides a training run.

    The defaults (200 pumps x 20,000 readings, about 14 days each, and 200 more for the window
    model) take about half a minute on this 2-core machine; fewer pumps leave so few failures
    among the held-out pumps that their metrics mostly measure luck.
    """

    pumps: int = 200
    steps: int = 20_000
    seed: int = 7
    horizon_hours: float = 24.0
    interval_s: int = 60
    validation_fraction: float = 0.2
    test_fraction: float = 0.2
    include_stopped: bool = True
    #: Fit on every `stride`-th reading of the train (and early-stopping) pumps: readings a
    #: minute apart are nearly identical, so this divides the fitting time without losing
    #: failures. Thresholds and metrics use every reading.
    stride: int = 5
    #: Threads for fitting (prediction in the service uses PREDICT_THREADS). One: OpenMP threads
    #: spin at every barrier, and on shared cores 2 threads fitted slower than 1 (bench/notes.md).
    threads: int = 1
    #: Also fit the window model (/machine/predict): all eight channels of the pump's recent
    #: readings (pumpapi.models.window, pumpapi.training.window).
    window_model: bool = True
    #: Simulated pumps the window model reads besides the reading model's (the next pump
    #: numbers of the same seed, split by pump the same way): it reads 86 statistics of eight
    #: channels and learns from more kinds of pump than four features need.
    window_extra_pumps: int = 200
    #: Also publish the booster compiled into a shared library (treelite + tl2cgen + gcc), which
    #: the service uses instead of XGBoost when it equals it (pumpapi.models.compiled).
    compile_predictor: bool = True
    tags: Mapping[str, str] = field(default_factory=dict)
    hyperparameters: Mapping[str, Any] = field(
        default_factory=lambda: dict(DEFAULT_HYPERPARAMETERS)
    )

    @property
    def horizon_steps(self) -> int:
        return max(1, round(self.horizon_hours * 3600 / self.interval_s))


@dataclass(frozen=True, eq=False)
class Dataset:
    """Rows of the four features in FEATURE_ORDER, their labels, and which pump each came from
    (`pump[i]` indexes `names`)."""

    features: np.ndarray
    labels: np.ndarray
    pump: np.ndarray
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)

    def of_pumps(self, names: Sequence[str]) -> Dataset:
        wanted = [self.names.index(name) for name in names]
        mask = np.isin(self.pump, wanted)
        return Dataset(self.features[mask], self.labels[mask], self.pump[mask], self.names)

    def every(self, stride: int) -> Dataset:
        """Every `stride`-th row (readings a minute apart are nearly identical)."""
        return Dataset(
            self.features[::stride], self.labels[::stride], self.pump[::stride], self.names
        )

    def pump_names(self) -> list[str]:
        return sorted(self.names[i] for i in np.unique(self.pump))

    def failing_pumps(self) -> list[str]:
        """Pumps with at least one positive row."""
        return sorted(self.names[i] for i in np.unique(self.pump[self.labels == 1]))

    def summary(self) -> dict[str, Any]:
        return {
            "pumps": self.pump_names(),
            "rows": len(self),
            "positives": int(self.labels.sum()),
        }


@dataclass(frozen=True)
class TrainingReport:
    """What a run published: the store version, its metadata, and how long it took."""

    version: str
    metadata: dict[str, Any]
    seconds: float


def build_dataset(
    fleet: Sequence[PumpHistory], horizon_steps: int, include_stopped: bool = True
) -> Dataset:
    """One row per reading (optionally only while running), features taken by channel name."""
    columns = [CHANNEL_NAMES.index(FEATURE_CHANNELS[name]) for name in FEATURE_ORDER]
    features, labels, pumps = [], [], []
    for index, pump in enumerate(fleet):
        keep = slice(None) if include_stopped else np.asarray(pump.running, dtype=bool)
        # float32: what XGBoost computes in anyway, at half the memory of float64.
        rows = np.asarray(pump.readings[:, columns][keep], dtype=np.float32)
        features.append(rows)
        labels.append(np.asarray(pump.failure_within(horizon_steps), dtype=np.int8)[keep])
        pumps.append(np.full(len(rows), index, dtype=np.int32))
    names = tuple(pump.name for pump in fleet)
    if len(set(names)) != len(names):
        raise ValueError("pump names must be unique: the split is by pump")
    return Dataset(np.concatenate(features), np.concatenate(labels), np.concatenate(pumps), names)


def split_pumps(
    dataset: Dataset, validation_fraction: float, test_fraction: float, seed: int
) -> dict[str, list[str]]:
    """Pump names per split. Pumps with and without a failure are split separately (each with
    the same fractions), so every split sees failures when there are enough failing pumps."""
    names = dataset.pump_names()
    if len(names) < 3:
        raise ValueError(f"splitting by pump needs at least 3 pumps, got {len(names)}")
    failing = set(dataset.failing_pumps())
    rng = np.random.default_rng(seed)
    splits: dict[str, list[str]] = {name: [] for name in SPLITS}
    for group in (
        [n for n in names if n in failing],
        [n for n in names if n not in failing],
    ):
        group = [group[i] for i in rng.permutation(len(group))]
        n_test = round(len(group) * test_fraction)
        n_validation = round(len(group) * validation_fraction)
        splits["test"] += group[:n_test]
        splits["validation"] += group[n_test : n_test + n_validation]
        splits["train"] += group[n_test + n_validation :]
    # Tiny fleets: rounding can leave a split empty; take one pump from the largest split.
    for name in SPLITS:
        if not splits[name]:
            donor = max(SPLITS, key=lambda s: len(splits[s]))
            splits[name].append(splits[donor].pop())
    return {name: sorted(pumps) for name, pumps in splits.items()}


def linear_logit(params: Mapping[str, Any] | None, features: np.ndarray) -> np.ndarray:
    """The logistic regression's log-odds of each row (0 without one)."""
    if not params:
        return np.zeros(len(features))
    z = (np.asarray(features, dtype=np.float64) - params["mean"]) / params["scale"]
    return z @ np.asarray(params["coef"]) + float(params["intercept"])


def margins_of(
    booster: xgboost.Booster, data: Dataset, linear: Mapping[str, Any] | None = None
) -> np.ndarray:
    """The model's log-odds: the trees' margin plus the linear part they were boosted from."""
    trees = booster.inplace_predict(data.features, predict_type="margin").astype(np.float64)
    return trees + linear_logit(linear, data.features)


def fit_booster(
    train: Dataset,
    validation: Dataset,
    hyperparameters: Mapping[str, Any],
    seed: int,
    threads: int,
    linear: Mapping[str, Any] | None = None,
) -> xgboost.Booster:
    """Fit on train pumps, early-stopped on validation pumps; the booster keeps only the trees
    up to its best iteration. With `linear` (logistic-regression parameters) the trees are
    boosted from its log-odds (base margin): they learn what the straight line misses, and
    early stopping keeps them from doing worse than it on pumps they never saw."""
    params = dict(hyperparameters)
    rounds = int(params.pop("num_boost_round"))
    patience = int(params.pop("early_stopping_rounds"))
    params.update(seed=seed, nthread=threads)
    if linear:
        params["base_score"] = 0.5  # margin 0: the trees' sum is the correction alone
    dtrain = xgboost.DMatrix(
        train.features,
        label=train.labels,
        feature_names=list(FEATURE_ORDER),
        base_margin=linear_logit(linear, train.features) if linear else None,
    )
    dvalid = xgboost.DMatrix(
        validation.features,
        label=validation.labels,
        feature_names=list(FEATURE_ORDER),
        base_margin=linear_logit(linear, validation.features) if linear else None,
    )
    booster = xgboost.train(
        params,
        dtrain,
        num_boost_round=rounds,
        evals=[(dvalid, "validation")],
        early_stopping_rounds=patience,
        verbose_eval=False,
    )
    return booster[: booster.best_iteration + 1]


def _booster_probabilities(booster: xgboost.Booster, data: Dataset) -> np.ndarray:
    return booster.inplace_predict(data.features).astype(np.float64)


def fit_baseline(train: Dataset, seed: int):
    """The logistic-regression baseline (standardised features)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    baseline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed))
    return baseline.fit(train.features, train.labels)


def logistic_parameters(pipeline) -> dict[str, Any]:
    """The fitted baseline (StandardScaler + LogisticRegression) as JSON numbers, so that
    `pumpapi evaluate` scores it on new fleets without refitting or pickling it."""
    scaler, logistic = pipeline[0], pipeline[-1]
    return {
        "kind": "logistic_regression",
        "features": list(FEATURE_ORDER),
        "mean": scaler.mean_.tolist(),
        "scale": scaler.scale_.tolist(),
        "coef": logistic.coef_[0].tolist(),
        "intercept": float(logistic.intercept_[0]),
    }


def compile_predictor(booster: xgboost.Booster, path: Path) -> dict[str, Any] | None:
    """Compile the booster into a shared library at `path` (treelite reads it, tl2cgen writes C
    code, gcc builds it) and check it against the booster on the probe rows.

    Returns the `compiled_predictor` metadata entry, or None when no usable library could be
    built (no compiler, treelite or tl2cgen missing, a difference above TOLERANCE): that is
    logged and `path` removed, never raised, since the service falls back to XGBoost anyway.
    """
    started = time.perf_counter()
    try:
        import tl2cgen
        import treelite

        # treelite >= 4.6 reads XGBoost 3 models (4.1 cannot). tl2cgen 1.0 deserialises the
        # model with its bundled treelite 4.1 runtime, which says on stderr that the model
        # "originated from a newer Treelite version": harmless, since treelite documents that models
        # serialised by any 4.x >= 4.1 load in any other (one v4 format, extended only by
        # optional fields), and the library is checked against the booster below anyway.
        model = treelite.frontend.from_xgboost(booster)
        # tl2cgen prints its other native log lines on stdout: keep them in the log instead.
        native_log = io.StringIO()
        with contextlib.redirect_stdout(native_log):
            tl2cgen.export_lib(
                model,
                toolchain="gcc",
                libpath=path,
                params={"parallel_comp": 2},
                nthread=min(2, os.cpu_count() or 1),
            )
        for line in native_log.getvalue().splitlines():
            if line.strip():
                log.debug("tl2cgen: %s", line.strip())
        predictor = CompiledPredictor(path)
        rows = check_rows(booster, FEATURE_ORDER, FEATURE_CHANNELS)
        diff = difference_from_booster(predictor, booster, rows)
        del predictor
    except Exception as exc:  # never fail a training for the optional library
        path.unlink(missing_ok=True)
        log.warning(
            "xgboost: publishing without a compiled predictor (%s: %s)", type(exc).__name__, exc
        )
        return None
    if not diff <= TOLERANCE:
        path.unlink(missing_ok=True)
        log.warning(
            "xgboost: publishing without a compiled predictor: it differs from XGBoost by up to "
            "%.3g on %d probe rows (tolerance %g)",
            diff,
            len(rows),
            TOLERANCE,
        )
        return None
    seconds = time.perf_counter() - started
    log.info("xgboost: compiled predictor built in %.2f s (max |diff| %.2g)", seconds, diff)
    return {
        "file": path.name,
        "format": "tl2cgen shared library: the booster's trees as C code, compiled with gcc",
        "tl2cgen_version": tl2cgen.__version__,
        "treelite_version": treelite.__version__,
        "platform": current_platform(),
        "max_abs_diff_vs_xgboost": diff,
        "probe_rows": len(rows),
        "compile_seconds": round(seconds, 2),
    }


def simulate(
    options: TrainingOptions, first_index: int = 1, pumps: int | None = None
) -> list[PumpHistory]:
    from pumpapi.devtools import simulator

    return simulator.simulate_fleet(
        options.pumps if pumps is None else pumps,
        options.steps,
        seed=options.seed,
        interval_s=options.interval_s,
        first_index=first_index,
    )


def train(
    options: TrainingOptions,
    store: ModelStore,
    fleet: Sequence[PumpHistory] | None = None,
    described: Mapping[str, Any] | None = None,
) -> TrainingReport:
    """Simulate (unless `fleet` is given), fit, choose the threshold, evaluate on held-out pumps
    and publish a new version of the `xgboost` family in `store`. `described` tells where a
    given fleet came from (e.g. the database query), for the metadata."""
    import sklearn

    started = time.perf_counter()
    trained_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    source = "fleet given to train()"
    extra: Sequence[PumpHistory] = ()
    if fleet is None:
        fleet = simulate(options)
        source = "pumpapi.devtools.simulator.simulate_fleet (default physics)"
        if options.window_model and options.window_extra_pumps > 0:
            extra = simulate(
                options, first_index=options.pumps + 1, pumps=options.window_extra_pumps
            )
    simulated = time.perf_counter()
    dataset = build_dataset(fleet, options.horizon_steps, options.include_stopped)
    simulated_pumps, simulated_steps = len(fleet), max(len(pump.readings) for pump in fleet)
    windows = (
        window_training.window_rows([*fleet, *extra], options.horizon_steps)
        if options.window_model
        else None
    )
    window_names = (*(pump.name for pump in fleet), *(pump.name for pump in extra))
    fleet = extra = None  # the datasets hold what is needed; let the full histories go
    pumps = split_pumps(
        dataset, options.validation_fraction, options.test_fraction, seed=options.seed
    )
    train_set, validation_set, test_set = (dataset.of_pumps(pumps[name]) for name in SPLITS)
    if not train_set.labels.any():
        raise ValueError(
            "the training pumps never fail within the horizon: simulate more pumps or steps"
        )

    baseline = fit_baseline(train_set.every(options.stride), options.seed)
    linear = logistic_parameters(baseline)
    booster = fit_booster(
        train_set.every(options.stride),
        validation_set.every(options.stride),
        options.hyperparameters,
        options.seed,
        options.threads,
        linear=linear,
    )
    calibration = fit_calibration(
        validation_set.labels, margins_of(booster, validation_set, linear)
    )
    policy = dict(DEFAULT_COST_POLICY)
    threshold = choose_cost_threshold(
        validation_set.labels,
        calibrate(margins_of(booster, validation_set, linear), calibration),
        policy,
    )
    metrics = evaluate(
        test_set.labels, calibrate(margins_of(booster, test_set, linear), calibration), threshold
    )

    baseline_threshold = choose_cost_threshold(
        validation_set.labels, baseline.predict_proba(validation_set.features)[:, 1], policy
    )
    baseline_metrics = evaluate(
        test_set.labels, baseline.predict_proba(test_set.features)[:, 1], baseline_threshold
    )
    window_booster, window_meta = None, None
    if windows is not None:
        ends = windows[0][:, window_training.LAST_FEATURES]
        reading_rows = Dataset(ends, windows[1], windows[2], window_names)
        window_splits = {name: list(pumps[name]) for name in SPLITS}
        if len(window_names) > len(dataset.names):
            # The extra pumps split like the others, each split keeping failing pumps.
            extra_rows = reading_rows.of_pumps(window_names[len(dataset.names) :])
            for name, names in split_pumps(
                extra_rows, options.validation_fraction, options.test_fraction, options.seed
            ).items():
                window_splits[name] += names
        window_booster, window_meta = window_training.train(
            windows,
            window_names,
            window_splits,
            seed=options.seed,
            threads=options.threads,
            policy=policy,
            reading_probabilities=calibrate(margins_of(booster, reading_rows, linear), calibration),
        )
        window_meta["training_data"] = {
            "pumps": len(window_names),
            "beyond_the_reading_models": len(window_names) - len(dataset.names),
            "splits": {name: len(names) for name, names in window_splits.items()},
        }
    fitted = time.perf_counter()

    hours = options.horizon_hours
    train_columns = {name: train_set.features[:, i] for i, name in enumerate(FEATURE_ORDER)}
    metadata: dict[str, Any] = {
        "name": NAME,
        "description": f"P(failure within {hours:g} h) of a diesel motor pump from one reading "
        "of engine speed, oil pressure, battery and alternator voltage.",
        "trained_at": trained_at,
        "library": {"name": "xgboost", "version": xgboost.__version__},
        "artifact": ARTIFACT,
        "artifact_format": "XGBoost UBJSON (Booster.save_model)",
        "feature_order": list(FEATURE_ORDER),
        "feature_channels": dict(FEATURE_CHANNELS),
        "labels": dict(LABELS),
        "threshold": round(threshold, 6),
        # Each feature's distribution on the train pumps: what drift is measured against.
        "reference": reference.build(train_columns),
        # Each feature's [min, max] on the train pumps: answers outside carry a warning.
        "trained_ranges": support.describe(train_columns),
        "baseline_model": {
            **logistic_parameters(baseline),
            "threshold": round(baseline_threshold, 6),
        },
        # The trees are boosted from this logistic regression's log-odds: the model's log-odds
        # are linear_margin(x) + trees(x), then calibrated (pumpapi.models.xgboost).
        "linear_margin": linear,
        "calibration": calibration,
        "cost_policy": policy,
        "guards": {"probability": GUARD_PROBABILITY, "rules": GUARDS},
        "threshold_rule": "at risk when probability >= threshold; minimises "
        f"{policy['missed_failure']:g} x missed failures + {policy['false_alarm']:g} x false "
        "alarms on validation pumps (calibrated probabilities)",
        "horizon": {
            "hours": hours,
            "steps": options.horizon_steps,
            "interval_s": options.interval_s,
        },
        "metrics": {
            **metrics,
            "evaluated_on": f"held-out test pumps ({len(pumps['test'])}), never used in training",
            "boosting_rounds": booster.num_boosted_rounds(),
            "baseline": {
                "model": "logistic_regression",
                "library": {"name": "scikit-learn", "version": sklearn.__version__},
                **baseline_metrics,
            },
        },
        "training_data": {
            "source": source,
            "simulator": {
                "pumps": simulated_pumps,
                "steps": simulated_steps,
                "interval_s": options.interval_s,
                "seed": options.seed,
            },
            "label": f"failure within {hours:g} h ({options.horizon_steps} readings)",
            "include_stopped": options.include_stopped,
            "fit_stride": options.stride,
            "splits": {
                name: subset.summary()
                for name, subset in zip(SPLITS, (train_set, validation_set, test_set), strict=True)
            },
        },
        "tags": {
            "task": "binary-classification",
            "target": f"failure_within_{hours:g}h",
            "data": "simulated",
            **dict(options.tags),
        },
        "hyperparameters": {**dict(options.hyperparameters), "seed": options.seed},
        "timings": {
            "simulate_seconds": round(simulated - started, 2),
            "fit_seconds": round(fitted - simulated, 2),
        },
    }
    if described is not None:
        data = metadata["training_data"]
        data["source"] = dict(described)
        data.pop("simulator")
        metadata["tags"]["data"] = str(described.get("kind", "given"))
    with store.new_version(FAMILY) as draft:
        booster.save_model(draft.file(ARTIFACT))
        if window_booster is not None:
            window_booster.save_model(draft.file(window.ARTIFACT))
            metadata["window_model"] = window_meta
        if options.compile_predictor:
            compiled = compile_predictor(booster, draft.file(COMPILED_ARTIFACT))
            if compiled is not None:
                metadata["compiled_predictor"] = compiled
        draft.metadata.update(metadata)
    seconds = time.perf_counter() - started
    log.info("xgboost version %s published in %.1f s", draft.version, seconds)
    published = store.resolve(FAMILY, str(draft.version))
    return TrainingReport(published.version, published.metadata, seconds)
