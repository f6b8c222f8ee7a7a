"""Where a pool server's catalogue comes from: its pool's ConfigMaps, or a directory of files.

`CatalogueFollower` lists the ConfigMaps labelled `modelkeeper.io/pool=POOL` in the
namespace, then watches them (`kube.watch.ListWatch`): an event for one ConfigMap
changes that family alone. A ConfigMap that does not parse is logged and skipped; if
it parsed before, its last good family keeps being served, so a bad edit never takes a
family away. `read_catalogue_dir` reads `*.json` files once, each a family, for a
server without API access (and the benchmarks).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import ValidationError

from modelkeeper.api.pool import POOL_LABEL, PooledFamily
from modelkeeper.kube.watch import Item, KubeApi, ListWatch
from modelkeeper.serving.pool import ModelPool

log = logging.getLogger(__name__)


class CatalogueFollower:
    """Keeps `pool`'s catalogue equal to the pool's ConfigMaps; `listed` after each listing."""

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        pool_name: str,
        pool: ModelPool,
        listed: Callable[[], None],
    ) -> None:
        self._pool = pool
        self._listed = listed
        self._namespace = namespace
        self._watch = ListWatch(
            api,
            f"/api/v1/namespaces/{namespace}/configmaps",
            {"labelSelector": f"{POOL_LABEL}={pool_name}"},
            self._on_list,
            self._on_event,
            kind="ConfigMap",
        )

    def start(self) -> None:
        self._watch.start()

    async def close(self) -> None:
        await self._watch.close()

    def _parse(self, item: Item) -> tuple[str, PooledFamily | None]:
        """The ConfigMap's name and family; None (logged) when it does not parse."""
        name = str(item["metadata"]["name"])
        try:
            return name, PooledFamily.from_config_map(item)
        except ValueError as error:  # pydantic's ValidationError is one
            kept = self._pool.family(name)
            log.error(
                "catalogue ConfigMap %s/%s skipped (%s): %s",
                self._namespace,
                name,
                "its last good family is kept" if kept is not None else "not served",
                error,
            )
            return name, kept

    def _on_list(self, items: Sequence[Item]) -> None:
        families = {}
        for item in items:
            name, family = self._parse(item)
            if family is not None:
                families[name] = family
        self._pool.replace_catalogue(families)
        log.info("catalogue listed: %d families", len(families))
        self._listed()

    def _on_event(self, kind: str, item: Item) -> None:
        if kind == "DELETED":
            self._pool.remove_family(str(item["metadata"]["name"]))
            return
        name, family = self._parse(item)
        if family is not None:
            self._pool.put_family(name, family)


def read_catalogue_dir(directory: Path) -> dict[str, PooledFamily]:
    """The families of the directory's *.json files, by file name; bad files logged, skipped."""
    families = {}
    for path in sorted(directory.glob("*.json")):
        try:
            families[path.name] = PooledFamily.model_validate_json(path.read_bytes())
        except (OSError, ValidationError) as error:
            log.error("catalogue file %s skipped: %s", path, error)
    return families
