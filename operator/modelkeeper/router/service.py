"""The router's process: assemble router, endpoint source, metrics and reload; run till SIGTERM.

One family's router reads its config from a file (then its ConfigMap, or the file again);
a pool's router reads its families from the pool's catalogue ConfigMaps. Both serve the
same way.

On SIGTERM (a pod being deleted) the router stops taking connections, finishes the
requests in flight and the mirrors under way, then exits, so a rollout loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import uvloop

from modelkeeper.api.pool import PooledFamily, catalogue_selector, pool_service, refusal
from modelkeeper.kube.configmaps import ConfigMapEvents, ConfigMapsFollower
from modelkeeper.kube.watch import KubeApi, NoApiAccessError
from modelkeeper.router.config import ConfigError, ProxySettings
from modelkeeper.router.metrics import RouterMetrics
from modelkeeper.router.proxy import Router
from modelkeeper.router.reload import (
    CatalogueRoutes,
    ConfigFileFollower,
    ConfigMapFollower,
    ConfigUpdates,
    file_signature,
    load_config_file,
)
from modelkeeper.router.server import HttpServer
from modelkeeper.router.sources import EndpointSliceWatcher, EndpointSource, StaticEndpoints

log = logging.getLogger(__name__)


class Follower(Protocol):
    """Brings config changes to the router while it runs."""

    def start(self) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class RouterOptions:
    """How to run the router process; the command line fills it in."""

    host: str
    port: int
    settings: ProxySettings
    config_path: Path | None = None
    """One family's routing config file; None for a pool's router."""
    namespace: str | None = None
    kubeconfig: str | None = None
    config_map: str | None = None
    """The ConfigMap the config file is mounted from: followed through the API."""
    pool: str | None = None
    """The pool whose catalogue ConfigMaps, in `namespace`, say which families to route."""
    pool_service: str | None = None
    """The Service of the pool's scoring servers (default: the pool's `pool_service`)."""
    reload_interval_seconds: float = 1.0
    shutdown_timeout_seconds: float = 30.0


def run_router(options: RouterOptions) -> None:
    """Serve until SIGTERM or SIGINT; raise ConfigError at once for a config that cannot be used.

    One family's router: with a namespace, endpoints come from its EndpointSlices; without,
    from the config. The config comes from the file at start, then from the ConfigMap if
    one is named (through the API), else from the file again whenever it changes.
    A pool's router: the families come from the pool's catalogue ConfigMaps and the
    endpoints from the pool's Service's EndpointSlices, both in the namespace.
    """
    runner = _pool_router(options) if options.pool is not None else _family_router(options)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as loop:
        loop.run(runner)


def _family_router(options: RouterOptions) -> Coroutine[None, None, None]:
    if options.config_path is None:
        raise ConfigError("give --config (one family's router) or --pool (a pool's router)")
    if options.config_map and not options.namespace:
        raise ConfigError("--config-map needs --namespace: the ConfigMap is read through the API")
    if options.pool_service is not None:
        raise ConfigError("--pool-service goes with --pool: one family's config names services")
    api: KubeApi | None = None
    source: EndpointSource = StaticEndpoints()
    if options.namespace:
        api = KubeApi(options.kubeconfig)
        source = EndpointSliceWatcher(options.namespace, api)
    metrics = RouterMetrics()
    signature = file_signature(options.config_path)
    text, config = load_config_file(options.config_path)
    router = Router(source, metrics, options.settings, config)
    updates = ConfigUpdates(text, router.apply, metrics.reloaded)
    follower: Follower
    if api is not None and options.namespace and options.config_map:
        # The file was the start; from now on the API is the one source, so the kubelet's
        # late copy of the file never brings an older config back.
        follower = ConfigMapFollower(
            api, options.namespace, options.config_map, options.config_path.name, updates
        )
    else:
        follower = ConfigFileFollower(
            options.config_path, signature, options.reload_interval_seconds, updates
        )
    return _serve(router, source, api, follower, options, f"model {config.model}")


def _pool_router(options: RouterOptions) -> Coroutine[None, None, None]:
    pool = options.pool
    assert pool is not None
    if options.config_path is not None or options.config_map is not None:
        raise ConfigError("--pool takes its families from the pool's catalogue, not --config")
    if not options.namespace:
        raise ConfigError("--pool needs --namespace: the catalogue is read through the API")
    api = KubeApi(options.kubeconfig)
    source = EndpointSliceWatcher(options.namespace, api)
    metrics = RouterMetrics()
    router = Router(source, metrics, options.settings)
    service = options.pool_service or pool_service(pool)
    routes = CatalogueRoutes(router, options.namespace, service, metrics.reloaded)
    events = ConfigMapEvents(options.namespace, routes, refusal, PooledFamily.from_config_map)
    follower = ConfigMapsFollower(api, options.namespace, catalogue_selector(pool), events)
    return _serve(router, source, api, follower, options, f"pool {pool}")


async def _serve(
    router: Router,
    source: EndpointSource,
    api: KubeApi | None,
    follower: Follower,
    options: RouterOptions,
    what: str,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if api is not None:
        try:
            await api.open()
        except NoApiAccessError as error:
            raise ConfigError(f"cannot read EndpointSlices: {error}") from error
    await source.start()
    server = HttpServer(router.handle, options.settings.max_body_bytes)
    addresses = await server.start(options.host, options.port)
    follower.start()
    listening = ", ".join(f"{host}:{port}" for host, port in addresses)
    log.info("routing %s on %s", what, listening)
    await stop.wait()
    log.info("stopping: finishing the requests in flight")
    await follower.close()
    await server.shutdown(options.shutdown_timeout_seconds)
    await router.close()
    await source.close()
    if api is not None:
        await api.close()
