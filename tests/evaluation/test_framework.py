"""The evaluation framework: pump-level bootstrap, fast weighted metrics, fleets and scenarios."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from pumpapi.devtools.simulator import DEFAULT_PHYSICS
from pumpapi.evaluation import fleets, stats


def _scores(seed=0, n=4000, pumps=25):
    rng = np.random.default_rng(seed)
    pump = rng.integers(0, pumps, n)
    y = rng.random(n) < 0.2
    s = np.round(rng.random(n) + 0.6 * y, 2)  # rounded: ties
    return y, s, pump


def test_weighted_auc_and_average_precision_equal_sklearn_with_pump_weights():
    y, s, pump = _scores()
    ranked = stats.RankedScores(y, s, pump)
    for w in (np.ones(25), np.random.default_rng(1).integers(0, 3, 25).astype(float)):
        assert ranked.roc_auc(w) == pytest.approx(roc_auc_score(y, s, sample_weight=w[pump]))
        assert ranked.average_precision(w) == pytest.approx(
            average_precision_score(y, s, sample_weight=w[pump])
        )


def test_bootstrap_interval_covers_the_value_and_narrows_with_more_pumps():
    y, s, pump = _scores(n=2000, pumps=10)
    few = stats.bootstrap({"auc": stats.RankedScores(y, s, pump).roc_auc}, 10, resamples=200)
    y, s, pump = _scores(n=20000, pumps=100)
    many = stats.bootstrap({"auc": stats.RankedScores(y, s, pump).roc_auc}, 100, resamples=200)
    for r in (few, many):
        lo, hi = r["auc"]["ci"]
        assert lo <= r["auc"]["value"] <= hi
    assert np.diff(many["auc"]["ci"])[0] < np.diff(few["auc"]["ci"])[0]


def test_ratio_is_a_pooled_mean_and_difference_is_paired():
    num, den = np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 2.0])
    assert stats.ratio(num, den)(np.ones(3)) == pytest.approx(6 / 4)
    same = stats.bootstrap(
        {"zero": stats.difference(stats.ratio(num, den), stats.ratio(num, den))}, 3
    )
    assert same["zero"] == {"value": 0.0, "ci": [0.0, 0.0]}


def test_scenarios_change_the_physics_they_name_and_draw_other_seeds():
    hot = fleets.physics("hot_climate")
    assert min(hot.ambient_mean_c) > max(DEFAULT_PHYSICS.ambient_mean_c)
    assert max(fleets.physics("low_load").rpm_setpoint) <= 1500
    x3 = fleets.physics("fault_rate_x3").fault_rate_per_day
    assert x3 == {k: 3 * v for k, v in DEFAULT_PHYSICS.fault_rate_per_day.items()}
    noise = fleets.physics("sensor_noise_x2").noise_sigma
    assert noise == tuple(2 * v for v in DEFAULT_PHYSICS.noise_sigma)
    assert fleets.physics("in_distribution") == DEFAULT_PHYSICS
    seeds = {fleets.scenario_seed(name, 5) for name in fleets.SCENARIOS}
    assert len(seeds) == len(fleets.SCENARIOS)
    low = fleets.fleet("low_load", pumps=3, steps=3000, seed=5)
    rpm = np.concatenate([p.readings[p.running, 0] for p in low])
    assert rpm.max() < 1500 * 1.08 + 150  # set-points ≤ 1500 rpm ± 8 %, plus cavitation


def test_an_evaluation_seed_equal_to_the_training_seed_is_refused():
    meta = {"training_data": {"simulator": {"seed": 7}}}
    fleets.check_seed(8, meta, ["in_distribution"])
    with pytest.raises(ValueError, match="trained on"):
        fleets.check_seed(7, meta, ["in_distribution"])
    with pytest.raises(ValueError, match="unknown scenario"):
        fleets.scenario_names(["arctic"])
    assert dataclasses.is_dataclass(fleets.SCENARIOS["low_load"])


def test_an_evaluation_is_recorded_in_the_metadata_and_shown_by_info(
    tmp_path, xgboost_trained, make_app
):
    import shutil

    from pumpapi import evaluation
    from pumpapi.models.store import ModelStore

    root = tmp_path / "models"
    shutil.copytree(xgboost_trained.root, root)
    store = ModelStore(root)
    model = evaluation.load_model(store, "xgboost")
    result = evaluation.evaluate(
        "xgboost",
        model,
        pumps=6,
        steps=3_000,
        seed=99,
        scenarios=["in_distribution"],
        resamples=20,
    )
    assert set(result["scenarios"]) == {"in_distribution"}
    auc = result["scenarios"]["in_distribution"]["metrics"]["roc_auc"]
    assert set(auc) == {"value", "ci"}
    evaluation.record(model.version, result)
    stored = store.resolve("xgboost")
    stored.verify()  # the artifacts' checksums still hold
    assert stored.metadata["evaluation"]["fleets"]["seed"] == 99
    assert "plots" not in stored.metadata["evaluation"]
    app = make_app(MODEL_STORE=str(root), MODEL_FAMILIES=("xgboost",))
    info = app.test_client().get("/model/xgboost/info").get_json()["model_info"]
    assert info["evaluation"]["scenarios"]["in_distribution"]["metrics"]["roc_auc"] == auc
    with pytest.raises(ValueError, match="trained on"):
        evaluation.evaluate("xgboost", model, seed=xgboost_trained.options.seed)


def test_the_evaluate_command_prints_each_goal_with_its_measurement_and_records_it(
    tmp_path, xgboost_trained
):
    """`pumpapi evaluate`: goals with what was measured (and the ceiling), `--json` for
    machines, `--no-record` leaves the metadata alone, a training seed or a fleet of no pumps
    is refused with a clear message."""
    import json
    import shutil

    from click.testing import CliRunner

    from pumpapi.evaluation.commands import evaluate_command
    from pumpapi.models.store import ModelStore

    root = tmp_path / "models"
    shutil.copytree(xgboost_trained.root, root)
    args = ["xgboost", "--store", str(root), "--pumps", "6", "--steps", "3000", "--seed", "99"]
    args += ["--scenario", "in_distribution", "--resamples", "20"]
    runner = CliRunner()

    as_json = runner.invoke(evaluate_command, [*args, "--json", "--no-record"])
    assert as_json.exit_code == 0, as_json.output
    result = json.loads(as_json.output)
    assert result["fleets"]["pumps"] == 6 and "plots" not in result
    assert "evaluation" not in ModelStore(root).resolve("xgboost").metadata

    printed = runner.invoke(evaluate_command, args)
    assert printed.exit_code == 0, printed.output
    goal = next(line for line in printed.output.splitlines() if "+ 0.02" in line)
    assert "roc_auc" in goal and "logistic_regression" in goal and "ceiling" in goal
    assert ModelStore(root).resolve("xgboost").metadata["evaluation"]["fleets"]["seed"] == 99

    trained_seed = str(xgboost_trained.options.seed)
    refused = runner.invoke(
        evaluate_command, ["xgboost", "--store", str(root), "--seed", trained_seed]
    )
    assert refused.exit_code != 0 and "trained on" in refused.output
    empty = runner.invoke(evaluate_command, ["xgboost", "--store", str(root), "--pumps", "0"])
    assert empty.exit_code == 2 and "--pumps" in empty.output
