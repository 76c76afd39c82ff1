"""HTTP resources: one blueprint per model family, plus health and machine (telemetry) ones.

Each module exposes `register_blueprints(api)`. `MODULES` is ordered: it sets the order of the
tags in the OpenAPI document. `PAGES` are HTML pages for people (not in the OpenAPI document):
each exposes `init_app(app)`.
"""

from pumpapi.blueprints import (
    events,
    fleet,
    gru,
    health,
    inference,
    lstm,
    machines,
    performance,
    telemetry,
    xgboost,
)

MODULES = (health, xgboost, gru, lstm, machines, telemetry, events, performance, inference)
PAGES = (fleet,)
