"""What the Keras families' training runs share: seeding, a fleet split by pump, provenance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


def seed_everything(seed: int) -> None:
    """Seed numpy, Python and TensorFlow (through Keras) so that a run can be repeated."""
    import keras

    keras.utils.set_random_seed(seed)


@dataclass(frozen=True)
class FleetSplit:
    """A simulated fleet split by pump: no pump's readings are in two of the parts."""

    train: Sequence[Any]
    validation: Sequence[Any]
    held_out: Sequence[Any]
    steps: int
    seed: int

    def describe(self) -> dict[str, Any]:
        return {
            "simulator": {"pumps": self.size, "steps": self.steps, "seed": self.seed},
            "pumps": {
                "train": [p.name for p in self.train],
                "validation": [p.name for p in self.validation],
                "held_out": [p.name for p in self.held_out],
            },
        }

    @property
    def size(self) -> int:
        return len(self.train) + len(self.validation) + len(self.held_out)


def fleet_split(pumps: int, steps: int, validation: int, held_out: int, seed: int) -> FleetSplit:
    """Simulate `pumps` pumps for `steps` readings and split them by pump at random.

    Validation pumps steer early stopping; held-out pumps are only ever used for the metrics.
    """
    from pumpapi.simulator import simulate_fleet

    if validation < 1 or held_out < 1 or pumps - validation - held_out < 1:
        raise ValueError(
            f"{pumps} pumps cannot give ≥ 1 training, {validation} validation and {held_out} "
            "held-out pumps"
        )
    fleet = simulate_fleet(pumps, steps, seed=seed)
    order = np.random.default_rng(seed).permutation(len(fleet))
    chosen = [fleet[i] for i in order]
    return FleetSplit(
        train=chosen[validation + held_out :],
        validation=chosen[:validation],
        held_out=chosen[validation : validation + held_out],
        steps=steps,
        seed=seed,
    )


def library_versions() -> dict[str, str]:
    """Versions of the libraries a model was trained with (recorded in its metadata)."""
    import keras
    import sklearn
    import tensorflow as tf

    return {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
    }
