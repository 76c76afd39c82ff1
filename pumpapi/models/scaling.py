"""Feature scaling fitted at training, kept as JSON numbers and applied with numpy when serving."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

SCALER_FILE = "scaler.json"


@dataclass(frozen=True)
class MinMaxScaling:
    """A fitted scikit-learn `MinMaxScaler` as plain numbers.

    `transform` is the scaler's own formula, `X * scale_ + min_`, on the same float64 numbers, so
    serving needs numpy only and gives what the scaler gave at training. JSON keeps every float64
    exactly (Python writes the shortest repr that reads back to the same number).
    """

    feature_names: tuple[str, ...]
    data_min: np.ndarray
    data_max: np.ndarray
    scale: np.ndarray
    min_: np.ndarray
    feature_range: tuple[float, float] = (0.0, 1.0)
    clip: bool = False

    #: What /model/<family>/info calls it: the class it was fitted as.
    scaler_class = "MinMaxScaler"

    @classmethod
    def from_sklearn(cls, scaler: Any, feature_names: Sequence[str]) -> MinMaxScaling:
        """Capture a fitted `sklearn.preprocessing.MinMaxScaler` (fitted on an array whose
        columns are `feature_names`, in that order)."""
        if scaler.n_features_in_ != len(feature_names):
            raise ValueError(
                f"the scaler was fitted on {scaler.n_features_in_} features, "
                f"not the {len(feature_names)} named"
            )
        low, high = scaler.feature_range
        return cls(
            feature_names=tuple(feature_names),
            data_min=np.asarray(scaler.data_min_, dtype=np.float64),
            data_max=np.asarray(scaler.data_max_, dtype=np.float64),
            scale=np.asarray(scaler.scale_, dtype=np.float64),
            min_=np.asarray(scaler.min_, dtype=np.float64),
            feature_range=(float(low), float(high)),
            clip=bool(scaler.clip),
        )

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> MinMaxScaling:
        """Read what `to_json` wrote; ValueError if it is not a consistent MinMaxScaler."""
        if document.get("class") != cls.scaler_class:
            raise ValueError(f"expected a {cls.scaler_class}, found {document.get('class')!r}")
        names = tuple(document["feature_names"])
        arrays = {
            key: np.asarray(document[key], dtype=np.float64)
            for key in ("data_min", "data_max", "scale", "min")
        }
        for key, values in arrays.items():
            if values.shape != (len(names),) or not np.all(np.isfinite(values)):
                raise ValueError(f"scaler {key} must be {len(names)} finite numbers")
        low, high = document["feature_range"]
        return cls(
            feature_names=names,
            data_min=arrays["data_min"],
            data_max=arrays["data_max"],
            scale=arrays["scale"],
            min_=arrays["min"],
            feature_range=(float(low), float(high)),
            clip=bool(document["clip"]),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "class": self.scaler_class,
            "feature_names": list(self.feature_names),
            "n_features_in": self.n_features_in,
            # Fitted on a plain array (columns in `feature_names` order), like the seed's scaler.
            "has_feature_names": False,
            "feature_range": list(self.feature_range),
            "clip": self.clip,
            "data_min": self.data_min.tolist(),
            "data_max": self.data_max.tolist(),
            "scale": self.scale.tolist(),
            "min": self.min_.tolist(),
        }

    @property
    def n_features_in(self) -> int:
        return len(self.feature_names)

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Scale readings whose last axis is `feature_names`; any leading shape is kept."""
        scaled = np.asarray(values, dtype=np.float64) * self.scale + self.min_
        if self.clip:
            np.clip(scaled, self.feature_range[0], self.feature_range[1], out=scaled)
        return scaled

    def clipped(self, values: np.ndarray) -> np.ndarray:
        """`transform`, clipped to the feature range, as float32: what a window network reads,
        at training and when serving (beyond the training data it would extrapolate)."""
        return np.clip(self.transform(values), *self.feature_range).astype(np.float32)
