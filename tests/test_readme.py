"""The README documents what the code offers: every setting and every endpoint."""

from pathlib import Path

from pumpapi import settings

README = (Path(__file__).parents[1] / "README.md").read_text()


def test_readme_documents_every_setting():
    for s in settings.SETTINGS:
        assert f"`{s.env}`" in README, f"README lacks {s.env}"


def test_readme_documents_every_endpoint(app):
    for path in app.extensions["pumpapi.api"].spec.to_dict()["paths"]:
        assert f"`{path}`" in README, f"README lacks {path}"


def test_readme_documents_every_channel_range():
    from pumpapi.telemetry import CHANNELS

    for c in CHANNELS:
        assert f"| `{c.name}` |" in README, c.name
        assert f"{c.minimum:g} to {c.maximum:g}" in README, c.name
