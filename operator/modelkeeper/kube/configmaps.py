"""Following the ConfigMaps a label picks, each holding one thing: a pool's catalogue.

A pool's scoring servers and its router both follow the pool's catalogue ConfigMaps (one
per family, `api.pool`), so the following is written once here: a list, then a watch
(`watch.ListWatch`), telling a reader each thing that comes, changes or goes, by
ConfigMap name. What the ConfigMaps hold and whose they must be is the caller's: a
ConfigMap `refuse` gives a reason for is not taken (logged, told to the reader as
refused, and its thing, if it had one, goes); one whose content `parse` cannot read is
logged and refused, and its last good thing stays, so a bad edit never takes a family
away. A ConfigMap judged as it is now (same data, creation and verdict) is not judged
again, so a listing after a broken watch repeats no log line and counts nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Generic, Protocol, TypeVar

from modelkeeper.kube.watch import Item, KubeApi, ListWatch

log = logging.getLogger(__name__)

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)


class ConfigMapReader(Protocol[T_contra]):
    """What follows the ConfigMaps' things: a pool's scoring servers, or its router."""

    def replace(self, things: Mapping[str, T_contra]) -> None:
        """A listing: these are every thing there is, by ConfigMap name."""

    def put(self, source: str, thing: T_contra) -> None:
        """`source` brings this thing, new or changed."""

    def remove(self, source: str) -> None:
        """`source`'s thing is gone."""

    def refused(self, source: str, why: str) -> None:
        """`source` was refused (and logged); for a metric."""


class ConfigMapsFollower:
    """Keeps a reader's things equal to the ConfigMaps of a namespace that `selector` picks."""

    def __init__(
        self, api: KubeApi, namespace: str, selector: Mapping[str, str], events: ConfigMapEvents[T]
    ) -> None:
        self._watch = ListWatch(
            api,
            f"/api/v1/namespaces/{namespace}/configmaps",
            selector,
            events.listed,
            events.changed,
            "ConfigMap",
        )

    def start(self) -> None:
        self._watch.start()

    async def close(self) -> None:
        await self._watch.close()


class ConfigMapEvents(Generic[T]):
    """What each listing and watch event of the ConfigMaps tells the reader."""

    def __init__(
        self,
        namespace: str,
        reader: ConfigMapReader[T],
        refuse: Callable[[Item], str | None],
        parse: Callable[[Item], T],
    ) -> None:
        self._namespace = namespace
        self._reader = reader
        self._refuse = refuse
        self._parse = parse
        self._things: dict[str, T] = {}  # the last good, by ConfigMap name
        self._seen: dict[str, tuple[object, ...]] = {}  # what each was last judged on

    def listed(self, items: Sequence[Item]) -> None:
        """A whole listing, at start or after the watch broke: what it lacks is gone."""
        listed = {str(item["metadata"]["name"]) for item in items}
        for name in set(self._seen) - listed:
            del self._seen[name]
            self._things.pop(name, None)
        for item in items:
            self._judge(item)
        self._reader.replace(dict(self._things))
        log.info("%d ConfigMaps listed, %d taken", len(items), len(self._things))

    def changed(self, event: str, item: Item) -> None:
        name = str(item["metadata"]["name"])
        if event == "DELETED":
            self._seen.pop(name, None)
            if self._things.pop(name, None) is not None:
                log.info("%s deleted", self._where(name))
                self._reader.remove(name)
            return
        before = self._things.get(name)
        if self._judge(item):
            after = self._things.get(name)
            if after is None and before is not None:
                self._reader.remove(name)
            elif after is not None and after != before:
                self._reader.put(name, after)

    def _judge(self, item: Item) -> bool:
        """Set the ConfigMap's thing from what it holds now; False if judged so already."""
        metadata = item["metadata"]
        name = str(metadata["name"])
        why = self._refuse(item)
        seen = (why, item.get("data"), metadata.get("creationTimestamp"))
        if self._seen.get(name) == seen:
            return False
        self._seen[name] = seen
        if why is not None:
            log.error("%s is not taken: %s", self._where(name), why)
            self._things.pop(name, None)
            self._reader.refused(name, f"{self._where(name)}: {why}")
            return True
        try:
            self._things[name] = self._parse(item)
        except ValueError as error:  # pydantic's ValidationError is one
            kept = "its last good one is kept" if name in self._things else "nothing taken"
            log.error("%s refused (%s): %s", self._where(name), kept, error)
            self._reader.refused(name, f"{self._where(name)}: {error}")
        return True

    def _where(self, name: str) -> str:
        return f"ConfigMap {self._namespace}/{name}"
