"""`pumpapi train FAMILY`: train a model family on a simulated fleet and publish it in the store.

Heavy libraries (scikit-learn, the simulator) are imported inside each command, so registering
this group costs the serving process nothing.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from pumpapi.models.commands import store_option
from pumpapi.training.gru import GRUTrainingConfig
from pumpapi.training.lstm import LSTMTrainingConfig


@click.group("train")
def train() -> None:
    """Train a model family on simulated data and publish a new version in the model store."""


def _parse_tags(values: tuple[str, ...]) -> dict[str, str]:
    tags = {}
    for value in values:
        key, sep, tag = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", param_hint="--tag")
        tags[key] = tag
    return tags


@train.command("xgboost")
@store_option
@click.option("--pumps", default=200, show_default=True, help="Simulated pumps (split by pump).")
@click.option("--steps", default=20_000, show_default=True, help="Readings per pump (1/minute).")
@click.option("--seed", default=7, show_default=True, help="Seed of the simulation and split.")
@click.option(
    "--horizon-hours",
    default=24.0,
    show_default=True,
    help="Label: does the pump fail within this many hours?",
)
@click.option(
    "--include-stopped/--running-only",
    default=True,
    show_default=True,
    help="Keep readings taken while the pump is stopped (see pumpapi.training.xgboost).",
)
@click.option(
    "--stride",
    default=5,
    show_default=True,
    help="Fit on every STRIDE-th reading (metrics always use every reading).",
)
@click.option("--threads", default=1, show_default=True, help="Threads used for fitting.")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Tag the version.")
def train_xgboost(
    store_root: Path,
    pumps: int,
    steps: int,
    seed: int,
    horizon_hours: float,
    include_stopped: bool,
    stride: int,
    threads: int,
    tags: tuple[str, ...],
) -> None:
    """The failure-risk classifier (XGBoost), with a logistic-regression baseline.

    Pumps are split into train, validation and held-out test pumps; the decision threshold is
    chosen on validation pumps; the metrics stored with the model are measured on the held-out
    pumps.
    """
    from pumpapi.models.store import ModelStore
    from pumpapi.training import xgboost

    options = xgboost.TrainingOptions(
        pumps=pumps,
        steps=steps,
        seed=seed,
        horizon_hours=horizon_hours,
        include_stopped=include_stopped,
        stride=stride,
        threads=threads,
        tags=_parse_tags(tags),
    )
    try:
        report = xgboost.train(options, ModelStore(store_root))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    metrics = report.metadata["metrics"]
    splits = report.metadata["training_data"]["splits"]
    click.echo(
        f"xgboost version {report.version} published in {store_root} "
        f"({report.seconds:.1f} s; pumps train/validation/test = "
        f"{'/'.join(str(len(splits[s]['pumps'])) for s in ('train', 'validation', 'test'))})"
    )
    shown = ("roc_auc", "pr_auc", "brier", "f1", "precision", "recall", "threshold", "base_rate")
    click.echo(f"{'held-out pumps':<22}" + "".join(f"{k:>11}" for k in shown))
    for label, row in (("xgboost", metrics), ("logistic regression", metrics["baseline"])):
        click.echo(
            f"{label:<22}"
            + "".join(f"{row[k]:>11.4f}" if row[k] is not None else f"{'n/a':>11}" for k in shown)
        )


def _keras_family_options(defaults):
    """--store, --pumps, --steps, --epochs, --seed of a TensorFlow family, defaulting to its
    training config (a dataclass instance: light to import, TensorFlow is not)."""

    def decorate(command):
        for option in reversed(
            (
                store_option,
                click.option(
                    "--pumps",
                    default=defaults.pumps,
                    show_default=True,
                    help="Simulated pumps (split by pump).",
                ),
                click.option(
                    "--steps",
                    default=defaults.steps,
                    show_default=True,
                    help="Readings per pump (one a minute).",
                ),
                click.option(
                    "--epochs",
                    default=defaults.epochs,
                    show_default=True,
                    help="Most epochs (early stopping may end sooner).",
                ),
                click.option(
                    "--seed",
                    default=defaults.seed,
                    show_default=True,
                    help="Seed of the simulation, split and initial weights.",
                ),
            )
        ):
            command = option(command)
        return command

    return decorate


@train.command("gru")
@_keras_family_options(GRUTrainingConfig())
def train_gru(store_root: Path, **options: int) -> None:
    """The lubrication and hydraulic health model (Keras GRU, served through LiteRT).

    Pumps are split into train, validation (early stopping) and held-out pumps; the scaler is
    fitted on train pumps only; the MAE of each index on held-out pumps is stored beside that of
    naive baselines. Writes model.keras, model.tflite (checked against Keras) and scaler.json.
    """
    from pumpapi.models.store import ModelStore
    from pumpapi.training import gru

    config = dataclasses.replace(GRUTrainingConfig(), **options)
    try:
        trained = gru.train_gru(ModelStore(store_root), config)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"gru version {trained.version} published in {store_root}")
    click.echo("\n".join(gru.summary(trained.metadata)))


@train.command("lstm")
@_keras_family_options(LSTMTrainingConfig())
def train_lstm(store_root: Path, **options: int) -> None:
    """The series forecaster (Keras LSTM, served through LiteRT).

    Trained on every channel of the train pumps; MAE and MASE against the persistence forecast
    (next value = last value) on held-out pumps are stored with the model.
    """
    from pumpapi.models.store import ModelStore
    from pumpapi.training import lstm

    config = dataclasses.replace(LSTMTrainingConfig(), **options)
    try:
        trained = lstm.train_lstm(ModelStore(store_root), config)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"lstm version {trained.version} published in {store_root}")
    click.echo("\n".join(lstm.summary(trained.metadata)))
