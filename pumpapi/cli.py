"""The `pumpapi` command line: database, simulator, training, model store, serving."""

from __future__ import annotations

import click
from flask.cli import FlaskGroup

#: Commands registered both on `pumpapi` and on `flask` (see create_app).
COMMANDS: list[click.Command] = []


def _create_app():
    from pumpapi import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False)
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


COMMANDS.append(settings_command)


def _register() -> None:
    """Import each command module (kept beside the code it drives) and register its commands."""
    from pumpapi.db.commands import db

    COMMANDS.append(db)
    from pumpapi.demo import serve, simulate

    COMMANDS.extend((serve, simulate))
    from pumpapi.stack import nginx_conf, stack

    COMMANDS.extend((stack, nginx_conf))
    from pumpapi.models.commands import models
    from pumpapi.training.commands import train

    COMMANDS.extend((train, models))
    from pumpapi.evaluation.commands import evaluate_command

    COMMANDS.append(evaluate_command)
    from pumpapi.blueprints.telemetry.commands import telemetry

    COMMANDS.append(telemetry)


_register()
for _command in COMMANDS:
    main.add_command(_command)
