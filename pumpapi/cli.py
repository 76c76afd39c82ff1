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


def _register() -> None:
    """Import each command module (kept beside the code it drives) and register its commands."""
    from pumpapi.demo import serve

    COMMANDS.append(serve)


_register()
for _command in COMMANDS:
    main.add_command(_command)
