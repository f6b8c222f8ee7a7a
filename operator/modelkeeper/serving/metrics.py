"""The scoring server's Prometheus metrics, counted per batch and summed over worker processes.

prometheus_client's own metric objects cost a lock and a Python call per series
on the hot path, and its multiprocess mode writes a file per sample. Instead,
every counter here is one slot of a flat float64 row; each worker process owns
one row of a matrix in shared memory and adds whole-batch numpy counts into it
(one writer per row, so no lock). A scrape, served by whichever worker gets it,
sums the rows and hands families to prometheus_client only for formatting.
Names and labels are documented in docs/metrics.md.
"""

from __future__ import annotations

import bisect
import math
import mmap
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import accumulate
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from prometheus_client.core import (
    CounterMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar, Sample, Timestamp
from prometheus_client.utils import floatToGoString

from modelkeeper.profile import (
    OTHER_CATEGORY,
    CategoricalProfile,
    NumericProfile,
    Profile,
    padded_edges,
)
from modelkeeper.serving.feedback import FeedbackScore
from modelkeeper.serving.frames import AnyArray, FeatureBatch, FloatMatrix, Prediction
from modelkeeper.serving.schema import ModelSchema
from modelkeeper.serving.settings import ServerSettings

FloatRow = npt.NDArray[np.float64]
# What can be added into a row: booleans (a value is in a bucket), integers, floats.
Counts = npt.NDArray[np.bool_ | np.integer[Any] | np.floating[Any]]
# Prometheus's own float formatting for `le` labels (shortest round-trip form, "+Inf").
format_bound: Callable[[float], str] = floatToGoString

STATUS_CODES = (200, 400, 404, 405, 413, 422, 500, 503)
# Any other status is counted as code="other".
STATUS_LABELS = (*map(str, STATUS_CODES), "other")
# gRPC status names of V2 gRPC inference calls (`ModelInfer`); any other is code="other".
GRPC_CODES = ("OK", "INVALID_ARGUMENT", "NOT_FOUND", "INTERNAL", "UNAVAILABLE", "CANCELLED")
GRPC_LABELS = (*GRPC_CODES, "other")
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
BASE_LABELS = ("deployment", "model", "version", "role")
CONFIDENCE_BUCKETS = tuple(round(0.05 * step, 2) for step in range(1, 21))
"""A classifier's probability of its own prediction, 0.05 apart: its mean is the expected
accuracy (docs/metrics.md, "Estimated performance")."""
SCORE_BUCKETS = tuple(round(0.02 * step, 2) for step in range(1, 51))
"""A binary classifier's probability of its second class, 0.02 apart, for the expected ROC
AUC: the narrower the bins, the closer to the per-row value."""


class Endpoint(StrEnum):
    INFER = "infer"
    FEEDBACK = "feedback"


class _Allocator:
    """Hands out consecutive slices of the per-worker row."""

    def __init__(self) -> None:
        self.size = 0

    def take(self, length: int) -> slice:
        start, self.size = self.size, self.size + length
        return slice(start, self.size)


@dataclass(frozen=True)
class _Histogram:
    """A slice of `len(edges) + 1` bin counts (the last is the overflow) followed by the sum."""

    edges: tuple[float, ...]
    slots: slice
    bounds: FloatRow = field(init=False, compare=False, repr=False)
    """`edges` as an array, for whole batches."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "bounds", np.asarray(self.edges, dtype=np.float64))

    @property
    def counts(self) -> slice:
        return slice(self.slots.start, self.slots.stop - 1)

    @property
    def sum(self) -> int:
        return int(self.slots.stop - 1)

    @staticmethod
    def allocate(allocator: _Allocator, edges: Sequence[float]) -> _Histogram:
        return _Histogram(tuple(edges), allocator.take(len(edges) + 2))

    def observe(self, row: FloatRow, value: float) -> None:
        row[self.slots.start + bisect.bisect_left(self.edges, value)] += 1
        row[self.sum] += value


class Layout:
    """Where every series lives in a worker's row; derived from the schema order and profile."""

    def __init__(
        self,
        profile: Profile,
        numeric: Sequence[str],
        categorical: Sequence[str],
        classes: AnyArray | None,
    ) -> None:
        allocator = _Allocator()
        self.requests = allocator.take(len(Endpoint) * len(STATUS_LABELS))
        self.latency = {
            endpoint: _Histogram.allocate(allocator, LATENCY_BUCKETS) for endpoint in Endpoint
        }
        self.grpc_requests = allocator.take(len(GRPC_LABELS))
        self.grpc_latency = _Histogram.allocate(allocator, LATENCY_BUCKETS)
        self.batch_size = _Histogram.allocate(allocator, BATCH_SIZE_BUCKETS)

        self.numeric = [_profile_of(profile, name, NumericProfile) for name in numeric]
        self.categorical = [_profile_of(profile, name, CategoricalProfile) for name in categorical]
        # Numeric features are counted as Prometheus exports them, in cumulative buckets:
        # row i of `numeric_edges` holds feature i's edges, then +Inf, padded with +Inf to a
        # common width, so that one `value <= edge` comparison counts a whole batch (NaN, a
        # missing value, is <= nothing). Every exported series is a sum of slots, never a
        # difference, so a scrape that reads a row while its worker adds to it still sees
        # every series grow.
        self.numeric_edges = padded_edges([[*feature.edges, math.inf] for feature in self.numeric])
        self.numeric_buckets = allocator.take(self.numeric_edges.size)
        self.numeric_missing = allocator.take(len(self.numeric))
        self.numeric_sums = allocator.take(len(self.numeric))
        # One block per categorical feature: its categories, __other__, missing.
        blocks = [len(feature.categories) + 2 for feature in self.categorical]
        self.categories = allocator.take(sum(blocks))
        self.category_starts = list(accumulate(blocks, initial=0))[:-1]
        # Per categorical feature: slot by category (None: the missing one), and the __other__
        # slot, both within `categories`.
        self.category_slots: list[tuple[dict[str | None, int], int]] = []
        for start, feature in zip(self.category_starts, self.categorical, strict=True):
            slots: dict[str | None, int] = {
                category: start + index for index, category in enumerate(feature.categories)
            }
            slots[None] = start + len(feature.categories) + 1
            self.category_slots.append((slots, start + len(feature.categories)))

        self.classes = None if classes is None else [str(label) for label in classes.tolist()]
        self.class_index = (
            {}
            if classes is None
            else {label: index for index, label in enumerate(classes.tolist())}
        )
        self.class_counts = allocator.take(0 if classes is None else len(classes))
        target = profile.target if isinstance(profile.target, NumericProfile) else None
        self.prediction_value = _Histogram.allocate(
            allocator, target.edges if target is not None and classes is None else []
        )
        # Probabilities: the predicted class's for every classifier, the second class's
        # (score) with its sum per bin (mass) for a binary one.
        classifier, binary = classes is not None, classes is not None and len(classes) == 2
        self.confidence = _Histogram.allocate(allocator, CONFIDENCE_BUCKETS if classifier else [])
        self.score = _Histogram.allocate(allocator, SCORE_BUCKETS if binary else [])
        self.score_mass = allocator.take(len(self.score.edges) + 1 if binary else 0)
        self.feedback_rows, self.feedback_correct, self.absolute_error, self.squared_error = (
            allocator.take(1).start for _ in range(4)
        )
        self.outcomes, self.outcome_sum, self.outcome_squares = (
            allocator.take(1).start for _ in range(3)
        )
        self.size = allocator.size

    @staticmethod
    def of(schema: ModelSchema, profile: Profile, classes: AnyArray | None) -> Layout:
        """The layout of a model's metrics: its inputs in schema order, its classes."""
        return Layout(
            profile,
            [spec.name for spec in schema.numeric],
            [spec.name for spec in schema.categorical],
            classes,
        )

    @property
    def request_series(self) -> slice:
        """The request counters (REST and gRPC, with their latency): first in every layout,
        at the same slots whatever the model."""
        return slice(0, self.batch_size.slots.start)

    def request_slot(self, endpoint: Endpoint, status_label: str) -> int:
        """The slot counting `endpoint`'s responses with one of STATUS_LABELS."""
        position = list(Endpoint).index(endpoint) * len(STATUS_LABELS)
        return int(self.requests.start + position + STATUS_LABELS.index(status_label))


FeatureT = TypeVar("FeatureT", NumericProfile, CategoricalProfile)


def _profile_of(profile: Profile, name: str, kind: type[FeatureT]) -> FeatureT:
    feature = profile.feature(name)
    if not isinstance(feature, kind):
        raise ValueError(f"profile: feature {name!r} is missing or not {kind.__name__}")
    return feature


def base_labels(settings: ServerSettings) -> dict[str, str]:
    """The labels every series of a model's server carries (BASE_LABELS)."""
    return {
        "deployment": settings.deployment,
        "model": settings.model_name,
        "version": settings.model_version,
        "role": settings.role,
    }


def shared_rows(workers: int, size: int) -> FloatMatrix:
    """A zeroed (workers, size) matrix in anonymous shared memory, inherited by forked workers."""
    memory = mmap.mmap(-1, max(1, workers * size) * 8)
    return np.frombuffer(memory, dtype=np.float64)[: workers * size].reshape(workers, size)


class WorkerMetrics:
    """One worker's counters: the hot path adds into its own row."""

    def __init__(self, layout: Layout, row: FloatRow) -> None:
        self.layout = layout
        self.row = row
        # Views of this worker's row, added into in place (`row[a:b] += x` would copy back).
        self.numeric_buckets = row[layout.numeric_buckets].reshape(layout.numeric_edges.shape)
        self.numeric_missing = row[layout.numeric_missing]
        self.numeric_sums = row[layout.numeric_sums]
        self.category_counts = row[layout.categories]

    def record_request(self, endpoint: Endpoint, status: int, seconds: float) -> None:
        label = str(status) if status in STATUS_CODES else STATUS_LABELS[-1]
        self.row[self.layout.request_slot(endpoint, label)] += 1
        self.layout.latency[endpoint].observe(self.row, seconds)

    def record_grpc(self, code: str, seconds: float) -> None:
        """One V2 gRPC inference call, by the name of its gRPC status."""
        label = code if code in GRPC_CODES else GRPC_LABELS[-1]
        self.row[self.layout.grpc_requests.start + GRPC_LABELS.index(label)] += 1
        self.layout.grpc_latency.observe(self.row, seconds)

    def record_batch(
        self,
        batch: FeatureBatch,
        prediction: Prediction,
        count_features: bool,
        count_probabilities: bool = False,
    ) -> None:
        """Count one model call: its size, its predictions and, if asked, every input's bins
        and a classifier's probabilities."""
        layout, row = self.layout, self.row
        layout.batch_size.observe(row, batch.rows)
        if count_features:
            self._count_features(batch)
        if layout.classes is not None:
            indices = [layout.class_index[label] for label in prediction.labels.tolist()]
            row[layout.class_counts] += np.bincount(indices, minlength=len(layout.classes))
            if count_probabilities and prediction.probabilities is not None:
                self._count_probabilities(prediction.probabilities, indices)
        else:
            _add(row, layout.prediction_value, prediction.labels.astype(np.float64))

    def _count_probabilities(self, probabilities: FloatMatrix, predicted: list[int]) -> None:
        """The probability of each row's predicted class into the confidence histogram, and
        a binary classifier's second-class probability into the score bins with its sum."""
        layout, row = self.layout, self.row
        confidence = probabilities[np.arange(len(predicted)), predicted]
        _add(row, layout.confidence, confidence)
        if layout.score_mass.stop > layout.score_mass.start:
            score = probabilities[:, 1]
            bins = _add(row, layout.score, score)
            row[layout.score_mass] += np.bincount(
                bins, weights=score, minlength=len(layout.score.edges) + 1
            )

    def _count_features(self, batch: FeatureBatch) -> None:
        """Every input value of the batch into its buckets, a category by dictionary lookup.

        Most calls carry a row or a few, so what counts is the number of numpy calls:
        a few for all numeric features together, whatever their number.
        """
        layout = self.layout
        numeric = batch.numeric
        if numeric.shape[1]:
            self.numeric_buckets += _column_totals(
                numeric[:, :, np.newaxis] <= layout.numeric_edges
            )
            missing = np.isnan(numeric)  # inputs are validated: nothing else is non-finite
            self.numeric_missing += _column_totals(missing)
            self.numeric_sums += _column_totals(np.where(missing, 0.0, numeric))
        if layout.category_slots:
            slots = [
                category_slots.get(value, other)
                for (category_slots, other), values in zip(
                    layout.category_slots, batch.categorical.T.tolist(), strict=True
                )
                for value in values
            ]
            self.category_counts += np.bincount(slots, minlength=self.category_counts.size)

    def record_feedback(self, score: FeedbackScore) -> None:
        layout, row = self.layout, self.row
        row[layout.feedback_rows] += score.rows
        row[layout.feedback_correct] += score.correct
        row[layout.absolute_error] += score.absolute_error
        row[layout.squared_error] += score.squared_error
        row[layout.outcomes] += score.outcomes
        row[layout.outcome_sum] += score.outcome_sum
        row[layout.outcome_squares] += score.outcome_squares


def _add(row: FloatRow, histogram: _Histogram, values: FloatRow) -> npt.NDArray[np.intp]:
    """Count `values` into `histogram`'s bins and sum; returns each value's bin (the number
    of edges below it: `le` semantics, as `bin_indices`)."""
    bins: npt.NDArray[np.intp] = np.searchsorted(histogram.bounds, values, side="left")
    row[histogram.counts] += np.bincount(bins, minlength=len(histogram.edges) + 1)
    row[histogram.sum] += float(values.sum())
    return bins


def _column_totals(matrix: Counts) -> Counts:
    """Sums over the rows (axis 0); a single row is its own sum, at a fraction of `sum`'s cost."""
    totals: Counts = matrix[0] if len(matrix) == 1 else matrix.sum(axis=0)
    return totals


def _histogram_buckets(edges: Sequence[float], cumulative: FloatRow) -> list[tuple[str, float]]:
    """`le` buckets from cumulative counts: one per edge, then +Inf."""
    bounds = [format_bound(edge) for edge in edges] + ["+Inf"]
    return list(zip(bounds, cumulative.tolist(), strict=True))


class _HistogramFamily(HistogramMetricFamily):
    """A histogram whose `_count` is there even when a bucket bound is negative.

    prometheus_client then leaves out `_sum` and `_count` both, since a sum of negative
    values can fall and a counter must not; but the count cannot fall, and rows per second
    of an input feature (centred or standardised ones have negative bounds) come from it.
    """

    def add_metric(
        self,
        labels: Sequence[str],
        buckets: Sequence[tuple[str, float] | tuple[str, float, Exemplar]],
        sum_value: float | None,
        timestamp: Timestamp | float | None = None,
    ) -> None:
        super().add_metric(labels, buckets, sum_value, timestamp)
        if float(buckets[0][0]) < 0:
            count = buckets[-1][1]
            named = dict(zip(self._labelnames, labels, strict=True))
            self.samples.append(Sample(f"{self.name}_count", named, count, timestamp))


class ServerCollector(Collector):
    """Sums all workers' rows at scrape time and yields the metric families."""

    def __init__(self, layout: Layout, rows: FloatMatrix, labels: dict[str, str]) -> None:
        self._layout = layout
        self._rows = rows
        self._names = list(BASE_LABELS)
        self._values = [labels[name] for name in BASE_LABELS]

    def _counter(
        self, name: str, documentation: str, extra: Sequence[str] = ()
    ) -> CounterMetricFamily:
        return CounterMetricFamily(name, documentation, labels=[*self._names, *extra])

    def _histogram(
        self, name: str, documentation: str, extra: Sequence[str] = ()
    ) -> HistogramMetricFamily:
        return _HistogramFamily(name, documentation, labels=[*self._names, *extra])

    def _observe(
        self,
        family: HistogramMetricFamily,
        extra: Sequence[str],
        histogram: _Histogram,
        total: FloatRow,
    ) -> None:
        family.add_metric(
            [*self._values, *extra],
            _histogram_buckets(histogram.edges, np.cumsum(total[histogram.counts])),
            float(total[histogram.sum]),
        )

    def collect(self) -> Iterator[Metric]:
        layout, values = self._layout, self._values
        total = self._rows.sum(axis=0)

        requests = self._counter(
            "modelkeeper_requests",
            "Requests answered, by endpoint and HTTP status.",
            ("endpoint", "code"),
        )
        latency = self._histogram(
            "modelkeeper_request_duration_seconds", "Time from request to response.", ("endpoint",)
        )
        # Every code from the start, at 0 too: an error ratio (and its alert) needs the 5xx series.
        for endpoint in Endpoint:
            for status in STATUS_LABELS:
                count = float(total[layout.request_slot(endpoint, status)])
                requests.add_metric([*values, endpoint, status], count)
            self._observe(latency, [endpoint], layout.latency[endpoint], total)
        yield requests
        yield latency

        # gRPC apart, so that the REST series above are what they always were.
        grpc_requests = self._counter(
            "modelkeeper_grpc_requests",
            "V2 gRPC inference calls answered, by gRPC status.",
            ("code",),
        )
        for offset, code in enumerate(GRPC_LABELS):
            count = float(total[layout.grpc_requests.start + offset])
            grpc_requests.add_metric([*values, code], count)
        grpc_latency = self._histogram(
            "modelkeeper_grpc_request_duration_seconds",
            "Time from a V2 gRPC inference call to its answer.",
        )
        self._observe(grpc_latency, [], layout.grpc_latency, total)
        yield grpc_requests
        yield grpc_latency

        batch = self._histogram("modelkeeper_batch_size", "Rows per model call, after batching.")
        self._observe(batch, [], layout.batch_size, total)
        yield batch

        yield from self._features(total)
        yield from self._predictions(total)

    def _features(self, total: FloatRow) -> Iterator[Metric]:
        layout, values = self._layout, self._values
        numeric = self._histogram(
            "modelkeeper_feature_value",
            "Numeric input values, binned by the reference profile's edges; missing ones apart.",
            ("feature",),
        )
        categorical = self._counter(
            "modelkeeper_feature_category",
            "Categorical input values by the reference profile's top categories and __other__.",
            ("feature", "category"),
        )
        missing = self._counter(
            "modelkeeper_feature_missing", "Missing (null) input values.", ("feature",)
        )
        buckets = total[layout.numeric_buckets].reshape(layout.numeric_edges.shape)
        for feature, cumulative, missing_count, value_sum in zip(
            layout.numeric,
            buckets,
            total[layout.numeric_missing].tolist(),
            total[layout.numeric_sums].tolist(),
            strict=True,
        ):
            numeric.add_metric(
                [*values, feature.name],
                _histogram_buckets(feature.edges, cumulative[: len(feature.edges) + 1]),
                value_sum,
            )
            missing.add_metric([*values, feature.name], missing_count)
        counts = total[layout.categories]
        for start, categories in zip(layout.category_starts, layout.categorical, strict=True):
            for offset, category in enumerate([*categories.categories, OTHER_CATEGORY]):
                categorical.add_metric(
                    [*values, categories.name, category], float(counts[start + offset])
                )
            missing.add_metric(
                [*values, categories.name], float(counts[start + len(categories.categories) + 1])
            )
        yield numeric
        yield categorical
        yield missing

    def _predictions(self, total: FloatRow) -> Iterator[Metric]:
        layout, values = self._layout, self._values
        if layout.classes is not None:
            classes = self._counter(
                "modelkeeper_predictions", "Predicted rows by class.", ("class",)
            )
            for label, count in zip(
                layout.classes, total[layout.class_counts].tolist(), strict=True
            ):
                classes.add_metric([*values, label], count)
            yield classes
            yield from self._probabilities(total)
        else:
            histogram = self._histogram(
                "modelkeeper_prediction_value",
                "Predicted values, binned by the reference profile's target edges.",
            )
            self._observe(histogram, [], layout.prediction_value, total)
            yield histogram
        feedback = [
            (
                "modelkeeper_feedback_rows",
                "Predicted rows joined with a ground-truth label.",
                layout.feedback_rows,
            ),
        ]
        if layout.classes is not None:
            feedback.append(
                (
                    "modelkeeper_feedback_correct",
                    "Joined rows predicted correctly.",
                    layout.feedback_correct,
                )
            )
        else:
            feedback.append(
                (
                    "modelkeeper_feedback_absolute_error",
                    "Sum of |prediction - label| over joined rows.",
                    layout.absolute_error,
                )
            )
            feedback.append(
                (
                    "modelkeeper_feedback_squared_error",
                    "Sum of (prediction - label)^2 over joined rows.",
                    layout.squared_error,
                )
            )
        feedback.append(
            (
                "modelkeeper_feedback_outcome_squares",
                "Sum of the squares of the outcomes feedback carried.",
                layout.outcome_squares,
            )
        )
        for name, documentation, slot in feedback:
            family = self._counter(name, documentation)
            family.add_metric(values, float(total[slot]))
            yield family
        # A summary without quantiles: count and sum of the outcomes. The sum falls when an
        # outcome is negative, so it is read as a difference since a moment, never by rate().
        outcomes = SummaryMetricFamily(
            "modelkeeper_feedback_outcome",
            "Outcomes feedback carried (a reward, a conversion), one per row: count and sum.",
            labels=self._names,
        )
        outcomes.add_metric(values, int(total[layout.outcomes]), float(total[layout.outcome_sum]))
        yield outcomes

    def _probabilities(self, total: FloatRow) -> Iterator[Metric]:
        """What performance estimation (CBPE) reads: see docs/metrics.md."""
        layout, values = self._layout, self._values
        confidence = self._histogram(
            "modelkeeper_prediction_confidence",
            "The probability a classifier gave its own prediction, for rows whose "
            "probabilities were computed.",
        )
        self._observe(confidence, [], layout.confidence, total)
        yield confidence
        if layout.score_mass.stop == layout.score_mass.start:
            return
        score = self._histogram(
            "modelkeeper_prediction_score",
            "A binary classifier's probability of its second class.",
        )
        self._observe(score, [], layout.score, total)
        yield score
        mass = self._counter(
            "modelkeeper_prediction_score_mass",
            "Sum of the second class's probability over rows whose probability is at most le.",
            ("le",),
        )
        cumulative = np.cumsum(total[layout.score_mass])
        for bound, value in _histogram_buckets(layout.score.edges, cumulative):
            mass.add_metric([*values, bound], value)
        yield mass
