"""Where a pool server's catalogue comes from: its pool's ConfigMaps, or a directory of files.

`follow_catalogue` follows the pool's catalogue ConfigMaps (`kube.configmaps`, as the
pool's router does) into the server's `ModelPool`: an event for one ConfigMap changes
that family alone, and only the operator's ConfigMaps are taken (`api.pool.refusal`).
`read_catalogue_dir` reads `*.json` files once, each a family, for a server
without API access (and the benchmarks).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from pydantic import ValidationError

from modelkeeper.api.pool import PooledFamily, catalogue_selector, refusal
from modelkeeper.kube.configmaps import ConfigMapEvents, ConfigMapsFollower
from modelkeeper.kube.watch import KubeApi
from modelkeeper.serving.pool import ModelPool

log = logging.getLogger(__name__)


class _PoolCatalogue:
    """The `ConfigMapReader` of a server: its pool's families; `listed` after each listing."""

    def __init__(self, pool: ModelPool, listed: Callable[[], None]) -> None:
        self._pool = pool
        self._listed = listed

    def replace(self, families: Mapping[str, PooledFamily]) -> None:
        self._pool.replace_catalogue(families)
        self._listed()

    def put(self, source: str, family: PooledFamily) -> None:
        self._pool.put_family(source, family)

    def remove(self, source: str) -> None:
        self._pool.remove_family(source)

    def refused(self, source: str, why: str) -> None:
        """Logged by the follower already; the server counts nothing of it."""


def follow_catalogue(
    api: KubeApi, namespace: str, pool_name: str, pool: ModelPool, listed: Callable[[], None]
) -> ConfigMapsFollower:
    """A follower keeping `pool`'s catalogue equal to the pool's ConfigMaps (not started)."""
    reader = _PoolCatalogue(pool, listed)
    events = ConfigMapEvents(namespace, reader, refusal, PooledFamily.from_config_map)
    return ConfigMapsFollower(api, namespace, catalogue_selector(pool_name), events)


def read_catalogue_dir(directory: Path) -> dict[str, PooledFamily]:
    """The families of the directory's *.json files, by file name; bad files logged, skipped."""
    families = {}
    for path in sorted(directory.glob("*.json")):
        try:
            families[path.name] = PooledFamily.model_validate_json(path.read_bytes())
        except (OSError, ValidationError) as error:
            log.error("catalogue file %s skipped: %s", path, error)
    return families
