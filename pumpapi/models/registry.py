"""The models a process serves, by family (and version), with each family's load status."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pumpapi.errors import ArtifactCorrupted, ModelNotFound, ModelNotReady
from pumpapi.models.base import Model
from pumpapi.models.store import LATEST, ModelStore

log = logging.getLogger(__name__)


@dataclass
class FamilyStatus:
    """What readiness reports for one family."""

    family: str
    ready: bool
    version: str | None = None
    error: str | None = None
    load_seconds: float | None = None
    #: Unix time the load finished (under gunicorn: in the master, before the workers exist).
    loaded_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "version": self.version,
            "error": self.error,
            "load_seconds": self.load_seconds,
            "loaded_at": self.loaded_at,
        }


class ModelRegistry:
    """Loads families from the store and hands out loaded models.

    Models are keyed by (family, version) so several versions of a family can live side by
    side; `get(family)` answers the family's default (the version loaded as `latest`).
    """

    def __init__(self, store: ModelStore, config: Mapping[str, Any]):
        self.store = store
        self.config = config
        self._models: dict[tuple[str, str], Model] = {}
        self._default: dict[str, str] = {}
        self._status: dict[str, FamilyStatus] = {}

    def load(self, family: str, version: str = LATEST) -> FamilyStatus:
        """Load and verify one version; failures are recorded, never raised."""
        from pumpapi.models import family_class  # the family table imports this module

        started = time.perf_counter()
        try:
            stored = self.store.resolve(family, version)
            stored.verify()
            model = family_class(family)(stored, self.config)
            model.load()
            model.warmup()
        except (ModelNotFound, ArtifactCorrupted) as exc:
            message = exc.message if isinstance(exc, ModelNotFound) else str(exc)
            status = FamilyStatus(family, False, error=message)
            log.error("model %s not loaded: %s", family, message)
        except Exception as exc:  # a broken artifact must not stop the other families
            log.exception("model %s failed to load", family)
            status = FamilyStatus(family, False, error=f"{type(exc).__name__}: {exc}")
        else:
            self._models[(family, stored.version)] = model
            self._default[family] = stored.version
            status = FamilyStatus(
                family,
                True,
                version=stored.version,
                load_seconds=round(time.perf_counter() - started, 3),
                loaded_at=time.time(),
            )
            log.info("model %s version %s loaded", family, stored.version)
        self._status[family] = status
        return status

    def get(self, family: str) -> Model:
        """The loaded default version of a family; 404 if not configured, 503 if not loaded."""
        status = self._status.get(family)
        if status is None:
            raise ModelNotFound(f"The {family} model family is not served by this instance.")
        if not status.ready:
            raise ModelNotReady(f"The {family} model is not available: {status.error}")
        return self._models[(family, self._default[family])]

    def status(self) -> dict[str, FamilyStatus]:
        return dict(self._status)
