"""One evaluation's scores: tests chosen per feature, levels, corrections, custom metrics
and performance."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import stats

from modelkeeper.api.driftmonitor import (
    CustomDriftMetric,
    DriftMethod,
    EstimatedPerformance,
    Level,
    Performance,
)
from modelkeeper.drift import statistics
from modelkeeper.drift.estimate import ScoreBins
from modelkeeper.drift.queries import Feedback, Observed, Probabilities
from modelkeeper.drift.scoring import (
    Outcome,
    chosen_test,
    judge_estimate,
    judge_metric,
    judge_performance,
)
from tests.unit.drift.factories import (
    AMOUNT_REFERENCE,
    AMOUNT_SHIFTED,
    COUNTRY_REFERENCE,
    FEEDBACK,
    PROFILE,
    levels,
    observed,
    run,
    spec,
)


@pytest.mark.parametrize(
    ("fields", "feature", "method"),
    [
        pytest.param({}, "amount", DriftMethod.PSI, id="numeric-default-psi"),
        pytest.param(
            {"byType": {"categorical": {"method": "ChiSquare", "warning": 0.05, "critical": 0.01}}},
            "country",
            DriftMethod.CHI_SQUARE,
            id="by-type",
        ),
        pytest.param(
            {"features": [{"name": "amount", "method": "KS", "warning": 0.1, "critical": 0.2}]},
            "amount",
            DriftMethod.KS,
            id="own-entry-wins-over-type",
        ),
        pytest.param(
            {
                "features": [{"name": "amount", "method": "KS", "warning": 0.1, "critical": 0.2}],
                "exclude": ["amount"],
            },
            "amount",
            None,
            id="exclude-wins-over-own-entry",
        ),
    ],
)
def test_each_feature_gets_its_test(
    fields: dict[str, Any], feature: str, method: DriftMethod | None
) -> None:
    profile = PROFILE.feature(feature)
    assert profile is not None
    test = chosen_test(spec(**fields), profile)
    assert (test.method if test is not None else None) == method


@pytest.mark.parametrize(
    ("seen", "outcome", "expected"),
    [
        pytest.param(observed(), Outcome.OK, {"amount": Level.OK, "country": Level.OK}, id="same"),
        pytest.param(
            observed(amount=AMOUNT_SHIFTED),
            Outcome.CRITICAL,
            {"amount": Level.CRITICAL, "country": Level.OK},
            id="shifted",
        ),
        pytest.param(
            observed(amount=[0, 10, 10, 10, 0]),
            Outcome.OK,
            {"amount": Level.INSUFFICIENT_DATA, "country": Level.OK},
            id="too-few-of-one",
        ),
        pytest.param(
            observed(amount=[0, 1, 1, 1, 0], country=[5, 2, 1]),
            Outcome.INSUFFICIENT_DATA,
            {"amount": Level.INSUFFICIENT_DATA, "country": Level.INSUFFICIENT_DATA},
            id="too-few-of-all",
        ),
        pytest.param(
            observed(amount=None),
            Outcome.OK,
            {"amount": Level.INSUFFICIENT_DATA, "country": Level.OK},
            id="one-without-series",
        ),
        pytest.param(observed(amount=None, country=None), Outcome.UNKNOWN, {}, id="no-series"),
    ],
)
def test_one_evaluation(seen: Observed, outcome: Outcome, expected: dict[str, Level]) -> None:
    evaluation = run(spec(), seen)
    assert evaluation.outcome == outcome
    assert levels(evaluation) == expected


def test_scores_are_the_statistics_of_the_aligned_counts() -> None:
    evaluation = run(spec(), observed(amount=AMOUNT_SHIFTED))
    amount = evaluation.status.features[0]
    expected = statistics.psi(
        np.asarray(AMOUNT_REFERENCE, dtype=np.float64), np.asarray(AMOUNT_SHIFTED, np.float64)
    )
    assert amount.score == pytest.approx(expected, abs=1e-12)
    assert (amount.samples, amount.p_value, amount.method) == (300, None, DriftMethod.PSI)


def test_min_samples_is_thirty_per_bin_unless_set() -> None:
    """amount has 5 bins: 150 samples by default; country has 3: 90."""
    just_under = observed(amount=[0, 50, 50, 49, 0], country=[54, 27, 8])
    assert set(levels(run(spec(), just_under)).values()) == {Level.INSUFFICIENT_DATA}
    assert set(levels(run(spec(minSamples=80), just_under)).values()) == {Level.OK}


def test_a_small_window_drifts_by_chance_only_for_fixed_thresholds() -> None:
    """A 20-sample window that differs from the reference by noise reaches the fixed
    critical PSI, but its p-value under no drift is about 0.1, so SampleSizeAware at
    rates 0.05 and 0.01 calls it OK."""
    noisy = [0, 2, 9, 9, 0]
    fixed = run(spec(minSamples=20), observed(amount=noisy)).status.features[0]
    aware_spec = spec(
        minSamples=20,
        byType={
            "numeric": {
                "method": "PSI",
                "mode": "SampleSizeAware",
                "warning": 0.05,
                "critical": 0.01,
            }
        },
    )
    aware = run(aware_spec, observed(amount=noisy)).status.features[0]
    assert fixed.score is not None
    assert fixed.level == Level.CRITICAL
    rows, size, degrees = sum(AMOUNT_REFERENCE), sum(noisy), 3  # overflow empty on both sides
    reach = size * stats.chi2.isf(0.01, degrees) / rows  # the reference's own error, 99 %
    expected = stats.ncx2.sf(fixed.score * size, degrees, reach)
    assert aware.p_value == pytest.approx(expected, abs=1e-12)
    assert 0.05 < expected < 0.2
    assert aware.level == Level.OK


CHI_SQUARE_TEST = {"method": "ChiSquare", "warning": 0.05, "critical": 0.01}


@pytest.mark.parametrize(
    ("correction", "factor"),
    [
        pytest.param("None", 1, id="none"),
        pytest.param("Bonferroni", 2, id="bonferroni"),
    ],
)
def test_p_values_are_corrected_over_the_p_value_tests(correction: str, factor: int) -> None:
    monitor = spec(
        byType={"numeric": CHI_SQUARE_TEST, "categorical": CHI_SQUARE_TEST},
        multipleTesting={"correction": correction},
    )
    seen = observed(amount=[2, 90, 110, 98, 0], country=[50, 38, 12])
    evaluation = run(monitor, seen)
    for feature, reference, live in (
        (evaluation.status.features[0], AMOUNT_REFERENCE, [2, 90, 110, 98, 0]),
        (evaluation.status.features[1], COUNTRY_REFERENCE, [50, 38, 12]),
    ):
        table = np.array([reference, live])
        raw = stats.chi2_contingency(table[:, table.sum(axis=0) > 0], correction=False).pvalue
        assert feature.p_value == pytest.approx(min(raw * factor, 1.0), abs=1e-12)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        pytest.param("Fixed", lambda x2: stats.chi2.sf(x2, 2), id="fixed-pearson"),
        pytest.param(
            "SampleSizeAware",
            # the divergence x2 (1/N + 1/M) times M against the reference's own error at 99 %
            lambda x2: stats.ncx2.sf(
                x2 * (1 / 1000 + 1 / 100) * 100, 2, stats.chi2.isf(0.01, 2) / 10
            ),
            id="sample-size-aware-fixed-reference",
        ),
    ],
)
def test_chi_square_p_value_by_mode(mode: str, expected: Any) -> None:
    """Fixed: Pearson's two-sample p-value; SampleSizeAware: the one that holds for this
    fixed reference (N = 1,000 country rows, M = 100)."""
    monitor = spec(byType={"categorical": {**CHI_SQUARE_TEST, "mode": mode}})
    country = run(monitor, observed(country=[50, 38, 12])).status.features[1]
    table = np.array([COUNTRY_REFERENCE, [50, 38, 12]])
    x2 = stats.chi2_contingency(table, correction=False).statistic
    assert country.score == pytest.approx(x2, rel=1e-12)
    assert country.p_value == pytest.approx(expected(x2), abs=1e-12)


def test_benjamini_hochberg_corrects_less_than_bonferroni() -> None:
    def p_values(correction: str) -> list[float | None]:
        monitor = spec(
            byType={"numeric": CHI_SQUARE_TEST, "categorical": CHI_SQUARE_TEST},
            multipleTesting={"correction": correction},
        )
        seen = observed(amount=[2, 90, 110, 98, 0], country=[50, 38, 12])
        return [feature.p_value for feature in run(monitor, seen).status.features]

    raw, bh, bonferroni = p_values("None"), p_values("BenjaminiHochberg"), p_values("Bonferroni")
    for low, middle, high in zip(raw, bh, bonferroni, strict=True):
        assert low is not None
        assert middle is not None
        assert high is not None
        assert low <= middle <= high


@pytest.mark.parametrize(
    ("share", "outcome"),
    [
        pytest.param(None, Outcome.CRITICAL, id="any-one"),
        pytest.param(0.5, Outcome.CRITICAL, id="half-reached"),
        pytest.param(0.75, Outcome.WARNING, id="share-not-reached"),
    ],
)
def test_the_share_of_features_rule(share: float | None, outcome: Outcome) -> None:
    """One of two judged features is Critical."""
    monitor = spec(multipleTesting={"driftedShare": share} if share is not None else {})
    assert run(monitor, observed(amount=AMOUNT_SHIFTED)).outcome == outcome


@pytest.mark.parametrize(
    ("metric", "value", "level"),
    [
        pytest.param(
            {"direction": "Above", "warning": 0.2, "critical": 0.5}, 0.1, Level.OK, id="above-ok"
        ),
        pytest.param(
            {"direction": "Above", "warning": 0.2, "critical": 0.5},
            0.2,
            Level.WARNING,
            id="above-warning",
        ),
        pytest.param(
            {"direction": "Above", "warning": 0.2, "critical": 0.5},
            0.7,
            Level.CRITICAL,
            id="above-critical",
        ),
        pytest.param(
            {"direction": "Below", "warning": 0.8, "critical": 0.6}, 0.9, Level.OK, id="below-ok"
        ),
        pytest.param(
            {"direction": "Below", "warning": 0.8, "critical": 0.6},
            0.7,
            Level.WARNING,
            id="below-warning",
        ),
        pytest.param(
            {"direction": "Below", "critical": 0.6},
            0.6,
            Level.CRITICAL,
            id="below-critical-without-warning",
        ),
        pytest.param({"critical": 0.5}, None, Level.INSUFFICIENT_DATA, id="no-data"),
    ],
)
def test_custom_metrics_by_direction(
    metric: dict[str, Any], value: float | None, level: Level
) -> None:
    custom = CustomDriftMetric.model_validate({"name": "mmd", "query": "x", **metric})
    assert judge_metric(custom, value).level == level


def test_a_critical_custom_metric_makes_the_evaluation_critical() -> None:
    monitor = spec(customMetrics=[{"name": "mmd", "query": "x", "critical": 0.5}])
    evaluation = run(monitor, observed(custom={"mmd": 0.9}))
    assert evaluation.outcome == Outcome.CRITICAL
    assert evaluation.status.custom_metrics[0].value == 0.9
    assert "mmd critical: 0.9" in evaluation.status.message


@pytest.mark.parametrize(
    ("performance", "feedback", "value", "level"),
    [
        pytest.param({"metric": "Accuracy", "min": 0.7}, FEEDBACK, 0.75, Level.OK, id="accuracy"),
        pytest.param(
            {"metric": "Accuracy", "min": 0.8}, FEEDBACK, 0.75, Level.CRITICAL, id="accuracy-low"
        ),
        pytest.param({"metric": "MAE", "max": 0.4}, FEEDBACK, 0.5, Level.CRITICAL, id="mae"),
        pytest.param({"metric": "RMSE", "max": 1.5}, FEEDBACK, 1.0, Level.OK, id="rmse"),
        pytest.param(
            {"metric": "Accuracy", "min": 0.7, "minSamples": 500},
            FEEDBACK,
            None,
            Level.INSUFFICIENT_DATA,
            id="too-little-feedback",
        ),
        pytest.param(
            {"metric": "Accuracy", "min": 0.7}, None, None, Level.INSUFFICIENT_DATA, id="none"
        ),
        pytest.param(
            {"metric": "F1", "min": 0.7}, FEEDBACK, None, Level.INSUFFICIENT_DATA, id="f1"
        ),
    ],
)
def test_performance_from_feedback(
    performance: dict[str, Any], feedback: Feedback | None, value: float | None, level: Level
) -> None:
    status, _ = judge_performance(Performance.model_validate(performance), feedback)
    assert status.level == level
    assert status.value == (pytest.approx(value) if value is not None else None)


CONFIDENT = Probabilities(rows=400, confidence_sum=340)
"""Expected accuracy 0.85."""
SCORES = Probabilities(
    rows=400,
    score=ScoreBins(
        edges=np.array([0.5, 1.0]),
        rows=np.array([200.0, 200.0, 0.0]),
        mass=np.array([40.0, 160.0, 0.0]),
    ),
)
"""Expected positives 40 and 160, negatives 160 and 40: AUC (160·(160 + 20) + 40·80) / 200²."""


@pytest.mark.parametrize(
    ("estimated", "seen", "metrics", "value", "reference", "level"),
    [
        pytest.param(
            {"metric": "Accuracy", "reference": 0.88},
            CONFIDENT,
            {},
            0.85,
            0.88,
            Level.OK,
            id="within-drop",
        ),
        pytest.param(
            {"metric": "Accuracy", "reference": 0.95},
            CONFIDENT,
            {},
            0.85,
            0.95,
            Level.CRITICAL,
            id="beyond-drop",
        ),
        pytest.param(
            {"metric": "Accuracy", "maxDrop": 0.1},
            CONFIDENT,
            {"accuracy": 0.95},
            0.85,
            0.95,
            Level.OK,
            id="model-metric",
        ),
        pytest.param(
            {"metric": "Accuracy", "reference": 0.92},
            CONFIDENT,
            {"accuracy": 0.5},
            0.85,
            0.92,
            Level.CRITICAL,
            id="spec-wins",
        ),
        pytest.param(
            {"metric": "Accuracy"},
            CONFIDENT,
            {"auc": 0.9},
            None,
            None,
            Level.INSUFFICIENT_DATA,
            id="no-reference",
        ),
        pytest.param(
            {"metric": "Accuracy", "reference": 0.9, "minSamples": 500},
            CONFIDENT,
            {},
            None,
            0.9,
            Level.INSUFFICIENT_DATA,
            id="too-few",
        ),
        pytest.param(
            {"metric": "Accuracy", "reference": 0.9},
            None,
            {},
            None,
            0.9,
            Level.INSUFFICIENT_DATA,
            id="unread",
        ),
        pytest.param(
            {"metric": "RocAuc"}, SCORES, {"roc_auc": 0.9}, 0.8, 0.9, Level.CRITICAL, id="roc-auc"
        ),
        pytest.param(
            {"metric": "RocAuc", "reference": 0.9},
            Probabilities(
                rows=400, score=ScoreBins(np.array([1.0]), np.array([400.0, 0]), np.array([0.0, 0]))
            ),
            {},
            None,
            0.9,
            Level.INSUFFICIENT_DATA,
            id="one-class-expected",
        ),
    ],
)
def test_estimated_performance_against_its_reference(
    estimated: dict[str, Any],
    seen: Probabilities | None,
    metrics: dict[str, float],
    value: float | None,
    reference: float | None,
    level: Level,
) -> None:
    status, note = judge_estimate(EstimatedPerformance.model_validate(estimated), seen, metrics)
    assert status.level == level
    assert status.reference == reference
    assert status.value == (pytest.approx(value) if value is not None else None)
    assert note.startswith(f"estimated {estimated['metric']}")
