"""The V2 gRPC layer: `inference.GRPCInferenceService` on its own port, and nothing else.

Each worker process runs a grpc.aio server beside its HTTP server, bound to the same
`grpc_port` with SO_REUSEPORT (gRPC's default on Linux), so the kernel spreads
connections over the workers as it does for REST. ModelInfer translates the message
(`grpc_tensors`) and calls the same `DataPlane` (whose batcher may score gRPC's calls on
the event loop: gRPC's threads do their I/O): the same schema checks, batching,
drift counting, held predictions (feedback, which V2 gRPC has no call for, is REST's
`/feedback` with the answer's id) and per-batch metrics. Errors are REST's, as gRPC
status codes: a body's 400 or 422 is INVALID_ARGUMENT, an unknown model or version
NOT_FOUND, a model that fails INTERNAL. gRPC answers some calls itself, before this
layer sees them: RESOURCE_EXHAUSTED for more calls in flight than
`MAX_CONCURRENT_CALLS` or a message over `max_body_bytes`, UNAVAILABLE for a new call
once shutdown began. Each inference call is counted with its status in
`modelkeeper_grpc_requests_total`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import grpc
from grpc import aio

from modelkeeper import __version__
from modelkeeper.protocol import grpc_predict_v2_pb2 as pb
from modelkeeper.protocol import grpc_predict_v2_pb2_grpc as service
from modelkeeper.serving import binary, grpc_tensors
from modelkeeper.serving.dataplane import DataPlane, ModelError
from modelkeeper.serving.errors import PayloadError
from modelkeeper.serving.metrics import WorkerMetrics
from modelkeeper.serving.payloads import encode_v2

log = logging.getLogger(__name__)
NOT_FOUND = 404
# Calls one worker takes at once before gRPC answers RESOURCE_EXHAUSTED.
MAX_CONCURRENT_CALLS = 4096


class AbortError(Exception):
    """A call answered with a gRPC status other than OK."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def status_of(error: PayloadError) -> grpc.StatusCode:
    """REST's status of a refused request as a gRPC status code."""
    return (
        grpc.StatusCode.NOT_FOUND if error.status == NOT_FOUND else grpc.StatusCode.INVALID_ARGUMENT
    )


class InferenceService(service.GRPCInferenceServiceServicer):
    """The six calls of the V2 gRPC protocol, bound to one worker's data plane."""

    def __init__(self, dataplane: DataPlane, metrics: WorkerMetrics, stopping: Any) -> None:
        self._dataplane = dataplane
        self._settings = dataplane.settings
        self._schema = dataplane.model.schema
        self._metrics = metrics
        self._stopping = stopping  # a callable: whether shutdown has begun
        settings = self._settings
        self._metadata = grpc_tensors.metadata_response(
            settings.model_name,
            settings.model_version,
            settings.model_format,
            self._schema,
            dataplane.model.runtime.classes,
        )

    def _check_model(self, name: str, version: str) -> None:
        settings = self._settings
        if name != settings.model_name:
            raise AbortError(
                grpc.StatusCode.NOT_FOUND,
                f"model {name!r} not found (this server serves {settings.model_name!r})",
            )
        if version and version != settings.model_version:
            raise AbortError(
                grpc.StatusCode.NOT_FOUND,
                f"model {name!r} has no version {version!r} (this server serves version "
                f"{settings.model_version!r})",
            )

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
        await self._guard(context, self._check_model, request.name, request.version)
        return pb.ModelReadyResponse(ready=not self._stopping())

    async def ServerMetadata(  # noqa: N802
        self, request: pb.ServerMetadataRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.ServerMetadataResponse:
        return grpc_tensors.server_metadata("modelkeeper", __version__, binary.EXTENSIONS)

    async def ModelMetadata(  # noqa: N802
        self, request: pb.ModelMetadataRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.ModelMetadataResponse:
        await self._guard(context, self._check_model, request.name, request.version)
        return self._metadata

    async def _guard(self, context: aio.ServicerContext[Any, Any], check: Any, *args: Any) -> None:
        try:
            check(*args)
        except AbortError as error:
            await context.abort(error.code, str(error))

    async def ModelInfer(  # noqa: N802
        self, request: pb.ModelInferRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.ModelInferResponse:
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            return await self._infer(request)
        except asyncio.CancelledError:  # the client went away: counted, not answered
            code = grpc.StatusCode.CANCELLED
            raise
        except AbortError as error:
            code, message = error.code, str(error)
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
            self._metrics.record_grpc(code.name, time.perf_counter() - started)
        await context.abort(code, message)
        raise AssertionError("unreachable: abort raises")

    async def _infer(self, request: pb.ModelInferRequest) -> pb.ModelInferResponse:
        self._check_model(request.model_name, request.model_version)
        decoded, raw = grpc_tensors.decode_request(request, self._schema)
        request_id = decoded.id or uuid.uuid4().hex
        # gRPC's own threads read and write the calls: the model may run on the loop.
        prediction = await self._dataplane.infer(decoded, request_id, inline=True)
        settings = self._settings
        document = encode_v2(
            settings.model_name, settings.model_version, request_id, decoded.outputs, prediction
        )
        return grpc_tensors.response(document, raw)


def address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def start(
    dataplane: DataPlane, metrics: WorkerMetrics, stopping: Any, port: int
) -> aio.Server:
    """This worker's gRPC server, started on `port` (shared with the other workers)."""
    settings = dataplane.settings
    server = aio.server(
        maximum_concurrent_rpcs=MAX_CONCURRENT_CALLS,
        options=[
            ("grpc.so_reuseport", 1),
            ("grpc.max_receive_message_length", settings.max_body_bytes),
            ("grpc.max_send_message_length", -1),
        ],
    )
    service.add_GRPCInferenceServiceServicer_to_server(  # type: ignore[no-untyped-call]
        InferenceService(dataplane, metrics, stopping), server
    )
    if server.add_insecure_port(address(settings.host, port)) != port:
        raise OSError(f"gRPC could not listen on {address(settings.host, port)}")
    await server.start()
    return server
