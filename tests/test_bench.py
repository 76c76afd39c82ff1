"""The benchmark instrument's pure parts: wrk output, medians and ratios, the report."""

from __future__ import annotations

import json

import pytest

from bench import measure, report
from bench.floor_app import create_floor_app
from bench.measure import WrkResult

WRK_OUTPUT = """Running 5s test @ http://127.0.0.1:41234/model/xgboost/predict
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     9.51ms    2.10ms  40.00ms   80.00%
  4801 requests in 5.00s, 1.10MB read
  Non-2xx or 3xx responses: 3
BENCH_RESULT {"requests":4801,"duration_us":5002000,"bytes":1153000,"errors":{"connect":0,\
"read":0,"write":0,"status":3,"timeout":1},"latency_us":{"mean":9510.5,"max":40000,\
"p50":9000,"p90":11000,"p99":16500,"p999":30000},"inserted":0}
Requests/sec:    959.81
"""


def result(rps: float, p99_ms: float = 5.0, inserted: int = 0) -> WrkResult:
    """A 1-second run at `rps` requests per second."""
    return WrkResult(
        requests=int(rps),
        duration_s=1.0,
        p50_ms=1.0,
        p90_ms=2.0,
        p99_ms=p99_ms,
        p999_ms=p99_ms * 2,
        mean_ms=1.2,
        max_ms=p99_ms * 3,
        inserted=inserted,
    )


def test_parse_wrk_reads_the_result_line_in_milliseconds():
    parsed = measure.parse_wrk(WRK_OUTPUT)
    assert parsed.requests == 4801
    assert parsed.duration_s == pytest.approx(5.002)
    assert parsed.rps == pytest.approx(4801 / 5.002)
    assert (parsed.p50_ms, parsed.p99_ms, parsed.p999_ms) == (9.0, 16.5, 30.0)
    # Only the kinds of error that happened are kept, and each counts as a failed request.
    assert parsed.errors == {"status": 3, "timeout": 1}
    assert parsed.failed == 4


def test_parse_wrk_without_result_line_names_the_problem():
    with pytest.raises(measure.WrkOutputError, match="unable to connect"):
        measure.parse_wrk("unable to connect to 127.0.0.1:1 Connection refused")


def test_wrk_result_round_trips_through_the_results_json():
    parsed = measure.parse_wrk(WRK_OUTPUT)
    stored = json.loads(json.dumps(parsed.as_dict()))
    assert stored["rps"] == pytest.approx(959.8, abs=0.1)
    assert WrkResult.from_dict(stored) == parsed


def test_ratio_is_the_median_of_per_round_ratios_not_the_ratio_of_medians():
    # The machine slows down in round 2: the pair measured together still says 0.5.
    endpoint = [result(500), result(100), result(450)]
    floor = [result(1000), result(200), result(1000)]
    summary = measure.paired_summary(endpoint, floor)
    assert summary.ratio == pytest.approx(0.5)
    assert (summary.ratio_min, summary.ratio_max) == (pytest.approx(0.45), pytest.approx(0.5))
    # whereas the medians alone would say 450 / 1000
    assert summary.rps / summary.floor_rps == pytest.approx(0.45)


def test_paired_summary_counts_rows_and_inserted_readings():
    endpoint = [result(100, inserted=500_000), result(120, inserted=600_000)]
    summary = measure.paired_summary(endpoint, [result(1000), result(1000)], rows_per_request=1000)
    assert summary.rows_per_s == pytest.approx(110_000)
    assert summary.inserted_per_s == pytest.approx(550_000)
    assert summary.p99_ms == 5.0


def test_paired_summary_refuses_unpaired_rounds():
    with pytest.raises(ValueError):
        measure.paired_summary([result(1), result(2)], [result(1)])


def test_top_frames_separates_self_from_inclusive_time():
    collapsed = "\n".join(
        [
            "handle (sync.py:1);view (routes.py:2);predict (xgboost.py:3) 6",
            "handle (sync.py:1);view (routes.py:2);load (schema.py:4) 3",
            # a recursive frame counts once per sample on the inclusive side
            'process 12:"gunicorn";handle (sync.py:1);handle (sync.py:1) 1',
            "garbage line",
        ]
    )
    frames = measure.top_frames(collapsed, trunk=0.95)
    assert frames["samples"] == 10
    assert frames["self"][0] == ("predict (xgboost.py:3)", 0.6)
    inclusive = dict(frames["inclusive"])
    assert inclusive == {
        # handle is under every sample: the trunk, left out; py-spy's process frame too
        "view (routes.py:2)": 0.9,
        "predict (xgboost.py:3)": 0.6,
        "load (schema.py:4)": 0.3,
    }


def test_top_frames_of_nothing_is_empty():
    assert measure.top_frames("") == {"samples": 0, "self": [], "inclusive": []}


@pytest.mark.parametrize(
    ("value", "target", "higher", "expected"),
    [
        (0.8, 0.75, True, True),
        (0.5, 0.75, True, False),
        (12.0, 10, False, False),
        (None, 1, True, None),
    ],
)
def test_met(value, target, higher, expected):
    assert measure.met(value, target, higher) is expected


def test_trend_is_last_over_first():
    assert measure.trend([2.0, 3.0, 4.0]) == 2.0
    assert measure.trend([5.0]) == 1.0


def results_of(ratio_rounds: list[tuple[float, float]], p99_ms: float) -> dict:
    """A minimal results document: xgboost single at c16 and c1, plus start and memory."""
    rounds = [
        {"endpoint": result(e, p99_ms).as_dict(), "floor": result(f).as_dict()}
        for e, f in ratio_rounds
    ]
    endpoint = [WrkResult.from_dict(r["endpoint"]) for r in rounds]
    floor = [WrkResult.from_dict(r["floor"]) for r in rounds]
    summary = measure.paired_summary(endpoint, floor).__dict__
    return {
        "date": "2026-01-02T03:04:05+00:00",
        "machine": {"cores": 2, "load_before": [1.5, 1.2, 1.0], "load_after": [2.0, 1.5, 1.1]},
        "settings": {"rounds": len(rounds), "duration_s": 5, "wrk_threads": 1},
        "fleet": {"pumps": 200, "readings": 10_000_000},
        "endpoints": [
            {
                "name": "xgboost_single",
                "label": "xgboost predict (1 reading)",
                "connections": c,
                "summary": summary,
                "rounds": rounds,
            }
            for c in (1, 16)
        ],  # fmt: skip
        "model_time": {"xgboost_assess_1": {"best_us": 150.0, "median_us": 200.0}},
        "start_to_ready_s": {"app": 3.2, "floor": 0.9},
        "memory": {
            "app": {
                "master": {"rss_mib": 200, "pss_mib": 100},
                "workers": [{"rss_mib": 210, "pss_mib": 60}, {"rss_mib": 210, "pss_mib": 60}],
                "total_rss_mib": 620,
                "total_pss_mib": 220,
            }
        },
    }


def test_report_says_which_targets_are_met_and_how_far_the_others_are():
    results = results_of([(800, 1000), (820, 1000), (700, 1000)], p99_ms=12.0)
    text = report.render(results, ["benchmarks/throughput.png"], "../bench/results/x.json")
    lines = text.splitlines()
    ratio_line = next(line for line in lines if line.startswith("| xgboost predict (single) ÷"))
    assert "| 0.80× | yes | met |" in ratio_line
    p99_line = next(line for line in lines if line.startswith("| xgboost predict (single) p99"))
    assert "| 12.0 ms | no | 20% over |" in p99_line
    # 220 MiB is 230.7 MB: within 250 MB
    pss_line = next(line for line in lines if line.startswith("| PSS of master"))
    assert "| 230.7 MB | yes | met |" in pss_line
    gru_line = next(line for line in lines if line.startswith("| gru predict ÷"))
    assert "not measured" in gru_line
    assert "![throughput](benchmarks/throughput.png)" in text
    assert "load average (1, 5, 15 min) 1.50, 1.20, 1.00 before" in text


def test_report_relates_request_cost_to_the_model_time():
    # 500 req/s against a 1,000 req/s floor: 2,000 µs a request, 1,000 of them the floor's.
    results = results_of([(500, 1000)] * 3, p99_ms=3.0)
    text = report.render(results, [])
    assert "2,000 µs a request = floor 1,000 µs" in text
    assert "`xgboost_assess_1` 200 µs + 800 µs" in text


def test_floor_app_answers_a_constant_json_to_get_and_post():
    client = create_floor_app().test_client()
    for response in (client.get("/"), client.post("/", data=b"{}")):
        assert response.status_code == 200
        assert response.get_json() == {"success": True}


def test_two_app_variants_compare_round_by_round_not_through_their_floor_runs():
    # The log costs 4 % in every round; the floor runs beside the variants swing ±20 %.
    with_log = results_of([(960, 1200), (1920, 1600), (1440, 1000)], p99_ms=5.0)
    without = results_of([(1000, 800), (2000, 2000), (1500, 1500)], p99_ms=5.0)
    logged = with_log["endpoints"][1]
    results = {**with_log, "endpoints": [logged, {**without["endpoints"][1], "name": "nolog"}]}
    assert report._ratio_of("xgboost_single", "nolog")(results) == pytest.approx(0.96)
    # Through each variant's own floor the same data would read 0.8 / 1.0 / 0.96 by round.
    unpaired = logged["summary"]["ratio"] / without["endpoints"][1]["summary"]["ratio"]
    assert unpaired != pytest.approx(0.96)
