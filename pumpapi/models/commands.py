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
    type=click.Path(file_okay=False, path_type=Path),
    default=default_store,
    show_default="PUMPAPI_MODEL_STORE or var/models",
    help="Model store directory.",
)


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
def list_versions(store_root: Path, as_json: bool) -> None:
    """Every stored version of every family, with its metrics and integrity.

    `latest` marks the version a service serves by default.
    """
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
def show(store_root: Path, family: str, version: str) -> None:
    """The metadata of one version (default: latest) as JSON, with its integrity checked."""
    store = ModelStore(store_root)
    try:
        stored = store.resolve(family, version)
    except ModelNotFound as exc:
        raise click.ClickException(exc.message) from exc
    except ArtifactCorrupted as exc:
        raise click.ClickException(str(exc)) from exc
    body = {**stored.metadata, "path": str(stored.path), "integrity": _integrity(stored)}
    click.echo(json.dumps(body, indent=2, ensure_ascii=False))
