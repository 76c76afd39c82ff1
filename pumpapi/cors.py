"""Cross-origin access (CORS) for the origins in CORS_ORIGINS; none by default."""

from __future__ import annotations

from flask import Flask
from flask_cors import CORS

from pumpapi.observability import REQUEST_ID_HEADER

#: How long a browser may reuse a preflight answer: one preflight per origin and endpoint
#: every 10 minutes rather than one before every request.
PREFLIGHT_MAX_AGE_S = 600


def init_app(app: Flask) -> None:
    """Answer the configured origins' requests and preflights with Access-Control-* headers.

    Nothing is registered without origins, so that no response says anything about CORS and
    browsers apply the same-origin policy. Credentials are the X-API-Key header, which a page
    sends explicitly, never cookies: `supports_credentials` stays off.
    """
    origins = app.config.get("CORS_ORIGINS") or ()
    if isinstance(origins, str):  # set in code rather than parsed from the environment
        origins = origins.split(",")
    origins = [origin.strip() for origin in origins if origin.strip()]
    if not origins:
        return
    CORS(
        app,
        origins=origins,
        expose_headers=["Retry-After", REQUEST_ID_HEADER],
        max_age=PREFLIGHT_MAX_AGE_S,
        supports_credentials=False,
    )
