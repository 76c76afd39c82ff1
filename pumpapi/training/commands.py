"""`pumpapi train FAMILY`: train a model family on a simulated fleet and publish it in the store.

Heavy libraries (scikit-learn, the simulator) are imported inside each command, so registering
this group costs the serving process nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import click

from pumpapi.models.commands import local_of, publish, store_option
from pumpapi.training import gru, lstm


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


def database_options(command: Callable[..., None]) -> Callable[..., None]:
    """--source, --since, --until, --pump: train from the simulator (default) or from the
    telemetry and events in PostgreSQL (DATABASE_URL)."""
    options = [
        click.option(
            "--source",
            type=click.Choice(["simulator", "db"]),
            default="simulator",
            show_default=True,
            help="simulator: a simulated fleet; db: the readings and events in PostgreSQL "
            "(DATABASE_URL), labels derived from the events (see pumpapi.db.training_data).",
        ),
        click.option("--since", type=click.DateTime(), help="--source db: readings from then."),
        click.option("--until", type=click.DateTime(), help="--source db: readings before then."),
        click.option(
            "--pump", "pumps_named", multiple=True, help="--source db: only this pump (repeat)."
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def stored_fleet(since, until, pumps_named: tuple[str, ...]) -> tuple[list, dict[str, Any]]:
    """The pumps' histories read from DATABASE_URL, and what was read, for the metadata."""
    import datetime as dt

    import psycopg

    from pumpapi.db import to_conninfo
    from pumpapi.db.training_data import Selection, read_fleet
    from pumpapi.settings import effective

    url = effective().get("DATABASE_URL")
    if not url:
        raise click.ClickException("--source db needs DATABASE_URL.")
    utc = [moment.replace(tzinfo=dt.UTC) if moment else None for moment in (since, until)]
    selection = Selection(*utc, pumps=pumps_named or None)
    try:
        with psycopg.connect(to_conninfo(url)) as conn:
            fleet = list(read_fleet(conn, selection))
    except (psycopg.Error, ValueError) as exc:
        raise click.ClickException(f"reading the fleet from PostgreSQL: {exc}") from exc
    if not fleet:
        raise click.ClickException("no readings in the database for that selection")
    described = {
        "kind": "database",
        "query": selection.describe(),
        "pumps": len(fleet),
        "readings": int(sum(len(p.timestamps) for p in fleet)),
        "failure_events": int(sum(len(p.failures) for p in fleet)),
        "first_reading": str(min(p.timestamps[0] for p in fleet)) + "Z",
        "last_reading": str(max(p.timestamps[-1] for p in fleet)) + "Z",
    }
    click.echo(
        f"read {described['readings']:,} readings of {described['pumps']} pumps "
        f"({described['failure_events']} failures) from PostgreSQL"
    )
    return fleet, described


@train.command("xgboost")
@store_option
@database_options
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
    store_root: str,
    pumps: int,
    steps: int,
    seed: int,
    horizon_hours: float,
    include_stopped: bool,
    stride: int,
    threads: int,
    tags: tuple[str, ...],
    source: str,
    since,
    until,
    pumps_named: tuple[str, ...],
) -> None:
    """The failure-risk classifier (XGBoost), with a logistic-regression baseline.

    Pumps are split into train, validation and held-out test pumps; the decision threshold is
    chosen on validation pumps; the metrics stored with the model are measured on the held-out
    pumps.
    """
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
    fleet, described = stored_fleet(since, until, pumps_named) if source == "db" else (None, None)
    try:
        report = xgboost.train(options, local_of(store_root), fleet=fleet, described=described)
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
    publish(store_root, "xgboost", report.version)


#: The options of a TensorFlow family's command: each defaults to the field of the same name of
#: the family's training config.
_KERAS_FAMILY_OPTIONS = (
    ("pumps", "Simulated pumps (split by pump)."),
    ("steps", "Readings per pump (one a minute)."),
    ("epochs", "Most epochs (early stopping may end sooner)."),
    ("seed", "Seed of the simulation, split and initial weights."),
)


def _keras_family_options(defaults: Any) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """--store, --pumps, --steps, --epochs, --seed of a TensorFlow family, defaulting to its
    training config (a dataclass instance: light to import, TensorFlow is not)."""
    options = [store_option] + [
        click.option(f"--{name}", default=getattr(defaults, name), show_default=True, help=text)
        for name, text in _KERAS_FAMILY_OPTIONS
    ]

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        for option in reversed(options):
            command = option(command)
        return database_options(command)

    return decorate


def _train_keras_family(
    family: str,
    train_family: Callable[[Any, Any], Any],
    summary: Callable[[dict[str, Any]], list[str]],
    store_root: str,
    config: Any,
    source: str = "simulator",
    since=None,
    until=None,
    pumps_named: tuple[str, ...] = (),
) -> None:
    """Train with `config` (on the fleet in PostgreSQL with `source="db"`), publish in the store
    at `store_root` and print the run's summary."""
    fleet, described = stored_fleet(since, until, pumps_named) if source == "db" else (None, None)
    try:
        trained = train_family(local_of(store_root), config, fleet, described)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{family} version {trained.version} published in {store_root}")
    click.echo("\n".join(summary(trained.metadata)))
    publish(store_root, family, trained.version)


@train.command("gru")
@_keras_family_options(gru.GRUTrainingConfig())
def train_gru(store_root: str, source: str, since, until, pumps_named, **options: int) -> None:
    """The lubrication and hydraulic health model (Keras GRU, served through LiteRT).

    Pumps are split into train, validation (early stopping) and held-out pumps; the scaler is
    fitted on train pumps only; the MAE of each index on held-out pumps is stored beside that of
    naive baselines. Writes model.keras, model.tflite (checked against Keras) and scaler.json.
    """
    config = dataclasses.replace(gru.GRUTrainingConfig(), **options)
    _train_keras_family(
        "gru", gru.train_gru, gru.summary, store_root, config, source, since, until, pumps_named
    )


@train.command("lstm")
@_keras_family_options(lstm.LSTMTrainingConfig())
def train_lstm(store_root: str, source: str, since, until, pumps_named, **options: int) -> None:
    """The series forecaster (Keras LSTM, served through LiteRT).

    Trained on every channel of the train pumps; MAE and MASE against the persistence forecast
    (next value = last value) on held-out pumps are stored with the model.
    """
    config = dataclasses.replace(lstm.LSTMTrainingConfig(), **options)
    _train_keras_family(
        "lstm", lstm.train_lstm, lstm.summary, store_root, config, source, since, until, pumps_named
    )
