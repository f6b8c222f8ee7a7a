"""An A/B test read from Prometheus: each version's outcomes since the split, and the decision.

The scoring servers count, per version, the outcomes feedback carries (count, sum and sum
of squares: enough for a mean and a variance) beside the labels' correct rows and errors
(docs/metrics.md). Each reading takes what each version counted since the split began,
exactly (`counted_since`: a difference of two samples, since a sum of outcomes may fall),
and `decide` applies the always-valid test of `sequential`: promote, roll back, stop as
Inconclusive at maxSamples, or continue. Pure: queries out, samples in, a status out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from modelkeeper.analysis.judge import number, text
from modelkeeper.analysis.sequential import Comparison, Moments, compare, power
from modelkeeper.analysis.templates import Subject, server
from modelkeeper.api.deployment import ArmStatus, ExperimentDecision, ExperimentStatus
from modelkeeper.api.strategy import ABTest, Direction, OutcomeMetric, OutcomeSource, OutcomeType
from modelkeeper.prometheus.promql import Sample, counted_since, duration, selector, single

ROWS = "modelkeeper_feedback_rows_total"
STATISTICS: Mapping[OutcomeSource, tuple[str, str, str]] = {
    OutcomeSource.FEEDBACK: (
        "modelkeeper_feedback_outcome_count",
        "modelkeeper_feedback_outcome_sum",
        "modelkeeper_feedback_outcome_squares_total",
    ),
    # A 0/1 outcome is its own square.
    OutcomeSource.CORRECT: (
        ROWS,
        "modelkeeper_feedback_correct_total",
        "modelkeeper_feedback_correct_total",
    ),
    OutcomeSource.ABSOLUTE_ERROR: (
        ROWS,
        "modelkeeper_feedback_absolute_error_total",
        "modelkeeper_feedback_squared_error_total",
    ),
}
"""Per source, the series of the outcomes' count, sum and sum of squares."""


@dataclass(frozen=True)
class Verdict:
    decision: ExperimentDecision
    comparison: Comparison | None
    message: str


def experiment_queries(metric: OutcomeMetric, subject: Subject) -> tuple[str, ...]:
    """Count, sum and squares since the split began (`subject.window` ago): the stable
    version's three, then the candidate's."""
    window = duration(subject.window)
    return tuple(
        counted_since(selector(series, server(subject, version)), window)
        for version in (subject.stable, subject.candidate)
        for series in STATISTICS[metric.source]
    )


def moments(answers: Sequence[Sequence[Sample]]) -> Moments:
    """One version's statistics from the answers to its three queries (no series: 0)."""
    count, total, squares = (single([answer]) or 0.0 for answer in answers)
    return Moments(count, total, squares)


def _is_binary(arm: Moments) -> bool:
    """0/1 outcomes: each is its own square, so the sums agree."""
    return abs(arm.squares - arm.total) <= 1e-9 * max(1.0, abs(arm.total))


def decide(spec: ABTest, champion: Moments, challenger: Moments) -> Verdict:
    """What the test says after these outcomes (counted since the split began)."""
    kind, direction = spec.metric.resolved()
    samples = int(min(champion.count, challenger.count))
    if min(champion.count, challenger.count) < 0:
        return Verdict(
            ExperimentDecision.CONTINUE,
            None,
            "a counter fell since the split began (a scoring server restarted?)",
        )
    if samples < spec.min_samples:
        return Verdict(
            ExperimentDecision.CONTINUE,
            None,
            f"{samples} of the {spec.min_samples} outcomes per version the first decision needs",
        )
    binary = kind is OutcomeType.BINARY
    if binary and not (_is_binary(champion) and _is_binary(challenger)):
        return Verdict(
            ExperimentDecision.CONTINUE,
            None,
            "the outcomes are not all 0 or 1: set metric.type Continuous",
        )
    comparison = compare(
        champion, challenger, tau=spec.minimum_detectable_effect, alpha=spec.alpha, binary=binary
    )
    figures = (
        f"effect {comparison.effect:+.4g} ({number(comparison.lower)} to "
        f"{number(comparison.upper)}), p {number(comparison.p_value)}"
    )
    if comparison.p_value <= spec.alpha:
        better = (comparison.effect > 0) == (direction is Direction.HIGHER)
        side = "better" if better else "worse"
        decision = ExperimentDecision.PROMOTE if better else ExperimentDecision.ROLL_BACK
        return Verdict(
            decision,
            comparison,
            f"the challenger is {side}: {figures} <= alpha {number(spec.alpha)}, "
            f"after {samples} outcomes per version",
        )
    if samples >= spec.max_samples:
        return Verdict(
            ExperimentDecision.INCONCLUSIVE,
            comparison,
            f"no difference found by {spec.max_samples} outcomes per version: {figures}",
        )
    return Verdict(
        ExperimentDecision.CONTINUE,
        comparison,
        f"{figures}; {samples} of at most {spec.max_samples} outcomes per version",
    )


def design_power(spec: ABTest, champion: Moments, challenger: Moments) -> float | None:
    """The chance of detecting minimumDetectableEffect by maxSamples, at the variances seen
    so far and the split's proportions; None before both versions have outcomes."""
    smaller = min(champion.count, challenger.count)
    if smaller <= 0:
        return None
    binary = spec.metric.resolved()[0] is OutcomeType.BINARY
    scale = spec.max_samples / smaller
    variance = sum(arm.variance(binary) / (arm.count * scale) for arm in (champion, challenger))
    effect = spec.minimum_detectable_effect
    return power(effect, variance, tau=effect, alpha=spec.alpha)


def _arm(version: str, arm: Moments) -> ArmStatus:
    return ArmStatus(
        version=version,
        samples=max(round(arm.count), 0),
        mean=arm.mean if arm.count > 0 else None,
    )


def judge_experiment(
    spec: ABTest,
    subject: Subject,
    answers: Sequence[Sequence[Sample]],
    previous: ExperimentStatus | None,
    now: datetime,
) -> ExperimentStatus:
    """The reading from the answers to `experiment_queries`, in their order; the p-value is
    the smallest of this test's readings (always valid, as the paper defines it)."""
    champion, challenger = moments(answers[:3]), moments(answers[3:])
    verdict = decide(spec, champion, challenger)
    comparison = verdict.comparison
    since = now - subject.window
    earlier = _same_test(previous, subject, since)
    p_value = None if comparison is None else comparison.p_value
    if earlier is not None and earlier.p_value is not None and p_value is not None:
        p_value = min(p_value, earlier.p_value)
    return ExperimentStatus(
        time=now,
        since=since,
        champion=_arm(subject.stable, champion),
        challenger=_arm(subject.candidate, challenger),
        effect=None if comparison is None else comparison.effect,
        lower=None if comparison is None else comparison.lower,
        upper=None if comparison is None else comparison.upper,
        p_value=p_value,
        power=design_power(spec, champion, challenger),
        samples=max(int(min(champion.count, challenger.count)), 0),
        max_samples=spec.max_samples,
        decision=verdict.decision,
        message=text(verdict.message),
    )


def _same_test(
    previous: ExperimentStatus | None, subject: Subject, since: datetime
) -> ExperimentStatus | None:
    """The previous reading if it is of this test (same challenger, same start)."""
    if (
        previous is None
        or previous.challenger.version != subject.candidate
        or previous.since != since
    ):
        return None
    return previous


def experiment_unavailable(
    spec: ABTest,
    subject: Subject,
    previous: ExperimentStatus | None,
    problem: str,
    now: datetime,
) -> ExperimentStatus:
    """A reading that could not be taken (Prometheus unreachable): the last figures of this
    test stay, the decision waits for the next interval."""
    since = now - subject.window
    earlier = _same_test(previous, subject, since) or ExperimentStatus(
        time=now,
        since=since,
        champion=ArmStatus(version=subject.stable),
        challenger=ArmStatus(version=subject.candidate),
        max_samples=spec.max_samples,
    )
    return earlier.model_copy(
        update={
            "time": now,
            "decision": ExperimentDecision.CONTINUE,
            "message": text(f"outcomes not read: {problem}"),
        }
    )
