"""Following a pool's catalogue through the API: for its scoring servers and its router alike.

`CatalogueFollower` lists the ConfigMaps labelled `modelkeeper.io/pool=POOL` in the
namespace, then watches them (`watch.ListWatch`), and tells its reader each family that
comes, changes or goes, by ConfigMap name. A ConfigMap that does not look like the
operator's (`api.pool.refusal`) is no catalogue: logged, told to the reader as refused,
and its family, if it had one, goes. One whose family does not parse is logged and
refused, and its last good family stays, so a bad edit never takes a family away. A
ConfigMap judged as it is now (same data, metadata and verdict) is not judged again, so a
listing after a broken watch repeats no log line and counts nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Protocol

from modelkeeper.api.pool import CATALOGUE_KEY, POOL_LABEL, PooledFamily, refusal
from modelkeeper.kube.watch import Item, KubeApi, ListWatch

log = logging.getLogger(__name__)


class CatalogueReader(Protocol):
    """What follows the families: a pool's scoring servers, or its router."""

    def replace(self, families: Mapping[str, PooledFamily]) -> None:
        """A listing: these are every family there is, by ConfigMap name."""

    def put(self, source: str, family: PooledFamily) -> None:
        """`source` brings this family, new or changed."""

    def remove(self, source: str) -> None:
        """`source`'s family is gone."""

    def refused(self, source: str, why: str) -> None:
        """`source` was refused (and logged); for a metric."""


class CatalogueFollower:
    """Keeps a reader's families equal to the pool's catalogue ConfigMaps."""

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        pool: str,
        reader: CatalogueReader,
        retry_seconds: float = 1.0,
    ) -> None:
        events = CatalogueEvents(namespace, reader)
        self._watch = ListWatch(
            api,
            f"/api/v1/namespaces/{namespace}/configmaps",
            {"labelSelector": f"{POOL_LABEL}={pool}"},
            events.listed,
            events.changed,
            "ConfigMap",
            retry_seconds,
        )

    def start(self) -> None:
        self._watch.start()

    async def close(self) -> None:
        await self._watch.close()


class CatalogueEvents:
    """What each listing and watch event of the catalogue ConfigMaps tells the reader."""

    def __init__(self, namespace: str, reader: CatalogueReader) -> None:
        self._namespace = namespace
        self._reader = reader
        self._families: dict[str, PooledFamily] = {}  # the last good, by ConfigMap name
        self._seen: dict[str, tuple[object, ...]] = {}  # what each was last judged on

    def listed(self, items: Sequence[Item]) -> None:
        """A whole listing, at start or after the watch broke: what it lacks is gone."""
        listed = {str(item["metadata"]["name"]) for item in items}
        for name in set(self._seen) - listed:
            del self._seen[name]
            self._families.pop(name, None)
        for item in items:
            self._judge(item)
        self._reader.replace(dict(self._families))
        log.info("catalogue listed: %d families of %d ConfigMaps", len(self._families), len(items))

    def changed(self, event: str, item: Item) -> None:
        name = str(item["metadata"]["name"])
        if event == "DELETED":
            self._seen.pop(name, None)
            if self._families.pop(name, None) is not None:
                log.info("%s deleted: its family is gone", self._where(name))
                self._reader.remove(name)
            return
        before = self._families.get(name)
        if self._judge(item):
            after = self._families.get(name)
            if after is None and before is not None:
                self._reader.remove(name)
            elif after is not None and after != before:
                self._reader.put(name, after)

    def _judge(self, item: Item) -> bool:
        """Set the ConfigMap's family from what it holds now; False if judged so already."""
        metadata = item["metadata"]
        name = str(metadata["name"])
        why = refusal(item)
        text = (item.get("data") or {}).get(CATALOGUE_KEY)
        seen = (why, text, metadata.get("creationTimestamp"))
        if self._seen.get(name) == seen:
            return False
        self._seen[name] = seen
        if why is not None:
            log.error("%s is not taken as a catalogue: %s", self._where(name), why)
            self._families.pop(name, None)
            self._reader.refused(name, why)
            return True
        try:
            self._families[name] = PooledFamily.from_config_map(item)
        except ValueError as error:  # pydantic's ValidationError is one
            kept = "its last good family is kept" if name in self._families else "not served"
            log.error("%s: family refused (%s): %s", self._where(name), kept, error)
            self._reader.refused(name, f"{self._where(name)}: {error}")
        return True

    def _where(self, name: str) -> str:
        return f"ConfigMap {self._namespace}/{name}"
