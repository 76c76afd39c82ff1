"""Request body limits (pumpapi.limits): media type, UTF-8, nesting, answered in the envelope."""

import pytest

from pumpapi.limits import MAX_JSON_DEPTH, json_depth


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
