"""Where each input of a model lay in its training data, and the warnings for inputs outside it.

At training a family records, for every input it reads (a feature of one reading, a telemetry
channel of a window, the values of a series), the smallest and largest value of its training
data, in the version's metadata under `trained_ranges`:

    metadata["trained_ranges"] = support.describe({"pressao_oleo_bar": values, ...})

At prediction the family checks the input against them and adds what it finds to the answer:

    ranges = support.TrainedRanges.from_metadata(model.metadata)
    ranges.warnings({"pressao_oleo_bar": 18.0})          # one reading, or a window per input
    -> [{"code": "OUT_OF_TRAINING_RANGE", "field": "pressao_oleo_bar", "value": 18.0,
         "trained_range": [0.4, 7.1]}]

Min and max rather than extreme quantiles: a window of 60 readings of 8 channels has 480 values,
and 0.1/99.9 % quantiles would flag about one value of every normal window. The support of the
training data is also what "never seen" means: between min and max, the model interpolates
between examples; outside, it extrapolates, which a tree ensemble does flat and a network
however its last layer bends. A version trained before this module has no `trained_ranges` and
gives no warnings (`TrainedRanges.from_metadata` is then empty).

A value warns only beyond a margin of MARGIN (2 %) of its range's width on either side: the
extremes of a finite training sample are themselves noisy (the next normal pump's minimum
falls a little below them about as often as not), and a warning on an ordinary reading would
teach its reader to ignore the warnings. 2 % of the oil-pressure range (0.4–7.1 bar) is 0.13
bar, within two sensor noise steps; an input that far outside is a different operating point.
The answer reports the range itself, not the range widened by the margin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: The warning's code (SPEC, "Additions every answer may carry").
CODE = "OUT_OF_TRAINING_RANGE"
#: The key of the ranges in a version's metadata.
METADATA_KEY = "trained_ranges"
#: Decimals the ranges are stored and reported with (the sensors' finest resolution is 0.001).
DECIMALS = 6
#: How far beyond its trained range, as a share of the range's width, a value may lie without
#: a warning (see the module's docstring).
MARGIN = 0.02


def describe(columns: Mapping[str, Any]) -> dict[str, Any]:
    """The `trained_ranges` metadata of a model from its training values, per input name.

    Each value may be any array (a column of readings, windows of a channel); NaN and infinities
    are ignored, an input without any finite value is left out (it gives no warnings).
    """
    inputs: dict[str, list[float]] = {}
    for name, raw in columns.items():
        values = np.asarray(raw, dtype=np.float64).ravel()
        values = values[np.isfinite(values)]
        if values.size:
            inputs[name] = [_round_down(values.min()), _round_up(values.max())]
    return {"statistic": "min and max of the training data", "inputs": inputs}


def _round_down(value: float) -> float:
    return float(np.floor(value * 10**DECIMALS) / 10**DECIMALS)


def _round_up(value: float) -> float:
    return float(np.ceil(value * 10**DECIMALS) / 10**DECIMALS)


def warning(field: str, value: float, trained_range: Sequence[float]) -> dict[str, Any]:
    """One warning, in the shape every answer carries."""
    return {
        "code": CODE,
        "field": field,
        "value": float(value),
        "trained_range": [float(trained_range[0]), float(trained_range[1])],
    }


@dataclass(frozen=True)
class TrainedRanges:
    """The trained [low, high] of each input of a loaded version (empty: no warnings)."""

    ranges: Mapping[str, tuple[float, float]]

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> TrainedRanges:
        """The ranges `describe` wrote into a version's metadata; empty if it has none.

        ValueError if they are malformed (a version that says it has ranges must have them
        right: the family then fails to load, like for any inconsistent artifact)."""
        document = metadata.get(METADATA_KEY) or {}
        ranges = {}
        for name, pair in (document.get("inputs") or {}).items():
            low, high = (float(v) for v in pair)
            if not (np.isfinite(low) and np.isfinite(high) and low <= high):
                raise ValueError(f"trained range of {name!r} is not [low, high]: {pair!r}")
            ranges[name] = (low, high)
        return cls(ranges)

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def range_of(self, name: str) -> tuple[float, float] | None:
        return self.ranges.get(name)

    def _limits(self, name: str) -> tuple[float, float] | None:
        """The values beyond which input `name` warns: its range widened by MARGIN."""
        bounds = self.ranges.get(name)
        if bounds is None:
            return None
        slack = MARGIN * (bounds[1] - bounds[0])
        return bounds[0] - slack, bounds[1] + slack

    def limits(self, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The values beyond which each of `names` warns (its range widened by MARGIN), as a
        low and a high array in that order; ±inf for an input without a range. A family that
        acts on inputs outside the training data (the gru's cap) compares with these, so that
        it acts exactly where it warns."""
        found = [self._limits(name) or (-np.inf, np.inf) for name in names]
        return np.array([low for low, _ in found]), np.array([high for _, high in found])

    def check(self, name: str, values: Any, field: str | None = None) -> dict[str, Any] | None:
        """The warning for input `name` if any of `values` (a number or an array) lies outside
        its trained range (by more than MARGIN of its width), reporting the value furthest
        outside, under `field` (default the input's name); None if all are inside or the input
        has no range."""
        limits = self._limits(name)
        if limits is None:
            return None
        array = np.asarray(values, dtype=np.float64).ravel()
        if array.size == 0:
            return None
        low, high = limits
        below = low - array.min()
        above = array.max() - high
        if below <= 0 and above <= 0:
            return None
        value = array.min() if below >= above else array.max()
        return warning(field or name, float(value), self.ranges[name])

    def warnings(self, inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Warnings for inputs given by name (each a number or an array of its values), in the
        order given; an empty list for an input inside what the model was trained on."""
        found = []
        for name, values in inputs.items():
            flagged = self.check(name, values)
            if flagged is not None:
                found.append(flagged)
        return found

    def columns_warnings(self, rows: Any, names: Sequence[str]) -> list[dict[str, Any]]:
        """Warnings for an array whose last axis is `names` (one reading (k,), a window
        (n, k), a batch of windows…), one per input at most."""
        array = np.asarray(rows, dtype=np.float64)
        if array.shape[-1] != len(names):
            raise ValueError(f"expected the last axis to be {len(names)} inputs {list(names)}")
        columns = array.reshape(-1, len(names))
        return self.warnings({name: columns[:, i] for i, name in enumerate(names)})

    def rows_warnings(self, rows: Any, names: Sequence[str]) -> list[list[dict[str, Any]]]:
        """Warnings of each row of an (n, k) array whose columns are `names`: one list per row
        (a batch of readings, e.g. xgboost's). Vectorised: rows inside every range cost one
        comparison each."""
        array = np.asarray(rows, dtype=np.float64)
        if array.ndim != 2 or array.shape[1] != len(names):
            raise ValueError(f"expected rows of {len(names)} inputs {list(names)}")
        out: list[list[dict[str, Any]]] = [[] for _ in range(len(array))]
        for i, name in enumerate(names):
            limits = self._limits(name)
            if limits is None:
                continue
            column = array[:, i]
            outside = np.flatnonzero((column < limits[0]) | (column > limits[1]))
            for row in outside.tolist():
                out[row].append(warning(name, float(column[row]), self.ranges[name]))
        return out

    def describe(self) -> dict[str, list[float]]:
        """The ranges as `/model/<family>/info` shows them."""
        return {name: [low, high] for name, (low, high) in self.ranges.items()}
