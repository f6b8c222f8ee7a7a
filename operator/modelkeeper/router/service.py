"""The router's process: assemble router, endpoint source, metrics and reload; run till SIGTERM.

On SIGTERM (a pod being deleted) the router stops taking connections, finishes the
requests in flight and the mirrors under way, then exits, so a rollout loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass
from pathlib import Path

import uvloop

from modelkeeper.kube.watch import KubeApi, NoApiAccessError
from modelkeeper.router.config import ConfigError, ProxySettings
from modelkeeper.router.metrics import RouterMetrics
from modelkeeper.router.proxy import Router
from modelkeeper.router.reload import (
    ConfigMapFollower,
    ConfigUpdates,
    FileSignature,
    file_signature,
    follow_config_file,
    load_config_file,
)
from modelkeeper.router.server import HttpServer
from modelkeeper.router.sources import EndpointSliceWatcher, EndpointSource, StaticEndpoints

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RouterOptions:
    """How to run the router process; the command line fills it in."""

    config_path: Path
    host: str
    port: int
    settings: ProxySettings
    namespace: str | None = None
    kubeconfig: str | None = None
    config_map: str | None = None
    """The ConfigMap the config file is mounted from: followed through the API."""
    reload_interval_seconds: float = 1.0
    shutdown_timeout_seconds: float = 30.0


def run_router(options: RouterOptions) -> None:
    """Serve until SIGTERM or SIGINT; raise ConfigError at once for a config that cannot be used.

    With a namespace, endpoints come from its EndpointSlices; without, from the config.
    The config comes from the file at start, then from the ConfigMap if one is named
    (through the API), else from the file again whenever it changes.
    """
    if options.config_map and not options.namespace:
        raise ConfigError("--config-map needs --namespace: the ConfigMap is read through the API")
    api: KubeApi | None = None
    source: EndpointSource = StaticEndpoints()
    if options.namespace:
        api = KubeApi(options.kubeconfig)
        source = EndpointSliceWatcher(options.namespace, api)
    metrics = RouterMetrics()
    signature = file_signature(options.config_path)
    text, config = load_config_file(options.config_path)
    router = Router(config, source, metrics, options.settings)
    updates = ConfigUpdates(text, router.apply, metrics.reloaded)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_serve(router, source, api, updates, options, signature))


async def _serve(
    router: Router,
    source: EndpointSource,
    api: KubeApi | None,
    updates: ConfigUpdates,
    options: RouterOptions,
    signature: FileSignature | None,
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
    follower: ConfigMapFollower | None = None
    reloading: asyncio.Task[None] | None = None
    if api is not None and options.namespace and options.config_map:
        # The file was the start; from now on the API is the one source, so the kubelet's
        # late copy of the file never brings an older config back.
        follower = ConfigMapFollower(
            api, options.namespace, options.config_map, options.config_path.name, updates
        )
        follower.start()
    else:
        reloading = asyncio.create_task(
            follow_config_file(
                options.config_path, signature, options.reload_interval_seconds, updates
            )
        )
    listening = ", ".join(f"{host}:{port}" for host, port in addresses)
    log.info("routing model %s on %s", router.config.model, listening)
    await stop.wait()
    log.info("stopping: finishing the requests in flight")
    if follower is not None:
        await follower.close()
    if reloading is not None:
        reloading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reloading
    await server.shutdown(options.shutdown_timeout_seconds)
    await router.close()
    await source.close()
    if api is not None:
        await api.close()
