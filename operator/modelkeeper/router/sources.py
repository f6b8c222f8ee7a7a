"""Where the router learns each backend's ready endpoints: the config itself, or EndpointSlices.

Both sit behind `EndpointSource`, so the proxy neither knows nor cares which one runs.
The Kubernetes source lists and watches EndpointSlices in one namespace with aiohttp,
the HTTP stack the router already runs on: the official client's calls block (a watch
would need a thread of its own) and kubernetes_asyncio would be one more dependency,
while all this needs is two GET requests. Reaching and authenticating to the API server
(a kubeconfig, or the in-cluster service account) is the operator's `kube.connection`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp
import orjson

from modelkeeper.router.config import Backend, ConfigError, Endpoint, RoutingConfig
from modelkeeper.router.slices import SERVICE_NAME_LABEL, ready_endpoints

if TYPE_CHECKING:
    from modelkeeper.kube.connection import Connection

log = logging.getLogger(__name__)


class EndpointSource(Protocol):
    """Tells the proxy, at any moment, which endpoints of a backend are ready."""

    def check(self, config: RoutingConfig) -> None:
        """Raise ConfigError if this source cannot find the endpoints of some backend."""

    def ready_endpoints(self, backend: Backend) -> tuple[Endpoint, ...]:
        """The endpoints to balance the backend's requests across; cheap, called per request."""

    async def start(self) -> None:
        """Begin following changes."""

    async def close(self) -> None:
        """Stop following changes and release connections."""


class StaticEndpoints:
    """Endpoints written in the config: for tests and for clusters without EndpointSlices."""

    def check(self, config: RoutingConfig) -> None:
        for backend in config.backends:
            if not backend.endpoints:
                raise ConfigError(
                    f"backend {backend.name!r} names a service but the router reads no "
                    "EndpointSlices: give its `endpoints`, or run the router with --namespace"
                )

    def ready_endpoints(self, backend: Backend) -> tuple[Endpoint, ...]:
        return backend.endpoints

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass


class _WatchExpiredError(Exception):
    """The API server no longer has the resource version the watch resumed from (410)."""


class EndpointSliceWatcher:
    """Ready endpoints read from the EndpointSlices of one namespace, kept current by a watch."""

    def __init__(
        self, namespace: str, kubeconfig: str | None = None, retry_seconds: float = 1.0
    ) -> None:
        self._namespace = namespace
        self._kubeconfig = kubeconfig
        self._retry_seconds = retry_seconds
        self._slices: dict[str, Mapping[str, Any]] = {}
        self._cache: dict[tuple[str, str | int], tuple[Endpoint, ...]] = {}
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._connection: Connection | None = None

    def check(self, config: RoutingConfig) -> None:
        for backend in config.backends:
            if backend.service is None:
                raise ConfigError(
                    f"backend {backend.name!r} has static endpoints but the router reads "
                    "EndpointSlices: give its `service`, or run the router without --namespace"
                )

    def ready_endpoints(self, backend: Backend) -> tuple[Endpoint, ...]:
        assert backend.service is not None, "check() admits only backends with a service"
        key = (backend.service, backend.port)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = ready_endpoints(
                self._slices.values(), backend.service, backend.port
            )
        return found

    async def start(self) -> None:
        # Imported here: the official client is heavy, and only this source needs it.
        from kubernetes.config import ConfigException

        from modelkeeper.kube.connection import connect

        try:
            self._connection = connect(self._kubeconfig)
        except (ConfigException, OSError) as error:
            where = self._kubeconfig or "~/.kube/config or the in-cluster service account"
            raise ConfigError(
                f"cannot read EndpointSlices: no API access from {where}: {error}"
            ) from error
        self._session = aiohttp.ClientSession(
            base_url=self._connection.base_url,
            connector=aiohttp.TCPConnector(ssl=self._connection.ssl_context),
            read_bufsize=2**20,
        )
        self._task = asyncio.create_task(self._follow(), name="endpointslice-watch")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()

    @property
    def _path(self) -> str:
        return f"/apis/discovery.k8s.io/v1/namespaces/{self._namespace}/endpointslices"

    async def _follow(self) -> None:
        """List, then watch from the listed version; list again whenever the watch breaks."""
        while True:
            try:
                version = await self._list()
                while True:
                    version = await self._watch(version)
            except _WatchExpiredError:
                log.info("EndpointSlice watch expired; listing again")
            except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as error:
                log.warning("EndpointSlice watch failed (%s); retrying", error)
                await asyncio.sleep(self._retry_seconds)

    async def _list(self) -> str:
        assert self._session is not None
        assert self._connection is not None
        params = {"labelSelector": SERVICE_NAME_LABEL}
        async with self._session.get(
            self._path, params=params, headers=self._connection.headers(), raise_for_status=True
        ) as reply:
            listing = orjson.loads(await reply.read())
        self._slices = {item["metadata"]["name"]: item for item in listing["items"]}
        self._cache.clear()
        return str(listing["metadata"]["resourceVersion"])

    async def _watch(self, version: str) -> str:
        """Apply events until the server ends the watch; return the version to resume from."""
        assert self._session is not None
        assert self._connection is not None
        params = {
            "labelSelector": SERVICE_NAME_LABEL,
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": version,
            "timeoutSeconds": "300",
        }
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=330)
        async with self._session.get(
            self._path,
            params=params,
            headers=self._connection.headers(),
            timeout=timeout,
            raise_for_status=True,
        ) as reply:
            async for line in reply.content:
                if line.strip():
                    version = self._apply(orjson.loads(line))
        return version

    def _apply(self, event: Mapping[str, Any]) -> str:
        """Apply one watch event; return the resource version it carries."""
        kind, item = event["type"], event["object"]
        if kind == "ERROR":
            if item.get("code") == 410:
                raise _WatchExpiredError
            raise ValueError(f"watch error: {item.get('message')}")
        if kind == "DELETED":
            self._slices.pop(item["metadata"]["name"], None)
        elif kind in ("ADDED", "MODIFIED"):
            self._slices[item["metadata"]["name"]] = item
        self._cache.clear()
        return str(item["metadata"]["resourceVersion"])
