"""Which model a request is scored by: the one model of a server, or a pool's, by name.

The HTTP and gRPC layers ask a `ModelSource` for the data plane of the model a request
names, score with it and give it back; feedback is joined through the source too, since
a pool keeps held predictions of models it has unloaded. `OneModel` is the single-model
server's source: it checks the name and version and hands out its one data plane.
`serving.pool.ModelPool` is a pool server's.
"""

from __future__ import annotations

from typing import Any, Protocol

from modelkeeper.serving.dataplane import DataPlane
from modelkeeper.serving.errors import NOT_FOUND, PayloadError
from modelkeeper.serving.feedback import FeedbackRequest, FeedbackScore
from modelkeeper.serving.metrics import WorkerMetrics
from modelkeeper.serving.payloads import model_metadata


class ModelSource(Protocol):
    async def acquire(self, name: str, version: str | None) -> DataPlane:
        """The data plane of the model (a version, or the family's stable one); PayloadError
        404 for a model or version this server does not serve, 503 for one it cannot load.
        Every acquire is followed by a `release`."""
        ...

    def release(self, dataplane: DataPlane) -> None: ...

    def check(self, name: str, version: str | None) -> None:
        """PayloadError 404 unless the model (and version, if given) is served here."""
        ...

    def metrics(self, name: str, version: str | None) -> WorkerMetrics | None:
        """What a request for the model counts into, if it has been loaded here."""
        ...

    def ready(self, name: str, version: str | None) -> bool:
        """Whether the model can be served (PayloadError 404 when it is not served here)."""
        ...

    def metadata(self, name: str, version: str | None) -> dict[str, Any] | None:
        """The model's V2 metadata when known without loading it (else `acquire` it)."""
        ...

    def feedback(
        self, name: str, version: str | None, request: FeedbackRequest
    ) -> FeedbackScore | None:
        """Join feedback to a prediction this server holds; None when it holds none."""
        ...


def metadata_of(dataplane: DataPlane) -> dict[str, Any]:
    """A loaded model's V2 metadata: inputs from its schema, outputs from its classes."""
    settings, model = dataplane.settings, dataplane.model
    return model_metadata(
        settings.model_name,
        settings.model_version,
        settings.model_format,
        model.schema,
        model.runtime.classes,
    )


class OneModel:
    """The single-model server's source."""

    def __init__(self, dataplane: DataPlane) -> None:
        self._dataplane = dataplane
        self._name = dataplane.settings.model_name
        self._version = dataplane.settings.model_version

    def check(self, name: str, version: str | None) -> None:
        if name != self._name:
            raise PayloadError(
                f"model {name!r} not found (this server serves {self._name!r})", NOT_FOUND
            )
        if version and version != self._version:
            raise PayloadError(
                f"model {name!r} has no version {version!r} (this server serves version "
                f"{self._version!r})",
                NOT_FOUND,
            )

    async def acquire(self, name: str, version: str | None) -> DataPlane:
        self.check(name, version)
        return self._dataplane

    def release(self, dataplane: DataPlane) -> None:
        pass

    def metrics(self, name: str, version: str | None) -> WorkerMetrics | None:
        return self._dataplane.metrics

    def ready(self, name: str, version: str | None) -> bool:
        self.check(name, version)
        return True

    def metadata(self, name: str, version: str | None) -> dict[str, Any] | None:
        self.check(name, version)
        return metadata_of(self._dataplane)

    def feedback(
        self, name: str, version: str | None, request: FeedbackRequest
    ) -> FeedbackScore | None:
        self.check(name, version)
        return self._dataplane.feedback(request)
