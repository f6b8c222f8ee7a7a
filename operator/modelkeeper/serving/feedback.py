"""Joining ground-truth labels and outcomes to the predictions they belong to, by request id.

Each worker holds the predictions of the requests it answered for a while
(bounded by count and by age); a feedback request scores its labels against
them once, and adds up the outcomes it carries (a reward, a conversion: what an A/B
test compares between versions). How feedback finds the right worker and replica:
docs/feedback.md. Pure: the clock is passed in.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

from modelkeeper.serving.errors import PayloadError
from modelkeeper.serving.frames import AnyArray

FeedbackLabel = StrictBool | StrictInt | StrictFloat | StrictStr
FeedbackOutcome = StrictBool | StrictInt | StrictFloat
T = TypeVar("T")


@dataclass(frozen=True)
class FeedbackScore:
    """What one feedback added: labelled rows and their correct rows or summed errors, and
    rows with an outcome, the outcomes' sum and their squares' sum."""

    rows: int
    correct: int = 0
    absolute_error: float = 0.0
    squared_error: float = 0.0
    outcomes: int = 0
    outcome_sum: float = 0.0
    outcome_squares: float = 0.0

    @property
    def joined(self) -> int:
        """The rows of the request the feedback was joined to."""
        return max(self.rows, self.outcomes)


class FeedbackRequest(BaseModel):
    """The body of `POST .../feedback`: per row of the earlier request, a true label, an
    outcome, or both."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: StrictStr = Field(min_length=1)
    labels: list[FeedbackLabel] | None = Field(default=None, min_length=1)
    outcomes: list[FeedbackOutcome] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _something_given(self) -> FeedbackRequest:
        if self.labels is None and self.outcomes is None:
            raise ValueError("give labels, outcomes or both")
        return self


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
    predictions: AnyArray, request: FeedbackRequest, classes: Sequence[str] | None
) -> FeedbackScore:
    """The labels scored against the predictions and the outcomes added up."""
    score = FeedbackScore(rows=0)
    if request.labels is not None:
        score = score_labels(predictions, request.labels, classes)
    if request.outcomes is None:
        return score
    outcomes = _rows_of("outcomes", request.outcomes, len(predictions))
    for index, outcome in enumerate(outcomes):
        if not math.isfinite(outcome):
            raise PayloadError(f"outcomes.{index}: an outcome must be a finite number")
    return replace(
        score,
        outcomes=len(outcomes),
        outcome_sum=math.fsum(outcomes),
        outcome_squares=math.fsum(float(outcome) ** 2 for outcome in outcomes),
    )


def _rows_of(name: str, values: Sequence[T], rows: int) -> Sequence[T]:
    """One value per row of the request, or a 422 naming the field."""
    if len(values) != rows:
        raise PayloadError(f"{name}: {len(values)} given, but that request had {rows} rows")
    return values


def score_labels(
    predictions: AnyArray, labels: Sequence[FeedbackLabel], classes: Sequence[str] | None
) -> FeedbackScore:
    """Compare labels with predictions: correct rows for a classifier, errors for a regressor.

    Class labels compare by their text, so `1` matches the class 1 and `"fraud"` the
    class "fraud". A label that cannot be compared is a 422 naming it.
    """
    _rows_of("labels", labels, len(predictions))
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
