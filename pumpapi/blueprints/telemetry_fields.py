"""Request fields the model families share: a channel's value within its range, a pump's name."""

from __future__ import annotations

from marshmallow import fields, validate

from pumpapi.extensions.smorest import StrictFloat
from pumpapi.telemetry import MACHINE_NAME_MAX_LENGTH, Channel


def channel_field(channel: Channel, example: float, *, cite_channel: bool = False) -> StrictFloat:
    """A required, finite number within the physical range of `channel`.

    `cite_channel` names the channel in the description: for a field named otherwise (a model's
    feature read from that channel).
    """
    cited = f" (telemetry channel `{channel.name}`)" if cite_channel else ""
    return StrictFloat(
        required=True,
        validate=validate.Range(
            min=channel.minimum,
            max=channel.maximum,
            error=f"Must be between {{min}} and {{max}} {channel.unit}: the physical range of "
            f"{channel.name} ({channel.description}).",
        ),
        metadata={
            "description": f"{channel.description.capitalize()} [{channel.unit}]{cited}, "
            f"{channel.minimum:g} to {channel.maximum:g}.",
            "example": example,
        },
    )


def machine_name_field() -> fields.String:
    """The required `machine_name` of a /machine/... query: the pump's name."""
    return fields.String(
        required=True,
        validate=validate.Length(min=1, max=MACHINE_NAME_MAX_LENGTH),
        metadata={"description": "The pump's name.", "example": "MOTOBOMBA-007"},
    )
