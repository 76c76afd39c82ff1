"""The ML model families PumpAPI serves (loaders, pre/post-processing, the model store).

Not ORM models: the telemetry database lives in `pumpapi.db`. Each family is one module
implementing `pumpapi.models.base.Model`; `pumpapi.models.families` names each family's class,
imported only when that family is loaded so a process pays only for the libraries it serves.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, g, request

from pumpapi.models.base import Model
from pumpapi.models.objectstore import ObjectStore, is_remote
from pumpapi.models.registry import ModelRegistry
from pumpapi.models.store import ModelStore

log = logging.getLogger(__name__)


def init_app(app: Flask) -> ModelRegistry:
    """Load the configured families' latest versions into a registry kept in app.extensions.

    With the store in object storage, the families' latest versions are first brought into
    the local cache (verified); what the sync could not do is kept for readiness to show."""
    location = app.config["MODEL_STORE"]
    store = local_store(app.config)
    if is_remote(location):
        report = ObjectStore(location).sync(store, app.config["MODEL_FAMILIES"])
        app.extensions["pumpapi.model_store_sync"] = report
    registry = load_registry(store, app.config)
    app.extensions["pumpapi.models"] = registry
    app.after_request(_name_the_version)
    return registry


def load_registry(store: ModelStore, config) -> ModelRegistry:
    """Every configured family's aliased versions, loaded from `store`."""
    registry = ModelRegistry(store, config)
    for family in config["MODEL_FAMILIES"]:
        registry.load_family(family)
    return registry


def reload(app: Flask) -> ModelRegistry:
    """Load the store's current versions into a new registry and put it in place of the old
    one, whose models are released once nothing holds them. gunicorn's master calls it on
    SIGHUP (sent by the store watcher), before it forks the workers that replace the old."""
    old = app.extensions.get("pumpapi.models")
    registry = load_registry(local_store(app.config), app.config)
    if old is not None:
        lost = [
            family
            for family, status in old.status().items()
            if status.ready and not registry.status()[family].ready
        ]
        if lost:
            # Never trade serving models for broken ones: keep the old registry.
            log.error("model reload refused: %s would stop serving", ", ".join(lost))
            return old
    app.extensions["pumpapi.models"] = registry
    log.info("models reloaded: %s", {f: registry.versions(f) for f in registry.status()})
    return registry


def requested(family: str) -> Model:
    """The model that answers this request for `family`: the version or alias of `?version=`
    when given, else the family's `latest` (404 unknown, 503 not loaded)."""
    return registry().get(family, request.args.get("version") or None)


#: The header naming the model version that answered (SPEC: on every prediction).
VERSION_HEADER = "X-Model-Version"


def _name_the_version(response: Response) -> Response:
    """after_request: every answer a model computed names its version (noted by
    `timed_inference`), whatever the route, the family or the protocol."""
    inference = g.get("inference")
    if inference is not None:
        response.headers[VERSION_HEADER] = inference.version
    return response


def local_store(config) -> ModelStore:
    """The store a process reads and writes on disk: MODEL_STORE itself, or MODEL_CACHE when
    MODEL_STORE is in object storage."""
    location = str(config["MODEL_STORE"])
    return ModelStore(config["MODEL_CACHE"] if is_remote(location) else location)


def registry(app: Flask | None = None) -> ModelRegistry:
    """The model registry of `app` (default: the current app)."""
    return (app or current_app).extensions["pumpapi.models"]
