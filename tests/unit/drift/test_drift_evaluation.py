"""One evaluation at a time: tests chosen per feature, levels, corrections, and hysteresis
stepped over several evaluations (step, change the world, step, assert)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from scipy import stats

from modelkeeper.api.conditions import ConditionStatus, get_condition
from modelkeeper.api.driftmonitor import (
    CustomDriftMetric,
    DriftMethod,
    DriftMonitorConditionType,
    DriftMonitorSpec,
    DriftMonitorStatus,
    DriftState,
    Level,
    Performance,
)
from modelkeeper.drift import statistics
from modelkeeper.drift.evaluate import (
    Evaluation,
    Outcome,
    StateChange,
    Unreadable,
    chosen_test,
    evaluate,
    fit_message,
    judge_metric,
    judge_performance,
    unknown,
)
from modelkeeper.drift.queries import FeatureCounts, Feedback, Observed
from modelkeeper.profile import CategoricalProfile, NumericProfile, Profile

START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
AMOUNT_REFERENCE = [10, 1000, 1000, 990, 0]
COUNTRY_REFERENCE = [600, 300, 100]
PROFILE = Profile(
    rows=3000,
    features=[
        NumericProfile(
            name="amount",
            edges=[0.0, 1.0, 2.0, 3.0],
            counts=AMOUNT_REFERENCE,
            missing=0,
            mean=1.5,
            std=0.8,
        ),
        CategoricalProfile(
            name="country", categories=["de", "fr"], counts=COUNTRY_REFERENCE, missing=0
        ),
    ],
)
AMOUNT_SAME = [2, 100, 100, 98, 0]
AMOUNT_SHIFTED = [0, 10, 40, 150, 100]
COUNTRY_SAME = [60, 30, 10]


def spec(**fields: Any) -> DriftMonitorSpec:
    return DriftMonitorSpec.model_validate({"deployment": "fraud", **fields})


def observed(
    amount: Sequence[float] | None = AMOUNT_SAME,
    country: Sequence[float] | None = COUNTRY_SAME,
    **more: Any,
) -> Observed:
    features = {
        name: FeatureCounts(np.asarray(bins, dtype=np.float64))
        for name, bins in (("amount", amount), ("country", country))
        if bins is not None
    }
    return Observed(features=features, **more)


def run(
    monitor: DriftMonitorSpec,
    seen: Observed,
    previous: DriftMonitorStatus | None = None,
    version: str = "v1",
    at: datetime = START,
) -> Evaluation:
    return evaluate(monitor, previous or DriftMonitorStatus(), PROFILE, version, seen, at, 4)


def levels(evaluation: Evaluation) -> dict[str, Level]:
    return {feature.name: feature.level for feature in evaluation.status.features}


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
    critical PSI, but its p-value under no drift is about 0.09, so SampleSizeAware at
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
    scale = 1 / sum(AMOUNT_REFERENCE) + 1 / sum(noisy)
    kept_bins = 4  # the overflow bin is empty on both sides
    expected = stats.chi2.sf(fixed.score / scale, kept_bins - 1)
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


FEEDBACK = Feedback(rows=400, correct=300, absolute_error=200, squared_error=400)


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


def test_degraded_performance_sets_its_condition_not_the_state() -> None:
    monitor = spec(performance={"metric": "Accuracy", "min": 0.8})
    evaluation = run(monitor, observed(feedback=FEEDBACK))
    degraded = get_condition(
        evaluation.status.conditions, DriftMonitorConditionType.PERFORMANCE_DEGRADED
    )
    assert degraded is not None
    assert degraded.status == ConditionStatus.TRUE
    assert evaluation.status.state == DriftState.OK


@dataclass(frozen=True)
class Step:
    """One evaluation: what was seen and what the monitor says after it."""

    seen: Observed | None
    """None: Prometheus could not be read."""
    state: DriftState
    critical_streak: int
    clean_streak: int


CRITICAL, CLEAN = observed(amount=AMOUNT_SHIFTED), observed()
WARNED = observed(amount=[2, 60, 140, 98, 0])
SPARSE = observed(amount=[0, 1, 1, 1, 0], country=[5, 2, 1])
S = DriftState


@pytest.mark.parametrize(
    "steps",
    [
        pytest.param(
            [
                Step(CRITICAL, S.WARNING, 1, 0),
                Step(CRITICAL, S.DRIFTED, 2, 0),
                Step(CLEAN, S.DRIFTED, 0, 1),
                Step(CRITICAL, S.DRIFTED, 1, 0),
                Step(CLEAN, S.DRIFTED, 0, 1),
                Step(CLEAN, S.OK, 0, 2),
            ],
            id="enter-after-two-leave-after-two-clean",
        ),
        pytest.param(
            [
                Step(CRITICAL, S.WARNING, 1, 0),
                Step(CLEAN, S.OK, 0, 1),
                Step(CRITICAL, S.WARNING, 1, 0),
                Step(CLEAN, S.OK, 0, 1),
                Step(CRITICAL, S.WARNING, 1, 0),
            ],
            id="flapping-never-drifts",
        ),
        pytest.param(
            [
                Step(CRITICAL, S.WARNING, 1, 0),
                Step(WARNED, S.WARNING, 0, 0),
                Step(CRITICAL, S.WARNING, 1, 0),
            ],
            id="a-warning-breaks-the-critical-streak",
        ),
        pytest.param(
            [
                Step(CRITICAL, S.WARNING, 1, 0),
                Step(None, S.UNKNOWN, 1, 0),
                Step(SPARSE, S.INSUFFICIENT_DATA, 1, 0),
                Step(CRITICAL, S.DRIFTED, 2, 0),
            ],
            id="missing-data-neither-advances-nor-resets",
        ),
        pytest.param(
            [
                Step(CRITICAL, S.WARNING, 1, 0),
                Step(CRITICAL, S.DRIFTED, 2, 0),
                Step(None, S.UNKNOWN, 2, 0),
                Step(CLEAN, S.DRIFTED, 0, 1),
                Step(SPARSE, S.INSUFFICIENT_DATA, 0, 1),
                Step(CLEAN, S.OK, 0, 2),
            ],
            id="drifted-resumes-after-a-gap",
        ),
        pytest.param(
            [Step(None, S.UNKNOWN, 0, 0), Step(None, S.UNKNOWN, 0, 0)],
            id="never-drifted-from-missing-data",
        ),
    ],
)
def test_hysteresis_step_by_step(steps: list[Step]) -> None:
    monitor = spec(hysteresis={"enterAfter": 2, "exitAfter": 2})
    status = DriftMonitorStatus()
    for number, expected in enumerate(steps):
        at = START + timedelta(minutes=5 * number)
        if expected.seen is None:
            evaluation = unknown(
                monitor, status, "v1", Unreadable.PROMETHEUS_UNAVAILABLE, "down", at, 4
            )
        else:
            evaluation = run(monitor, expected.seen, status, at=at)
        status = evaluation.status
        got = (status.state, status.critical_streak, status.clean_streak)
        assert got == (expected.state, expected.critical_streak, expected.clean_streak), (
            f"after evaluation {number + 1}: {status.message}"
        )


def test_since_and_the_change_move_only_when_the_state_does() -> None:
    first = run(spec(), observed(), at=START)
    assert first.change == StateChange(None, DriftState.OK)
    second = run(spec(), observed(), first.status, at=START + timedelta(minutes=5))
    assert second.change is None
    assert (second.status.since, second.status.last_evaluation) == (
        START,
        START + timedelta(minutes=5),
    )
    third = run(spec(), CRITICAL, second.status, at=START + timedelta(minutes=10))
    assert third.change == StateChange(DriftState.OK, DriftState.WARNING)
    assert third.status.since == START + timedelta(minutes=10)


def test_a_new_stable_version_starts_the_streaks_afresh() -> None:
    monitor = spec(hysteresis={"enterAfter": 2})
    first = run(monitor, CRITICAL, version="v1")
    second = run(monitor, CRITICAL, first.status, version="v2")
    assert (second.status.state, second.status.critical_streak) == (DriftState.WARNING, 1)
    assert second.status.model_version == "v2"


def condition(evaluation: Evaluation, kind: DriftMonitorConditionType) -> tuple[str, str]:
    found = get_condition(evaluation.status.conditions, kind)
    assert found is not None
    return found.status.value, found.reason


def test_conditions_follow_the_state() -> None:
    monitor = spec(hysteresis={"enterAfter": 1})
    drifted = run(monitor, CRITICAL)
    assert condition(drifted, DriftMonitorConditionType.DRIFTED) == ("True", "Drifted")
    assert condition(drifted, DriftMonitorConditionType.READY) == ("True", "Evaluated")
    gone = unknown(
        monitor,
        drifted.status,
        "v1",
        Unreadable.PROMETHEUS_UNAVAILABLE,
        "Prometheus at http://p:9090 unreachable: connection refused",
        START,
        4,
    )
    assert gone.status.state == DriftState.UNKNOWN
    assert condition(gone, DriftMonitorConditionType.DRIFTED) == ("Unknown", "WasDrifted")
    assert condition(gone, DriftMonitorConditionType.READY) == ("False", "PrometheusUnavailable")
    assert gone.status.message == (
        "Unknown: Prometheus at http://p:9090 unreachable: connection refused"
    )
    assert gone.status.features == []


def test_the_message_names_what_drifted_and_why() -> None:
    monitor = spec(hysteresis={"enterAfter": 1})
    evaluation = run(monitor, observed(amount=AMOUNT_SHIFTED, country=[5, 2, 1]))
    score = evaluation.status.features[0].score
    assert score is not None
    assert evaluation.status.message == (
        "Drifted: critical in 1 evaluations in a row; "
        f"amount critical: PSI {score:.3g}; country: 8 samples, 90 needed"
    )


def test_features_that_cannot_be_judged_are_named() -> None:
    monitor = spec(
        features=[
            {"name": "country", "method": "KS", "warning": 0.1, "critical": 0.2},
            {"name": "age", "method": "PSI", "warning": 0.1, "critical": 0.2},
        ]
    )
    seen = observed(misaligned={"amount": "the live histogram has no bucket le=3"})
    message = run(monitor, seen).status.message
    assert "amount not judged: the live histogram has no bucket le=3" in message
    assert "country not judged: KS needs a numeric feature" in message
    assert "not in the reference profile: age" in message


def test_the_ks_message_gives_both_bounds() -> None:
    monitor = spec(byType={"numeric": {"method": "KS", "warning": 0.05, "critical": 0.1}})
    evaluation = run(monitor, CRITICAL)
    bounds = statistics.ks_bounds(
        np.asarray(AMOUNT_REFERENCE, np.float64), np.asarray(AMOUNT_SHIFTED, np.float64)
    )
    assert evaluation.status.features[0].score == pytest.approx(bounds.lower)
    assert f"KS {bounds.lower:.3g} (at most {bounds.upper:.3g} unbinned)" in (
        evaluation.status.message
    )
    assert math.isfinite(bounds.upper)


@pytest.mark.parametrize(
    ("notes", "expected"),
    [
        pytest.param([], "Warning", id="headline-only"),
        pytest.param(["a", "b"], "Warning; a; b", id="all-fit"),
        pytest.param(
            ["x" * 1000, "y" * 30, "z"], "Warning; " + "x" * 1000 + "; and 2 more", id="cut"
        ),
        pytest.param(["x" * 2000], "Warning; and 1 more", id="one-too-long"),
    ],
)
def test_the_message_fits_the_status_field(notes: list[str], expected: str) -> None:
    message = fit_message("Warning", notes)
    assert message == expected
    assert len(message) <= 1024


def test_many_drifted_features_still_give_a_valid_status() -> None:
    features: list[NumericProfile | CategoricalProfile] = [
        NumericProfile(
            name=f"feature-with-a-long-name-{i}",
            edges=[0.0, 1.0, 2.0, 3.0],
            counts=AMOUNT_REFERENCE,
            missing=0,
            mean=1.5,
            std=0.8,
        )
        for i in range(60)
    ]
    shifted = Observed(
        features={
            f.name: FeatureCounts(np.asarray(AMOUNT_SHIFTED, dtype=np.float64)) for f in features
        }
    )
    profile = Profile(rows=3000, features=features)
    evaluation = evaluate(spec(), DriftMonitorStatus(), profile, "v1", shifted, START, 1)
    assert len(evaluation.status.message) <= 1024
    assert evaluation.status.message.endswith(" more")
    assert len(evaluation.status.features) == 60
