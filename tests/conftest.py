"""Shared fixtures. Each area keeps its fixtures in tests/fixtures/<area>.py (loaded below)."""

from __future__ import annotations

import pytest

from pumpapi import create_app

pytest_plugins = [
    "tests.fixtures.db",
    "tests.fixtures.xgboost",
    "tests.fixtures.tensorflow",
    "tests.fixtures.gunicorn",
    "tests.fixtures.inference",
    "tests.fixtures.objectstore",
]


@pytest.fixture
def make_app(tmp_path):
    """Build an app; by default with an empty model store, no families and no database."""

    def build(**config):
        config.setdefault("MODEL_STORE", str(tmp_path / "models"))
        config.setdefault("MODEL_FAMILIES", ())
        config.setdefault("DATABASE_URL", None)
        config.setdefault("TESTING", True)
        # A writer thread and connection per app would pile up over the session: the tests of
        # the prediction log turn it on (gunicorn-served tests run with the default, on).
        config.setdefault("PREDICTION_LOG", False)
        return create_app(config)

    return build


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
