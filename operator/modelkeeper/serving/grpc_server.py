"""The V2 gRPC layer: `inference.GRPCInferenceService` on its own port, and nothing else.

Each worker process runs a grpc.aio server beside its HTTP server, bound to the same
`grpc_port` with SO_REUSEPORT (gRPC's default on Linux), so the kernel spreads
connections over the workers as it does for REST. ModelInfer translates the message
(`grpc_tensors`) and calls the same `DataPlane` (whose batcher may score gRPC's calls on
the event loop: gRPC's threads do their I/O): the same schema checks, batching,
drift counting, held predictions (feedback, which V2 gRPC has no call for, is REST's
`/feedback` with the answer's id) and per-batch metrics. Errors are REST's, as gRPC
status codes: a body's 400 or 422 is INVALID_ARGUMENT, an unknown model or version
NOT_FOUND, a pool's model that cannot be loaded UNAVAILABLE, a model that fails
INTERNAL. gRPC answers some calls itself, before this layer sees them:
RESOURCE_EXHAUSTED for more calls in flight than
`MAX_CONCURRENT_CALLS` or a message over `max_body_bytes`, UNAVAILABLE for a new call
once shutdown began. Each inference call is counted with its status in
`modelkeeper_grpc_requests_total`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

import grpc
from grpc import aio

from modelkeeper import __version__
from modelkeeper.protocol import grpc_predict_v2_pb2 as pb
from modelkeeper.protocol import grpc_predict_v2_pb2_grpc as service
from modelkeeper.serving import binary, grpc_tensors
from modelkeeper.serving.dataplane import ModelError
from modelkeeper.serving.errors import NOT_FOUND, UNAVAILABLE, PayloadError
from modelkeeper.serving.metrics import WorkerMetrics
from modelkeeper.serving.models import ModelSource, metadata_of
from modelkeeper.serving.payloads import encode_v2
from modelkeeper.serving.settings import ServerSettings

log = logging.getLogger(__name__)
# Calls one worker takes at once before gRPC answers RESOURCE_EXHAUSTED.
MAX_CONCURRENT_CALLS = 4096


def status_of(error: PayloadError) -> grpc.StatusCode:
    """REST's status of a refused request as a gRPC status code."""
    if error.status == NOT_FOUND:
        return grpc.StatusCode.NOT_FOUND
    if error.status == UNAVAILABLE:
        return grpc.StatusCode.UNAVAILABLE
    return grpc.StatusCode.INVALID_ARGUMENT


class InferenceService(service.GRPCInferenceServiceServicer):
    """The six calls of the V2 gRPC protocol, bound to one worker's models; `metrics`
    counts the calls no model claims, as `Handlers`' does."""

    def __init__(
        self,
        models: ModelSource,
        metrics: WorkerMetrics | None,
        stopping: Any,
        extensions: Sequence[str] = binary.EXTENSIONS,
    ) -> None:
        self._models = models
        self._metrics = metrics
        self._stopping = stopping  # a callable: whether shutdown has begun
        self._extensions = list(extensions)

    async def ServerLive(  # noqa: N802 (the protocol's names)
        self, request: pb.ServerLiveRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(  # noqa: N802
        self, request: pb.ServerReadyRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=not self._stopping())

    async def ModelReady(  # noqa: N802
        self, request: pb.ModelReadyRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.ModelReadyResponse:
        try:
            ready = self._models.ready(request.name, request.version)
        except PayloadError as error:
            await context.abort(status_of(error), str(error))
        return pb.ModelReadyResponse(ready=ready and not self._stopping())

    async def ServerMetadata(  # noqa: N802
        self, request: pb.ServerMetadataRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.ServerMetadataResponse:
        return grpc_tensors.server_metadata("modelkeeper", __version__, self._extensions)

    async def ModelMetadata(  # noqa: N802
        self, request: pb.ModelMetadataRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.ModelMetadataResponse:
        try:
            known = self._models.metadata(request.name, request.version)
            if known is not None:  # a pool answers from the catalogue, not loading the model
                return grpc_tensors.metadata_response(known)
            dataplane = await self._models.acquire(request.name, request.version)
        except PayloadError as error:
            await context.abort(status_of(error), str(error))
        self._models.release(dataplane)  # the metadata is read, the model not called
        return grpc_tensors.metadata_response(metadata_of(dataplane))

    async def ModelInfer(  # noqa: N802
        self, request: pb.ModelInferRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.ModelInferResponse:
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        counted: list[WorkerMetrics | None] = [self._metrics]
        try:
            return await self._infer(request, counted)
        except asyncio.CancelledError:  # the client went away: counted, not answered
            code = grpc.StatusCode.CANCELLED
            raise
        except PayloadError as error:
            code, message = status_of(error), str(error)
        except ModelError as error:
            code, message = grpc.StatusCode.INTERNAL, str(error)
        except Exception:
            log.exception("unexpected error in ModelInfer")
            code, message = (
                grpc.StatusCode.INTERNAL,
                "internal error; the server log has the details",
            )
        finally:
            if counted[-1] is not None:
                counted[-1].record_grpc(code.name, time.perf_counter() - started)
        await context.abort(code, message)
        raise AssertionError("unreachable: abort raises")

    async def _infer(
        self, request: pb.ModelInferRequest, counted: list[WorkerMetrics | None]
    ) -> pb.ModelInferResponse:
        """Score one call; the model's metrics go on `counted`, where ModelInfer counts it."""
        name, version = request.model_name, request.model_version
        metrics = self._models.metrics(name, version)
        if metrics is not None:  # a pool's failed load counts for a version loaded before
            counted.append(metrics)
        dataplane = await self._models.acquire(name, version)
        counted.append(dataplane.metrics)
        try:
            decoded, raw = grpc_tensors.decode_request(request, dataplane.model.schema)
            request_id = decoded.id or uuid.uuid4().hex
            # gRPC's own threads read and write the calls: the model may run on the loop.
            prediction = await dataplane.infer(decoded, request_id, inline=True)
        finally:
            self._models.release(dataplane)
        settings = dataplane.settings
        document = encode_v2(
            settings.model_name, settings.model_version, request_id, decoded.outputs, prediction
        )
        return grpc_tensors.response(document, raw)


def address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def start(service_impl: InferenceService, settings: ServerSettings, port: int) -> aio.Server:
    """This worker's gRPC server, started on `port` (shared with the other workers)."""
    server = aio.server(
        maximum_concurrent_rpcs=MAX_CONCURRENT_CALLS,
        options=[
            ("grpc.so_reuseport", 1),
            ("grpc.max_receive_message_length", settings.max_body_bytes),
            ("grpc.max_send_message_length", -1),
        ],
    )
    service.add_GRPCInferenceServiceServicer_to_server(  # type: ignore[no-untyped-call]
        service_impl, server
    )
    if server.add_insecure_port(address(settings.host, port)) != port:
        raise OSError(f"gRPC could not listen on {address(settings.host, port)}")
    await server.start()
    return server
