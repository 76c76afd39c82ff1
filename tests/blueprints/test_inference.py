"""The Open Inference Protocol routes (/v2): metadata, readiness, JSON and binary inference,
answers equal to the family routes' on the same inputs, and errors."""

from __future__ import annotations

import struct

import numpy as np
import orjson
import pytest

import pumpapi
from pumpapi import models
from pumpapi.blueprints.inference.tensors import HEADER_LENGTH
from pumpapi.channels import CHANNEL_NAMES

READINGS = [
    {"rotacao_motor_rpm": 1800, "pressao_oleo_bar": 4.5, "tensao_bateria_v": 24.1,
     "tensao_alternador_v": 27.8},
    {"rotacao_motor_rpm": 1750, "pressao_oleo_bar": 0.8, "tensao_bateria_v": 23.2,
     "tensao_alternador_v": 23.4},
    {"rotacao_motor_rpm": 800, "pressao_oleo_bar": 2.0, "tensao_bateria_v": 25.0,
     "tensao_alternador_v": 28.1},
]  # fmt: skip


@pytest.fixture
def client(all_families_app):
    return all_families_app.test_client()


def _infer(client, name, inputs, version=None, **request):
    path = f"/v2/models/{name}" + (f"/versions/{version}" if version else "") + "/infer"
    return client.post(path, json={"inputs": inputs, **request})


def _outputs(body):
    return {o["name"]: o for o in body["outputs"]}


def _feature_rows(client, readings):
    order = client.get("/v2/models/xgboost").json["parameters"]["feature_order"]
    return order, [[r[name] for name in order] for r in readings]


def _window(seed: int, rows: int = 60) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    nominal = np.array([1800.0, 82.0, 4.5, 78.0, 6.0, 1.1, 24.6, 27.8])
    values = nominal + rng.normal(0, 1, (rows, 8)) * np.array(
        [15, 1, 0.1, 0.5, 0.2, 0.05, 0.1, 0.1]
    )
    return [dict(zip(CHANNEL_NAMES, map(float, row), strict=True)) for row in values]


def test_server_metadata_liveness_and_readiness(client):
    assert client.get("/v2").json == {
        "name": "pumpapi",
        "version": pumpapi.__version__,
        "extensions": ["binary_tensor_data"],
    }
    assert client.get("/v2/health/live").json == {"live": True}
    ready = client.get("/v2/health/ready")
    assert ready.status_code == 200
    assert ready.json == {"ready": True, "models": {"xgboost": True, "gru": True, "lstm": True}}
    for family in ("xgboost", "gru", "lstm"):
        assert client.get(f"/v2/models/{family}/ready").json == {"name": family, "ready": True}


def test_model_metadata_names_inputs_and_outputs(client, all_families_app):
    registry = models.registry(all_families_app)
    meta = client.get("/v2/models/xgboost").json
    assert meta["versions"] == [registry.get("xgboost").version.version]
    assert meta["inputs"] == [{"name": "features", "datatype": "FP32", "shape": [-1, 4]}]
    assert [o["name"] for o in meta["outputs"]] == ["probability", "prediction", "at_risk"]
    assert meta["parameters"]["feature_order"] == list(registry.get("xgboost").feature_order)
    gru = client.get("/v2/models/gru").json
    assert gru["inputs"] == [{"name": "window", "datatype": "FP32", "shape": [-1, -1, 8]}]
    assert gru["parameters"]["feature_order"] == list(CHANNEL_NAMES)
    lstm = client.get("/v2/models/lstm").json
    assert lstm["inputs"][0]["name"] == "series" and lstm["parameters"]["min_values"] == 60
    version = meta["versions"][0]
    assert client.get(f"/v2/models/xgboost/versions/{version}").json == meta


def test_xgboost_json_inference_equals_the_family_route(client):
    order, rows = _feature_rows(client, READINGS)
    response = _infer(client, "xgboost", [
        {"name": "features", "datatype": "FP32", "shape": [len(rows), 4], "data": rows}
    ])  # fmt: skip
    assert response.status_code == 200, response.json
    assert response.headers["X-Model-Version"] == response.json["model_version"]
    outputs = _outputs(response.json)
    ours = client.post("/model/xgboost/predict", json={"instances": READINGS}).json["results"]
    assert outputs["probability"]["data"] == [r["probability"] for r in ours]
    assert outputs["prediction"]["data"] == [r["prediction"] for r in ours]
    assert outputs["at_risk"]["data"] == [r["at_risk"] for r in ours]
    assert outputs["probability"]["shape"] == [len(rows)]


def test_xgboost_nested_and_flat_data_are_the_same(client):
    _, rows = _feature_rows(client, READINGS)
    flat = [v for row in rows for v in row]
    answers = [
        _infer(
            client,
            "xgboost",
            [{"name": "features", "datatype": "FP32", "shape": [len(rows), 4], "data": data}],
        ).json  # fmt: skip
        for data in (rows, flat)
    ]
    assert answers[0] == answers[1]


def test_gru_json_inference_equals_the_family_route(client):
    windows = [_window(1), _window(2)]
    data = [[[r[c] for c in CHANNEL_NAMES] for r in w] for w in windows]
    response = _infer(client, "gru", [
        {"name": "window", "datatype": "FP32", "shape": [2, 60, 8], "data": data}
    ])  # fmt: skip
    assert response.status_code == 200, response.json
    outputs = _outputs(response.json)
    for i, window in enumerate(windows):
        ours = client.post("/model/gru/predict", json={"readings": window}).json
        assert outputs["indices"]["data"][2 * i : 2 * i + 2] == [
            ours["indices"]["lubrificacao"],
            ours["indices"]["hidraulico"],
        ]
        assert outputs["status"]["data"][2 * i : 2 * i + 2] == [
            ours["status"]["lubrificacao"],
            ours["status"]["hidraulico"],
        ]


def test_gru_short_window_is_padded_like_the_family_route(client):
    window = _window(3, rows=5)
    data = [[r[c] for c in CHANNEL_NAMES] for r in window]
    outputs = _outputs(_infer(client, "gru", [
        {"name": "window", "datatype": "FP32", "shape": [1, 5, 8], "data": data}
    ]).json)  # fmt: skip
    ours = client.post("/model/gru/predict", json={"readings": window}).json
    assert outputs["indices"]["data"] == list(ours["indices"].values())


def test_lstm_inference_with_horizon_equals_the_family_route(client):
    series = [[100 + 0.5 * i for i in range(70)], [4.0 + 0.01 * (i % 7) for i in range(70)]]
    response = _infer(
        client,
        "lstm",
        [{"name": "series", "datatype": "FP64", "shape": [2, 70], "data": series}],
        parameters={"horizon": 3},
    )
    assert response.status_code == 200, response.json
    outputs = _outputs(response.json)
    for i, values in enumerate(series):
        ours = client.post("/model/lstm/predict", json={"data": values, "horizon": 3}).json
        assert outputs["prediction"]["data"][i] == ours["prediction"]
        assert outputs["forecast"]["data"][3 * i : 3 * i + 3] == ours["forecast"]
    assert outputs["forecast"]["shape"] == [2, 3]


def _binary_request(rows: np.ndarray, outputs: list[str] | None = None) -> tuple[bytes, dict]:
    raw = rows.astype("<f4").tobytes()
    header = {
        "inputs": [{"name": "features", "datatype": "FP32", "shape": list(rows.shape),
                    "parameters": {"binary_data_size": len(raw)}}],
    }  # fmt: skip
    if outputs is None:
        header["parameters"] = {"binary_data_output": True}
    else:
        header["outputs"] = [{"name": n, "parameters": {"binary_data": True}} for n in outputs]
    text = orjson.dumps(header)
    return text + raw, {HEADER_LENGTH: str(len(text))}


def _decode_bytes(raw: bytes) -> list[str]:
    values, offset = [], 0
    while offset < len(raw):
        (length,) = struct.unpack_from("<I", raw, offset)
        values.append(raw[offset + 4 : offset + 4 + length].decode())
        offset += 4 + length
    return values


def test_binary_tensors_in_and_out(client):
    _, rows = _feature_rows(client, READINGS)
    body, headers = _binary_request(np.array(rows))
    # tritonclient sends no Content-Type: the body is read whatever its media type.
    response = client.post("/v2/models/xgboost/infer", data=body, headers=headers)
    assert response.status_code == 200, response.data[:300]
    assert response.mimetype == "application/octet-stream"
    length = int(response.headers[HEADER_LENGTH])
    header, blob = orjson.loads(response.data[:length]), response.data[length:]
    sizes = {o["name"]: o["parameters"]["binary_data_size"] for o in header["outputs"]}
    probability = np.frombuffer(blob[: sizes["probability"]], dtype="<f4")
    rest = blob[sizes["probability"] :]
    prediction = _decode_bytes(rest[: sizes["prediction"]])
    at_risk = np.frombuffer(rest[sizes["prediction"] :], dtype="?")
    ours = client.post("/model/xgboost/predict", json={"instances": READINGS}).json["results"]
    assert probability.tolist() == pytest.approx([r["probability"] for r in ours], rel=1e-6)
    assert prediction == [r["prediction"] for r in ours]
    assert at_risk.tolist() == [r["at_risk"] for r in ours]


def test_only_the_requested_outputs_are_sent(client):
    _, rows = _feature_rows(client, READINGS)
    body, headers = _binary_request(np.array(rows), outputs=["probability"])
    response = client.post("/v2/models/xgboost/infer", data=body, headers=headers)
    length = int(response.headers[HEADER_LENGTH])
    header = orjson.loads(response.data[:length])
    assert [o["name"] for o in header["outputs"]] == ["probability"]
    assert len(response.data) - length == 4 * len(rows)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([[1800, 25.0, 24.1, 27.8]], "pressao_oleo_bar"),  # beyond the oil pressure range
        ([[-5, 4.5, 24.1, 27.8]], "rotacao_motor_rpm"),
    ],
)
def test_out_of_range_values_are_422_naming_the_feature(client, data, field):
    order = client.get("/v2/models/xgboost").json["parameters"]["feature_order"]
    spec_order = [
        "rotacao_motor_rpm",
        "pressao_oleo_bar",
        "tensao_bateria_v",
        "tensao_alternador_v",
    ]
    row = [data[0][spec_order.index(name)] for name in order]
    response = _infer(client, "xgboost", [
        {"name": "features", "datatype": "FP32", "shape": [1, 4], "data": [row]}
    ])  # fmt: skip
    assert response.status_code == 422
    assert field in response.json["error"]
    assert response.json["errors"]["features"]["0"][field]


def test_nan_is_422(client):
    body = (
        b'{"inputs": [{"name": "features", "datatype": "FP64", "shape": [1, 4], '
        b'"data": [1800, NaN, 24.1, 27.8]}]}'
    )
    response = client.post("/v2/models/xgboost/infer", data=body)
    assert response.status_code == 422
    assert "not a finite number" in response.json["error"]


def test_binary_nan_is_422(client):
    body, headers = _binary_request(np.array([[1800, np.nan, 24.1, 27.8]]))
    response = client.post("/v2/models/xgboost/infer", data=body, headers=headers)
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("request_body", "status", "words"),
    [
        ({"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 4],
                      "data": [1, 2, 3]}]}, 400, "holds 4 values"),
        ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4],
                      "data": [1, 2, 3, 4]}]}, 400, "takes one input, 'features'"),
        ({"inputs": [{"name": "features", "datatype": "FP32", "shape": [4],
                      "data": [1, 2, 3, 4]}]}, 400, "must have shape [-1, 4]"),
        ({"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 4],
                      "data": [1, "2", 3, 4]}]}, 400, "JSON numbers"),
        ({"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 4],
                      "data": [1, True, 3, 4]}]}, 400, "JSON numbers"),
        ({"inputs": [{"name": "features", "datatype": "STRING", "shape": [1, 4],
                      "data": [1, 2, 3, 4]}]}, 400, "datatype"),
        ({"inputs": []}, 400, "needs `inputs`"),
        ([1, 2], 400, "JSON object"),
        ({"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 4],
                      "data": [1800, 4.5, 24.1, 27.8]}],
          "outputs": [{"name": "nope"}]}, 400, "Unknown output"),
    ],
)  # fmt: skip
def test_malformed_requests_are_400_in_the_envelope(client, request_body, status, words):
    response = client.post("/v2/models/xgboost/infer", json=request_body)
    assert response.status_code == status, response.json
    assert words in response.json["error"]
    assert response.json["success"] is False and response.json["code"] == status


def test_not_json_is_400(client):
    response = client.post("/v2/models/xgboost/infer", data=b"{not json")
    assert response.status_code == 400
    assert response.json["error"] == "The inference request is not valid JSON."


def test_binary_size_mismatch_is_400(client):
    body, headers = _binary_request(np.array([[1800.0, 4.5, 24.1, 27.8]]))
    response = client.post("/v2/models/xgboost/infer", data=body[:-2], headers=headers)
    assert response.status_code == 400
    assert "binary_data_size" in response.json["error"]
    bad_header = client.post(
        "/v2/models/xgboost/infer", data=body, headers={HEADER_LENGTH: str(len(body) + 5)}
    )
    assert bad_header.status_code == 400 and HEADER_LENGTH in bad_header.json["error"]


def test_too_many_rows_is_422(make_app, all_families_root):
    client = make_app(
        MODEL_STORE=str(all_families_root), MODEL_FAMILIES=("xgboost",), MAX_BATCH_SIZE=2
    ).test_client()
    rows = [[1800, 4.5, 24.1, 27.8]] * 3
    response = _infer(client, "xgboost", [
        {"name": "features", "datatype": "FP32", "shape": [3, 4], "data": rows}
    ])  # fmt: skip
    assert response.status_code == 422 and "at most 2" in response.json["error"]


def test_lstm_short_series_says_what_older_clients_match(client):
    response = _infer(client, "lstm", [
        {"name": "series", "datatype": "FP64", "shape": [1, 10], "data": [[1.0] * 10]}
    ])  # fmt: skip
    assert response.status_code == 422
    assert "Input data must have at least 60 values" in response.json["error"]


def test_gru_window_longer_than_60_is_422(client):
    data = [[[1800, 82, 4.5, 78, 6, 1.1, 24.6, 27.8]] * 61]
    response = _infer(client, "gru", [
        {"name": "window", "datatype": "FP32", "shape": [1, 61, 8], "data": data}
    ])  # fmt: skip
    assert response.status_code == 422 and "1 to 60 readings" in response.json["error"]


def test_unknown_model_and_version_are_404(client):
    assert client.get("/v2/models/bert").status_code == 404
    assert client.post("/v2/models/bert/infer", json={"inputs": []}).status_code == 404
    assert client.get("/v2/models/xgboost/versions/999").status_code == 404
    response = _infer(client, "xgboost", [
        {"name": "features", "datatype": "FP32", "shape": [1, 4], "data": [1800, 4.5, 24, 27]}
    ], version="999")  # fmt: skip
    assert response.status_code == 404 and "'999'" in response.json["error"]
    assert client.get("/v2/models/xgboost/versions/999/ready").status_code == 404


def test_served_version_answers_by_number(client):
    version = client.get("/v2/models/xgboost").json["versions"][0]
    response = _infer(client, "xgboost", [
        {"name": "features", "datatype": "FP32", "shape": [1, 4], "data": [1800, 4.5, 24, 27]}
    ], version=version)  # fmt: skip
    assert response.status_code == 200 and response.json["model_version"] == version


def test_a_broken_family_is_not_ready_while_the_others_answer(
    make_app, tmp_path, all_families_root
):
    import shutil

    root = tmp_path / "store"
    shutil.copytree(all_families_root, root, symlinks=False)
    for artifact in (root / "xgboost").rglob("model.ubj"):
        artifact.write_bytes(b"corrupted")
    client = make_app(MODEL_STORE=str(root), MODEL_FAMILIES=("xgboost", "lstm")).test_client()
    assert client.get("/v2/health/ready").status_code == 503
    ready = client.get("/v2/models/xgboost/ready")
    assert ready.status_code == 503 and ready.json["ready"] is False and ready.json["error"]
    infer = _infer(client, "xgboost", [
        {"name": "features", "datatype": "FP32", "shape": [1, 4], "data": [1800, 4.5, 24, 27]}
    ])  # fmt: skip
    assert infer.status_code == 503 and "Retry-After" in infer.headers
    assert client.get("/v2/models/lstm/ready").status_code == 200


def test_read_keys_guard_inference_but_not_health(make_app, all_families_root):
    client = make_app(
        MODEL_STORE=str(all_families_root), MODEL_FAMILIES=("xgboost",), READ_API_KEYS=("k",)
    ).test_client()
    assert client.get("/v2/health/live").status_code == 200
    assert client.get("/v2/health/ready").status_code == 200
    assert client.get("/v2/models/xgboost").status_code == 401
    ok = client.get("/v2/models/xgboost", headers={"X-API-Key": "k"})
    assert ok.status_code == 200


def test_the_protocol_is_in_the_openapi_document(client):
    paths = client.get("/openapi.json").json["paths"]
    infer = paths["/v2/models/{name}/infer"]["post"]
    assert "application/octet-stream" in infer["requestBody"]["content"]
    assert {"/v2", "/v2/health/live", "/v2/health/ready", "/v2/models/{name}",
            "/v2/models/{name}/versions/{version}/infer"} <= set(paths)  # fmt: skip


def _warnings(body) -> list[dict]:
    text = body.get("parameters", {}).get("warnings")
    return orjson.loads(text) if text is not None else []


def test_rows_outside_the_training_data_carry_the_family_routes_warnings(client):
    """A reading far outside what xgboost was trained on (18 bar of oil pressure), a window
    hotter than any trained on, a series far outside the lstm's: the same warnings as the
    family routes give, each with its row; normal rows none, and no parameter at all when no
    row has any."""
    odd = {**READINGS[0], "pressao_oleo_bar": 18.0}
    order, rows = _feature_rows(client, [READINGS[0], odd])
    answer = _infer(client, "xgboost", [
        {"name": "features", "datatype": "FP32", "shape": [2, 4], "data": rows}
    ]).json  # fmt: skip
    ours = client.post("/model/xgboost/predict", json={"instances": [READINGS[0], odd]}).json
    expected = [{"row": i, **w} for i, r in enumerate(ours["results"]) for w in r["warnings"]]
    assert expected and [w["row"] for w in expected] == [1]
    assert _warnings(answer) == expected
    normal = _infer(client, "xgboost", [
        {"name": "features", "datatype": "FP32", "shape": [1, 4], "data": rows[:1]}
    ]).json  # fmt: skip
    assert "parameters" not in normal

    # Values a float32 holds exactly, so that both routes read the same numbers.
    hot = [{**r, "Cool_T": 190.0} for r in _window(4)]
    windows = [
        [[float(np.float32(r[c])) for c in CHANNEL_NAMES] for r in w] for w in (_window(5), hot)
    ]
    answer = _infer(client, "gru", [
        {"name": "window", "datatype": "FP32", "shape": [2, 60, 8], "data": windows}
    ]).json  # fmt: skip
    expected = []
    for row, window in enumerate(windows):
        readings = [dict(zip(CHANNEL_NAMES, r, strict=True)) for r in window]
        found = client.post("/model/gru/predict", json={"readings": readings}).json["warnings"]
        expected += [{"row": row, **w} for w in found]
    assert any(w["row"] == 1 and w["field"] == "Cool_T" for w in expected)
    assert _warnings(answer) == expected

    series = [[4.0 + 0.01 * (i % 7) for i in range(60)], [1e6 + i for i in range(60)]]
    answer = _infer(client, "lstm", [
        {"name": "series", "datatype": "FP64", "shape": [2, 60], "data": series}
    ]).json  # fmt: skip
    ours = client.post("/model/lstm/predict", json={"data": series[1]}).json["warnings"]
    assert ours and _warnings(answer) == [{"row": 1, **w} for w in ours]
