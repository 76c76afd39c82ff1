"""What a view declares about the requests it takes: stated where the view is registered, and
collected into one table per app once its routes are registered.

A view states its policy with `@declare(...)` under its route decorator: the API keys it
requires (auth), the media types it takes, a raised body limit and a body it decodes itself
(limits). Whether a method parses a JSON body is recorded by the project's Blueprint when it
declares its arguments (`JSON_BODY`). `collect(app)` turns every route and method into a
`ViewPolicy` after the blueprints are registered; the request hooks look theirs up with
`policy(app, req)`, one dict lookup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from flask import Flask, Request

View = TypeVar("View", bound=Callable[..., Any])

#: The attribute `declare` sets on a view, and the one the Blueprint sets on a method whose
#: arguments are read from a JSON body (functools.wraps carries it through later decorators).
DECLARED = "request_policy"
JSON_BODY = "reads_json_body"
_TABLE = "pumpapi.view_policies"


@dataclass(frozen=True)
class ViewPolicy:
    #: The setting naming the API keys this view requires (auth), if any.
    api_keys_setting: str | None = None
    #: The setting raising the body size limit for this view, if any.
    body_limit_setting: str | None = None
    #: The media types the view declares it takes, if it declares any.
    accepted_media_types: tuple[str, ...] | None = None
    #: Whether the method parses a JSON body (a Blueprint `arguments` in `json`).
    reads_json_body: bool = False
    #: Whether the view decodes its body itself, whatever its media type and bytes (the Open
    #: Inference Protocol's binary tensors): only the size limit applies before the view.
    reads_raw_body: bool = False
    #: What the keys of `api_keys_setting` allow, as refusals say it ("Sending telemetry
    #: requires an API key ...").
    api_keys_purpose: str = "Writing"


_NO_VIEW = ViewPolicy()


def declare(
    *,
    api_keys: str | None = None,
    purpose: str = "Writing",
    media_types: tuple[str, ...] | None = None,
    body_limit: str | None = None,
    raw_body: bool = False,
) -> Callable[[View], View]:
    """Decorate a view (a MethodView class or a view function, under its route decorator)
    with its request policy: `api_keys` names the setting of the keys it requires and `purpose`
    what they allow; `media_types` what bodies it takes; `body_limit` the setting of its own
    body size limit; `raw_body` that it decodes its body itself."""
    declared = ViewPolicy(
        api_keys_setting=api_keys,
        body_limit_setting=body_limit,
        accepted_media_types=tuple(media_types) if media_types is not None else None,
        reads_raw_body=raw_body,
        api_keys_purpose=purpose,
    )

    def mark(view: View) -> View:
        setattr(view, DECLARED, declared)
        return view

    return mark


def collect(app: Flask) -> dict[tuple[str, str], ViewPolicy]:
    """Every registered (endpoint, method)'s policy: what its view declared, and whether that
    method reads a JSON body. Called once the blueprints are registered."""
    table: dict[tuple[str, str], ViewPolicy] = {}
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        holder = getattr(view, "view_class", view)
        declared = getattr(holder, DECLARED, _NO_VIEW)
        for method in rule.methods or ():
            handler = getattr(holder, method.lower(), view)
            table[(rule.endpoint, method)] = replace(
                declared, reads_json_body=bool(getattr(handler, JSON_BODY, False))
            )
    app.extensions[_TABLE] = table
    return table


def policy(app: Flask, req: Request) -> ViewPolicy:
    """The policy of the view `req` is routed to (none declared: `ViewPolicy()`). Takes the app
    and request objects themselves: reads through Flask's context-local proxies cost time on
    every request, and the hooks read a dozen (bench/notes.md, "Figures behind the code")."""
    return app.extensions[_TABLE].get((req.endpoint, req.method), _NO_VIEW)


def init_app(app: Flask) -> None:
    app.extensions[_TABLE] = {}
