"""The model families and the class of each, imported only when that family is loaded (a process
pays only for the libraries it serves)."""

from __future__ import annotations

import importlib

from pumpapi.models.base import Model

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
