"""Production layout for real: Debian's nginx in front of two gunicorn instances.

nginx runs from a generated config in a temporary prefix (no root-only paths). The failure tests
run a bounded load through nginx while one instance is killed or drained, and count failures.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest
import requests

from pumpapi.devtools.stack import NginxProcess
from tests.fixtures.gunicorn import worker_holds
from tests.fixtures.nginx import start_nginx, stop_nginx
from tests.integration.load import READING, Load

pytestmark = pytest.mark.integration


class Proxy:
    """nginx and the two instances behind it."""

    def __init__(self, nginx: NginxProcess, instances: list, runtime_dir: Path):
        self.nginx = nginx
        self.instances = instances
        self.url = f"http://{nginx.config.listen}"
        self.access_log = runtime_dir / "access.log"

    def upstream_counts(self) -> Counter:
        """Requests per instance address, from nginx's JSON access log (retries count each)."""
        counts: Counter = Counter()
        for line in self.access_log.read_text().splitlines():
            upstreams = json.loads(line)["upstream_addr"]  # empty if nginx answered itself
            for address in filter(None, upstreams.split(", ")):
                counts[address] += 1
        return counts


@pytest.fixture
def proxy(gunicorn_server, xgboost_trained, database_url):
    env = {
        "DATABASE_URL": database_url,
        "PUMPAPI_MODEL_STORE": str(xgboost_trained.root),
        "PUMPAPI_MODEL_FAMILIES": "xgboost",
    }
    instances = [gunicorn_server(env, workers=1) for _ in range(2)]
    nginx, runtime_dir = start_nginx(instances, "pumpapi-nginx-")
    yield Proxy(nginx, instances, runtime_dir)
    stop_nginx(nginx, runtime_dir)


def _kill_instance(server) -> None:
    """SIGKILL the master and its workers at once: the instance dies as in a crash or OOM."""
    master = psutil.Process(server.process.pid)
    for process in [*master.children(), master]:
        process.send_signal(signal.SIGKILL)
    server.process.wait()


def test_requests_through_nginx(proxy):
    response = requests.get(f"{proxy.url}/health", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "message": "Service is healthy"}
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "Server" not in response.headers or "nginx/" not in response.headers["Server"]
    # nginx generates a request id, which the app echoes.
    assert len(response.headers["X-Request-ID"]) == 32

    response = requests.post(
        f"{proxy.url}/model/xgboost/predict",
        json=READING,
        headers={"X-Request-ID": "scada-42"},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    assert response.json()["result"]["prediction"] in {
        "Operação Saudável",
        "Risco de Falha Iminente",
    }
    assert response.headers["X-Request-ID"] == "scada-42"

    ready = requests.get(f"{proxy.url}/health/ready", timeout=5)
    assert ready.status_code == 200, ready.text

    # JSON is gzipped for clients that accept it.
    raw = requests.get(
        f"{proxy.url}/openapi.json", headers={"Accept-Encoding": "gzip"}, stream=True, timeout=5
    )
    assert raw.headers["Content-Encoding"] == "gzip"
    assert "openapi" in json.loads(gzip.decompress(raw.raw.read()))

    # Bodies over the app's limit are refused by nginx, in the API's envelope.
    too_large = requests.post(
        f"{proxy.url}/model/xgboost/predict",
        data=b"{" + b" " * (3 * 1024 * 1024) + b"}",
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert too_large.status_code == 413
    assert too_large.json()["success"] is False

    # /metrics only from the allowed networks; the instances still serve it to local scrapers.
    for path in ("/metrics", "/metrics/1"):
        refused = requests.get(f"{proxy.url}{path}", timeout=5)
        assert refused.status_code == 403
        assert refused.json()["code"] == 403
    assert requests.get(f"{proxy.instances[0].url}/metrics", timeout=5).status_code == 200

    # Both instances take traffic.
    for _ in range(10):
        requests.get(f"{proxy.url}/ping", timeout=5)
    counts = proxy.upstream_counts()
    assert set(counts) == {f"127.0.0.1:{i.port}" for i in proxy.instances}


def test_sigkill_of_an_instance_fails_no_request(proxy, record_property):
    victim, survivor = proxy.instances
    load = Load(f"{proxy.url}/model/xgboost/predict", concurrency=4).start()
    time.sleep(1.0)
    _kill_instance(victim)
    time.sleep(2.0)
    result = load.stop()
    record_property("sigkill_load", result.summary())
    print("SIGKILL under load:", result.summary())
    assert result.total > 100
    assert not result.statuses.keys() - {200}, result.summary()
    # Every request the killed instance had not answered is retried on the other
    # (proxy_next_upstream, non_idempotent included: predictions are pure, ingestion is
    # idempotent). A response is never half-sent: pumpapi.workers writes header and body in one
    # call, so nginx either has nothing to relay (and retries) or has the whole answer.
    assert result.failed == 0, result.summary()

    # Restarted, the instance is back in rotation.
    before = proxy.upstream_counts()[f"127.0.0.1:{victim.port}"]
    victim.start()
    time.sleep(1.2)  # past fail_timeout
    back = Load(f"{proxy.url}/health-check", concurrency=2, requests_per_client=20)
    back = back.start().finish()
    assert back.failed == 0 and back.total == 40
    assert proxy.upstream_counts()[f"127.0.0.1:{victim.port}"] > before


def test_sigterm_drains_in_flight_requests(proxy, record_property):
    victim, survivor = proxy.instances
    # A batch whose body is sent in two halves, SIGTERM between them: the worker is reading it
    # when the signal arrives, whatever the speed of the machine or of the model.
    body = json.dumps({"instances": [READING] * 10_000}).encode()
    half_sent, terminated = threading.Event(), threading.Event()
    answer: dict = {}

    def send_batch() -> None:
        host, port = victim.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            connection.putrequest("POST", "/model/xgboost/predict")
            connection.putheader("Content-Type", "application/json")
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body[: len(body) // 2])
            answer["port"] = connection.sock.getsockname()[1]
            half_sent.set()
            terminated.wait(timeout=30)
            time.sleep(0.3)  # the worker has the signal while it waits for the rest
            connection.send(body[len(body) // 2 :])
            response = connection.getresponse()
            answer["status"] = response.status
            answer["results"] = len(json.loads(response.read()).get("results", []))
        except (OSError, http.client.HTTPException) as exc:
            answer["error"] = repr(exc)
        finally:
            connection.close()
        answer["finished"] = time.monotonic()

    load = Load(f"{proxy.url}/model/xgboost/predict", concurrency=4).start()
    time.sleep(0.5)
    sender = threading.Thread(target=send_batch)
    sender.start()
    assert half_sent.wait(timeout=10)
    # A connection still in the listen backlog would be reset when the master closes its
    # socket: signal only once a worker holds it.
    deadline = time.monotonic() + 10
    while not worker_holds(victim.process.pid, answer["port"]):
        assert time.monotonic() < deadline, "no worker accepted the batch's connection"
        time.sleep(0.01)
    terminated_at = time.monotonic()
    victim.process.send_signal(signal.SIGTERM)
    terminated.set()
    sender.join(timeout=30)
    victim.process.wait(timeout=30)
    time.sleep(0.5)
    result = load.stop()
    record_property("sigterm_load", result.summary())
    print("SIGTERM under load:", result.summary(), "batch:", answer)

    assert answer.get("status") == 200, answer
    assert answer["results"] == 10_000
    assert answer["finished"] > terminated_at  # it was in flight, and completed
    assert result.failed == 0, result.summary()
    assert victim.process.returncode == 0  # a clean, graceful exit

    victim.start()
    time.sleep(1.2)
    before = proxy.upstream_counts()[f"127.0.0.1:{victim.port}"]
    back = Load(f"{proxy.url}/health-check", concurrency=2, requests_per_client=20)
    back = back.start().finish()
    assert back.failed == 0 and back.total == 40
    assert proxy.upstream_counts()[f"127.0.0.1:{victim.port}"] > before
    assert os.path.exists(proxy.access_log)
