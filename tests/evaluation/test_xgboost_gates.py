"""Quality gates of the served xgboost model, on an independent fleet, and its behaviour.

The model is the session's default-physics model (tests/fixtures/xgboost.py: trained by the real
training code on seed 7); it is evaluated on pumps simulated from seed GATE_SEED, never used in
training, through the same evaluator as `pumpapi evaluate xgboost`.
"""

from __future__ import annotations

import numpy as np
import pytest

from pumpapi.evaluation import fleets
from pumpapi.evaluation import xgboost as evaluator

GATE_SEED = 424_242
SPEC = {"rpm": 1800.0, "oil": 4.5, "battery": 24.1, "alternator": 27.8}


@pytest.fixture(scope="session")
def gate(default_physics_model):
    def fleet(name):
        return fleets.fleet(name, pumps=40, steps=12_000, seed=GATE_SEED)

    result = evaluator.evaluate(
        default_physics_model,
        fleets=fleet,
        scenarios=[fleets.IN_DISTRIBUTION],
        resamples=50,
        seed=1,
    )
    return result["scenarios"][fleets.IN_DISTRIBUTION]


def test_xgboost_ranks_failures_better_than_the_logistic_regression(gate):
    auc = gate["metrics"]["roc_auc"]["value"]
    lr = gate["baselines"]["logistic_regression"]["roc_auc"]["value"]
    assert auc > lr, (auc, lr)


def test_a_tree_ensemble_on_the_same_features_is_measured_beside_the_auc_goal(gate):
    """The ceiling estimate: an unconstrained tree ensemble fitted on the version's training
    pumps, scored on the same rows; it ranks failures (well above chance) and the goal it
    bounds carries it."""
    trees = gate["baselines"]["tree_ensemble_same_features"]
    assert 0.6 < trees["roc_auc"]["value"] <= 1.0
    lo, hi = trees["roc_auc"]["ci"]
    assert lo <= trees["roc_auc"]["value"] <= hi
    goal = next(g for g in evaluator.goals({fleets.IN_DISTRIBUTION: gate}) if "+ 0.02" in g["goal"])
    assert goal["measured"]["ceiling"] == trees["roc_auc"]


def test_no_ceiling_for_a_version_not_trained_on_a_simulated_fleet():
    class FromDatabase:
        metadata = {"training_data": {"source": "database", "splits": {"train": {}}}}

    assert evaluator.tree_ensemble_ceiling(FromDatabase(), seed=0) is None


def test_probabilities_beat_the_base_rate(gate):
    assert gate["metrics"]["brier_skill"]["value"] > 0


def test_decisions_cost_less_than_always_answering_healthy(gate):
    cost = gate["metrics"]["cost_per_1000"]["value"]
    assert cost < gate["baselines"]["always_healthy"]["cost_per_1000"]["value"]


def _rows(rpm, oil, battery, alternator):
    return np.column_stack(np.broadcast_arrays(rpm, oil, battery, alternator)).astype(float)


def test_risk_is_non_increasing_in_oil_pressure(default_physics_model):
    model = default_physics_model
    oil = np.linspace(0.0, 10.0, 101)
    for rpm in (0.0, 800.0, 1300.0, 1800.0, 2200.0, 3000.0):
        for battery, alternator in ((24.1, 27.8), (23.4, 23.5), (25.0, 12.0)):
            p = model.predict(_rows(rpm, oil, battery, alternator)).astype(float)
            assert np.all(np.diff(p) <= 1e-6), (rpm, battery, alternator)


def test_no_set_point_cliff_around_1800_rpm(default_physics_model):
    """A healthy pump governed anywhere in 1600-2100 rpm (oil pressure following the speed as
    the affinity law says) reads healthy, with no jump at 1800 rpm."""
    model = default_physics_model
    rpm = np.arange(1600.0, 2101.0, 10.0)
    oil = 4.5 * (rpm / 1800.0) ** 1.3
    p = model.predict(_rows(rpm, oil, 24.6, 27.8)).astype(float)
    assert p.max() < model.threshold, p.max()
    assert np.abs(np.diff(p)).max() < 0.05
    at = {r: p[list(rpm).index(r)] for r in (1790.0, 1800.0, 1810.0, 1820.0)}
    assert abs(at[1820.0] - at[1790.0]) < 0.05, at


@pytest.mark.parametrize(
    "reading",
    [
        (800.0, 0.0, 24.6, 27.8),  # idle with no oil pressure
        (1800.0, 0.0, 24.6, 27.8),  # full speed with no oil pressure
        (1800.0, 4.5, 24.6, 0.0),  # alternator dead while running
        (1800.0, 4.5, 5.0, 27.8),  # a battery no 24 V battery can read
        (0.0, 0.0, 10.0, 10.0),  # stopped, battery flat beyond any rest voltage
    ],
)
def test_impossible_readings_never_look_healthy(default_physics_model, reading):
    (answer,) = default_physics_model.classify(default_physics_model.predict(_rows(*reading)))
    assert answer.at_risk, (reading, answer)


def test_ordinary_readings_are_not_caught_by_the_guards(default_physics_model):
    model = default_physics_model
    rows = _rows([0.0, 800.0, 1800.0], [0.0, 1.6, 4.5], 24.6, [24.6, 27.8, 27.8])
    _, guarded = model.postprocess(rows, model.predictor(rows))
    assert (guarded < 0).all()


def test_the_window_model_ranks_failures_far_better_than_one_reading(gate):
    """/machine/predict's window model against the reading model on the same windows' ends."""
    windowed = gate["window_model"]
    auc = windowed["metrics"]["roc_auc"]["value"]
    reading = windowed["reading_model_same_rows"]["roc_auc"]["value"]
    assert auc > 0.85, auc
    assert windowed["versus_reading_model"]["roc_auc_minus_reading_model"]["ci"][0] > 0.05
    assert reading < auc


def test_the_window_model_beats_the_base_rate_and_always_healthy(gate):
    metrics = gate["window_model"]["metrics"]
    assert metrics["brier_skill"]["value"] > 0
    assert metrics["cost_saving_vs_always_healthy_per_1000"]["value"] > 0
