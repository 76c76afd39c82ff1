"""What each model family takes and gives as Open Inference Protocol tensors, and how it infers.

A signature names a family's input and output tensors (name, datatype, shape; -1 for a free
dimension) and turns decoded inputs into outputs by calling the same model methods the family's
own routes call, after the same checks (physical ranges, finite numbers, sizes), so an answer
here equals the answer there on the same input.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from pumpapi.blueprints.inference.tensors import BYTES, NUMERIC, InferInput, OutputTensor
from pumpapi.channels import BY_NAME, CHANNEL_NAMES, CHANNELS
from pumpapi.errors import InvalidInput, MalformedRequest
from pumpapi.models.base import Model


@dataclass(frozen=True)
class TensorSpec:
    name: str
    datatype: str
    shape: tuple[int, ...]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


@dataclass(frozen=True)
class Inferred:
    """A signature's answer: its output tensors, and for each row (reading, window, series)
    the warnings the family's own route would give it (OUT_OF_TRAINING_RANGE)."""

    outputs: list[OutputTensor]
    warnings: list[list[dict[str, Any]]]


Infer = Callable[[Model, Mapping[str, InferInput], Mapping[str, Any], Mapping[str, Any]], Inferred]


@dataclass(frozen=True)
class Signature:
    family: str
    #: The runtime that executes the model (the protocol's `platform`).
    platform: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    #: (model, inputs, request parameters, app config) -> output tensors.
    infer: Infer

    def metadata(self, model: Model) -> dict[str, Any]:
        return {
            "name": self.family,
            "versions": [model.version.version],
            "platform": self.platform,
            "inputs": [spec.describe() for spec in self.inputs],
            "outputs": [spec.describe() for spec in self.outputs],
        }

    def input_of(self, inputs: Mapping[str, InferInput]) -> InferInput:
        """The one input tensor of the family's models, checked against its spec."""
        (spec,) = self.inputs
        extra = sorted(set(inputs) - {spec.name})
        if spec.name not in inputs or extra:
            raise MalformedRequest(
                f"Model '{self.family}' takes one input, '{spec.name}' ({spec.datatype}, shape "
                f"{list(spec.shape)}); got {sorted(inputs)}."
            )
        tensor = inputs[spec.name]
        if tensor.datatype not in NUMERIC:
            raise MalformedRequest(
                f"Input '{spec.name}' must hold numbers ({spec.datatype}); got {tensor.datatype}."
            )
        fits = len(tensor.shape) == len(spec.shape) and all(
            want in (-1, got) for want, got in zip(spec.shape, tensor.shape, strict=True)
        )
        if not fits or 0 in tensor.shape:
            raise MalformedRequest(
                f"Input '{spec.name}' must have shape {list(spec.shape)} (-1: any size from 1); "
                f"got {list(tensor.shape)}."
            )
        return tensor


def _check_columns(
    name: str, values: np.ndarray, columns: tuple[str, ...], bounds: np.ndarray
) -> None:
    """422 naming the input, the first row and the column whose value is not finite or lies
    outside the column's physical range: what the JSON routes refuse too."""
    flat = values.reshape(-1, len(columns))
    bad = ~((flat >= bounds[:, 0]) & (flat <= bounds[:, 1]))  # NaN fails the comparisons
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        low, high = bounds[column]
        value = float(flat[row, column])
        what = "is not a finite number" if not np.isfinite(value) else f"{value:g} is outside"
        message = f"{columns[column]} {what} [{low:g}, {high:g}]"
        raise InvalidInput(
            f"Input '{name}', row {row}: {message}.",
            errors={name: {str(row): {columns[column]: [message + "."]}}},
        )


def _check_rows(name: str, count: int, limit: int, what: str) -> None:
    if count > limit:
        raise InvalidInput(
            f"Input '{name}' holds {count} {what}; at most {limit} are accepted. Split it.",
            errors={name: [f"At most {limit} {what}."]},
        )


def _channel_bounds(names: tuple[str, ...]) -> np.ndarray:
    return np.array([[BY_NAME[n].minimum, BY_NAME[n].maximum] for n in names])


# --- xgboost: rows of the four features, in the model's feature order --------------------------


def _infer_risk(model, inputs, parameters, config) -> Inferred:
    tensor = RISK.input_of(inputs)
    rows = tensor.values
    _check_rows(tensor.name, rows.shape[0], int(config["MAX_BATCH_SIZE"]), "rows")
    channels = tuple(model.feature_channels[f] for f in model.feature_order)
    _check_columns(tensor.name, rows, model.feature_order, _channel_bounds(channels))
    assessments = model.classify(model.predict(rows))
    outputs = [
        OutputTensor("probability", "FP32", np.array([a.probability for a in assessments])),
        OutputTensor("prediction", BYTES, np.array([a.prediction for a in assessments])),
        OutputTensor("at_risk", "BOOL", np.array([a.at_risk for a in assessments])),
    ]
    return Inferred(outputs, model.trained_ranges.rows_warnings(rows, model.feature_order))


RISK = Signature(
    family="xgboost",
    platform="xgboost",
    inputs=(TensorSpec("features", "FP32", (-1, 4)),),
    outputs=(
        TensorSpec("probability", "FP32", (-1,)),
        TensorSpec("prediction", BYTES, (-1,)),
        TensorSpec("at_risk", "BOOL", (-1,)),
    ),
    infer=_infer_risk,
)


# --- gru: windows of readings of the eight channels ---------------------------------------------

_CHANNEL_BOUNDS = np.array([[c.minimum, c.maximum] for c in CHANNELS])


def _infer_health(model, inputs, parameters, config) -> Inferred:
    from pumpapi.models.gru import INDICES, WINDOW

    tensor = HEALTH.input_of(inputs)
    windows = tensor.values
    if windows.shape[1] > WINDOW:
        raise InvalidInput(
            f"Input '{tensor.name}': a window holds 1 to {WINDOW} readings; got "
            f"{windows.shape[1]}.",
            errors={tensor.name: [f"1 to {WINDOW} readings per window."]},
        )
    limit = int(config["MAX_BATCH_SIZE"])
    _check_rows(tensor.name, windows.shape[0] * windows.shape[1], limit, "readings")
    _check_columns(tensor.name, windows, CHANNEL_NAMES, _CHANNEL_BOUNDS)
    assessments = [model.assess(window) for window in windows]
    outputs = [
        OutputTensor(
            "indices", "FP64", np.array([[a.indices[i] for i in INDICES] for a in assessments])
        ),
        OutputTensor(
            "status", BYTES, np.array([[a.status[i] for i in INDICES] for a in assessments])
        ),
    ]
    return Inferred(outputs, [a.warnings for a in assessments])


HEALTH = Signature(
    family="gru",
    platform="litert",
    inputs=(TensorSpec("window", "FP32", (-1, -1, len(CHANNEL_NAMES))),),
    outputs=(TensorSpec("indices", "FP64", (-1, 2)), TensorSpec("status", BYTES, (-1, 2))),
    infer=_infer_health,
)


# --- lstm: series of one signal ---------------------------------------------------------------


def _horizon(parameters: Mapping[str, Any]) -> int | None:
    from pumpapi.models.lstm import MAX_HORIZON

    horizon = parameters.get("horizon")
    if horizon is None:
        return None
    if type(horizon) is not int or not 1 <= horizon <= MAX_HORIZON:
        raise InvalidInput(
            f"Parameter 'horizon' must be a whole number from 1 to {MAX_HORIZON}.",
            errors={"horizon": [f"Must be from 1 to {MAX_HORIZON}."]},
        )
    return horizon


def _infer_forecast(model, inputs, parameters, config) -> Inferred:
    from pumpapi.blueprints.lstm.schemas import MAX_SERIES_LENGTH, TOO_SHORT
    from pumpapi.models.lstm import WINDOW

    tensor = FORECAST.input_of(inputs)
    series = tensor.values
    horizon = _horizon(parameters)
    length = series.shape[1]
    if not WINDOW <= length <= MAX_SERIES_LENGTH:
        message = TOO_SHORT if length < WINDOW else f"At most {MAX_SERIES_LENGTH} values"
        raise InvalidInput(
            f"Input '{tensor.name}': {message}; got {length}.",
            errors={tensor.name: [message]},
        )
    limit = int(config["MAX_BATCH_SIZE"])
    _check_rows(tensor.name, series.shape[0], max(1, limit // WINDOW), "series")
    if not np.isfinite(series).all():
        row = int(np.argwhere(~np.isfinite(series))[0][0])
        raise InvalidInput(
            f"Input '{tensor.name}', series {row}: every value must be a finite number.",
            errors={tensor.name: {str(row): ["Not a finite number."]}},
        )
    forecasts = [model.forecast(s, horizon) for s in series]
    outputs = [OutputTensor("prediction", "FP64", np.array([f.prediction for f in forecasts]))]
    if horizon is not None:
        outputs.append(OutputTensor("forecast", "FP64", np.array([f.forecast for f in forecasts])))
    return Inferred(outputs, [f.warnings for f in forecasts])


FORECAST = Signature(
    family="lstm",
    platform="litert",
    inputs=(TensorSpec("series", "FP64", (-1, -1)),),
    outputs=(TensorSpec("prediction", "FP64", (-1,)), TensorSpec("forecast", "FP64", (-1, -1))),
    infer=_infer_forecast,
)

SIGNATURES: dict[str, Signature] = {s.family: s for s in (RISK, HEALTH, FORECAST)}
