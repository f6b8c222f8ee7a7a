"""The data plane: what happens to a decoded request, apart from HTTP.

Scoring goes through the batcher; every model call is counted into the metrics
(batch size, predictions, input bins, a sample of a classifier's probabilities); each
answered request is held for feedback and offered to the payload log; a request the
model fails is answered with the model's message and logged with its traceback. The
HTTP layer (`app`) only decodes, calls this and encodes.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from modelkeeper.serving.batching import Batcher
from modelkeeper.serving.feedback import (
    FeedbackRequest,
    FeedbackScore,
    PredictionStore,
    score_feedback,
)
from modelkeeper.serving.frames import AnyArray, FeatureBatch, Prediction
from modelkeeper.serving.metrics import WorkerMetrics
from modelkeeper.serving.payload_log import PayloadLog
from modelkeeper.serving.payloads import DecodedRequest, OutputName
from modelkeeper.serving.runtime import CodeRuntime, LoadedModel
from modelkeeper.serving.settings import ServerSettings

log = logging.getLogger(__name__)


class ModelError(RuntimeError):
    """The model raised while scoring; answered as 500 with the model's message."""


class HeldPredictions:
    """The predictions a model answered, waiting for their feedback, and its counting.

    Apart from the data plane so that a pool server keeps them while the model is
    unloaded: feedback joins a prediction whether or not its model is still loaded.
    """

    def __init__(
        self, settings: ServerSettings, classes: list[str] | None, metrics: WorkerMetrics
    ) -> None:
        self._store = PredictionStore(settings.feedback_capacity, settings.feedback_ttl_seconds)
        self._classes = classes
        self._metrics = metrics

    def hold(self, request_id: str, labels: AnyArray) -> None:
        self._store.hold(request_id, labels)

    def feedback(self, request: FeedbackRequest) -> FeedbackScore | None:
        """Score feedback against the held prediction; None when none is held.

        A feedback that does not fit (wrong length, unknown class) raises PayloadError
        and leaves the prediction held, so a corrected feedback can still join it.
        """
        held = self._store.get(request.id)
        if held is None:
            return None
        score = score_feedback(held, request, self._classes)
        self._store.release(request.id)
        self._metrics.record_feedback(score)
        return score


def class_names(model: LoadedModel) -> list[str] | None:
    """A classifier's class labels as text (what feedback labels compare with)."""
    classes = model.runtime.classes
    return None if classes is None else [str(label) for label in classes.tolist()]


class DataPlane:
    """One worker's (or, in a pool, one model's) scoring, feedback and accounting.

    A pool server passes what outlives a loaded model (`held`) and the thread its models
    share (`model_thread`); a single-model server's data plane makes its own.
    """

    def __init__(
        self,
        settings: ServerSettings,
        model: LoadedModel,
        metrics: WorkerMetrics,
        payload_log: PayloadLog,
        draw: Callable[[], float] = random.random,
        held: HeldPredictions | None = None,
        model_thread: ThreadPoolExecutor | None = None,
    ) -> None:
        self.settings = settings
        self.model = model
        self.metrics = metrics
        self._payload_log = payload_log
        self.held = held or HeldPredictions(settings, class_names(model), metrics)
        # A classifier's probabilities are counted for performance estimation (CBPE) on a
        # random share of model calls, whether the call asked for them or not (so the sample
        # is the traffic's): a second model call (predict_proba) costs as much as the first.
        self._probability_sample = (
            settings.probability_sample
            if settings.drift_counting and model.runtime.gives_probabilities
            else 0.0
        )
        self._draw = draw
        self._batcher = Batcher(
            self._predict,
            settings.max_batch_size,
            settings.max_batch_wait_seconds,
            model_thread=model_thread,
        )
        # A model's own code stays on the model thread: it may run an event loop of its own.
        self._may_inline = not isinstance(model.runtime, CodeRuntime)

    def _predict(self, batch: FeatureBatch, probabilities: bool) -> Prediction:
        sampled = self._probability_sample > 0 and self._draw() < self._probability_sample
        prediction = self.model.runtime.predict(batch, probabilities or sampled)
        self.metrics.record_batch(batch, prediction, self.settings.drift_counting, sampled)
        return prediction

    async def infer(
        self, request: DecodedRequest, request_id: str, inline: bool = False
    ) -> Prediction:
        """The request's prediction; `inline` as `Batcher.predict` has it."""
        try:
            prediction = await self._batcher.predict(
                request.batch,
                OutputName.PREDICT_PROBA in request.outputs,
                inline and self._may_inline,
            )
        except Exception as error:
            # The client gets the message; the log gets the traceback (the model's own code).
            log.error("request %s: the model failed", request_id, exc_info=error)
            raise ModelError(f"the model failed: {type(error).__name__}: {error}") from error
        self.held.hold(request_id, prediction.labels)
        self._payload_log.record(request_id, request.batch, prediction)
        return prediction

    def feedback(self, request: FeedbackRequest) -> FeedbackScore | None:
        """Score feedback against this worker's held prediction; None when it holds none."""
        return self.held.feedback(request)

    async def close(self) -> None:
        await self._batcher.close()
        self._payload_log.close()
