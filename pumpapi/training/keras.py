"""What the Keras families' training runs share: seeding, a fleet split by pump, fit, publishing."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence, Sized
from dataclasses import asdict, dataclass
from typing import Any, Protocol, TypeVar

import numpy as np

from pumpapi.models.litert import write_keras_artifacts
from pumpapi.models.store import ModelStore, ModelVersion

log = logging.getLogger(__name__)

#: A family's windows of a set of pumps (what its `cut` function makes of them).
FamilyWindows = TypeVar("FamilyWindows", bound=Sized)


class KerasTrainingConfig(Protocol):
    """What the shared steps read of a family's config (a frozen dataclass, e.g. GRU's)."""

    pumps: int
    steps: int
    validation_pumps: int
    held_out_pumps: int
    epochs: int
    batch_size: int
    patience: int
    seed: int


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
    #: Where a fleet that was not simulated came from (e.g. the database query), if so.
    source: Mapping[str, Any] | None = None

    def describe(self) -> dict[str, Any]:
        origin = (
            {"source": dict(self.source)}
            if self.source is not None
            else {"simulator": {"pumps": self.size, "steps": self.steps, "seed": self.seed}}
        )
        return {
            **origin,
            "pumps": {
                "train": [p.name for p in self.train],
                "validation": [p.name for p in self.validation],
                "held_out": [p.name for p in self.held_out],
            },
        }

    @property
    def size(self) -> int:
        return len(self.train) + len(self.validation) + len(self.held_out)

    def windows(
        self, cut: Callable[[Sequence[Any], int], FamilyWindows], stride: int
    ) -> tuple[FamilyWindows, FamilyWindows, FamilyWindows]:
        """The windows `cut(pumps, stride)` makes of the train, validation and held-out pumps."""
        return cut(self.train, stride), cut(self.validation, stride), cut(self.held_out, stride)


def fleet_split(
    pumps: int,
    steps: int,
    validation: int,
    held_out: int,
    seed: int,
    fleet: Sequence[Any] | None = None,
    source: Mapping[str, Any] | None = None,
) -> FleetSplit:
    """Simulate `pumps` pumps for `steps` readings (unless `fleet` is given, e.g. read from the
    database, as `source` describes) and split them by pump at random.

    Validation pumps steer early stopping; held-out pumps are only ever used for the metrics.
    """
    from pumpapi.devtools.simulator import simulate_fleet

    pumps = pumps if fleet is None else len(fleet)
    if validation >= 1 and held_out >= 1 and pumps - validation - held_out < 1:
        # A fleet smaller than the defaults ask for (a real one read from the database, a
        # quick run): validation and held-out shrink in proportion, half the pumps to train.
        wanted = validation + held_out
        validation = max(1, pumps * validation // (2 * wanted))
        held_out = max(1, pumps * held_out // (2 * wanted))
        log.info("%d pumps: %d validation and %d held-out pumps", pumps, validation, held_out)
    if validation < 1 or held_out < 1 or pumps - validation - held_out < 1:
        raise ValueError(
            f"{pumps} pumps cannot give ≥ 1 training, {validation} validation and {held_out} "
            "held-out pumps"
        )
    if fleet is None:
        fleet = simulate_fleet(pumps, steps, seed=seed)
    order = np.random.default_rng(seed).permutation(len(fleet))
    chosen = [fleet[i] for i in order]
    return FleetSplit(
        train=chosen[validation + held_out :],
        validation=chosen[:validation],
        held_out=chosen[validation : validation + held_out],
        steps=max(len(p.readings) for p in fleet),
        seed=seed,
        source=source,
    )


def seeded_split(
    config: KerasTrainingConfig,
    fleet: Sequence[Any] | None = None,
    source: Mapping[str, Any] | None = None,
) -> FleetSplit:
    """Seed every generator with the run's seed, then simulate (or take) and split its fleet."""
    seed_everything(config.seed)
    return fleet_split(
        config.pumps,
        config.steps,
        config.validation_pumps,
        config.held_out_pumps,
        config.seed,
        fleet,
        source,
    )


@dataclass(frozen=True)
class FitRun:
    """What a fit with early stopping took: the epochs run and the seconds spent."""

    epochs: int
    seconds: float


def fit_early_stopping(
    model: Any,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    config: KerasTrainingConfig,
    sample_weight: np.ndarray | None = None,
) -> FitRun:
    """Fit on shuffled (inputs, targets) until the validation loss has not improved for
    `patience` epochs; the model keeps the weights of its best epoch. `sample_weight` weighs
    the training windows' losses (the validation loss is unweighted)."""
    import keras

    started = time.perf_counter()
    history = model.fit(
        *train,
        sample_weight=sample_weight,
        validation_data=validation,
        epochs=config.epochs,
        batch_size=config.batch_size,
        shuffle=True,
        verbose=0,
        callbacks=[
            keras.callbacks.EarlyStopping(
                patience=config.patience, restore_best_weights=True, monitor="val_loss"
            )
        ],
    )
    return FitRun(epochs=len(history.history["loss"]), seconds=time.perf_counter() - started)


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


def run_record(
    split: FleetSplit,
    windows: tuple[Sized, Sized, Sized],
    fit: FitRun,
    started: float,
    config: KerasTrainingConfig,
    **details: Any,
) -> dict[str, Any]:
    """The `training` metadata of a run: its fleet (then any `details`), the (train, validation,
    held-out) window counts, epochs, times since `started` (perf_counter), config, libraries."""
    train, validation, held_out = windows
    return {
        **split.describe(),
        **details,
        "windows": {"train": len(train), "validation": len(validation), "held_out": len(held_out)},
        "epochs_run": fit.epochs,
        "fit_seconds": round(fit.seconds, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
        "config": asdict(config),
        "versions": library_versions(),
    }


def run_summary(training: Mapping[str, Any]) -> str:
    """The run's size and time, as the last line of a family's training summary."""
    windows = training["windows"]
    return (
        f"windows train/validation/held-out {windows['train']}/{windows['validation']}/"
        f"{windows['held_out']}, {training['epochs_run']} epochs, fit {training['fit_seconds']} s, "
        f"total {training['total_seconds']} s"
    )


def publish(
    store: ModelStore,
    family: str,
    model: Any,
    check_windows: np.ndarray,
    metadata: Mapping[str, Any],
    texts: Mapping[str, str] | None = None,
    companions: Mapping[str, tuple[Any, list[np.ndarray]]] | None = None,
) -> ModelVersion:
    """Publish `model` (Keras and LiteRT, checked on `check_windows`) as a new version of
    `family`, with the text files `texts` (name -> content) and `metadata` after the artifacts'.

    `companions` are further networks the version carries (key -> (model, check inputs)):
    each written as `<key>.keras` and `<key>.tflite`, its artifacts' record added to
    `metadata[key]`."""
    with store.new_version(family) as draft:
        for name, content in (texts or {}).items():
            draft.file(name).write_text(content)
        artifacts = write_keras_artifacts(draft, model, check_windows)
        draft.metadata.update({**artifacts, **metadata})
        for key, (companion, check) in (companions or {}).items():
            names = (f"{key}.keras", f"{key}.tflite")
            draft.metadata[key] = {
                **draft.metadata.get(key, {}),
                **write_keras_artifacts(draft, companion, check, names),
            }
    # As a server will read it: metadata.json, with the files' checksums.
    return store.resolve(family, draft.version)
