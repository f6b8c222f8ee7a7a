"""An A/B test's reading: the queries it asks, the decision each set of outcomes gets, and
the status it writes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelkeeper.analysis.experiment import (
    decide,
    experiment_queries,
    experiment_unavailable,
    judge_experiment,
)
from modelkeeper.analysis.sequential import Moments
from modelkeeper.analysis.templates import Subject
from modelkeeper.api.deployment import ExperimentDecision
from modelkeeper.api.strategy import ABTest, OutcomeMetric
from modelkeeper.prometheus.promql import Sample

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SUBJECT = Subject("shop", "recs", "recs", stable="1", candidate="2", window=timedelta(minutes=5))
CONTINUE, PROMOTE, ROLL_BACK, INCONCLUSIVE = ExperimentDecision


def ab(**fields: Any) -> ABTest:
    return ABTest.model_validate(
        {"minimumDetectableEffect": 0.1, "minSamples": 100, "maxSamples": 1000} | fields
    )


def rate(count: int, share: float) -> Moments:
    """`count` 0/1 outcomes, `share` of them 1."""
    return Moments(count, count * share, count * share)


def scores(count: int, mean: float, sd: float) -> Moments:
    return Moments(count, count * mean, (count - 1) * sd * sd + count * mean * mean)


@pytest.mark.parametrize(
    ("spec", "champion", "challenger", "decision", "message"),
    [
        pytest.param(
            ab(),
            rate(500, 0.3),
            rate(99, 0.9),
            CONTINUE,
            "99 of the 100 outcomes per version the first decision needs",
            id="below-min-samples-nothing-is-decided",
        ),
        pytest.param(
            ab(), rate(400, 0.3), rate(400, 0.5), PROMOTE, "the challenger is better", id="better"
        ),
        pytest.param(
            ab(), rate(400, 0.5), rate(400, 0.3), ROLL_BACK, "the challenger is worse", id="worse"
        ),
        pytest.param(
            ab(metric={"direction": "Lower"}),
            rate(400, 0.5),
            rate(400, 0.3),
            PROMOTE,
            "the challenger is better",
            id="lower-is-better-flips-it",
        ),
        pytest.param(
            ab(metric={"source": "AbsoluteError"}),
            scores(400, 2.0, 1.0),
            scores(400, 1.5, 1.0),
            PROMOTE,
            "the challenger is better",
            id="smaller-absolute-error-is-better",
        ),
        pytest.param(
            ab(),
            rate(400, 0.30),
            rate(400, 0.31),
            CONTINUE,
            "400 of at most 1000 outcomes per version",
            id="undecided-continues",
        ),
        pytest.param(
            ab(),
            rate(1000, 0.30),
            rate(1000, 0.31),
            INCONCLUSIVE,
            "no difference found by 1000 outcomes per version",
            id="undecided-at-max-samples-is-inconclusive",
        ),
        pytest.param(
            ab(),
            scores(400, 3.0, 1.0),
            scores(400, 3.5, 1.0),
            CONTINUE,
            "the outcomes are not all 0 or 1: set metric.type Continuous",
            id="scores-under-a-binary-metric",
        ),
        pytest.param(
            ab(metric={"type": "Continuous"}),
            scores(400, 3.0, 1.0),
            scores(400, 3.5, 1.0),
            PROMOTE,
            "p ",
            id="scores-under-a-continuous-metric",
        ),
        pytest.param(
            ab(),
            Moments(-3, 0, 0),
            rate(400, 0.5),
            CONTINUE,
            "a counter fell",
            id="a-counter-reset",
        ),
    ],
)
def test_decisions(
    spec: ABTest, champion: Moments, challenger: Moments, decision: str, message: str
) -> None:
    verdict = decide(spec, champion, challenger)
    assert verdict.decision == decision
    assert message in verdict.message, verdict.message


@pytest.mark.parametrize(
    ("metric", "series"),
    [
        pytest.param(
            {},
            (
                "modelkeeper_feedback_outcome_count",
                "modelkeeper_feedback_outcome_sum",
                "modelkeeper_feedback_outcome_squares_total",
            ),
            id="feedback-outcomes",
        ),
        pytest.param(
            {"source": "Correct"},
            (
                "modelkeeper_feedback_rows_total",
                "modelkeeper_feedback_correct_total",
                "modelkeeper_feedback_correct_total",
            ),
            id="correct-labels",
        ),
    ],
)
def test_queries_count_each_version_since_the_split(
    metric: dict[str, str], series: tuple[str, ...]
) -> None:
    queries = experiment_queries(OutcomeMetric.model_validate(metric), SUBJECT)
    expected = tuple(
        f'sum({name}{{namespace="shop",deployment="recs",version="{version}"}} - '
        f'({name}{{namespace="shop",deployment="recs",version="{version}"}} offset 300s or '
        f'{name}{{namespace="shop",deployment="recs",version="{version}"}} * 0))'
        for version in ("1", "2")
        for name in series
    )
    assert queries == expected


def answers(*values: float | None) -> list[list[Sample]]:
    return [[] if value is None else [Sample({}, value)] for value in values]


def test_status_keeps_the_smallest_p_value_of_this_test() -> None:
    spec = ab(minSamples=10)
    first = judge_experiment(spec, SUBJECT, answers(200, 60, 60, 200, 80, 80), None, NOW)
    assert first.since == NOW - SUBJECT.window
    assert (first.champion.samples, first.challenger.samples, first.samples) == (200, 200, 200)
    assert (first.champion.mean, first.challenger.mean) == (0.3, 0.4)
    assert first.effect == pytest.approx(0.1)
    assert first.lower is not None
    assert first.upper is not None
    assert first.lower < 0.1 < first.upper
    assert first.p_value is not None
    assert first.power is not None
    assert first.max_samples == 1000

    later = NOW + timedelta(minutes=1)
    same = replace(SUBJECT, window=SUBJECT.window + timedelta(minutes=1))
    second = judge_experiment(spec, same, answers(260, 78, 78, 260, 80, 80), first, later)
    assert second.since == first.since
    assert second.p_value == first.p_value, "always valid: the smallest so far"

    other = replace(SUBJECT, candidate="3")
    fresh = judge_experiment(spec, other, answers(260, 78, 78, 260, 80, 80), first, NOW)
    assert fresh.p_value is not None
    assert fresh.p_value > first.p_value


def test_no_series_yet_is_no_outcomes() -> None:
    found = judge_experiment(ab(), SUBJECT, answers(None, None, None, 5, 1, 1), None, NOW)
    assert (found.champion.samples, found.champion.mean, found.challenger.samples) == (0, None, 5)
    assert (found.decision, found.power, found.effect) == (CONTINUE, None, None)


def test_unreachable_prometheus_keeps_the_figures_and_waits() -> None:
    spec = ab(minSamples=10)
    first = judge_experiment(spec, SUBJECT, answers(200, 60, 60, 200, 80, 80), None, NOW)
    later = NOW + timedelta(seconds=30)
    same = replace(SUBJECT, window=SUBJECT.window + timedelta(seconds=30))
    found = experiment_unavailable(spec, same, first, "Prometheus at http://p: refused", later)
    assert (found.time, found.decision, found.effect) == (later, CONTINUE, first.effect)
    assert found.message == "outcomes not read: Prometheus at http://p: refused"
    blank = experiment_unavailable(spec, SUBJECT, None, "refused", NOW)
    assert (blank.samples, blank.challenger.version, blank.effect) == (0, "2", None)
