"""What evaluations make of the scores: hysteresis stepped over several evaluations (step,
change the world, step, assert), conditions, and the message."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from modelkeeper.api.conditions import ConditionStatus, get_condition
from modelkeeper.api.driftmonitor import (
    DriftMonitorConditionType,
    DriftMonitorStatus,
    DriftState,
    Level,
)
from modelkeeper.drift import statistics
from modelkeeper.drift.queries import FeatureCounts, Observed, Probabilities
from modelkeeper.drift.state import (
    Evaluation,
    StateChange,
    Unreadable,
    evaluate,
    fit_message,
    unknown,
)
from modelkeeper.profile import CategoricalProfile, NumericProfile, Profile
from tests.unit.drift.factories import (
    AMOUNT_REFERENCE,
    AMOUNT_SHIFTED,
    FEEDBACK,
    START,
    observed,
    run,
    spec,
)


def test_degraded_performance_sets_its_condition_not_the_state() -> None:
    monitor = spec(performance={"metric": "Accuracy", "min": 0.8})
    evaluation = run(monitor, observed(feedback=FEEDBACK))
    degraded = get_condition(
        evaluation.status.conditions, DriftMonitorConditionType.PERFORMANCE_DEGRADED
    )
    assert degraded is not None
    assert degraded.status == ConditionStatus.TRUE
    assert evaluation.status.state == DriftState.OK


LOW_CONFIDENCE = Probabilities(rows=400, confidence_sum=280)
"""Expected accuracy 0.7."""
HIGH_CONFIDENCE = Probabilities(rows=400, confidence_sum=372)
"""Expected accuracy 0.93."""
ESTIMATED = {"metric": "Accuracy", "reference": 0.9}
MEASURED = {"metric": "Accuracy", "min": 0.7}
"""FEEDBACK's accuracy is 0.75: within."""


@pytest.mark.parametrize(
    ("fields", "seen", "status", "reason"),
    [
        pytest.param({}, observed(), ConditionStatus.FALSE, "NotWatched", id="not-watched"),
        pytest.param(
            {"estimatedPerformance": ESTIMATED},
            observed(probabilities=LOW_CONFIDENCE),
            ConditionStatus.TRUE,
            "EstimateBeyondBound",
            id="estimate-low",
        ),
        pytest.param(
            {"estimatedPerformance": ESTIMATED},
            observed(probabilities=HIGH_CONFIDENCE),
            ConditionStatus.FALSE,
            "WithinBound",
            id="estimate-within",
        ),
        pytest.param(
            {"estimatedPerformance": ESTIMATED},
            observed(),
            ConditionStatus.UNKNOWN,
            "InsufficientPredictions",
            id="estimate-unread",
        ),
        pytest.param(
            {"estimatedPerformance": {**ESTIMATED, "minSamples": 1000}},
            observed(probabilities=LOW_CONFIDENCE),
            ConditionStatus.UNKNOWN,
            "InsufficientPredictions",
            id="estimate-too-few",
        ),
        pytest.param(
            {"performance": MEASURED, "estimatedPerformance": ESTIMATED},
            observed(feedback=FEEDBACK, probabilities=LOW_CONFIDENCE),
            ConditionStatus.TRUE,
            "EstimateBeyondBound",
            id="either-beyond-is-enough",
        ),
        pytest.param(
            {"performance": {**MEASURED, "min": 0.8}, "estimatedPerformance": ESTIMATED},
            observed(feedback=FEEDBACK, probabilities=LOW_CONFIDENCE),
            ConditionStatus.TRUE,
            "BeyondBound",
            id="labels-named-first",
        ),
        pytest.param(
            {"performance": MEASURED, "estimatedPerformance": ESTIMATED},
            observed(probabilities=HIGH_CONFIDENCE),
            ConditionStatus.FALSE,
            "WithinBound",
            id="estimate-within-feedback-unread",
        ),
    ],
)
def test_performance_degraded_by_measure_or_estimate(
    fields: dict[str, Any], seen: Observed, status: ConditionStatus, reason: str
) -> None:
    evaluation = run(spec(**fields), seen)
    degraded = get_condition(
        evaluation.status.conditions, DriftMonitorConditionType.PERFORMANCE_DEGRADED
    )
    assert degraded is not None
    assert (degraded.status, degraded.reason) == (status, reason)
    assert evaluation.status.state == DriftState.OK


def test_the_estimate_and_its_reference_are_in_status_and_message() -> None:
    monitor = spec(estimatedPerformance={"metric": "Accuracy"})
    evaluation = run(monitor, observed(probabilities=LOW_CONFIDENCE), metrics={"accuracy": 0.9})
    estimate = evaluation.status.estimated_performance
    assert estimate is not None
    assert (estimate.value, estimate.reference, estimate.samples) == (0.7, 0.9, 400)
    assert estimate.level == Level.CRITICAL
    assert "estimated Accuracy 0.7 against the reference 0.9, more than 0.05 below" in (
        evaluation.status.message
    )


@dataclass(frozen=True)
class Step:
    """One evaluation: what was seen and what the monitor says after it."""

    seen: Observed | None
    """None: Prometheus could not be read."""
    state: DriftState
    critical_streak: int
    clean_streak: int


CRITICAL, CLEAN = observed(amount=AMOUNT_SHIFTED), observed()
WARNED = observed(amount=[2, 60, 140, 98, 0])
SPARSE = observed(amount=[0, 1, 1, 1, 0], country=[5, 2, 1])
S = DriftState


@pytest.mark.parametrize(
    "steps",
    [
        pytest.param(
            [
                Step(CRITICAL, S.WARNING, 1, 0),
                Step(CRITICAL, S.DRIFTED, 2, 0),
                Step(CLEAN, S.DRIFTED, 0, 1),
                Step(CRITICAL, S.DRIFTED, 1, 0),
                Step(CLEAN, S.DRIFTED, 0, 1),
                Step(CLEAN, S.OK, 0, 2),
            ],
            id="enter-after-two-leave-after-two-clean",
        ),
        pytest.param(
            [
                Step(CRITICAL, S.WARNING, 1, 0),
                Step(CLEAN, S.OK, 0, 1),
                Step(CRITICAL, S.WARNING, 1, 0),
                Step(CLEAN, S.OK, 0, 1),
                Step(CRITICAL, S.WARNING, 1, 0),
            ],
            id="flapping-never-drifts",
        ),
        pytest.param(
            [
                Step(CRITICAL, S.WARNING, 1, 0),
                Step(WARNED, S.WARNING, 0, 0),
                Step(CRITICAL, S.WARNING, 1, 0),
            ],
            id="a-warning-breaks-the-critical-streak",
        ),
        pytest.param(
            [
                Step(CRITICAL, S.WARNING, 1, 0),
                Step(None, S.UNKNOWN, 1, 0),
                Step(SPARSE, S.INSUFFICIENT_DATA, 1, 0),
                Step(CRITICAL, S.DRIFTED, 2, 0),
            ],
            id="missing-data-neither-advances-nor-resets",
        ),
        pytest.param(
            [
                Step(CRITICAL, S.WARNING, 1, 0),
                Step(CRITICAL, S.DRIFTED, 2, 0),
                Step(None, S.UNKNOWN, 2, 0),
                Step(CLEAN, S.DRIFTED, 0, 1),
                Step(SPARSE, S.INSUFFICIENT_DATA, 0, 1),
                Step(CLEAN, S.OK, 0, 2),
            ],
            id="drifted-resumes-after-a-gap",
        ),
        pytest.param(
            [Step(None, S.UNKNOWN, 0, 0), Step(None, S.UNKNOWN, 0, 0)],
            id="never-drifted-from-missing-data",
        ),
    ],
)
def test_hysteresis_step_by_step(steps: list[Step]) -> None:
    monitor = spec(hysteresis={"enterAfter": 2, "exitAfter": 2})
    status = DriftMonitorStatus()
    for number, expected in enumerate(steps):
        at = START + timedelta(minutes=5 * number)
        if expected.seen is None:
            evaluation = unknown(
                monitor, status, "v1", Unreadable.PROMETHEUS_UNAVAILABLE, "down", at, 4
            )
        else:
            evaluation = run(monitor, expected.seen, status, at=at)
        status = evaluation.status
        got = (status.state, status.critical_streak, status.clean_streak)
        assert got == (expected.state, expected.critical_streak, expected.clean_streak), (
            f"after evaluation {number + 1}: {status.message}"
        )


def test_since_and_the_change_move_only_when_the_state_does() -> None:
    first = run(spec(), observed(), at=START)
    assert first.change == StateChange(None, DriftState.OK)
    second = run(spec(), observed(), first.status, at=START + timedelta(minutes=5))
    assert second.change is None
    assert (second.status.since, second.status.last_evaluation) == (
        START,
        START + timedelta(minutes=5),
    )
    third = run(spec(), CRITICAL, second.status, at=START + timedelta(minutes=10))
    assert third.change == StateChange(DriftState.OK, DriftState.WARNING)
    assert third.status.since == START + timedelta(minutes=10)


def test_a_new_stable_version_starts_the_streaks_afresh() -> None:
    monitor = spec(hysteresis={"enterAfter": 2})
    first = run(monitor, CRITICAL, version="v1")
    second = run(monitor, CRITICAL, first.status, version="v2")
    assert (second.status.state, second.status.critical_streak) == (DriftState.WARNING, 1)
    assert second.status.model_version == "v2"


def condition(evaluation: Evaluation, kind: DriftMonitorConditionType) -> tuple[str, str]:
    found = get_condition(evaluation.status.conditions, kind)
    assert found is not None
    return found.status.value, found.reason


def test_conditions_follow_the_state() -> None:
    monitor = spec(hysteresis={"enterAfter": 1})
    drifted = run(monitor, CRITICAL)
    assert condition(drifted, DriftMonitorConditionType.DRIFTED) == ("True", "Drifted")
    assert condition(drifted, DriftMonitorConditionType.READY) == ("True", "Evaluated")
    gone = unknown(
        monitor,
        drifted.status,
        "v1",
        Unreadable.PROMETHEUS_UNAVAILABLE,
        "Prometheus at http://p:9090 unreachable: connection refused",
        START,
        4,
    )
    assert gone.status.state == DriftState.UNKNOWN
    assert condition(gone, DriftMonitorConditionType.DRIFTED) == ("Unknown", "WasDrifted")
    assert condition(gone, DriftMonitorConditionType.READY) == ("False", "PrometheusUnavailable")
    assert gone.status.message == (
        "Unknown: Prometheus at http://p:9090 unreachable: connection refused"
    )
    assert gone.status.features == []


def test_the_message_names_what_drifted_and_why() -> None:
    monitor = spec(hysteresis={"enterAfter": 1})
    evaluation = run(monitor, observed(amount=AMOUNT_SHIFTED, country=[5, 2, 1]))
    score = evaluation.status.features[0].score
    assert score is not None
    assert evaluation.status.message == (
        "Drifted: critical in 1 evaluations in a row; "
        f"amount critical: PSI {score:.3g}; country: 8 samples, 90 needed"
    )


def test_features_that_cannot_be_judged_are_named() -> None:
    monitor = spec(
        features=[
            {"name": "country", "method": "KS", "warning": 0.1, "critical": 0.2},
            {"name": "age", "method": "PSI", "warning": 0.1, "critical": 0.2},
        ]
    )
    seen = observed(misaligned={"amount": "the live histogram has no bucket le=3"})
    message = run(monitor, seen).status.message
    assert "amount not judged: the live histogram has no bucket le=3" in message
    assert "country not judged: KS needs a numeric feature" in message
    assert "not in the reference profile: age" in message


def test_the_ks_message_gives_both_bounds() -> None:
    monitor = spec(byType={"numeric": {"method": "KS", "warning": 0.05, "critical": 0.1}})
    evaluation = run(monitor, CRITICAL)
    bounds = statistics.ks_bounds(
        np.asarray(AMOUNT_REFERENCE, np.float64), np.asarray(AMOUNT_SHIFTED, np.float64)
    )
    assert evaluation.status.features[0].score == pytest.approx(bounds.lower)
    assert f"KS {bounds.lower:.3g} (at most {bounds.upper:.3g} unbinned)" in (
        evaluation.status.message
    )
    assert math.isfinite(bounds.upper)


@pytest.mark.parametrize(
    ("notes", "expected"),
    [
        pytest.param([], "Warning", id="headline-only"),
        pytest.param(["a", "b"], "Warning; a; b", id="all-fit"),
        pytest.param(
            ["x" * 1000, "y" * 30, "z"], "Warning; " + "x" * 1000 + "; and 2 more", id="cut"
        ),
        pytest.param(["x" * 2000], "Warning; and 1 more", id="one-too-long"),
    ],
)
def test_the_message_fits_the_status_field(notes: list[str], expected: str) -> None:
    message = fit_message("Warning", notes)
    assert message == expected
    assert len(message) <= 1024


def test_many_drifted_features_still_give_a_valid_status() -> None:
    features: list[NumericProfile | CategoricalProfile] = [
        NumericProfile(
            name=f"feature-with-a-long-name-{i}",
            edges=[0.0, 1.0, 2.0, 3.0],
            counts=AMOUNT_REFERENCE,
            missing=0,
            mean=1.5,
            std=0.8,
        )
        for i in range(60)
    ]
    shifted = Observed(
        features={
            f.name: FeatureCounts(np.asarray(AMOUNT_SHIFTED, dtype=np.float64)) for f in features
        }
    )
    profile = Profile(rows=3000, features=features)
    evaluation = evaluate(spec(), DriftMonitorStatus(), profile, "v1", shifted, START, 1)
    assert len(evaluation.status.message) <= 1024
    assert evaluation.status.message.endswith(" more")
    assert len(evaluation.status.features) == 60
