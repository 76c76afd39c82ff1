"""The model store: a directory with one folder per family and version, checksummed artifacts.

Layout::

    <root>/<family>/<version>/metadata.json
    <root>/<family>/<version>/<artifact files…>

Versions are positive integers; `latest` is the highest. A version is written into a hidden
temporary folder and renamed into place only when complete, so a reader never sees half a model.
`metadata.json` lists the sha256 of every artifact; `ModelVersion.verify()` checks them on load.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pumpapi.errors import ArtifactCorrupted, ModelNotFound

METADATA_FILE = "metadata.json"
#: Optional, per family: {"latest": "3", ...} (written by an object store's sync).
ALIASES_FILE = "aliases.json"
LATEST = "latest"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class ModelVersion:
    """One stored version: where it is and what its metadata says."""

    family: str
    version: str
    path: Path
    metadata: dict[str, Any] = field(default_factory=dict)

    def file(self, name: str) -> Path:
        return self.path / name

    def verify(self) -> None:
        """Raise ArtifactCorrupted unless every listed artifact exists with its recorded sha256."""
        files = self.metadata.get("files")
        if not files:
            raise ArtifactCorrupted(f"{self.family}/{self.version}: metadata lists no files")
        for name, entry in files.items():
            path = self.path / name
            if not path.is_file():
                raise ArtifactCorrupted(f"{self.family}/{self.version}: {name} is missing")
            actual = sha256_of(path)
            if actual != entry["sha256"]:
                raise ArtifactCorrupted(
                    f"{self.family}/{self.version}: checksum mismatch for {name} "
                    f"(expected sha256 {entry['sha256'][:12]}…, found {actual[:12]}…)"
                )


@dataclass
class Draft:
    """A version being written: put artifact files in `path`, fill `metadata`."""

    family: str
    path: Path
    metadata: dict[str, Any] = field(default_factory=dict)
    #: The version number, set once the draft is published.
    version: str | None = None

    def file(self, name: str) -> Path:
        return self.path / name


class ModelStore:
    """Reads and writes model versions under a root directory."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    def families(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and p.name[0] != ".")

    def versions(self, family: str) -> list[str]:
        """Complete versions of a family, oldest first."""
        folder = self.root / family
        if not folder.is_dir():
            return []
        found = [
            p.name
            for p in folder.iterdir()
            if p.is_dir() and p.name.isdigit() and (p / METADATA_FILE).is_file()
        ]
        return sorted(found, key=int)

    def aliases(self, family: str) -> dict[str, str]:
        """The family's aliases (alias -> version) when the store records them (a cache of an
        object store does: `latest` is then what the bucket calls latest); {} otherwise."""
        try:
            return json.loads((self.root / family / ALIASES_FILE).read_text())
        except (OSError, ValueError):
            return {}

    def write_aliases(self, family: str, aliases: dict[str, str]) -> None:
        """Replace the family's aliases at once: readers see the old map or the new, never
        half of one."""
        pointer = self.root / family / ALIASES_FILE
        tmp = pointer.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(aliases, indent=2, sort_keys=True))
        tmp.replace(pointer)

    def _move_latest(self, family: str, version: str) -> None:
        """A new version is `latest` where aliases are recorded too (they would pin the old)."""
        aliases = self.aliases(family)
        if aliases:
            self.write_aliases(family, {**aliases, LATEST: version})

    def resolve(self, family: str, version: str = LATEST) -> ModelVersion:
        """The stored version (metadata read, artifacts not yet verified); ModelNotFound if none."""
        versions = self.versions(family)
        if not versions:
            raise ModelNotFound(
                f"No trained {family} model in the store at {self.root}; "
                f"train one with `pumpapi train {family}`."
            )
        aliased = self.aliases(family).get(str(version))
        if aliased in versions:
            chosen = aliased
        else:
            chosen = versions[-1] if version == LATEST else str(version)
        if chosen not in versions:
            raise ModelNotFound(
                f"Version {version} of the {family} model does not exist; "
                f"available: {', '.join(versions)}."
            )
        path = self.root / family / chosen
        try:
            metadata = json.loads((path / METADATA_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise ArtifactCorrupted(f"{family}/{chosen}: unreadable metadata.json ({exc})") from exc
        return ModelVersion(family, chosen, path, metadata)

    @contextmanager
    def new_version(self, family: str) -> Iterator[Draft]:
        """Write a new version atomically.

        Yields a Draft whose folder receives the artifacts; on success the checksums are computed,
        metadata.json written and the folder renamed to the next version number. On error nothing
        is left behind.
        """
        folder = self.root / family
        folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".draft-", dir=folder))
        try:
            draft = Draft(family, tmp)
            yield draft
            files = {
                p.name: {"sha256": sha256_of(p), "bytes": p.stat().st_size}
                for p in sorted(tmp.iterdir())
                if p.is_file() and p.name != METADATA_FILE
            }
            while True:
                existing = self.versions(family)
                number = str(int(existing[-1]) + 1 if existing else 1)
                metadata = {
                    "family": family,
                    "version": number,
                    "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    **draft.metadata,
                    "files": files,
                }
                (tmp / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=False))
                try:
                    # rename() of a directory onto an existing non-empty one fails: two
                    # concurrent trainings cannot take the same number.
                    tmp.rename(folder / number)
                    draft.version, draft.path = number, folder / number
                    self._move_latest(family, number)
                    break
                except OSError:
                    if not (folder / number).exists():
                        raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
