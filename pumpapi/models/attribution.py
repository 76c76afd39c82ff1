"""Why an answer: what each input contributed, and the top reasons in words.

- Failure risk (xgboost): the booster's exact per-feature contributions (TreeSHAP, XGBoost's
  `pred_contribs`), in log-odds: with the bias they sum to the model's margin, whose logistic
  is the booster's probability. Computed by XGBoost itself, also when a compiled library answers
  the probabilities: it is the reference the library is checked against.
- Health indices (gru): occlusion against a healthy reference: each channel in turn is replaced
  by the reference value over the whole window, and the change of each index is that channel's
  attribution (negative: the channel lowers the index). Nine model runs a window.

Reasons are worded in Portuguese, the language of the response labels. Nothing here runs unless
a request asks for an explanation (`explain=true`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pumpapi.channels import BY_NAME, CHANNEL_NAMES, CHANNELS

#: A healthy running pump (each channel's `nominal`): what "high" and "low" are said against,
#: and what a channel is set to when it is occluded.
HEALTHY_REFERENCE: dict[str, float] = {c.name: c.nominal for c in CHANNELS}

#: Each channel in words: (noun phrase, grammatical gender of "alto/alta", unit, decimals).
_WORDS: dict[str, tuple[str, str, str, int]] = {
    "Eng_RPM": ("rotação do motor", "f", "rpm", 0),
    "Cool_T": ("temperatura do líquido de arrefecimento", "f", "°C", 1),
    "Oil_P": ("pressão do óleo", "f", "bar", 1),
    "Oil_L": ("nível do óleo", "m", "%", 1),
    "Recalque": ("pressão de recalque", "f", "bar", 1),
    "Succao": ("pressão de sucção", "f", "bar", 2),
    "Bat_V": ("tensão da bateria", "f", "V", 1),
    "Char_V": ("tensão do alternador", "f", "V", 1),
}
#: How many reasons an explanation gives at most.
TOP_REASONS = 3


#: Within this share of a channel's physical range of the reference, a value is neither high
#: nor low: the reason names it without a judgement.
NEUTRAL_SHARE = 0.02


def channel_words(channel: str) -> tuple[str, str, int]:
    """A channel in words: (noun phrase, unit, decimals shown)."""
    noun, _, unit, decimals = _WORDS[channel]
    return noun, unit, decimals


def reason_text(channel: str, value: float) -> str:
    """e.g. "pressão do óleo baixa: 1.1 bar (referência 4.5 bar)"."""
    noun, gender, unit, decimals = _WORDS[channel]
    reference = HEALTHY_REFERENCE[channel]
    span = BY_NAME[channel].maximum - BY_NAME[channel].minimum
    level = ""
    if value < reference - NEUTRAL_SHARE * span:
        level = " baixa" if gender == "f" else " baixo"
    elif value > reference + NEUTRAL_SHARE * span:
        level = " alta" if gender == "f" else " alto"
    shown = f"{value:.{decimals}f} {unit} (referência {reference:.{decimals}f} {unit})"
    return f"{noun}{level}: {shown}"


@dataclass(frozen=True)
class Reason:
    feature: str
    channel: str
    value: float
    contribution: float
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "channel": self.channel,
            "value": self.value,
            "contribution": self.contribution,
            "text": self.text,
        }


def top_reasons(
    contributions: Mapping[str, float],
    values: Mapping[str, float],
    channels: Mapping[str, str],
    *,
    sign: float,
) -> list[Reason]:
    """The features whose contribution pushes the answer towards the bad side (`sign` +1: a
    positive contribution raises the risk; -1: a negative one lowers a health index), largest
    first, at most TOP_REASONS."""
    ranked = sorted(
        (name for name, c in contributions.items() if sign * c > 0),
        key=lambda name: -sign * contributions[name],
    )
    return [
        Reason(
            feature=name,
            channel=channels[name],
            value=values[name],
            contribution=contributions[name],
            text=reason_text(channels[name], values[name]),
        )
        for name in ranked[:TOP_REASONS]
    ]


def _round(value: float) -> float:
    return round(float(value), 6)


def risk_explanations(
    booster: Any,
    rows: np.ndarray,
    feature_order: Sequence[str],
    feature_channels: Mapping[str, str],
    calibration: tuple[float, float] = (1.0, 0.0),
    linear: tuple | None = None,
    answered: np.ndarray | None = None,
    guarded: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """One explanation per row (columns in `feature_order`): `contributions` per feature and
    `bias` (log-odds; their sum is `margin`), and `reasons`: the features raising the risk.

    `calibration` (a, b) maps the booster's log-odds to the answered ones (a·margin + b): the
    contributions are scaled by `a` and the bias mapped, so they still sum to the margin. Where a
    guard raised the answer (`guarded[i]` = the feature index, `answered` the probabilities
    served), the rise in log-odds is added to that feature's contribution."""
    import xgboost

    # One thread, like every prediction here: an OpenMP pool started in a forked worker after
    # the master used one can hang (gunicorn preloads the booster in the master).
    matrix = xgboost.DMatrix(rows, feature_names=list(feature_order), nthread=1)
    contributions = booster.predict(matrix, pred_contribs=True)
    margins = booster.predict(matrix, output_margin=True)
    explanations = []
    a, b = calibration
    contributions = contributions.astype(np.float64)
    margins = margins.astype(np.float64)
    if linear is not None:  # the logistic regression the trees were boosted from: additive
        mean, scale, coef, intercept = linear
        terms = (np.asarray(rows, dtype=np.float64) - mean) / scale * coef
        contributions[:, :-1] += terms
        contributions[:, -1] += intercept
        margins = margins + terms.sum(axis=1) + intercept
    contributions[:, :-1] *= a
    contributions[:, -1] = a * contributions[:, -1] + b
    margins = a * margins + b
    if guarded is not None and answered is not None:
        for i in np.flatnonzero(guarded >= 0):
            q = min(max(float(answered[i]), 1e-7), 1 - 1e-7)
            lifted = float(np.log(q / (1 - q)))
            contributions[i, guarded[i]] += lifted - margins[i]
            margins[i] = lifted
    for row, contribution, margin in zip(rows, contributions, margins, strict=True):
        by_feature = {n: _round(c) for n, c in zip(feature_order, contribution[:-1], strict=True)}
        values = {n: float(v) for n, v in zip(feature_order, row, strict=True)}
        reasons = top_reasons(by_feature, values, feature_channels, sign=+1.0)
        explanations.append(
            {
                "method": "treeshap",
                "units": "log-odds",
                "bias": _round(contribution[-1]),
                "margin": _round(margin),
                "contributions": by_feature,
                "reasons": [r.as_dict() for r in reasons],
            }
        )
    return explanations


def health_explanation(model: Any, window: np.ndarray) -> dict[str, Any]:
    """Per index, each channel's attribution in index points (occlusion against
    HEALTHY_REFERENCE over the padded window of `model`) and the channels lowering it most."""
    from pumpapi.models.gru import INDICES, pad_window

    window, _ = pad_window(np.asarray(window, dtype=np.float64))
    reference = np.array([HEALTHY_REFERENCE[c] for c in CHANNEL_NAMES])
    base = _indices(model, window)
    deltas = np.empty((len(CHANNEL_NAMES), len(INDICES)))
    for i in range(len(CHANNEL_NAMES)):
        occluded = window.copy()
        occluded[:, i] = reference[i]
        deltas[i] = base - _indices(model, occluded)
    latest = dict(zip(CHANNEL_NAMES, map(float, window[-1]), strict=True))
    channels = {c: c for c in CHANNEL_NAMES}
    explanation: dict[str, Any] = {"method": "occlusion", "units": "index points"}
    for j, index in enumerate(INDICES):
        by_channel = {c: round(float(deltas[i, j]), 2) for i, c in enumerate(CHANNEL_NAMES)}
        reasons = top_reasons(by_channel, latest, channels, sign=-1.0)
        explanation[index] = {
            "contributions": by_channel,
            "reasons": [r.as_dict() for r in reasons],
        }
    return explanation


def _indices(model: Any, window: np.ndarray) -> np.ndarray:
    """The two indices (0-100) of one full window, as the model answers them."""
    raw = model.scores(window[np.newaxis])[0]
    return np.clip(np.asarray(raw, dtype=np.float64), 0.0, 1.0) * 100.0
