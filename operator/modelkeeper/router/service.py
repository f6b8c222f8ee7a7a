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

from modelkeeper.router.config import ProxySettings
from modelkeeper.router.metrics import RouterMetrics
from modelkeeper.router.proxy import Router
from modelkeeper.router.reload import (
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
    reload_interval_seconds: float = 1.0
    shutdown_timeout_seconds: float = 30.0


def run_router(options: RouterOptions) -> None:
    """Serve until SIGTERM or SIGINT; raise ConfigError at once for a config that cannot be used.

    With a namespace, endpoints come from its EndpointSlices; without, from the config.
    """
    source: EndpointSource = (
        EndpointSliceWatcher(options.namespace, options.kubeconfig)
        if options.namespace
        else StaticEndpoints()
    )
    metrics = RouterMetrics()
    signature = file_signature(options.config_path)
    router = Router(load_config_file(options.config_path), source, metrics, options.settings)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_serve(router, source, metrics, options, signature))


async def _serve(
    router: Router,
    source: EndpointSource,
    metrics: RouterMetrics,
    options: RouterOptions,
    signature: FileSignature | None,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await source.start()
    server = HttpServer(router.handle, options.settings.max_body_bytes)
    addresses = await server.start(options.host, options.port)
    reloading = asyncio.create_task(
        follow_config_file(
            options.config_path,
            signature,
            options.reload_interval_seconds,
            router.apply,
            metrics.reloaded,
        )
    )
    listening = ", ".join(f"{host}:{port}" for host, port in addresses)
    log.info("routing model %s on %s", router.config.model, listening)
    await stop.wait()
    log.info("stopping: finishing the requests in flight")
    reloading.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reloading
    await server.shutdown(options.shutdown_timeout_seconds)
    await router.close()
    await source.close()
