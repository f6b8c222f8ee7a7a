"""The gate: both versions measured on one holdout, compared; fairness figures against bounds."""

from __future__ import annotations

from typing import Any

import pytest

from modelkeeper.api.model import Fairness
from modelkeeper.api.retrainpolicy import FairnessBounds
from modelkeeper.retrain.gate import evaluate, judge_fairness
from modelkeeper.retrain.result import TrainingResult
from tests.unit.retrain.factories import model, policy

HOLDOUT = {"uri": "file:///artifacts/fraud/8/holdout.csv", "sha256": "0123456789ab" + "c" * 52}
ON_HOLDOUT = "on the same holdout holdout.csv (sha256 0123456789ab)"


def result(
    metrics: dict[str, float], champion: dict[str, float] | None, **more: Any
) -> TrainingResult:
    """A result with `metrics`, and the champion's figures on HOLDOUT unless None."""
    document: dict[str, Any] = {
        "artifact": {"uri": "s3://m/fraud/8/model.joblib", "sha256": "a" * 64, "format": "sklearn"},
        "metrics": metrics,
        **more,
    }
    if champion is not None:
        document.update(championMetrics=champion, holdout=HOLDOUT)
    return TrainingResult.model_validate(document)


@pytest.mark.parametrize(
    ("gate", "metrics", "champion", "passed", "message"),
    [
        pytest.param(
            {"metric": "auc", "minImprovement": 0.01},
            {"auc": 0.92},
            {"auc": 0.9},
            True,
            f"auc 0.92 against the champion's 0.9 {ON_HOLDOUT}: improvement 0.02 >= the "
            "required 0.01 (HigherIsBetter)",
            id="higher-is-better-improved-enough",
        ),
        pytest.param(
            {"metric": "auc", "minImprovement": 0.05},
            {"auc": 0.92},
            {"auc": 0.9},
            False,
            "improvement 0.02 < the required 0.05",
            id="higher-is-better-not-enough",
        ),
        pytest.param(
            {"metric": "rmse", "direction": "LowerIsBetter"},
            {"rmse": 1.5},
            {"rmse": 1.4},
            False,
            "improvement -0.1 < the required 0 (LowerIsBetter)",
            id="lower-is-better-got-worse",
        ),
        pytest.param(
            {"metric": "rmse", "direction": "LowerIsBetter"},
            {"rmse": 1.4},
            {"rmse": 1.4},
            True,
            "improvement 0 >= the required 0",
            id="equal-passes-a-zero-margin",
        ),
        pytest.param(
            {"metric": "auc"},
            {"rmse": 1.4},
            {"auc": 0.9},
            False,
            "the result has no metric auc",
            id="result-without-the-metric-fails",
        ),
        pytest.param(
            {"metric": "auc"},
            {"auc": 0.95},
            None,
            False,
            "the result has no championMetrics.auc with the holdout it was measured on",
            id="champion-not-measured-fails",
        ),
        pytest.param(
            {"metric": "auc"},
            {"auc": 0.95},
            {"rmse": 1.0},
            False,
            "the result has no championMetrics.auc",
            id="champion-measured-on-another-metric-fails",
        ),
    ],
)
def test_the_gate_compares_both_on_the_holdout(
    gate: dict[str, Any],
    metrics: dict[str, float],
    champion: dict[str, float] | None,
    passed: bool,
    message: str,
) -> None:
    # The champion's spec says 0.5: never compared, the holdout's figure is.
    judged = evaluate(
        policy(gate=gate).spec.gate,
        result(metrics, champion),
        model("7", metrics={"auc": 0.5, "rmse": 9.0}),
        "7",
    )

    assert judged is not None
    assert judged.passed is passed
    assert message in judged.message
    compared = passed or "improvement" in message
    assert judged.champion_value == ((champion or {}).get(gate["metric"]) if compared else None)
    assert judged.holdout == (None if champion is None else result({}, {}).holdout)


def test_no_gate_judges_nothing() -> None:
    assert evaluate(None, result({"auc": 0.1}, None), model("7"), "7") is None


def test_without_a_champion_the_metric_alone_passes() -> None:
    judged = evaluate(
        policy(gate={"metric": "auc"}).spec.gate, result({"auc": 0.5}, None), None, None
    )

    assert judged is not None
    assert (judged.passed, judged.champion, judged.champion_value) == (True, None, None)
    assert judged.message == "auc 0.5; the family has no champion to compare with"


def test_a_champion_that_changed_while_the_run_trained_fails() -> None:
    judged = evaluate(
        policy(gate={"metric": "auc"}).spec.gate,
        result({"auc": 0.95}, {"auc": 0.9}),
        model("9"),
        "7",
    )

    assert judged is not None
    assert not judged.passed
    assert judged.message.startswith(
        "the champion is version 9 now, but the run measured 7 (the champion when it started)"
    )


BOUNDS = {
    "attribute": "sex",
    "maxDemographicParityDifference": 0.1,
    "maxEqualOpportunityDifference": 0.2,
}


@pytest.mark.parametrize(
    ("bounds", "measured", "passed", "message"),
    [
        pytest.param(
            BOUNDS,
            {
                "attribute": "sex",
                "positive": "prediction >= 139",
                "demographicParityDifference": 0.063492,
                "equalOpportunityDifference": 0.054147,
            },
            True,
            "fairness over sex (prediction >= 139): demographic parity difference 0.063492 <= "
            "0.1, equal opportunity difference 0.054147 <= 0.2",
            id="within-both",
        ),
        pytest.param(
            BOUNDS,
            {
                "attribute": "sex",
                "demographicParityDifference": 0.25,
                "equalOpportunityDifference": 0.2,
            },
            False,
            "fairness over sex: demographic parity difference 0.25 > 0.1, equal opportunity "
            "difference 0.2 <= 0.2",
            id="parity-beyond-its-bound",
        ),
        pytest.param(
            BOUNDS,
            {
                "attribute": "sex",
                "demographicParityDifference": 0.0,
                "equalOpportunityDifference": 0.3,
            },
            False,
            "equal opportunity difference 0.3 > 0.2",
            id="opportunity-beyond-its-bound",
        ),
        pytest.param(
            BOUNDS,
            {"attribute": "sex", "demographicParityDifference": 0.05},
            False,
            "equal opportunity difference not measured (bound 0.2)",
            id="bounded-figure-missing",
        ),
        pytest.param(
            {"attribute": "sex", "maxDemographicParityDifference": 0.1},
            {"attribute": "sex", "demographicParityDifference": 0.05},
            True,
            "fairness over sex: demographic parity difference 0.05 <= 0.1",
            id="unbounded-figure-not-needed",
        ),
        pytest.param(
            BOUNDS,
            {
                "attribute": "age",
                "demographicParityDifference": 0.0,
                "equalOpportunityDifference": 0.0,
            },
            False,
            "the result has no fairness figures over sex (over age only)",
            id="another-attribute",
        ),
        pytest.param(
            BOUNDS, None, False, "the result has no fairness figures over sex (none)", id="none"
        ),
    ],
)
def test_fairness_against_its_bounds(
    bounds: dict[str, Any], measured: dict[str, Any] | None, passed: bool, message: str
) -> None:
    verdict = judge_fairness(
        FairnessBounds.model_validate(bounds),
        None if measured is None else Fairness.model_validate(measured),
    )

    assert verdict.passed is passed
    assert verdict.message == message or message in verdict.message
    assert verdict.max_demographic_parity_difference == bounds.get("maxDemographicParityDifference")
    if measured is not None and measured["attribute"] == "sex":
        assert verdict.demographic_parity_difference == measured["demographicParityDifference"]


@pytest.mark.parametrize(
    ("parity", "passed"),
    [pytest.param(0.05, True, id="fair"), pytest.param(0.3, False, id="unfair")],
)
def test_an_unfair_version_fails_the_gate_that_it_beat_on_the_metric(
    parity: float, passed: bool
) -> None:
    gate = policy(gate={"metric": "auc", "fairness": BOUNDS}).spec.gate
    fairness = {
        "attribute": "sex",
        "demographicParityDifference": parity,
        "equalOpportunityDifference": 0.1,
    }

    judged = evaluate(gate, result({"auc": 0.95}, {"auc": 0.9}, fairness=fairness), model("7"), "7")

    assert judged is not None
    assert judged.passed is passed
    assert judged.fairness is not None
    assert judged.fairness.demographic_parity_difference == parity
    assert judged.message.startswith(f"auc 0.95 against the champion's 0.9 {ON_HOLDOUT}")
    assert f"; fairness over sex: demographic parity difference {parity:g}" in judged.message
