"""Evaluation of a stored model version on independent simulated fleets (`pumpapi evaluate`).

Contract for a family's evaluator (``pumpapi/evaluation/<family>.py``)
---------------------------------------------------------------------
It defines::

    def evaluate(model, *, fleets: Callable[[str], Sequence[PumpHistory]],
                 scenarios: list[str], resamples: int, seed: int) -> dict

- `model` is the loaded serving object of the version (`family_class(family)` of
  pumpapi.models.families, loaded from the store exactly as the service loads it): what is
  evaluated is what is served.
- `fleets(name)` returns the independent fleet of scenario `name` (pumpapi.evaluation.fleets;
  never simulated from the version's training seed, cached, do not modify it). `scenarios`
  lists the names asked for; `fleets.IN_DISTRIBUTION` comes first when asked for.
- Confidence intervals: `pumpapi.evaluation.stats.bootstrap` over pumps with `resamples` and
  `seed`, so every number is `{"value": v, "ci": [lo, hi]}` (95 %).
- It returns a JSON-able dict::

      {
        "scenarios": {
          "<scenario>": {
            "rows": int, "pumps": int, ...,               # what was scored
            "metrics": {"<metric>": {"value", "ci"}},      # the model's
            "baselines": {"<baseline>": {"<metric>": {"value", "ci"}}},
            "per_cause": {"<fault kind>": {"<metric>": {"value", "ci"}}},  # optional
            ...                                            # family-specific extras
          }, ...
        },
        "goals": [{"goal": str, "scenario": str, "met": bool, "measured": {...}}],
        "plots": {...}   # optional: arrays the model card draws (not stored in metadata)
      }

  `goals` states each target of issue 10 for the family and whether the measurement meets it
  (on the interval's point value; the interval is beside it).

`evaluate()` below adds the envelope (family, version, fleets, timings), and `record()` writes
the result, without `plots`, into the version's metadata.json under the key `evaluation`.
metadata.json is not itself checksummed (its `files` map lists the artifacts' sha256), so
adding a key leaves `ModelVersion.verify()` valid; the file is replaced atomically. The service
shows it on `/model/<family>/info` (`evaluation`) after its next load of the version.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import time
from collections.abc import Iterable
from typing import Any

from pumpapi.evaluation import fleets as fleets_module
from pumpapi.evaluation.stats import DEFAULT_RESAMPLES
from pumpapi.models.store import METADATA_FILE, ModelStore, ModelVersion

FAMILIES = ("xgboost", "gru", "lstm")
METADATA_KEY = "evaluation"


def load_model(store: ModelStore, family: str, version: str = "latest", config=None):
    """The version loaded as the service loads it (verified artifacts)."""
    from pumpapi.models.families import family_class

    stored = store.resolve(family, version)
    stored.verify()
    model = family_class(family)(stored, dict(config or {}))
    model.load()
    return model


def evaluate(
    family: str,
    model,
    *,
    pumps: int | None = None,
    steps: int = fleets_module.DEFAULT_STEPS,
    seed: int = fleets_module.DEFAULT_SEED,
    scenarios: Iterable[str] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
) -> dict[str, Any]:
    """Evaluate a loaded model of `family` on independent fleets (`pumps` per scenario, by
    default the family's `fleets.default_pumps`); see the module's contract."""
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; known: {list(FAMILIES)}")
    if pumps is None:
        pumps = fleets_module.default_pumps(family)
    names = fleets_module.scenario_names(scenarios)
    fleets_module.check_seed(seed, model.metadata, names)
    evaluator = importlib.import_module(f"pumpapi.evaluation.{family}")

    def fleet(name: str):
        return fleets_module.fleet(name, pumps=pumps, steps=steps, seed=seed)

    started = time.perf_counter()
    result = evaluator.evaluate(
        model, fleets=fleet, scenarios=names, resamples=resamples, seed=seed
    )
    return {
        "family": family,
        "version": model.version.version,
        "evaluated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "fleets": fleets_module.describe(names, pumps=pumps, steps=steps, seed=seed),
        "confidence": {
            "level": 0.95,
            "method": "percentile bootstrap over pumps",
            "resamples": resamples,
        },
        **result,
        "seconds": round(time.perf_counter() - started, 1),
    }


def without_plots(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "plots"}


def record(version: ModelVersion, result: dict[str, Any]) -> None:
    """Write `result` (without plots) into the version's metadata.json as `evaluation`,
    replacing the file atomically; the artifacts' checksums are untouched."""
    path = version.path / METADATA_FILE
    metadata = json.loads(path.read_text())
    metadata[METADATA_KEY] = without_plots(result)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(metadata, indent=2, sort_keys=False))
    tmp.replace(path)
    version.metadata = metadata
