"""The HTTP layer: V2 and V1 routes, JSON errors and request metrics, and nothing else.

Handlers decode with `payloads` (and `binary`, when the body carries binary tensors),
call the `DataPlane` and encode. One middleware turns every failure into a JSON
`{"error": ...}` with the right status (never a traceback) and counts each inference
and feedback request with its latency, a method the route does not take (405) included.
Feedback this worker cannot join is relayed to its sibling workers over their
private Unix sockets (docs/feedback.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CONTENT_TYPE_LATEST

from modelkeeper import __version__
from modelkeeper.serving import binary
from modelkeeper.serving.dataplane import DataPlane, ModelError
from modelkeeper.serving.errors import BAD_REQUEST, NOT_FOUND, PayloadError
from modelkeeper.serving.feedback import FeedbackRequest
from modelkeeper.serving.frames import Prediction
from modelkeeper.serving.metrics import Endpoint, WorkerMetrics
from modelkeeper.serving.models import ModelSource, metadata_of
from modelkeeper.serving.payloads import (
    DecodedRequest,
    decode_v1,
    decode_v2,
    decode_v2_binary,
    encode_v1,
    encode_v2,
    parse_json,
    validate_body,
)
from modelkeeper.serving.schema import ModelSchema

REQUEST_ID_HEADER = "X-Request-Id"
SIBLING_HEADER = "X-Modelkeeper-Sibling"
METRICS_KEY = web.RequestKey("metrics", WorkerMetrics)
"""The metrics of the model a request was for, once the handler knows it."""

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class ServerState:
    """Mutable state of a running worker; `stopping` turns readiness off during shutdown,
    and a pool server is not ready before it has read its catalogue (`listed`)."""

    stopping: bool = False
    listed: bool = True

    @property
    def ready(self) -> bool:
        return self.listed and not self.stopping


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def error_response(status: int, message: str) -> web.Response:
    return json_response({"error": message}, status=status)


class Handlers:
    """The routes of one worker, bound to where its models come from.

    `metrics` counts the requests no model claims (a single-model server's are all its
    model's; a pool server's unknown models are counted nowhere); `exposition` is the
    text `/metrics` answers.
    """

    def __init__(
        self,
        models: ModelSource,
        metrics: WorkerMetrics | None,
        exposition: Callable[[], bytes],
        state: ServerState,
        siblings: Sequence[str],
        extensions: Sequence[str] = binary.EXTENSIONS,
    ) -> None:
        self._models = models
        self._metrics = metrics
        self._exposition = exposition
        self._state = state
        self._siblings = siblings
        self._sibling_sessions: dict[str, aiohttp.ClientSession] = {}
        self._extensions = list(extensions)

    async def _acquire(self, request: web.Request) -> DataPlane:
        """The data plane of the model the path names; `release` it when answered."""
        name, version = request.match_info["name"], request.match_info.get("version")
        metrics = self._models.metrics(name, version)
        if metrics is not None:  # a pool's failed load counts for a version loaded before
            request[METRICS_KEY] = metrics
        dataplane = await self._models.acquire(name, version)
        request[METRICS_KEY] = dataplane.metrics
        return dataplane

    async def live(self, request: web.Request) -> web.Response:
        return json_response({"live": True})

    async def ready(self, request: web.Request) -> web.Response:
        ready = self._state.ready
        return json_response({"ready": ready}, status=200 if ready else 503)

    async def server_metadata(self, request: web.Request) -> web.Response:
        return json_response(
            {"name": "modelkeeper", "version": __version__, "extensions": self._extensions}
        )

    async def model_metadata(self, request: web.Request) -> web.Response:
        known = self._models.metadata(request.match_info["name"], request.match_info.get("version"))
        if known is not None:  # a pool answers from the catalogue, not loading the model
            return json_response(known)
        dataplane = await self._acquire(request)
        self._models.release(dataplane)  # the metadata is read, the model not called
        return json_response(metadata_of(dataplane))

    async def model_ready(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        ready = self._models.ready(name, request.match_info.get("version"))
        return json_response({"name": name, "ready": ready})

    async def _score(
        self,
        request: web.Request,
        decode: Callable[[bytes, ModelSchema], DecodedRequest],
        encode: Callable[[DataPlane, DecodedRequest, str, Prediction], dict[str, Any]],
    ) -> web.Response:
        """Decode, score and encode one inference request in either protocol."""
        dataplane = await self._acquire(request)
        try:
            decoded = decode(await request.read(), dataplane.model.schema)
            request_id = decoded.id or request.headers.get(REQUEST_ID_HEADER) or uuid.uuid4().hex
            prediction = await dataplane.infer(decoded, request_id)
        finally:
            self._models.release(dataplane)
        document = encode(dataplane, decoded, request_id, prediction)
        headers = {REQUEST_ID_HEADER: request_id}
        if not decoded.binary:
            return json_response(document, headers=headers)
        body, length = binary.encode_response(document, decoded.binary)
        headers[binary.HEADER] = str(length)
        return web.Response(body=body, content_type=binary.CONTENT_TYPE, headers=headers)

    @staticmethod
    def _encode_v2(
        dataplane: DataPlane, decoded: DecodedRequest, request_id: str, prediction: Prediction
    ) -> dict[str, Any]:
        settings = dataplane.settings
        return encode_v2(
            settings.model_name, settings.model_version, request_id, decoded.outputs, prediction
        )

    async def infer(self, request: web.Request) -> web.Response:
        header = request.headers.get(binary.HEADER)
        decode = decode_v2 if header is None else partial(decode_v2_binary, header)
        return await self._score(request, decode, self._encode_v2)

    async def v1_status(self, request: web.Request) -> web.Response:
        return await self.model_ready(request)

    async def v1_predict(self, request: web.Request) -> web.Response:
        _json_only(request)
        return await self._score(
            request,
            decode_v1,
            lambda dataplane, decoded, request_id, prediction: encode_v1(prediction),
        )

    async def feedback(self, request: web.Request) -> web.Response:
        name, version = request.match_info["name"], request.match_info.get("version")
        self._models.check(name, version)
        _json_only(request)
        body = await request.read()
        feedback = validate_body(FeedbackRequest, parse_json(body))
        metrics = self._models.metrics(name, version)
        if metrics is not None:
            request[METRICS_KEY] = metrics
        score = self._models.feedback(name, version, feedback)
        if score is not None:
            return json_response({"id": feedback.id, "matched": True, "rows": score.joined})
        if self._siblings and SIBLING_HEADER not in request.headers:
            answer = await self._ask_siblings(request.path, body)
            if answer is not None:
                return answer
        return json_response(
            {
                "error": f"no prediction held for request id {feedback.id!r} (never served "
                "here, expired, or feedback already given)",
                "id": feedback.id,
                "matched": False,
            },
            status=NOT_FOUND,
        )

    async def _ask_siblings(self, path: str, body: bytes) -> web.Response | None:
        """The first sibling answer other than 404, if any sibling held the request id."""
        answers = await asyncio.gather(
            *(self._ask(sibling, path, body) for sibling in self._siblings)
        )
        for status, payload in sorted(answers, key=lambda answer: answer[0] != 200):
            if status != NOT_FOUND:
                return web.Response(body=payload, status=status, content_type="application/json")
        return None

    async def _ask(self, socket_path: str, path: str, body: bytes) -> tuple[int, bytes]:
        session = self._sibling_sessions.get(socket_path)
        if session is None:
            session = aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=socket_path))
            self._sibling_sessions[socket_path] = session
        headers = {SIBLING_HEADER: "1", "Content-Type": "application/json"}
        try:
            async with session.post(f"http://worker{path}", data=body, headers=headers) as answer:
                return answer.status, await answer.read()
        except aiohttp.ClientError as error:
            log.warning("sibling worker at %s did not answer: %s", socket_path, error)
            return NOT_FOUND, b""

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self._exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def close(self) -> None:
        for session in self._sibling_sessions.values():
            await session.close()

    def endpoints(self) -> dict[Callable[..., Any], Endpoint]:
        """Which handlers count as which endpoint in `modelkeeper_requests_total`."""
        return {
            self.infer: Endpoint.INFER,
            self.v1_predict: Endpoint.INFER,
            self.feedback: Endpoint.FEEDBACK,
        }


def _json_only(request: web.Request) -> None:
    """V1 and feedback bodies are JSON: binary tensors are for V2 inference only."""
    if binary.HEADER in request.headers:
        raise PayloadError(
            f"{binary.HEADER}: binary tensors are accepted by V2 /infer only; "
            f"{request.path} takes a JSON body",
            BAD_REQUEST,
        )


async def _endpoint_not_allowed(
    request: web.Request,
    error: web.HTTPMethodNotAllowed,
    endpoints: dict[Callable[..., Any], Endpoint],
) -> Endpoint | None:
    """The endpoint whose path a 405 request named, found by the methods the path allows."""
    for method in error.allowed_methods:
        match = await request.app.router.resolve(request.clone(method=method))
        endpoint = endpoints.get(match.handler)
        if endpoint is not None:
            return endpoint
    return None


def _errors_and_metrics(
    metrics: WorkerMetrics | None,
    endpoints: dict[Callable[..., Any], Endpoint],
    max_body_bytes: int,
) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        response: web.StreamResponse
        endpoint = endpoints.get(request.match_info.handler)
        try:
            response = await handler(request)
        except PayloadError as error:
            response = error_response(error.status, str(error))
        except ModelError as error:
            response = error_response(500, str(error))
        except web.HTTPRequestEntityTooLarge:
            response = error_response(413, f"request body larger than {max_body_bytes} bytes")
        except web.HTTPMethodNotAllowed as error:
            endpoint = await _endpoint_not_allowed(request, error, endpoints)
            response = error_response(
                error.status, f"{error.reason}: {request.method} {request.path}"
            )
        except web.HTTPException as error:
            response = error_response(
                error.status, f"{error.reason}: {request.method} {request.path}"
            )
        except Exception:
            log.exception("unexpected error on %s %s", request.method, request.path)
            response = error_response(500, "internal error; the server log has the details")
        counted = request.get(METRICS_KEY, metrics)
        if endpoint is not None and counted is not None:
            counted.record_request(endpoint, response.status, time.perf_counter() - started)
        return response

    return middleware


def build_app(
    handlers: Handlers,
    metrics: WorkerMetrics | None,
    max_body_bytes: int,
    with_metrics: bool,
    extra_routes: Sequence[web.RouteDef] = (),
) -> web.Application:
    """The worker's application; `/metrics` is on it unless a separate metrics port serves it."""
    app = web.Application(
        client_max_size=max_body_bytes,
        middlewares=[_errors_and_metrics(metrics, handlers.endpoints(), max_body_bytes)],
    )
    routes = [
        web.get("/v2/health/live", handlers.live),
        web.get("/v2/health/ready", handlers.ready),
        web.get("/v2", handlers.server_metadata),
        web.get("/v1/models/{name}", handlers.v1_status),
        web.post("/v1/models/{name}:predict", handlers.v1_predict),
    ]
    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        routes += [
            web.get(prefix, handlers.model_metadata),
            web.get(f"{prefix}/ready", handlers.model_ready),
            web.post(f"{prefix}/infer", handlers.infer),
            web.post(f"{prefix}/feedback", handlers.feedback),
        ]
    if with_metrics:
        routes.append(web.get("/metrics", handlers.metrics))
    app.add_routes([*routes, *extra_routes])
    return app


def build_metrics_app(handlers: Handlers) -> web.Application:
    """The application of a separate metrics port."""
    app = web.Application()
    app.add_routes([web.get("/metrics", handlers.metrics)])
    return app
