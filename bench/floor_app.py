"""The floor: a plain Flask app with one route answering a constant JSON, served like PumpAPI
(under the same config/gunicorn.conf.py, whose database hooks do nothing for an app without
PumpAPI's databases)."""

from __future__ import annotations

from flask import Flask, jsonify


def create_floor_app() -> Flask:
    """One route, GET or POST /, answering {"success": true} (what no Flask endpoint can beat)."""
    floor = Flask(__name__)

    @floor.route("/", methods=["GET", "POST"])
    def constant():
        return jsonify(success=True)

    return floor


app = create_floor_app()
