"""A trainer's result: parsing with clear errors; the next Model's lineage, gate, approval."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelkeeper.api.deployment import DeploymentResource
from modelkeeper.api.model import ApprovalSource, GateResult, ModelResource, Stage
from modelkeeper.api.retrainpolicy import Run, TriggerKind
from modelkeeper.api.types import RiskTier
from modelkeeper.retrain.result import (
    ResultError,
    TrainerImage,
    TrainingResult,
    build_model,
    evaluated_status,
    find_champion,
    parse_result,
    policy_approval,
    schema_misfit,
)
from tests.support.objects import manifest
from tests.unit.retrain.factories import T0, model, policy

DIGEST = "a" * 64
RESULT: dict[str, Any] = {
    "artifact": {
        "uri": "file:///artifacts/fraud/8/model.joblib",
        "sha256": DIGEST,
        "format": "sklearn",
    },
    "metrics": {"auc": 0.93, "rmse": 1.5},
    "profile": {"uri": "file:///artifacts/fraud/8/profile.json", "sha256": "b" * 64},
    "schema": {"inputs": [{"name": "amount", "type": "Numeric"}], "output": {"type": "Regression"}},
    "trainingData": [{"uri": "s3://data/fraud/2026-01.parquet", "sha256": "c" * 64}],
}
APPROVED = {"approval": {"by": "lead@example.com", "at": "2026-01-01T00:00:00Z"}}
MEASURED: dict[str, Any] = {
    "holdout": {"uri": "s3://data/fraud/holdout.csv", "sha256": "e" * 64},
    "championMetrics": {"auc": 0.9},
    "fairness": {"attribute": "sex", "demographicParityDifference": 0.05},
}


def gate_result(passed: bool) -> GateResult:
    return GateResult(metric="auc", value=0.9, champion="7", passed=passed, message="judged")


def _without(key: str) -> dict[str, Any]:
    return {k: v for k, v in RESULT.items() if k != key}


@pytest.mark.parametrize(
    ("message", "error"),
    [
        pytest.param("", "the trainer wrote no result to its termination message", id="empty"),
        pytest.param(
            "Traceback (most recent", "the termination message is not JSON", id="not-json"
        ),
        pytest.param("[1, 2]", "the result must be a JSON object, not list", id="not-an-object"),
        pytest.param(
            json.dumps(_without("artifact")), "artifact: Field required", id="missing-artifact"
        ),
        pytest.param(
            json.dumps({**RESULT, "artifact": {"sha256": DIGEST, "format": "sklearn"}}),
            "artifact.uri: Field required",
            id="missing-artifact-uri",
        ),
        pytest.param(
            json.dumps({**RESULT, "artifact": {**RESULT["artifact"], "sha256": "XYZ"}}),
            "artifact.sha256: String should match pattern",
            id="bad-sha256",
        ),
        pytest.param(
            json.dumps({**RESULT, "artifact": {**RESULT["artifact"], "sha256": None}}),
            "artifact.sha256: Input should be a valid string",
            id="digest-required",
        ),
        pytest.param(
            json.dumps({**RESULT, "metrics": {"auc": "high"}}),
            "metrics.auc: Input should be a valid number",
            id="metric-not-a-number",
        ),
        pytest.param(
            '{"artifact": {"uri": "file:///m", "sha256": "' + DIGEST + '", "format": "sklearn"},'
            ' "metrics": {"auc": NaN}}',
            "metrics.auc: Input should be a finite number",
            id="metric-nan",
        ),
        pytest.param(
            json.dumps({**RESULT, "extra": 1}),
            "extra: Extra inputs are not permitted",
            id="unknown",
        ),
        pytest.param(
            json.dumps({**RESULT, "championMetrics": {"auc": 0.9}}),
            "championMetrics needs holdout: the data it was measured on",
            id="champion-figures-without-their-holdout",
        ),
        pytest.param(
            json.dumps({**RESULT, "fairness": {"attribute": "sex"}}),
            "fairness needs holdout",
            id="fairness-without-its-holdout",
        ),
        pytest.param(
            json.dumps(
                {
                    **RESULT,
                    **MEASURED,
                    "fairness": {"attribute": "sex", "demographicParityDifference": 1.5},
                }
            ),
            "fairness.demographicParityDifference: Input should be less than or equal to 1",
            id="fairness-figure-out-of-range",
        ),
    ],
)
def test_parse_result_errors_name_the_problem(message: str, error: str) -> None:
    with pytest.raises(ResultError) as raised:
        parse_result(message)

    assert error in str(raised.value)


def test_parse_result_reads_every_field() -> None:
    result = parse_result(json.dumps({**RESULT, "codeImage": "registry.example.com/t:3"}))

    assert result.artifact.sha256 == DIGEST
    assert result.metrics == {"auc": 0.93, "rmse": 1.5}
    assert result.signature is not None
    assert result.signature.inputs[0].name == "amount"
    assert result.code_image == "registry.example.com/t:3"


def test_next_model_has_full_lineage_and_the_champions_governance_without_approval() -> None:
    champion = model(
        "7", metrics={"auc": 0.9}, governance={"owner": "risk", "riskTier": "Low", **APPROVED}
    )

    run = Run(name="drift-1", trigger=TriggerKind.DRIFT, reason="monitor m Drifted", start_time=T0)
    result = parse_result(json.dumps({**RESULT, **MEASURED, "parameters": {"alpha": "0.1"}}))

    built = build_model(
        policy(), run, "8", result, champion, "7", TrainerImage("reg/t:3", "sha256:" + "d" * 64)
    )

    assert built["metadata"]["name"] == "fraud-8"
    spec = built["spec"]
    assert spec["lineage"] == {
        "trainingData": [{"uri": "s3://data/fraud/2026-01.parquet", "sha256": "c" * 64}],
        "holdout": MEASURED["holdout"],
        "codeImage": "reg/t:3",
        "codeImageDigest": "sha256:" + "d" * 64,
        "parameters": {"alpha": "0.1"},
        "parentVersion": "7",
        "retrainingRun": {
            "policy": "retrain-fraud",
            "run": "drift-1",
            "trigger": "Drift",
            "reason": "monitor m Drifted",
        },
    }
    assert spec["governance"] == {"owner": "risk", "riskTier": "Low"}
    assert spec["reference"] == RESULT["profile"]
    assert spec["artifact"] == RESULT["artifact"]
    assert spec["schema"] == RESULT["schema"]
    ModelResource.from_object({**built, "status": {}})  # it parses as a Model


@pytest.mark.parametrize(
    ("limit", "tier", "gate_passed", "approved"),
    [
        pytest.param(None, RiskTier.LOW, True, False, id="no-auto-approval-configured"),
        pytest.param("Medium", RiskTier.LOW, True, True, id="lower-tier-approved"),
        pytest.param("Medium", RiskTier.MEDIUM, True, True, id="same-tier-approved"),
        pytest.param("Medium", RiskTier.HIGH, True, False, id="higher-tier-waits-for-a-person"),
        pytest.param("High", RiskTier.HIGH, False, False, id="failed-gate-never-approved"),
        pytest.param("Low", RiskTier.LOW, None, True, id="no-gate-approved-by-tier"),
    ],
)
def test_policy_approval(
    limit: str | None, tier: RiskTier, gate_passed: bool | None, approved: bool
) -> None:
    owner = policy(approval={"autoApproveUpTo": limit} if limit else {}, gate={"metric": "auc"})
    evaluation = None if gate_passed is None else gate_result(gate_passed)

    approval = policy_approval(owner, tier, evaluation, T0)

    assert (approval is not None) is approved
    if approval is not None:
        assert (approval.by, approval.source) == (
            "retrainpolicy/retrain-fraud",
            ApprovalSource.POLICY,
        )


@pytest.mark.parametrize(
    ("passed", "stage", "condition"),
    [
        pytest.param(True, Stage.REGISTERED, "True", id="passed-registered"),
        pytest.param(False, Stage.REJECTED, "False", id="failed-rejected"),
    ],
)
def test_evaluated_status(passed: bool, stage: Stage, condition: str) -> None:
    evaluation = gate_result(passed)

    status = evaluated_status(model("8", validated=False), evaluation, None, T0)

    assert status.stage is stage
    assert status.evaluation == evaluation
    assert [(c.type, c.status) for c in status.conditions] == [("Evaluated", condition)]


def _tracking(
    name: str, stable_model: str | None, version: str | None = None
) -> DeploymentResource:
    return DeploymentResource.from_object(
        manifest(
            "Deployment",
            name,
            {"model": {"name": "fraud", **({"version": version} if version else {})}},
            status={"stable": {"version": "x", "model": stable_model}} if stable_model else {},
            namespace="ml",
        )
    )


@pytest.mark.parametrize(
    ("deployments", "expected"),
    [
        pytest.param([], "fraud-3", id="newest-approved-without-deployments"),
        pytest.param([_tracking("web", "fraud-2")], "fraud-2", id="tracking-deployments-stable"),
        pytest.param(
            [_tracking("pinned", "fraud-1", version="1")], "fraud-3", id="pinned-deployment-ignored"
        ),
        pytest.param([_tracking("web", None)], "fraud-3", id="tracking-without-stable-yet"),
    ],
)
def test_find_champion(deployments: list[DeploymentResource], expected: str) -> None:
    models = [
        model("1", governance=APPROVED),
        model("2", governance=APPROVED),
        model("3", governance=APPROVED),
        model("4"),
    ]

    champion = find_champion("fraud", models, deployments, T0)

    assert champion is not None
    assert champion.metadata.name == expected


WINE = {
    "inputs": [
        {"name": "alcohol", "type": "Numeric"},
        {"name": "color", "type": "Categorical", "categories": ["red", "white"]},
    ],
    "output": {"type": "Classification", "classes": ["a", "b", "c"]},
}


def _result(schema: dict[str, Any] | None) -> TrainingResult:
    document: dict[str, Any] = {
        "artifact": {"uri": "s3://m/wine/2/model.joblib", "sha256": "a" * 64, "format": "sklearn"}
    }
    if schema is not None:
        document["schema"] = schema
    return parse_result(json.dumps(document))


@pytest.mark.parametrize(
    ("schema", "champion_schema", "says"),
    [
        pytest.param(WINE, WINE, None, id="same-schema-fits"),
        pytest.param(
            {
                "inputs": [
                    {"name": "color", "type": "Categorical", "categories": ["red", "rose"]},
                    {"name": "alcohol", "type": "Numeric"},
                ],
                "output": {"type": "Classification", "classes": ["a", "b"]},
            },
            WINE,
            None,
            id="order-categories-and-classes-may-change",
        ),
        pytest.param(
            {
                "inputs": [{"name": f"x{i}", "type": "Numeric"} for i in range(10)],
                "output": {"type": "Regression"},
            },
            WINE,
            "does not fit the family (the champion fraud-7: 2 inputs, Classification): "
            "inputs missing: alcohol, color; inputs the family does not have: x0",
            id="finding-7-a-10-input-regressor-into-a-classifier-family",
        ),
        pytest.param(
            {
                "inputs": [
                    {"name": "alcohol", "type": "Categorical"},
                    {"name": "color", "type": "Categorical"},
                ],
                "output": {"type": "Classification", "classes": ["a", "b"]},
            },
            WINE,
            "input alcohol is Categorical, not Numeric",
            id="type-changed",
        ),
        pytest.param(None, WINE, "the result has no schema", id="no-schema"),
        pytest.param(WINE, None, None, id="champion-without-schema-takes-any"),
    ],
)
def test_a_result_must_fit_the_familys_schema(
    schema: dict[str, Any] | None, champion_schema: dict[str, Any] | None, says: str | None
) -> None:
    """Finding 7: a run whose schema does not fit the family fails before a Model is made."""
    champion = model("7", schema=champion_schema) if champion_schema else model("7")
    misfit = schema_misfit(_result(schema), champion)
    if says is None:
        assert misfit is None
    else:
        assert misfit is not None
        assert says in misfit


def test_a_family_without_champion_takes_any_schema() -> None:
    assert schema_misfit(_result(WINE), None) is None
