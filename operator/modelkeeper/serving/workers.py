"""Processes and signals: N worker processes sharing one port, and graceful shutdown.

The parent loads the model (so a bad model directory fails before anything
listens), opens one SO_REUSEPORT listening socket per worker (the kernel spreads
connections over them), reserves the gRPC port (bound, not listening: each worker's
gRPC server listens on it with SO_REUSEPORT itself, since gRPC takes no socket),
allocates the shared metrics matrix, forks the workers
and waits. On SIGTERM or SIGINT it passes the signal on; each worker stops
accepting connections and calls, lets requests in flight finish (up to
`shutdown_timeout_seconds`), and exits. If a worker dies unexpectedly, the
parent stops the others and exits non-zero, so that Kubernetes restarts the pod.
With one worker, the parent is the worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import FrameType

import uvloop
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

from modelkeeper.serving import grpc_server
from modelkeeper.serving.app import Handlers, ServerState, build_app, build_metrics_app
from modelkeeper.serving.dataplane import DataPlane
from modelkeeper.serving.frames import FloatMatrix
from modelkeeper.serving.metrics import (
    Layout,
    ServerCollector,
    WorkerMetrics,
    base_labels,
    shared_rows,
)
from modelkeeper.serving.models import OneModel
from modelkeeper.serving.payload_log import PayloadLog
from modelkeeper.serving.runtime import LoadedModel
from modelkeeper.serving.settings import ServerSettings

log = logging.getLogger(__name__)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` sockets listening on one address with SO_REUSEPORT; port 0 picks a free port."""
    sockets: list[socket.socket] = []
    for _ in range(count):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind((host, port))
        listener.listen(1024)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        sockets.append(listener)
    return sockets


def reserve_port(host: str, port: int) -> socket.socket:
    """A socket bound to `host:port` with SO_REUSEPORT but not listening: it takes no
    connections, keeps the port (a free one when 0) for the workers' gRPC servers."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    reservation = socket.socket(family, socket.SOCK_STREAM)
    reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    reservation.bind((host, port))
    return reservation


@dataclass(frozen=True)
class Plan:
    """Everything a worker needs, prepared by the parent before forking."""

    settings: ServerSettings
    model: LoadedModel
    layout: Layout
    rows: FloatMatrix
    http: list[socket.socket]
    metrics: list[socket.socket]
    grpc: socket.socket | None
    sibling_sockets: list[str]

    @property
    def grpc_port(self) -> int | None:
        return None if self.grpc is None else int(self.grpc.getsockname()[1])


def prepare(settings: ServerSettings, model: LoadedModel) -> Plan:
    layout = Layout.of(model.schema, model.profile, model.runtime.classes)
    http = listening_sockets(settings.host, settings.http_port, settings.workers)
    metrics = []
    if settings.metrics_port is not None:
        metrics = listening_sockets(settings.host, settings.metrics_port, settings.workers)
    grpc = reserve_port(settings.host, settings.grpc_port) if settings.grpc_port else None
    siblings = []
    if settings.workers > 1:
        directory = tempfile.mkdtemp(prefix="modelkeeper-serve-")
        siblings = [f"{directory}/worker-{index}.sock" for index in range(settings.workers)]
    return Plan(
        settings=settings,
        model=model,
        layout=layout,
        rows=shared_rows(settings.workers, layout.size),
        http=http,
        metrics=metrics,
        grpc=grpc,
        sibling_sockets=siblings,
    )


def announce(plan: Plan) -> None:
    settings = plan.settings
    host, port = plan.http[0].getsockname()[:2]
    where = f"metrics on port {plan.metrics[0].getsockname()[1]}" if plan.metrics else "/metrics"
    grpc = "no gRPC" if plan.grpc_port is None else f"V2 gRPC on port {plan.grpc_port}"
    log.info(
        "serving model %s version %s (%s) on http://%s:%d with %d worker(s); %s; %s",
        settings.model_name,
        settings.model_version,
        settings.model_format,
        host,
        port,
        settings.workers,
        grpc,
        where,
    )


async def _serve_worker(plan: Plan, index: int) -> None:
    settings, model = plan.settings, plan.model
    metrics = WorkerMetrics(plan.layout, plan.rows[index])
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServerCollector(plan.layout, plan.rows, base_labels(settings)))
    payload_log = PayloadLog(
        settings.payload_log,
        settings.payload_log_sample,
        model.schema,
        settings.model_name,
        settings.model_version,
    )
    dataplane = DataPlane(settings, model, metrics, payload_log)
    state = ServerState()
    siblings = [path for number, path in enumerate(plan.sibling_sockets) if number != index]
    models = OneModel(dataplane)
    handlers = Handlers(models, metrics, partial(generate_latest, registry), state, siblings)
    app = build_app(handlers, metrics, settings.max_body_bytes, with_metrics=not plan.metrics)
    await serve(
        Listeners(
            plan.http[index],
            plan.metrics[index] if plan.metrics else None,
            plan.sibling_sockets[index] if plan.sibling_sockets else None,
            plan.grpc_port,
        ),
        settings,
        state,
        handlers,
        app,
        grpc_server.InferenceService(models, metrics, lambda: state.stopping),
    )
    await dataplane.close()


@dataclass(frozen=True)
class Listeners:
    """Where one worker listens: its HTTP socket, and perhaps a metrics socket, a Unix
    socket for its sibling workers and the (shared) gRPC port."""

    http: socket.socket
    metrics: socket.socket | None = None
    sibling: str | None = None
    grpc_port: int | None = None


async def serve(
    listeners: Listeners,
    settings: ServerSettings,
    state: ServerState,
    handlers: Handlers,
    app: web.Application,
    grpc_service: grpc_server.InferenceService,
) -> None:
    """Serve until a stop signal, then let requests and calls in flight finish."""
    runners = [_runner(app, settings)]
    if listeners.metrics is not None:
        runners.append(_runner(build_metrics_app(handlers), settings))
    for runner in runners:
        await runner.setup()
    sites: list[web.BaseSite] = [web.SockSite(runners[0], listeners.http)]
    if listeners.sibling is not None:
        sites.append(web.UnixSite(runners[0], listeners.sibling))
    if listeners.metrics is not None:
        sites.append(web.SockSite(runners[1], listeners.metrics))
    for site in sites:
        await site.start()
    grpc = None
    if listeners.grpc_port is not None:
        grpc = await grpc_server.start(grpc_service, settings, listeners.grpc_port)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for stop_signal in STOP_SIGNALS:
        loop.add_signal_handler(stop_signal, stop.set)
    await stop.wait()
    state.stopping = True
    # Stops accepting, lets handlers and calls in flight finish, then closes connections.
    drains = [runner.cleanup() for runner in runners]
    if grpc is not None:
        drains.append(grpc.stop(settings.shutdown_timeout_seconds))
    await asyncio.gather(*drains)
    await handlers.close()


def _runner(app: web.Application, settings: ServerSettings) -> web.AppRunner:
    return web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        shutdown_timeout=settings.shutdown_timeout_seconds,
    )


def run_worker(plan: Plan, index: int) -> int:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_serve_worker(plan, index))
    return 0


def _close_all(plan: Plan, keep: int | None = None) -> None:
    for sockets in (plan.http, plan.metrics):
        for number, listener in enumerate(sockets):
            if number != keep:
                listener.close()
    if keep is None and plan.grpc is not None:
        plan.grpc.close()


def run(plan: Plan) -> int:
    """Run the workers until a stop signal; the exit code is 0 after a clean shutdown."""
    announce(plan)
    if plan.settings.workers == 1:
        return run_worker(plan, 0)
    children: dict[int, int] = {}
    stopping = False

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            os.kill(pid, signum)

    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, forward)
    for index in range(plan.settings.workers):
        pid = os.fork()
        if pid == 0:
            for stop_signal in STOP_SIGNALS:
                signal.signal(stop_signal, signal.SIG_DFL)
            _close_all(plan, keep=index)
            code = 1
            try:
                code = run_worker(plan, index)
            except BaseException:
                log.exception("worker %d failed", index)
            finally:
                os._exit(code)
        children[pid] = index
    _close_all(plan)
    if stopping:  # a signal that came while forking missed the later children
        forward(signal.SIGTERM, None)
    exit_code = 0
    try:
        while children:
            pid, status = os.wait()
            index = children.pop(pid)
            if not stopping:
                log.error("worker %d exited unexpectedly (status %d); stopping", index, status)
                exit_code = 1
                forward(signal.SIGTERM, None)
            elif os.waitstatus_to_exitcode(status) != 0:
                exit_code = 1
    finally:
        shutil.rmtree(Path(plan.sibling_sockets[0]).parent, ignore_errors=True)
    return exit_code
