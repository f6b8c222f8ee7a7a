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

A pool's router follows every catalogue ConfigMap of its pool (by label) the same way,
each with its own last text seen: an event changes the one family its ConfigMap holds, a
bad family is refused alone (it keeps its last good route, or stays unrouted), and a
deleted ConfigMap takes its family out.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import functools
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from modelkeeper.api.pool import CATALOGUE_KEY, POOL_LABEL
from modelkeeper.kube.watch import KubeApi, ListWatch
from modelkeeper.router.config import (
    ConfigChange,
    ConfigError,
    Parser,
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


class _ConfigMapsFollower(abc.ABC):
    """The ConfigMaps of a namespace that `selector` picks, followed through the API."""

    def __init__(
        self, api: KubeApi, namespace: str, selector: Mapping[str, str], retry_seconds: float
    ) -> None:
        self._watch = ListWatch(
            api,
            f"/api/v1/namespaces/{namespace}/configmaps",
            selector,
            self._listed,
            self._changed,
            "ConfigMap",
            retry_seconds,
        )

    def start(self) -> None:
        self._watch.start()

    async def close(self) -> None:
        await self._watch.close()

    @abc.abstractmethod
    def _listed(self, items: Sequence[Mapping[str, Any]]) -> None: ...

    @abc.abstractmethod
    def _changed(self, event: str, configmap: Mapping[str, Any]) -> None: ...


class ConfigMapFollower(_ConfigMapsFollower):
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
        # A fieldSelector on the name is what RBAC's resourceNames admits for list and watch.
        super().__init__(api, namespace, {"fieldSelector": f"metadata.name={name}"}, retry_seconds)
        self._where = f"ConfigMap {namespace}/{name}"
        self._key = key
        self._updates = updates

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


class CatalogueFollower(_ConfigMapsFollower):
    """Follows a pool's catalogue ConfigMaps through the API: each puts or removes one family."""

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        pool: str,
        router: Router,
        parse: Parser,
        reloaded: Callable[[bool], None],
        retry_seconds: float = 1.0,
    ) -> None:
        super().__init__(api, namespace, {"labelSelector": f"{POOL_LABEL}={pool}"}, retry_seconds)
        self._namespace = namespace
        self._router = router
        self._parse = parse
        self._reloaded = reloaded
        self._updates: dict[str, ConfigUpdates] = {}  # by ConfigMap name

    def _listed(self, items: Sequence[Mapping[str, Any]]) -> None:
        """A whole listing, at start or after the watch broke: families it lacks are gone."""
        listed = {item["metadata"]["name"] for item in items}
        for name in [name for name in self._updates if name not in listed]:
            self._deleted(name)
        for item in items:
            self._changed("ADDED", item)
        self._router.listed()
        families = self._router.families
        log.info("routing %d families from %d catalogue ConfigMaps", families, len(items))

    def _changed(self, event: str, configmap: Mapping[str, Any]) -> None:
        name = configmap["metadata"]["name"]
        if event == "DELETED":
            self._deleted(name)
            return
        where = f"ConfigMap {self._namespace}/{name}"
        updates = self._updates.get(name)
        if updates is None:
            updates = self._updates[name] = ConfigUpdates(
                None, functools.partial(self._router.put, name), self._reloaded
            )
        change = configmap_change(updates.seen, event, configmap, CATALOGUE_KEY, where, self._parse)
        updates.take(change, where)

    def _deleted(self, name: str) -> None:
        if self._updates.pop(name, None) is not None:
            self._router.remove(name)
            where = f"ConfigMap {self._namespace}/{name}"
            log.info("%s deleted: its family is no longer routed", where)
            self._reloaded(True)
