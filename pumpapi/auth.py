"""API keys (`X-API-Key`): required to send telemetry, and on reads only when configured.

Keys come from settings (INGEST_API_KEYS, READ_API_KEYS), are compared in constant time, and are
never logged: a refusal logs the endpoint, not what was sent.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterable

from flask import Flask, Request, current_app, request

from pumpapi.errors import PumpAPIError
from pumpapi.extensions import views

log = logging.getLogger(__name__)

HEADER = "X-API-Key"
#: WSGI environ key of a request replayed in process for shadow scoring: no client can set it
#: (headers arrive as HTTP_*), so it admits only what the app itself replays.
SHADOW_ENVIRON = "pumpapi.shadow"
#: The OpenAPI security scheme of the key, referenced by the endpoints that require it.
SECURITY_SCHEME = "ApiKeyAuth"

#: Blueprints that stay open even when reads require a key: load balancers, health checks and
#: people reading the docs carry no key.
#: The fleet pages check the key themselves: a browser cannot send the header, so they also
#: take the cookie their key form sets (pumpapi.blueprints.fleet.access).
OPEN_BLUEPRINTS = frozenset(
    {"health", "inference-health", "api-docs", "swagger_ui_assets", "fleet"}
)
#: Endpoints outside those blueprints that stay open too: Prometheus scrapes /metrics without a
#: key; nginx serves it to internal networks only (config/nginx.conf.j2).
OPEN_ENDPOINTS = frozenset({"static", "metrics"})


class Unauthorized(PumpAPIError):
    """No key was sent."""

    status_code = 401


class Forbidden(PumpAPIError):
    """A key was sent but it does not grant this."""

    status_code = 403


def key_matches(sent: str, keys: Iterable[str]) -> bool:
    """Whether `sent` is one of `keys`, comparing every key in constant time (no early exit,
    so the time taken says nothing about which key, or how much of one, matched)."""
    sent_bytes = sent.encode("utf-8", "surrogateescape")
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(sent_bytes, key.encode("utf-8", "surrogateescape"))
    return matched


def check_api_key(keys: Iterable[str], purpose: str, req: Request) -> None:
    """Raise Unauthorized (no key) or Forbidden (wrong key, or none configured) for `req`."""
    keys = tuple(keys)
    if not keys:
        # Whatever was sent: no key can work, so the answer must not ask for one.
        raise Forbidden(f"{purpose} is disabled on this instance: no API key is configured for it.")
    sent = req.headers.get(HEADER)
    if not sent:
        raise Unauthorized(f"{purpose} requires an API key: send it in the {HEADER} header.")
    if not key_matches(sent, keys):
        log.warning("wrong API key on %s %s", req.method, req.path)
        raise Forbidden(f"The API key sent in {HEADER} does not allow {purpose.lower()}.")


def _check_key() -> None:
    """before_request, ahead of any look at the body: a view naming `api_keys_setting` (e.g.
    telemetry ingestion) needs one of those keys; when READ_API_KEYS is set, every other
    endpoint but health, docs and metrics needs a read or an ingest key."""
    req = request._get_current_object()
    if req.routing_exception is not None:
        return  # 404 and 405 answer as usual
    if req.environ.get(SHADOW_ENVIRON):
        return  # the candidate scoring a request already admitted (pumpapi.db.predictions)
    if req.method == "OPTIONS":
        # Browsers send CORS preflights without the key; Flask answers OPTIONS itself (the
        # allowed methods, no data), so there is nothing to protect.
        return
    app = current_app._get_current_object()
    policy = views.policy(app, req)
    if policy.api_keys_setting:
        check_api_key(app.config[policy.api_keys_setting], policy.api_keys_purpose, req)
        return
    read_keys = tuple(app.config.get("READ_API_KEYS") or ())
    if not read_keys or req.blueprint in OPEN_BLUEPRINTS or req.endpoint in OPEN_ENDPOINTS:
        return
    check_api_key(read_keys + tuple(app.config["INGEST_API_KEYS"]), "Reading", req)


def init_app(app: Flask) -> None:
    """Register the key check; call it before `limits.init_app` so that a request without a
    valid key is refused before its body is read."""
    app.before_request(_check_key)
