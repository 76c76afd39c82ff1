"""Fields shared by the families that explain their answers: `explain` and a reason."""

from __future__ import annotations

from marshmallow import fields

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


class ExplainQuerySchema(Schema):
    explain = explain_field()


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
