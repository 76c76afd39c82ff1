"""The runtime image, built offline by `make image-runtime` and run for real.

The image is built from the debootstrapped base and the wheelhouse (no registry, no package
index), then run with podman against the suite's PostgreSQL, the suite's trained models mounted
read-only at /models, a read-only root filesystem and the image's own user. Its answers to the
SPEC's examples must equal those of the app in this process serving the same models and data.
"""

from __future__ import annotations

import http.client
import json
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests

from pumpapi import db
from pumpapi.blueprints.gru.schemas import EXAMPLE_READING as GRU_READING
from pumpapi.devtools.processes import free_port
from tests.fixtures.containers import Container, engine, make
from tests.fixtures.db import fresh_schema, pump_history
from tests.fixtures.gunicorn import worker_holds
from tests.integration.load import READING as SPEC_READING

pytestmark = pytest.mark.integration

IMAGE = "localhost/pumpapi:runtime"
#: What issue 17 allows the runtime image (the base, Python's packages, the app).
MAX_IMAGE_MB = 600

#: SPEC's examples: (method, path, JSON body).
SPEC_EXAMPLES = [
    ("GET", "/health", None),
    ("GET", "/ping", None),
    ("POST", "/health-check", None),
    ("POST", "/model/xgboost/predict", SPEC_READING),
    ("POST", "/machine/predict?machine_name=MOTOBOMBA-007", None),
    ("POST", "/model/gru/predict", GRU_READING),
    ("POST", "/machine/gru/predict?machine_name=MOTOBOMBA-007&time_steps=60", None),
    ("POST", "/model/lstm/predict", {"data": [100 + 0.5 * i for i in range(61)], "horizon": 5}),
    ("GET", "/machines", None),
]


@pytest.fixture(scope="module")
def runtime_image() -> dict:
    started = time.monotonic()
    make("image-runtime")
    size = int(engine("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout)
    return {"build_seconds": time.monotonic() - started, "size_mb": size / 1e6}


@pytest.fixture(scope="module")
def served_models(xgboost_trained, keras_trained, tmp_path_factory) -> Path:
    """Every family in one store, readable by the image's user (pytest's folders are 0700)."""
    root = tmp_path_factory.mktemp("container-models")
    for source in (xgboost_trained.root, keras_trained.root):
        for family in source.iterdir():
            shutil.copytree(family, root / family.name)
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root


@pytest.fixture(scope="module")
def telemetry_url(pg_cluster) -> Iterator[str]:
    with fresh_schema(pg_cluster) as url:
        db.copy_fleet(
            db.to_conninfo(url),
            [pump_history(name, 120, seed=i) for i, name in enumerate(("MOTOBOMBA-007", "B-2"))],
        )
        yield url


@pytest.fixture(scope="module")
def container(runtime_image, served_models, telemetry_url) -> Iterator[Container]:
    port = free_port()
    name = f"pumpapi-test-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    engine(
        "run",
        "--detach",
        "--name",
        name,
        "--network=host",
        "--read-only",
        "--volume",
        f"{served_models}:/models:ro",
        "--env",
        f"DATABASE_URL={telemetry_url}",
        "--env",
        f"PUMPAPI_BIND=127.0.0.1:{port}",
        "--env",
        "PUMPAPI_WORKERS=2",
        IMAGE,
    )
    box = Container(name, f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{box.url}/health/ready", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, f"not ready within 120 s:\n{box.logs()}"
            time.sleep(0.2)
        print(
            f"runtime image: {runtime_image['size_mb']:.0f} MB, built in "
            f"{runtime_image['build_seconds']:.0f} s; container ready in "
            f"{time.monotonic() - started:.1f} s"
        )
        yield box
    finally:
        engine("rm", "--force", "--time", "0", name, check=False)


@pytest.fixture
def reference(make_app, served_models, telemetry_url):
    """The app in this process, serving the same models and telemetry (what `make serve` runs)."""
    app = make_app(
        MODEL_STORE=str(served_models),
        MODEL_FAMILIES=("xgboost", "gru", "lstm"),
        DATABASE_URL=telemetry_url,
    )
    yield app.test_client()
    db.store(app).close()


INSTANT_FIELDS = {"timestamp", "age_seconds"}


def _without_times(value):
    """An answer without what depends on the instant it was given (two processes answer at
    different instants)."""
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k not in INSTANT_FIELDS}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


def test_the_runtime_image_is_lean(runtime_image):
    assert runtime_image["size_mb"] <= MAX_IMAGE_MB, runtime_image


@pytest.mark.parametrize(("method", "path", "body"), SPEC_EXAMPLES)
def test_the_container_answers_the_spec_examples_as_the_app_does(
    container, reference, method, path, body
):
    answer = requests.request(method, f"{container.url}{path}", json=body, timeout=10)
    expected = reference.open(path, method=method, json=body)
    assert answer.status_code == expected.status_code == 200, answer.text
    assert _without_times(answer.json()) == _without_times(expected.get_json())


def test_it_runs_as_its_own_user_on_a_read_only_root(container):
    assert container.exec("id", "-u").stdout.strip() == "10001"
    master = container.exec("cat", "/proc/1/status").stdout
    uids = next(line for line in master.splitlines() if line.startswith("Uid:")).split()[1:]
    assert set(uids) == {"10001"}  # gunicorn's master too, not only the exec'd shell
    assert container.inspect("{{.HostConfig.ReadonlyRootfs}}") == "true"
    denied = container.exec("touch", "/app/written")
    assert denied.returncode != 0 and "Read-only file system" in denied.stderr
    # /tmp is a tmpfs: gunicorn's heartbeat files and the metrics of every worker live there.
    assert container.exec("touch", "/tmp/written").returncode == 0


def test_the_healthcheck_passes(container):
    assert "/health" in container.inspect("{{.Config.Healthcheck.Test}}")
    check = engine("healthcheck", "run", container.name, check=False)
    assert check.returncode == 0, check.stdout + check.stderr + container.logs()


def test_sigterm_drains_the_request_in_flight_and_exits_cleanly(container):
    # Last in the module: it stops the container. A batch sent in two halves, SIGTERM between.
    body = json.dumps({"instances": [SPEC_READING] * 2_000}).encode()
    host, port = container.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.putrequest("POST", "/model/xgboost/predict")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body[: len(body) // 2])
    client_port = connection.sock.getsockname()[1]
    master = psutil.Process(int(container.inspect("{{.State.Pid}}")))
    deadline = time.monotonic() + 10
    while not worker_holds(master.pid, client_port):
        assert time.monotonic() < deadline, "no worker accepted the batch's connection"
        time.sleep(0.01)
    engine("kill", "--signal", "TERM", container.name)
    time.sleep(0.5)  # the worker has the signal while it waits for the rest
    connection.send(body[len(body) // 2 :])
    response = connection.getresponse()
    assert response.status == 200
    assert len(json.loads(response.read())["results"]) == 2_000
    connection.close()
    waited = engine("wait", container.name, timeout=40)
    assert waited.stdout.strip() == "0", container.logs()
