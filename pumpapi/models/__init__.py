"""The ML model families PumpAPI serves (loaders, pre/post-processing, the model store).

Not ORM models: the telemetry database lives in `pumpapi.db`. Each family is one module
implementing `pumpapi.models.base.Model`; `FAMILIES` maps a family name to its class, imported
only when that family is loaded so a process pays only for the libraries it serves.
"""

from __future__ import annotations

import importlib

from flask import Flask, current_app

from pumpapi.models.base import Model
from pumpapi.models.registry import ModelRegistry
from pumpapi.models.store import ModelStore

#: family name -> "module:Class" of its `Model` implementation.
FAMILIES: dict[str, str] = {
    "xgboost": "pumpapi.models.xgboost:FailureRiskModel",
    "gru": "pumpapi.models.gru:HealthIndexModel",
    "lstm": "pumpapi.models.lstm:SeriesForecaster",
}


def family_class(family: str) -> type[Model]:
    """The `Model` class of a family (imports its module on first use)."""
    try:
        target = FAMILIES[family]
    except KeyError:
        raise KeyError(f"unknown model family {family!r}; known: {sorted(FAMILIES)}") from None
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def init_app(app: Flask) -> ModelRegistry:
    """Load the configured families' latest versions into a registry kept in app.extensions."""
    store = ModelStore(app.config["MODEL_STORE"])
    registry = ModelRegistry(store, app.config)
    for family in app.config["MODEL_FAMILIES"]:
        registry.load(family)
    app.extensions["pumpapi.models"] = registry
    return registry


def registry() -> ModelRegistry:
    """The current app's model registry."""
    return current_app.extensions["pumpapi.models"]
