"""Request body limits (pumpapi.limits): media type, UTF-8, nesting, answered in the envelope."""

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.exceptions import BadRequest

from pumpapi.limits import MAX_JSON_DEPTH, _json_depth_escaped, json_depth, read_json


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b"1", 0),
        (b"[]", 1),
        (b'{"a": [1, {"b": [[]]}]}', 5),
        (b'{"a": "[[[[{{{{", "b": ["\\"[["]}', 2),  # brackets in strings do not count
        (b"[" * 5000, 5000),
        # An escaped backslash ends its string; an escaped quote does not.
        (b'["\\\\", "[[", [], "\\\\\\"[[["]', 2),
        (b'{"a\\"": "]]", "b": {"c": []}}', 3),
    ],
)
def test_json_depth(text, depth):
    assert json_depth(text) == depth


def test_deeply_nested_json_is_400_not_a_crash(client):
    # The standard library's json would raise RecursionError (a 500) on this.
    response = client.post(
        "/model/xgboost/predict",
        data="[" * 100_000 + "]" * 100_000,
        content_type="application/json",
    )
    assert response.status_code == 400
    assert f"at most {MAX_JSON_DEPTH}" in response.get_json()["error"]


def test_nesting_within_the_limit_reaches_validation(client):
    body = '{"a":' * MAX_JSON_DEPTH + "1" + "}" * MAX_JSON_DEPTH
    response = client.post("/model/xgboost/predict", data=body, content_type="application/json")
    assert response.status_code != 400


def test_non_utf8_body_is_400_saying_so(client):
    response = client.post(
        "/model/xgboost/predict",
        data=b'{"rotacao_motor_rpm": "\xff"}',
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.get_json()["error"].startswith("The request body is not valid UTF-8")


def test_a_body_of_the_wrong_type_is_415_on_json_endpoints(client):
    response = client.post("/model/xgboost/predict", data="rotacao_motor_rpm=1800")
    assert response.status_code == 415
    body = response.get_json()
    assert body["success"] is False and "application/json" in body["error"]


def test_endpoints_without_a_body_ignore_one_as_before(client):
    assert (
        client.post("/health-check", data="anything", content_type="text/plain").status_code == 200
    )


def test_unknown_paths_and_methods_answer_first(client):
    assert client.post("/nowhere", data="x", content_type="text/plain").status_code == 404
    assert client.put("/health", data="x", content_type="text/plain").status_code == 405


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='ab[]{}"\\ ', max_size=6),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_JSON.map(lambda v: json.dumps(v).encode()), st.binary(max_size=60)))
def test_both_scans_agree_on_any_text(text):
    # The split scan serves texts without backslashes, the numpy scan the others.
    assert json_depth(text) == _json_depth_escaped(text)
    without = text.replace(b"\\", b"")
    assert json_depth(without) == _json_depth_escaped(without)


@settings(max_examples=200, deadline=None)
@given(_JSON)
def test_json_depth_is_the_depth_of_the_parsed_value(value):
    def depth(v):
        if isinstance(v, list):
            return 1 + max(map(depth, v), default=0)
        if isinstance(v, dict):
            return 1 + max(map(depth, v.values()), default=0)
        return 0

    assert json_depth(json.dumps(value).encode()) == depth(value)


def test_read_json_reads_what_orjson_refuses_with_the_standard_library():
    assert read_json(b'{"a": 1.5, "b": [1, 2]}') == {"a": 1.5, "b": [1, 2]}
    value = read_json(b'{"a": NaN, "b": -Infinity, "c": 123456789012345678901234567890}')
    assert math.isnan(value["a"]) and value["b"] == -math.inf
    assert value["c"] == 123456789012345678901234567890  # an int, as the standard library reads it
    with pytest.raises(ValueError):
        read_json(b'{"a": ')


def test_what_orjson_refuses_is_depth_checked_before_the_standard_library_reads_it():
    # NaN makes orjson refuse the body; 40 levels are too deep for the fallback.
    deep_nan = b'{"a":' * 40 + b"NaN" + b"}" * 40
    with pytest.raises(BadRequest, match="40 levels deep"):
        read_json(deep_nan)
    # Beyond orjson's own limit (1,024), no parser recurses: 400, never a RecursionError.
    with pytest.raises(BadRequest, match="100000 levels deep"):
        read_json(b"[" * 100_000 + b"]" * 100_000)


def test_a_deeply_nested_telemetry_body_is_400(make_app):
    client = make_app(INGEST_API_KEYS=("k",)).test_client()
    response = client.post(
        "/machine/telemetry",
        data="[" * 50_000 + "]" * 50_000,
        content_type="application/json",
        headers={"X-API-Key": "k"},
    )
    assert response.status_code == 400
    assert f"at most {MAX_JSON_DEPTH}" in response.get_json()["error"]
