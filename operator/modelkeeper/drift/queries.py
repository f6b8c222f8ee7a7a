"""The PromQL one drift evaluation sends, and its answers turned into counts per profile bin.

One query per counter family, never one per feature, so an evaluation of 50 features
costs three to six queries: the numeric histograms by (feature, le), the categorical
counters by (feature, category), the missing counters by feature, the feedback
counters, the probability counters an estimated metric reads, and each custom metric.
Each selects the stable version's scoring servers (`namespace`, `deployment`,
`version`) and sums over its pods. Parsing is exact about bins: a bucket is matched to a
profile edge by float value (the server writes `le` as the shortest round-trip
decimal), and cumulative buckets become bins as docs/metrics.md ("Input features") says.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

import numpy as np

from modelkeeper.api.driftmonitor import CustomDriftMetric, EstimatedMetric
from modelkeeper.drift.estimate import ScoreBins
from modelkeeper.drift.statistics import Counts
from modelkeeper.profile import OTHER_CATEGORY, CategoricalProfile, NumericProfile, Profile
from modelkeeper.prometheus.promql import (
    Sample,
    TemplateError,
    duration,
    escape,
    fill_placeholders,
    selector,
)

BUCKETS = "modelkeeper_feature_value_bucket"
CATEGORIES = "modelkeeper_feature_category_total"
MISSING = "modelkeeper_feature_missing_total"
CONFIDENCE = "modelkeeper_prediction_confidence"
SCORE_BUCKETS = "modelkeeper_prediction_score_bucket"
SCORE_MASS = "modelkeeper_prediction_score_mass_total"


class FeedbackCounter(StrEnum):
    """The scoring server's feedback counters, by the `counter` label the query gives them."""

    ROWS = "rows"
    CORRECT = "correct"
    ABSOLUTE_ERROR = "absolute_error"
    SQUARED_ERROR = "squared_error"


@dataclass(frozen=True)
class Target:
    """Whose counters, over which windows."""

    namespace: str
    deployment: str
    version: str
    window: timedelta
    feedback_window: timedelta
    estimate_window: timedelta


@dataclass(frozen=True)
class Queries:
    """Everything one evaluation asks Prometheus; None where the profile or spec needs nothing."""

    buckets: str | None
    categories: str | None
    missing: str
    feedback: str | None
    estimate: tuple[EstimatedMetric, str] | None
    """The estimated metric and the query of the probability counters it reads."""
    custom: Mapping[str, str]
    """Custom metric name -> its rendered query."""


def _servers(target: Target) -> dict[str, str]:
    return {
        "namespace": target.namespace,
        "deployment": target.deployment,
        "version": target.version,
    }


def _windowed(metric: str, by: str, target: Target, window: timedelta) -> str:
    """The increase of `metric` over `window`, summed over the version's pods, kept apart
    by the labels `by` (none: one sum)."""
    series = selector(metric, _servers(target))
    grouping = f" by ({by}) " if by else ""
    return f"sum{grouping}(increase({series}[{duration(window)}]))"


def _labelled(parts: Mapping[str, str]) -> str:
    """Several sums in one query, each told apart by its `counter` label."""
    return " or ".join(
        f'label_replace({query}, "counter", "{counter}", "", "")'
        for counter, query in parts.items()
    )


def feedback_query(target: Target) -> str:
    """The four feedback counters in one query, each sum labelled `counter`."""
    window = target.feedback_window
    return _labelled(
        {
            counter: _windowed(f"modelkeeper_feedback_{counter}_total", "", target, window)
            for counter in FeedbackCounter
        }
    )


def estimate_query(metric: EstimatedMetric, target: Target) -> str:
    """Accuracy: the confidence histogram's sum and count (counter `sum`, `count`). RocAuc:
    the score histogram's buckets and their probability sums by `le` (`rows`, `mass`)."""
    window = target.estimate_window
    if metric is EstimatedMetric.ACCURACY:
        return _labelled(
            {
                "sum": _windowed(f"{CONFIDENCE}_sum", "", target, window),
                "count": _windowed(f"{CONFIDENCE}_count", "", target, window),
            }
        )
    return _labelled(
        {
            "rows": _windowed(SCORE_BUCKETS, "le", target, window),
            "mass": _windowed(SCORE_MASS, "le", target, window),
        }
    )


def render_custom(metric: CustomDriftMetric, target: Target) -> str:
    """A custom metric's query with {{ namespace }}, {{ deployment }} and {{ window }} filled."""
    values = {
        "namespace": escape(target.namespace),
        "deployment": escape(target.deployment),
        "window": duration(target.window),
    }
    try:
        return fill_placeholders(metric.query, values)
    except TemplateError as error:
        raise TemplateError(f"{metric.name}: {error}") from None


def plan_queries(
    profile: Profile,
    custom: Sequence[CustomDriftMetric],
    performance: bool,
    estimated: EstimatedMetric | None,
    target: Target,
) -> Queries:
    """The queries of one evaluation. Raises TemplateError for a custom query that does not
    render, naming the metric."""
    kinds = {type(feature) for feature in profile.features}
    return Queries(
        buckets=_windowed(BUCKETS, "feature, le", target, target.window)
        if NumericProfile in kinds
        else None,
        categories=_windowed(CATEGORIES, "feature, category", target, target.window)
        if CategoricalProfile in kinds
        else None,
        missing=_windowed(MISSING, "feature", target, target.window),
        feedback=feedback_query(target) if performance else None,
        estimate=(estimated, estimate_query(estimated, target)) if estimated is not None else None,
        custom={metric.name: render_custom(metric, target) for metric in custom},
    )


@dataclass(frozen=True)
class FeatureCounts:
    """One feature's live counts in the window, bin for bin with its profile's counts."""

    bins: Counts
    missing: float = 0.0


@dataclass(frozen=True)
class Feedback:
    """The feedback counters' increase over the feedback window."""

    rows: float
    correct: float
    absolute_error: float
    squared_error: float


@dataclass(frozen=True)
class Probabilities:
    """The probability counters' increase over the estimate window."""

    rows: float
    """Predictions whose probabilities were counted."""
    confidence_sum: float = 0.0
    """Σ the probability of the predicted class (Accuracy)."""
    score: ScoreBins | None = None
    """The second class's probability, binned (RocAuc)."""


@dataclass(frozen=True)
class Observed:
    """What Prometheus answered for one evaluation, aligned with the profile."""

    features: Mapping[str, FeatureCounts]
    """The features with series, by name."""
    misaligned: Mapping[str, str] = field(default_factory=dict)
    """Features whose series do not fit the profile's bins, and why."""
    custom: Mapping[str, float | None] = field(default_factory=dict)
    """Custom metric name -> its value, None without data."""
    feedback: Feedback | None = None
    probabilities: Probabilities | None = None
    notes: tuple[str, ...] = ()
    """What went wrong with a custom metric, the feedback or the probabilities, for the
    message."""


def _by_feature(samples: Iterable[Sample]) -> dict[str, list[Sample]]:
    grouped: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        grouped[sample.labels.get("feature", "")].append(sample)
    return grouped


def numeric_bins(feature: NumericProfile, buckets: Sequence[Sample]) -> Counts | str:
    """Bins from cumulative buckets: bin 0 is bucket{le=edges[0]}, bin i is
    bucket{le=edges[i]} - bucket{le=edges[i-1]}, the overflow bin +Inf - bucket{le=edges[-1]}.
    Negative differences (buckets extrapolated apart by increase()) count as 0. A string
    says why the buckets do not fit the profile."""
    cumulative = {float(sample.labels.get("le", "nan")): sample.value for sample in buckets}
    wanted = [*feature.edges, float("inf")]
    absent = [edge for edge in wanted if edge not in cumulative]
    if absent:
        return (
            f"the live histogram has no bucket le={absent[0]!r}: its edges are not the "
            "reference profile's (is the server running another profile?)"
        )
    totals = np.array([cumulative[edge] for edge in wanted])
    bins: Counts = np.maximum(np.diff(totals, prepend=0.0), 0.0)
    return bins


def categorical_bins(feature: CategoricalProfile, counters: Sequence[Sample]) -> Counts:
    """Counts by the profile's categories, then `__other__` for every other category."""
    position = {category: index for index, category in enumerate(feature.categories)}
    other = len(feature.categories)
    bins: Counts = np.zeros(other + 1)
    for sample in counters:
        bins[position.get(sample.labels.get("category", OTHER_CATEGORY), other)] += max(
            sample.value, 0.0
        )
    return bins


def align(
    profile: Profile,
    buckets: Sequence[Sample],
    categories: Sequence[Sample],
    missing: Sequence[Sample],
) -> tuple[dict[str, FeatureCounts], dict[str, str]]:
    """Each profile feature's live counts, and the features whose series do not fit."""
    bucket_series, category_series = _by_feature(buckets), _by_feature(categories)
    missing_of = {sample.labels.get("feature", ""): sample.value for sample in missing}
    features: dict[str, FeatureCounts] = {}
    misaligned: dict[str, str] = {}
    for feature in profile.features:
        name = feature.name
        absent = max(missing_of.get(name, 0.0), 0.0)
        if isinstance(feature, NumericProfile):
            if name not in bucket_series:
                continue
            bins = numeric_bins(feature, bucket_series[name])
            if isinstance(bins, str):
                misaligned[name] = bins
                continue
        else:
            if name not in category_series:
                continue
            bins = categorical_bins(feature, category_series[name])
        features[name] = FeatureCounts(bins, absent)
    return features, misaligned


def parse_feedback(samples: Sequence[Sample]) -> Feedback:
    """The feedback query's answer; a counter without series counts 0."""
    values = {sample.labels.get("counter", ""): max(sample.value, 0.0) for sample in samples}
    return Feedback(*(values.get(counter.value, 0.0) for counter in FeedbackCounter))


def parse_probabilities(metric: EstimatedMetric, samples: Sequence[Sample]) -> Probabilities:
    """The estimate query's answer. RocAuc: cumulative buckets and sums become bins (negative
    differences, from increase()'s extrapolation, count 0); no series, no rows."""
    by_counter = defaultdict(list)
    for sample in samples:
        by_counter[sample.labels.get("counter", "")].append(sample)
    if metric is EstimatedMetric.ACCURACY:
        values = {counter: max(found[0].value, 0.0) for counter, found in by_counter.items()}
        return Probabilities(rows=values.get("count", 0.0), confidence_sum=values.get("sum", 0.0))
    rows = {float(s.labels.get("le", "nan")): s.value for s in by_counter["rows"]}
    mass = {float(s.labels.get("le", "nan")): s.value for s in by_counter["mass"]}
    bounds = sorted(rows)
    if not bounds:
        return Probabilities(rows=0.0)
    cumulative_rows = np.array([rows[bound] for bound in bounds])
    cumulative_mass = np.array([mass.get(bound, 0.0) for bound in bounds])
    bins = ScoreBins(
        edges=np.array(bounds[:-1]),
        rows=np.maximum(np.diff(cumulative_rows, prepend=0.0), 0.0),
        mass=np.maximum(np.diff(cumulative_mass, prepend=0.0), 0.0),
    )
    return Probabilities(rows=float(bins.rows.sum()), score=bins)
