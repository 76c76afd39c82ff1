"""The Open Inference Protocol through real gunicorn, spoken by tritonclient.http: binary
tensors by default and plain JSON, every answer equal to the family routes' on the same input."""

from __future__ import annotations

import numpy as np
import pytest
import requests
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from pumpapi.channels import CHANNEL_NAMES

pytestmark = pytest.mark.integration

READINGS = [
    {"rotacao_motor_rpm": 1800, "pressao_oleo_bar": 4.5, "tensao_bateria_v": 24.1,
     "tensao_alternador_v": 27.8},
    {"rotacao_motor_rpm": 1750, "pressao_oleo_bar": 0.8, "tensao_bateria_v": 23.2,
     "tensao_alternador_v": 23.4},
]  # fmt: skip


@pytest.fixture(scope="module")
def server(request, tmp_path_factory, all_families_root):
    from tests.fixtures.gunicorn import GunicornServer

    served = GunicornServer(
        {
            "PUMPAPI_MODEL_STORE": str(all_families_root),
            "PUMPAPI_MODEL_FAMILIES": "xgboost,gru,lstm",
        },
        tmp_path_factory.mktemp("v2") / "gunicorn.log",
    )
    served.start()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def client(server):
    triton_client = triton.InferenceServerClient(server.url.removeprefix("http://"))
    yield triton_client
    triton_client.close()


def _input(name, array, datatype, binary=True):
    tensor = triton.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


def test_server_and_models_live_ready_and_described(client):
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.get_server_metadata()["extensions"] == ["binary_tensor_data"]
    for family in ("xgboost", "gru", "lstm"):
        assert client.is_model_ready(family)
        meta = client.get_model_metadata(family)
        assert meta["name"] == family and meta["versions"]
        assert client.is_model_ready(family, meta["versions"][0])
    assert not client.is_model_ready("bert")


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_xgboost_through_tritonclient_equals_our_route(client, server, binary):
    order = client.get_model_metadata("xgboost")["parameters"]["feature_order"]
    rows = np.array([[r[name] for name in order] for r in READINGS], dtype=np.float32)
    outputs = None
    if not binary:
        outputs = [triton.InferRequestedOutput(n, binary_data=False)
                   for n in ("probability", "prediction", "at_risk")]  # fmt: skip
    result = client.infer("xgboost", [_input("features", rows, "FP32", binary)], outputs=outputs)
    ours = requests.post(
        f"{server.url}/model/xgboost/predict", json={"instances": READINGS}, timeout=10
    ).json()["results"]
    assert result.as_numpy("probability").tolist() == pytest.approx(
        [r["probability"] for r in ours], rel=1e-6
    )
    labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("prediction")]
    assert labels == [r["prediction"] for r in ours]
    assert result.as_numpy("at_risk").tolist() == [r["at_risk"] for r in ours]


def test_tritonclient_reads_the_warnings_of_a_row_outside_the_training_data(client, server):
    import json

    order = client.get_model_metadata("xgboost")["parameters"]["feature_order"]
    odd = {**READINGS[0], "pressao_oleo_bar": 18.0}
    rows = np.array([[r[name] for name in order] for r in (READINGS[0], odd)], dtype=np.float32)
    result = client.infer("xgboost", [_input("features", rows, "FP32")])
    warnings = json.loads(result.get_response()["parameters"]["warnings"])
    assert {(w["row"], w["field"]) for w in warnings} == {(1, "pressao_oleo_bar")}


def test_gru_through_tritonclient_equals_our_route(client, server):
    rng = np.random.default_rng(5)
    nominal = np.array([1800.0, 82.0, 4.5, 78.0, 6.0, 1.1, 24.6, 27.8])
    windows = nominal + rng.normal(0, 1, (2, 60, 8)) * np.array(
        [15, 1, 0.1, 0.5, 0.2, 0.05, 0.1, 0.1]
    )
    result = client.infer("gru", [_input("window", windows.astype(np.float32), "FP32")])
    indices = result.as_numpy("indices")
    for i, window in enumerate(windows.astype(np.float32).astype(np.float64)):
        readings = [dict(zip(CHANNEL_NAMES, map(float, row), strict=True)) for row in window]
        ours = requests.post(
            f"{server.url}/model/gru/predict", json={"readings": readings}, timeout=10
        ).json()
        assert indices[i].tolist() == [
            ours["indices"]["lubrificacao"],
            ours["indices"]["hidraulico"],
        ]
        status = [s.decode() for s in result.as_numpy("status")[i]]
        assert status == [ours["status"]["lubrificacao"], ours["status"]["hidraulico"]]


def test_lstm_through_tritonclient_equals_our_route(client, server):
    series = np.array([[100 + 0.5 * i for i in range(64)]])
    result = client.infer("lstm", [_input("series", series, "FP64")], parameters={"horizon": 4})
    ours = requests.post(
        f"{server.url}/model/lstm/predict",
        json={"data": series[0].tolist(), "horizon": 4},
        timeout=10,
    ).json()
    assert result.as_numpy("prediction").tolist() == [ours["prediction"]]
    assert result.as_numpy("forecast")[0].tolist() == ours["forecast"]


def test_errors_reach_tritonclient_as_the_protocol_says(client):
    order = client.get_model_metadata("xgboost")["parameters"]["feature_order"]
    row = {"rotacao_motor_rpm": 1800, "pressao_oleo_bar": 40.0, "tensao_bateria_v": 24.1,
           "tensao_alternador_v": 27.8}  # fmt: skip
    rows = np.array([[row[name] for name in order]], dtype=np.float32)
    with pytest.raises(InferenceServerException) as error:
        client.infer("xgboost", [_input("features", rows, "FP32")])
    assert "pressao_oleo_bar" in error.value.message()
    assert error.value.status() == "422"
    with pytest.raises(InferenceServerException) as missing:
        client.infer("xgboost", [_input("features", rows, "FP32")], model_version="999")
    assert missing.value.status() == "404"


def test_a_seed_002_client_works_unchanged(server):
    """The original LSTM service's client: GET /predict with a JSON body, reads `prediction`."""
    data = [round(20 + 0.1 * i, 2) for i in range(60)]
    answer = requests.get(f"{server.url}/predict", json={"data": data}, timeout=10)
    assert answer.status_code == 200
    assert isinstance(answer.json()["prediction"], float)
    assert (
        answer.json()
        == requests.post(f"{server.url}/model/lstm/predict", json={"data": data}, timeout=10).json()
    )
    short = requests.get(f"{server.url}/predict", json={"data": data[:59]}, timeout=10)
    assert short.status_code == 422
    assert "Input data must have at least 60 values" in short.json()["error"]


def test_explanations_through_gunicorn_workers(server):
    """Explanations run in forked workers (XGBoost and LiteRT preloaded by the master)."""
    reading = {**READINGS[1]}
    risk = requests.post(
        f"{server.url}/model/xgboost/predict?explain=true", json=reading, timeout=10
    ).json()["result"]["explanation"]
    assert risk["bias"] + sum(risk["contributions"].values()) == pytest.approx(
        risk["margin"], abs=1e-4
    )
    window = [
        dict(zip(CHANNEL_NAMES, (1800.0, 82.0, 4.5, 78.0, 6.0, 1.1, 24.6, 27.8), strict=True))
    ] * 60
    health = requests.post(
        f"{server.url}/model/gru/predict?explain=true", json={"readings": window}, timeout=10
    ).json()
    assert set(health["explanation"]) == {"method", "units", "lubrificacao", "hidraulico"}
