"""The server's per-batch counters against a plain-Python reference, read back from the scrape.

The reference takes one value at a time: `bisect` over the profile's edges for a number
(bin i holds (edges[i-1], edges[i]], the profile's `le` rule), a dictionary lookup for
a category (anything else is __other__), NaN and None apart as missing. The server's
counts are read from the families its collector yields, so the whole-batch counting and
the scrape's reading of the worker rows are checked together.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from itertools import accumulate
from typing import Any

import numpy as np
import pytest

from modelkeeper.profile import OTHER_CATEGORY, CategoricalProfile, NumericProfile, Profile
from modelkeeper.serving.frames import FeatureBatch, Prediction
from modelkeeper.serving.metrics import (
    Endpoint,
    Layout,
    ServerCollector,
    WorkerMetrics,
    format_bound,
    shared_rows,
)

LABELS = {"deployment": "d", "model": "m", "version": "1", "role": "stable"}
CLASSES = np.array(["x", "y"], dtype=object)


def _numeric(name: str, edges: list[float]) -> NumericProfile:
    return NumericProfile(
        name=name, edges=edges, counts=[1] * (len(edges) + 1), missing=0, mean=0.0, std=1.0
    )


def _categorical(name: str, categories: list[str]) -> CategoricalProfile:
    return CategoricalProfile(
        name=name, categories=categories, counts=[1] * (len(categories) + 1), missing=0
    )


# Edge lists of different lengths, so that the server's padding to a common width shows.
PROFILE = Profile(
    rows=100,
    features=[
        _numeric("a", [-1.0, 0.0, 2.5]),
        _numeric("b", [1.0]),
        _numeric("c", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]),
        _categorical("color", ["red", "green"]),
        _categorical("shape", ["square"]),
    ],
)
NUMERIC = ("a", "b", "c")
CATEGORICAL = ("color", "shape")

Batch = dict[str, list[Any]]  # feature name: its values, floats (NaN missing) or str | None
Samples = dict[tuple[str, ...], float]


def row(
    a: float = 0.5,
    b: float = 0.0,
    c: float = 0.35,
    color: str | None = "red",
    shape: str | None = "square",
) -> Batch:
    """One row of every feature, as a batch; values inside a bin unless given."""
    return {"a": [a], "b": [b], "c": [c], "color": [color], "shape": [shape]}


def stacked(*rows: Batch) -> Batch:
    """Rows one under the other, as one batch."""
    return {name: [value for one in rows for value in one[name]] for name in rows[0]}


def only(names: tuple[str, ...], batch: Batch) -> Batch:
    return {name: batch[name] for name in names}


def random_batch(size: int, seed: int) -> Batch:
    """Values around and exactly on the edges, every 7th number and 5th category missing."""
    generator = np.random.default_rng(seed)
    batch: Batch = {}
    for name in NUMERIC:
        feature = PROFILE.feature(name)
        assert isinstance(feature, NumericProfile)
        edges = np.array(feature.edges)
        values = generator.normal(edges.mean(), edges.std() + 1.0, size)
        on_edge = generator.random(size) < 0.3
        values[on_edge] = generator.choice(edges, int(on_edge.sum()))
        values[::7] = np.nan
        batch[name] = values.tolist()
    for name, seen in (("color", ["red", "green", "blue", "teal"]), ("shape", ["square", "dot"])):
        categories: list[str | None] = list(generator.choice(seen, size))
        categories[::5] = [None] * len(categories[::5])
        batch[name] = categories
    return batch


def numbers(batches: list[Batch], name: str) -> list[float]:
    return [float(value) for batch in batches for value in batch[name]]


def reference(batches: list[Batch]) -> Samples:
    """The feature families' samples, counted one value at a time."""
    samples: Samples = {}
    for name in batches[0]:
        feature = PROFILE.feature(name)
        if isinstance(feature, NumericProfile):
            values = numbers(batches, name)
            present = [value for value in values if not math.isnan(value)]
            bins = Counter(bisect.bisect_left(feature.edges, value) for value in present)
            cumulative = accumulate(bins[index] for index in range(len(feature.edges) + 1))
            bounds = [*map(format_bound, feature.edges), "+Inf"]
            for bound, count in zip(bounds, cumulative, strict=True):
                samples["modelkeeper_feature_value_bucket", name, bound] = count
            samples["modelkeeper_feature_value_count", name] = len(present)
            samples["modelkeeper_feature_missing_total", name] = len(values) - len(present)
        else:
            assert isinstance(feature, CategoricalProfile)
            seen: list[str | None] = [value for batch in batches for value in batch[name]]
            counts = Counter(
                OTHER_CATEGORY if value not in feature.categories else value
                for value in seen
                if value is not None
            )
            for category in [*feature.categories, OTHER_CATEGORY]:
                samples["modelkeeper_feature_category_total", name, category] = counts[category]
            samples["modelkeeper_feature_missing_total", name] = seen.count(None)
    return samples


def feature_batch(batch: Batch) -> FeatureBatch:
    size = len(next(iter(batch.values())))
    numeric = [batch[name] for name in NUMERIC if name in batch]
    categorical = [batch[name] for name in CATEGORICAL if name in batch]
    return FeatureBatch(
        numeric=np.array(numeric, dtype=np.float64).T.reshape(size, len(numeric)),
        categorical=np.array(categorical, dtype=object).T.reshape(size, len(categorical)),
    )


def counted(batches: list[Batch], workers: int = 1) -> tuple[Samples, dict[str, float]]:
    """The feature families' samples as scraped (but `_sum`, left out when an edge is
    negative: a sum of negative values can fall), and the sums of the numeric features as
    summed over the workers' rows."""
    names = batches[0]
    layout = Layout(
        PROFILE,
        [name for name in NUMERIC if name in names],
        [name for name in CATEGORICAL if name in names],
        CLASSES,
    )
    rows = shared_rows(workers, layout.size)
    for index, batch in enumerate(batches):
        one = feature_batch(batch)
        labels = Prediction(labels=np.array(["x"] * one.rows, dtype=object))
        WorkerMetrics(layout, rows[index % workers]).record_batch(one, labels, True)
    samples: Samples = {}
    for family in ServerCollector(layout, rows, LABELS).collect():
        for sample in family.samples:
            if sample.name.startswith("modelkeeper_feature_") and not sample.name.endswith("_sum"):
                key = (sample.name, sample.labels["feature"])
                extra = sample.labels.get("le", sample.labels.get("category"))
                samples[key if extra is None else (*key, extra)] = sample.value
    sums = rows.sum(axis=0)[layout.numeric_sums].tolist()
    return samples, dict(zip([feature.name for feature in layout.numeric], sums, strict=True))


ONE_ROW_CASES = [
    pytest.param([row()], id="one-row-inside-bins"),
    pytest.param([row(a=-1.0, b=1.0, c=0.6)], id="one-row-on-first-single-and-last-edge"),
    pytest.param([row(a=0.0, c=0.3)], id="one-row-on-inner-edges"),
    pytest.param([row(a=-0.0)], id="minus-zero-on-edge-zero"),
    pytest.param([row(a=math.nextafter(0.0, 1.0))], id="just-above-an-edge"),
    pytest.param([row(a=-7.0, b=-3.0, c=0.0)], id="below-the-first-edges"),
    pytest.param([row(a=9.0, b=1.5, c=3e38)], id="above-the-last-edges"),
    pytest.param([row(a=math.nan, c=math.nan)], id="missing-numbers"),
    pytest.param([row(a=math.nan, b=math.nan, c=math.nan)], id="every-number-missing"),
    pytest.param([row(color=None, shape=None)], id="missing-categories"),
    pytest.param([row(color="teal", shape="")], id="unknown-categories-are-other"),
    pytest.param([row(color=OTHER_CATEGORY)], id="a-literal-other-is-other"),
]


@pytest.mark.parametrize(
    "batches",
    [
        *ONE_ROW_CASES,
        pytest.param(
            [stacked(row(a=-1.0, c=math.nan, color="teal"), row(a=9.0, b=1.0, shape=None))],
            id="two-rows",
        ),
        pytest.param(
            [stacked(*(row(a=edge) for edge in (-1.0, 0.0, 2.5, -1.0)), row(a=math.nan))],
            id="rows-on-every-edge",
        ),
        pytest.param([random_batch(200, seed=1)], id="200-rows"),
        pytest.param(
            [random_batch(size, seed) for seed, size in enumerate([1, 64, 2, 1, 8, 3, 1, 32])],
            id="calls-of-1-to-64-rows-add-up",
        ),
        pytest.param(
            [only(NUMERIC, random_batch(size, seed)) for seed, size in enumerate([1, 9, 1])],
            id="numeric-inputs-only",
        ),
        pytest.param(
            [only(CATEGORICAL, random_batch(size, seed)) for seed, size in enumerate([1, 9, 1])],
            id="categorical-inputs-only",
        ),
        pytest.param(
            [only(("c", "shape"), random_batch(size, seed)) for seed, size in enumerate([5, 1])],
            id="one-input-of-each-kind",
        ),
    ],
)
def test_counts_equal_a_value_by_value_reference(batches: list[Batch]) -> None:
    samples, sums = counted(batches)
    assert samples == reference(batches)
    expected_sums = {
        name: math.fsum(value for value in numbers(batches, name) if not math.isnan(value))
        for name in NUMERIC
        if name in batches[0]
    }
    assert sums == pytest.approx(expected_sums)


def test_workers_rows_sum_to_the_same_counts() -> None:
    batches = [random_batch(size, seed) for seed, size in enumerate([1, 17, 4, 1, 30])]
    assert counted(batches, workers=3) == counted(batches, workers=1)


def test_no_feature_counted_when_counting_is_off() -> None:
    layout = Layout(PROFILE, list(NUMERIC), list(CATEGORICAL), CLASSES)
    rows = shared_rows(1, layout.size)
    worker = WorkerMetrics(layout, rows[0])
    labels = np.array(["x", "y", "y"], dtype=object)
    worker.record_batch(feature_batch(random_batch(3, seed=0)), Prediction(labels=labels), False)
    worker.record_request(Endpoint.INFER, 200, 0.002)
    worker.record_request(Endpoint.INFER, 418, 0.002)
    assert rows[0, layout.class_counts].tolist() == [1, 2]
    assert rows[0, layout.request_slot(Endpoint.INFER, "200")] == 1
    assert rows[0, layout.request_slot(Endpoint.INFER, "other")] == 1
    features = [
        sample.value
        for family in ServerCollector(layout, rows, LABELS).collect()
        for sample in family.samples
        if sample.name.startswith("modelkeeper_feature_")
    ]
    assert len(features) > 0
    assert set(features) == {0.0}


def test_workers_write_their_own_rows_and_a_scrape_sums_them() -> None:
    layout = Layout(PROFILE, list(NUMERIC), list(CATEGORICAL), CLASSES)
    rows = shared_rows(3, layout.size)
    for index in range(3):
        labels = Prediction(labels=np.array(["x"] * 10, dtype=object))
        batch = feature_batch(random_batch(10, seed=index))
        WorkerMetrics(layout, rows[index]).record_batch(batch, labels, True)
    assert rows[:, layout.batch_size.sum].tolist() == [10, 10, 10]
    assert rows.sum(axis=0)[layout.class_counts].tolist() == [30, 0]


def _scraped(layout: Layout, rows: Any, name: str) -> dict[tuple[str, str], float]:
    """A family's samples by (sample name, le), from the scrape."""
    return {
        (sample.name, sample.labels.get("le", "")): sample.value
        for family in ServerCollector(layout, rows, LABELS).collect()
        if family.name == name
        for sample in family.samples
    }


@pytest.mark.parametrize("workers", [1, 2])
def test_probabilities_are_counted_for_performance_estimation(workers: int) -> None:
    """The predicted class's probability (confidence) and the second class's (score, with
    its sum per bin) against one value at a time, bisect on the buckets' edges."""
    generator = np.random.default_rng(5)
    layout = Layout(PROFILE, list(NUMERIC), list(CATEGORICAL), CLASSES)
    rows = shared_rows(workers, layout.size)
    confidences: list[float] = []
    scores: list[float] = []
    for index, size in enumerate([1, 9, 30, 4]):
        second = generator.uniform(size=size).round(3)  # some on the edges themselves
        probabilities = np.column_stack([1 - second, second])
        # the model's own labels, not always the likelier class (a tuned threshold)
        predicted = np.where(second > 0.3, 1, 0)
        labels = CLASSES[predicted]
        WorkerMetrics(layout, rows[index % workers]).record_batch(
            feature_batch(random_batch(size, seed=index)),
            Prediction(labels=labels, probabilities=probabilities),
            True,
            True,
        )
        confidences += probabilities[np.arange(size), predicted].tolist()
        scores += second.tolist()
    confidence = _scraped(layout, rows, "modelkeeper_prediction_confidence")
    assert confidence[("modelkeeper_prediction_confidence_count", "")] == len(confidences)
    assert confidence[("modelkeeper_prediction_confidence_sum", "")] == pytest.approx(
        sum(confidences)
    )
    edges = [round(0.02 * step, 2) for step in range(1, 51)]
    score = _scraped(layout, rows, "modelkeeper_prediction_score")
    mass = _scraped(layout, rows, "modelkeeper_prediction_score_mass")
    for edge in edges:
        below = [value for value in scores if value <= edge]
        assert score[("modelkeeper_prediction_score_bucket", format_bound(edge))] == len(below)
        assert mass[("modelkeeper_prediction_score_mass_total", format_bound(edge))] == (
            pytest.approx(sum(below))
        )
    assert mass[("modelkeeper_prediction_score_mass_total", "+Inf")] == pytest.approx(sum(scores))


def test_probabilities_outside_the_sample_are_not_counted() -> None:
    """A call outside the sample counts no probabilities, even when it has them (asked for
    by its request), nor one without them; a regressor has no such families at all."""
    layout = Layout(PROFILE, list(NUMERIC), list(CATEGORICAL), CLASSES)
    rows = shared_rows(1, layout.size)
    labels = np.array(["x", "y"], dtype=object)
    worker = WorkerMetrics(layout, rows[0])
    batch = feature_batch(random_batch(2, seed=0))
    worker.record_batch(batch, Prediction(labels, np.full((2, 2), 0.5)), True, False)
    worker.record_batch(batch, Prediction(labels=labels), True, True)
    confidence = _scraped(layout, rows, "modelkeeper_prediction_confidence")
    assert confidence[("modelkeeper_prediction_confidence_count", "")] == 0
    regressor = Layout(PROFILE, list(NUMERIC), list(CATEGORICAL), None)
    families = {family.name for family in ServerCollector(regressor, rows, LABELS).collect()}
    assert not {name for name in families if "confidence" in name or "score" in name}
