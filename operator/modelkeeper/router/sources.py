"""Where the router learns each backend's ready endpoints: the config itself, or EndpointSlices.

Both sit behind `EndpointSource`, so the proxy neither knows nor cares which one runs.
The Kubernetes source lists and watches EndpointSlices in one namespace through the
API server (watch.py's `ListWatch`, which the router's ConfigMap follower shares).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from modelkeeper.kube.watch import KubeApi, ListWatch
from modelkeeper.router.config import Backend, ConfigError, Endpoint, RoutingConfig
from modelkeeper.router.slices import SERVICE_NAME_LABEL, ready_endpoints


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


class EndpointSliceWatcher:
    """Ready endpoints read from the EndpointSlices of one namespace, kept current by a watch."""

    def __init__(self, namespace: str, api: KubeApi, retry_seconds: float = 1.0) -> None:
        self._slices: dict[str, Mapping[str, Any]] = {}
        self._cache: dict[tuple[str, str | int], tuple[Endpoint, ...]] = {}
        self._watch = ListWatch(
            api,
            f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices",
            {"labelSelector": SERVICE_NAME_LABEL},
            self._listed,
            self._changed,
            "EndpointSlice",
            retry_seconds,
        )

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
        self._watch.start()

    async def close(self) -> None:
        await self._watch.close()

    def _listed(self, items: Sequence[Mapping[str, Any]]) -> None:
        self._slices = {item["metadata"]["name"]: item for item in items}
        self._cache.clear()

    def _changed(self, kind: str, item: Mapping[str, Any]) -> None:
        if kind == "DELETED":
            self._slices.pop(item["metadata"]["name"], None)
        else:
            self._slices[item["metadata"]["name"]] = item
        self._cache.clear()
