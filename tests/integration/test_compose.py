"""docker-compose.yml run for real, offline: PostgreSQL, the one-shot init (schema, demo fleet,
training in the trainer image), two API containers and nginx, on podman with podman-compose.

The stack is brought up by deploy/container/compose-up.sh (what `make compose-up` runs), with the
locally built stand-ins for the postgres and nginx images. The init job trains xgboost only,
to keep the test within a minute; the other families train the same way, only for longer.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pumpapi.devtools.processes import free_port
from tests.fixtures.containers import ENV, ROOT, engine, make
from tests.integration.load import READING, Load

pytestmark = pytest.mark.integration

COMPOSE = str(Path(sys.executable).parent / "podman-compose")


class Stack:
    def __init__(self, project: str, port: int):
        self.project = project
        self.url = f"http://127.0.0.1:{port}"
        self.env = {
            **ENV,
            "PUMPAPI_POSTGRES_IMAGE": "localhost/pumpapi-postgres:15",
            "PUMPAPI_NGINX_IMAGE": "localhost/pumpapi-nginx:bookworm",
            "PUMPAPI_HTTP_PORT": str(port),
            "PUMPAPI_MODEL_FAMILIES": "xgboost",
            "COMPOSE": COMPOSE,
        }

    def run(self, *command: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            command, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def up(self) -> None:
        process = self.run("deploy/container/compose-up.sh", self.project)
        assert process.returncode == 0, process.stdout[-4000:] + process.stderr[-4000:]

    def down(self) -> subprocess.CompletedProcess:
        return self.run(COMPOSE, "-p", self.project, "down", "-v", "-t", "25")

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"

    def leftovers(self) -> dict[str, list[str]]:
        """Whatever of this project the engine still holds."""
        label = f"label=io.podman.compose.project={self.project}"
        found = {
            "containers": engine("ps", "-a", "-q", "--filter", label).stdout.split(),
            "pods": engine(
                "pod", "ps", "-q", "--filter", f"name=pod_{self.project}"
            ).stdout.split(),
            "volumes": [
                name
                for name in engine("volume", "ls", "--format", "{{.Name}}").stdout.split()
                if name.startswith(f"{self.project}_")
            ],
            "networks": [
                name
                for name in engine("network", "ls", "--format", "{{.Name}}").stdout.split()
                if name.startswith(f"{self.project}_")
            ],
        }
        return {kind: names for kind, names in found.items() if names}


READY_INSIDE = (
    "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=2)"
)


def _ready_inside(container: str) -> bool:
    return engine("exec", container, "python", "-c", READY_INSIDE, check=False).returncode == 0


def _answers(url: str, times: int) -> bool:
    try:
        return all(requests.get(url, timeout=2).status_code == 200 for _ in range(times))
    except requests.RequestException:
        return False


def _wait_for(condition, stack: Stack, service: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            logs = engine("logs", stack.container(service), check=False)
            pytest.fail(f"{service} not ready:\n{logs.stdout[-3000:]}{logs.stderr[-3000:]}")
        time.sleep(0.3)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    make("image", "service-images")
    stack = Stack(f"pumpapi-test-{uuid.uuid4().hex[:6]}", free_port())
    started = time.monotonic()
    try:
        stack.up()
        # Each API container ready by itself (its own HEALTHCHECK's view, from inside), then
        # nginx answering from the pair: an instance it saw refusing while it started is
        # back in rotation after fail_timeout.
        for api in ("api1", "api2"):
            _wait_for(lambda api=api: _ready_inside(stack.container(api)), stack, api)
        _wait_for(lambda: _answers(f"{stack.url}/health/ready", times=10), stack, "api1")
        print(f"compose stack up (init trained xgboost) in {time.monotonic() - started:.0f} s")
        yield stack
    finally:
        stack.down()


def test_a_request_through_nginx_answers(stack):
    body = requests.post(f"{stack.url}/model/xgboost/predict", json=READING, timeout=5).json()
    assert body["success"] is True and 0 <= body["result"]["probability"] <= 1, body
    # The init job loaded the demo fleet: a pump's own history answers through both layers.
    machine = requests.post(
        f"{stack.url}/machine/predict", params={"machine_name": "MOTOBOMBA-007"}, timeout=5
    )
    assert machine.status_code == 200, machine.text
    # Both API containers serve (each logs one line per request it answered).
    for _ in range(20):
        requests.get(f"{stack.url}/model/xgboost/info", timeout=5).raise_for_status()
    for api in ("api1", "api2"):
        logs = engine("logs", stack.container(api))
        assert "/model/xgboost/info" in logs.stdout + logs.stderr, api


def test_killing_an_api_container_loses_no_request(stack):
    load = Load(f"{stack.url}/model/xgboost/predict", concurrency=4).start()
    time.sleep(1.0)
    engine("kill", stack.container("api1"))
    time.sleep(2.0)
    result = load.stop()
    print("api1 killed under load:", result.summary())
    assert result.total > 50
    assert result.failed == 0, result.summary()


def test_down_leaves_nothing_behind(stack):
    # Last in the module: takes the stack down (the fixture's own down is then a no-op).
    down = stack.down()
    assert down.returncode == 0, down.stdout[-3000:] + down.stderr[-3000:]
    assert stack.leftovers() == {}
