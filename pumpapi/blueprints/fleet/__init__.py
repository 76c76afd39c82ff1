"""The fleet pages: server-rendered HTML with charts, for the people looking after the pumps."""

from flask import Flask

from .overview import HourlyReadings
from .routes import blp


def init_app(app: Flask) -> None:
    # Each worker's memory of the past hours' readings (the table's trend), filled on demand.
    app.extensions["pumpapi.fleet.hourly"] = HourlyReadings()
    app.register_blueprint(blp)
