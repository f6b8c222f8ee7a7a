"""Holding predictions for feedback (by count and age), scoring labels against them, and
adding up the outcomes feedback carries."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from modelkeeper.serving.feedback import (
    FeedbackRequest,
    FeedbackScore,
    PredictionStore,
    score_feedback,
    score_labels,
)
from modelkeeper.serving.payloads import PayloadError


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_store_forgets_the_oldest_beyond_capacity() -> None:
    store = PredictionStore(capacity=2, ttl_seconds=60, clock=Clock())
    for request_id in ("a", "b", "c"):
        store.hold(request_id, np.array([1]))
    assert (store.get("a"), len(store)) == (None, 2)
    assert store.get("c") is not None


def test_store_expires_by_age_and_releases() -> None:
    clock = Clock()
    store = PredictionStore(capacity=10, ttl_seconds=5, clock=clock)
    store.hold("a", np.array([1]))
    clock.now = 4.0
    store.hold("b", np.array([2]))
    assert store.get("a") is not None
    clock.now = 6.0
    assert store.get("a") is None
    store.release("b")
    assert store.get("b") is None


@pytest.mark.parametrize(
    ("predictions", "labels", "classes", "expected"),
    [
        pytest.param(
            [0, 1, 2],
            [0, 1, 1],
            ["0", "1", "2"],
            FeedbackScore(rows=3, correct=2),
            id="int-classes",
        ),
        pytest.param(
            ["no", "yes"],
            ["yes", "yes"],
            ["no", "yes"],
            FeedbackScore(rows=2, correct=1),
            id="str-classes",
        ),
        pytest.param(
            [True, False],
            [True, True],
            ["False", "True"],
            FeedbackScore(rows=2, correct=1),
            id="bool-classes",
        ),
        pytest.param(
            [1.5, 3.0],
            [1.0, 5.0],
            None,
            FeedbackScore(rows=2, absolute_error=2.5, squared_error=4.25),
            id="regression",
        ),
    ],
)
def test_scores(
    predictions: list[object],
    labels: list[object],
    classes: list[str] | None,
    expected: FeedbackScore,
) -> None:
    held = np.array(predictions, dtype=object if isinstance(predictions[0], str) else None)
    assert score_labels(held, labels, classes) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("labels", "classes", "message"),
    [
        pytest.param([0], ["0", "1"], "labels: 1 given, but that request had 2 rows", id="length"),
        pytest.param(
            [0, 3], ["0", "1"], "labels.1: '3' is not a class of the model", id="unknown-class"
        ),
        pytest.param(
            [1.0, "x"],
            None,
            "labels.1: a regression label must be a finite number",
            id="string-label",
        ),
        pytest.param([True, 1.0], None, "labels.0: a regression label", id="bool-label"),
    ],
)
def test_misfits(labels: list[object], classes: list[str] | None, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        score_labels(np.array([0, 1]), labels, classes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            {"outcomes": [1, 0, True]},
            FeedbackScore(rows=0, outcomes=3, outcome_sum=2.0, outcome_squares=2.0),
            id="conversions",
        ),
        pytest.param(
            {"outcomes": [2.5, -1.0, 0.0]},
            FeedbackScore(rows=0, outcomes=3, outcome_sum=1.5, outcome_squares=7.25),
            id="scores",
        ),
        pytest.param(
            {"labels": [1.0, 2.0, 4.0], "outcomes": [1, 1, 0]},
            FeedbackScore(
                rows=3,
                absolute_error=2.0,
                squared_error=4.0,
                outcomes=3,
                outcome_sum=2.0,
                outcome_squares=2.0,
            ),
            id="labels-and-outcomes",
        ),
    ],
)
def test_outcomes_add_up(body: dict[str, object], expected: FeedbackScore) -> None:
    request = FeedbackRequest.model_validate({"id": "r", **body})
    score = score_feedback(np.array([1.0, 2.0, 2.0]), request, None)
    assert (score, score.joined) == (expected, 3)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param({"outcomes": [1]}, "outcomes: 1 given, but that request had 2 rows", id="len"),
        pytest.param(
            {"outcomes": [1, float("inf")]},
            "outcomes.1: an outcome must be a finite number",
            id="infinite",
        ),
    ],
)
def test_outcome_misfits(body: dict[str, object], message: str) -> None:
    request = FeedbackRequest.model_validate({"id": "r", **body})
    with pytest.raises(PayloadError, match=message):
        score_feedback(np.array([0.0, 1.0]), request, None)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param({"id": "r"}, "give labels, outcomes or both", id="neither"),
        pytest.param({"id": "r", "outcomes": ["yes"]}, "outcomes.0", id="text-outcome"),
        pytest.param({"id": "r", "outcomes": []}, "outcomes", id="empty"),
    ],
)
def test_feedback_bodies_refused(body: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FeedbackRequest.model_validate(body)
