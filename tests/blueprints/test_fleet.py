"""The fleet pages (/fleet, /fleet/<machine_name>, /fleet/models) on the real PostgreSQL and the
fixture models: the same answers as the API, escaped, behind the read keys, and degraded like
the API when PostgreSQL is down."""

from __future__ import annotations

import datetime as dt
import html
import json
import re

import psycopg
import pytest

from pumpapi import db
from pumpapi.db import copy_fleet, predictions, to_conninfo
from pumpapi.db.events import Event, store_events
from pumpapi.devtools.processes import free_port
from tests.fixtures.db import pump_history

HOSTILE = "<script>alert(1)</script>"
READ_KEY = "reader-key"


def fleet_histories(now: dt.datetime) -> list:
    """Three healthy pumps reporting now (one stopped for its last 40 minutes), one at risk (oil
    pressure and alternator gone), one stale (silent for two days), and one named like an
    attack."""
    start = now - dt.timedelta(hours=3)
    pumps = [pump_history(f"MOTOBOMBA-00{i}", 180, start=start, seed=i) for i in (1, 2, 3)]
    pumps[1].readings[-40:, [0, 2]] = 0.0  # Eng_RPM, Oil_P: the engine stands
    failing = pump_history("MOTOBOMBA-004", 180, start=start, seed=4)
    failing.readings[-90:, 2] = 0.4  # Oil_P
    failing.readings[-90:, 7] = failing.readings[-90:, 6]  # Char_V down to Bat_V
    stale = pump_history("MOTOBOMBA-005", 180, start=now - dt.timedelta(days=2, hours=3), seed=5)
    hostile = pump_history(HOSTILE, 180, start=start, seed=6)
    # Eight hours behind it: answered with its baseline (the pump's own week so far).
    settled = pump_history("MOTOBOMBA-006", 480, start=now - dt.timedelta(hours=8), seed=7)
    return [*pumps, failing, stale, hostile, settled]


@pytest.fixture
def fleet_app(make_app, all_families_root, database_url):
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    conninfo = to_conninfo(database_url)
    copy_fleet(conninfo, fleet_histories(now))
    with psycopg.connect(conninfo, autocommit=True) as conn:
        store_events(
            conn,
            [Event("MOTOBOMBA-001", now - dt.timedelta(hours=1), "failure", cause="oil_leak")],
        )
    app = make_app(
        MODEL_STORE=str(all_families_root),
        MODEL_FAMILIES=("xgboost", "gru", "lstm"),
        DATABASE_URL=database_url,
        PREDICTION_LOG=True,
        PREDICTION_LOG_FLUSH_SECONDS=3600,
    )
    yield app
    predictions.of(app).close()
    db.store(app).close()


def rows(page: str) -> dict[str, dict[str, str]]:
    """The fleet table's rows by pump: their data-* attributes (unescaped)."""
    found = {}
    for attributes in re.findall(r"<tr (data-machine=.*?)>", page, flags=re.S):
        values = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', attributes))
        values["class"] = re.search(r'class="([^"]*)"', attributes).group(1)
        found[html.unescape(values["machine"])] = values
    return found


def chart_data(page: str) -> dict:
    block = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', page, re.S)
    return json.loads(block.group(1))


def test_the_table_answers_like_the_api_for_every_pump(fleet_app):
    client = fleet_app.test_client()
    response = client.get("/fleet")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    table = rows(page)
    assert set(table) == {f"MOTOBOMBA-00{i}" for i in range(1, 7)} | {HOSTILE}
    for pump in ("MOTOBOMBA-001", "MOTOBOMBA-002", "MOTOBOMBA-004", "MOTOBOMBA-006", HOSTILE):
        # The table reads one reading per pump: the reading model's answer (README).
        risk = client.post(
            "/machine/predict", query_string={"machine_name": pump, "model": "reading"}
        ).get_json()
        health = client.post("/machine/gru/predict", query_string={"machine_name": pump})
        assert float(table[pump]["risk"]) == pytest.approx(risk["result"]["probability"])
        assert table[pump]["at-risk"] == ("yes" if risk["result"]["at_risk"] else "no")
        indices = health.get_json()["indices"]
        used = health.get_json()["meta"]["pump_baseline"]["used"]
        assert used is (pump == "MOTOBOMBA-006")  # the others have three hours of readings
        assert float(table[pump]["lub"]) == pytest.approx(indices["lubrificacao"])
        assert float(table[pump]["hyd"]) == pytest.approx(indices["hidraulico"])
    # The failing pump is at risk and comes first (riskiest first), with a reason in words.
    assert table["MOTOBOMBA-004"]["at-risk"] == "yes"
    assert list(table)[0] == "MOTOBOMBA-004"
    explained = client.post(
        "/machine/predict",
        query_string={"machine_name": "MOTOBOMBA-004", "explain": "true", "model": "reading"},
    ).get_json()["result"]["explanation"]
    reason = re.search(r'data-machine="MOTOBOMBA-004".*?<td class="reason">(.*?)</td>', page, re.S)
    assert html.unescape(reason.group(1)) == explained["reasons"][0]["text"]
    # Stale stands out; fresh does not.
    assert "stale" in table["MOTOBOMBA-005"]["class"].split()
    assert "stale" not in table["MOTOBOMBA-001"]["class"].split()
    # A trend for every pump reporting in the last day (from the readings: nothing logged yet).
    assert page.count('class="spark-line"') == 6
    assert "from the readings" in page


def test_the_trend_comes_from_the_prediction_log_where_it_holds_one(fleet_app, database_url):
    client = fleet_app.test_client()
    for _ in range(2):
        client.post("/machine/predict", query_string={"machine_name": "MOTOBOMBA-002"})
    assert predictions.of(fleet_app).flush() == 2
    with psycopg.connect(to_conninfo(database_url), autocommit=True) as conn:
        conn.execute(
            "UPDATE predictions SET ts = ts - interval '2 hours' WHERE ctid = "
            "(SELECT ctid FROM predictions LIMIT 1)"
        )
    page = client.get("/fleet").get_data(as_text=True)
    assert page.count("from the prediction log") == 1
    row = re.search(r'data-machine="MOTOBOMBA-002".*?</tr>', page, re.S).group(0)
    assert "prediction log" in row


def test_a_hostile_pump_name_is_shown_as_text(fleet_app):
    client = fleet_app.test_client()
    for path in ("/fleet", "/fleet/%3Cscript%3Ealert(1)%3C/script%3E"):
        page = client.get(path).get_data(as_text=True)
        assert HOSTILE not in page
        assert html.escape(HOSTILE) in page or "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        # No inline script at all: only the page's own files and JSON data blocks.
        for tag in re.findall(r"<script[^>]*>", page):
            assert 'src="/fleet/static/' in tag or 'type="application/json"' in tag, tag
    data = chart_data(client.get("/fleet/%3Cscript%3Ealert(1)%3C/script%3E").get_data(True))
    assert data["telemetry"]["t"]  # its readings were found by its real name


def test_the_pump_page_charts_telemetry_history_forecast_and_events(fleet_app):
    client = fleet_app.test_client()
    response = client.get("/fleet/MOTOBOMBA-001?hours=6&channel=Oil_P")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    data = chart_data(response.get_data(as_text=True))
    assert len(data["telemetry"]["t"]) == 180 and len(data["telemetry"]["Oil_P"]) == 180
    assert set(data["history"]) == {"t", "risk", "lubrificacao", "hidraulico"}
    assert 1 < len(data["history"]["t"]) <= 48
    forecast = client.post(
        "/machine/lstm/predict",
        query_string={"machine_name": "MOTOBOMBA-001", "channel": "Oil_P", "horizon": 60},
    ).get_json()
    assert data["forecast"]["values"] == pytest.approx(forecast["forecast"], abs=1e-3)
    assert [e["kind"] for e in data["events"]] == ["failure"]
    assert 'id="events"' in response.get_data(as_text=True)
    # A window not offered falls back to the default; an unknown pump is a 404 page.
    assert client.get("/fleet/MOTOBOMBA-001?hours=9999").status_code == 200
    missing = client.get("/fleet/MOTOBOMBA-999")
    assert missing.status_code == 404 and missing.mimetype == "text/html"


@pytest.mark.parametrize(
    ("pump", "basis", "with_baseline"),
    [("MOTOBOMBA-002", "last_run", False), ("MOTOBOMBA-006", "latest", True)],
)
def test_the_pump_page_rates_a_pump_like_the_api(fleet_app, pump, basis, with_baseline):
    """A stopped pump from its last run; a pump with hours behind it with its baseline."""
    client = fleet_app.test_client()
    data = chart_data(client.get(f"/fleet/{pump}?hours=6").get_data(as_text=True))
    answer = client.post("/machine/gru/predict", query_string={"machine_name": pump}).get_json()
    assert answer["meta"]["basis"] == basis
    assert answer["meta"]["pump_baseline"]["used"] is with_baseline
    for index, value in answer["indices"].items():
        assert data["history"][index][-1] == pytest.approx(value)


def test_a_forecast_toward_failure_names_the_band_and_when(fleet_app):
    page = fleet_app.test_client().get("/fleet/MOTOBOMBA-004?channel=Oil_P")
    data = chart_data(page.get_data(as_text=True))
    # Already at risk: the risk decision cannot be crossed again; a health band may be, or none.
    text = page.get_data(as_text=True)
    assert ("No band crossed" in text) != (data["forecast"]["crossing_t"] is not None)


def test_the_models_page_shows_versions_evaluation_and_drift(fleet_app):
    client = fleet_app.test_client()
    for pump in ("MOTOBOMBA-001", "MOTOBOMBA-002"):
        client.post("/machine/predict", query_string={"machine_name": pump})
    predictions.of(fleet_app).flush()
    response = client.get("/fleet/models")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for family in ("xgboost", "gru", "lstm"):
        assert f'id="panel-{family}"' in page
    data = chart_data(page)
    drift = client.get("/model/gru/drift").get_json()
    assert data["gru"]["drift"] == [
        {"feature": i["feature"], "psi": i["psi"]} for i in drift["inputs"]
    ]
    assert len(data["xgboost"]["drift"]) == 4
    # Offline figures beside the realized ones (none labelled yet: the horizon is 24 h).
    info = client.get("/model/xgboost/info").get_json()["model_info"]
    roc = [r for r in data["xgboost"]["comparison"] if r["metric"] == "roc_auc"]
    assert roc == [
        {"version": info["version"], "metric": "roc_auc", "offline": info["metrics"]["roc_auc"],
         "realized": None, "predictions": 2, "labelled": 0}
    ]  # fmt: skip


def test_reads_need_the_key_form_and_its_cookie(make_app, all_families_root, database_url):
    app = make_app(
        MODEL_STORE=str(all_families_root),
        MODEL_FAMILIES=("xgboost",),
        DATABASE_URL=database_url,
        READ_API_KEYS=(READ_KEY,),
    )
    try:
        client = app.test_client()
        refused = client.get("/fleet/models")
        assert refused.status_code == 401 and 'name="key"' in refused.get_data(as_text=True)
        assert client.get("/fleet/static/fleet.css").status_code == 200
        wrong = client.post("/fleet/login", data={"key": "guess", "next": "/fleet/models"})
        assert wrong.status_code == 403 and not wrong.headers.get("Set-Cookie")
        right = client.post("/fleet/login", data={"key": READ_KEY, "next": "/fleet/models"})
        assert right.status_code == 303 and right.headers["Location"] == "/fleet/models"
        cookie = right.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/fleet" in cookie
        assert READ_KEY not in cookie
        assert client.get("/fleet/models").status_code == 200
        # The cookie is no API key, and another site is never where the form leads.
        token = client.get_cookie("pumpapi_fleet", path="/fleet").value
        assert client.get("/machines", headers={"X-API-Key": token}).status_code == 403
        away = client.post("/fleet/login", data={"key": READ_KEY, "next": "//evil.example/x"})
        assert away.headers["Location"] == "/fleet"
        # The header works too, for clients that can send it.
        other = app.test_client()
        assert other.get("/fleet/models", headers={"X-API-Key": READ_KEY}).status_code == 200
    finally:
        db.store(app).close()


def test_with_postgresql_down_the_page_says_so_and_the_models_still_show(
    make_app, all_families_root
):
    app = make_app(
        MODEL_STORE=str(all_families_root),
        MODEL_FAMILIES=("xgboost", "gru", "lstm"),
        DATABASE_URL=f"postgresql://nobody@127.0.0.1:{free_port()}/none",
    )
    client = app.test_client()
    response = client.get("/fleet")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="db-problem"' in page and "not reachable" in page
    assert page.count('class="model-card ready"') == 3
    models_page = client.get("/fleet/models").get_data(as_text=True)
    assert models_page.count('<table class="versions">') == 3
    assert "performance: The telemetry database is not reachable" in models_page
    pump = client.get("/fleet/MOTOBOMBA-001")
    assert pump.status_code == 503 and pump.headers["Retry-After"]
    assert 'id="models-served"' in pump.get_data(as_text=True)


def test_the_trend_from_readings_is_the_model_at_each_hour(fleet_app):
    from pumpapi import db, models
    from pumpapi.blueprints.fleet import overview

    with fleet_app.app_context():
        now = dt.datetime.now(dt.UTC)
        found = overview.fleet_overview(
            db.store(), models.registry(), now, overview.HourlyReadings()
        )
        rows = {row.machine: row for row in found.rows}
        window = db.store().latest_window("MOTOBOMBA-001", 180)
    trend = rows["MOTOBOMBA-001"].trend
    # Three hours of readings: one point at each of the last hours that had a reading.
    assert rows["MOTOBOMBA-001"].trend_source == "readings" and 3 <= len(trend) <= 4
    times = [moment for moment, _ in trend]
    assert times == sorted(times) and all(t in window.timestamps for t in times)
    # The newest point is the pump's latest reading, so its risk is the row's.
    assert times[-1] == window.timestamps[-1]
    assert trend[-1][1] == pytest.approx(rows["MOTOBOMBA-001"].risk, abs=1e-6)
    assert rows["MOTOBOMBA-005"].trend == []  # silent for two days: nothing in the last one
    assert overview.sparkline(trend, now).count(",") == len(trend)


def test_the_key_form_never_leads_away():
    from pumpapi.blueprints.fleet.access import safe_next

    assert safe_next("/fleet/MOTOBOMBA-001?hours=6") == "/fleet/MOTOBOMBA-001?hours=6"
    for target in ("//evil.example", "https://evil.example/fleet", "/fleet\\@evil", None, "/x"):
        assert safe_next(target) == "/fleet"


def test_a_pump_named_like_a_fixed_page_has_a_page_of_its_own(fleet_app, database_url):
    """/fleet/models and /fleet/login are the fleet's pages; pumps named "models" or
    "login/2" are linked at /fleet/pumps/<name>, and their pages show them."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = now - dt.timedelta(hours=3)
    copy_fleet(
        to_conninfo(database_url),
        [pump_history(name, 180, start=start, seed=7) for name in ("models", "login/2")],
    )
    client = fleet_app.test_client()
    table = client.get("/fleet").get_data(True)
    for name in ("models", "login/2"):
        href = f'href="/fleet/pumps/{name}"'
        assert href in table, f"{name} is not linked past the fixed page"
        page = client.get(f"/fleet/pumps/{name}")
        assert page.status_code == 200
        assert f'action="/fleet/pumps/{name}"' in page.get_data(True)  # the window form too
    assert 'href="/fleet/MOTOBOMBA-001"' in table  # other pumps keep the short address
    models = client.get("/fleet/models").get_data(True)
    assert "drift" in models.lower() and 'action="/fleet/pumps/models"' not in models
