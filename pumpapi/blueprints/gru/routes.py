"""Lubrication and hydraulic health (GRU): from posted readings or a pump's latest readings."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from pumpapi import db, models
from pumpapi.blueprints.fields import PredictQuerySchema
from pumpapi.errors import DatabaseUnavailable
from pumpapi.extensions.json import utc_iso
from pumpapi.extensions.smorest import Blueprint
from pumpapi.models.attribution import health_explanation
from pumpapi.models.baseline import QUANTITIES
from pumpapi.models.gru import (
    PADDING,
    RUNNING_FROM_RPM,
    HealthAssessment,
    HealthIndexModel,
    answered_windows,
    running,
)
from pumpapi.models.timing import timed_inference

from .schemas import (
    HEALTH_REQUEST,
    HealthInfoResponseSchema,
    HealthMachineQuerySchema,
    HealthResponseSchema,
    MachineHealthResponseSchema,
)

FAMILY = "gru"

blp = Blueprint(
    "gru",
    __name__,
    description="Health of a pump's lubrication and hydraulic subsystems (0–100, with OK / "
    "ATENÇÃO / ALERTA bands), from the last hour of its eight telemetry channels.",
)


def _model() -> HealthIndexModel:
    return models.requested(FAMILY)  # ?version=; 404 unknown, 503 not loaded


def _answer(
    model: HealthIndexModel, assessment: HealthAssessment, readings: Any, explain: bool
) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "success": True,
        "indices": assessment.indices,
        "status": assessment.status,
        "warnings": assessment.warnings,
    }
    if explain:
        answer["explanation"] = health_explanation(model, readings)
    return answer | {
        "meta": {
            **model.window_meta(),
            "given_rows": assessment.given_rows,
            "padded_rows": assessment.padded_rows,
            "padding": PADDING,
            "engine_running": bool(running(readings[-1])),
            "model_version": model.version.version,
        },
    }


def _baseline_meta(
    model: HealthIndexModel, baseline: Any, assessment: HealthAssessment, unavailable: bool
) -> dict[str, Any] | None:
    """`meta.pump_baseline` of a /machine answer: null for a version without a baseline
    network, else whether it answered, the pump's baseline, and why not when it did not."""
    if model.baseline is None:
        return None
    reason = None
    if unavailable:
        reason = "database_unavailable"
    elif baseline is None:
        reason = "too_few_readings_at_load"
    elif not assessment.used_baseline:
        reason = "window_not_at_load"
    return {
        "used": assessment.used_baseline,
        "values": None
        if baseline is None
        else {name: round(float(v), 4) for name, v in zip(QUANTITIES, baseline, strict=True)},
        "reason": reason,
    }


@blp.route("/model/gru/predict")
class Predict(MethodView):
    @blp.body(HEALTH_REQUEST)
    @blp.arguments(PredictQuerySchema, location="query")
    @blp.response(200, HealthResponseSchema)
    @blp.alt_response(
        422, description="A channel is missing, unknown, not a number or out of range."
    )
    @blp.alt_response(503, description="The model is not loaded (see /health/ready).")
    def post(self, body, query):
        """Lubrication and hydraulic health from posted readings

        Send one reading of the eight channels, keyed by name in any order: `Eng_RPM` (engine
        speed, rpm), `Cool_T` (coolant temperature, °C), `Oil_P` (oil pressure, bar), `Oil_L`
        (oil level, % or sensor units), `Recalque` (discharge pressure, bar), `Succao` (suction
        pressure, bar), `Bat_V` (battery voltage, V), `Char_V` (alternator voltage, V). Or send a
        window `{"readings": [...]}` of 1 to 60 consecutive readings, oldest first.

        The model reads exactly 60 readings (an hour at one a minute). A shorter input is
        padded in front with copies of its oldest reading, as if the pump had held that state
        before: `meta.given_rows` and `meta.padded_rows` say how many of each the answer rests
        on. One reading gives a rough answer; a full window a reliable one.

        `indices` are 0–100 (100 = as new); `status` bands them: `OK` ≥ 70, `ATENÇÃO` 40 to
        below 70 (plan an inspection), `ALERTA` < 40 (act now).

        `warnings` lists the channels with a value outside the range of the training data
        (`OUT_OF_TRAINING_RANGE`, with the value and the trained range); such a window is read
        with those values clipped to the range, and its indices are capped at 69.99
        (ATENÇÃO): the model cannot vouch for a pump unlike any it has seen. Empty otherwise.

        With `?explain=true` the answer also has `explanation`: for each index, the index
        points each channel accounts for (occlusion against a healthy running pump) and the
        channels lowering it most, in words.
        """
        model = _model()
        with timed_inference(model):
            assessment = model.assess(body.rows)
        return _answer(model, assessment, body.rows, query["explain"])


@blp.route("/machine/gru/predict")
class MachinePredict(MethodView):
    @blp.arguments(HealthMachineQuerySchema, location="query")
    @blp.response(200, MachineHealthResponseSchema)
    @blp.alt_response(404, description="The pump is unknown or has no readings.")
    @blp.alt_response(422, description="`machine_name` missing, or `time_steps` not 1 to 60.")
    @blp.alt_response(503, description="PostgreSQL or the model is unavailable; retry later.")
    def post(self, query):
        """Lubrication and hydraulic health of a pump, from its latest readings in the database

        Reads the pump's latest `time_steps` readings (default 60, at most 60) and answers like
        `/model/gru/predict`. A pump with fewer readings still gets an answer, padded the same
        way: compare `meta.fetched_rows` with `meta.requested_time_steps`.

        A stopped engine shows little of its health (no oil pressure, no head), and health
        does not change while it stands: a pump whose latest reading is stopped is answered
        from the readings ending at its last reading with the engine running
        (`meta.basis` = `last_run`, else `latest`). `meta.last_timestamp` is the newest reading
        used, `meta.latest_timestamp` the pump's newest reading, so a pump that stopped
        reporting shows as stale. `explain=true` adds the `explanation` described on
        `/model/gru/predict`.
        """
        model = _model()
        requested = query["time_steps"]
        store = db.store()
        latest = store.latest_window(query["machine_name"], requested)
        window, basis = answered_windows(
            {latest.machine: latest},
            lambda stopped: store.last_run_windows(requested, RUNNING_FROM_RPM, stopped),
        )[latest.machine]
        baseline, unavailable = None, False
        if model.baseline is not None:
            start = {window.machine: window.timestamps[0]}
            try:
                found = store.pump_baselines(model.baseline.normalisation, start)
                baseline = found[window.machine]
            except DatabaseUnavailable:  # the window is in hand: answered from it alone
                unavailable = True
        with timed_inference(model):
            assessment = model.assess(window.values, baseline)
        answer = _answer(model, assessment, window.values, query["explain"])
        answer["meta"].update(
            pump_baseline=_baseline_meta(model, baseline, assessment, unavailable),
            machine=window.machine,
            fetched_rows=len(window),
            requested_time_steps=requested,
            first_timestamp=utc_iso(window.timestamps[0]),
            last_timestamp=utc_iso(window.timestamps[-1]),
            latest_timestamp=utc_iso(latest.timestamps[-1]),
            basis=basis,
        )
        return answer


@blp.route("/model/gru/info")
class Info(MethodView):
    @blp.response(200, HealthInfoResponseSchema)
    @blp.alt_response(503, description="The model is not loaded (see /health/ready).")
    def get(self):
        """Which health model answers, and how good it is

        The fields of the original service (model type, input and output shapes, file size and
        date, scaler, feature order), then the version, the artifact served and its sha256, and
        the mean absolute error of each index on held-out pumps never seen in training, beside
        that of naive baselines (so "MAE 3.1 points" can be read against "MAE 18 points by
        always answering the fleet average").
        """
        return {
            "success": True,
            "model_info": _model().info(),
            "versions": models.registry().versions(FAMILY),
        }
