"""The eight sensor channels of a pump: names, database columns, units and physical ranges."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Channel:
    """One sensor channel. `minimum`/`maximum` bound what the sensor can physically report;
    a value outside them is rejected (422) rather than fed to a model."""

    name: str
    column: str
    unit: str
    minimum: float
    maximum: float
    description: str
    #: What a healthy pump running at its rated speed reads: the documented example, and the
    #: reference explanations say "high" and "low" against.
    nominal: float


CHANNELS: tuple[Channel, ...] = (
    Channel("Eng_RPM", "eng_rpm", "rpm", 0.0, 5000.0, "engine speed", 1800.0),
    Channel("Cool_T", "cool_t", "°C", -50.0, 200.0, "coolant temperature", 82.0),
    Channel("Oil_P", "oil_p", "bar", 0.0, 20.0, "oil pressure", 4.5),
    Channel("Oil_L", "oil_l", "% or sensor units", 0.0, 100.0, "oil level", 78.0),
    Channel("Recalque", "recalque", "bar", 0.0, 60.0, "discharge pressure", 6.0),
    Channel(
        "Succao", "succao", "bar", -1.0, 20.0, "suction pressure (gauge; below 0 is vacuum)", 1.1
    ),
    Channel("Bat_V", "bat_v", "V", 0.0, 60.0, "battery voltage", 24.6),
    Channel("Char_V", "char_v", "V", 0.0, 60.0, "charging (alternator) voltage", 27.8),
)

#: The order every window model expects (SPEC): Eng_RPM, Cool_T, Oil_P, Oil_L, Recalque, Succao,
#: Bat_V, Char_V.
CHANNEL_NAMES: tuple[str, ...] = tuple(c.name for c in CHANNELS)
CHANNEL_COLUMNS: tuple[str, ...] = tuple(c.column for c in CHANNELS)
BY_NAME: dict[str, Channel] = {c.name: c for c in CHANNELS}

#: Longest accepted pump name (e.g. `MOTOBOMBA-007`).
MACHINE_NAME_MAX_LENGTH = 64
