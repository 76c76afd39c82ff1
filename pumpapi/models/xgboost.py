"""The `xgboost` family: the probability that a pump fails within the horizon, from one reading."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import orjson
import xgboost

from pumpapi.channels import BY_NAME, CHANNEL_NAMES
from pumpapi.extensions.json import utc_iso
from pumpapi.models import support, window
from pumpapi.models.base import Model
from pumpapi.models.compiled import Predictor, choose_predictor

#: The four features of SPEC, by their Portuguese names, and the telemetry channel each one is.
FEATURE_CHANNELS: dict[str, str] = {
    "rotacao_motor_rpm": "Eng_RPM",
    "pressao_oleo_bar": "Oil_P",
    "tensao_bateria_v": "Bat_V",
    "tensao_alternador_v": "Char_V",
}
#: The order the booster's columns are in (and the order written into its metadata).
FEATURE_ORDER: tuple[str, ...] = tuple(FEATURE_CHANNELS)
HEALTHY = "Operação Saudável"
AT_RISK = "Risco de Falha Iminente"
LABELS: dict[str, str] = {"0": HEALTHY, "1": AT_RISK}
#: XGBoost's own binary format (UBJSON): no pickle, loads in any XGBoost of the same major.
ARTIFACT = "model.ubj"
NAME = "xgboost-failure-risk"


class MissingChannel(ValueError):
    """A stored reading lacks a finite value of a channel the model reads."""

    def __init__(self, channel: str):
        super().__init__(channel)
        self.channel = channel


class RiskAssessment(NamedTuple):
    """The answer for one reading (a named tuple: built faster than a frozen dataclass, a
    thousand at a time for a batch)."""

    #: P(failure within the horizon), in [0, 1].
    probability: float
    #: `Operação Saudável` or `Risco de Falha Iminente` (probability ≥ threshold).
    prediction: str
    at_risk: bool


def json_numbers(values: np.ndarray) -> list[float]:
    """float32 values as the floats of their shortest decimals (0.05, not 0.0500000007…): the
    booster computes in float32, and that is what it actually knows. orjson writes float32 as
    its shortest decimal; reading that text back gives what `float(str(value))` gives, for a
    whole array at once (a small fraction of converting value by value)."""
    array = np.ascontiguousarray(values, dtype=np.float32).reshape(-1)
    return orjson.loads(orjson.dumps(array, option=orjson.OPT_SERIALIZE_NUMPY))


class FailureRiskModel(Model):
    """A loaded XGBoost booster classifying a reading as healthy or at risk of failure.

    `predict()` and `results()` take rows in `feature_order`; `rows_of_features()` and
    `rows_of_readings()` build them from the request's columns or from stored readings, so
    neither the order of a request's keys nor the version's column order matters. The
    probabilities come from `predictor`: the version's compiled library when it is usable here
    and answers like the booster, else the booster's `inplace_predict` (see
    pumpapi.models.compiled and the XGBOOST_PREDICTOR setting).
    """

    family = "xgboost"

    booster: xgboost.Booster
    #: The window model /machine/predict answers from (None in versions trained without one).
    window: window.WindowRiskModel | None
    #: What computes the probabilities: `kind` is `tl2cgen` or `xgboost`.
    predictor: Predictor
    feature_order: tuple[str, ...]
    #: feature name -> telemetry channel it is read from (e.g. pressao_oleo_bar -> Oil_P).
    feature_channels: dict[str, str]
    threshold: float
    labels: tuple[str, str]

    def load(self) -> None:
        meta = self.metadata
        feature_order = tuple(meta["feature_order"])
        if sorted(feature_order) != sorted(FEATURE_CHANNELS):
            raise ValueError(
                f"the stored model expects features {list(feature_order)}, "
                f"this service serves {list(FEATURE_ORDER)}"
            )
        booster = xgboost.Booster()
        booster.load_model(self.version.file(meta.get("artifact", ARTIFACT)))
        if booster.feature_names and tuple(booster.feature_names) != feature_order:
            raise ValueError(
                f"booster columns {booster.feature_names} differ from the metadata's "
                f"feature_order {list(feature_order)}"
            )
        # One thread per call: with a 1-row input, XGBoost's default thread pool only adds
        # synchronisation cost, and gunicorn already runs one worker per core.
        threads = int(self.config.get("PREDICT_THREADS", 1))
        booster.set_param({"nthread": threads})
        self.booster = booster
        self.window = None
        if meta.get("window_model"):
            window_booster = xgboost.Booster()
            window_booster.load_model(self.version.file(meta["window_model"]["artifact"]))
            self.window = window.WindowRiskModel(window_booster, meta["window_model"], threads)
        self.feature_order = feature_order
        self.feature_channels = dict(meta.get("feature_channels") or FEATURE_CHANNELS)
        self.predictor = choose_predictor(
            self.config.get("XGBOOST_PREDICTOR", "auto"),
            self.version,
            booster,
            feature_order,
            self.feature_channels,
        )
        linear = meta.get("linear_margin")
        #: The logistic regression the trees were boosted from: (mean, scale, coef, intercept).
        self.linear = (
            None
            if not linear
            else (
                np.asarray(linear["mean"], dtype=np.float64),
                np.asarray(linear["scale"], dtype=np.float64),
                np.asarray(linear["coef"], dtype=np.float64),
                float(linear["intercept"]),
            )
        )
        calibration = meta.get("calibration") or {"method": "none", "a": 1.0, "b": 0.0}
        self.calibration = (float(calibration["a"]), float(calibration["b"]))
        guards = meta.get("guards") or {"probability": 0.0, "rules": []}
        self.guard_probability = float(guards["probability"])
        self.guards = [
            (
                feature_order.index(rule["feature"]),
                [(feature_order.index(name), lo, hi) for name, (lo, hi) in rule["when"].items()],
            )
            for rule in guards["rules"]
        ]
        self.trained_ranges = support.TrainedRanges.from_metadata(meta)
        self.threshold = float(meta["threshold"])
        self.labels = (meta["labels"]["0"], meta["labels"]["1"])

    def warmup(self) -> None:
        self.predict(np.zeros((1, len(self.feature_order))))

    def rows_of_features(self, rows: np.ndarray) -> np.ndarray:
        """Rows of the four features in SPEC's order (`FEATURE_ORDER`, how the request schemas
        give them) as the booster's rows (columns in `feature_order`)."""
        rows = np.asarray(rows, dtype=np.float64)
        if self.feature_order == FEATURE_ORDER:
            return rows
        return rows[:, [FEATURE_ORDER.index(name) for name in self.feature_order]]

    @property
    def channel_columns(self) -> list[int]:
        """The column of each feature (in `feature_order`) among the eight channels."""
        return [CHANNEL_NAMES.index(self.feature_channels[f]) for f in self.feature_order]

    def rows_of_readings(self, readings: np.ndarray) -> np.ndarray:
        """Readings of all eight channels (columns `CHANNEL_NAMES`, as the telemetry store
        reads them) as the booster's rows: each feature taken from its channel."""
        return np.asarray(readings, dtype=np.float64)[:, self.channel_columns]

    def features_of_reading(self, values: Mapping[str, float | None]) -> dict[str, float]:
        """The features of one stored reading (channel -> value), by feature name in
        `feature_order`; raises MissingChannel naming the first channel a feature needs that
        has no finite value."""
        features: dict[str, float] = {}
        for name in self.feature_order:
            channel = self.feature_channels[name]
            value = values.get(channel)
            if value is None or not math.isfinite(value):
                raise MissingChannel(channel)
            features[name] = float(value)
        return features

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """P(failure within the horizon) of each row of an (n, 4) array in `feature_order`, as
        an (n,) float32 array (whichever `predictor` answers)."""
        rows = np.asarray(rows, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != len(self.feature_order):
            raise ValueError(
                f"expected rows of {len(self.feature_order)} features {self.feature_order}, "
                f"got an array of shape {rows.shape}"
            )
        return self.postprocess(rows, self.predictor(rows))[0]

    def explain(
        self, rows: np.ndarray, answered: np.ndarray, guarded: np.ndarray
    ) -> list[dict[str, Any]]:
        """Each row's explanation of the probability it was answered (`answered`, `guarded` as
        `postprocess` gave them): what `?explain=true` and the fleet pages show."""
        from pumpapi.models.attribution import risk_explanations

        return risk_explanations(
            self.booster,
            rows,
            self.feature_order,
            self.feature_channels,
            calibration=self.calibration,
            linear=self.linear,
            answered=answered,
            guarded=guarded,
        )

    def results(self, rows: np.ndarray, explain: bool = False) -> list[dict[str, Any]]:
        """The answer for each row (columns in `feature_order`), in order: probability, decision,
        threshold and horizon, the version, `warnings` for features outside the trained ranges,
        and with `explain` the per-feature contributions and the top reasons. What the routes
        and the fleet pages answer."""
        rows = np.asarray(rows, dtype=np.float64)
        probabilities, guarded = self.postprocess(rows, self.predictor(rows))
        results = self._answers(
            probabilities,
            self.threshold,
            self.trained_ranges.rows_warnings(rows, self.feature_order),
        )
        if explain:
            for result, explanation in zip(
                results, self.explain(rows, probabilities, guarded), strict=True
            ):
                result["explanation"] = explanation
        return results

    def window_result(self, readings: np.ndarray, explain: bool = False) -> dict[str, Any]:
        """The answer from a pump's recent readings (n, 8 in CHANNEL_NAMES order, oldest first:
        the window model's), shaped like `results()`: its probability, decision and threshold;
        `warnings` for the latest reading's features outside the trained ranges; with
        `explain`, the window statistics' contributions summed per channel."""
        if self.window is None:
            raise ValueError("this version has no window model")
        statistics = window.features(readings)
        latest = self.rows_of_readings(np.asarray(readings)[-1:])
        (result,) = self._answers(
            self.window.probabilities(statistics),
            self.window.threshold,
            self.trained_ranges.rows_warnings(latest, self.feature_order),
        )
        if explain:
            result["explanation"] = self.window.explain(statistics[0])
        return result

    def _answers(
        self, probabilities: np.ndarray, threshold: float, warnings: list[list[dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """One answer per probability, decided at `threshold`, with its row's warnings: the
        shape both the reading and the window model answer in."""
        common = {
            "threshold": threshold,
            "horizon_hours": (self.metadata.get("horizon") or {}).get("hours"),
            "model_version": self.version.version,
            "timestamp": utc_iso(dt.datetime.now(dt.UTC)),
        }
        return [
            {
                "prediction": prediction,
                "probability": probability,
                "at_risk": at_risk,
                **common,
                "warnings": found,
            }
            for (probability, prediction, at_risk), found in zip(
                self.classify(probabilities, threshold), warnings, strict=True
            )
        ]

    def postprocess(self, rows: np.ndarray, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The booster's probabilities `raw` of `rows`, plus the linear part the trees were
        boosted from, calibrated (Platt: σ(a·(trees + linear) + b)) and raised to the guard
        probability where a guard applies. Returns (probabilities as float32, the feature index
        of the guard that applied to each row or -1)."""
        a, b = self.calibration
        p = np.asarray(raw, dtype=np.float64).reshape(-1)
        if self.linear is not None or (a, b) != (1.0, 0.0):
            q = np.clip(p, 1e-7, 1 - 1e-7)
            z = np.log(q / (1.0 - q))
            if self.linear is not None:
                mean, scale, coef, intercept = self.linear
                z = z + ((rows - mean) / scale) @ coef + intercept
            p = 1.0 / (1.0 + np.exp(-np.clip(a * z + b, -50.0, 50.0)))
        guarded = np.full(len(p), -1, dtype=np.int64)
        for feature, conditions in self.guards:
            hit = np.ones(len(p), dtype=bool)
            for column, lo, hi in conditions:
                if lo is not None:
                    hit &= rows[:, column] >= lo
                if hi is not None:
                    hit &= rows[:, column] < hi
            hit &= guarded < 0
            guarded[hit] = feature
        raise_to = (guarded >= 0) & (p < self.guard_probability)
        p = np.where(raise_to, self.guard_probability, p)
        guarded[~raise_to] = -1
        return p.astype(np.float32), guarded

    def classify(
        self, probabilities: np.ndarray, threshold: float | None = None
    ) -> list[RiskAssessment]:
        """Label each probability with the stored decision threshold (at risk if p ≥ threshold;
        the window model has its own)."""
        healthy, at_risk = self.labels
        probabilities = np.asarray(probabilities, dtype=np.float32).reshape(-1)
        threshold = self.threshold if threshold is None else threshold
        # Compared in float32, the precision the booster's output has.
        flags = (probabilities >= np.float32(threshold)).tolist()
        return [
            RiskAssessment(p, at_risk if flag else healthy, flag)
            for p, flag in zip(json_numbers(probabilities), flags, strict=True)
        ]

    def info(self) -> dict[str, Any]:
        meta = self.metadata
        artifact = meta.get("artifact", ARTIFACT)
        features = []
        for name in self.feature_order:
            channel = BY_NAME[self.feature_channels[name]]
            features.append(
                {
                    "name": name,
                    "channel": channel.name,
                    "unit": channel.unit,
                    "description": channel.description,
                    "minimum": channel.minimum,
                    "maximum": channel.maximum,
                }
            )
        return {
            "name": meta.get("name", NAME),
            **super().info(),
            "description": meta.get("description"),
            "trained_at": meta.get("trained_at"),
            "features": features,
            "feature_order": list(self.feature_order),
            "labels": meta.get("labels"),
            "threshold": self.threshold,
            "trained_ranges": self.trained_ranges.describe(),
            "calibration": meta.get("calibration"),
            "cost_policy": meta.get("cost_policy"),
            "guards": meta.get("guards"),
            "horizon": meta.get("horizon"),
            "checksum": {
                "algorithm": "sha256",
                "file": artifact,
                "value": meta["files"][artifact]["sha256"],
            },
            "file_size_mb": round(meta["files"][artifact]["bytes"] / 1e6, 3),
            "predictor": self.predictor.describe(),
            "hyperparameters": meta.get("hyperparameters", {}),
            "training_data": meta.get("training_data", {}),
        }
