"""The prediction shift is scipy's Jensen-Shannon distance (base 2) over aligned bins."""

from __future__ import annotations

import pytest
from scipy.spatial.distance import jensenshannon

from modelkeeper.analysis.templates import (
    bucket_counts,
    class_counts,
    jensen_shannon,
    prediction_shift,
)
from modelkeeper.prometheus.promql import Sample


@pytest.mark.parametrize(
    ("p", "q"),
    [
        pytest.param([10, 20, 30], [10, 20, 30], id="same"),
        pytest.param([10, 20, 30], [1, 2, 3], id="same-shape-other-scale"),
        pytest.param([90, 10], [50, 50], id="two-classes"),
        pytest.param([5, 0, 7, 1], [0, 3, 7, 9], id="empty-bins-on-each-side"),
        pytest.param([1, 0], [0, 1], id="disjoint"),
        pytest.param([0.3, 1e-12, 123.456, 7.5], [2.2, 0.001, 99.0, 1e-9], id="uneven-floats"),
    ],
)
def test_matches_scipy(p: list[float], q: list[float]) -> None:
    expected = float(jensenshannon(p, q, base=2))
    assert jensen_shannon(p, q) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    ("p", "q"),
    [
        pytest.param([0, 0], [1, 2], id="candidate-empty"),
        pytest.param([1, 2], [0, 0], id="stable-empty"),
        pytest.param([], [], id="no-bins"),
    ],
)
def test_no_counts_is_no_data(p: list[float], q: list[float]) -> None:
    assert jensen_shannon(p, q) is None


def test_negative_counts_from_a_reset_count_as_zero() -> None:
    assert jensen_shannon([-2.0, 4.0], [0.0, 4.0]) == 0.0


def classes(**counts: float) -> list[Sample]:
    return [Sample({"class": name}, count) for name, count in counts.items()]


def buckets(*cumulative: tuple[str, float]) -> list[Sample]:
    return [Sample({"le": le}, count) for le, count in cumulative]


def test_classes_are_aligned_by_name_over_their_union() -> None:
    candidate, stable = classes(cat=3, dog=1), classes(dog=5, bird=2)
    assert class_counts(candidate, stable) == ([0.0, 3, 1], [2, 0.0, 5])


def test_buckets_are_binned_at_the_shared_edges() -> None:
    candidate = buckets(("0.5", 2), ("1", 5), ("2", 9), ("+Inf", 10))
    stable = buckets(("1", 4), ("1.5", 6), ("2", 8), ("+Inf", 8))
    # Shared edges 1, 2, +Inf: bins (-inf, 1], (1, 2], (2, +Inf].
    assert bucket_counts(candidate, stable) == ([5, 4, 1], [4, 4, 0])


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        pytest.param(
            [classes(a=90, b=10), classes(a=50, b=50), [], []],
            float(jensenshannon([90, 10], [50, 50], base=2)),
            id="classifier",
        ),
        pytest.param(
            [[], [], buckets(("1", 2), ("+Inf", 8)), buckets(("1", 6), ("+Inf", 8))],
            float(jensenshannon([2, 6], [6, 2], base=2)),
            id="regressor",
        ),
        pytest.param([classes(a=1), [], [], []], None, id="stable-without-predictions"),
        pytest.param([[], [], [], []], None, id="no-data"),
    ],
)
def test_prediction_shift(results: list[list[Sample]], expected: float | None) -> None:
    assert prediction_shift(results) == pytest.approx(expected, abs=1e-9)
