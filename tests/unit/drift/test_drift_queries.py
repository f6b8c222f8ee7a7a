"""The drift PromQL as Prometheus receives it, and its answers aligned with the profile's bins."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from modelkeeper.api.driftmonitor import CustomDriftMetric, EstimatedMetric
from modelkeeper.drift.queries import (
    Feedback,
    Probabilities,
    Target,
    align,
    parse_feedback,
    parse_probabilities,
    plan_queries,
    render_custom,
)
from modelkeeper.profile import CategoricalProfile, NumericProfile, Profile
from modelkeeper.prometheus.promql import Sample, TemplateError

TARGET = Target(
    "shop", "fraud", "1.4.0", timedelta(hours=1), timedelta(days=1), timedelta(minutes=30)
)
SERVERS = 'namespace="shop",deployment="fraud",version="1.4.0"'
AMOUNT = NumericProfile(
    name="amount",
    edges=[0.5, 5.270000000000001, 30.0],
    counts=[1, 5, 5, 0],
    missing=0,
    mean=10.0,
    std=8.0,
)
COUNTRY = CategoricalProfile(name="country", categories=["de", "fr"], counts=[6, 3, 1], missing=0)
PROFILE = Profile(rows=11, features=[AMOUNT, COUNTRY])


def custom(query: str) -> CustomDriftMetric:
    return CustomDriftMetric(name="mmd", query=query, critical=0.5)


def test_one_query_per_counter_family() -> None:
    queries = plan_queries(PROFILE, [custom("x")], performance=True, estimated=None, target=TARGET)
    assert queries.buckets == (
        f"sum by (feature, le) (increase(modelkeeper_feature_value_bucket{{{SERVERS}}}[3600s]))"
    )
    assert queries.categories == (
        "sum by (feature, category) "
        f"(increase(modelkeeper_feature_category_total{{{SERVERS}}}[3600s]))"
    )
    assert queries.missing == (
        f"sum by (feature) (increase(modelkeeper_feature_missing_total{{{SERVERS}}}[3600s]))"
    )
    assert queries.feedback == " or ".join(
        f"label_replace(sum(increase(modelkeeper_feedback_{counter}_total{{{SERVERS}}}"
        f'[86400s])), "counter", "{counter}", "", "")'
        for counter in ("rows", "correct", "absolute_error", "squared_error")
    )
    assert queries.custom == {"mmd": "x"}


@pytest.mark.parametrize(
    ("features", "performance", "asked"),
    [
        pytest.param([AMOUNT], False, ("buckets",), id="numeric-only"),
        pytest.param([COUNTRY], False, ("categories",), id="categorical-only"),
        pytest.param(
            [AMOUNT, COUNTRY], True, ("buckets", "categories", "feedback"), id="everything"
        ),
    ],
)
def test_only_the_families_the_profile_and_spec_need(
    features: list[NumericProfile | CategoricalProfile], performance: bool, asked: tuple[str, ...]
) -> None:
    queries = plan_queries(Profile(rows=1, features=features), [], performance, None, TARGET)
    present = tuple(
        name for name in ("buckets", "categories", "feedback") if getattr(queries, name)
    )
    assert present == asked


def test_custom_queries_get_namespace_deployment_and_window() -> None:
    template = 'mmd{namespace="{{ namespace }}",deployment="{{deployment}}"}[{{ window }}]'
    assert render_custom(custom(template), TARGET) == (
        'mmd{namespace="shop",deployment="fraud"}[3600s]'
    )
    with pytest.raises(TemplateError, match=r"mmd: unknown placeholder \{\{ version \}\}"):
        render_custom(custom("x{v='{{ version }}'}"), TARGET)


def bucket(feature: str, le: str, value: float) -> Sample:
    return Sample({"feature": feature, "le": le}, value)


def category(feature: str, name: str, value: float) -> Sample:
    return Sample({"feature": feature, "category": name}, value)


def test_cumulative_buckets_become_the_profiles_bins() -> None:
    buckets = [
        bucket("amount", "0.5", 2),
        bucket("amount", "5.270000000000001", 12),
        bucket("amount", "30.0", 40),  # any spelling of the same float matches
        bucket("amount", "+Inf", 43),
    ]
    categories = [
        category("country", "de", 7),
        category("country", "fr", 2),
        category("country", "__other__", 1),
        category("country", "it", 4),  # a category the profile does not know: other
    ]
    missing = [Sample({"feature": "amount"}, 3)]
    features, misaligned = align(PROFILE, buckets, categories, missing)
    assert misaligned == {}
    assert features["amount"].bins.tolist() == [2, 10, 28, 3]
    assert features["amount"].missing == 3
    assert features["country"].bins.tolist() == [7, 2, 5]


def test_extrapolated_buckets_never_give_negative_bins() -> None:
    buckets = [
        bucket("amount", "0.5", 2.2),
        bucket("amount", "5.270000000000001", 2.1),
        bucket("amount", "30", 9.0),
        bucket("amount", "+Inf", 9.0),
    ]
    features, _ = align(PROFILE, buckets, [], [])
    assert features["amount"].bins == pytest.approx(np.array([2.2, 0.0, 6.9, 0.0]))


def test_buckets_of_other_edges_are_misaligned_not_guessed() -> None:
    buckets = [bucket("amount", "0.5", 2), bucket("amount", "5.27", 3), bucket("amount", "+Inf", 4)]
    features, misaligned = align(PROFILE, buckets, [], [])
    assert "amount" not in features
    assert misaligned["amount"].startswith("the live histogram has no bucket le=5.270000000000001:")


def test_features_without_series_are_absent() -> None:
    features, misaligned = align(PROFILE, [], [], [Sample({"feature": "amount"}, 5)])
    assert (features, misaligned) == ({}, {})


def test_feedback_counters_by_label() -> None:
    samples = [
        Sample({"counter": "rows"}, 100),
        Sample({"counter": "correct"}, 90),
        Sample({"counter": "squared_error"}, 4),
    ]
    assert parse_feedback(samples) == Feedback(
        rows=100, correct=90, absolute_error=0, squared_error=4
    )


@pytest.mark.parametrize(
    ("metric", "parts"),
    [
        pytest.param(
            EstimatedMetric.ACCURACY,
            {
                "sum": "sum(increase(modelkeeper_prediction_confidence_sum{%s}[1800s]))",
                "count": "sum(increase(modelkeeper_prediction_confidence_count{%s}[1800s]))",
            },
            id="accuracy",
        ),
        pytest.param(
            EstimatedMetric.ROC_AUC,
            {
                "rows": "sum by (le) (increase(modelkeeper_prediction_score_bucket{%s}[1800s]))",
                "mass": "sum by (le) "
                "(increase(modelkeeper_prediction_score_mass_total{%s}[1800s]))",
            },
            id="roc-auc",
        ),
    ],
)
def test_an_estimate_reads_the_probability_counters_over_its_window(
    metric: EstimatedMetric, parts: dict[str, str]
) -> None:
    queries = plan_queries(PROFILE, [], False, metric, TARGET)
    assert queries.estimate == (
        metric,
        " or ".join(
            f'label_replace({query % SERVERS}, "counter", "{counter}", "", "")'
            for counter, query in parts.items()
        ),
    )
    assert plan_queries(PROFILE, [], False, None, TARGET).estimate is None


def test_confidence_sum_and_count_by_label() -> None:
    samples = [Sample({"counter": "sum"}, 81.5), Sample({"counter": "count"}, 100)]
    assert parse_probabilities(EstimatedMetric.ACCURACY, samples) == Probabilities(
        rows=100, confidence_sum=81.5
    )
    assert parse_probabilities(EstimatedMetric.ACCURACY, []) == Probabilities(rows=0)


def test_cumulative_score_buckets_become_bins_with_their_mass() -> None:
    """Buckets arrive in any order; an extrapolated dip counts 0."""
    rows = {"0.5": 40, "+Inf": 100, "1": 100, "0.25": 10}
    mass = {"0.5": 12, "+Inf": 72, "1": 72, "0.25": 1.5}
    samples = [Sample({"counter": "rows", "le": le}, value) for le, value in rows.items()]
    samples += [Sample({"counter": "mass", "le": le}, value) for le, value in mass.items()]
    samples.append(Sample({"counter": "rows", "le": "0.75"}, 39.0))  # below 0.5's 40
    samples.append(Sample({"counter": "mass", "le": "0.75"}, 12.0))
    probabilities = parse_probabilities(EstimatedMetric.ROC_AUC, samples)
    assert probabilities.rows == 101
    assert probabilities.score is not None
    assert probabilities.score.edges.tolist() == [0.25, 0.5, 0.75, 1.0]
    assert probabilities.score.rows.tolist() == [10, 30, 0, 61, 0]
    assert probabilities.score.mass.tolist() == [1.5, 10.5, 0, 60, 0]
    assert parse_probabilities(EstimatedMetric.ROC_AUC, []) == Probabilities(rows=0)
