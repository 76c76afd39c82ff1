"""The models a process serves, by family (and version), with each family's load status."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pumpapi.errors import ArtifactCorrupted, ModelNotFound, ModelNotReady
from pumpapi.models.base import Model
from pumpapi.models.families import family_class
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

    Per family, every version an alias of the store names is loaded side by side (`latest`,
    and e.g. `production`, `candidate`: see `pumpapi models promote`); `get(family)` answers
    the family's `latest`, `get(family, version)` a version by number or alias. Readiness of a
    family is that of its `latest`.
    """

    def __init__(self, store: ModelStore, config: Mapping[str, Any]):
        self.store = store
        self.config = config
        self._models: dict[tuple[str, str], Model] = {}
        self._default: dict[str, str] = {}
        #: family -> alias -> version, as loaded.
        self._aliases: dict[str, dict[str, str]] = {}
        self._status: dict[str, FamilyStatus] = {}

    def load_family(self, family: str) -> FamilyStatus:
        """Load `latest` and every other version an alias names (each verified); failures are
        recorded, never raised. An aliased version that fails does not affect `latest`."""
        status = self.load(family)
        if not status.ready:
            return status
        aliases = {LATEST: status.version}
        for alias, version in sorted(self.store.aliases(family).items()):
            if alias == LATEST or version in aliases.values():
                aliases[alias] = version
                continue
            loaded, _ = self._load_version(family, version)
            if loaded is not None:
                aliases[alias] = loaded
        self._aliases[family] = {a: v for a, v in aliases.items() if (family, v) in self._models}
        return status

    def _load_version(self, family: str, version: str) -> tuple[str | None, str | None]:
        """Load one version (a number or an alias) beside the others, verified: (the version
        loaded, None), or (None, why not). Never raises."""

        try:
            stored = self.store.resolve(family, version)
            stored.verify()
            model = family_class(family)(stored, self.config)
            model.load()
            model.warmup()
        except (ModelNotFound, ArtifactCorrupted) as exc:
            message = exc.message if isinstance(exc, ModelNotFound) else str(exc)
            log.error("model %s %s not loaded: %s", family, version, message)
            return None, message
        except Exception as exc:  # a broken artifact must not stop the other families
            log.exception("model %s %s failed to load", family, version)
            return None, f"{type(exc).__name__}: {exc}"
        self._models[(family, stored.version)] = model
        log.info("model %s version %s loaded", family, stored.version)
        return stored.version, None

    def load(self, family: str, version: str = LATEST) -> FamilyStatus:
        """Load and verify the version a family serves by default; failures are recorded,
        never raised."""
        started = time.perf_counter()
        loaded, error = self._load_version(family, version)
        if loaded is None:
            status = FamilyStatus(family, False, error=error)
        else:
            self._default[family] = loaded
            self._aliases[family] = {LATEST: loaded}
            status = FamilyStatus(
                family,
                True,
                version=loaded,
                load_seconds=round(time.perf_counter() - started, 3),
                loaded_at=time.time(),
            )
        self._status[family] = status
        return status

    def get(self, family: str, version: str | None = None) -> Model:
        """A loaded model: the family's `latest`, or the version (number or alias) asked for.

        404 if the family is not configured or the version is unknown; 503 if the family is not
        loaded, or the version exists in the store but is not loaded here.
        """
        status = self._status.get(family)
        if status is None:
            raise ModelNotFound(f"The {family} model family is not served by this instance.")
        if not status.ready:
            raise ModelNotReady(f"The {family} model is not available: {status.error}")
        if version is None:
            return self._models[(family, self._default[family])]
        aliases = self._aliases.get(family, {})
        number = aliases.get(version, version)
        model = self._models.get((family, number))
        if model is not None:
            return model
        served = ", ".join(f"{a}={v}" for a, v in sorted(aliases.items()))
        if number.isdigit() and number in self.store.versions(family):
            raise ModelNotReady(
                f"Version {number} of {family} is in the store but not loaded here (served: "
                f"{served}); name it with an alias (`pumpapi models promote`) to serve it."
            )
        raise ModelNotFound(
            f"No version or alias {version!r} of the {family} model; served: {served}."
        )

    def alias(self, family: str, name: str) -> str | None:
        """The loaded version an alias names, if any."""
        return self._aliases.get(family, {}).get(name)

    def versions(self, family: str) -> list[dict[str, Any]]:
        """The versions of a family loaded here, each with its aliases."""
        aliases = self._aliases.get(family, {})
        return [
            {
                "version": version,
                "aliases": sorted(a for a, v in aliases.items() if v == version),
                "created_at": model.metadata.get("created_at"),
            }
            for (loaded_family, version), model in sorted(
                self._models.items(), key=lambda item: int(item[0][1])
            )
            if loaded_family == family
        ]

    def status(self) -> dict[str, FamilyStatus]:
        return dict(self._status)
