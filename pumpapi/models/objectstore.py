"""The model store in S3-compatible object storage, served through a verified local cache.

Layout in the bucket (under the prefix), the same as the local store's::

    <prefix>/<family>/<version>/<artifact files…>
    <prefix>/<family>/<version>/metadata.json      written after every artifact
    <prefix>/<family>/aliases.json                  {"latest": "3", ...}: written last

Publishing uploads a version's artifacts first, its `metadata.json` next and moves the pointer
(`aliases.json`) last, so a reader never sees a version it cannot fetch whole. Serving reads a
local cache (MODEL_CACHE): a version is downloaded into a hidden folder, every artifact checked
against the sha256 its metadata lists, and only then renamed into place, so the cache only ever
holds verified versions. A bucket that is unreachable or holds a corrupted version leaves the
cached versions serving; `sync` says why, and readiness shows it.

Any S3-compatible endpoint works through the standard AWS settings (AWS_ENDPOINT_URL,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION), read by boto3 itself.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pumpapi.errors import ArtifactCorrupted, ModelNotFound
from pumpapi.models.store import ALIASES_FILE, LATEST, METADATA_FILE, ModelStore, ModelVersion

log = logging.getLogger(__name__)

SCHEME = "s3://"


def is_remote(location: str | Path) -> bool:
    return str(location).startswith(SCHEME)


def parse(location: str) -> tuple[str, str]:
    """(bucket, prefix) of `s3://bucket/prefix` (the prefix may be empty)."""
    if not is_remote(location):
        raise ValueError(f"not an s3:// location: {location!r}")
    bucket, _, prefix = location[len(SCHEME) :].partition("/")
    if not bucket:
        raise ValueError(f"{location!r} names no bucket: use s3://bucket/prefix")
    return bucket, prefix.strip("/")


@dataclass
class SyncReport:
    """What a sync of the cache did, and what it could not do (readiness shows it)."""

    location: str
    pulled: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    finished_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "pulled": self.pulled,
            "errors": self.errors,
            "synced_at": self.finished_at,
        }


class ObjectStore:
    """Model versions in a bucket: list, push (publish) and pull (into a local cache)."""

    def __init__(self, location: str, client: Any = None):
        self.location = location
        self.bucket, self.prefix = parse(location)
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            # Fail fast when the endpoint is unreachable: a start or a sync must not hang.
            config = Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 2})
            self._client = boto3.client("s3", config=config)
        return self._client

    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    # -- reading --------------------------------------------------------------------------------

    def aliases(self, family: str) -> dict[str, str]:
        """The family's pointer: alias -> version ({} when nothing was published)."""
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(family, ALIASES_FILE))
        except self.client.exceptions.NoSuchKey:
            return {}
        return json.loads(body["Body"].read())

    def versions(self, family: str) -> list[str]:
        """Versions whose metadata.json is in the bucket (so complete), oldest first."""
        found = set()
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(family) + "/"):
            for item in page.get("Contents", []):
                parts = item["Key"].rsplit("/", 2)
                if len(parts) == 3 and parts[2] == METADATA_FILE and parts[1].isdigit():
                    found.add(parts[1])
        return sorted(found, key=int)

    def resolve(self, family: str, version: str = LATEST) -> str:
        """The version an alias (or a number) names in the bucket; ModelNotFound if none."""
        if version.isdigit():
            if version not in self.versions(family):
                raise ModelNotFound(f"Version {version} of {family} is not in {self.location}.")
            return version
        aliases = self.aliases(family)
        if version in aliases:
            return aliases[version]
        raise ModelNotFound(f"No {version!r} version of {family} in {self.location}.")

    def metadata(self, family: str, version: str) -> dict[str, Any]:
        body = self.client.get_object(
            Bucket=self.bucket, Key=self._key(family, version, METADATA_FILE)
        )
        return json.loads(body["Body"].read())

    def pull(self, family: str, version: str, cache: ModelStore) -> ModelVersion:
        """Download one version into the cache, verified before it becomes visible there.

        Already cached (and complete): nothing is downloaded. A corrupted object raises
        ArtifactCorrupted and leaves the cache as it was."""
        target = cache.root / family / version
        if (target / METADATA_FILE).is_file():
            return cache.resolve(family, version)
        metadata = self.metadata(family, version)
        (cache.root / family).mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".pull-", dir=cache.root / family))
        try:
            for name in metadata.get("files", {}):
                self.client.download_file(
                    self.bucket, self._key(family, version, name), str(tmp / name)
                )
            (tmp / METADATA_FILE).write_text(json.dumps(metadata, indent=2))
            ModelVersion(family, version, tmp, metadata).verify()
            try:
                tmp.rename(target)
            except OSError:
                if not (target / METADATA_FILE).is_file():  # not another process's copy
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        log.info("model %s version %s pulled from %s", family, version, self.location)
        return cache.resolve(family, version)

    # -- writing --------------------------------------------------------------------------------

    def push(self, stored: ModelVersion, aliases: Iterable[str] = (LATEST,)) -> None:
        """Publish a local version: artifacts, then metadata.json, then the pointer moved to
        it (for each alias in `aliases`). The version is verified before anything is sent."""
        stored.verify()
        family, version = stored.family, stored.version
        for name in stored.metadata["files"]:
            self.client.upload_file(
                str(stored.file(name)), self.bucket, self._key(family, version, name)
            )
        self.client.put_object(
            Bucket=self.bucket,
            Key=self._key(family, version, METADATA_FILE),
            Body=json.dumps(stored.metadata, indent=2).encode(),
        )
        self.point(family, version, aliases)

    def point(self, family: str, version: str, aliases: Iterable[str]) -> None:
        """Move aliases to a version already in the bucket (the last write of a publish)."""
        if version not in self.versions(family):
            raise ModelNotFound(f"Version {version} of {family} is not in {self.location}.")
        current = self.aliases(family)
        current.update(dict.fromkeys(aliases, version))
        self.client.put_object(
            Bucket=self.bucket,
            Key=self._key(family, ALIASES_FILE),
            Body=json.dumps(current, indent=2, sort_keys=True).encode(),
        )

    # -- the cache ------------------------------------------------------------------------------

    def sync(self, cache: ModelStore, families: Iterable[str]) -> SyncReport:
        """Bring each family's `latest` into the cache; never raises. Whatever fails (bucket
        unreachable, a version corrupted) is reported, and the cached versions stay."""
        report = SyncReport(self.location)
        for family in families:
            try:
                aliases = self.aliases(family) or {LATEST: self.resolve(family, LATEST)}
                for version in sorted(set(aliases.values()), key=int):
                    if not (cache.root / family / version / METADATA_FILE).is_file():
                        self.pull(family, version, cache)
                        report.pulled.append(f"{family}/{version}")
                # Only once every aliased version is cached and verified. The bucket's map
                # wins in the cache: it may hold a higher version than the bucket's `latest`
                # (after a rollback), which must not win by number.
                cache.write_aliases(family, aliases)
            except ModelNotFound as exc:
                report.errors.append(exc.message)
            except ArtifactCorrupted as exc:
                report.errors.append(f"{exc}; serving the cached versions")
            except Exception as exc:  # endpoint down, credentials, throttling...
                report.errors.append(
                    f"{family}: {self.location} unreachable ({type(exc).__name__}: "
                    f"{str(exc)[:200]}); serving the cached versions"
                )
            if report.errors:
                log.warning("model store sync: %s", report.errors[-1])
        report.finished_at = time.time()
        return report
