"""Verdicts from query results: each check's, and the whole run's.

Missing data is neither success nor failure: a check with no data, or a run with too
few candidate requests, is Inconclusive, and the rollout's state machine decides what
that means (the analysis's onMissingData). Counting failures towards failureLimit is
the state machine's as well; a run only says what it saw.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from modelkeeper.analysis.templates import Check, Measure, Plan
from modelkeeper.api.deployment import AnalysisPhase, AnalysisStatus, MetricResult
from modelkeeper.prometheus.promql import MeasureError, Sample

TEXT_LIMIT = 1024
"""The longest message status takes (api.types.Text)."""


def text(message: str) -> str:
    """A message cut to what status takes."""
    return message if len(message) <= TEXT_LIMIT else message[: TEXT_LIMIT - 1] + "…"


def number(value: float) -> str:
    return f"{value:.4g}"


def measure(what: Measure, results: Mapping[str, Sequence[Sample]]) -> float | None:
    """A measure's value from the answers to the run's queries."""
    return what.compute([results[query] for query in what.queries])


def judge_value(check: Check, value: float | None) -> MetricResult:
    """Inconclusive without data; Failed out of bounds; otherwise Successful."""
    if value is None:
        return MetricResult(
            name=check.name,
            phase=AnalysisPhase.INCONCLUSIVE,
            message=text(f"no data for {check.label}"),
        )
    shown = f"{check.label} {number(value)}"
    if check.min is not None and value < check.min:
        phase, message = AnalysisPhase.FAILED, f"{shown} below min {number(check.min)}"
    elif check.max is not None and value > check.max:
        phase, message = AnalysisPhase.FAILED, f"{shown} above max {number(check.max)}"
    else:
        bounds = [
            f"{name} {number(bound)}"
            for name, bound in (("min", check.min), ("max", check.max))
            if bound is not None
        ]
        phase, message = AnalysisPhase.SUCCESSFUL, f"{shown} within {' and '.join(bounds)}"
    return MetricResult(name=check.name, phase=phase, value=value, message=text(message))


def judge_check(check: Check, results: Mapping[str, Sequence[Sample]]) -> MetricResult:
    """A check's verdict from the run's answers; an answer of the wrong shape is Inconclusive."""
    try:
        value = measure(check.measure, results)
    except MeasureError as error:
        return MetricResult(
            name=check.name,
            phase=AnalysisPhase.INCONCLUSIVE,
            message=text(f"{check.label}: {error}"),
        )
    return judge_value(check, value)


def overall(results: Iterable[MetricResult]) -> AnalysisPhase:
    """Failed if any check failed, else Inconclusive if any was, else Successful."""
    phases = {result.phase for result in results}
    for phase in (AnalysisPhase.FAILED, AnalysisPhase.INCONCLUSIVE):
        if phase in phases:
            return phase
    return AnalysisPhase.SUCCESSFUL


def judge_run(
    plan: Plan,
    results: Mapping[str, Sequence[Sample]],
    min_requests: int,
    time: datetime,
) -> AnalysisStatus:
    """The whole run: every check judged, all Inconclusive below min_requests."""
    measured = measure(plan.requests, results)
    requests = None if measured is None else round(measured)
    checks = [judge_check(check, results) for check in plan.checks]
    if (requests or 0) < min_requests:
        too_few = f"{requests or 0} of {min_requests} requests"
        inconclusive = {"phase": AnalysisPhase.INCONCLUSIVE, "message": too_few}
        checks = [check.model_copy(update=inconclusive) for check in checks]
        return AnalysisStatus(
            time=time,
            phase=AnalysisPhase.INCONCLUSIVE,
            requests=requests,
            message=too_few,
            metrics=checks,
        )
    phase = overall(checks)
    if phase is AnalysisPhase.SUCCESSFUL:
        message = f"all {len(checks)} checks passed"
    else:
        message = "; ".join(check.message for check in checks if check.phase is phase)
    return AnalysisStatus(
        time=time, phase=phase, requests=requests, message=text(message), metrics=checks
    )


def judge_unavailable(names: Iterable[str], problem: str, time: datetime) -> AnalysisStatus:
    """A run that could not measure (Prometheus unreachable, a query that cannot be made):
    every check Inconclusive, for the reason given."""
    reason = text(problem)
    return AnalysisStatus(
        time=time,
        phase=AnalysisPhase.INCONCLUSIVE,
        message=reason,
        metrics=[
            MetricResult(name=name, phase=AnalysisPhase.INCONCLUSIVE, message=reason)
            for name in names
        ],
    )
