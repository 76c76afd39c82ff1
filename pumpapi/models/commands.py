"""`pumpapi models list` and `pumpapi models show FAMILY [VERSION]`: what the model store holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from pumpapi import settings
from pumpapi.errors import ArtifactCorrupted, ModelNotFound
from pumpapi.models.store import LATEST, ModelStore, ModelVersion


def default_store() -> str:
    """The store of the environment's settings (PUMPAPI_MODEL_STORE, else var/models)."""
    return settings.effective()["MODEL_STORE"]


#: `--store` for every command that reads or writes the model store.
store_option = click.option(
    "--store",
    "store_root",
    default=default_store,
    show_default="PUMPAPI_MODEL_STORE or var/models",
    help="Model store: a directory, or s3://bucket/prefix (then written through "
    "PUMPAPI_MODEL_CACHE and published to the bucket).",
)


def local_of(location: str | Path) -> ModelStore:
    """The store on disk a command writes into: the directory, or the cache of a bucket."""
    from pumpapi.models import local_store

    return local_store({**settings.effective(), "MODEL_STORE": str(location)})


def publish(location: str | Path, family: str, version: str) -> None:
    """After training into `local_of(location)`: a bucket gets the version (artifacts, then
    metadata, then the `latest` pointer); a directory already has it."""
    from pumpapi.models.objectstore import ObjectStore, is_remote

    if is_remote(location):
        ObjectStore(str(location)).push(local_of(location).resolve(family, version))
        click.echo(f"{family} version {version} published to {location}")


def _integrity(stored: ModelVersion) -> str:
    try:
        stored.verify()
    except ArtifactCorrupted as exc:
        return f"CORRUPTED: {exc}"
    return "ok"


def _headline(metrics: dict[str, Any]) -> str:
    """The few numbers that tell versions apart, e.g. `roc_auc=0.91 pr_auc=0.62`."""
    keys = ("roc_auc", "pr_auc", "f1", "brier", "mae", "rmse")
    return " ".join(
        f"{k}={metrics[k]:.3f}" for k in keys if isinstance(metrics.get(k), int | float)
    )


@click.group("models")
def models() -> None:
    """Inspect the model store: versions, metadata, integrity."""


@models.command("list")
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_versions(store_root: str, as_json: bool) -> None:
    """Every stored version of every family, with its metrics and integrity.

    `latest` marks the version a service serves by default.
    """
    from pumpapi.models.objectstore import ObjectStore, is_remote

    if is_remote(store_root):
        _list_remote(ObjectStore(store_root), as_json)
        return
    store = ModelStore(store_root)
    rows = []
    for family in store.families():
        versions = store.versions(family)
        for version in versions:
            try:
                stored = store.resolve(family, version)
            except ArtifactCorrupted as exc:
                rows.append({"family": family, "version": version, "integrity": str(exc)})
                continue
            meta = stored.metadata
            rows.append(
                {
                    "family": family,
                    "version": version,
                    "latest": version == versions[-1],
                    "created_at": meta.get("created_at"),
                    "library": meta.get("library"),
                    "metrics": meta.get("metrics", {}),
                    "integrity": _integrity(stored),
                }
            )
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo(f"The model store at {store_root} is empty; train with `pumpapi train FAMILY`.")
        return
    for row in rows:
        library = row.get("library") or {}
        click.echo(
            "  ".join(
                [
                    f"{row['family']:<10}",
                    f"v{row['version']:<4}",
                    "latest" if row.get("latest") else "      ",
                    f"{row.get('created_at') or '-':<25}",
                    f"{library.get('name', '-')} {library.get('version', '')}".strip(),
                    _headline(row.get("metrics") or {}),
                    row["integrity"],
                ]
            )
        )


@models.command("show")
@store_option
@click.argument("family")
@click.argument("version", default=LATEST)
def show(store_root: str, family: str, version: str) -> None:
    """The metadata of one version (default: latest) as JSON, with its integrity checked."""
    store = local_of(store_root)
    try:
        stored = store.resolve(family, version)
    except ModelNotFound as exc:
        raise click.ClickException(exc.message) from exc
    except ArtifactCorrupted as exc:
        raise click.ClickException(str(exc)) from exc
    body = {**stored.metadata, "path": str(stored.path), "integrity": _integrity(stored)}
    click.echo(json.dumps(body, indent=2, ensure_ascii=False))


def _list_remote(remote, as_json: bool) -> None:
    from pumpapi.models.families import FAMILIES

    rows = []
    for family in FAMILIES:
        aliases = remote.aliases(family)
        for version in remote.versions(family):
            rows.append(
                {
                    "family": family,
                    "version": version,
                    "aliases": sorted(a for a, v in aliases.items() if v == version),
                    "metrics": remote.metadata(family, version).get("metrics", {}),
                }
            )
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for row in rows:
        click.echo(
            f"{row['family']:<10} v{row['version']:<4} {','.join(row['aliases']):<20} "
            f"{_headline(row['metrics'])}"
        )


@models.command("push")
@store_option
@click.option("--to", "target", required=True, help="s3://bucket/prefix to publish to.")
@click.option(
    "--alias", "aliases", multiple=True, default=(LATEST,), show_default=True,
    help="Aliases moved to the version once it is published (repeatable).",
)  # fmt: skip
@click.argument("family")
@click.argument("version", default=LATEST)
def push(store_root: str, target: str, aliases: tuple[str, ...], family: str, version: str):
    """Publish a version of the local store to object storage, verified first."""
    from pumpapi.models.objectstore import ObjectStore

    try:
        stored = local_of(store_root).resolve(family, version)
        ObjectStore(target).push(stored, aliases)
    except (ModelNotFound, ArtifactCorrupted) as exc:
        raise click.ClickException(getattr(exc, "message", str(exc))) from exc
    click.echo(f"{family} version {stored.version} published to {target} as {', '.join(aliases)}")


@models.command("pull")
@store_option
@click.option("--from", "source", required=True, help="s3://bucket/prefix to pull from.")
@click.argument("family")
@click.argument("version", default=LATEST)
def pull(store_root: str, source: str, family: str, version: str) -> None:
    """Bring a version from object storage into the local store, verified before it is used."""
    from pumpapi.models.objectstore import ObjectStore

    remote = ObjectStore(source)
    try:
        number = remote.resolve(family, version)
        stored = remote.pull(family, number, local_of(store_root))
    except (ModelNotFound, ArtifactCorrupted) as exc:
        raise click.ClickException(getattr(exc, "message", str(exc))) from exc
    click.echo(f"{family} version {stored.version} pulled into {stored.path}")


@models.command("promote")
@store_option
@click.option(
    "--alias", default=LATEST, show_default=True,
    help="The alias moved (latest is what a request without ?version= gets).",
)  # fmt: skip
@click.argument("family")
@click.argument("version")
def promote(store_root: str, alias: str, family: str, version: str) -> None:
    """Point an alias at a version, in the store itself; a rollback is the same command.

    Serving instances follow within PUMPAPI_MODEL_WATCH_SECONDS (their store watcher reloads
    the models and replaces the workers gracefully). The version is verified first.
    """
    from pumpapi.models.objectstore import ObjectStore, is_remote

    if alias.isdigit():
        raise click.BadParameter("an alias is a name, not a number", param_hint="--alias")
    try:
        if is_remote(store_root):
            remote = ObjectStore(store_root)
            number = remote.resolve(family, version)
            remote.point(family, number, [alias])
        else:
            store = ModelStore(store_root)
            stored = store.resolve(family, version)
            stored.verify()
            number = stored.version
            aliases = store.aliases(family) or {LATEST: store.versions(family)[-1]}
            store.write_aliases(family, {**aliases, alias: number})
    except (ModelNotFound, ArtifactCorrupted) as exc:
        raise click.ClickException(getattr(exc, "message", str(exc))) from exc
    click.echo(f"{family}: {alias} -> version {number} in {store_root}")
