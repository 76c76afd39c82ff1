"""HTTP resources: one blueprint per model family, plus health and machine (telemetry) ones.

Each module exposes `register_blueprints(api)`. `MODULES` is ordered: it sets the order of the
tags in the OpenAPI document.
"""

from pumpapi.blueprints import (
    events,
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
