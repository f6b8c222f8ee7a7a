"""Drift scores: each feature, custom metric and the performance judged, and the outcome.

Pure statistics, no state. Each feature gets its test (its own entry in spec.features,
else its type's, unless excluded), a score, and a level: by score for mode Fixed, by
p-value for ChiSquare and for mode SampleSizeAware, after the multiple-testing
correction over all p-value tests. The evaluation as a whole is Critical (by the
share-of-features rule, or a custom metric), Warning, OK, InsufficientData (nothing had
enough data) or Unknown (no data could be read). What the state becomes is `state`'s.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from modelkeeper.api.driftmonitor import (
    Correction,
    CustomDriftMetric,
    Direction,
    DriftMethod,
    DriftMonitorSpec,
    DriftTest,
    EstimatedMetric,
    EstimatedPerformance,
    EstimatedPerformanceStatus,
    FeatureScore,
    Level,
    MetricScore,
    Performance,
    PerformanceMetric,
    PerformanceStatus,
    ThresholdMode,
)
from modelkeeper.drift import statistics
from modelkeeper.drift.estimate import expected_accuracy, expected_roc_auc
from modelkeeper.drift.queries import FeatureCounts, Feedback, Observed, Probabilities
from modelkeeper.drift.statistics import NullMethod
from modelkeeper.profile import FeatureKind, FeatureProfile, NumericProfile, Profile

MIN_SAMPLES_PER_BIN = 30
"""Without spec.minSamples a feature needs 30 live samples per bin to be judged."""


class Outcome(StrEnum):
    """What one evaluation found, before hysteresis."""

    OK = "OK"
    WARNING = "Warning"
    CRITICAL = "Critical"
    INSUFFICIENT_DATA = "InsufficientData"
    UNKNOWN = "Unknown"


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
    DriftMethod.CHI_SQUARE: NullMethod.CHI_SQUARE,
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
            if test.mode is ThresholdMode.FIXED:
                return (
                    test_result.statistic,
                    test_result.p_value,
                    f"chi-square {test_result.statistic:.3g}",
                )
            score = test_result.statistic
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


REFERENCE_METRICS = {EstimatedMetric.ACCURACY: "accuracy", EstimatedMetric.ROC_AUC: "roc_auc"}
"""The Model's spec.metrics entry an estimate is compared with, without spec.reference."""


def _estimate(metric: EstimatedMetric, probabilities: Probabilities) -> float | None:
    if metric is EstimatedMetric.ACCURACY:
        return expected_accuracy(probabilities.confidence_sum, probabilities.rows)
    auc = expected_roc_auc(probabilities.score) if probabilities.score is not None else None
    return auc.value if auc is not None else None


def judge_estimate(
    estimated: EstimatedPerformance,
    probabilities: Probabilities | None,
    model_metrics: Mapping[str, float],
) -> tuple[EstimatedPerformanceStatus, str]:
    """The estimate against its reference: Critical more than maxDrop below it; and a note."""
    metric = estimated.metric
    name = REFERENCE_METRICS[metric]
    reference = estimated.reference
    if reference is None:
        reference = model_metrics.get(name)
    rows = probabilities.rows if probabilities is not None else 0.0
    base = EstimatedPerformanceStatus(
        metric=metric, reference=reference, samples=round(rows), level=Level.INSUFFICIENT_DATA
    )
    label = f"estimated {metric.value}"
    if reference is None:
        return base, (
            f"{label}: no reference: set spec.estimatedPerformance.reference or the "
            f"Model's spec.metrics.{name}"
        )
    if probabilities is None or rows < estimated.min_samples:
        return (
            base,
            f"{label}: {rows:.0f} predictions with probabilities, {estimated.min_samples} needed",
        )
    value = _estimate(metric, probabilities)
    if value is None:
        return base, f"{label}: the window's probabilities expect a single class"
    degraded = value < reference - estimated.max_drop
    status = base.model_copy(
        update={"value": value, "level": Level.CRITICAL if degraded else Level.OK}
    )
    bound = f", more than {estimated.max_drop:g} below" if degraded else ""
    return status, f"{label} {value:.4g} against the reference {reference:.4g}{bound}"


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
