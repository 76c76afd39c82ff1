"""Limits on what a request body may be: its media type, UTF-8, and how deeply JSON nests.

Media type, size and UTF-8 are checked before any view reads the body. JSON bodies are read by
`read_json`: orjson first, which never recurses without bound (it refuses nesting beyond 1,024),
and only what orjson refuses reaches the standard library's json, which would raise
RecursionError (a 500) on a few thousand nested brackets, after its depth is checked. Every
refusal is answered in the one error envelope.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
from flask import Flask, Request, current_app, request
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from pumpapi.extensions import views

#: Deepest JSON accepted. Every request of the API nests 3 levels at most; 32 leaves room for
#: any future body while keeping error messages and parsers far from recursion limits.
MAX_JSON_DEPTH = 32

_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_OPEN = (ord("["), ord("{"))
_CLOSE = (ord("]"), ord("}"))


def _string_quotes(codes: np.ndarray) -> np.ndarray:
    """Positions of the quotes that open or close a string: those not escaped by an odd run of
    backslashes before them."""
    quotes = np.flatnonzero(codes == _QUOTE)
    backslashes = np.flatnonzero(codes == _BACKSLASH)
    if not backslashes.size:
        return quotes
    # Runs of consecutive backslashes: where each ends, and whether its length is odd.
    breaks = np.flatnonzero(np.diff(backslashes) != 1)
    starts = np.r_[0, breaks + 1]
    ends = np.r_[breaks, backslashes.size - 1]
    odd_run_ends = backslashes[ends[(ends - starts) % 2 == 0]]
    return quotes[~np.isin(quotes - 1, odd_run_ends)]


_NOT_BRACKETS_OR_QUOTES = bytes(sorted(set(range(256)) - set(b'[]{}"')))


def json_depth(body: bytes) -> int:
    """How deeply the arrays and objects of a JSON text nest (0 for a scalar).

    Brackets inside strings do not count. Works on the raw bytes, so it never recurses and
    costs milliseconds for megabytes (a regular expression over the strings was far slower
    on a large telemetry batch); malformed JSON is left for the parser to refuse.

    Without a backslash no quote is escaped, so every quote opens or closes a string: only
    the brackets and quotes matter, and `bytes.translate` keeps just those, in C, before numpy
    tells which brackets follow an even number of quotes (a fraction of the general scan's
    time, which handles escapes: bench/notes.md, "Figures behind the code").
    """
    if b"\\" in body:
        return _json_depth_escaped(body)
    codes = np.frombuffer(body.translate(None, _NOT_BRACKETS_OR_QUOTES), dtype=np.uint8)
    quotes = codes == _QUOTE
    outside = np.cumsum(quotes) % 2 == 0  # quotes before it (itself included) even
    return _max_depth(codes[outside & ~quotes])


def _max_depth(brackets: np.ndarray) -> int:
    """The deepest nesting of a sequence of bracket bytes."""
    steps = np.where((brackets == _OPEN[0]) | (brackets == _OPEN[1]), 1, -1)
    return int(np.cumsum(steps).max(initial=0))


def _json_depth_escaped(body: bytes) -> int:
    """json_depth of any text: string quotes told from escaped ones with numpy."""
    codes = np.frombuffer(body, dtype=np.uint8)
    opening = (codes == _OPEN[0]) | (codes == _OPEN[1])
    brackets = np.flatnonzero(opening | (codes == _CLOSE[0]) | (codes == _CLOSE[1]))
    if not brackets.size:
        return 0
    # A bracket is inside a string when an odd number of string quotes come before it.
    outside = np.searchsorted(_string_quotes(codes), brackets) % 2 == 0
    return _max_depth(codes[brackets[outside]])


def _has_body(req: Request) -> bool:
    return bool(req.content_length) or "chunked" in (
        req.headers.get("Transfer-Encoding", "").lower()
    )


def _check_request_body() -> None:
    """before_request: refuse a body the endpoint cannot read, with 413, 415 or 400."""
    req = request._get_current_object()
    if req.routing_exception is not None or not _has_body(req):
        return  # 404/405 answer first; a bodiless request has nothing to check
    app = current_app._get_current_object()
    view = views.policy(app, req)
    # A view may raise the body limit for itself (telemetry batches are larger than a reading).
    if view.body_limit_setting:
        req.max_content_length = int(app.config[view.body_limit_setting])
    if view.reads_raw_body:
        req.get_data(cache=True)  # 413 here if larger than the limit; the view decodes it
        return
    accepted = view.accepted_media_types or ("application/json",)
    mimetype = req.mimetype
    if mimetype not in accepted and not (req.is_json and "application/json" in accepted):
        # Only views that read a body declare what they take; the others ignore a body as
        # before, so a client posting junk to /health-check is not refused.
        if view.accepted_media_types is not None or view.reads_json_body:
            raise UnsupportedMediaType(
                f"This endpoint takes {' or '.join(accepted)} bodies; the request was sent as "
                f"{mimetype or 'no Content-Type'}. Set the Content-Type header."
            )
        return
    body = req.get_data(cache=True)  # 413 here if larger than the limit
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(
            f"The request body is not valid UTF-8 (byte {exc.start}); encode it as UTF-8."
        ) from None


def read_json(body: bytes | str) -> Any:
    """A JSON body as Python values: how every JSON request body is read.

    orjson reads plain JSON (~4× the standard library) and refuses the rest without ever
    recursing deeply. What it refuses — NaN and Infinity literals, numbers beyond a double,
    lone surrogates, broken syntax, nesting beyond 1,024 — is read by the standard library,
    so that a NaN is refused as a field's value (422) like everywhere in the API, but only
    after its depth is bounded (MAX_JSON_DEPTH): 400, never a RecursionError. Broken syntax
    raises json.JSONDecodeError (a ValueError) for the caller to answer.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    # A body nests no deeper than it has opening brackets: counting them (two C calls) spares
    # most bodies the scan.
    if raw.count(b"{") + raw.count(b"[") > MAX_JSON_DEPTH:
        depth = json_depth(raw)
        if depth > MAX_JSON_DEPTH:
            # Worded without "JSON": the envelope would take it for a syntax error.
            raise BadRequest(
                f"The body nests arrays and objects {depth} levels deep; at most "
                f"{MAX_JSON_DEPTH} are accepted."
            )
    try:
        value = json.loads(body)
    except json.JSONDecodeError:
        raise
    except ValueError as exc:
        # The standard library refuses integers of more than 4,300 digits (a guard against
        # quadratic int() conversion) with a plain ValueError: the client's fault, not ours.
        raise BadRequest(
            f"The body holds a number that cannot be read ({exc}); send plain decimal numbers."
        ) from None
    _refuse_lone_surrogates(value)
    return value


def _refuse_lone_surrogates(value: Any) -> None:
    """A `\\ud800` escape without its pair is no character: it can be neither stored
    (PostgreSQL text is UTF-8) nor written back in an error message, so it is refused here,
    400, wherever it is (a key, a value, a pump's name). orjson refuses such bodies, so only
    the rare body read by the standard library pays for this check."""
    try:
        json.dumps(value, ensure_ascii=False, allow_nan=True).encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(exc.object[exc.start])
        raise BadRequest(
            f"The body holds an unpaired UTF-16 surrogate escape (\\u{code:04x}), which is "
            "not a character; send valid Unicode text."
        ) from None


def init_app(app: Flask) -> None:
    app.before_request(_check_request_body)
