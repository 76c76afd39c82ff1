"""What a model saw at training, per input, and how far recent inputs have moved from it.

At training each family stores, for every input it reads (a feature of one reading, or a
telemetry channel of a window), the training data's quantile bins in its metadata under
`reference`: the interior edges of `BINS` equal-population bins and the share of training
values that fell in each (not exactly 1/BINS where values tie, e.g. a stopped pump's 0 rpm).

Drift is the population stability index of recent values against those bins:

    PSI = Σ_bins (observed − expected) · ln(observed / expected)

with empty bins counted as a share of `EPSILON` (PSI is infinite otherwise). The usual reading:
below 0.1 the inputs are stable, 0.1–0.25 a moderate shift worth watching, above 0.25 a
significant shift — the model is answering about data unlike what it learned from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

#: Equal-population bins per input (deciles).
BINS = 10
#: A bin without any value counts as this share, so that PSI stays finite.
EPSILON = 1e-4
#: The thresholds of the usual reading of PSI, and its words.
STABLE, SIGNIFICANT = 0.1, 0.25
#: Values a reference is built from, at most (a uniform sample beyond): deciles of 200,000
#: values are as good as those of 10 million.
SAMPLE = 200_000


def build(columns: Mapping[str, np.ndarray], bins: int = BINS, seed: int = 0) -> dict[str, Any]:
    """The reference of each input from its training values (NaN ignored), for the metadata."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for name, raw in columns.items():
        values = np.asarray(raw, dtype=np.float64).ravel()
        values = values[np.isfinite(values)]
        if values.size == 0:
            continue
        if values.size > SAMPLE:
            values = rng.choice(values, SAMPLE, replace=False)
        edges = np.unique(np.quantile(values, np.arange(1, bins) / bins))
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
        inputs[name] = {
            "edges": [round(float(e), 6) for e in edges],
            "fractions": [round(float(c) / values.size, 6) for c in counts],
            "range": [round(float(v), 6) for v in np.quantile(values, (0.001, 0.999))],
            "count": int(values.size),
        }
    return {"bins": bins, "statistic": "population stability index", "inputs": inputs}


def reading(psi: float) -> str:
    """The usual words for a PSI."""
    if psi < STABLE:
        return "stable"
    return "moderate" if psi < SIGNIFICANT else "significant"


def compare(reference: Mapping[str, Any], values: np.ndarray) -> dict[str, Any]:
    """PSI of `values` against one input's reference, with the bins side by side."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    edges = np.asarray(reference["edges"], dtype=np.float64)
    expected = np.asarray(reference["fractions"], dtype=np.float64)
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(expected))
    observed = counts / max(1, values.size)
    psi = float(
        np.sum(
            (np.maximum(observed, EPSILON) - np.maximum(expected, EPSILON))
            * np.log(np.maximum(observed, EPSILON) / np.maximum(expected, EPSILON))
        )
    )
    bounds = [None, *edges.tolist(), None]
    return {
        "psi": round(psi, 4) if values.size else None,
        "reading": reading(psi) if values.size else None,
        "observations": int(values.size),
        "bins": [
            {
                "low": bounds[i],
                "high": bounds[i + 1],
                "expected": round(float(expected[i]), 4),
                "observed": round(float(observed[i]), 4),
            }
            for i in range(len(expected))
        ],
    }
