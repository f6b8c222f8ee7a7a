"""Following objects through the API server: one list, then a watch from the listed version.

The router follows its namespace's EndpointSlices and its ConfigMaps this way, and a
pool's scoring servers their catalogue, so the machinery is written once here: a 410 (the version is
gone) lists again, any other failure waits and lists again, bookmarks only move the
version on, and a watch the server ends is resumed from the last version seen. It runs on
aiohttp, the HTTP stack the router already has: the official client's calls block (a watch
would need a thread of its own) and kubernetes_asyncio would be one more dependency for
two GET requests. Reaching and authenticating to the API server (a kubeconfig, or the
in-cluster service account, whose token is read afresh for each request, as it rotates) is
the operator's `kube.connection`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

if TYPE_CHECKING:
    from modelkeeper.kube.connection import Connection

log = logging.getLogger(__name__)

Item = Mapping[str, Any]
WATCH_SECONDS = 300  # the server ends a watch after this long; it is then resumed


class NoApiAccessError(RuntimeError):
    """No credentials to reach the API server with: a kubeconfig or a service account."""


class KubeApi:
    """One HTTP session to the API server, shared by everything a data plane follows."""

    def __init__(self, kubeconfig: str | None = None) -> None:
        self._kubeconfig = kubeconfig
        self._connection: Connection | None = None
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        """Load the credentials and open the session; NoApiAccessError if there are none."""
        # Imported here: the official client is heavy, and only runs with --namespace need it.
        from kubernetes.config import ConfigException

        from modelkeeper.kube.connection import connect

        try:
            self._connection = connect(self._kubeconfig)
        except (ConfigException, OSError) as error:
            where = self._kubeconfig or "~/.kube/config or the in-cluster service account"
            raise NoApiAccessError(f"no API access from {where}: {error}") from error
        self._session = aiohttp.ClientSession(
            base_url=self._connection.base_url,
            connector=aiohttp.TCPConnector(ssl=self._connection.ssl_context),
            read_bufsize=2**20,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    @contextlib.asynccontextmanager
    async def get(
        self, path: str, params: Mapping[str, str], timeout: aiohttp.ClientTimeout | None = None
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """GET `path`; an error status raises aiohttp.ClientResponseError."""
        assert self._session is not None, "open() first"
        assert self._connection is not None
        async with self._session.get(
            path,
            params=params,
            headers=self._connection.headers(),
            timeout=timeout or self._session.timeout,
            raise_for_status=True,
        ) as reply:
            yield reply


class _WatchExpiredError(Exception):
    """The API server no longer has the resource version the watch resumed from (410)."""


class ListWatch:
    """Hands every object at `path` to `on_list`, then every change to `on_event`, for good.

    `on_list` gets the whole listing (after a relist too, so it replaces what it had);
    `on_event` gets ADDED, MODIFIED or DELETED with the object. Both are called on the
    event loop and must not block.
    """

    def __init__(
        self,
        api: KubeApi,
        path: str,
        params: Mapping[str, str],
        on_list: Callable[[Sequence[Item]], None],
        on_event: Callable[[str, Item], None],
        kind: str,
        retry_seconds: float = 1.0,
    ) -> None:
        self._api = api
        self._path = path
        self._params = dict(params)
        self._on_list = on_list
        self._on_event = on_event
        self._kind = kind
        self._retry_seconds = retry_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow(), name=f"{self._kind.lower()}-watch")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow(self) -> None:
        """List, then watch from the listed version; list again whenever the watch breaks."""
        while True:
            try:
                version = await self._list()
                while True:
                    version = await self._watch(version)
            except _WatchExpiredError:
                log.info("%s watch expired; listing again", self._kind)
            except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as error:
                log.warning("%s watch failed (%s); retrying", self._kind, error)
                await asyncio.sleep(self._retry_seconds)

    async def _list(self) -> str:
        async with self._api.get(self._path, self._params) as reply:
            listing = orjson.loads(await reply.read())
        self._on_list(listing["items"])
        return str(listing["metadata"]["resourceVersion"])

    async def _watch(self, version: str) -> str:
        """Apply events until the server ends the watch; return the version to resume from."""
        params = self._params | {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": version,
            "timeoutSeconds": str(WATCH_SECONDS),
        }
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=WATCH_SECONDS + 30)
        async with self._api.get(self._path, params, timeout) as reply:
            async for line in reply.content:
                if line.strip():
                    version = self._apply(orjson.loads(line))
        return version

    def _apply(self, event: Item) -> str:
        """Pass one watch event on; return the resource version it carries."""
        kind, item = event["type"], event["object"]
        if kind == "ERROR":
            if item.get("code") == 410:
                raise _WatchExpiredError
            raise ValueError(f"watch error: {item.get('message')}")
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            self._on_event(kind, item)
        return str(item["metadata"]["resourceVersion"])
