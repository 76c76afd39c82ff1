"""`pumpapi models list` and `pumpapi models show`."""

from __future__ import annotations

import json
import shutil

import pytest


@pytest.fixture
def store_copy(tmp_path, xgboost_trained):
    root = tmp_path / "models"
    shutil.copytree(xgboost_trained.root, root)
    return root


def test_list_shows_each_version_with_its_integrity(runner, store_copy):
    (store_copy / "xgboost" / "1" / "model.ubj").write_bytes(b"tampered")
    result = runner.invoke(args=["models", "list", "--store", str(store_copy), "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert row["family"] == "xgboost" and row["version"] == "1" and row["latest"] is True
    assert row["integrity"].startswith("CORRUPTED: xgboost/1: checksum mismatch")


def test_list_of_an_empty_store_says_how_to_fill_it(runner, tmp_path):
    result = runner.invoke(args=["models", "list", "--store", str(tmp_path / "none")])
    assert result.exit_code == 0
    assert "is empty" in result.output and "pumpapi train" in result.output


def test_show_defaults_to_latest_and_names_a_missing_version(runner, store_copy):
    shown = runner.invoke(args=["models", "show", "xgboost", "--store", str(store_copy)])
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.output)
    assert body["version"] == "1"
    assert body["path"].endswith("xgboost/1")

    missing = runner.invoke(args=["models", "show", "xgboost", "9", "--store", str(store_copy)])
    assert missing.exit_code == 1
    assert "Version 9 of the xgboost model does not exist; available: 1." in missing.output


def test_store_defaults_to_the_environment_setting(runner, store_copy, monkeypatch):
    monkeypatch.setenv("PUMPAPI_MODEL_STORE", str(store_copy))
    result = runner.invoke(args=["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    assert [row["family"] for row in json.loads(result.output)] == ["xgboost"]
