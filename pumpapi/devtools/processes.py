"""Child processes of the development tools: free ports, waiting until a server answers,
stopping a child gracefully; and the click options `serve` and `stack` share."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import click


def free_port() -> int:
    """A loopback port nobody listens on now (the OS picks an ephemeral one)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float, process: subprocess.Popen | None = None):
    """Wait until something accepts TCP connections on host:port; False on timeout or exit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def stop_process(
    process: subprocess.Popen | None, signum: int = signal.SIGTERM, timeout: float = 30.0
) -> None:
    """Ask a child to stop (gunicorn drains on SIGTERM, nginx on SIGQUIT), wait, then kill it
    if it lingers. Nothing happens if it is not running."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signum)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_ready(base_url: str, process: subprocess.Popen, timeout: float = 60.0) -> bool:
    """Poll `base_url`/health/ready until it answers 200; False on timeout or if `process` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"{base_url}/health/ready", timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    return False


def demo_options(command):
    """The options of the demo fleet and the private cluster, shared by `serve` and `stack`."""
    for option in reversed(
        (
            click.option(
                "--pumps", default=20, show_default=True, help="Demo fleet size, if loaded."
            ),
            click.option(
                "--days", default=7.0, show_default=True, help="Days of demo telemetry per pump."
            ),
            click.option("--seed", default=7, show_default=True, help="Seed of the demo fleet."),
            click.option(
                "--pg-port", default=5433, show_default=True, help="Port of the private cluster."
            ),
            click.option(
                "--var-dir", default="var", show_default=True, type=click.Path(path_type=Path)
            ),
        )
    ):
        command = option(command)
    return command
