"""The floor: a plain Flask app with one route answering a constant JSON, served like PumpAPI."""

from __future__ import annotations

from flask import Flask, jsonify


class _NoDatabase:
    """Stands in for PumpAPI's telemetry store: config/gunicorn.conf.py opens and closes
    `extensions["pumpapi.db"]` in every worker, and the floor must run under that same file."""

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass


def create_floor_app() -> Flask:
    """One route, GET or POST /, answering {"success": true} (what no Flask endpoint can beat)."""
    floor = Flask(__name__)
    floor.extensions["pumpapi.db"] = _NoDatabase()

    @floor.route("/", methods=["GET", "POST"])
    def constant():
        return jsonify(success=True)

    return floor


app = create_floor_app()
