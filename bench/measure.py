"""The instrument's arithmetic: wrk results parsed, rounds reduced to medians and floor ratios."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

#: The line bench/lua/summary.lua prints at the end of every wrk run.
RESULT_MARKER = "BENCH_RESULT "


class WrkOutputError(ValueError):
    """wrk's output holds no result line (wrk failed, or the script was not loaded)."""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: requests completed, its duration, latency percentiles and errors."""

    requests: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    mean_ms: float
    max_ms: float
    errors: dict[str, int] = field(default_factory=dict)
    inserted: int = 0

    @property
    def rps(self) -> float:
        """Requests per second over the run."""
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def failed(self) -> int:
        """Requests that failed: connection errors, timeouts and non-2xx/3xx answers."""
        return sum(self.errors.values())

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rps": round(self.rps, 1)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WrkResult:
        known = {name for name in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def parse_wrk(output: str) -> WrkResult:
    """The result line of a wrk run driven by bench/lua/summary.lua (microseconds to ms)."""
    for line in reversed(output.splitlines()):
        if line.startswith(RESULT_MARKER):
            data = json.loads(line[len(RESULT_MARKER) :])
            break
    else:
        raise WrkOutputError(f"no {RESULT_MARKER.strip()} line in wrk output:\n{output[-2000:]}")
    latency = data["latency_us"]
    return WrkResult(
        requests=int(data["requests"]),
        duration_s=data["duration_us"] / 1e6,
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000,
        p999_ms=latency["p999"] / 1000,
        mean_ms=latency["mean"] / 1000,
        max_ms=latency["max"] / 1000,
        errors={k: int(v) for k, v in data["errors"].items() if v},
        inserted=int(data.get("inserted", 0)),
    )


@dataclass(frozen=True)
class PairedSummary:
    """Interleaved rounds of an endpoint and the floor, reduced to medians.

    `ratio` is the median of the per-round ratios (each measured back to back, so the machine's
    noise mostly cancels), not the ratio of the medians.
    """

    rounds: int
    rps: float
    floor_rps: float
    ratio: float
    ratio_min: float
    ratio_max: float
    p50_ms: float
    p99_ms: float
    floor_p99_ms: float
    failed: int
    rows_per_s: float
    inserted_per_s: float


def paired_summary(
    endpoint: Sequence[WrkResult], floor: Sequence[WrkResult], rows_per_request: int = 1
) -> PairedSummary:
    """Medians over rounds of an endpoint's runs, each paired with the floor run next to it."""
    if not endpoint or len(endpoint) != len(floor):
        raise ValueError("each endpoint round needs its floor round")
    ratios = [e.rps / f.rps if f.rps else 0.0 for e, f in zip(endpoint, floor, strict=True)]
    rps = statistics.median(r.rps for r in endpoint)
    return PairedSummary(
        rounds=len(endpoint),
        rps=rps,
        floor_rps=statistics.median(r.rps for r in floor),
        ratio=statistics.median(ratios),
        ratio_min=min(ratios),
        ratio_max=max(ratios),
        p50_ms=statistics.median(r.p50_ms for r in endpoint),
        p99_ms=statistics.median(r.p99_ms for r in endpoint),
        floor_p99_ms=statistics.median(r.p99_ms for r in floor),
        failed=sum(r.failed for r in endpoint),
        rows_per_s=rps * rows_per_request,
        inserted_per_s=statistics.median(
            r.inserted / r.duration_s if r.duration_s else 0.0 for r in endpoint
        ),
    )


def met(value: float | None, target: float, higher_is_better: bool) -> bool | None:
    """Whether a measured figure meets its target (None: not measured)."""
    if value is None:
        return None
    return value >= target if higher_is_better else value <= target


def top_frames(collapsed: str, limit: int = 10, trunk: float = 0.9) -> dict[str, Any]:
    """Share of samples per frame from py-spy's collapsed stacks ("a;b;c 12" per line).

    `self`: the frame on top of the stack (where the CPU was); `inclusive`: anywhere on the
    stack (a frame counted once per sample even when recursive), leaving out the trunk — frames
    under at least `trunk` of the samples (gunicorn's main loop) say nothing about where time
    goes. py-spy's "process N" pseudo-frames are dropped.
    """
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [
            frame.strip()
            for frame in stack.split(";")
            if frame.strip() and not frame.lstrip().startswith("process ")
        ]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return {"samples": 0, "self": [], "inclusive": []}

    def shares(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(frame, count / total) for frame, count in counter.most_common(limit)]

    branches = Counter({f: c for f, c in inclusive.items() if c < trunk * total})
    return {"samples": total, "self": shares(own), "inclusive": shares(branches)}


def trend(values: Iterable[float]) -> float:
    """Last value over first: > 1 means the figure grew during a sustained run."""
    values = list(values)
    if len(values) < 2 or not values[0]:
        return 1.0
    return values[-1] / values[0]
