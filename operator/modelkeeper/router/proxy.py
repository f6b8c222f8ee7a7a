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
from datetime import datetime
from http import HTTPStatus

from prometheus_client import CONTENT_TYPE_LATEST

from modelkeeper.api.pool import Claim
from modelkeeper.router.catalogue import Families
from modelkeeper.router.compare import MirrorOutcome, judge_mirror
from modelkeeper.router.config import (
    Backend,
    ConfigError,
    Endpoint,
    ProxySettings,
    RoutingConfig,
    role_name,
)
from modelkeeper.router.feedback import choose_feedback_answer
from modelkeeper.router.messages import Headers, Reply, Request, error_reply, json_reply
from modelkeeper.router.metrics import RouterMetrics
from modelkeeper.router.routes import Route, model_target, route_of, versioned_path
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
    """One family's routing config with the round-robin state that goes with it, swapped
    as a whole."""

    def __init__(self, config: RoutingConfig) -> None:
        self.config = config
        self.primaries = config.primaries
        self.shadow = config.shadow
        self.split: SmoothWeightedRoundRobin[str] = SmoothWeightedRoundRobin()
        self.balance: dict[str, SmoothWeightedRoundRobin[Endpoint]] = {
            backend.name: SmoothWeightedRoundRobin() for backend in config.backends
        }
        self.by_name = {backend.name: backend for backend in config.backends}

    def path(self, backend: Backend, target: bytes) -> bytes:
        """The target to forward to `backend`: the client's, or one naming its version when
        the backends are a pool's versions (a target naming no model goes as it came)."""
        if not self.config.versioned_paths:
            return target
        found = model_target(target)
        path = None if found is None else versioned_path(found, backend.name)
        return target if path is None else path

    def splits(self, target: bytes) -> bool:
        """Whether an inference request to `target` can be split: not a V1 one when the
        backends are a pool's versions, as V1 cannot name the version (the pool's servers
        give a V1 request the stable)."""
        if not self.config.versioned_paths:
            return True
        found = model_target(target)
        return found is None or found.rest is not None


class Router:
    """Routes inference traffic by routing configs, one per model family.

    Given a config, it routes that one family, whatever model a request's path names, and
    `apply` swaps the config. Without, it is a pool's router: `put` and `remove` set and
    drop one family at a time, and a request goes to the family its path names.
    """

    def __init__(
        self,
        source: EndpointSource,
        metrics: RouterMetrics,
        settings: ProxySettings,
        config: RoutingConfig | None = None,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self._families: Families[_Routes] = Families()
        self._pooled = config is None
        self._listed = not self._pooled
        self._source = source
        self._metrics = metrics
        self._settings = settings
        self._draw = draw
        self._mirrors: set[asyncio.Task[None]] = set()
        self._pool = ConnectionPool()
        if config is not None:
            self.apply(config)
        metrics.watch(lambda: [routes.config for routes in self._families.routes()], source)

    def apply(self, config: RoutingConfig) -> None:
        """Route the one family by `config` from the next request on; raise ConfigError if
        it cannot be."""
        self.put("", config)

    def put(self, owner: str, config: RoutingConfig, created: datetime | None = None) -> None:
        """Route `config`'s family by it, for `owner`, from the next request on (requests
        in flight finish by the config they started with); ConfigError if it cannot be.

        If another owner holds the model name (`api.pool.name_holders`, by `created`), the
        family is kept, unrouted, and ConfigError says so: it is routed once that one goes.
        """
        self._source.check(config)
        self._forget(self._families.put(owner, Claim(config.model, created), _Routes(config)))
        holder = self._families.holder(config.model)
        if holder != owner:
            raise ConfigError(
                f"model {config.model!r} is routed for {holder}; this family waits until it is not"
            )

    def remove(self, owner: str) -> None:
        """Stop routing the family `owner` put (another owner's may take its name)."""
        self._forget(self._families.remove(owner))

    def _forget(self, gone: list[_Routes]) -> None:
        """Forget the metrics of families routed no more (not of one merely re-split)."""
        routed = {_family_labels(routes.config) for routes in self._families.routes()}
        for routes in gone:
            if _family_labels(routes.config) not in routed:
                self._metrics.forget(routes.config)

    @property
    def families(self) -> int:
        """How many families the router routes."""
        return len(self._families)

    def listed(self) -> None:
        """Every family there is has been put: a pool's router may be ready."""
        self._listed = True

    async def handle(self, request: Request) -> Reply:
        """The reply to one client request, by the route its method and path take."""
        route = route_of(request.method, request.path)
        if route is Route.LIVE:
            return json_reply(HTTPStatus.OK, {"live": True})
        if route is Route.READY:
            return self._ready()
        if route is Route.METRICS:
            return Reply(HTTPStatus.OK, await self._metrics.exposition(), METRICS_HEADERS)
        if route is Route.STATUS:
            return self._status()
        if route is Route.METHOD_NOT_ALLOWED:
            return error_reply(HTTPStatus.METHOD_NOT_ALLOWED, "405: Method Not Allowed")
        routes = self._family(request.path)
        if isinstance(routes, Reply):
            return routes
        if route is Route.INFER and routes.splits(request.path):
            return await self._infer(routes, request)
        if route is Route.FEEDBACK:
            return await self._feedback(routes, request)
        return await self._to_stable(routes, request)

    async def close(self) -> None:
        """Let the mirrors under way finish, then close the connections to the backends."""
        if self._mirrors:
            await asyncio.wait(self._mirrors, timeout=self._settings.upstream_timeout_seconds)
        await self._pool.close()

    def _family(self, target: bytes) -> _Routes | Reply:
        """The family a request is for: the one routed, or the one its path names (a 404
        naming the model when no family is routed by that name)."""
        if not self._pooled:
            return self._families.routes()[0]
        found = model_target(target)
        if found is None:
            message = "a pool's router routes /v2/models/{model}/...: name a model"
            return error_reply(HTTPStatus.NOT_FOUND, message)
        routes = self._families.get(found.model)
        if routes is None:
            return error_reply(HTTPStatus.NOT_FOUND, f"model {found.model!r} not found")
        return routes

    def _unready(self) -> str | None:
        """Why the router is not ready: the stable of some family has no ready endpoint."""
        if not self._listed:
            return "the pool's catalogue is not read yet"
        for routes in self._families.routes():
            stable = routes.config.stable
            if not self._source.ready_endpoints(stable):
                family = f" of model {routes.config.model!r}" if self._pooled else ""
                return f"no ready endpoint for stable {stable.name!r}{family}"
        return None

    def _ready(self) -> Reply:
        why = self._unready()
        if why is None:
            return json_reply(HTTPStatus.OK, {"ready": True})
        return error_reply(HTTPStatus.SERVICE_UNAVAILABLE, why)

    def _status(self) -> Reply:
        """What the router routes by right now: for people debugging, and for tests."""
        documents = [self._family_status(routes.config) for routes in self._families.routes()]
        if self._pooled:
            return json_reply(HTTPStatus.OK, {"families": documents})
        return json_reply(HTTPStatus.OK, documents[0])

    def _family_status(self, config: RoutingConfig) -> dict[str, object]:
        backends = [
            {
                "name": backend.name,
                "role": role_name(backend.role),
                "weight": backend.weight,
                "ready_endpoints": [str(e) for e in self._source.ready_endpoints(backend)],
            }
            for backend in config.backends
        ]
        return {
            "deployment": config.deployment,
            "model": config.model,
            "mirror_percent": config.mirror_percent,
            "backends": backends,
        }

    async def _infer(self, routes: _Routes, request: Request) -> Reply:
        """Split by weight; mirror a share to the shadow without waiting for it."""
        headers, request_id = _forwarded_headers(request.headers)
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

    async def _feedback(self, routes: _Routes, request: Request) -> Reply:
        """Send ground truth to every ready endpoint of every version; pass on the most
        telling reply."""
        headers, request_id = _forwarded_headers(request.headers)
        targets = [
            (backend, endpoint)
            for backend in routes.config.backends
            for endpoint in self._source.ready_endpoints(backend)
        ]
        replies = await asyncio.gather(
            *(
                self._send_to(
                    endpoint,
                    request.method,
                    routes.path(backend, request.path),
                    request.body,
                    headers,
                )
                for backend, endpoint in targets
            )
        )
        chosen = choose_feedback_answer(
            [
                (reply.status, backend.role)
                for reply, (backend, _) in zip(replies, targets, strict=True)
            ]
        )
        if chosen is None:
            return error_reply(HTTPStatus.SERVICE_UNAVAILABLE, "no backend has a ready endpoint")
        self._metrics.feedback(routes.config, replies[chosen].status)
        return _respond(replies[chosen], request_id)

    async def _to_stable(self, routes: _Routes, request: Request) -> Reply:
        """Anything else (model metadata, model readiness) is the stable backend's to answer.

        HEAD goes to the backend as GET: the server leaves the body out of the answer.
        """
        headers, request_id = _forwarded_headers(request.headers)
        method = b"GET" if request.method == b"HEAD" else request.method
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
        return await self._send_to(endpoint, method, routes.path(backend, path), body, headers)

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


def _family_labels(config: RoutingConfig) -> tuple[str, str]:
    return config.deployment, config.model


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
