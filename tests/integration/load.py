"""A small closed-loop load generator: N client threads, each with its own keep-alive session.

Used by the nginx tests (bounded load while an instance dies or drains) and to measure worker
classes: `python -m tests.integration.load URL --concurrency 8 --seconds 10`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import requests

READING = {
    "rotacao_motor_rpm": 1800,
    "pressao_oleo_bar": 4.5,
    "tensao_bateria_v": 24.1,
    "tensao_alternador_v": 27.8,
}


@dataclass
class LoadResult:
    """What a load run saw: statuses, transport errors and latencies of every request."""

    statuses: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.statuses.values()) + len(self.errors)

    @property
    def failed(self) -> int:
        """Requests that got no answer, or an answer other than 200."""
        return self.total - self.statuses.get(200, 0)

    def summary(self) -> dict:
        ordered = sorted(self.latencies) or [0.0]
        return {
            "requests": self.total,
            "failed": self.failed,
            "statuses": dict(self.statuses),
            "errors": self.errors[:5],
            "rps": round(self.total / self.seconds, 1) if self.seconds else None,
            "p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 2),
        }


class Load:
    """POSTs `body` to `url` from `concurrency` threads until stopped (or `requests` sent)."""

    def __init__(
        self,
        url: str,
        body: dict | None = None,
        concurrency: int = 4,
        requests_per_client: int | None = None,
    ):
        self.url = url
        self.body = READING if body is None else body
        self.concurrency = concurrency
        self.requests_per_client = requests_per_client
        self.result = LoadResult()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def _client(self) -> None:
        session = requests.Session()
        sent = 0
        while not self._stop.is_set():
            if self.requests_per_client is not None and sent >= self.requests_per_client:
                return
            started = time.perf_counter()
            try:
                response = session.post(self.url, json=self.body, timeout=30)
                outcome = response.status_code
            except requests.RequestException as exc:
                outcome = f"{type(exc).__name__}: {exc}"
            elapsed = time.perf_counter() - started
            sent += 1
            with self._lock:
                if isinstance(outcome, int):
                    self.result.statuses[outcome] += 1
                    self.result.latencies.append(elapsed)
                else:
                    self.result.errors.append(outcome)

    def start(self) -> Load:
        self._began = time.perf_counter()
        for _ in range(self.concurrency):
            thread = threading.Thread(target=self._client, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> LoadResult:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        self.result.seconds = time.perf_counter() - self._began
        return self.result

    def finish(self) -> LoadResult:
        """Wait for each client to send its `requests_per_client` requests."""
        for thread in self._threads:
            thread.join(timeout=60)
        return self.stop()

    def run_for(self, seconds: float) -> LoadResult:
        self.start()
        time.sleep(seconds)
        return self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    result = Load(args.url, concurrency=args.concurrency).run_for(args.seconds)
    print(json.dumps(result.summary()))


if __name__ == "__main__":
    main()
