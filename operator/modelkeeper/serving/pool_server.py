"""`modelkeeper serve --pool`: one worker process serving a pool's catalogue.

It listens before any model is loaded (each loads on its first request, `serving.pool`)
but reports ready only once the catalogue has been read, so that no request meets a
server that does not know its models yet. One worker process, scaled by replicas: a
model loaded in several processes of a pod would cost its memory several times, and
the metrics of a set of models that changes at run time do not fit the fixed rows in
shared memory that a single-model server's workers share (`serving.metrics`).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import uvloop

from modelkeeper.kube.configmaps import ConfigMapsFollower
from modelkeeper.kube.watch import KubeApi, NoApiAccessError
from modelkeeper.serving import binary, grpc_server, repository
from modelkeeper.serving.app import Handlers, ServerState, build_app
from modelkeeper.serving.budget import default_budget, parse_cgroup_limit
from modelkeeper.serving.catalogue_source import follow_catalogue, read_catalogue_dir
from modelkeeper.serving.model_cache import ModelCache, default_cache
from modelkeeper.serving.pool import ModelPool
from modelkeeper.serving.pool_metrics import PoolExposition
from modelkeeper.serving.settings import ServerSettings
from modelkeeper.serving.workers import Listeners, listening_sockets, reserve_port, serve

log = logging.getLogger(__name__)

CGROUP_LIMITS = (
    Path("/sys/fs/cgroup/memory.max"),
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
)
"""The container's memory limit: cgroup v2, then v1."""
EXTENSIONS = (*binary.EXTENSIONS, repository.EXTENSION)


def memory_budget(settings: ServerSettings) -> int:
    """The budget set, or the default for this container's memory limit."""
    if settings.memory_budget is not None:
        return settings.memory_budget
    for path in CGROUP_LIMITS:
        try:
            return default_budget(parse_cgroup_limit(path.read_text()))
        except (OSError, ValueError):
            continue
    return default_budget(None)


def run_pool(settings: ServerSettings) -> int:
    """Serve the pool until a stop signal; 1 when the catalogue cannot be read at all."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_serve_pool(settings, memory_budget(settings)))


async def _serve_pool(settings: ServerSettings, budget: int) -> int:
    pool = ModelPool(settings, budget, ModelCache(default_cache()))
    state = ServerState(listed=False)
    api: KubeApi | None = None
    follower: ConfigMapsFollower | None = None
    if settings.catalogue_dir is not None:
        pool.replace_catalogue(read_catalogue_dir(settings.catalogue_dir))
        state.listed = True
    else:
        assert settings.pool is not None
        assert settings.namespace is not None
        api = KubeApi()
        try:
            await api.open()
        except NoApiAccessError as error:
            log.error("not starting: the pool's catalogue is read through the API: %s", error)
            return 1
        follower = follow_catalogue(
            api, settings.namespace, settings.pool, pool, lambda: setattr(state, "listed", True)
        )
        follower.start()
    handlers = Handlers(pool, None, PoolExposition(pool).render, state, (), EXTENSIONS)
    app = build_app(
        handlers,
        None,
        settings.max_body_bytes,
        with_metrics=settings.metrics_port is None,
        extra_routes=repository.repository_routes(pool),
    )
    http = listening_sockets(settings.host, settings.http_port, 1)[0]
    metrics = None
    if settings.metrics_port is not None:
        metrics = listening_sockets(settings.host, settings.metrics_port, 1)[0]
    grpc = reserve_port(settings.host, settings.grpc_port) if settings.grpc_port else None
    grpc_port = None if grpc is None else int(grpc.getsockname()[1])
    host, port = http.getsockname()[:2]
    log.info(
        "serving pool %s on http://%s:%d (%s); memory budget %d bytes",
        settings.pool or settings.catalogue_dir,
        host,
        port,
        "no gRPC" if grpc_port is None else f"V2 gRPC on port {grpc_port}",
        budget,
    )
    try:
        await serve(
            Listeners(http, metrics, None, grpc_port),
            settings,
            state,
            handlers,
            app,
            grpc_server.InferenceService(pool, None, lambda: state.stopping, EXTENSIONS),
        )
    finally:
        if follower is not None:
            await follower.close()
        if api is not None:
            await api.close()
        await pool.close()
        if grpc is not None:
            grpc.close()
    return 0
