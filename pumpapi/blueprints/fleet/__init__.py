"""The fleet pages: server-rendered HTML with charts, for the people looking after the pumps."""

from flask import Flask

from .routes import blp


def init_app(app: Flask) -> None:
    app.register_blueprint(blp)
