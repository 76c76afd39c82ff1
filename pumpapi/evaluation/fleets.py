"""Independent fleets to evaluate on: pumps simulated from seeds no training used, under named
shift scenarios.

A scenario is a change of the simulator's physics (`pumpapi.devtools.simulator.Physics`), so
"hot climate" means hotter ambient air through every equation that reads it, not edited
readings. Each scenario has its own seed (the evaluation seed + its offset), so scenarios are
independent fleets, and a fleet is cached per process: the evaluator of a family and its
baselines score the same pumps.

`check_seed` refuses a seed a version was trained on (its metadata's
`training_data.simulator.seed`): evaluating on training pumps would measure memory, not skill.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pumpapi.devtools.simulator import DEFAULT_PHYSICS, Physics, PumpHistory, simulate_fleet

#: Default evaluation seed. Training uses 7 (xgboost) and 42 (gru, lstm); tests use small seeds.
DEFAULT_SEED = 20_261_203
#: ≥ 60 pumps by default: with fewer, the confidence intervals over pumps are too wide to rank
#: a model against its baseline.
DEFAULT_PUMPS = 60
#: Families whose goals need more: the gru's degraded windows come from few pumps (a fault
#: lasts days), so on 60 one pump's plateau can hold a third of a band's windows
#: (docs/window-models.md, "Why 240 pumps").
FAMILY_PUMPS = {"gru": 240}
#: Readings per pump (one a minute: ~14 days, past a full maintenance interval on most pumps).
DEFAULT_STEPS = 20_000
IN_DISTRIBUTION = "in_distribution"


@dataclass(frozen=True)
class Scenario:
    """A named fleet: the physics it is simulated with and what that means."""

    name: str
    description: str
    physics: Callable[[Physics], Physics]
    #: Added to the evaluation seed, so each scenario's pumps are independent of the others'.
    seed_offset: int


def _scaled(values: Mapping[str, float] | Sequence[float], factor: float):
    if isinstance(values, Mapping):
        return {k: v * factor for k, v in values.items()}
    return tuple(v * factor for v in values)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            IN_DISTRIBUTION,
            "the training physics, other pumps",
            lambda p: p,
            0,
        ),
        Scenario(
            "hot_climate",
            "ambient mean 32-42 °C instead of 18-30 °C (coolant runs hotter, oil thinner)",
            lambda p: dataclasses.replace(p, ambient_mean_c=(32.0, 42.0)),
            1,
        ),
        Scenario(
            "low_load",
            "nominal set-points 1200-1500 rpm instead of 1300-2200 rpm",
            lambda p: dataclasses.replace(p, rpm_setpoint=(1200.0, 1500.0)),
            2,
        ),
        Scenario(
            "aged_batteries",
            "battery capacity 0.2-0.55 of nominal instead of 0.4-1.0",
            lambda p: dataclasses.replace(p, battery_capacity=(0.2, 0.55)),
            3,
        ),
        Scenario(
            "fault_rate_x3",
            "every fault kind starts three times as often",
            lambda p: dataclasses.replace(p, fault_rate_per_day=_scaled(p.fault_rate_per_day, 3)),
            4,
        ),
        Scenario(
            "sensor_noise_x2",
            "twice the sensor noise on every channel",
            lambda p: dataclasses.replace(p, noise_sigma=_scaled(p.noise_sigma, 2)),
            5,
        ),
    )
}


def default_pumps(family: str) -> int:
    """Pumps per scenario fleet when the caller does not say."""
    return FAMILY_PUMPS.get(family, DEFAULT_PUMPS)


def scenario_names(names: Iterable[str] | None = None) -> list[str]:
    """The scenarios asked for (all when None), in SCENARIOS order; ValueError on an unknown."""
    if names is None:
        return list(SCENARIOS)
    names = list(names)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}; known: {list(SCENARIOS)}")
    return [n for n in SCENARIOS if n in names]


def physics(scenario: str, base: Physics = DEFAULT_PHYSICS) -> Physics:
    return SCENARIOS[scenario].physics(base)


def scenario_seed(scenario: str, seed: int) -> int:
    return seed + 1_000 * SCENARIOS[scenario].seed_offset


def training_seed(metadata: Mapping[str, Any]) -> int | None:
    """The simulator seed a version was trained on, when its metadata records one."""
    seed = (metadata.get("training_data") or {}).get("simulator", {}).get("seed")
    return None if seed is None else int(seed)


def check_seed(seed: int, metadata: Mapping[str, Any], scenarios: Iterable[str]) -> None:
    """ValueError if any scenario's fleet would be drawn from the version's training seed."""
    trained = training_seed(metadata)
    if trained is None:
        return
    for name in scenarios:
        if scenario_seed(name, seed) == trained:
            raise ValueError(
                f"evaluation seed {seed} gives the {name} fleet seed {trained}, the seed this "
                "version was trained on: choose another --seed"
            )


@functools.lru_cache(maxsize=2)
def _cached(scenario: str, pumps: int, steps: int, seed: int, interval_s: int):
    return tuple(
        simulate_fleet(
            pumps,
            steps,
            seed=scenario_seed(scenario, seed),
            interval_s=interval_s,
            physics=physics(scenario),
        )
    )


def fleet(
    scenario: str = IN_DISTRIBUTION,
    *,
    pumps: int = DEFAULT_PUMPS,
    steps: int = DEFAULT_STEPS,
    seed: int = DEFAULT_SEED,
    interval_s: int = 60,
) -> Sequence[PumpHistory]:
    """The scenario's independent fleet (cached: the same arguments give the same objects; do
    not modify them)."""
    scenario_names([scenario])
    return _cached(scenario, pumps, steps, seed, interval_s)


def describe(
    scenarios: Iterable[str], *, pumps: int, steps: int, seed: int, interval_s: int = 60
) -> dict[str, Any]:
    """What the evaluation fleets were, for the metadata and the model card."""
    return {
        "pumps": pumps,
        "steps": steps,
        "interval_s": interval_s,
        "seed": seed,
        "scenarios": {
            name: {
                "description": SCENARIOS[name].description,
                "seed": scenario_seed(name, seed),
            }
            for name in scenarios
        },
    }
