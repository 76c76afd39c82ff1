"""docs/benchmarks.md and its plots, rendered from one bench/results/<date>.json."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.measure import met

MIB = 2**20 / 1e6  # MB per MiB: the memory target is in MB, psutil counts bytes


@dataclass(frozen=True)
class Target:
    """One line of the issue's table of targets and how to read it from the results."""

    figure: str
    target: float
    higher_is_better: bool
    unit: str
    measured: Callable[[dict[str, Any]], float | None]


def summary(results: dict[str, Any], name: str, connections: int = 16) -> dict[str, Any] | None:
    """The paired summary of one endpoint at one concurrency, if it was measured."""
    for entry in results.get("endpoints", []):
        if entry["name"] == name and entry["connections"] == connections:
            return entry["summary"]
    return None


def _field(name: str, key: str, connections: int = 16) -> Callable[[dict[str, Any]], float | None]:
    def read(results: dict[str, Any]) -> float | None:
        found = summary(results, name, connections)
        return None if found is None else found[key]

    return read


def _pss_mb(results: dict[str, Any]) -> float | None:
    app = results.get("memory", {}).get("app")
    return None if app is None else app["total_pss_mib"] * MIB


def _sustained_p99(results: dict[str, Any]) -> float | None:
    windows = results.get("sustained", {}).get("windows")
    return max(w["p99_ms"] for w in windows) if windows else None


def _ratio_of(name: str, reference: str) -> Callable[[dict[str, Any]], float | None]:
    """One endpoint's throughput as a share of another's: the median over rounds of the two
    endpoints' throughputs in the same round (run back to back), so that a round the machine
    ran slow slows both. Dividing each by its own floor run first would add two more noisy
    measurements to the comparison of two app variants."""

    def read(results: dict[str, Any]) -> float | None:
        found, base = _rounds(results, name), _rounds(results, reference)
        pairs = [
            a["endpoint"]["rps"] / b["endpoint"]["rps"]
            for a, b in zip(found, base, strict=False)
            if b["endpoint"]["rps"]
        ]
        return statistics.median(pairs) if pairs else None

    return read


def _rounds(results: dict[str, Any], name: str, connections: int = 16) -> list[dict[str, Any]]:
    for entry in results.get("endpoints", []):
        if entry["name"] == name and entry["connections"] == connections:
            return entry.get("rounds", [])
    return []


TARGETS: tuple[Target, ...] = (
    Target("xgboost predict (single) ÷ floor", 0.75, True, "×", _field("xgboost_single", "ratio")),
    Target("xgboost predict (single) p99", 10, False, "ms", _field("xgboost_single", "p99_ms")),
    Target(
        "V2 xgboost infer ÷ xgboost predict", 0.9, True, "×",
        _ratio_of("v2_xgboost", "xgboost_single"),
    ),
    Target(
        "xgboost predict with ÷ without the prediction log", 0.95, True, "×",
        _ratio_of("xgboost_single", "xgboost_single_nolog"),
    ),
    Target("gru predict ÷ floor", 0.6, True, "×", _field("gru", "ratio")),
    Target("machine predict ÷ floor", 0.5, True, "×", _field("machine", "ratio")),
    Target("machine predict p99", 15, False, "ms", _field("machine", "p99_ms")),
    Target("machine gru predict ÷ floor", 0.5, True, "×", _field("machine_gru", "ratio")),
    Target("machine gru predict p99", 15, False, "ms", _field("machine_gru", "p99_ms")),
    Target(
        "xgboost batch of 1,000, end to end", 100_000, True, "rows/s",
        _field("xgboost_batch", "rows_per_s"),
    ),
    Target("ingestion", 100_000, True, "readings/s", _field("ingest", "inserted_per_s")),
    Target(
        "start to ready", 5, False, "s",
        lambda r: r.get("start_to_ready_s", {}).get("app"),
    ),
    Target("PSS of master + 2 workers", 250, False, "MB", _pss_mb),
    Target(
        "/fleet for 200 pumps reporting now, server time (median, warm)", 300, False, "ms",
        lambda r: r.get("fleet_page", {}).get("warm_ms"),
    ),
    Target("xgboost p99 under sustained c16 load (worst window)", 10, False, "ms", _sustained_p99),
)  # fmt: skip


def number(value: float | None, unit: str = "") -> str:
    """A figure as a reader wants it: thousands separated, 2 significant decimals when small."""
    if value is None:
        return "—"
    if abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip() if unit not in ("×",) else f"{text}×"


def distance(value: float | None, target: Target) -> str:
    """How far a figure is from its target, as a share of the target."""
    if value is None:
        return "not measured"
    gap = (value - target.target) / target.target
    if met(value, target.target, target.higher_is_better):
        return "met"
    return f"{abs(gap):.0%} {'short' if target.higher_is_better else 'over'}"


def targets_table(results: dict[str, Any]) -> list[str]:
    lines = [
        "| figure | target | measured | met | distance |",
        "| --- | --- | --- | --- | --- |",
    ]
    for target in TARGETS:
        value = target.measured(results)
        ok = met(value, target.target, target.higher_is_better)
        sign = "≥" if target.higher_is_better else "≤"
        lines.append(
            f"| {target.figure} | {sign} {number(target.target, target.unit)} "
            f"| {number(value, target.unit)} | {'—' if ok is None else ('yes' if ok else 'no')} "
            f"| {distance(value, target)} |"
        )
    return lines


def endpoints_table(results: dict[str, Any]) -> list[str]:
    lines = [
        "| endpoint | conns | req/s | floor req/s | ratio (min–max) | p50 ms | p99 ms "
        "| floor p99 ms | rows/s | failed |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for entry in results.get("endpoints", []):
        s = entry["summary"]
        rows = s["inserted_per_s"] if entry["name"] == "ingest" else s["rows_per_s"]
        lines.append(
            f"| {entry['label']} | {entry['connections']} | {number(s['rps'])} "
            f"| {number(s['floor_rps'])} | {s['ratio']:.2f} ({s['ratio_min']:.2f}–"
            f"{s['ratio_max']:.2f}) | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} "
            f"| {s['floor_p99_ms']:.2f} | {number(rows)} | {s['failed']} |"
        )
    return lines


def model_table(results: dict[str, Any]) -> list[str]:
    lines = ["| work (in process, no HTTP) | best µs | median µs |", "| --- | --- | --- |"]
    for name, t in results.get("model_time", {}).items():
        lines.append(f"| `{name}` | {t['best_us']:,.1f} | {t['median_us']:,.1f} |")
    return lines


def memory_table(results: dict[str, Any]) -> list[str]:
    lines = ["| server | process | RSS MiB | PSS MiB |", "| --- | --- | --- | --- |"]
    for server, memory in results.get("memory", {}).items():
        lines.append(
            f"| {server} | master | {memory['master']['rss_mib']} | {memory['master']['pss_mib']} |"
        )
        for i, worker in enumerate(memory["workers"], 1):
            lines.append(f"| {server} | worker {i} | {worker['rss_mib']} | {worker['pss_mib']} |")
        lines.append(
            f"| {server} | **total** | {memory['total_rss_mib']} | **{memory['total_pss_mib']}** |"
        )
    return lines


def profile_lines(results: dict[str, Any]) -> list[str]:
    found = results.get("profile")
    if not found:
        return ["(not profiled in this run)"]
    if "error" in found:
        return [f"py-spy failed: `{found['error']}`"]
    lines = [
        f"{found['samples']:,} samples of both workers (py-spy, 250 Hz) while wrk drove xgboost "
        "predict (single) at 16 connections.",
        "",
        "| frame | on CPU (self) |",
        "| --- | --- |",
    ]
    lines += [f"| `{frame}` | {share:.1%} |" for frame, share in found["self"]]
    lines += ["", "| frame | on the stack (inclusive) |", "| --- | --- |"]
    lines += [f"| `{frame}` | {share:.1%} |" for frame, share in found["inclusive"]]
    return lines


def sustained_lines(results: dict[str, Any]) -> list[str]:
    sustained = results.get("sustained")
    if not sustained:
        return ["(not run)"]
    lines = [
        "| window | req/s | p50 ms | p99 ms | p99.9 ms | max ms |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for i, w in enumerate(sustained["windows"], 1):
        lines.append(
            f"| {i} | {number(w['rps'])} | {w['p50_ms']:.2f} | {w['p99_ms']:.2f} "
            f"| {w['p999_ms']:.2f} | {w['max_ms']:.1f} |"
        )
    lines += ["", f"p99 of the last window ÷ the first: {sustained['p99_trend']:.2f}."]
    return lines


def where_time_goes(results: dict[str, Any]) -> list[str]:
    """Sentences relating the per-request cost at c1 to the model's own time."""
    lines = []
    times = results.get("model_time", {})
    pairs = {
        "xgboost_single": "xgboost_assess_1",
        "gru": "gru_assess_60",
        "lstm": "lstm_forecast_60",
        "xgboost_batch": "xgboost_assess_1000",
    }
    for name, model_key in pairs.items():
        s = summary(results, name, 1)
        if s is None or model_key not in times or not s["rps"]:
            continue
        request_us = 1e6 / s["rps"]
        floor_us = 1e6 / s["floor_rps"] if s["floor_rps"] else 0.0
        model_us = times[model_key]["median_us"]
        rest = request_us - floor_us - model_us
        lines.append(
            f"- **{name}** at 1 connection: {request_us:,.0f} µs a request = floor "
            f"{floor_us:,.0f} µs (TCP connect, gunicorn, Flask) + model `{model_key}` "
            f"{model_us:,.0f} µs + {rest:,.0f} µs of the endpoint's own work (routing to "
            f"the view, JSON parsing, schema validation, response building, metrics, logs)."
        )
    return lines


def plot(results: dict[str, Any], out_dir: Path) -> list[Path]:
    """Throughput vs floor, latency percentiles and the sustained run, as PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    entries = [e for e in results.get("endpoints", []) if e["connections"] == 16]
    if entries:
        labels = [e["name"] for e in entries]
        x = range(len(entries))
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
        top.bar([i - 0.2 for i in x], [e["summary"]["floor_rps"] for e in entries], 0.4,
                label="floor", color="#bbbbbb")  # fmt: skip
        top.bar([i + 0.2 for i in x], [e["summary"]["rps"] for e in entries], 0.4,
                label="endpoint", color="#1f77b4")  # fmt: skip
        top.set_ylabel("req/s (median of rounds)")
        top.set_title("Throughput at 16 connections, endpoint vs floor (2 sync workers)")
        top.legend()
        ratios = [e["summary"]["ratio"] for e in entries]
        bottom.bar(list(x), ratios, 0.5, color="#2ca02c")
        for name, goal in (("xgboost_single", 0.75), ("gru", 0.6), ("machine", 0.5),
                           ("machine_gru", 0.5)):  # fmt: skip
            if name in labels:
                i = labels.index(name)
                bottom.plot([i - 0.3, i + 0.3], [goal, goal], color="red")
        bottom.set_ylabel("endpoint ÷ floor (red: target)")
        bottom.set_xticks(list(x), labels, rotation=20)
        fig.tight_layout()
        path = out_dir / "throughput.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)

        fig, ax = plt.subplots(figsize=(9, 4.5))
        width = 0.2
        for k, (key, label) in enumerate(
            (("p50_ms", "p50"), ("p90_ms", "p90"), ("p99_ms", "p99"), ("p999_ms", "p99.9"))
        ):
            values = [
                sorted(r["endpoint"][key] for r in e["rounds"])[len(e["rounds"]) // 2]
                for e in entries
            ]
            ax.bar([i + (k - 1.5) * width for i in x], values, width, label=label)
        ax.set_yscale("log")
        ax.set_ylabel("latency ms (log; median of rounds)")
        ax.set_title("Latency percentiles at 16 connections")
        ax.set_xticks(list(x), labels, rotation=20)
        ax.legend()
        fig.tight_layout()
        path = out_dir / "latency.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    windows = results.get("sustained", {}).get("windows")
    if windows:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        seconds = results["sustained"]["seconds"] / len(windows)
        t = [seconds * (i + 1) for i in range(len(windows))]
        for key in ("p50_ms", "p99_ms", "p999_ms"):
            ax.plot(t, [w[key] for w in windows], marker="o", label=key.removesuffix("_ms"))
        ax.axhline(10, color="red", linewidth=0.8, label="p99 target")
        ax.set_xlabel("seconds of sustained c16 load")
        ax.set_ylabel("ms")
        ax.set_title("xgboost predict (single): latency over time")
        ax.legend()
        fig.tight_layout()
        path = out_dir / "sustained.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written


#: What the figures mean and what was tried: kept by hand beside the generated figures, and
#: appended to the report as its last section.
NOTES = Path(__file__).with_name("notes.md")


def render(results: dict[str, Any], plots: list[str], results_path: str = "") -> str:
    """The whole report as Markdown."""
    machine = results.get("machine", {})
    settings = results.get("settings", {})
    fleet = results.get("fleet", {})
    load_before = ", ".join(f"{v:.2f}" for v in machine.get("load_before", []))
    load_after = ", ".join(f"{v:.2f}" for v in machine.get("load_after", []))
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `make bench` (bench/run.py) on {results.get('date', '?')} from "
        f"`{results_path}`. Every ratio is an endpoint's requests per second over the floor's "
        "(a plain Flask app with one route returning a constant JSON, under the same "
        "`config/gunicorn.conf.py`: 2 sync workers, access log off, log level warning), each "
        f"endpoint run right after its floor run, {settings.get('rounds', '?')} interleaved "
        f"rounds of {settings.get('duration_s', '?')} s per pair, medians reported. "
        f"Load generator: wrk, {settings.get('wrk_threads', 1)} thread, Lua bodies "
        "(`bench/lua/`).",
        "",
        f"Machine: {machine.get('cores', '?')} cores, shared with other work: load average "
        f"(1, 5, 15 min) {load_before} before the run, {load_after} after. Database: PostgreSQL "
        f"with {fleet.get('readings', 0):,} readings of {fleet.get('pumps', 0)} simulated "
        f"pumps. The whole bench took {results.get('wall_seconds', 0):.0f} s.",
        "",
        "## Targets (issue 5; 16 connections unless said)",
        "",
        *targets_table(results),
        "",
        "## Every endpoint against the floor",
        "",
        *endpoints_table(results),
        "",
        "gunicorn's sync workers answer `Connection: close`: every request, the floor's too, "
        "pays a new TCP connection. Ingestion sends fresh readings on every request (CSV, "
        "5,000 readings of 50 pumps), so rows/s counts readings really inserted.",
        "",
    ]
    lines += [f"![{Path(p).stem}]({p})" for p in plots]
    lines += [
        "",
        "## Where time goes",
        "",
        "The models' own time, measured in process with `timeit` (no HTTP, no validation beyond "
        "the model's): the limit no endpoint can beat beyond the floor.",
        "",
        *model_table(results),
        "",
        *where_time_goes(results),
        "",
        "### Profile of xgboost predict (single)",
        "",
        *profile_lines(results),
        "",
        "## Sustained load",
        "",
        *sustained_lines(results),
        "",
        "## Start and memory",
        "",
        f"Start to ready (gunicorn started → `/health/ready` 200, models loaded in the master): "
        f"{number(results.get('start_to_ready_s', {}).get('app'), 's')}; the floor app: "
        f"{number(results.get('start_to_ready_s', {}).get('floor'), 's')}.",
        "",
        f"The fleet page (`/fleet`, {results.get('fleet_page', {}).get('pumps', '—')} pumps "
        "with a day of readings ending now, so every trend is computed; in process, "
        "`bench/fleet_page.py`), its server time (`Server-Timing`): "
        f"{number(results.get('fleet_page', {}).get('cold_ms'), 'ms')} for the first "
        f"request, {number(results.get('fleet_page', {}).get('warm_ms'), 'ms')} the median of "
        f"ten after ({number(results.get('fleet_page', {}).get('warm_cpu_ms'), 'ms')} of it "
        "CPU, the rest waiting for PostgreSQL).",
        "",
        "Memory after the load runs (psutil `memory_full_info`; PSS counts each shared page "
        "once, split among the processes sharing it):",
        "",
        *memory_table(results),
        "",
    ]
    if NOTES.is_file():
        lines += ["## What was tried", "", NOTES.read_text().strip(), ""]
    return "\n".join(lines)


def write(results: dict[str, Any], docs: Path, results_path: Path | str = "") -> Path:
    """Plots under docs/benchmarks/ and docs/benchmarks.md; returns the report's path.
    `results_path` is the results JSON relative to `docs` (the report links to it)."""
    plots = plot(results, docs / "benchmarks")
    relative = [f"benchmarks/{p.name}" for p in plots]
    target = docs / "benchmarks.md"
    target.write_text(render(results, relative, str(results_path)))
    return target


def main(argv: list[str] | None = None) -> None:
    """Render the report again from a results file (after editing bench/notes.md, say)."""
    import argparse
    import json
    import os

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("results", type=Path, help="bench/results/<date>.json")
    parser.add_argument("--docs", type=Path, default=Path("docs"))
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text())
    print(write(results, args.docs, os.path.relpath(args.results, args.docs)))


if __name__ == "__main__":
    main()
