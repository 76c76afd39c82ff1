"""Signal forecasts (LSTM): the next value(s) of a posted series or of a pump's channel."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np
from flask.views import MethodView

from pumpapi import db, models
from pumpapi.channels import BY_NAME, CHANNEL_NAMES
from pumpapi.errors import InvalidInput
from pumpapi.extensions.json import utc_iso
from pumpapi.extensions.smorest import Blueprint
from pumpapi.models.lstm import WINDOW, Forecast, SeriesForecaster
from pumpapi.models.timing import timed_inference

from .schemas import (
    TOO_SHORT,
    ForecasterInfoResponseSchema,
    ForecastMachineQuerySchema,
    ForecastResponseSchema,
    SeriesRequestSchema,
    VersionQuerySchema,
)

FAMILY = "lstm"

blp = Blueprint(
    "lstm",
    __name__,
    description="Where a signal is going: the next value (or next few) of any telemetry series, "
    "from its last 60 values.",
)


def _model() -> SeriesForecaster:
    return models.requested(FAMILY)  # ?version=; 404 unknown, 503 not loaded


def _answer(model: SeriesForecaster, result: Forecast, given: int, horizon: int | None):
    answer: dict[str, Any] = {
        "success": True,
        "prediction": result.prediction,
        "warnings": result.warnings,
    }
    if result.forecast is not None:
        answer["forecast"] = result.forecast
    answer["meta"] = {
        "given_values": given,
        "used_values": result.used_values,
        "horizon": horizon,
        "model_version": model.version.version,
    }
    return answer


def _forecast_series(body: dict[str, Any]) -> dict[str, Any]:
    model = _model()
    series = body["data"]
    horizon = body.get("horizon")
    with timed_inference(model):
        result = model.forecast(series, horizon)
    return _answer(model, result, len(series), horizon)


_SERIES_DESCRIPTION = f"""

Send `{{"data": [v1, v2, ...]}}`: at least {WINDOW} values of one signal, oldest first, in
any unit and at any scale. The model reads the last {WINDOW}; each window is centred on its
mean and divided by its spread before the model sees it, so the same model forecasts an oil
pressure around 4 bar and a series in the hundreds. `prediction` is the next value, in the
series' unit. With `"horizon": h` (1 to 60) the answer also has `forecast`, the next h values.
`warnings` lists an `OUT_OF_TRAINING_RANGE` (field `data`) when a value read lies outside every
value of the telemetry the model was trained on (from a pump: outside that channel's range).
Fewer than {WINDOW} values → 422 "{TOO_SHORT}".
"""


def _series_operation(view: Callable[..., Any]) -> Callable[..., Any]:
    """The body, answers and errors of a forecast of a posted series (POST, and GET with a body)."""
    for decorate in (
        blp.alt_response(503, description="The model is not loaded (see /health/ready)."),
        blp.alt_response(422, description=f"{TOO_SHORT}, or a value is not a finite number."),
        blp.response(200, ForecastResponseSchema),
        blp.arguments(VersionQuerySchema, location="query"),
        blp.arguments(SeriesRequestSchema),
    ):
        view = decorate(view)
    return view


@blp.route("/model/lstm/predict")
# The original LSTM service's route (seed-002): its clients call it unchanged.
@blp.route("/predict", endpoint="SeedPredict")
class Predict(MethodView):
    @_series_operation
    def post(self, body, query):
        return _forecast_series(body)

    @_series_operation
    def get(self, body, query):
        return _forecast_series(body)

    post.__doc__ = "Forecast the next value of a posted series" + _SERIES_DESCRIPTION
    get.__doc__ = (
        "Forecast the next value of a series (GET with a JSON body, for older clients)"
        + _SERIES_DESCRIPTION
        + "\nPrefer POST: some proxies drop the body of a GET."
    )


@blp.route("/machine/lstm/predict")
class MachinePredict(MethodView):
    @blp.arguments(ForecastMachineQuerySchema, location="query")
    @blp.response(200, ForecastResponseSchema)
    @blp.alt_response(404, description="The pump is unknown or has no readings.")
    @blp.alt_response(
        422, description="Bad `channel` or `horizon`, or fewer than 60 readings stored."
    )
    @blp.alt_response(503, description="PostgreSQL or the model is unavailable; retry later.")
    def post(self, query):
        """Forecast a pump's channel from its latest 60 readings in the database

        `channel` is one of `Eng_RPM`, `Cool_T`, `Oil_P`, `Oil_L`, `Recalque`, `Succao`,
        `Bat_V`, `Char_V`; the answer is in that channel's unit (`meta.unit`). With `horizon`
        the next values come with `meta.forecast_timestamps`, spaced by the pump's reporting
        interval (`meta.interval_seconds`, the median gap of the readings used). A pump with
        fewer than 60 readings stored gets 422, since no forecast is made from less.
        """
        model = _model()
        machine, channel, horizon = query["machine_name"], query["channel"], query.get("horizon")
        window = db.store().latest_window(machine, WINDOW)
        if len(window) < WINDOW:
            raise InvalidInput(
                f"{TOO_SHORT}: {window.machine} has only {len(window)} readings stored.",
                errors={"machine_name": [f"{TOO_SHORT}; this pump has {len(window)}."]},
            )
        series = window.values[:, CHANNEL_NAMES.index(channel)]
        with timed_inference(model):
            result = model.forecast(series, horizon, channel=channel)
        answer = _answer(model, result, len(series), horizon)
        gaps = np.diff([t.timestamp() for t in window.timestamps])
        interval = float(np.median(gaps)) if len(gaps) else None
        last = window.timestamps[-1]
        answer["meta"].update(
            machine=window.machine,
            channel=channel,
            unit=BY_NAME[channel].unit,
            fetched_rows=len(window),
            last_timestamp=utc_iso(last),
            interval_seconds=interval,
        )
        if horizon is not None and interval:
            answer["meta"]["forecast_timestamps"] = [
                utc_iso(last + dt.timedelta(seconds=interval * step))
                for step in range(1, horizon + 1)
            ]
        return answer


@blp.route("/model/lstm/info")
class Info(MethodView):
    @blp.response(200, ForecasterInfoResponseSchema)
    @blp.alt_response(503, description="The model is not loaded (see /health/ready).")
    def get(self):
        """Which forecaster answers, and how good it is

        Version, artifact served and its sha256, input shape and how series are normalised,
        and the error on held-out pumps never seen in training: MAE per channel beside that of
        the persistence forecast (next value = last value), and MASE (below 1 beats it).
        """
        return {
            "success": True,
            "model_info": _model().info(),
            "versions": models.registry().versions(FAMILY),
        }
