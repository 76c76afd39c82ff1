"""The GRU and LSTM families under a real, preloading gunicorn: LiteRT without TensorFlow, and the
TensorFlow backend created in the workers after fork (before fork, every worker would hang)."""

from __future__ import annotations

import psutil
import pytest
import requests

pytestmark = pytest.mark.integration

READING = {"Eng_RPM": 1800, "Cool_T": 80, "Oil_P": 3.2, "Oil_L": 7.8, "Recalque": 4.0,
           "Succao": 1.1, "Bat_V": 26.4, "Char_V": 27.2}  # fmt: skip
SERIES = {"data": [4.0 + 0.01 * (i % 7) for i in range(60)], "horizon": 3}


def serve(gunicorn_server, keras_trained, backend: str):
    return gunicorn_server(
        {
            "PUMPAPI_MODEL_STORE": str(keras_trained.root),
            "PUMPAPI_MODEL_FAMILIES": "gru,lstm",
            "PUMPAPI_TF_BACKEND": backend,
            "PUMPAPI_ACCESS_LOG": "/dev/null",
        },
        workers=2,
    )


def tensorflow_mapped(pid: int) -> bool:
    """Whether TensorFlow's shared library is loaded in that process."""
    return any("tensorflow" in m.path for m in psutil.Process(pid).memory_maps())


def answers(url: str, count: int = 6) -> list[tuple[dict, dict]]:
    """`count` GRU and LSTM answers, each on a new connection (so both workers take some)."""
    out = []
    for _ in range(count):
        gru = requests.post(f"{url}/model/gru/predict", json=READING, timeout=60)
        lstm = requests.post(f"{url}/model/lstm/predict", json=SERIES, timeout=60)
        assert gru.status_code == 200 and lstm.status_code == 200, (gru.text, lstm.text)
        out.append((gru.json(), lstm.json()))
    return out


def test_litert_serves_both_families_without_tensorflow_in_any_process(
    gunicorn_server, keras_trained
):
    server = serve(gunicorn_server, keras_trained, "litert")
    results = answers(server.url)
    assert all(r == results[0] for r in results)
    for pid in [server.process.pid, *server.worker_pids()]:
        assert not tensorflow_mapped(pid)
        assert psutil.Process(pid).memory_info().rss < 300 * 2**20


def test_the_tensorflow_backend_answers_from_workers_and_never_runs_in_the_master(
    gunicorn_server, keras_trained
):
    server = serve(gunicorn_server, keras_trained, "tensorflow")
    assert not tensorflow_mapped(server.process.pid)
    results = answers(server.url)  # a worker that hung would time out here
    assert not tensorflow_mapped(server.process.pid)
    assert any(tensorflow_mapped(pid) for pid in server.worker_pids())
    reference = answers(serve(gunicorn_server, keras_trained, "litert").url, count=1)[0]
    for gru, lstm in results:
        for index, value in gru["indices"].items():
            assert abs(value - reference[0]["indices"][index]) <= 0.01
        assert lstm["forecast"] == pytest.approx(reference[1]["forecast"], abs=1e-4)
