"""Joining ground-truth labels to the predictions they belong to, by request id.

Each worker holds the predictions of the requests it answered for a while
(bounded by count and by age); a feedback request scores its labels against
them once. How feedback finds the right worker and replica: docs/feedback.md.
Pure: the clock is passed in.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from modelkeeper.serving.errors import PayloadError
from modelkeeper.serving.frames import AnyArray

FeedbackLabel = StrictBool | StrictInt | StrictFloat | StrictStr


@dataclass(frozen=True)
class FeedbackScore:
    """What one feedback added: rows joined, and correct rows or summed errors."""

    rows: int
    correct: int = 0
    absolute_error: float = 0.0
    squared_error: float = 0.0


class FeedbackRequest(BaseModel):
    """The body of `POST .../feedback`: one true label per row of the earlier request."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: StrictStr = Field(min_length=1)
    labels: list[FeedbackLabel] = Field(min_length=1)


class PredictionStore:
    """Recent predictions by request id; the oldest go first when full or older than the TTL."""

    def __init__(
        self, capacity: int, ttl_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._capacity = capacity
        self._ttl = ttl_seconds
        self._clock = clock
        self._held: OrderedDict[str, tuple[float, AnyArray]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, request_id: str, labels: AnyArray) -> None:
        now = self._clock()
        self._held[request_id] = (now, labels)
        self._held.move_to_end(request_id)
        while self._held and (
            len(self._held) > self._capacity or now - next(iter(self._held.values()))[0] > self._ttl
        ):
            self._held.popitem(last=False)

    def get(self, request_id: str) -> AnyArray | None:
        """The held prediction, unless unknown or expired; it stays held until `release`."""
        entry = self._held.get(request_id)
        if entry is None or self._clock() - entry[0] > self._ttl:
            return None
        return entry[1]

    def release(self, request_id: str) -> None:
        self._held.pop(request_id, None)


def score_feedback(
    predictions: AnyArray, labels: Sequence[FeedbackLabel], classes: Sequence[str] | None
) -> FeedbackScore:
    """Compare labels with predictions: correct rows for a classifier, errors for a regressor.

    Class labels compare by their text, so `1` matches the class 1 and `"fraud"` the
    class "fraud". A label that cannot be compared is a 422 naming it.
    """
    if len(labels) != len(predictions):
        raise PayloadError(
            f"labels: {len(labels)} given, but that request had {len(predictions)} rows"
        )
    if classes is not None:
        known = set(classes)
        texts = [str(label) for label in labels]
        for index, text in enumerate(texts):
            if text not in known:
                raise PayloadError(f"labels.{index}: {text!r} is not a class of the model")
        predicted = [str(label) for label in predictions.tolist()]
        correct = sum(a == b for a, b in zip(texts, predicted, strict=True))
        return FeedbackScore(rows=len(labels), correct=correct)
    errors = []
    for index, (label, prediction) in enumerate(zip(labels, predictions.tolist(), strict=True)):
        if isinstance(label, bool | str) or not math.isfinite(label):
            raise PayloadError(f"labels.{index}: a regression label must be a finite number")
        errors.append(float(prediction) - float(label))
    return FeedbackScore(
        rows=len(labels),
        absolute_error=math.fsum(abs(error) for error in errors),
        squared_error=math.fsum(error * error for error in errors),
    )
