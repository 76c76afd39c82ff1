"""`pumpapi stack` end to end: two gunicorn instances and nginx started, used, and stopped."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from pumpapi.devtools.processes import free_port
from tests.integration.load import READING

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
#: Most seconds `pumpapi stack` may take to stop (nginx and the instances drain in parallel,
#: each bounded by its graceful timeout: 30 s).
STOP_TIMEOUT = 90


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _describe(process: psutil.Process) -> str:
    try:
        return f"{process.pid} {' '.join(process.cmdline())}"
    except psutil.Error:
        return str(process.pid)


@pytest.fixture
def var_dir() -> Iterator[Path]:
    # nginx's workers drop root for `nobody`, who must reach the temp files under it: a 0755
    # directory under /tmp, not pytest's 0700 tmp_path.
    path = Path(tempfile.mkdtemp(prefix="pumpapi-stack-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_stack_balances_and_stops_everything(stop_signal, xgboost_trained, database_url, var_dir):
    listen, *instance_ports = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PUMPAPI_MODEL_STORE": str(xgboost_trained.root),
        "PUMPAPI_MODEL_FAMILIES": "xgboost",
    }
    log_path = var_dir / "stack.log"
    with log_path.open("wb") as log:
        stack = subprocess.Popen(
            [sys.executable, "-m", "pumpapi", "stack", "--listen", f"127.0.0.1:{listen}"]
            + [arg for port in instance_ports for arg in ("--instance-port", str(port))]
            + ["--workers", "1", "--pumps", "2", "--days", "0.05", "--var-dir", str(var_dir)],
            cwd=var_dir,  # anywhere: the stack finds its config and the store on its own
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    started: list[psutil.Process] = []
    try:
        base = f"http://127.0.0.1:{listen}"
        deadline = time.monotonic() + 120
        while True:
            assert stack.poll() is None, f"pumpapi stack exited:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, f"nginx never answered:\n{log_path.read_text()}"
            try:
                if requests.get(f"{base}/health/ready", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.2)

        started = psutil.Process(stack.pid).children(recursive=True)
        masters = {
            p.pid for p in started if "gunicorn" in " ".join(p.cmdline()) and p.ppid() == stack.pid
        }
        assert len(masters) == 2, [p.cmdline() for p in started]
        assert any(p.name() == "nginx" for p in started)

        # Readiness answers with the worker's pid: through nginx, both instances answer.
        answered_by = set()
        for _ in range(10):
            ready = requests.get(f"{base}/health/ready", timeout=5)
            assert ready.status_code == 200, ready.text
            answered_by.add(psutil.Process(ready.json()["pid"]).ppid())
        assert answered_by == masters

        predicted = requests.post(f"{base}/model/xgboost/predict", json=READING, timeout=5)
        assert predicted.status_code == 200, predicted.text
        # Each instance's metrics, through nginx, count the requests it answered.
        for number in (1, 2):
            metrics = requests.get(f"{base}/metrics/{number}", timeout=5)
            assert metrics.status_code == 200
            counted = {
                sample.labels["route"]: sample.value
                for family in text_string_to_metric_families(metrics.text)
                for sample in family.samples
                if sample.name == "pumpapi_http_requests_total"
            }
            assert counted.get("/health/ready", 0) >= 1, metrics.text
    finally:
        stop_sent = time.monotonic()
        stack.send_signal(stop_signal)
        try:
            # Generous for a loaded 2-core machine: the stack itself stops within one graceful
            # timeout (instances drain in parallel); the figure is in the failure message.
            returncode = stack.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            returncode = None  # reported below, with the stack's log
        finally:
            stopped_in = time.monotonic() - stop_sent
            if stack.poll() is None:
                stack.kill()
                stack.wait()
            # Whatever is left is a failure below; it must not outlive the test either.
            alive = psutil.wait_procs(started, timeout=30)[1]
            left = [_describe(process) for process in alive]
            for process in alive:
                process.kill()

    output = log_path.read_text()
    assert returncode == 0, (
        f"exit {returncode} after {stopped_in:.1f} s; the stack's log:\n{output}"
    )
    assert not left, f"left running: {left}\n{output}"
    for port in (listen, *instance_ports):
        assert not _port_open(port), f"port {port} still open\n{output}"
    assert "[pumpapi stack] stopping" in output
