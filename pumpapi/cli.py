"""The `pumpapi` command line: database, simulator, training, model store, serving.

Commands live beside the code they drive and are imported only when one of them runs (or its help
is shown): the gunicorn master, which builds the app and therefore `app.cli`, never imports the
development tools, training or evaluation (tests/test_architecture.py).
"""

from __future__ import annotations

import importlib

import click
from flask.cli import AppGroup, FlaskGroup

#: Command name -> "module:attribute" of its click command, imported on first use.
LAZY: dict[str, str] = {
    "db": "pumpapi.db.commands:db",
    "serve": "pumpapi.devtools.demo:serve",
    "simulate": "pumpapi.devtools.demo:simulate",
    "stack": "pumpapi.devtools.stack:stack",
    "nginx-conf": "pumpapi.devtools.stack:nginx_conf",
    "train": "pumpapi.training.commands:train",
    "models": "pumpapi.models.commands:models",
    "evaluate": "pumpapi.evaluation.commands:evaluate_command",
    "telemetry": "pumpapi.blueprints.telemetry.commands:telemetry",
    "settings": "pumpapi.cli:settings_command",
}


class _Lazy:
    """A click group that also offers the commands of LAZY, importing one only when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY:
            module, _, attribute = LAZY[name].partition(":")
            return getattr(importlib.import_module(module), attribute)
        return super().get_command(ctx, name)


class LazyGroup(_Lazy, FlaskGroup):
    """`pumpapi`: Flask's command group (the app is created only for commands that need it)."""


class LazyAppGroup(_Lazy, AppGroup):
    """`app.cli` (what `flask` offers for this app): the same commands, as lazily."""


def lazy_app_cli(name: str) -> LazyAppGroup:
    return LazyAppGroup(name)


def _create_app():
    from pumpapi import create_app

    return create_app()


@click.group(cls=LazyGroup, create_app=_create_app, add_default_commands=False)
def main() -> None:
    """PumpAPI: inference service of a fleet of diesel motor pumps."""


@click.command("settings")
@click.option("--markdown", is_flag=True, help="Print the table of every setting (README).")
def settings_command(markdown: bool) -> None:
    """Show the effective settings (defaults < environment); passwords are masked."""
    from psycopg.conninfo import conninfo_to_dict

    from pumpapi import settings

    if markdown:
        click.echo(settings.markdown_table())
        return
    effective = settings.effective()
    for setting in settings.SETTINGS:
        value = effective[setting.key]
        if setting.key in ("DATABASE_URL", "INGEST_DATABASE_URL") and value:
            from pumpapi.db import to_conninfo

            parts = conninfo_to_dict(to_conninfo(value))
            if "password" in parts:
                parts["password"] = "***"
            value = " ".join(f"{k}={v}" for k, v in parts.items())
        elif setting.secret and value:
            value = "***"
        click.echo(f"{setting.env:34} {value}")
