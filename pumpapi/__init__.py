"""PumpAPI: inference service of a fleet of diesel motor pumps."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask

from pumpapi import settings
from pumpapi.extensions import views

__version__ = "0.1.0"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: settings (defaults < environment < `config`), extensions, blueprints."""
    app = Flask(__name__)
    app.config.from_mapping(settings.effective())
    if config:
        app.config.update(config)
    register_extensions(app)
    register_errorhandlers(app)
    register_blueprints(app)
    register_commands(app)
    views.collect(app)  # every route is registered: the request policies, once
    return app


def register_extensions(app: Flask) -> None:
    from pumpapi import auth, cors, db, limits, models, observability
    from pumpapi.db import predictions
    from pumpapi.extensions import json, smorest, views

    app.json = json.OrjsonProvider(app)
    views.init_app(app)
    app.extensions["pumpapi.api"] = smorest.init_app(app)
    db.init_app(app)
    predictions.init_app(app)
    models.init_app(app)
    # Before auth and limits: refused requests get a request id, a log line and a count too.
    observability.init_app(app)
    # Keys first: a request without a valid key is refused before its body is read.
    auth.init_app(app)
    limits.init_app(app)
    cors.init_app(app)


def register_errorhandlers(app: Flask) -> None:
    from pumpapi import errors

    errors.register_errorhandlers(app)


def register_blueprints(app: Flask) -> None:
    from pumpapi.blueprints import MODULES, PAGES

    api = app.extensions["pumpapi.api"]
    for module in MODULES:
        module.register_blueprints(api)
    for page in PAGES:
        page.init_app(app)


def register_commands(app: Flask) -> None:
    """`flask` offers the `pumpapi` commands for this app, each imported only when it runs."""
    from pumpapi.cli import lazy_app_cli

    app.cli = lazy_app_cli(app.name)


logging.getLogger(__name__).addHandler(logging.NullHandler())
