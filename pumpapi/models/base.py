"""The one small interface every model family implements: load(), warmup(), info()."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any, ClassVar

from pumpapi.models.store import ModelVersion


class Model(abc.ABC):
    """A loaded version of one model family.

    Subclasses set `family`, implement `load()` (read the verified artifacts of `self.version`)
    and expose their own typed `predict…` methods; the blueprints call those.
    """

    family: ClassVar[str]

    def __init__(self, version: ModelVersion, config: Mapping[str, Any]):
        self.version = version
        self.config = config

    @abc.abstractmethod
    def load(self) -> None:
        """Read the artifacts into memory. Called once; the registry marks the family ready
        (its status) when it returns."""

    def warmup(self) -> None:
        """Run one throwaway prediction so the first request pays no lazy initialisation.

        Called by the registry right after load(); families override it."""
        return None

    @property
    def metadata(self) -> dict[str, Any]:
        return self.version.metadata

    def info(self) -> dict[str, Any]:
        """What /model/<family>/info answers; families add their own fields."""
        meta = self.metadata
        return {
            "family": self.family,
            "version": self.version.version,
            "created_at": meta.get("created_at"),
            "library": meta.get("library"),
            "tags": meta.get("tags", {}),
            "metrics": meta.get("metrics", {}),
            # `pumpapi evaluate` on independent fleets (pumpapi.evaluation), when it was run.
            "evaluation": meta.get("evaluation"),
            "files": meta.get("files", {}),
        }
