"""Training from PostgreSQL (`pumpapi train FAMILY --source db`): the same fleet trains the same
model whether it comes from the simulator in memory or from the readings and events stored."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from pumpapi.db import copy_fleet, to_conninfo
from pumpapi.db.training_data import StoredHistory, _health
from pumpapi.models.store import ModelStore
from pumpapi.training import xgboost as training
from tests.fixtures.xgboost import TINY_OPTIONS, tiny_fleet


def test_a_fleet_trains_the_same_from_the_database_as_from_memory(
    runner, tmp_path, database_url, monkeypatch
):
    fleet = tiny_fleet()
    copy_fleet(to_conninfo(database_url), fleet)
    monkeypatch.setenv("DATABASE_URL", database_url)
    store = tmp_path / "models"
    result = runner.invoke(
        args=["train", "xgboost", "--source", "db", "--store", str(store), "--seed",
              str(TINY_OPTIONS.seed), "--horizon-hours", str(TINY_OPTIONS.horizon_hours)]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    readings = sum(len(p.timestamps) for p in fleet)
    assert f"read {readings:,} readings of {len(fleet)} pumps" in result.output

    stored = ModelStore(store).resolve("xgboost").metadata
    source = stored["training_data"]["source"]
    assert source["kind"] == "database" and stored["tags"]["data"] == "database"
    assert source["readings"] == readings and source["pumps"] == len(fleet)
    assert source["failure_events"] == sum(len(set(p.failures)) for p in fleet)
    assert source["query"] == {"since": None, "until": None, "pumps": "all"}

    in_memory = training.train(TINY_OPTIONS, ModelStore(tmp_path / "memory"), fleet=fleet)
    # float32 storage and the pumps' order (by name) differ; what the model learns does not.
    assert stored["metrics"]["roc_auc"] == pytest.approx(
        in_memory.metadata["metrics"]["roc_auc"], abs=0.03
    )
    assert stored["metrics"]["base_rate"] == pytest.approx(
        in_memory.metadata["metrics"]["base_rate"], abs=0.01
    )


def test_a_selection_reads_only_its_pumps_and_period(runner, tmp_path, database_url, monkeypatch):
    fleet = tiny_fleet()
    copy_fleet(to_conninfo(database_url), fleet)
    monkeypatch.setenv("DATABASE_URL", database_url)
    start = fleet[0].timestamps[0].astype("datetime64[s]").astype(dt.datetime)
    names = [p.name for p in fleet[:30]]
    args = ["train", "xgboost", "--source", "db", "--store", str(tmp_path / "m"),
            "--until", (start + dt.timedelta(days=4)).isoformat(timespec="seconds")]  # fmt: skip
    for name in names:
        args += ["--pump", name]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    source = ModelStore(tmp_path / "m").resolve("xgboost").metadata["training_data"]["source"]
    assert source["pumps"] == 30 and source["query"]["pumps"] == names
    assert source["readings"] == sum(
        int((p.timestamps < np.datetime64(start + dt.timedelta(days=4))).sum()) for p in fleet[:30]
    )
    unknown = runner.invoke(args=[*args, "--pump", "NOPE"])
    assert unknown.exit_code != 0 and "NOPE" in unknown.output


def test_without_a_database_the_command_says_so(runner, tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    result = runner.invoke(args=["train", "xgboost", "--source", "db", "--store", str(tmp_path)])
    assert result.exit_code != 0 and "DATABASE_URL" in result.output


def _t(minutes: int) -> dt.datetime:
    return dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)


def test_health_labels_run_between_inspections_and_stop_at_failures():
    timestamps = np.array([np.datetime64(_t(m).replace(tzinfo=None), "us") for m in range(100)])
    events = [
        (_t(10), "inspection", None, 90.0, 80.0),
        (_t(20), "inspection", None, 70.0, 80.0),
        (_t(30), "failure", "oil_leak", None, None),
        (_t(40), "repair", None, None, None),
        (_t(60), "inspection", None, 80.0, 60.0),
    ]
    lubrication, hydraulic = _health(timestamps, events, len(timestamps))
    assert np.isnan(lubrication[:10]).all()  # before the first inspection: unknown
    assert lubrication[10] == 90 and lubrication[15] == pytest.approx(80) and lubrication[20] == 70
    # Toward an oil leak, lubrication wears to 0; hydraulic is not known across the failure.
    assert lubrication[25] == pytest.approx(35) and lubrication[30] == 0
    assert hydraulic[15] == 80 and np.isnan(hydraulic[25])
    assert np.isnan(lubrication[31:40]).all()  # between the failure and its repair
    # From the repair (100) to the next inspection, then unknown again.
    assert lubrication[40] == 100 and lubrication[50] == pytest.approx(90) and lubrication[60] == 80
    assert hydraulic[40] == 100 and hydraulic[60] == 60 and np.isnan(hydraulic[61:]).all()


def test_stored_histories_label_failures_like_the_simulator():
    history = StoredHistory(
        "P", np.arange(10).astype("datetime64[m]"), np.zeros((10, 8), np.float32),
        np.array([4, 8]), np.full(10, np.nan), np.full(10, np.nan),
    )  # fmt: skip
    assert history.failure_within(2).tolist() == [
        False, False, True, True, False, False, True, True, False, False
    ]  # fmt: skip


def test_window_families_train_from_the_database(tmp_path, database_url):
    import psycopg

    from pumpapi.db.training_data import Selection, read_fleet
    from pumpapi.devtools import simulator
    from pumpapi.training.gru import train_gru
    from pumpapi.training.lstm import train_lstm
    from tests.fixtures.tensorflow import TINY_GRU, TINY_LSTM

    # 50 hours a pump: four inspections each, so health is known over the 36 hours between
    # the first and the last (the simulator writes an inspection every 12 h).
    copy_fleet(to_conninfo(database_url), simulator.simulate_fleet(5, 3_000, seed=21))
    with psycopg.connect(to_conninfo(database_url)) as conn:
        fleet = list(read_fleet(conn, Selection()))
    labelled = sum(int(np.isfinite(p.lubrication_health).sum()) for p in fleet)
    assert 5 * 2_000 < labelled < 5 * 2_300
    described = {"kind": "database", "pumps": len(fleet)}
    store = ModelStore(tmp_path)
    gru = train_gru(store, TINY_GRU, fleet, described)
    assert gru.metadata["training"]["source"] == described
    assert "simulator" not in gru.metadata["training"]
    # Only windows ending where an inspection defines the indices are trained on.
    windows = gru.metadata["training"]["windows"]
    assert 0 < sum(windows.values()) <= labelled // TINY_GRU.stride + 5
    lstm = train_lstm(store, TINY_LSTM, fleet, described)
    assert lstm.metadata["training"]["source"] == described
    assert lstm.metadata["metrics"]["mase"] is not None
