"""The fleet pages in a real browser: Debian's headless Chromium (chromium-driver, through
selenium) against the real gunicorn and PostgreSQL, on a simulated fleet ending now.

One gunicorn and one browser for the whole module. Each page must load without a console
error, draw its charts (canvases with pixels), sort and filter, and show a hostile pump name
as text. Screenshots go to FLEET_SCREENSHOTS (a folder; the README's are made with
`FLEET_SCREENSHOTS=docs`), else to a temporary folder.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from pumpapi.db import copy_fleet, to_conninfo
from pumpapi.db.events import Event, store_events
from pumpapi.devtools.simulator import simulate_fleet
from tests.fixtures.db import fresh_schema, pump_history
from tests.fixtures.gunicorn import GunicornServer

HOSTILE = "<script>alert(1)</script>"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def site(pg_cluster, all_families_root, tmp_path_factory):
    """gunicorn serving a simulated fleet of 12 pumps (a day each, ending now), a stale pump, a
    pump with a hostile name, and a few events."""
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    with fresh_schema(pg_cluster) as url:
        conninfo = to_conninfo(url)
        fleet = simulate_fleet(12, 1440, seed=3, start=now - dt.timedelta(minutes=1439))
        stale = simulate_fleet(1, 600, seed=4, start=now - dt.timedelta(days=3), first_index=13)
        hostile = pump_history(HOSTILE, 600, start=now - dt.timedelta(minutes=599), seed=9)
        copy_fleet(conninfo, [*fleet, *stale, hostile])
        with psycopg.connect(conninfo, autocommit=True) as conn:
            store_events(
                conn,
                [
                    Event("MOTOBOMBA-001", now - dt.timedelta(hours=5), "oil_change"),
                    Event(
                        "MOTOBOMBA-001",
                        now - dt.timedelta(hours=2),
                        "inspection",
                        lubrificacao=82.0,
                        hidraulico=64.0,
                    ),
                ],
            )
        server = GunicornServer(
            {
                "PUMPAPI_MODEL_STORE": str(all_families_root),
                "PUMPAPI_MODEL_FAMILIES": "xgboost,gru,lstm",
                "PUMPAPI_MODEL_WATCH_SECONDS": "0",
                "DATABASE_URL": url,
            },
            tmp_path_factory.mktemp("fleet-site") / "gunicorn.log",
            workers=1,
        )
        server.start()
        yield server
        server.stop()


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # the suite may run as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
        "--hide-scrollbars",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    folder = os.environ.get("FLEET_SCREENSHOTS")
    return Path(folder) if folder else tmp_path_factory.mktemp("screenshots")


def load(browser, url: str) -> None:
    """Open a page and check that it loaded without a console error."""
    browser.get_log("browser")  # forget what earlier pages logged
    browser.get(url)
    WebDriverWait(browser, 20).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors


def drawn_canvases(browser) -> list[int]:
    """For each canvas of the page, how many of its pixels are not transparent."""
    return browser.execute_script(
        """
        return Array.from(document.querySelectorAll('canvas')).map(function (c) {
          var data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, n = 0;
          for (var i = 3; i < data.length; i += 4) if (data[i] !== 0) n += 1;
          return n;
        });
        """
    )


def shot(browser, folder: Path, name: str, width: int = 1280) -> None:
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(width, min(max(height + 40, 700), 4000))
    folder.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(folder / name))
    browser.set_window_size(1280, 1000)


def visible_rows(browser) -> list:
    return [
        row
        for row in browser.find_elements(By.CSS_SELECTOR, "#fleet tbody tr")
        if row.is_displayed()
    ]


def test_the_fleet_table_sorts_filters_and_keeps_a_hostile_name_as_text(site, browser, screenshots):
    load(browser, f"{site.url}/fleet")
    rows = visible_rows(browser)
    assert len(rows) == 14
    risks = [float(r.get_attribute("data-risk")) for r in rows]
    assert risks == sorted(risks, reverse=True)  # riskiest first
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.spark polyline")) == 13  # not stale
    assert browser.find_elements(By.CSS_SELECTOR, "tr.stale[data-machine='MOTOBOMBA-013']")

    # The hostile name is text in a link, and nothing ran.
    names = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "td.machine a")]
    assert HOSTILE in names
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018
    shot(browser, screenshots, "fleet.png")

    sort_by_name = browser.find_element(By.CSS_SELECTOR, "button[data-sort='machine']")
    sort_by_name.click()
    ordered = [r.get_attribute("data-machine") for r in visible_rows(browser)]
    assert ordered == sorted(ordered, key=str.lower)
    sort_by_name.click()
    assert [r.get_attribute("data-machine") for r in visible_rows(browser)] == ordered[::-1]
    browser.find_element(By.CSS_SELECTOR, "button[data-sort='lub']").click()
    lub = [float(r.get_attribute("data-lub")) for r in visible_rows(browser)]
    assert lub == sorted(lub)

    search = browser.find_element(By.ID, "filter")
    search.send_keys("MOTOBOMBA-007")
    assert [r.get_attribute("data-machine") for r in visible_rows(browser)] == ["MOTOBOMBA-007"]
    search.clear()
    search.send_keys("alert(1)")
    assert [r.get_attribute("data-machine") for r in visible_rows(browser)] == [HOSTILE]
    search.clear()
    search.send_keys(" ")  # `clear` fires no input event: type to refilter
    Select(browser.find_element(By.ID, "state-filter")).select_by_value("stale")
    assert [r.get_attribute("data-machine") for r in visible_rows(browser)] == ["MOTOBOMBA-013"]
    Select(browser.find_element(By.ID, "state-filter")).select_by_value("at-risk")
    at_risk = browser.find_elements(By.CSS_SELECTOR, "#fleet tbody tr[data-at-risk='yes']")
    assert {r.get_attribute("data-machine") for r in visible_rows(browser)} == {
        r.get_attribute("data-machine") for r in at_risk
    }
    assert browser.find_element(By.ID, "shown-count").text.endswith("of 14 pumps")


def test_the_fleet_table_is_readable_on_a_phone(site, browser):
    browser.set_window_size(390, 844)
    try:
        # Each page keeps the phone's width: only the fleet table scrolls sideways, in its
        # frame; the charts take the screen's width.
        for page in ("/fleet", "/fleet/MOTOBOMBA-001", "/fleet/models"):
            load(browser, f"{site.url}{page}")
            page_width = browser.execute_script("return document.documentElement.scrollWidth")
            viewport = browser.execute_script("return window.innerWidth")
            assert page_width <= viewport, page
    finally:
        browser.set_window_size(1280, 1000)


def test_a_pump_page_draws_its_charts(site, browser, screenshots):
    load(browser, f"{site.url}/fleet/MOTOBOMBA-001?hours=24&channel=Oil_P")
    charts = browser.find_elements(By.CSS_SELECTOR, ".chart .uplot")
    assert len(charts) == 10  # risk and health, forecast, eight channels
    drawn = drawn_canvases(browser)
    assert len(drawn) == 10 and min(drawn) > 500, drawn
    assert browser.find_element(By.ID, "events").text.count("MOTOBOMBA") == 0
    assert "inspection" in browser.find_element(By.ID, "events").text
    shot(browser, screenshots, "fleet-pump.png")

    Select(browser.find_element(By.ID, "channel")).select_by_value("Cool_T")
    WebDriverWait(browser, 20).until(lambda d: "channel=Cool_T" in d.current_url)
    WebDriverWait(browser, 20).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, ".chart .uplot")) == 10
    )
    assert "Forecast of Cool_T" in browser.find_element(By.ID, "crossing").text

    load(browser, f"{site.url}/fleet/{quote(HOSTILE, safe='/')}")
    assert browser.find_element(By.ID, "pump-name").text == HOSTILE
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018
    assert min(drawn_canvases(browser)) > 500


def test_the_models_page_draws_drift_and_evaluation(site, browser, screenshots):
    # Logged predictions about pumps give the models page realized figures to chart.
    import requests

    for pump in ("MOTOBOMBA-002", "MOTOBOMBA-003"):
        answer = requests.post(f"{site.url}/machine/predict?machine_name={pump}", timeout=10)
        assert answer.status_code == 200
    deadline = time.monotonic() + 15  # the log's thread writes every second
    while time.monotonic() < deadline:
        drift = requests.get(f"{site.url}/model/xgboost/drift", timeout=10).json()
        if drift["inputs"][0]["observations"] == 2:
            break
        time.sleep(0.3)
    load(browser, f"{site.url}/fleet/models")
    panels = browser.find_elements(By.CSS_SELECTOR, ".model-panel")
    assert [p.get_attribute("id") for p in panels] == ["panel-xgboost", "panel-gru", "panel-lstm"]
    for family in ("xgboost", "gru", "lstm"):
        for chart in ("drift", "performance"):
            found = browser.find_element(By.ID, f"chart-{chart}-{family}")
            assert found.find_elements(By.TAG_NAME, "canvas")
    drawn = drawn_canvases(browser)
    assert len(drawn) == 6 and min(drawn) > 500, drawn
    assert "significant" in browser.find_element(By.ID, "panel-xgboost").text or (
        "stable" in browser.find_element(By.ID, "panel-xgboost").text
    )
    shot(browser, screenshots, "fleet-models.png")
