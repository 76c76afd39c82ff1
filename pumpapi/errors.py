"""The one error envelope of the API, the typed errors the domain raises, and their handlers."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from flask import Flask, current_app, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class PumpAPIError(Exception):
    """Base of the errors the service raises on purpose; each knows its HTTP status."""

    status_code: int = 500

    def __init__(self, message: str, errors: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors


class MalformedRequest(PumpAPIError):
    """A request that does not follow its protocol (e.g. an Open Inference Protocol body whose
    tensors do not match their shapes): 400, before any value is validated."""

    status_code = 400


class NotFound(PumpAPIError):
    status_code = 404


class MachineNotFound(NotFound):
    """A pump with no readings (or unknown). The message is the one clients match (SPEC)."""

    def __init__(self, machine: str):
        super().__init__(f"Nenhum dado encontrado para a máquina: {machine}")
        self.machine = machine


class ModelNotFound(NotFound):
    """No such family or version in the model store."""


class InvalidInput(PumpAPIError):
    """Input that passed the schema but cannot be used (e.g. wrong window shape)."""

    status_code = 422


class ServiceUnavailable(PumpAPIError):
    """A dependency (database, model) is not available now; clients should retry later."""

    status_code = 503


class ModelNotReady(ServiceUnavailable):
    """The family is configured but its model could not be loaded (missing, corrupted)."""


class DatabaseUnavailable(ServiceUnavailable):
    """PostgreSQL is down, unreachable, too slow, or not configured."""


class ArtifactCorrupted(Exception):
    """A model artifact is missing or its sha256 differs from its metadata. Not an HTTP error:
    the model registry records it and readiness reports it."""


def error_body(code: int, message: str, errors: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The SPEC envelope: success, error, code, status, and errors when fields are at fault."""
    body: dict[str, Any] = {
        "success": False,
        "error": message,
        "code": code,
        "status": HTTPStatus(code).phrase,
    }
    if errors:
        body["errors"] = dict(errors)
    return body


def _retry_after() -> dict[str, str]:
    return {"Retry-After": str(current_app.config.get("RETRY_AFTER_SECONDS", 5))}


def _flatten_locations(messages: Mapping[str, Any]) -> dict[str, Any]:
    """webargs nests errors by location ({"json": {...}, "query": {...}}); clients want fields."""
    flat: dict[str, Any] = {}
    for location, fields in messages.items():
        if isinstance(fields, Mapping):
            flat.update(fields)
        else:
            flat[location] = fields
    return flat


def _describe(field: str, messages: Any) -> str:
    if isinstance(messages, Mapping):
        return f"'{field}' ({_describe_messages(messages)})"
    return f"'{field}': {_describe_messages(messages)}"


def _describe_messages(messages: Any) -> str:
    if isinstance(messages, list | tuple):
        return " ".join(str(m) for m in messages)
    if isinstance(messages, Mapping):
        return "; ".join(f"{k}: {_describe_messages(v)}" for k, v in messages.items())
    return str(messages)


MISSING = "Missing data for required field."


def validation_message(errors: Mapping[str, Any]) -> str:
    """One sentence a person can act on, naming the fields at fault."""
    if set(errors) == {"_schema"}:
        text = _describe_messages(errors["_schema"])
        if "Invalid input type" in text:
            return "The request body must be a JSON object."
        return text
    missing = [f for f, m in errors.items() if isinstance(m, list) and MISSING in m]
    if missing and len(missing) == len(errors):
        # Older clients match this Portuguese sentence (SPEC, Errors).
        return f"Colunas esperadas {missing} não encontradas."
    parts = [_describe(f, m) for f, m in errors.items()]
    prefix = "Invalid field " if len(parts) == 1 else f"{len(parts)} invalid fields: "
    return prefix + "; ".join(parts)


def _http_message(error: HTTPException) -> str:
    code = error.code or 500
    if code == 404:
        return f"No endpoint at {request.path}. The API is described at /docs."
    if code == 405:
        allowed = ", ".join(sorted(getattr(error, "valid_methods", None) or ()))
        return f"Method {request.method} is not allowed on {request.path}; use one of: {allowed}."
    if code == 413:
        limit = request.max_content_length  # a view may raise it (telemetry batches)
        if limit is None:
            return "The request body is too large."
        return (
            f"The request body is larger than this endpoint's limit of {_size(limit)} "
            f"({limit} bytes); send fewer readings per request."
        )
    if code == 400 and isinstance(error.description, str) and "JSON" in error.description:
        return "The request body is not valid JSON."
    return str(error.description or HTTPStatus(code).phrase)


def _size(n_bytes: int) -> str:
    for unit, factor in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n_bytes >= factor:
            return f"{n_bytes / factor:g} {unit}"
    return f"{n_bytes} bytes"


#: Most bytes of a refused body read and discarded before answering 413 (see `_drain_body`).
DRAIN_LIMIT = 64 * 1024 * 1024


def _drain_body() -> bool:
    """Read and discard the rest of a body too large to be used, up to DRAIN_LIMIT bytes.

    A client that sends its body whole without waiting for `100 Continue` (most do) is still
    writing when the 413 is ready; closing the connection with its bytes unread makes the
    kernel answer with a reset, and the client sees a broken pipe instead of the answer. Read
    to its end, the connection closes cleanly and the client reads the 413. Larger bodies are
    not worth a worker's time: those clients get the reset. Returns whether it was read whole.
    """
    length = request.content_length
    stream = request.environ.get("wsgi.input")
    if length is None or length > DRAIN_LIMIT or stream is None:
        return False
    remaining = length
    try:
        while remaining > 0:
            chunk = stream.read(min(remaining, 1 << 16))
            if not chunk:
                break
            remaining -= len(chunk)
    except (OSError, ValueError):
        return False
    return remaining <= 0


def handle_http_exception(error: HTTPException):
    """Every werkzeug HTTPException, including webargs/smorest `abort`, in the one envelope."""
    code = error.code or 500
    if code == 413:
        _drain_body()
    data = getattr(error, "data", None) or {}
    headers: dict[str, str] = {}
    # Keep what werkzeug would have sent, e.g. `Allow` on 405.
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            headers[name] = value
    headers.update(data.get("headers") or {})
    errors = data.get("errors")
    if errors is None and "messages" in data:
        errors = _flatten_locations(data["messages"])
    if "message" in data:
        message = data["message"]
    elif code == 422 and errors:
        message = validation_message(errors)
    elif code == 400 and errors and "json" in (data.get("messages") or {}):
        message = "The request body is not valid JSON."
        errors = None
    else:
        message = _http_message(error)
    if code == 503:
        headers.setdefault("Retry-After", _retry_after()["Retry-After"])
    return error_body(code, message, errors), code, headers


def handle_pumpapi_error(error: PumpAPIError):
    headers = _retry_after() if isinstance(error, ServiceUnavailable) else {}
    if isinstance(error, ServiceUnavailable):
        log.warning("503 on %s %s: %s", request.method, request.path, error.message)
    return error_body(error.status_code, error.message, error.errors), error.status_code, headers


def handle_unexpected(error: Exception):
    """Anything else: logged with its traceback here, never shown to the client. (Flask picks
    the most specific handler, so HTTPExceptions never reach this one.)"""
    log.exception("Unhandled error on %s %s", request.method, request.path)
    return (
        error_body(500, "Internal error while handling the request; it has been logged."),
        500,
        {},
    )


def register_errorhandlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(PumpAPIError, handle_pumpapi_error)
    app.register_error_handler(Exception, handle_unexpected)
