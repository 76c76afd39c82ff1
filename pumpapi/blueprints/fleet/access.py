"""Who may see the fleet pages when READ_API_KEYS is set: a browser cannot send X-API-Key.

A key form (`/fleet/login`) takes a read (or ingest) key once and sets a cookie holding not the
key but an HMAC of it (so the cookie cannot be replayed as X-API-Key against the API), HttpOnly
(no script reads it), SameSite=Strict (no other site's page sends it) and Secure behind HTTPS,
scoped to /fleet. Removing a key from the settings revokes its cookies. Clients that can send
the header (curl, monitoring) may still do so.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any

from flask import Request

from pumpapi.auth import HEADER, key_matches

COOKIE = "pumpapi_fleet"
COOKIE_PATH = "/fleet"
COOKIE_MAX_AGE = 12 * 3600
_PURPOSE = b"pumpapi fleet pages v1"


def keys(config: Mapping[str, Any]) -> tuple[str, ...]:
    """The keys that allow reading; empty when reads are open."""
    read = tuple(config.get("READ_API_KEYS") or ())
    return read + tuple(config.get("INGEST_API_KEYS") or ()) if read else ()


def token(key: str) -> str:
    """What the cookie holds for `key`."""
    return hmac.new(key.encode("utf-8", "surrogateescape"), _PURPOSE, hashlib.sha256).hexdigest()


def allowed(config: Mapping[str, Any], req: Request) -> bool:
    """Whether `req` may see the pages: reads are open, or it carries a valid key in the
    header, or the cookie of one."""
    allowed_keys = keys(config)
    if not allowed_keys:
        return True
    sent = req.headers.get(HEADER)
    if sent and key_matches(sent, allowed_keys):
        return True
    cookie = req.cookies.get(COOKIE)
    return bool(cookie) and key_matches(cookie, (token(k) for k in allowed_keys))


def key_allows(config: Mapping[str, Any], key: str, allowed_keys: Iterable[str] = ()) -> bool:
    """Whether a key typed into the form allows reading."""
    return bool(key) and key_matches(key, tuple(allowed_keys) or keys(config))


def safe_next(target: str | None) -> str:
    """Where to go after the form: a fleet page of this site, never another site."""
    if target and target.startswith(COOKIE_PATH) and not target.startswith("//"):
        if "\\" not in target and "\n" not in target and "\r" not in target:
            return target
    return COOKIE_PATH
