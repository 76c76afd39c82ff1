"""Versions side by side and promotion without downtime, through real gunicorn under load:
pinned versions, a promotion and a rollback served within seconds with no failed request, and
a version whose files fail verification never answering."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections import Counter

import pytest
import requests
from click.testing import CliRunner

from pumpapi.cli import main

pytestmark = pytest.mark.integration

READING = {
    "rotacao_motor_rpm": 1800,
    "pressao_oleo_bar": 4.5,
    "tensao_bateria_v": 24.1,
    "tensao_alternador_v": 27.8,
}


def _copy_version(root, source: str, target: str) -> None:
    shutil.copytree(root / "xgboost" / source, root / "xgboost" / target)
    meta_path = root / "xgboost" / target / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["version"] = target
    meta_path.write_text(json.dumps(meta))


def _aliases(root, aliases: dict[str, str]) -> None:
    (root / "xgboost" / "aliases.json").write_text(json.dumps(aliases))


class Load:
    """Two clients posting predictions until stopped; every answer's status and version."""

    def __init__(self, url: str):
        self.url = url
        self.answers: list[tuple[float, int, str | None]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(2)]

    def _run(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            try:
                r = session.post(f"{self.url}/model/xgboost/predict", json=READING, timeout=10)
                self.answers.append(
                    (time.monotonic(), r.status_code, r.headers.get("X-Model-Version"))
                )
            except requests.RequestException as exc:
                self.answers.append((time.monotonic(), 0, type(exc).__name__))

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(15)

    def wait_for(self, version: str, since: float, timeout: float = 30.0) -> float:
        """Seconds from `since` until every answer of the last half second names `version`."""
        deadline = since + timeout
        while time.monotonic() < deadline:
            now = time.monotonic()
            recent = [v for t, _, v in self.answers if now - 0.5 <= t]
            if recent and set(recent) == {version}:
                return now - 0.5 - since
            time.sleep(0.1)
        last = Counter(v for *_, v in self.answers[-20:])
        raise AssertionError(f"version {version} not served within {timeout} s: {last}")


@pytest.fixture
def store(tmp_path, xgboost_trained):
    root = tmp_path / "store"
    shutil.copytree(xgboost_trained.root, root)
    _copy_version(root, "1", "2")
    _aliases(root, {"latest": "1", "candidate": "2"})
    return root


def test_pin_promote_and_roll_back_under_load_with_no_failure(gunicorn_server, store):
    server = gunicorn_server(
        {
            "PUMPAPI_MODEL_STORE": str(store),
            "PUMPAPI_MODEL_FAMILIES": "xgboost",
            "PUMPAPI_MODEL_WATCH_SECONDS": "1",
        }
    )
    url = server.url
    # Side by side: latest answers by default, the candidate when pinned.
    assert (
        requests.post(f"{url}/model/xgboost/predict", json=READING).headers["X-Model-Version"]
        == "1"
    )
    pinned = requests.post(f"{url}/model/xgboost/predict?version=candidate", json=READING)
    assert pinned.status_code == 200 and pinned.headers["X-Model-Version"] == "2"
    assert (
        requests.post(f"{url}/model/xgboost/predict?version=2", json=READING).headers[
            "X-Model-Version"
        ]
        == "2"
    )
    assert requests.post(f"{url}/model/xgboost/predict?version=7", json=READING).status_code == 404
    info = requests.get(f"{url}/model/xgboost/info").json()
    assert info["versions"] == [
        {"version": "1", "aliases": ["latest"], "created_at": info["versions"][0]["created_at"]},
        {"version": "2", "aliases": ["candidate"], "created_at": info["versions"][1]["created_at"]},
    ]
    runner = CliRunner()
    with Load(url) as load:
        time.sleep(1.5)
        started = time.monotonic()
        promoted = runner.invoke(main, ["models", "promote", "xgboost", "2", "--store", str(store)])
        assert promoted.exit_code == 0, promoted.output
        swap = load.wait_for("2", started)
        # A version whose files fail verification, aliased by hand: never served.
        _copy_version(store, "1", "3")
        (store / "xgboost" / "3" / "model.ubj").write_bytes(b"corrupted")
        refused = runner.invoke(main, ["models", "promote", "xgboost", "3", "--store", str(store)])
        assert refused.exit_code != 0 and "checksum" in refused.output
        _aliases(store, {"latest": "3", "candidate": "2"})
        time.sleep(4)
        _aliases(store, {"latest": "2", "candidate": "2"})
        started = time.monotonic()
        rolled = runner.invoke(main, ["models", "promote", "xgboost", "1", "--store", str(store)])
        assert rolled.exit_code == 0, rolled.output
        rollback = load.wait_for("1", started)
    statuses = Counter(status for _, status, _ in load.answers)
    versions = Counter(version for *_, version in load.answers)
    print(f"\npromotion: {sum(statuses.values())} requests, {statuses}, versions {versions}, "
          f"swap {swap:.1f} s, rollback {rollback:.1f} s")  # fmt: skip
    assert set(statuses) == {200}, statuses
    assert "3" not in versions
    assert swap < 30 and rollback < 30
