"""The store watcher: new versions and moved aliases served without a restart.

gunicorn's master starts it as a process of its own (config/gunicorn.conf.py, `when_ready`), so
the master never opens a socket or a thread itself; it exits when the master is gone. Every
MODEL_WATCH_SECONDS it reads what the store serves (each family's aliases and the versions they
name; for a bucket, after bringing them into the cache, verified) and, when that changed, sends
SIGHUP to the master. The master then loads the store's versions into a new registry
(`pumpapi.models.reload`, from gunicorn's `on_reload`), forks new workers from it and stops the
old ones gracefully: requests in flight finish on the old version, new ones get the new, none
fails. A version whose files fail verification never reaches the workers: a bucket's is refused
by the sync, a local one by the watcher before it signals, and the master keeps its registry
when a family would stop serving.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import time
from collections.abc import Iterable, Mapping
from typing import Any

from pumpapi import settings
from pumpapi.errors import ArtifactCorrupted, ModelNotFound
from pumpapi.models.objectstore import ObjectStore, is_remote
from pumpapi.models.store import LATEST, ModelStore

log = logging.getLogger("pumpapi.models.watch")


def served(store: ModelStore, families: Iterable[str]) -> dict[str, dict[str, str]]:
    """What a store serves: per family, alias -> version (`latest` always), every version
    verified. Raises ArtifactCorrupted when one is not."""
    state: dict[str, dict[str, str]] = {}
    for family in families:
        try:
            aliases = {LATEST: store.resolve(family, LATEST).version, **store.aliases(family)}
        except ModelNotFound:
            continue
        for version in set(aliases.values()):
            store.resolve(family, version).verify()
        state[family] = aliases
    return state


def observe(config: Mapping[str, Any], cache: ModelStore) -> dict[str, dict[str, str]]:
    """One look at the store (a bucket is synced into the cache first)."""
    families = list(config["MODEL_FAMILIES"])
    location = str(config["MODEL_STORE"])
    if is_remote(location):
        report = ObjectStore(location).sync(cache, families)
        for error in report.errors:
            log.warning("store watch: %s", error)
    return served(cache, families)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def watch(master: int, config: Mapping[str, Any], interval: float) -> None:
    """Signal `master` whenever what the store serves changes; return when it is gone."""
    from pumpapi.models import local_store

    cache = local_store(config)
    last: str | None = None
    while _alive(master):
        try:
            state = json.dumps(observe(config, cache), sort_keys=True)
        except (ArtifactCorrupted, OSError, ValueError) as exc:
            log.error("store watch: not reloading, the store is not servable: %s", exc)
        else:
            if last is not None and state != last:
                log.info("store watch: the store changed, reloading the models: %s", state)
                os.kill(master, signal.SIGHUP)
            last = state
        time.sleep(interval)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--master", type=int, required=True, help="gunicorn master's pid")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = settings.effective()
    watch(args.master, config, float(config["MODEL_WATCH_SECONDS"]))


if __name__ == "__main__":
    main()
