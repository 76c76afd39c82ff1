"""Settings: package defaults, overridden by the environment, overridden by create_app(config)."""

import pytest

from pumpapi import create_app, settings


def test_every_setting_has_a_default_and_doc():
    for s in settings.SETTINGS:
        assert s.doc and s.env
    assert set(settings.defaults()) == {s.key for s in settings.SETTINGS}


def test_environment_overrides_defaults_and_is_parsed():
    found = settings.from_env(
        {"PUMPAPI_DB_POOL_MAX_SIZE": "9", "PUMPAPI_MODEL_FAMILIES": "xgboost, gru", "OTHER": "x"}
    )
    assert found == {"DB_POOL_MAX_SIZE": 9, "MODEL_FAMILIES": ("xgboost", "gru")}


def test_bad_environment_value_names_the_variable():
    with pytest.raises(ValueError, match="PUMPAPI_DB_POOL_TIMEOUT"):
        settings.from_env({"PUMPAPI_DB_POOL_TIMEOUT": "soon"})


def test_create_app_config_wins_over_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PUMPAPI_MAX_BATCH_SIZE", "5")
    monkeypatch.setenv("PUMPAPI_RETRY_AFTER_SECONDS", "11")
    app = create_app({"MODEL_FAMILIES": (), "MODEL_STORE": str(tmp_path), "MAX_BATCH_SIZE": 7})
    assert app.config["MAX_BATCH_SIZE"] == 7
    assert app.config["RETRY_AFTER_SECONDS"] == 11
