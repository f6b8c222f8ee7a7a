"""The router's HTTP face: forward, split, mirror, fan out feedback, report health and metrics.

The primary path stays lean: the body is read once and passed on as bytes, never
parsed, because only a mirrored request needs its reply looked at, and that happens
in a task of its own after the client has its answer. Every reply the router makes
itself is JSON, `{"error": "..."}` for errors, never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from http import HTTPStatus

import orjson
from aiohttp import web
from multidict import CIMultiDict
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from modelkeeper.router.compare import MirrorOutcome, judge_mirror
from modelkeeper.router.config import Backend, Endpoint, ProxySettings, RoutingConfig
from modelkeeper.router.feedback import choose_feedback_answer
from modelkeeper.router.metrics import RouterMetrics
from modelkeeper.router.sources import EndpointSource
from modelkeeper.router.split import SmoothWeightedRoundRobin, should_mirror
from modelkeeper.router.upstream import ConnectionPool, Reply, UpstreamError

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-request-id"
# Hop-by-hop headers belong to one connection; the length is recomputed; the router
# answers `Expect: 100-continue` itself; asking the backend for identity encoding keeps
# replies comparable and the router light.
NOT_FORWARDED = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "accept-encoding",
        "expect",
    }
)


class _Routes:
    """One routing config with the round-robin state that goes with it, swapped as a whole."""

    def __init__(self, config: RoutingConfig) -> None:
        self.config = config
        self.primaries = config.primaries
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

    def application(self) -> web.Application:
        """The aiohttp application, with the backend connections tied to its life."""
        app = web.Application(
            client_max_size=self._settings.max_body_bytes, middlewares=[_errors_as_json]
        )
        app.add_routes(
            [
                web.get("/v2/health/live", self._live),
                web.get("/v2/health/ready", self._ready),
                web.get("/metrics", self._metrics_page),
                web.get("/router/status", self._status),
                web.post("/v2/models/{name}/infer", self._infer),
                web.post("/v2/models/{name}/versions/{version}/infer", self._infer),
                web.post(r"/v1/models/{name:[^/:]+}:predict", self._infer),
                web.post("/v2/models/{name}/feedback", self._feedback),
                web.post("/v2/models/{name}/versions/{version}/feedback", self._feedback),
                web.get("/{tail:.*}", self._to_stable),
                web.post("/{tail:.*}", self._to_stable),
            ]
        )
        app.cleanup_ctx.append(self._upstream_pool)
        return app

    async def _upstream_pool(self, app: web.Application) -> AsyncIterator[None]:
        """When the app stops, let the mirrors under way finish, then close the connections."""
        yield
        if self._mirrors:
            await asyncio.wait(self._mirrors, timeout=self._settings.upstream_timeout_seconds)
        await self._pool.close()

    async def _live(self, request: web.Request) -> web.Response:
        return _json(HTTPStatus.OK, {"live": True})

    async def _ready(self, request: web.Request) -> web.Response:
        if self.is_ready():
            return _json(HTTPStatus.OK, {"ready": True})
        stable = self.config.stable.name
        return _error(HTTPStatus.SERVICE_UNAVAILABLE, f"no ready endpoint for stable {stable!r}")

    async def _metrics_page(self, request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(self._metrics.registry),
            headers={"Content-Type": CONTENT_TYPE_LATEST},
        )

    async def _status(self, request: web.Request) -> web.Response:
        """What the router routes by right now: for people debugging, and for tests."""
        config = self.config
        backends = [
            {
                "name": backend.name,
                "role": backend.role,
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
        return _json(HTTPStatus.OK, {**document, "backends": backends})

    async def _infer(self, request: web.Request) -> web.Response:
        """Split by weight; mirror a share to the shadow without waiting for it."""
        body = await request.read()
        headers = _forwarded_headers(request.headers)
        routes = self._routes
        weights = {
            backend.name: backend.weight
            for backend in routes.primaries
            if self._source.ready_endpoints(backend)
        }
        name = routes.split.pick(weights)
        if name is None:
            return _error(HTTPStatus.SERVICE_UNAVAILABLE, "no backend has a ready endpoint")
        backend = routes.by_name[name]
        primary_reply = self._mirror(routes, request.raw_path, body, headers)
        reply: Reply | None = None
        try:
            started = time.perf_counter()
            reply = await self._send(
                routes, backend, request.method, request.raw_path, body, headers
            )
            seconds = time.perf_counter() - started
            self._metrics.answered(routes.config, backend, reply.status, seconds)
            return _respond(reply, headers)
        finally:
            if primary_reply is not None:
                primary_reply.set_result(reply)

    def _mirror(
        self, routes: _Routes, path: str, body: bytes, headers: CIMultiDict[str]
    ) -> asyncio.Future[Reply | None] | None:
        """Start mirroring this request if it is drawn; return where to put the primary's reply."""
        config = routes.config
        shadow = config.shadow
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
        path: str,
        body: bytes,
        headers: CIMultiDict[str],
        primary_reply: asyncio.Future[Reply | None],
    ) -> None:
        """Send the mirrored request, wait for both replies, count how they compare."""
        config = routes.config
        started = time.perf_counter()
        reply = await self._send(routes, shadow, "POST", path, body, headers)
        self._metrics.shadow_answered(config, shadow, time.perf_counter() - started)
        primary = await primary_reply
        outcome, comparison = judge_mirror(
            None if primary is None else (primary.status, primary.body),
            (reply.status, reply.body),
            config.compare_output,
            config.float_tolerance,
        )
        self._metrics.mirrored(config, shadow, outcome, comparison)

    async def _feedback(self, request: web.Request) -> web.Response:
        """Send ground truth to every ready endpoint; pass on the most telling reply."""
        body = await request.read()
        headers = _forwarded_headers(request.headers)
        routes = self._routes
        targets = [
            (backend.role, endpoint)
            for backend in routes.config.backends
            for endpoint in self._source.ready_endpoints(backend)
        ]
        replies = await asyncio.gather(
            *(
                self._send_to(endpoint, request.method, request.raw_path, body, headers)
                for _, endpoint in targets
            )
        )
        chosen = choose_feedback_answer(
            [(reply.status, role) for reply, (role, _) in zip(replies, targets, strict=True)]
        )
        if chosen is None:
            return _error(HTTPStatus.SERVICE_UNAVAILABLE, "no backend has a ready endpoint")
        self._metrics.feedback(routes.config, replies[chosen].status)
        return _respond(replies[chosen], headers)

    async def _to_stable(self, request: web.Request) -> web.Response:
        """Anything else (model metadata, model readiness) is the stable backend's to answer.

        HEAD goes to the backend as GET: aiohttp leaves the body out of the answer.
        """
        body = await request.read()
        headers = _forwarded_headers(request.headers)
        method = "GET" if request.method == "HEAD" else request.method
        routes = self._routes
        reply = await self._send(
            routes, routes.config.stable, method, request.raw_path, body, headers
        )
        return _respond(reply, headers)

    async def _send(
        self,
        routes: _Routes,
        backend: Backend,
        method: str,
        path: str,
        body: bytes,
        headers: CIMultiDict[str],
    ) -> Reply:
        """Send to the next ready endpoint of `backend`, round robin."""
        endpoints = self._source.ready_endpoints(backend)
        endpoint = routes.balance[backend.name].pick(dict.fromkeys(endpoints, 1))
        if endpoint is None:
            message = f"backend {backend.name!r} has no ready endpoint"
            return _error_reply(HTTPStatus.SERVICE_UNAVAILABLE, message)
        return await self._send_to(endpoint, method, path, body, headers)

    async def _send_to(
        self, endpoint: Endpoint, method: str, path: str, body: bytes, headers: CIMultiDict[str]
    ) -> Reply:
        """One request to one endpoint; a transport failure becomes the router's 502 or 504."""
        timeout = self._settings.upstream_timeout_seconds
        try:
            return await self._pool.request(endpoint, method, path, headers.items(), body, timeout)
        except TimeoutError:
            return _error_reply(
                HTTPStatus.GATEWAY_TIMEOUT, f"{endpoint} did not answer in {timeout} s"
            )
        except (OSError, UpstreamError) as error:
            return _error_reply(HTTPStatus.BAD_GATEWAY, f"{endpoint} failed: {error}")


def _forwarded_headers(incoming: Mapping[str, str]) -> CIMultiDict[str]:
    """End-to-end headers, with a request id so that servers can join feedback and logs."""
    headers = _end_to_end(incoming)
    if REQUEST_ID_HEADER not in headers:
        headers[REQUEST_ID_HEADER] = uuid.uuid4().hex
    return headers


def _end_to_end(headers: Mapping[str, str]) -> CIMultiDict[str]:
    return CIMultiDict(
        (name, value) for name, value in headers.items() if name.lower() not in NOT_FORWARDED
    )


def _respond(reply: Reply, forwarded: CIMultiDict[str]) -> web.Response:
    """The reply to the client, always carrying the request id the backends saw."""
    headers = _end_to_end(reply.headers)
    headers.setdefault(REQUEST_ID_HEADER, forwarded[REQUEST_ID_HEADER])
    return web.Response(status=reply.status, body=reply.body, headers=headers)


def _json(status: int, document: object) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(document), content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    return _json(status, {"error": message})


def _error_reply(status: int, message: str) -> Reply:
    headers = CIMultiDict({"Content-Type": "application/json"})
    return Reply(status, orjson.dumps({"error": message}), headers)


@web.middleware
async def _errors_as_json(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """aiohttp's own errors (413 above all) as JSON; anything unexpected as a plain 500."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < HTTPStatus.BAD_REQUEST:
            raise
        return _error(error.status, error.text or error.reason)
    except Exception:
        log.exception("unexpected error routing %s %s", request.method, request.path)
        return _error(HTTPStatus.INTERNAL_SERVER_ERROR, "the router failed; see its log")
