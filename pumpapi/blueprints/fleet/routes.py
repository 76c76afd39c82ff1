"""The fleet pages: /fleet (every pump), /fleet/<machine_name> (one pump), /fleet/models."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
)

from pumpapi import db, models
from pumpapi.blueprints.performance.routes import measure_drift, measure_performance
from pumpapi.channels import BY_NAME, CHANNEL_NAMES, CHANNELS
from pumpapi.errors import DatabaseUnavailable, MachineNotFound, PumpAPIError
from pumpapi.extensions import views

from . import access, overview

blp = Blueprint(
    "fleet",
    __name__,
    url_prefix="/fleet",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

#: No inline script or style, nothing from another origin: a value that slipped through
#: escaping could still not run. Data reaches the charts as JSON in non-executable
#: <script type="application/json"> blocks, read by the page's own script.
FORM = "application/x-www-form-urlencoded"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
OPEN_ENDPOINTS = frozenset({"fleet.login", "fleet.static"})
#: First path segments the fleet's fixed pages take: a pump named like one of them (or under
#: it, "models/a") is reached at /fleet/pumps/<name> instead, which nothing else shadows.
FIXED_SEGMENTS = frozenset({"login", "logout", "models", "static", "pumps"})


def pump_path(machine_name: str) -> str:
    """The URL of a pump's page: /fleet/<name>, or /fleet/pumps/<name> where a fixed page
    would take the first."""
    first = machine_name.split("/", 1)[0]
    prefix = "/fleet/pumps/" if first in FIXED_SEGMENTS else "/fleet/"
    return prefix + quote(machine_name, safe="/")


@blp.before_request
def _require_key():
    """With READ_API_KEYS set, a page needs the key's cookie (or the header): without it, the
    key form is answered in its place (401)."""
    g.fleet_started = time.perf_counter()
    if request.endpoint in OPEN_ENDPOINTS or access.allowed(current_app.config, request):
        return None
    return _login_page(401, next_page=request.full_path.rstrip("?"))


@blp.after_request
def _page_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    if request.endpoint != "fleet.static":
        response.headers["Cache-Control"] = "no-store"
        started = g.get("fleet_started")
        if started is not None:
            # How long the server took to build the page (the bench reads it).
            elapsed = (time.perf_counter() - started) * 1000
            response.headers["Server-Timing"] = f"page;dur={elapsed:.1f}"
    return response


def _login_page(status: int, next_page: str = "/fleet", error: str | None = None):
    page = render_template("fleet/login.html", next_page=access.safe_next(next_page), error=error)
    return make_response(page, status)


@blp.route("/login", methods=["GET", "POST"])
@views.declare(media_types=(FORM,))  # posted as a browser posts forms
def login():
    """The key form: a valid key sets the page cookie and goes on to the page asked for."""
    if request.method == "GET":
        if not access.keys(current_app.config):
            return redirect(access.safe_next(request.args.get("next")), code=303)
        return _login_page(200, request.args.get("next") or "/fleet")
    key = request.form.get("key", "")
    target = access.safe_next(request.form.get("next"))
    if not access.keys(current_app.config):
        return redirect(target, code=303)
    if not access.key_allows(current_app.config, key):
        return _login_page(403, target, error="Esta chave não permite a leitura.")
    response = redirect(target, code=303)
    response.set_cookie(
        access.COOKIE,
        access.token(key),
        max_age=access.COOKIE_MAX_AGE,
        path=access.COOKIE_PATH,
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
    )
    return response


@blp.route("/logout", methods=["POST"])
@views.declare(media_types=(FORM,))
def logout():
    response = redirect("/fleet/login", code=303)
    response.delete_cookie(access.COOKIE, path=access.COOKIE_PATH)
    return response


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@blp.route("")
def fleet():
    """Every pump: latest reading, risk and decision, health bands, top reason, trend."""
    now = _now()
    hourly = current_app.extensions["pumpapi.fleet.hourly"]
    found = overview.fleet_overview(db.store(), models.registry(), now, hourly)
    threshold_y = None if found.threshold is None else f"{20 - found.threshold * 20:.1f}"
    return render_template(
        "fleet/fleet.html",
        fleet=found,
        cells=[_cells(row, now) for row in found.rows],
        threshold_y=threshold_y,
        stale_minutes=int(overview.STALE_AFTER.total_seconds() // 60),
    )


_BAND_CLASS = {"OK": "band-ok", "ATENÇÃO": "band-atencao", "ALERTA": "band-alerta"}


def _cells(row: overview.PumpRow, now: dt.datetime) -> dict[str, Any]:
    """What a table row shows, as plain values: formatting here costs a fraction of doing it
    with Jinja filters and macros (200 rows: measured ~3× less template time)."""
    latest = row.latest_timestamp
    health = {}
    for index in ("lubrificacao", "hidraulico"):
        value = row.health.get(index)
        band = row.bands.get(index)
        health[index] = None if value is None else (f"{value:.1f}", band, _BAND_CLASS.get(band, ""))
    return {
        "row": row,
        "href": pump_path(row.machine),
        "latest_iso": latest.isoformat() if latest else None,
        "latest_text": latest.strftime("%Y-%m-%d %H:%M") if latest else None,
        "stale_hours": int(row.age_seconds // 3600) if row.age_seconds is not None else None,
        "risk_text": None if row.risk is None else f"{row.risk * 100:.1f}%",
        "health": health,
        "spark": overview.sparkline(row.trend, now),
        "trend_from": "prediction log" if row.trend_source == "log" else "readings",
        "classes": " ".join(c for c, on in (("stale", row.stale), ("at-risk", row.at_risk)) if on),
    }


def _choice(name: str, allowed: tuple, default: Any, cast=str) -> Any:
    raw = request.args.get(name)
    try:
        value = cast(raw) if raw is not None else default
    except ValueError:
        return default
    return value if value in allowed else default


@blp.route("/<path:machine_name>")
@blp.route("/pumps/<path:machine_name>")
def pump(machine_name: str):
    """One pump: telemetry, risk and health history, forecast, events."""
    hours = _choice("hours", overview.WINDOW_HOURS, overview.DEFAULT_HOURS, int)
    channel = _choice("channel", CHANNEL_NAMES, overview.DEFAULT_CHANNEL)
    registry = models.registry()
    try:
        detail = overview.pump_detail(db.store(), registry, machine_name, hours, channel)
    except MachineNotFound as exc:
        page = render_template("fleet/problem.html", title=machine_name, message=exc.message)
        return make_response(page, 404)
    except DatabaseUnavailable as exc:
        page = render_template(
            "fleet/problem.html",
            title=machine_name,
            message=exc.message,
            models=overview.served_models(registry),
        )
        response = make_response(page, 503)
        response.headers["Retry-After"] = str(current_app.config["RETRY_AFTER_SECONDS"])
        return response
    charts = {
        "telemetry": detail["telemetry"],
        "history": detail["history"],
        "logged": detail["logged"],
        "threshold": detail.get("threshold"),
        "forecast": _forecast_json(detail.get("forecast")),
        "events": [
            {"t": e.timestamp.timestamp(), "kind": e.kind, "cause": e.cause}
            for e in detail["events"]
        ],
        "units": {c.name: c.unit for c in CHANNELS},
    }
    return render_template(
        "fleet/pump.html",
        d=detail,
        page_path=pump_path(detail["machine"]),
        charts=charts,
        channels=CHANNELS,
        by_name=BY_NAME,
        windows=overview.WINDOW_HOURS,
    )


def _forecast_json(forecast: dict[str, Any] | None) -> dict[str, Any] | None:
    if not forecast:
        return None
    crossing = forecast.get("crossing")
    return {
        **{k: v for k, v in forecast.items() if k != "crossing"},
        "crossing_t": crossing["at"].timestamp() if crossing else None,
    }


def _attempt(problems: dict[str, str], part: str, work):
    try:
        return work()
    except PumpAPIError as exc:
        problems.setdefault(part, exc.message)
        return None


@blp.route("/models")
def models_page():
    """Each family: versions served, offline evaluation beside realized performance, drift."""
    registry = models.registry()
    served = overview.served_models(registry)
    panels = []
    for family in overview.FAMILIES:
        problems: dict[str, str] = {}
        state = served.get(family)
        offline = {}
        if state and state["ready"]:
            for version in state["versions"]:
                number = version["version"]
                model = _attempt(problems, family, lambda f=family, v=number: registry.get(f, v))
                if model is not None:
                    offline[number] = model.metadata.get("metrics") or {}
        performance = _attempt(problems, "performance", lambda f=family: measure_performance(f))
        drift = None
        if state and state["ready"]:
            drift = _attempt(problems, "drift", lambda f=family: measure_drift(f))
        panels.append(
            {
                "family": family,
                "state": state,
                "offline": offline,
                "comparison": _comparison(family, offline, performance),
                "drift": drift,
                "problems": problems,
            }
        )
    charts = {
        p["family"]: {
            "comparison": p["comparison"],
            "drift": [
                {"feature": i["feature"], "psi": i["psi"]}
                for i in (p["drift"] or {}).get("inputs", [])
            ],
        }
        for p in panels
    }
    return render_template("fleet/models.html", panels=panels, panels_json=charts)


#: Per family, the figures measured both offline (held-out pumps, at training) and realized
#: (the prediction log against what happened): realized name -> offline metrics path.
COMPARABLE = {
    "xgboost": {
        "roc_auc": "roc_auc",
        "brier": "brier",
        "precision": "precision",
        "recall": "recall",
    },
    "gru": {
        "mae_lubrificacao": "held_out.mae.lubrificacao",
        "mae_hidraulico": "held_out.mae.hidraulico",
    },
    # Channels differ in units: their MAEs are compared channel by channel, through MASE.
    "lstm": {
        "mase": "mase",
        **{f"per_channel.{c}.mase": f"per_channel.{c}.mase" for c in CHANNEL_NAMES},
    },
}


def _path(found: dict[str, Any], path: str) -> float | None:
    for key in path.split("."):
        if not isinstance(found, dict):
            return None
        found = found.get(key)
    return float(found) if isinstance(found, int | float) and not isinstance(found, bool) else None


def _comparison(
    family: str, offline: dict[str, dict[str, Any]], performance: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """Per version (served, or logged), each comparable figure offline beside realized (None
    until predictions are labelled), with the counts of logged and labelled predictions."""
    logged = {entry["version"]: entry for entry in (performance or {}).get("versions", [])}
    rows = []
    for version in sorted(set(offline) | set(logged), key=int):
        entry = logged.get(version, {})
        measured = entry.get("offline") or offline.get(version) or {}
        realized = entry.get("realized") or {}
        for name, path in COMPARABLE[family].items():
            rows.append(
                {
                    "version": version,
                    "metric": name,
                    "offline": _path(measured, path),
                    "realized": _path(realized, name),
                    "predictions": realized.get("predictions"),
                    "labelled": realized.get("labelled"),
                }
            )
    return rows
