"""Fields shared by the families' predict routes: `explain`, a reason, the version to answer."""

from __future__ import annotations

from marshmallow import fields

from pumpapi.blueprints.telemetry_fields import version_field
from pumpapi.extensions.smorest import Schema


def explain_field() -> fields.Boolean:
    """`explain`: ask for the reasons of an answer (costs nothing when not asked)."""
    return fields.Boolean(
        load_default=False,
        metadata={
            "description": "Also answer why: per-feature contributions and the top reasons "
            "in words."
        },
    )


class PredictQuerySchema(Schema):
    """The query of a predict route that takes a body: explain, and the version to answer."""

    explain = explain_field()
    version = version_field()


class ReasonSchema(Schema):
    feature = fields.String(metadata={"example": "pressao_oleo_bar"})
    channel = fields.String(metadata={"example": "Oil_P"})
    value = fields.Float(metadata={"example": 1.1})
    contribution = fields.Float(
        metadata={"description": "What this input adds to the answer (see `units`)."}
    )
    text = fields.String(
        metadata={"example": "pressão do óleo baixa: 1.1 bar (referência 4.5 bar)"}
    )
