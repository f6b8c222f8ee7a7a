"""Taking a new routing config without a restart: from the router's ConfigMap, or its file,
or, for a pool's router, from the pool's catalogue.

The operator writes the config into a ConfigMap mounted as a file. The file is what the
router starts from, but the kubelet refreshes a mounted ConfigMap only on the pod's
periodic sync (a minute by default), so a canary step's new weight would reach the router
that late. With `--namespace` and `--config-map` the router therefore follows the
ConfigMap itself through the API (list, then watch) and takes a change within moments;
the file is then read only at start, so that the kubelet's late copy can never bring an
older config back. Without them (tests, clusters without API access) it polls the file,
which works where inotify does not. Either way a text equal to the one seen last changes
nothing and counts nothing; a bad new config is logged, counted and ignored, so the router
keeps routing by the last good one.

A pool's router follows every catalogue ConfigMap of its pool (by label) with the pool's
servers' follower (`kube.configmaps`): an event changes the one family its ConfigMap
holds, a bad family is refused alone (it keeps its last good route, or stays unrouted), a
ConfigMap that is not the operator's is refused, and a deleted ConfigMap takes its family
out (a family waiting for its model name is then routed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from modelkeeper.api.pool import PooledFamily
from modelkeeper.kube.watch import KubeApi, ListWatch
from modelkeeper.router.catalogue import family_config
from modelkeeper.router.config import (
    ConfigChange,
    ConfigError,
    RoutingConfig,
    configmap_change,
    parse_config,
    text_change,
)
from modelkeeper.router.proxy import Router

log = logging.getLogger(__name__)

FileSignature = tuple[int, int, int]  # mtime in ns, size, inode


def read_config_file(path: Path) -> str:
    """The text of the config file, or ConfigError naming the file."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from error


def load_config_file(path: Path) -> tuple[str, RoutingConfig]:
    """The text and routing config of the file at `path`, or ConfigError naming the file."""
    text = read_config_file(path)
    try:
        return text, parse_config(text)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from error


class ConfigUpdates:
    """Applies the routing config changes that arrive, from whichever source, once each."""

    def __init__(
        self,
        seen: str | None,
        apply: Callable[[RoutingConfig], None],
        reloaded: Callable[[bool], None],
    ) -> None:
        self.seen: str | None = seen
        self._apply = apply
        self._reloaded = reloaded

    def take(self, change: ConfigChange | None, where: str) -> None:
        """Route by the change's config, or log and count why not; nothing if no change."""
        if change is None:
            return
        self.seen = change.text
        if change.config is None:
            self.refuse(change.error)
            return
        try:
            self._apply(change.config)
        except ConfigError as error:
            self.refuse(f"{where}: {error}")
        else:
            log.info("routing config reloaded from %s", where)
            self._reloaded(True)

    def refuse(self, error: str) -> None:
        log.error("kept the previous routing config: %s", error)
        self._reloaded(False)


class ConfigFileFollower:
    """Offers the config file's text each time its signature differs from the one before.

    Take the signature before loading the running config, so no change slips by.
    """

    def __init__(
        self,
        path: Path,
        seen: FileSignature | None,
        interval_seconds: float,
        updates: ConfigUpdates,
    ) -> None:
        self._path = path
        self._seen = seen
        self._interval_seconds = interval_seconds
        self._updates = updates
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow(), name="config-file")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow(self) -> None:
        path = self._path
        while True:
            await asyncio.sleep(self._interval_seconds)
            current = file_signature(path)
            if current is None or current == self._seen:
                continue
            self._seen = current
            try:
                text = read_config_file(path)
            except ConfigError as error:
                self._updates.refuse(str(error))
            else:
                self._updates.take(text_change(self._updates.seen, text, str(path)), str(path))


def file_signature(path: Path) -> FileSignature | None:
    """What changes when the file does (a ConfigMap swap changes the inode); None if absent."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size, status.st_ino


class ConfigMapFollower:
    """Follows the router's own ConfigMap through the API: one object, by name."""

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        name: str,
        key: str,
        updates: ConfigUpdates,
        retry_seconds: float = 1.0,
    ) -> None:
        self._where = f"ConfigMap {namespace}/{name}"
        self._key = key
        self._updates = updates
        self._watch = ListWatch(
            api,
            f"/api/v1/namespaces/{namespace}/configmaps",
            # A fieldSelector on the name is what RBAC's resourceNames admits for list and watch.
            {"fieldSelector": f"metadata.name={name}"},
            self._listed,
            self._changed,
            "ConfigMap",
            retry_seconds,
        )

    def start(self) -> None:
        self._watch.start()

    async def close(self) -> None:
        await self._watch.close()

    def _listed(self, items: Sequence[Mapping[str, Any]]) -> None:
        if not items:
            log.warning("%s not found; routing by the config there was", self._where)
        for item in items:
            self._changed("ADDED", item)

    def _changed(self, event: str, configmap: Mapping[str, Any]) -> None:
        if event == "DELETED":
            log.warning("%s deleted; routing by the config there was", self._where)
        change = configmap_change(self._updates.seen, event, configmap, self._key, self._where)
        self._updates.take(change, self._where)


class CatalogueRoutes:
    """The `kube.configmaps.ConfigMapReader` of a pool's router: each family as its route on
    the pool's `service`, each one taken or refused counted by `reloaded`."""

    def __init__(
        self, router: Router, namespace: str, service: str, reloaded: Callable[[bool], None]
    ) -> None:
        self._router = router
        self._namespace = namespace
        self._service = service
        self._reloaded = reloaded
        self._offered: dict[str, PooledFamily] = {}  # by ConfigMap name, taken or not

    def replace(self, families: Mapping[str, PooledFamily]) -> None:
        """A whole listing: families it lacks are gone, those it changed are put."""
        for name in [name for name in self._offered if name not in families]:
            self.remove(name)
        for name, family in families.items():
            if self._offered.get(name) != family:
                self.put(name, family)
        self._router.listed()
        log.info("routing %d families of %d in the catalogue", self._router.families, len(families))

    def put(self, source: str, family: PooledFamily) -> None:
        self._offered[source] = family
        where = f"ConfigMap {self._namespace}/{source}"
        try:
            self._router.put(source, family_config(family, self._service), family.claim.created)
        except ConfigError as error:
            self.refused(source, f"{where}: {error}")
        else:
            log.info("routing config reloaded from %s", where)
            self._reloaded(True)

    def remove(self, source: str) -> None:
        if self._offered.pop(source, None) is not None:
            self._router.remove(source)
            where = f"ConfigMap {self._namespace}/{source}"
            log.info("%s deleted or refused: its family is no longer routed", where)
            self._reloaded(True)

    def refused(self, source: str, why: str) -> None:
        log.error("kept the previous routing config: %s", why)
        self._reloaded(False)
