"""One DriftMonitor evaluation: live counts and the reference profile in, the next status out.

Pure. `scoring` judges each feature, custom metric and the performance, and what the
evaluation as a whole found (its `Outcome`); this module turns that into the next
status. Hysteresis moves the state: Drifted after enterAfter Critical evaluations in a
row, back after exitAfter OK ones. An InsufficientData or Unknown evaluation neither
advances nor resets the streaks, so a gap in the data never turns into Drifted, nor out
of it. Then the conditions (Ready, Drifted, PerformanceDegraded) and the message, with
as many notes on what was found as fit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from modelkeeper.api.conditions import ConditionStatus, get_condition, set_condition
from modelkeeper.api.driftmonitor import (
    DriftMonitorConditionType,
    DriftMonitorSpec,
    DriftMonitorStatus,
    DriftState,
    EstimatedPerformanceStatus,
    FeatureScore,
    Level,
    MetricScore,
    PerformanceStatus,
)
from modelkeeper.drift.queries import Observed
from modelkeeper.drift.scoring import (
    Outcome,
    judge_estimate,
    judge_features,
    judge_metric,
    judge_performance,
    outcome_of,
)
from modelkeeper.profile import Profile

MAX_MESSAGE = 1024
"""status.message's limit; notes beyond it are counted, and status.features has them all."""
WAS_DRIFTED = "WasDrifted"
"""The Drifted condition's reason while data is missing after Drifted: hysteresis resumes
from Drifted when data comes back."""


class Unreadable(StrEnum):
    """Why a monitor could not evaluate: the Ready condition's reason."""

    DEPLOYMENT_NOT_FOUND = "DeploymentNotFound"
    NO_STABLE_VERSION = "NoStableVersion"
    MODEL_NOT_FOUND = "ModelNotFound"
    NO_REFERENCE = "NoReference"
    REFERENCE_IN_IMAGE = "ReferenceInImage"
    PROFILE_UNREADABLE = "ProfileUnreadable"
    QUERY_INVALID = "QueryInvalid"
    PROMETHEUS_UNAVAILABLE = "PrometheusUnavailable"
    NO_SERIES = "NoSeries"


@dataclass(frozen=True)
class StateChange:
    """The monitor moved from one state to another."""

    previous: DriftState | None
    current: DriftState


@dataclass(frozen=True)
class Evaluation:
    """The next status, what the evaluation found, and the state change if any."""

    status: DriftMonitorStatus
    outcome: Outcome
    change: StateChange | None


def _was_drifted(previous: DriftMonitorStatus) -> bool:
    """Whether the last judged state was Drifted, across evaluations without data."""
    if previous.state is DriftState.DRIFTED:
        return True
    condition = get_condition(previous.conditions, DriftMonitorConditionType.DRIFTED)
    return condition is not None and condition.reason == WAS_DRIFTED


@dataclass(frozen=True)
class _Hysteresis:
    state: DriftState
    critical_streak: int
    clean_streak: int
    drifted: bool
    """Whether the last judged state is Drifted (kept through missing data)."""


def step(
    spec: DriftMonitorSpec, previous: DriftMonitorStatus, version: str | None, outcome: Outcome
) -> _Hysteresis:
    """The streaks and state after one evaluation. A new stable version starts afresh: its
    reference is another one."""
    same_version = previous.model_version == version
    critical = previous.critical_streak if same_version else 0
    clean = previous.clean_streak if same_version else 0
    drifted = same_version and _was_drifted(previous)
    match outcome:
        case Outcome.UNKNOWN:
            return _Hysteresis(DriftState.UNKNOWN, critical, clean, drifted)
        case Outcome.INSUFFICIENT_DATA:
            return _Hysteresis(DriftState.INSUFFICIENT_DATA, critical, clean, drifted)
        case Outcome.CRITICAL:
            critical, clean = critical + 1, 0
        case Outcome.WARNING:
            critical, clean = 0, 0
        case Outcome.OK:
            critical, clean = 0, clean + 1
    hysteresis = spec.hysteresis
    if critical >= hysteresis.enter_after or (drifted and clean < hysteresis.exit_after):
        return _Hysteresis(DriftState.DRIFTED, critical, clean, True)
    state = DriftState.OK if outcome is Outcome.OK else DriftState.WARNING
    return _Hysteresis(state, critical, clean, False)


def _state_message(next_state: _Hysteresis, spec: DriftMonitorSpec, outcome: Outcome) -> str:
    hysteresis = spec.hysteresis
    match next_state.state:
        case DriftState.DRIFTED if outcome is Outcome.CRITICAL:
            return f"Drifted: critical in {next_state.critical_streak} evaluations in a row"
        case DriftState.DRIFTED:
            return (
                f"Drifted: {next_state.clean_streak} of {hysteresis.exit_after} clean "
                "evaluations needed to return to OK"
            )
        case DriftState.WARNING if outcome is Outcome.CRITICAL:
            return (
                f"Warning: critical in {next_state.critical_streak} of "
                f"{hysteresis.enter_after} evaluations in a row needed for Drifted"
            )
        case DriftState.WARNING:
            return "Warning"
        case DriftState.INSUFFICIENT_DATA:
            return "InsufficientData: no feature or metric had enough data to judge"
        case _:
            return next_state.state.value


Verdict = tuple[ConditionStatus, str, str]
"""A condition's status, reason and message."""


def _verdict(level: Level | None, note: str, beyond: str, insufficient: str) -> Verdict:
    """A performance judgement's verdict: `beyond` and `insufficient` are its reasons."""
    if level is None:
        return ConditionStatus.UNKNOWN, "NoData", note
    if level is Level.CRITICAL:
        return ConditionStatus.TRUE, beyond, note
    if level is Level.INSUFFICIENT_DATA:
        return ConditionStatus.UNKNOWN, insufficient, note
    return ConditionStatus.FALSE, "WithinBound", note


def _performance_condition(spec: DriftMonitorSpec, found: _Findings) -> Verdict:
    """True when the measured or the estimated performance is beyond its bound (the measured
    one first: labels beat estimates), False when a watched one is within and none beyond,
    else Unknown."""
    verdicts = []
    if spec.performance is not None:
        level = found.performance.level if found.performance is not None else None
        note = found.performance_note
        verdicts.append(_verdict(level, note, "BeyondBound", "InsufficientFeedback"))
    if spec.estimated_performance is not None:
        level = found.estimated.level if found.estimated is not None else None
        note = found.estimated_note
        verdicts.append(_verdict(level, note, "EstimateBeyondBound", "InsufficientPredictions"))
    if not verdicts:
        return (
            ConditionStatus.FALSE,
            "NotWatched",
            "neither spec.performance nor spec.estimatedPerformance is set",
        )
    rank = {ConditionStatus.TRUE: 0, ConditionStatus.FALSE: 1, ConditionStatus.UNKNOWN: 2}
    status, reason, _ = min(verdicts, key=lambda verdict: rank[verdict[0]])
    return status, reason, "; ".join(verdict[2] for verdict in verdicts)


def _drifted_condition(next_state: _Hysteresis) -> Verdict:
    if next_state.state is DriftState.DRIFTED:
        return ConditionStatus.TRUE, "Drifted", "the live inputs drifted from the reference"
    if next_state.state in (DriftState.UNKNOWN, DriftState.INSUFFICIENT_DATA):
        reason = WAS_DRIFTED if next_state.drifted else "NoData"
        return ConditionStatus.UNKNOWN, reason, "no data to judge drift by"
    return ConditionStatus.FALSE, "NotDrifted", "the live inputs match the reference"


def fit_message(headline: str, notes: Sequence[str]) -> str:
    """The headline and as many notes as fit in MAX_MESSAGE, then how many were left out.

    A note goes in only with room left for "; and N more" after it, so the count of the
    notes left out always fits.
    """
    message = headline
    for shown, note in enumerate(notes):
        left = len(notes) - shown
        longer = f"{message}; {note}"
        tail = f"; and {left - 1} more" if left > 1 else ""
        if len(longer) + len(tail) > MAX_MESSAGE:
            return f"{message}; and {left} more"[:MAX_MESSAGE]
        message = longer
    return message[:MAX_MESSAGE]


@dataclass(frozen=True)
class _Findings:
    """Everything one evaluation found, before hysteresis."""

    outcome: Outcome
    ready: Verdict
    features: Sequence[FeatureScore] = ()
    metrics: Sequence[MetricScore] = ()
    performance: PerformanceStatus | None = None
    performance_note: str = "no feedback could be read"
    estimated: EstimatedPerformanceStatus | None = None
    estimated_note: str = "no probabilities could be read"
    notes: Sequence[str] = ()


def _conclude(
    spec: DriftMonitorSpec,
    previous: DriftMonitorStatus,
    version: str | None,
    found: _Findings,
    now: datetime,
    generation: int | None,
) -> Evaluation:
    """The whole next status from what was found: hysteresis, conditions and message."""
    next_state = step(spec, previous, version, found.outcome)
    kinds = DriftMonitorConditionType
    conditions = set_condition(previous.conditions, kinds.READY, *found.ready, now, generation)
    conditions = set_condition(
        conditions, kinds.DRIFTED, *_drifted_condition(next_state), now, generation
    )
    conditions = set_condition(
        conditions,
        kinds.PERFORMANCE_DEGRADED,
        *_performance_condition(spec, found),
        now,
        generation,
    )
    headline = _state_message(next_state, spec, found.outcome)
    if found.outcome is Outcome.UNKNOWN:
        headline = f"Unknown: {found.ready[2]}"
    message = fit_message(headline, found.notes)
    state = next_state.state
    status = DriftMonitorStatus(
        observed_generation=generation,
        state=state,
        since=previous.since if previous.state is state and previous.since else now,
        last_evaluation=now,
        model_version=version,
        critical_streak=next_state.critical_streak,
        clean_streak=next_state.clean_streak,
        features=list(found.features),
        custom_metrics=list(found.metrics),
        performance=found.performance,
        estimated_performance=found.estimated,
        message=message,
        conditions=conditions,
    )
    change = None if previous.state is state else StateChange(previous.state, state)
    return Evaluation(status, found.outcome, change)


def evaluate(
    spec: DriftMonitorSpec,
    previous: DriftMonitorStatus,
    profile: Profile,
    version: str,
    observed: Observed,
    now: datetime,
    generation: int | None,
    model_metrics: Mapping[str, float] | None = None,
) -> Evaluation:
    """The next status after one evaluation of `version`'s live counts against `profile`;
    `model_metrics` (the Model's spec.metrics) give an estimate its reference.

    No feature series at all (nothing scraped, or the wrong labels) is Unknown, not
    InsufficientData: Prometheus has no idea of this version's traffic, not a small one.
    """
    if profile.features and not observed.features and not observed.misaligned:
        return unknown(
            spec,
            previous,
            version,
            Unreadable.NO_SERIES,
            f"Prometheus has no feature counters of version {version}: are its scoring "
            "servers scraped, with labels namespace, deployment and version?",
            now,
            generation,
        )
    features, notes = judge_features(spec, profile, observed)
    metrics = [judge_metric(m, observed.custom.get(m.name)) for m in spec.custom_metrics]
    notes += [
        f"{m.name} {m.level.value.lower()}: {m.value:.4g}"
        for m in metrics
        if m.value is not None and m.level is not Level.OK
    ]
    notes += [f"{m.name}: no data" for m in metrics if m.value is None]
    performance, performance_note = None, ""
    if spec.performance is not None:
        performance, performance_note = judge_performance(spec.performance, observed.feedback)
        if performance.level is not Level.OK:
            notes.append(performance_note)
    estimated, estimated_note = None, ""
    if spec.estimated_performance is not None:
        estimated, estimated_note = judge_estimate(
            spec.estimated_performance, observed.probabilities, model_metrics or {}
        )
        if estimated.level is not Level.OK:
            notes.append(estimated_note)
    judged = sum(f.level is not Level.INSUFFICIENT_DATA for f in features)
    ready = (
        ConditionStatus.TRUE,
        "Evaluated",
        f"{judged} of {len(features)} features of version {version} judged",
    )
    found = _Findings(
        outcome=outcome_of(spec, features, metrics),
        ready=ready,
        features=features,
        metrics=metrics,
        performance=performance,
        performance_note=performance_note,
        estimated=estimated,
        estimated_note=estimated_note,
        notes=[*notes, *observed.notes],
    )
    return _conclude(spec, previous, version, found, now, generation)


def unknown(
    spec: DriftMonitorSpec,
    previous: DriftMonitorStatus,
    version: str | None,
    reason: Unreadable,
    message: str,
    now: datetime,
    generation: int | None,
) -> Evaluation:
    """The next status when nothing could be evaluated: Unknown, Ready False with `reason`;
    the streaks are kept."""
    found = _Findings(Outcome.UNKNOWN, (ConditionStatus.FALSE, reason.value, message))
    return _conclude(spec, previous, version, found, now, generation)
