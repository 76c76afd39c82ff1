"""The one error envelope, for every kind of error the app can produce."""

import pytest
from flask import abort

from pumpapi import errors


def _assert_envelope(response, code):
    assert response.status_code == code
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["success"] is False
    assert body["code"] == code
    assert isinstance(body["status"], str) and body["status"]
    assert isinstance(body["error"], str) and body["error"]
    return body


def test_unknown_route_is_json_404(client):
    body = _assert_envelope(client.get("/no/such/thing"), 404)
    assert "/no/such/thing" in body["error"]


def test_wrong_method_is_405_and_keeps_allow(client):
    response = client.delete("/health")
    body = _assert_envelope(response, 405)
    assert "GET" in response.headers["Allow"]
    assert "DELETE" in body["error"]


def test_body_too_large_is_413(make_app):
    app = make_app(MAX_CONTENT_LENGTH=100)

    @app.post("/echo-size")
    def echo_size():
        from flask import request

        return {"n": len(request.get_data())}

    body = _assert_envelope(app.test_client().post("/echo-size", data=b"x" * 1000), 413)
    assert "100 bytes" in body["error"]


def test_unexpected_exception_is_500_without_traceback(make_app, caplog):
    app = make_app()
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    body = _assert_envelope(response, 500)
    assert "secret internals" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert "logged" in body["error"]
    assert any("secret internals" in (r.exc_text or "") for r in caplog.records)


def test_service_unavailable_has_retry_after(make_app):
    app = make_app(RETRY_AFTER_SECONDS=9)

    @app.get("/down")
    def down():
        raise errors.DatabaseUnavailable("PostgreSQL is not answering.")

    response = app.test_client().get("/down")
    body = _assert_envelope(response, 503)
    assert response.headers["Retry-After"] == "9"
    assert body["error"] == "PostgreSQL is not answering."


def test_abort_503_gets_retry_after_too(make_app):
    app = make_app()

    @app.get("/down")
    def down():
        abort(503)

    response = app.test_client().get("/down")
    _assert_envelope(response, 503)
    assert response.headers["Retry-After"]


def test_machine_not_found_message_is_the_one_clients_match():
    error = errors.MachineNotFound("MOTOBOMBA-999")
    assert error.status_code == 404
    assert error.message == "Nenhum dado encontrado para a máquina: MOTOBOMBA-999"


@pytest.mark.parametrize(
    ("field_errors", "expected"),
    [
        (
            {"pressao_oleo_bar": [errors.MISSING], "tensao_bateria_v": [errors.MISSING]},
            "Colunas esperadas ['pressao_oleo_bar', 'tensao_bateria_v'] não encontradas.",
        ),
        ({"_schema": ["Invalid input type."]}, "The request body must be a JSON object."),
        ({"x": ["Unknown field."]}, "Invalid field 'x': Unknown field."),
    ],
)
def test_validation_message_names_the_fields(field_errors, expected):
    assert errors.validation_message(field_errors) == expected


def test_validation_message_with_several_fields_names_each():
    message = errors.validation_message({"a": ["Not a valid number."], "b": [errors.MISSING]})
    assert message.startswith("2 invalid fields")
    assert "'a'" in message and "'b'" in message
