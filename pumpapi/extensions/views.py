"""What a view declares about the requests it takes, read once per endpoint and method.

Views declare class attributes the request hooks act on: `api_keys_setting` (auth),
`body_limit_setting`, `accepted_media_types` and `reads_raw_body` (limits); flask-smorest
records whether a method reads a JSON body. Looking them up on every request cost several µs of
each; views cannot change once the app serves, so each endpoint's policy is read on its first
request and kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, Request


@dataclass(frozen=True)
class ViewPolicy:
    #: The setting naming the API keys this view requires (auth), if any.
    api_keys_setting: str | None
    #: The setting raising the body size limit for this view, if any.
    body_limit_setting: str | None
    #: The media types the view declares it takes, if it declares any.
    accepted_media_types: tuple[str, ...] | None
    #: Whether the method parses a JSON body (a flask-smorest `arguments` in `json`).
    reads_json_body: bool
    #: Whether the view decodes its body itself, whatever its media type and bytes (the Open
    #: Inference Protocol's binary tensors): only the size limit applies before the view.
    reads_raw_body: bool = False
    #: What the keys of `api_keys_setting` allow, as refusals say it ("Sending telemetry
    #: requires an API key ...").
    api_keys_purpose: str = "Writing"


_NO_VIEW = ViewPolicy(None, None, None, False)


def _policy_of(view: Any, method: str) -> ViewPolicy:
    holder = getattr(view, "view_class", view)
    apidoc = getattr(getattr(holder, method.lower(), None), "_apidoc", None) or {}
    parameters = (apidoc.get("arguments") or {}).get("parameters") or []
    accepted = getattr(holder, "accepted_media_types", None)
    return ViewPolicy(
        api_keys_setting=getattr(holder, "api_keys_setting", None),
        body_limit_setting=getattr(holder, "body_limit_setting", None),
        accepted_media_types=tuple(accepted) if accepted is not None else None,
        reads_json_body=any(p.get("in") == "json" for p in parameters),
        reads_raw_body=bool(getattr(holder, "reads_raw_body", False)),
        api_keys_purpose=getattr(holder, "api_keys_purpose", "Writing"),
    )


def policy(app: Flask, req: Request) -> ViewPolicy:
    """The policy of the view `req` is routed to (call it only for a request that matched a
    route: the keys kept are then bounded by the routes and their methods). Takes the app and
    request objects themselves: each attribute read through Flask's context-local proxies
    costs ~0.5 µs, and the hooks read a dozen."""
    key = (req.endpoint, req.method)
    policies: dict[tuple[str | None, str], ViewPolicy] = app.extensions["pumpapi.view_policies"]
    found = policies.get(key)
    if found is None:
        view = app.view_functions.get(key[0] or "")
        found = policies[key] = _policy_of(view, key[1]) if view else _NO_VIEW
    return found


def init_app(app: Flask) -> None:
    app.extensions["pumpapi.view_policies"] = {}
