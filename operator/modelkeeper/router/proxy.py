"""The router's answers: forward, split, mirror, fan out feedback, report health and metrics.

The primary path stays lean: the body is read once and passed on as bytes, never
parsed, because only a mirrored request needs its reply looked at, and that happens
in a task of its own after the client has its answer. Headers pass through as the
bytes they came in as, less the hop-by-hop ones. Every reply the router makes itself
is JSON, `{"error": "..."}` for errors, never a traceback (server.py answers for the
requests it refuses and for a handler that fails).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable
from http import HTTPStatus

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from modelkeeper.router.compare import MirrorOutcome, judge_mirror
from modelkeeper.router.config import (
    Backend,
    Endpoint,
    ProxySettings,
    RoutingConfig,
    role_name,
)
from modelkeeper.router.feedback import choose_feedback_answer
from modelkeeper.router.messages import Headers, Reply, Request, error_reply, json_reply
from modelkeeper.router.metrics import RouterMetrics
from modelkeeper.router.routes import Route, route_of
from modelkeeper.router.sources import EndpointSource
from modelkeeper.router.split import SmoothWeightedRoundRobin, should_mirror
from modelkeeper.router.upstream import ConnectionPool, UpstreamError

REQUEST_ID_HEADER = b"x-request-id"
# Hop-by-hop headers belong to one connection; the length is recomputed; the router
# answers `Expect: 100-continue` itself; asking the backend for identity encoding keeps
# replies comparable and the router light.
NOT_FORWARDED = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
        b"accept-encoding",
        b"expect",
    }
)
METRICS_HEADERS: Headers = ((b"Content-Type", CONTENT_TYPE_LATEST.encode()),)


class _Routes:
    """One routing config with the round-robin state that goes with it, swapped as a whole."""

    def __init__(self, config: RoutingConfig) -> None:
        self.config = config
        self.primaries = config.primaries
        self.shadow = config.shadow
        self.split: SmoothWeightedRoundRobin[str] = SmoothWeightedRoundRobin()
        self.balance: dict[str, SmoothWeightedRoundRobin[Endpoint]] = {
            backend.name: SmoothWeightedRoundRobin() for backend in config.backends
        }
        self.by_name = {backend.name: backend for backend in config.backends}


class Router:
    """Routes one model's traffic by the current routing config; `apply` swaps the config."""

    def __init__(
        self,
        config: RoutingConfig,
        source: EndpointSource,
        metrics: RouterMetrics,
        settings: ProxySettings,
        draw: Callable[[], float] = random.random,
    ) -> None:
        source.check(config)
        self._routes = _Routes(config)
        self._source = source
        self._metrics = metrics
        self._settings = settings
        self._draw = draw
        self._mirrors: set[asyncio.Task[None]] = set()
        self._pool = ConnectionPool()
        metrics.watch(lambda: (self._routes.config, self._source))

    @property
    def config(self) -> RoutingConfig:
        return self._routes.config

    def apply(self, config: RoutingConfig) -> None:
        """Route by `config` from the next request on; raise ConfigError if it cannot be."""
        self._source.check(config)
        self._routes = _Routes(config)

    def is_ready(self) -> bool:
        """Ready when the stable backend has an endpoint to send requests to."""
        return bool(self._source.ready_endpoints(self.config.stable))

    async def handle(self, request: Request) -> Reply:
        """The reply to one client request, by the route its method and path take."""
        route = route_of(request.method, request.path)
        if route is Route.INFER:
            return await self._infer(request)
        if route is Route.FEEDBACK:
            return await self._feedback(request)
        if route is Route.TO_STABLE:
            return await self._to_stable(request)
        if route is Route.LIVE:
            return json_reply(HTTPStatus.OK, {"live": True})
        if route is Route.READY:
            return self._ready()
        if route is Route.METRICS:
            return Reply(HTTPStatus.OK, generate_latest(self._metrics.registry), METRICS_HEADERS)
        if route is Route.STATUS:
            return self._status()
        return error_reply(HTTPStatus.METHOD_NOT_ALLOWED, "405: Method Not Allowed")

    async def close(self) -> None:
        """Let the mirrors under way finish, then close the connections to the backends."""
        if self._mirrors:
            await asyncio.wait(self._mirrors, timeout=self._settings.upstream_timeout_seconds)
        await self._pool.close()

    def _ready(self) -> Reply:
        if self.is_ready():
            return json_reply(HTTPStatus.OK, {"ready": True})
        stable = self.config.stable.name
        return error_reply(
            HTTPStatus.SERVICE_UNAVAILABLE, f"no ready endpoint for stable {stable!r}"
        )

    def _status(self) -> Reply:
        """What the router routes by right now: for people debugging, and for tests."""
        config = self.config
        backends = [
            {
                "name": backend.name,
                "role": role_name(backend.role),
                "weight": backend.weight,
                "ready_endpoints": [str(e) for e in self._source.ready_endpoints(backend)],
            }
            for backend in config.backends
        ]
        document = {
            "deployment": config.deployment,
            "model": config.model,
            "mirror_percent": config.mirror_percent,
        }
        return json_reply(HTTPStatus.OK, {**document, "backends": backends})

    async def _infer(self, request: Request) -> Reply:
        """Split by weight; mirror a share to the shadow without waiting for it."""
        headers, request_id = _forwarded_headers(request.headers)
        routes = self._routes
        weights = {
            backend.name: backend.weight
            for backend in routes.primaries
            if self._source.ready_endpoints(backend)
        }
        name = routes.split.pick(weights)
        if name is None:
            return error_reply(HTTPStatus.SERVICE_UNAVAILABLE, "no backend has a ready endpoint")
        backend = routes.by_name[name]
        primary_reply = self._mirror(routes, request.path, request.body, headers)
        reply: Reply | None = None
        try:
            started = time.perf_counter()
            reply = await self._send(
                routes, backend, request.method, request.path, request.body, headers
            )
            seconds = time.perf_counter() - started
            self._metrics.answered(routes.config, backend, reply.status, seconds)
            return _respond(reply, request_id)
        finally:
            if primary_reply is not None:
                primary_reply.set_result(reply)

    def _mirror(
        self, routes: _Routes, path: bytes, body: bytes, headers: bytes
    ) -> asyncio.Future[Reply | None] | None:
        """Start mirroring this request if it is drawn; return where to put the primary's reply."""
        config = routes.config
        shadow = routes.shadow
        if shadow is None or not should_mirror(config.mirror_percent, self._draw):
            return None
        if len(self._mirrors) >= self._settings.shadow_max_in_flight:
            self._metrics.mirrored(config, shadow, MirrorOutcome.DROPPED)
            return None
        primary_reply: asyncio.Future[Reply | None] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._shadow(routes, shadow, path, body, headers, primary_reply))
        self._mirrors.add(task)
        task.add_done_callback(self._mirrors.discard)
        return primary_reply

    async def _shadow(
        self,
        routes: _Routes,
        shadow: Backend,
        path: bytes,
        body: bytes,
        headers: bytes,
        primary_reply: asyncio.Future[Reply | None],
    ) -> None:
        """Send the mirrored request, wait for both replies, count how they compare."""
        config = routes.config
        started = time.perf_counter()
        reply = await self._send(routes, shadow, b"POST", path, body, headers)
        self._metrics.shadow_answered(config, shadow, time.perf_counter() - started)
        primary = await primary_reply
        outcome, comparison = judge_mirror(
            primary,
            reply,
            config.compare_output,
            config.float_tolerance,
        )
        self._metrics.mirrored(config, shadow, outcome, comparison)

    async def _feedback(self, request: Request) -> Reply:
        """Send ground truth to every ready endpoint; pass on the most telling reply."""
        headers, request_id = _forwarded_headers(request.headers)
        routes = self._routes
        targets = [
            (backend.role, endpoint)
            for backend in routes.config.backends
            for endpoint in self._source.ready_endpoints(backend)
        ]
        replies = await asyncio.gather(
            *(
                self._send_to(endpoint, request.method, request.path, request.body, headers)
                for _, endpoint in targets
            )
        )
        chosen = choose_feedback_answer(
            [(reply.status, role) for reply, (role, _) in zip(replies, targets, strict=True)]
        )
        if chosen is None:
            return error_reply(HTTPStatus.SERVICE_UNAVAILABLE, "no backend has a ready endpoint")
        self._metrics.feedback(routes.config, replies[chosen].status)
        return _respond(replies[chosen], request_id)

    async def _to_stable(self, request: Request) -> Reply:
        """Anything else (model metadata, model readiness) is the stable backend's to answer.

        HEAD goes to the backend as GET: the server leaves the body out of the answer.
        """
        headers, request_id = _forwarded_headers(request.headers)
        method = b"GET" if request.method == b"HEAD" else request.method
        routes = self._routes
        reply = await self._send(
            routes, routes.config.stable, method, request.path, request.body, headers
        )
        return _respond(reply, request_id)

    async def _send(
        self,
        routes: _Routes,
        backend: Backend,
        method: bytes,
        path: bytes,
        body: bytes,
        headers: bytes,
    ) -> Reply:
        """Send to the next ready endpoint of `backend`, round robin."""
        endpoints = self._source.ready_endpoints(backend)
        if len(endpoints) == 1:
            endpoint: Endpoint | None = endpoints[0]
        else:
            endpoint = routes.balance[backend.name].pick(dict.fromkeys(endpoints, 1))
        if endpoint is None:
            message = f"backend {backend.name!r} has no ready endpoint"
            return error_reply(HTTPStatus.SERVICE_UNAVAILABLE, message)
        return await self._send_to(endpoint, method, path, body, headers)

    async def _send_to(
        self, endpoint: Endpoint, method: bytes, path: bytes, body: bytes, headers: bytes
    ) -> Reply:
        """One request to one endpoint; a transport failure becomes the router's 502 or 504."""
        timeout = self._settings.upstream_timeout_seconds
        try:
            return await self._pool.request(endpoint, method, path, headers, body, timeout)
        except TimeoutError:
            return error_reply(
                HTTPStatus.GATEWAY_TIMEOUT, f"{endpoint} did not answer in {timeout} s"
            )
        except (OSError, UpstreamError) as error:
            return error_reply(HTTPStatus.BAD_GATEWAY, f"{endpoint} failed: {error}")


def _forwarded_headers(incoming: Headers) -> tuple[bytes, bytes]:
    """The end-to-end headers as header lines, and the request id among them: the
    client's, or a fresh one, so that servers can join feedback and logs."""
    lines = []
    request_id = None
    for name, value in incoming:
        lower = name.lower()
        if lower in NOT_FORWARDED:
            continue
        if lower == REQUEST_ID_HEADER and request_id is None:
            request_id = value
        lines.append(b"%s: %s\r\n" % (name, value))
    if request_id is None:
        request_id = os.urandom(16).hex().encode()
        lines.append(b"x-request-id: %s\r\n" % request_id)
    return b"".join(lines), request_id


def _respond(reply: Reply, request_id: bytes) -> Reply:
    """The reply to the client: the backend's end-to-end headers, always with the request
    id the backends saw."""
    headers = []
    has_id = False
    for name, value in reply.headers:
        lower = name.lower()
        if lower not in NOT_FORWARDED:
            headers.append((name, value))
            has_id = has_id or lower == REQUEST_ID_HEADER
    if not has_id:
        headers.append((REQUEST_ID_HEADER, request_id))
    return Reply(reply.status, reply.body, headers)
