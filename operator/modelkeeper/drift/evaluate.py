"""One DriftMonitor evaluation: live counts and the reference profile in, the next status out.

Pure. Each feature gets its test (its own entry in spec.features, else its type's,
unless excluded), a score, and a level: by score for mode Fixed, by p-value for
ChiSquare and for mode SampleSizeAware, after the multiple-testing correction over all
p-value tests. The evaluation as a whole is Critical (by the share-of-features rule, or
a custom metric), Warning, OK, InsufficientData (nothing had enough data) or Unknown (no
data could be read). Hysteresis then moves the state: Drifted after enterAfter Critical
evaluations in a row, back after exitAfter OK ones. An InsufficientData or Unknown
evaluation neither advances nor resets the streaks, so a gap in the data never turns
into Drifted, nor out of it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import numpy as np

from modelkeeper.api.conditions import ConditionStatus, get_condition, set_condition
from modelkeeper.api.driftmonitor import (
    Correction,
    CustomDriftMetric,
    Direction,
    DriftMethod,
    DriftMonitorConditionType,
    DriftMonitorSpec,
    DriftMonitorStatus,
    DriftState,
    DriftTest,
    FeatureScore,
    Level,
    MetricScore,
    Performance,
    PerformanceMetric,
    PerformanceStatus,
    ThresholdMode,
)
from modelkeeper.drift import statistics
from modelkeeper.drift.queries import FeatureCounts, Feedback, Observed
from modelkeeper.drift.statistics import NullMethod
from modelkeeper.profile import FeatureKind, FeatureProfile, NumericProfile, Profile

MIN_SAMPLES_PER_BIN = 30
"""Without spec.minSamples a feature needs 30 live samples per bin to be judged."""
MAX_MESSAGE = 1024
"""status.message's limit; notes beyond it are counted, and status.features has them all."""
WAS_DRIFTED = "WasDrifted"
"""The Drifted condition's reason while data is missing after Drifted: hysteresis resumes
from Drifted when data comes back."""


class Outcome(StrEnum):
    """What one evaluation found, before hysteresis."""

    OK = "OK"
    WARNING = "Warning"
    CRITICAL = "Critical"
    INSUFFICIENT_DATA = "InsufficientData"
    UNKNOWN = "Unknown"


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


def chosen_test(spec: DriftMonitorSpec, feature: FeatureProfile) -> DriftTest | None:
    """The feature's test: None when excluded, else its own entry, else its type's."""
    if feature.name in spec.exclude:
        return None
    own = next((test for test in spec.features if test.name == feature.name), None)
    if own is not None:
        return own
    if feature.kind is FeatureKind.NUMERIC:
        return spec.by_type.numeric
    return spec.by_type.categorical


def by_p_value(test: DriftTest) -> bool:
    """Whether warning and critical are p-values: ChiSquare always, others in SampleSizeAware
    (Wasserstein has no null distribution: always by score)."""
    if test.method is DriftMethod.CHI_SQUARE:
        return True
    return test.mode is ThresholdMode.SAMPLE_SIZE_AWARE and test.method is not (
        DriftMethod.WASSERSTEIN
    )


_NULL_METHODS = {
    DriftMethod.PSI: NullMethod.PSI,
    DriftMethod.JENSEN_SHANNON: NullMethod.JENSEN_SHANNON,
    DriftMethod.KS: NullMethod.KS,
}
_NUMERIC_ONLY = (DriftMethod.KS, DriftMethod.WASSERSTEIN)


@dataclass(frozen=True)
class _Scored:
    """One judged feature before the multiple-testing correction."""

    test: DriftTest
    score: FeatureScore
    detail: str
    """The score in words, for the message."""


def _score(
    feature: FeatureProfile, test: DriftTest, reference: statistics.Counts, live: statistics.Counts
) -> tuple[float, float | None, str]:
    """(score, raw p-value or None, detail) of one feature with enough data."""
    method = test.method
    detail = ""
    match method:
        case DriftMethod.PSI:
            score = statistics.psi(reference, live)
        case DriftMethod.JENSEN_SHANNON:
            score = statistics.jensen_shannon(reference, live)
        case DriftMethod.KS:
            bounds = statistics.ks_bounds(reference, live)
            score = bounds.lower
            detail = f" (at most {bounds.upper:.3g} unbinned)"
        case DriftMethod.CHI_SQUARE:
            test_result = statistics.chi_square(reference, live)
            return (
                test_result.statistic,
                test_result.p_value,
                f"chi-square {test_result.statistic:.3g}",
            )
        case DriftMethod.WASSERSTEIN:
            assert isinstance(feature, NumericProfile)
            edges = np.asarray(feature.edges, dtype=np.float64)
            score = statistics.wasserstein(reference, live, edges, feature.std)
    if not by_p_value(test):
        return score, None, f"{method.value} {score:.3g}{detail}"
    bins = statistics.kept_bins(reference, live)
    null = _NULL_METHODS[method]
    n, m = float(reference.sum()), float(live.sum())
    p = statistics.p_value(null, score, n, m, bins)
    chance = statistics.threshold(null, test.critical, n, m, bins)
    return (
        score,
        p,
        (
            f"{method.value} {score:.3g}{detail}, chance alone reaches {chance:.3g} at rate "
            f"{test.critical:g} in a window this size"
        ),
    )


def _feature(
    spec: DriftMonitorSpec, feature: FeatureProfile, test: DriftTest, live: FeatureCounts | None
) -> _Scored:
    reference = np.asarray(feature.counts, dtype=np.float64)
    bins = live.bins if live is not None else np.zeros(reference.size)
    samples = float(bins.sum())
    needed = spec.min_samples or MIN_SAMPLES_PER_BIN * reference.size
    name, method = feature.name, test.method
    if samples < needed or reference.sum() <= 0:
        missing = f", {live.missing:.0f} missing" if live is not None and live.missing else ""
        return _Scored(
            test,
            FeatureScore(
                name=name,
                method=method,
                samples=round(samples),
                level=Level.INSUFFICIENT_DATA,
            ),
            f"{samples:.0f} samples{missing}, {needed} needed",
        )
    score, p, detail = _score(feature, test, reference, bins)
    return _Scored(
        test,
        FeatureScore(
            name=name,
            method=method,
            score=score,
            p_value=p,
            samples=round(samples),
            level=Level.OK,  # set once p-values are corrected
        ),
        detail,
    )


def correct(p_values: Sequence[float], correction: Correction) -> list[float]:
    """The p-values after the correction for testing them together."""
    values = np.asarray(p_values, dtype=np.float64)
    match correction:
        case Correction.NONE:
            corrected = values
        case Correction.BONFERRONI:
            corrected = statistics.bonferroni(values)
        case Correction.BENJAMINI_HOCHBERG:
            corrected = statistics.benjamini_hochberg(values)
    return [float(value) for value in corrected]


def _level(test: DriftTest, score: FeatureScore) -> Level:
    if score.p_value is not None:
        if score.p_value < test.critical:
            return Level.CRITICAL
        return Level.WARNING if score.p_value < test.warning else Level.OK
    assert score.score is not None, "a judged feature has a score"
    if score.score >= test.critical:
        return Level.CRITICAL
    return Level.WARNING if score.score >= test.warning else Level.OK


def judge_features(
    spec: DriftMonitorSpec, profile: Profile, observed: Observed
) -> tuple[list[FeatureScore], list[str]]:
    """Every watched feature's score and level, and notes on what could not be judged."""
    notes: list[str] = []
    scored: list[_Scored] = []
    for feature in profile.features:
        test = chosen_test(spec, feature)
        if test is None:
            continue
        if test.method in _NUMERIC_ONLY and not isinstance(feature, NumericProfile):
            notes.append(f"{feature.name} not judged: {test.method.value} needs a numeric feature")
            continue
        if feature.name in observed.misaligned:
            notes.append(f"{feature.name} not judged: {observed.misaligned[feature.name]}")
            continue
        scored.append(_feature(spec, feature, test, observed.features.get(feature.name)))
    unknown = sorted({test.name for test in spec.features} - {f.name for f in profile.features})
    if unknown:
        notes.append(f"not in the reference profile: {', '.join(unknown)}")
    tested = [item for item in scored if item.score.p_value is not None]
    corrected = correct(
        [item.score.p_value or 0.0 for item in tested], spec.multiple_testing.correction
    )
    adjusted = {item.score.name: p for item, p in zip(tested, corrected, strict=True)}
    results: list[FeatureScore] = []
    for item in scored:
        score = item.score
        if score.level is Level.INSUFFICIENT_DATA:
            results.append(score)
            notes.append(f"{score.name}: {item.detail}")
            continue
        score = score.model_copy(update={"p_value": adjusted.get(score.name)})
        level = _level(item.test, score)
        results.append(score.model_copy(update={"level": level}))
        if level is not Level.OK:
            p = f", p {score.p_value:.3g}" if score.p_value is not None else ""
            notes.append(f"{score.name} {level.value.lower()}: {item.detail}{p}")
    return results, notes


def judge_metric(metric: CustomDriftMetric, value: float | None) -> MetricScore:
    """A custom metric's level by its direction: Above drifts upwards, Below downwards."""
    if value is None:
        return MetricScore(name=metric.name, level=Level.INSUFFICIENT_DATA)
    sign = 1.0 if metric.direction is Direction.ABOVE else -1.0
    if sign * value >= sign * metric.critical:
        level = Level.CRITICAL
    elif metric.warning is not None and sign * value >= sign * metric.warning:
        level = Level.WARNING
    else:
        level = Level.OK
    return MetricScore(name=metric.name, value=value, level=level)


_FROM_FEEDBACK: dict[PerformanceMetric, Callable[[Feedback], float]] = {
    PerformanceMetric.ACCURACY: lambda f: f.correct / f.rows,
    PerformanceMetric.MAE: lambda f: f.absolute_error / f.rows,
    PerformanceMetric.RMSE: lambda f: math.sqrt(f.squared_error / f.rows),
}
"""The metrics the scoring server's feedback counters give; Precision, Recall and F1 need
per-class counts it does not export."""


def judge_performance(
    performance: Performance, feedback: Feedback | None
) -> tuple[PerformanceStatus, str]:
    """Quality from feedback against its bound: Critical beyond it; and a note for the message."""
    rows = feedback.rows if feedback is not None else 0.0
    metric = performance.metric
    base = PerformanceStatus(metric=metric, samples=round(rows), level=Level.INSUFFICIENT_DATA)
    compute = _FROM_FEEDBACK.get(metric)
    if compute is None:
        return base, f"{metric.value} needs per-class feedback counters the server does not export"
    if feedback is None or rows < performance.min_samples:
        return base, f"{metric.value}: {rows:.0f} feedback rows, {performance.min_samples} needed"
    value = float(compute(feedback))
    if performance.min is not None:
        degraded = value < performance.min
        bound = f"below min {performance.min:g}" if degraded else ""
    else:
        assert performance.max is not None, "the schema requires max for MAE and RMSE"
        degraded = value > performance.max
        bound = f"above max {performance.max:g}" if degraded else ""
    level = Level.CRITICAL if degraded else Level.OK
    status = base.model_copy(update={"value": value, "level": level})
    return status, f"{metric.value} {value:.4g} {bound}".strip()


def outcome_of(
    spec: DriftMonitorSpec, features: Sequence[FeatureScore], metrics: Sequence[MetricScore]
) -> Outcome:
    """Critical when the share of judged features that are Critical reaches driftedShare (any
    one without it) or a custom metric is Critical; Warning for anything less but not OK;
    InsufficientData when nothing could be judged."""
    levels = [*(f.level for f in features), *(m.level for m in metrics)]
    judged = [level for level in levels if level is not Level.INSUFFICIENT_DATA]
    if not judged:
        return Outcome.INSUFFICIENT_DATA
    feature_levels = [f.level for f in features if f.level is not Level.INSUFFICIENT_DATA]
    critical_features = feature_levels.count(Level.CRITICAL)
    share = spec.multiple_testing.drifted_share
    features_critical = critical_features > 0 and (
        share is None or critical_features >= share * len(feature_levels)
    )
    if features_critical or any(m.level is Level.CRITICAL for m in metrics):
        return Outcome.CRITICAL
    if any(level in (Level.WARNING, Level.CRITICAL) for level in judged):
        return Outcome.WARNING
    return Outcome.OK


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


def _performance_condition(
    spec: DriftMonitorSpec, performance: PerformanceStatus | None, note: str
) -> Verdict:
    if spec.performance is None:
        return ConditionStatus.FALSE, "NotWatched", "spec.performance is not set"
    if performance is None:
        return ConditionStatus.UNKNOWN, "NoData", note
    if performance.level is Level.CRITICAL:
        return ConditionStatus.TRUE, "BeyondBound", note
    if performance.level is Level.INSUFFICIENT_DATA:
        return ConditionStatus.UNKNOWN, "InsufficientFeedback", note
    return ConditionStatus.FALSE, "WithinBound", note


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
        *_performance_condition(spec, found.performance, found.performance_note),
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
) -> Evaluation:
    """The next status after one evaluation of `version`'s live counts against `profile`.

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
